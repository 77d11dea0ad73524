"""Zoo entry `pix2pix-facades`: pix2pix (U-Net + PatchGAN, adversarial + 100*L1) on CMP Facades."""
from __future__ import annotations

import argparse
import os
import sys

import keras
import numpy as np

from ..callbacks import ImageGridCallback
from ..data.common import take_samples
from ..data.facades import (check_direction, count_facades, download_facades, load_facades,
                            load_facades_h5, read_facades_h5, synthetic_facades_dataset)
from ..discriminators import build_patchgan_discriminator
from ..evaluation import evaluate_generator
from ..generators import build_unet_generator, check_image_shape
from ..imaging import make_grid, to_uint8
from ..options import add_common_args, positive_int
from ..saving import load_model, save_run
from ..trainers import Pix2Pix
from ..trainers.pix2pix import EVAL_MODES
from ..training import fit_gan, run_dir_for
from .registry import Entry, register

NAME = "pix2pix-facades"
DEFAULT_DATA_DIR = os.path.join("datasets", "facades")
SYNTHETIC_SIZES = {"train": 64, "val": 16, "test": 16}


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--download", action="store_true", help="download the official archive into datasets/")
    parser.add_argument("--archive-sha256", help="expected sha256 of the downloaded archive (optional)")
    parser.add_argument("--h5", help="read the book's .h5 file instead of JPEG folders")
    parser.add_argument("--synthetic", action="store_true", help="use the built-in synthetic facade set")
    parser.add_argument("--image-size", type=positive_int, default=256, help="square image size, a power of two (default 256)")
    parser.add_argument("--direction", default="BtoA", help="BtoA: label map -> photo (default); AtoB: photo -> label map")


def add_train_args(parser: argparse.ArgumentParser) -> None:
    add_common_args(parser, epochs=200, batch_size=1, run_name=NAME)
    add_data_args(parser)
    parser.add_argument("--val-steps", type=positive_int, help="validation batches per epoch (default: the whole val split)")
    parser.add_argument("--upsampling", choices=("transpose", "resize"), default="transpose",
                        help="decoder upsampling: Conv2DTranspose (paper) or UpSampling2D+Conv2D")
    parser.add_argument("--minibatch-discrimination", action="store_true", help="add minibatch discrimination to D")
    parser.add_argument("--eval-mode", choices=EVAL_MODES, default="paper",
                        help="test-time generator: 'paper' (dropout + batch statistics) or 'inference'")
    parser.add_argument("--l1-weight", type=float, default=100.0, help="lambda for the L1 term (default 100)")
    parser.add_argument("--filters", type=positive_int, default=64, help="base filters of G and D (default 64)")


def _datasets(args, splits, training_split="train"):
    """Resolve where the data comes from and return (source description, {split: dataset}, counts)."""
    check_direction(args.direction)
    size = args.image_size
    check_image_shape((size, size, 3))
    common = dict(direction=args.direction, image_size=size, batch_size=args.batch_size, seed=args.seed)
    if args.synthetic:
        return _synthetic(splits, common)
    if args.h5:
        out = {s: load_facades_h5(args.h5, s, training=(s == training_split), **common) for s in splits}
        return f"h5 {args.h5}", out, {s: len(read_facades_h5(args.h5, s)[0]) for s in splits}
    data_dir = args.data_dir
    if args.download:
        data_dir = download_facades(cache_dir=os.path.dirname(DEFAULT_DATA_DIR) or ".", archive_sha256=args.archive_sha256)
    if data_dir is None:
        if os.path.isdir(os.path.join(DEFAULT_DATA_DIR, "train")):
            data_dir = DEFAULT_DATA_DIR
        else:
            print(f"note: no Facades data found in {DEFAULT_DATA_DIR}/ (pass --data-dir DIR, or --download when "
                  "online); using the built-in synthetic facade set instead", file=sys.stderr)
            return _synthetic(splits, common)
    out = {s: load_facades(data_dir, s, training=(s == training_split), **common) for s in splits}
    return f"Facades {data_dir}", out, {s: count_facades(data_dir, s) for s in splits}


def _synthetic(splits, common):
    out = {s: synthetic_facades_dataset(SYNTHETIC_SIZES[s], s, training=(s == "train"), **common) for s in splits}
    return "synthetic facades (built-in)", out, {s: SYNTHETIC_SIZES[s] for s in splits}


def build_pix2pix(image_size: int, filters: int = 64, upsampling: str = "transpose",
                  minibatch_discrimination: bool = False, channels: int = 3) -> tuple[keras.Model, keras.Model]:
    """The pix2pix generator and discriminator for square ``image_size`` images."""
    shape = (image_size, image_size, channels)
    generator = build_unet_generator(shape, filters=filters, max_filters=filters * 8, upsampling=upsampling)
    discriminator = build_patchgan_discriminator(shape, filters=filters, minibatch_discrimination=minibatch_discrimination)
    return generator, discriminator


def grid_renderer(inputs: np.ndarray, targets: np.ndarray):
    """Render (input | generated | target) rows for fixed validation samples."""
    def render(trainer):
        fake = np.asarray(trainer.generate(inputs))
        return make_grid([to_uint8(inputs), to_uint8(fake), to_uint8(targets)])
    return render


def train(args: argparse.Namespace) -> dict:
    keras.utils.set_random_seed(args.seed)
    source, data, counts = _datasets(args, ("train", "val"))
    steps = args.steps_per_epoch or max(1, counts["train"] // args.batch_size)
    val_steps = min(args.val_steps or counts["val"], max(1, counts["val"] // args.batch_size))
    run_dir = run_dir_for(args.logdir, args.run_name)
    print(f"pix2pix: {source}, {counts['train']} train / {counts['val']} val pairs, {args.image_size}px, "
          f"direction {args.direction}, batch {args.batch_size}, {args.epochs} epochs x {steps} steps")

    generator, discriminator = build_pix2pix(args.image_size, args.filters, args.upsampling,
                                             args.minibatch_discrimination)
    trainer = Pix2Pix(generator, discriminator, l1_weight=args.l1_weight, eval_mode=args.eval_mode)
    trainer.compile(jit_compile=args.jit_compile)
    samples = take_samples(data["val"], 4)
    fit_gan(trainer, data["train"], run_dir=run_dir, epochs=args.epochs, steps_per_epoch=steps,
            val_ds=data["val"], validation_steps=val_steps, verbose=args.verbose,
            callbacks=[ImageGridCallback(grid_renderer(*samples), run_dir)])

    metrics = {}
    for mode in EVAL_MODES:
        scores = evaluate_generator(generator, data["val"], mode=mode, steps=val_steps)
        metrics.update({f"val_{k}_{mode}": v for k, v in scores.items() if k != "images"})
    save_run(args.out, args.run_name, generator, {
        "entry": NAME, "data": source, "direction": args.direction, "image_size": args.image_size,
        "epochs": args.epochs, "steps_per_epoch": steps, "batch_size": args.batch_size, "seed": args.seed,
        "eval_mode": args.eval_mode, "value_range": "[-1, 1] (tanh)", "metrics": metrics,
    }, discriminator, run_dir)
    print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return metrics


def add_eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="saved generator (.h5 or .keras)")
    parser.add_argument("--data-dir", help="Facades folder (default datasets/facades, else synthetic)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default test)")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-mode", choices=EVAL_MODES, default="paper")
    add_data_args(parser)


def evaluate(args: argparse.Namespace) -> dict:
    generator = load_model(args.weights)
    args.image_size = generator.input_shape[1]
    source, data, counts = _datasets(args, (args.split,), training_split=None)
    scores = evaluate_generator(generator, data[args.split], mode=args.eval_mode)
    print(f"{NAME} on {source} [{args.split}], mode {args.eval_mode}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return scores


ENTRY = register(Entry(NAME, "pix2pix on CMP Facades: U-Net G + 70x70 PatchGAN D, BCE + 100*L1",
                       add_train_args, train, add_eval_args, evaluate))
