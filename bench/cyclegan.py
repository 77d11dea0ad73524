"""Benchmark: CycleGAN step speed against a plain tf.function step, and its quality against the truth.

    python bench/cyclegan.py speed   [--steps 5]
    python bench/cyclegan.py eurosat [--steps 1000] [--set NAME=VALUE ...]
    python bench/cyclegan.py facades [--steps 200] [--size 128]

``speed``: images/s of one training step at 256 px batch 1 (9 blocks) and at 64 px batch 16 (6
blocks), through pix2gan's ``fit()`` and through a reference step written here the way the
TensorFlow tutorials write it: one ``tf.function`` with two ``GradientTape`` s over the same
builders, the discriminators called once per image set (real, pooled fake, and fresh fake for the
generators' loss: three calls each), one Adam over both generators, the 50-image pool as in
pix2gan. Ratio = reference time / pix2gan time (> 1: pix2gan faster), both measured in this run,
alternating step by step; wall time and process CPU time.

``eurosat``: trains ``cyclegan-eurosat`` (the reference recipe unless ``--set`` changes it) for
``--steps`` steps at batch 1 on ``../shared/data/eurosat`` and evaluates the saved generators on
the test split: PSNR / SSIM of G(a) and F(b) against the truth beside the do-nothing input, the
cycle errors and the Frechet distance on the EuroSAT judge's features beside the real-vs-real floor.

``facades``: ``cyclegan-facades`` and ``pix2pix-facades`` at ``--size`` px for the same
``--steps`` at batch 1, both scored on the Facades test split (label map -> photo): what the
pairs are worth.

Measured figures are in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pix2gan import zoo  # noqa: E402
from pix2gan.losses import discriminator_loss, generator_loss, l1_loss  # noqa: E402
from pix2gan.trainers import CycleGAN, HistoryPool, cyclegan_optimizer  # noqa: E402
from pix2gan.zoo.cyclegan import build_cyclegan  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def reference_step(size: int, n_blocks: int):
    """The plain tf.function CycleGAN step over pix2gan's builders (see the module doc)."""
    g_ab, g_ba, d_a, d_b = build_cyclegan(size, n_blocks=n_blocks)
    g_opt, da_opt, db_opt = (keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(3))
    g_vars = g_ab.trainable_variables + g_ba.trainable_variables
    g_opt.build(g_vars)
    da_opt.build(d_a.trainable_variables)
    db_opt.build(d_b.trainable_variables)
    pool_a, pool_b = HistoryPool(50, (size, size, 3), seed=0), HistoryPool(50, (size, size, 3), seed=1)

    @tf.function
    def step(real_a, real_b):
        with tf.GradientTape() as g_tape, tf.GradientTape(persistent=True) as d_tape:
            fake_b = g_ab(real_a, training=True)
            fake_a = g_ba(real_b, training=True)
            rec_a = g_ba(fake_b, training=True)
            rec_b = g_ab(fake_a, training=True)
            g_loss = (generator_loss(d_b(fake_b, training=True), "lsgan")
                      + generator_loss(d_a(fake_a, training=True), "lsgan")
                      + 10.0 * (l1_loss(rec_a, real_a) + l1_loss(rec_b, real_b))
                      + 5.0 * (l1_loss(g_ab(real_b, training=True), real_b)
                               + l1_loss(g_ba(real_a, training=True), real_a)))
            old_b = pool_b.query(tf.stop_gradient(fake_b))
            old_a = pool_a.query(tf.stop_gradient(fake_a))
            loss_da = discriminator_loss(d_a(real_a, training=True), d_a(old_a, training=True), "lsgan")
            loss_db = discriminator_loss(d_b(real_b, training=True), d_b(old_b, training=True), "lsgan")
        g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        da_opt.apply(d_tape.gradient(loss_da, d_a.trainable_variables), d_a.trainable_variables)
        db_opt.apply(d_tape.gradient(loss_db, d_b.trainable_variables), d_b.trainable_variables)
        return g_loss
    return step


def clock(call) -> tuple[float, float]:
    """Wall and process CPU seconds of one ``call()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def speed(args) -> None:
    """Both steps alternate, ``--steps`` rounds of one step each after a warm-up, so a load change on
    the machine hits both alike; the medians of wall time and of process CPU time are reported (CPU
    time is the steadier figure when other work shares the cores)."""
    rows = []
    for size, batch in ((256, 1), (64, 16)):
        blocks = 9 if size >= 256 else 6
        rng = np.random.default_rng(0)
        a = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
        b = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
        ref = reference_step(size, blocks)
        trainer = CycleGAN(*build_cyclegan(size, n_blocks=blocks), image_shape=(size, size, 3), seed=0)
        trainer.compile(optimizers={n: cyclegan_optimizer(2e-4, 1000) for n in trainer.networks})
        ds = tf.data.Dataset.from_tensors((a, b)).repeat()
        ref(a, b).numpy()  # trace and warm up both
        trainer.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
        times = []
        for _ in range(args.steps):
            times.append(clock(lambda: ref(a, b).numpy())
                         + clock(lambda: trainer.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)))
        ref_wall, ref_cpu, ours_wall, ours_cpu = np.median(np.array(times), axis=0)
        rows.append((size, batch, blocks, ref_wall, ours_wall, ref_cpu, ours_cpu))
        print(f"{size}px batch {batch}: reference {ref_wall * 1e3:.0f} ms/step ({ref_cpu:.2f} CPU s), "
              f"pix2gan fit() {ours_wall * 1e3:.0f} ms/step ({ours_cpu:.2f} CPU s)", flush=True)
    print("\n| crop | batch | blocks | reference img/s | pix2gan img/s | wall ratio (ref / ours) "
          "| CPU-time ratio (ref / ours) |")
    print("|---|---|---|---|---|---|---|")
    for size, batch, blocks, ref_wall, ours_wall, ref_cpu, ours_cpu in rows:
        print(f"| {size} | {batch} | {blocks} | {batch / ref_wall:.3f} | {batch / ours_wall:.3f} "
              f"| {ref_wall / ours_wall:.2f} | {ref_cpu / ours_cpu:.2f} |")


def _settings(pairs) -> dict:
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = json.loads(value) if value[:1] in "0123456789-[{tfn\"" else value
    return out


def _train_and_score(entry: str, settings: dict, data_dir: str, steps: int, work: str, evaluate: dict) -> dict:
    recipe = zoo.get(entry, **settings)
    run = f"bench_{entry}_{os.getpid()}"
    start = time.perf_counter()
    result = recipe.train(data_dir=data_dir, epochs=1, steps_per_epoch=steps, logdir=os.path.join(work, "logs"),
                          out=os.path.join(work, "models"), run_name=run, verbose=2, **evaluate.get("train", {}))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = recipe.evaluate(result.generator_path, data_dir=data_dir, **evaluate.get("evaluate", {}))
    print(f"{entry}: trained {steps} steps in {train_s:.0f} s, evaluated in {time.perf_counter() - start:.0f} s",
          flush=True)
    return {"train_s": train_s, **scores}


def eurosat(args) -> None:
    data = args.data_dir or os.path.join(SHARED, "eurosat")
    with tempfile.TemporaryDirectory() as work:
        s = _train_and_score("cyclegan-eurosat", _settings(args.set), data, args.steps, work,
                             {"evaluate": {"test_tiles": args.test_tiles}})
    print(f"\ncyclegan-eurosat, {args.steps} steps x batch 1, {s['train_s'] / args.steps:.2f} s/step; "
          f"test split, {args.test_tiles} tiles: {s['data']}")
    print("| direction | PSNR dB | SSIM | do-nothing PSNR | do-nothing SSIM | gain dB |")
    print("|---|---|---|---|---|---|")
    for d, name in (("ab", "G: A -> B"), ("ba", "F: B -> A")):
        print(f"| {name} | {s[f'{d}_psnr']:.2f} | {s[f'{d}_ssim']:.4f} | {s[f'{d}_input_psnr']:.2f} | "
              f"{s[f'{d}_input_ssim']:.4f} | {s[f'{d}_gain_db']:+.2f} |")
    print(f"\ncycle: F(G(a)) {s['cycle_a_psnr']:.2f} dB, G(F(b)) {s['cycle_b_psnr']:.2f} dB")
    if "fd_ab" in s:
        print(f"Frechet distance (EuroSAT judge features) to real B: G(a) {s['fd_ab']:.2f}, untranslated A "
              f"{s['fd_input']:.2f}, real-vs-real floor {s['fd_floor']:.2f}")


def facades(args) -> None:
    data = args.data_dir or os.path.join(SHARED, "facades")
    with tempfile.TemporaryDirectory() as work:
        cycle = _train_and_score("cyclegan-facades", {"image_size": args.size}, data, args.steps, work, {})
        paired = _train_and_score("pix2pix-facades", {"image_size": args.size}, data, args.steps, work,
                                  {"evaluate": {"eval_mode": "inference"}})
    print(f"\nFacades test split, label map -> photo, {args.size} px, {args.steps} steps x batch 1 each")
    print("| entry | PSNR dB | SSIM | s/step |")
    print("|---|---|---|---|")
    print(f"| cyclegan-facades (pairs ignored) | {cycle['ab_psnr']:.2f} | {cycle['ab_ssim']:.4f} | "
          f"{cycle['train_s'] / args.steps:.2f} |")
    print(f"| pix2pix-facades (paired) | {paired['psnr']:.2f} | {paired['ssim']:.4f} | "
          f"{paired['train_s'] / args.steps:.2f} |")
    print(f"| do nothing (the label map itself) | {cycle['ab_input_psnr']:.2f} | {cycle['ab_input_ssim']:.4f} | |")
    print(f"\ncyclegan-facades F: photo -> label map {cycle['ba_psnr']:.2f} dB / {cycle['ba_ssim']:.4f}; cycle "
          f"{cycle['cycle_a_psnr']:.2f} / {cycle['cycle_b_psnr']:.2f} dB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("speed", "eurosat", "facades"))
    p.add_argument("--steps", type=int, help="training steps (speed: timed steps per variant)")
    p.add_argument("--size", type=int, default=128, help="facades: crop size of both entries")
    p.add_argument("--test-tiles", type=int, default=1000, help="eurosat: test tiles scored")
    p.add_argument("--data-dir", help="data folder (default ../shared/data/<data set>)")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="eurosat: recipe settings")
    args = p.parse_args()
    args.steps = args.steps or {"speed": 5, "eurosat": 1000, "facades": 200}[args.part]
    keras.utils.set_random_seed(0)
    {"speed": speed, "eurosat": eurosat, "facades": facades}[args.part](args)


if __name__ == "__main__":
    main()
