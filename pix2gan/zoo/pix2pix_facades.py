"""Zoo entry `pix2pix-facades`: pix2pix (U-Net + PatchGAN, adversarial + 100*L1) on CMP Facades.

The shortest recipe in the zoo, and the one to copy for a new entry: settings, data, networks,
a sample grid and the scores; the flow around them is :class:`~pix2gan.zoo.recipe.Recipe`'s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np

from ..data.common import take_samples
from ..data.facades import (
    count_facades,
    download_facades,
    load_facades,
    load_facades_h5,
    read_facades_h5,
    synthetic_facades_dataset,
)
from ..evaluation import evaluate_generator
from ..imaging import make_grid, to_uint8
from ..modelcheck import require_image_generator
from ..networks import build_patchgan_discriminator, build_unet_generator, check_image_shape
from ..settings import override, setting
from ..trainers import Pix2Pix
from ..trainers.pix2pix import EVAL_MODES
from .recipe import DATASETS, Data, DataOptions, Recipe, Source
from .registry import register

SYNTHETIC_SIZES = {"train": 64, "val": 16, "test": 16}


@dataclass(frozen=True)
class FacadesOptions(DataOptions):
    archive_sha256: str | None = setting(None, "expected sha256 of the downloaded archive (optional)",
                                         uses=("train", "evaluate"))
    h5: str | None = setting(None, "read the book's .h5 file instead of JPEG folders", uses=("train", "evaluate"))
    val_steps: int | None = setting(None, "validation batches per epoch (default: the whole val split)", min=1)


def build_pix2pix(image_size: int, filters: int = 64, upsampling: str = "transpose",
                  minibatch_discrimination: bool = False, channels: int = 3) -> tuple[keras.Model, keras.Model]:
    """The pix2pix generator and discriminator for square ``image_size`` images."""
    shape = (image_size, image_size, channels)
    generator = build_unet_generator(shape, filters=filters, max_filters=filters * 8, upsampling=upsampling)
    discriminator = build_patchgan_discriminator(shape, filters=filters, minibatch_discrimination=minibatch_discrimination)
    return generator, discriminator


@register
@dataclass(frozen=True)
class Pix2PixFacades(Recipe):
    """pix2pix on CMP Facades, the paper's settings by default (batch 1, 256x256, 200 epochs)."""
    name = "pix2pix-facades"
    summary = "pix2pix on CMP Facades: U-Net G + 70x70 PatchGAN D, BCE + 100*L1"
    dataset = "facades"
    Options = FacadesOptions
    splits = ("train", "val", "test")
    auto_mixed = True  # bf16 measured within noise of float32 and 0.62x the baseline step (bench/precision.py, run.py)

    epochs: int = override(Recipe, "epochs", 200)
    image_size: int = setting(256, "square image size, a power of two", min=8)
    direction: Literal["BtoA", "AtoB"] = setting("BtoA", "BtoA: label map -> photo; AtoB: photo -> label map",
                                                 uses=("train", "evaluate"))
    upsampling: Literal["transpose", "resize"] = setting(
        "transpose", "decoder upsampling: Conv2DTranspose (paper) or UpSampling2D + Conv2D")
    minibatch_discrimination: bool = setting(False, "add minibatch discrimination to D")
    eval_mode: Literal[EVAL_MODES] = setting(
        "paper", "test-time generator: 'paper' (dropout + batch statistics) or 'inference' (training=False)",
        uses=("train", "evaluate"))
    l1_weight: float = setting(100.0, "lambda, the weight of the L1 term", min=0.0)
    filters: int = setting(64, "base filters of G and D", min=1)
    ema_decay: float = setting(0.0, "exponential moving average of G's weights, which is then what is validated "
                                    "and saved (0: off)", min=0.0, below=1.0)

    def check(self) -> None:
        check_image_shape((self.image_size, self.image_size, 3))

    def holds_data(self, path: str) -> bool:
        return os.path.isdir(os.path.join(path, "train"))

    def download_data(self, options, folder: str = DATASETS) -> str:
        return download_facades(cache_dir=folder, archive_sha256=options.archive_sha256)

    def explicit_source(self, options) -> Source | None:
        return Source("file", options.h5) if options.h5 else None

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        splits = ("train", "val") if split is None else (split,)
        common = dict(direction=self.direction, image_size=self.image_size, batch_size=self.batch_size, seed=seed)
        training = {s: split is None and s == "train" for s in splits}
        if source.kind == "synthetic":
            sets = {s: synthetic_facades_dataset(SYNTHETIC_SIZES[s], s, training=training[s], **common) for s in splits}
            sizes, description = {s: SYNTHETIC_SIZES[s] for s in splits}, "synthetic facades (built-in)"
        elif source.kind == "file":
            sets = {s: load_facades_h5(source.path, s, training=training[s], **common) for s in splits}
            sizes, description = {s: len(read_facades_h5(source.path, s)[0]) for s in splits}, f"h5 {source.path}"
        else:
            sets = {s: load_facades(source.path, s, training=training[s], **common) for s in splits}
            sizes, description = {s: count_facades(source.path, s) for s in splits}, f"Facades {source.path}"
        if split is not None:
            return Data(f"{description}, {sizes[split]} {split} pairs", extra={"scored": sets[split]})
        val_steps = max(1, sizes["val"] // self.batch_size)
        if options.val_steps:
            val_steps = min(options.val_steps, val_steps)
        return Data(f"{description}, {sizes['train']} train / {sizes['val']} val pairs, {self.image_size}px, "
                    f"direction {self.direction}", sets["train"], sizes["train"], sets["val"], val_steps)

    def for_generator(self, generator: keras.Model, weights: str) -> Recipe:
        found = require_image_generator(generator, weights, argument="weights", needs=f"{self.name} needs",
                                        value_range=self.value_range, channels=3, square=True,
                                        fix=f"pass a {self.name} generator (<run>_generator.h5)")
        return self.replace(image_size=int(found.inputs[0][0]))

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        generator, discriminator = build_pix2pix(self.image_size, self.filters, self.upsampling,
                                                 self.minibatch_discrimination)
        trainer = Pix2Pix(generator, discriminator, l1_weight=self.l1_weight, eval_mode=self.eval_mode,
                          ema_decay=self.ema_decay)
        trainer.compile(jit_compile=jit_compile)
        return trainer

    def grid_renderer(self, data: Data):
        inputs, targets = take_samples(data.val, 4)

        def render(trainer):
            fake = np.asarray(trainer.generate(inputs))
            return make_grid([to_uint8(inputs), to_uint8(fake), to_uint8(targets)])
        return render

    def final_metrics(self, trainer, data, history, options, run_dir, seed) -> dict:
        metrics = {}
        for mode in EVAL_MODES:
            scores = evaluate_generator(trainer.inference_generator, data.val, mode=mode, steps=data.val_steps)
            metrics.update({f"val_{k}_{mode}": v for k, v in scores.items() if k != "images"})
        return metrics

    def score(self, generator, data, options, seed) -> dict:
        return {"eval_mode": self.eval_mode, **evaluate_generator(generator, data.extra["scored"], mode=self.eval_mode)}

