"""Cloud removal on EuroSAT, end to end: train, evaluate, save a grid PNG and the weights.

    python examples/remove_clouds.py --data-dir ../shared/data/eurosat --epochs 1 --steps-per-epoch 100
    python examples/remove_clouds.py --recipe reference ...      # the reference recipe instead of ours
    python examples/remove_clouds.py ... --scene big.tif          # then clear a scene of any size

Trains `cloud-removal-eurosat-plus` (or `cloud-removal-eurosat` with --recipe reference) with
fresh Perlin clouds every batch, scores the held-out split against the cloudy input per
opacity bin and per class (printed, and in logs/<run>/test_report.md and TensorBoard), writes
logs/<run>/test_grid.png (cloudy | restored | target) and models/<run>_generator.h5. With
--scene, the trained generator then clears that image tile by tile (any size, 8/16-bit) into
<out>/<run>_<scene name> (.tif for JP2 and other rasters, .png for JPEG).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan.cli import run_entry_command  # noqa: E402

if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", choices=("plus", "reference"), default="plus")
    pre.add_argument("--scene", help="an image of any size to clear after training")
    known, rest = pre.parse_known_args()
    entry = "cloud-removal-eurosat-plus" if known.recipe == "plus" else "cloud-removal-eurosat"
    status = run_entry_command("train", entry, rest)
    if status == 0 and known.scene:
        from pix2gan.errors import Pix2GanError
        from pix2gan.raster import output_extension
        from pix2gan.tiling import remove_clouds
        flags = argparse.ArgumentParser(add_help=False)
        flags.add_argument("--out", default="models")
        flags.add_argument("--run-name", default=entry)
        args, _ = flags.parse_known_args(rest)
        model = os.path.join(args.out, f"{args.run_name}_generator.h5")
        stem = os.path.splitext(os.path.basename(known.scene))[0]
        target = os.path.join(args.out, f"{args.run_name}_{stem}{output_extension(known.scene)}")
        try:
            remove_clouds(known.scene, model, target)
        except Pix2GanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        print(f"cleared scene: {target}")
    sys.exit(status)
