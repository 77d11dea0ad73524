"""Synthesise EuroSAT scenes: train a scene DCGAN, then write generated tiles as training data.

    python examples/generate_scenes.py --data-dir ../shared/data/eurosat --epochs 20
    python examples/generate_scenes.py --data-dir DIR --conditional --export synthetic --per-class 500
    python examples/generate_scenes.py --recipe paper --classes Forest River ...   # the paper's recipe

Trains `dcgan-eurosat-plus` (ours; `dcgan-eurosat`, the DCGAN paper's recipe, with --recipe
paper) on the classes of --classes (default AnnualCrop and PermanentCrop), logging sample grids
and the Frechet distance to TensorBoard (logs/<run>) and saving models/<run>_generator.h5 with its
card; the card and the log end with the final scores (Frechet distance beside the real-vs-real
floor, the judge's class shares, class accuracy when conditional, nearest-neighbour ratio) and
logs/<run>/nearest_neighbours.png shows samples above their closest training tiles. With
--export DIR the saved generator (loaded with plain Keras) then writes --per-class tiles per class
as PNGs in EuroSAT's layout, DIR/<Class>/<Class>_synthetic_<i>.png, which the EuroSAT loaders
read like the real folders; an unconditional generator trained on several classes writes
DIR/synthetic/ instead (its samples carry no class). Every other flag is a `pix2gan train` flag
(`pix2gan train dcgan-eurosat-plus --help` lists them).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pix2gan.cli import run_entry_command  # noqa: E402
from pix2gan.data.eurosat import CLASSES  # noqa: E402
from pix2gan.imaging import to_uint8, write_image  # noqa: E402
from pix2gan.zoo.recipe import read_card  # noqa: E402

OWN_FLAGS = """example flags:
  --recipe {plus,paper}  dcgan-eurosat-plus (ours, default) or dcgan-eurosat (the paper's recipe)
  --export DIR           after training, write generated tiles into DIR in EuroSAT's folder layout
  --per-class N          tiles per class to export (default 100)
"""


def export_tiles(generator_path: str, folder: str, per_class: int, seed: int = 0) -> int:
    """Write ``per_class`` samples of each class the generator learnt (from its model card), or
    of the whole set for an unconditional generator of several classes, as PNGs."""
    classes = read_card(generator_path)["settings"]["classes"]
    generator = keras.models.load_model(generator_path, compile=False)  # plain Keras
    conditional = len(generator.inputs) == 2
    groups = classes if conditional or len(classes) == 1 else ["synthetic"]
    rng = np.random.default_rng(seed)
    written = 0
    for name in groups:
        z = rng.standard_normal((per_class, generator.inputs[0].shape[-1])).astype(np.float32)
        inputs = [z, np.full((per_class, 1), CLASSES.index(name), np.int32)] if conditional else z
        tiles = to_uint8(generator.predict(inputs, batch_size=250, verbose=0))
        for i, tile in enumerate(tiles):
            write_image(os.path.join(folder, name, f"{name}_synthetic_{i + 1}.png"), tile)
        written += len(tiles)
    return written


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", choices=("plus", "paper"), default="plus")
    pre.add_argument("--export")
    pre.add_argument("--per-class", type=int, default=100)
    known, rest = pre.parse_known_args()
    if known.per_class < 1:
        print(f"error: --per-class {known.per_class} must be at least 1", file=sys.stderr)
        sys.exit(2)
    entry = "dcgan-eurosat-plus" if known.recipe == "plus" else "dcgan-eurosat"
    if "-h" in rest or "--help" in rest:
        print(OWN_FLAGS)
    status = run_entry_command("train", entry, rest)
    if status == 0 and known.export and not ("-h" in rest or "--help" in rest):
        flags = argparse.ArgumentParser(add_help=False)
        flags.add_argument("--out", default="models")
        flags.add_argument("--run-name", default=entry)
        args, _ = flags.parse_known_args(rest)
        count = export_tiles(os.path.join(args.out, f"{args.run_name}_generator.h5"), known.export, known.per_class)
        print(f"wrote {count} generated tiles to {known.export}")
    sys.exit(status)
