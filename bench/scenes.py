"""Benchmark the scene DCGANs: `dcgan-eurosat` (the paper's recipe) against `dcgan-eurosat-plus`
(ours) at equal steps on EuroSAT farmland, with the conditional option and training speed.

    python bench/scenes.py --data-dir ../shared/data/eurosat                  # about 20 minutes on 2 cores
    python bench/scenes.py --variants paper,ours --steps 150                  # a shorter comparison
    python bench/scenes.py --variants paper --try "ema:ema_decay=0.999" --try "ttur:lr=1e-4,d_lr=4e-4"

Every variant trains from scratch for the same budget (``--steps`` steps at ``--batch-size`` on the
train tiles of AnnualCrop + PermanentCrop, ``--filters`` wide networks at 64x64), then
``--samples`` samples are scored with the EuroSAT judge (models/eurosat_classifier.h5): the
Frechet distance to the test tiles of the two classes beside the real-vs-real floor (as many
train tiles against the same test tiles), the ratio to the paper recipe's distance, the judge's
accuracy on the requested class (conditional variants), the share of samples it puts in the two
classes, and the nearest-neighbour ratio (median judge-feature distance of samples to their
closest training tile over that of held-out test tiles: near 0 would be copies). Training
images/s leave out the first of ``--epochs`` epochs (tracing). ``--try NAME:key=value,...``
adds a variant: the paper recipe with those settings changed.

Variants (settings over `dcgan-eurosat`): ``paper`` is the entry as it is; ``ours`` is
`dcgan-eurosat-plus`; ``ours-conditional`` is ours with ``conditional=True``;
``paper-conditional`` likewise.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

from pix2gan import zoo  # noqa: E402
from pix2gan.settings import specs  # noqa: E402

VARIANTS = {
    "paper": ("dcgan-eurosat", {}),
    "paper-conditional": ("dcgan-eurosat", {"conditional": True}),
    "ours": ("dcgan-eurosat-plus", {}),
    "ours-conditional": ("dcgan-eurosat-plus", {"conditional": True}),
}


def parse_try(text: str) -> tuple[str, tuple[str, dict]]:
    """``NAME:key=value,key=value`` -> (NAME, ("dcgan-eurosat", settings)), values as JSON where they parse."""
    name, _, body = text.partition(":")
    settings = {}
    types = {s.name: s for s in specs(zoo.recipe_class("dcgan-eurosat"))}
    for part in filter(None, body.split(",")):
        key, value = part.split("=")
        key = key.strip()
        if key not in types:
            raise SystemExit(f"--try {text}: unknown setting {key}")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        settings[key] = float(parsed) if types[key].kind is float and isinstance(parsed, (int, float)) else parsed
    return name, ("dcgan-eurosat", settings)


def run_variant(name, entry, settings, args, root) -> dict:
    keras.backend.clear_session()
    recipe = zoo.get(entry, **settings, filters=args.filters, batch_size=args.batch_size,
                     epochs=args.epochs, image_size=args.image_size)
    steps_per_epoch = max(1, args.steps // args.epochs)
    start = time.perf_counter()
    run = recipe.train(data_dir=args.data_dir, steps_per_epoch=steps_per_epoch, logdir=os.path.join(root, "logs"),
                       out=os.path.join(root, "models"), run_name=name, seed=args.seed, verbose=0, fid_every=0,
                       eval_samples=args.samples, neighbours=16, cache=args.cache, judge=args.judge)
    m = run.metrics
    return {"variant": name, "entry": entry, "settings": settings, "steps": steps_per_epoch * args.epochs,
            "fd": m.get("final_fd"), "floor": m.get("fd_floor"), "class_accuracy": m.get("final_class_accuracy"),
            "in_classes": m.get("in_classes"), "nn_ratio": m.get("nn_ratio"), "images_per_s": m["images_per_s"],
            "wall_s": time.perf_counter() - start, "run_dir": run.run_dir}


def table(rows: list[dict]) -> str:
    paper = next((r["fd"] for r in rows if r["variant"] == "paper"), None)
    lines = ["| variant | steps | FD | floor | FD/floor | FD / paper's | class acc | in classes | NN ratio | "
             "train img/s | wall s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        def f(key, fmt):
            return "-" if r.get(key) is None else format(r[key], fmt)
        ratio = "-" if paper is None or r["fd"] is None else f"{r['fd'] / paper:.2f}"
        over = "-" if r["fd"] is None else f"{r['fd'] / r['floor']:.0f}x"
        lines.append(f"| {r['variant']} | {r['steps']} | {f('fd', '.2f')} | {f('floor', '.3f')} | {over} | {ratio} | "
                     f"{f('class_accuracy', '.3f')} | {f('in_classes', '.3f')} | {f('nn_ratio', '.2f')} | "
                     f"{r['images_per_s']:.1f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "eurosat"))
    parser.add_argument("--variants", default="paper,ours,ours-conditional",
                        help=f"comma-separated, from {', '.join(VARIANTS)} (and --try names)")
    parser.add_argument("--try", dest="tries", action="append", default=[], help="NAME:key=value,... (see the doc)")
    parser.add_argument("--steps", type=int, default=300, help="training steps of every variant")
    parser.add_argument("--epochs", type=int, default=3, help="the steps in this many epochs (for images/s)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2000, help="samples scored per variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--judge", default=os.path.join("models", "eurosat_classifier.h5"))
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pix2gan_eurosat_farmland.h5"),
                        help="h5 cache of the decoded tiles")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--keep", help="keep every run's logs (grids, nearest neighbours) and models here")
    args = parser.parse_args()

    variants = dict(VARIANTS)
    variants.update(parse_try(t) for t in args.tries)
    chosen = [v for v in args.variants.split(",") if v] + [parse_try(t)[0] for t in args.tries]
    unknown = [v for v in chosen if v not in variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}: use {', '.join(variants)}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or scratch
        for name in dict.fromkeys(chosen):
            entry, settings = variants[name]
            rows.append(run_variant(name, entry, settings, args, root))
            print(f"{name}: {json.dumps({k: v for k, v in rows[-1].items() if k != 'run_dir'})}", flush=True)
    print(f"\n{args.steps} steps x batch {args.batch_size}, filters {args.filters}, {args.image_size}px, "
          f"{args.samples} samples, seed {args.seed}\n")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
