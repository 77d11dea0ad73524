"""Benchmark: pix2pix training step speed on this machine, and its share of the machine's matmul rate.

    python bench/train_step.py [--sizes 256] [--batches 1 16] [--steps 5]

Prints ms/step and images/s for the paper networks (U-Net 54.4M + 70x70 PatchGAN) with and without
XLA, the float32 matmul rate measured in the same run, the step's FLOPs (counted from the conv
layers, bench/run.py's count: forward, times 3 for forward + backward) and the achieved share of that matmul rate.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.run import forward_flops, matmul_rate  # noqa: E402
from pix2gan import Pix2Pix  # noqa: E402
from pix2gan.zoo.pix2pix_facades import build_pix2pix  # noqa: E402


def step_flops(generator: keras.Model, discriminator: keras.Model) -> float:
    """FLOPs of one pix2pix step per image: G once and D twice (real, fake), each x3 for the backward pass."""
    return 3.0 * (forward_flops(generator) + 2.0 * forward_flops(discriminator))


def time_steps(size: int, batch: int, jit: bool, steps: int) -> float:
    """Seconds per training step (median of ``steps`` after one warm-up step)."""
    keras.utils.set_random_seed(0)
    g, d = build_pix2pix(size)
    trainer = Pix2Pix(g, d)
    trainer.compile(jit_compile=jit)
    x = np.random.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    y = np.random.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    trainer.train_on_batch(x, y)  # trace (and XLA-compile) outside the timing
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"GPU: {bool(tf.config.list_physical_devices('GPU'))}")
    print("matmul = float32 2048x2048 matmul rate measured just before each row (the machine is shared and noisy)")
    print()
    print(f"{'size':>5} {'batch':>5} {'XLA':>4} {'ms/step':>9} {'img/s':>7} {'GFLOP/img':>10} {'GFLOP/s':>8} "
          f"{'matmul GFLOP/s':>14} {'share':>6}")
    for size in args.sizes:
        g, d = build_pix2pix(size)
        per_image = step_flops(g, d)
        for batch in args.batches:
            for jit in (False, True):
                rate = matmul_rate(tf.float32)
                sec = time_steps(size, batch, jit, args.steps if batch == 1 else max(2, args.steps // 2))
                achieved = per_image * batch / sec
                print(f"{size:>5} {batch:>5} {'on' if jit else 'off':>4} {sec * 1e3:>9.0f} {batch / sec:>7.2f} "
                      f"{per_image / 1e9:>10.1f} {achieved / 1e9:>8.1f} {rate / 1e9:>14.1f} {achieved / rate:>6.0%}",
                      flush=True)


if __name__ == "__main__":
    main()
