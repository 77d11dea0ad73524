"""CycleGAN, end to end: train on unpaired images, score against the truth, translate a scene.

    python examples/train_cyclegan.py --data-dir ../shared/data/eurosat --steps-per-epoch 1000
    python examples/train_cyclegan.py --entry cyclegan-facades --data-dir ../shared/data/facades --image-size 128
    python examples/train_cyclegan.py --data-dir my_domains/        # any trainA/ trainB/ testA/ testB/ folder
    python examples/train_cyclegan.py ... --scene big.png             # then translate an image of any size

Trains `cyclegan-eurosat` (EuroSAT tiles <-> the same kind of tiles under another sensor, season
and haze; or `--entry cyclegan-facades`: label map <-> photo) and evaluates it on the test
split: PSNR / SSIM of G: A -> B and F: B -> A against the truth beside the untranslated input,
the cycle errors and, for EuroSAT, the Frechet distance on the EuroSAT judge's features beside
its real-vs-real floor. Writes models/<run>_generator_AB.h5 and _generator_BA.h5 (+ discriminators
and model cards) and, per epoch, logs/<run>/samples/epoch_N.png (real A | G(A) | F(G(A)) | real B |
F(B) | G(F(B))) and TensorBoard curves. Other flags are the entry's (`pix2gan train ENTRY --help`).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan.cli import main, run_entry_command  # noqa: E402

if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--entry", choices=("cyclegan-eurosat", "cyclegan-facades"), default="cyclegan-eurosat")
    pre.add_argument("--scene", help="an image of any size to translate A -> B after training")
    known, rest = pre.parse_known_args()
    status = run_entry_command("train", known.entry, rest)
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--out", default="models")
    flags.add_argument("--run-name", default=known.entry)
    flags.add_argument("--data-dir")
    flags.add_argument("--synthetic", action="store_true")
    args, _ = flags.parse_known_args(rest)
    weights = os.path.join(args.out, f"{args.run_name}_generator_AB.h5")
    if status == 0:
        source = ["--data-dir", args.data_dir] if args.data_dir else (["--synthetic"] if args.synthetic else [])
        status = main(["evaluate", known.entry, "--weights", weights, *source])
    if status == 0 and known.scene:
        status = main(["translate", "--model", weights, "--tile", "0", known.scene, os.path.join(args.out, "translated")])
    sys.exit(status)
