"""Benchmark: the pix2pix training step under glibc's default malloc, pix2gan's tuned glibc
(:func:`pix2gan.allocator.tune_allocator`) and tcmalloc, each in its own process.

    python bench/allocator.py [--size 256] [--batch 1] [--steps 8] [--rounds 3] [--precision float32]

The allocator is a process-wide choice, so it cannot be compared inside one process: every
round starts one process per setting, in turn (the machine is shared and noisy, so settings
alternate), each timing ``--steps`` training steps through ``train_on_batch`` after two warm-up
steps. The table gives the median step over the rounds and its ratio to glibc's default.
tcmalloc is Debian's ``libtcmalloc-minimal4`` (skipped where it is not installed).

Measured 2026-12-02 (`python bench/allocator.py --rounds 2 --steps 6`, quiet machine, pix2pix
256 px, batch 1, float32): glibc default 762 ms/step (1.00), glibc tuned 731 (0.96), tcmalloc 717
(0.94). Earlier the same day with other benches on the cores (64 px, 1 round x 3 steps): 787 /
687 (0.87) / 720 (0.92); a first hand-run at 256 px under light load: 756 / 654 (0.87, mallopt)
/ 679 (0.90). The gain is larger when the cores are contended, and at most a few percent on an
idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pix2gan import Pix2Pix, tune_allocator  # noqa: E402
from pix2gan.precision import precision_scope  # noqa: E402
from pix2gan.zoo.pix2pix_facades import build_pix2pix  # noqa: E402

TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
SETTINGS = {"glibc default": {"PIX2GAN_ALLOCATOR": "default"}, "glibc tuned (pix2gan)": {},
            "tcmalloc": {"LD_PRELOAD": TCMALLOC}}


def child(size: int, batch: int, steps: int, precision: str) -> dict:
    """Time pix2pix steps in this process under its allocator (the --child mode)."""
    state = tune_allocator()  # what Recipe.train and the pix2gan command do first
    keras.utils.set_random_seed(0)
    with precision_scope(precision):
        g, d = build_pix2pix(size)
        trainer = Pix2Pix(g, d)
        trainer.compile()
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    for _ in range(2):
        trainer.train_on_batch(x, x)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_on_batch(x, x)
        times.append(time.perf_counter() - start)
    return {"allocator": state, "step_s": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.size, args.batch, args.steps, args.precision)))
        return
    settings = {k: v for k, v in SETTINGS.items() if "LD_PRELOAD" not in v or os.path.exists(v["LD_PRELOAD"])}
    if len(settings) < len(SETTINGS):
        print(f"tcmalloc skipped: {TCMALLOC} is not installed (apt-get install libtcmalloc-minimal4)")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "PIX2GAN_ALLOCATOR", "LD_PRELOAD"))}
    times = {name: [] for name in settings}
    states = {}
    for r in range(args.rounds):
        for name, env in settings.items():
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--size", str(args.size),
                                  "--batch", str(args.batch), "--steps", str(args.steps), "--precision",
                                  args.precision], env={**base, **env}, capture_output=True, text=True, check=True)
            found = json.loads(out.stdout.strip().splitlines()[-1])
            times[name].append(found["step_s"])
            states[name] = found["allocator"]
            print(f"round {r + 1}: {name}: {found['step_s'] * 1e3:.0f} ms/step ({found['allocator']})", flush=True)
    reference = statistics.median(times["glibc default"])
    print(f"\npix2pix {args.size}px, batch {args.batch}, {args.precision}, {args.rounds} rounds x {args.steps} steps")
    print(f"{'allocator':<24} {'state':<11} {'ms/step':>8} {'vs default':>10}")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"{name:<24} {states[name]:<11} {m * 1e3:>8.0f} {m / reference:>10.2f}")


if __name__ == "__main__":
    main()
