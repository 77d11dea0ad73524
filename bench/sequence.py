"""Benchmark `sequence-unet` on Moving MNIST at a fixed step budget: per-frame quality against the
copy-last and linear-extrapolation baselines, and training speed.

    python bench/sequence.py --data-dir ../shared/data/mnist               # about 10 minutes on 2 shared cores
    python bench/sequence.py --filters 64 --steps 300                      # the reference width, fewer steps
    python bench/sequence.py --loss mse --adversarial                      # other recipe settings

It trains the entry from scratch (a fresh run folder) for ``--epochs`` x ``--steps`` steps of
batch ``--batch-size`` on fresh Moving MNIST sequences (64x64, two digits, 10 frames in, 10 out;
each training sequence is seen once), then scores the ``--test-sequences`` test sequences (made
from the MNIST test digits) and prints a Markdown table: MSE and SSIM of predicted frames 1, 5 and
10 and their mean over the frames, for the model and both baselines, with the training images/s.
The targets: model MSE below copy-last's at every predicted frame, and at least 30% below it
averaged over the frames.

The default width is ``--filters 16`` (U-Net widths 16-256, 2.0M parameters), not the
reference's 64 (64-1024, 31M), which trains about 18x slower per image on this CPU; the table
says which width was measured.
"""
import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan import zoo  # noqa: E402

FRAMES = (1, 5, 10)
TARGET_RATIO = 0.70


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--filters", type=int, default=16, help="U-Net base width (reference 64; default 16)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300, help="steps per epoch (default 300)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--loss", choices=("l1", "mse"), default="l1")
    parser.add_argument("--adversarial", action="store_true", help="also train against the conditional PatchGAN")
    parser.add_argument("--lr", type=float, help="learning rate (default: the entry's)")
    parser.add_argument("--test-sequences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where the run goes (default: a fresh temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    settings = dict(filters=args.filters, epochs=args.epochs, batch_size=args.batch_size, loss=args.loss,
                    adversarial=args.adversarial)
    if args.lr is not None:
        settings["lr"] = args.lr
    recipe = zoo.get("sequence-unet", **settings)
    work = args.workdir or tempfile.mkdtemp(prefix="bench_sequence_")
    start = time.perf_counter()
    run = recipe.train(data_dir=args.data_dir, steps_per_epoch=args.steps, logdir=os.path.join(work, "logs"),
                       out=os.path.join(work, "models"), seed=args.seed, verbose=0,
                       train_sequences=args.epochs * args.steps * args.batch_size, test_sequences=args.test_sequences)
    seconds = time.perf_counter() - start
    m = run.metrics
    params = run.trainer.generator.count_params()
    print(f"sequence-unet, filters {args.filters} ({params / 1e6:.1f}M parameters; the reference is 64, 31.4M at 60 "
          f"channels), loss {args.loss}{', adversarial' if args.adversarial else ''}, {args.epochs} x {args.steps} "
          f"steps of batch {args.batch_size} ({args.epochs * args.steps * args.batch_size} fresh sequences), "
          f"{seconds:.0f} s in all; {m['test_sequences']} test sequences; train {m['images_per_s']:.1f} images/s\n")
    print("| method | " + " | ".join(f"MSE f{k}" for k in FRAMES) + " | MSE mean | "
          + " | ".join(f"SSIM f{k}" for k in FRAMES) + " | SSIM mean |")
    print("|---|" + "---:|" * (2 * len(FRAMES) + 2))
    for method, label in (("model", f"sequence-unet (filters {args.filters})"), ("copy_last", "copy last frame"),
                          ("linear", "linear extrapolation")):
        mse = [m[f"test_{method}_mse_f{k:02d}"] for k in FRAMES] + [m[f"test_{method}_mse_mean"]]
        ssim = [m[f"test_{method}_ssim_f{k:02d}"] for k in FRAMES] + [m[f"test_{method}_ssim_mean"]]
        print(f"| {label} | " + " | ".join(f"{v:.5f}" for v in mse) + " | " + " | ".join(f"{v:.4f}" for v in ssim) + " |")
    frames_out = recipe.frames_out
    ratios = np.array([m[f"test_model_mse_f{k:02d}"] / m[f"test_copy_last_mse_f{k:02d}"] for k in range(1, frames_out + 1)])
    worst = int(np.argmax(ratios))
    print(f"\nmodel / copy-last MSE per frame: {' '.join(f'{r:.3f}' for r in ratios)}")
    print(f"target 1, below copy-last at every frame: {'met' if (ratios < 1).all() else 'MISSED'} "
          f"(worst frame {worst + 1}: {ratios[worst]:.3f}x)")
    ratio = m["test_mse_vs_copy_last"]
    print(f"target 2, mean MSE at least 30% below copy-last: {'met' if ratio <= TARGET_RATIO else 'MISSED'} "
          f"({ratio:.3f}x, i.e. {100 * (1 - ratio):.1f}% below)")
    print(f"run: {run.run_dir}; generator: {run.generator_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
