"""Benchmark: does mixed_bfloat16 keep each entry's quality? float32 and bf16 at equal steps and seeds.

    python bench/precision.py                                  # the default entries and budgets
    python bench/precision.py --entries gan-mnist=400 --seeds 0 1 2
    python bench/precision.py --json precision.json

Each run trains one entry from scratch in its own process (fresh run folder, real data from
``--data-root``, default ``../shared/data``), with ``precision`` float32 or mixed_bfloat16, the
same seed and the same number of steps, and reads the entry's own final metrics (its model card).
One row per entry and precision: the entry's primary metric per seed, its mean, and wall seconds
per run. The verdict column compares the bf16 mean with the float32 mean against the noise: the
spread (max - min) of the float32 seeds; bf16 is "within noise" when the difference of the means
is at most that spread. ``precision='auto'`` trains an entry in bf16 only where this bench found
it within noise (``auto_mixed`` on the recipe).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from pix2gan import zoo  # noqa: E402

# entry -> (data folder under the data root, steps, primary metric, higher is better, train keyword arguments)
ENTRIES = {
    "pix2pix-facades": ("facades", 400, "val_psnr_paper", True, {}),
    "gan-mnist": ("mnist", 1200, "final_fid", False, {}),
    "dcgan-mnist": ("mnist", 600, "final_fid", False, {}),
    "cloud-removal-eurosat": ("eurosat", 150, "test_psnr", True, {}),
    "sequence-unet": ("mnist", 60, "test_mse_mean", False, {"filters": 16}),
}
PRECISIONS = ("float32", "mixed_bfloat16")


def run_one(entry: str, precision: str, seed: int, steps: int, data_dir: str, settings: dict) -> dict:
    """Train one entry in this process and return its final metrics (the --one mode; every run is a
    fresh process, so no dtype policy or memory carries over)."""
    work = tempfile.mkdtemp(prefix="pix2gan-precision-")
    recipe = zoo.get(entry, epochs=1, **settings)
    start = time.perf_counter()
    run = recipe.train(data_dir=data_dir, steps_per_epoch=steps, logdir=os.path.join(work, "logs"),
                       out=os.path.join(work, "models"), seed=seed, precision=precision, verbose=0)
    return {"seconds": time.perf_counter() - start,
            **{k: v for k, v in run.metrics.items() if isinstance(v, (int, float))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES),
                        help="entry or entry=steps (default: the entries above with their steps)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-root", default=os.path.join(REPO, "..", "shared", "data"))
    parser.add_argument("--json", help="also write every run's metrics here")
    parser.add_argument("--one", nargs=3, metavar=("ENTRY", "PRECISION", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        entry, precision, seed = args.one
        folder, _, _, _, settings = ENTRIES[entry]
        print(json.dumps(run_one(entry, precision, int(seed), args.steps, os.path.join(args.data_root, folder),
                                 settings)))
        return

    results = {}
    print(f"{'entry':<24} {'precision':<15} {'steps':>5} {'metric':<16} {'per seed':<28} {'mean':>9} "
          f"{'s/run':>6} verdict", flush=True)
    for item in args.entries:
        entry, _, steps = item.partition("=")
        folder, default_steps, metric, higher, _ = ENTRIES[entry]
        steps = int(steps or default_steps)
        if not os.path.isdir(os.path.join(args.data_root, folder)):
            print(f"{entry}: skipped, no data at {os.path.join(args.data_root, folder)}", flush=True)
            continue
        means = {}
        for precision in PRECISIONS:
            values, seconds = [], []
            for seed in args.seeds:
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", entry, precision, str(seed),
                                      "--steps", str(steps), "--data-root", args.data_root],
                                     capture_output=True, text=True)
                if out.returncode:
                    print(f"{entry} {precision} seed {seed} failed:\n{out.stderr[-3000:]}", flush=True)
                    sys.exit(1)
                metrics = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault(entry, {}).setdefault(precision, []).append({"seed": seed, **metrics})
                values.append(metrics[metric])
                seconds.append(metrics["seconds"])
            means[precision] = (sum(values) / len(values), max(values) - min(values))
            verdict = ""
            if precision != "float32":
                gap = means[precision][0] - means["float32"][0]
                worse = gap < 0 if higher else gap > 0
                within = abs(gap) <= means["float32"][1]
                verdict = (f"{'within noise' if within else ('worse' if worse else 'better')} "
                           f"(gap {gap:+.4f}, float32 spread {means['float32'][1]:.4f})")
            per_seed = " ".join(f"{v:.4f}" for v in values)
            print(f"{entry:<24} {precision:<15} {steps:>5} {metric:<16} {per_seed:<28} {means[precision][0]:>9.4f} "
                  f"{sum(seconds) / len(seconds):>6.0f} {verdict}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
