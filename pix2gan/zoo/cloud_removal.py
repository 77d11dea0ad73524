"""Zoo entries `cloud-removal-eurosat` (the reference recipe) and `cloud-removal-eurosat-plus` (ours).

Data: EuroSAT RGB tiles as targets, Perlin-cloud covered copies as inputs (fresh clouds every
training batch, fixed seeded clouds for the test split), all in [0, 1].

- reference: the classic U-Net (sigmoid) and the ResNet discriminator (unconditional, one logit),
  BCE + 100 * L1, Adam G 1e-4 / D 1e-5 (PyTorch defaults beta1 0.9), batch 64.
- plus: the same networks, but the U-Net's head inverts the cloud blend (``head="veil"``: a
  per-image gain and a grey veil map, see ``build_reference_unet``), so it starts at the identity
  (the right answer under thin clouds) and cannot shift colours; G's learning rate warms up to 4e-4
  in 10 steps and decays to zero along a cosine over the whole run, and the loss adds 4 x minus the
  mean per-image PSNR (``psnr_weight=4``) to BCE + 100 * L1, which weighs nearly clear tiles as much
  as badly clouded ones. The variants measured on the way to this recipe are listed in
  ``bench/clouds.py``.

Evaluation reports PSNR, SSIM and L1 of the restored tiles and of the cloudy input (the
do-nothing baseline) per class and per opacity bin, as Markdown tables, TensorBoard scalars and
a cloudy | restored | target grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from ..data.clouds import CLOUD_KINDS, cloud_pairs_dataset
from ..data.common import take_samples
from ..data.eurosat import CLASSES, check_classes, download_eurosat, load_eurosat, verify_eurosat
from ..data.synthetic import synthetic_satellite_tiles
from ..errors import Pix2GanError
from ..evaluation import grouped_table, output_value_range, per_image_scores
from ..imaging import make_grid, to_uint8, write_image
from ..networks import UNET_HEADS, build_reference_unet, build_resnet_discriminator
from ..settings import override, setting
from ..trainers import Pix2Pix
from .recipe import DATASETS, Data, DataOptions, Recipe, Source
from .registry import register

LR_SCHEDULES = ("constant", "cosine")
WARMUP_STEPS = 10
ALPHA_BINS = ("0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1")
TEST_SEED_OFFSET = 1000  # test clouds never share a seed with training clouds
SYNTHETIC_PER_CLASS = 120
HEADS = tuple(UNET_HEADS)


def generator_learning_rate(lr: float, schedule: str, total_steps: int | None):
    """G's learning rate ``lr``, constant or (``schedule="cosine"``) warmed up over
    ``WARMUP_STEPS`` (a tenth of shorter runs) and cosine-decayed to zero at ``total_steps`` (the
    whole run, all epochs)."""
    if schedule not in LR_SCHEDULES:
        raise Pix2GanError(f"unknown learning-rate schedule {schedule!r}: use one of {', '.join(LR_SCHEDULES)}",
                           argument="g_schedule")
    if schedule == "constant":
        return lr
    if total_steps is None or total_steps < 1:
        raise Pix2GanError(f"a cosine learning-rate schedule needs the run's length: total_steps={total_steps!r} "
                           "must be a positive number of steps", argument="total_steps")
    warmup = min(WARMUP_STEPS, total_steps // 10)
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(lr, total_steps, alpha=0.0)
    return keras.optimizers.schedules.CosineDecay(0.0, total_steps - warmup, alpha=0.0,
                                                  warmup_target=lr, warmup_steps=warmup)


@dataclass(frozen=True)
class EuroSATOptions(DataOptions):
    classes: tuple[str, ...] | None = setting(None, f"class filter (default all: {' '.join(CLASSES)})",
                                              choices=CLASSES, uses=("train", "evaluate"))
    test_fraction: float = setting(0.3, "held-out fraction of every class", min=0.0, below=1.0,
                                   uses=("train", "evaluate"))
    max_per_class: int | None = setting(None, "use at most this many tiles per class", min=1,
                                        uses=("train", "evaluate"))
    resize: bool = setting(False, "resize tiles that are not 64x64 (default: refuse them)", uses=("train", "evaluate"))
    cache: str | None = setting(None, "h5 file caching the decoded split (written once, reused)",
                                uses=("train", "evaluate"))
    archive_sha256: str | None = setting(None, "expected sha256 of the downloaded zip (optional)",
                                         uses=("train", "evaluate"))
    verify: bool = setting(False, "check every file against the published listing hash", uses=("train", "evaluate"))
    logdir: str | None = setting(None, "also write TensorBoard scalars, a grid and the tables here",
                                 uses=("evaluate",))


def synthetic_eurosat(classes, seed: int = 0, per_class: int = SYNTHETIC_PER_CLASS,
                      test_fraction: float = 0.3) -> dict:
    """The built-in EuroSAT-like tiles in :func:`load_eurosat`'s format (train/test drawn with different seeds)."""
    check_classes(classes)
    out = {}
    for split, n, offset in (("train", round(per_class * (1 - test_fraction)), 0),
                             ("test", round(per_class * test_fraction), 1_000_003)):
        images, labels = synthetic_satellite_tiles(n, seed=seed + offset)
        if classes:
            keep = np.isin(labels, [CLASSES.index(c) for c in classes])
            images, labels = images[keep], labels[keep]
        out[split] = (images, labels)
    return out


def test_dataset(images: np.ndarray, labels: np.ndarray, seed: int, batch_size: int = 64,
                 clouds: str = "grey") -> tf.data.Dataset:
    """Fixed cloudy test batches ``(cloudy, clear, alpha, label)`` (clouds depend only on ``seed``)."""
    return cloud_pairs_dataset(images, batch_size, training=False, seed=seed + TEST_SEED_OFFSET,
                               with_alpha=True, labels=labels, kind=clouds)


def restoration_grid(restored: np.ndarray, cloudy: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """(cloudy | restored | target) rows."""
    return make_grid([to_uint8(cloudy, (0, 1)), to_uint8(restored, (0, 1)), to_uint8(clear, (0, 1))])


def cloud_report(generator: keras.Model, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                 run_dir: str | None = None, clouds: str = "grey") -> dict:
    """Score ``generator`` on cloud-covered ``images`` against the cloudy-input baseline.

    Returns ``{"overall": {...}, "alpha_table": str, "class_table": str, "alpha_rows": [...],
    "class_rows": [...]}``; with ``run_dir`` the overall numbers go to TensorBoard
    (``<run_dir>/test``) with a cloudy | restored | target grid, and the tables to
    ``<run_dir>/test_report.md``.
    """
    scores = per_image_scores(generator, test_dataset(images, labels, seed, clouds=clouds), mode="inference",
                              value_range=(0.0, 1.0))
    alpha, label = scores["extra0"], scores["extra1"]
    bins = np.clip((alpha * 4).astype(int), 0, 3)
    alpha_table, alpha_rows = grouped_table(scores, bins, ALPHA_BINS, "alpha")
    class_table, class_rows = grouped_table(scores, label, CLASSES, "class")
    overall = {k: v for k, v in alpha_rows[-1].items() if k not in ("alpha", "n")}
    report = {"overall": overall, "alpha_table": alpha_table, "class_table": class_table,
              "alpha_rows": alpha_rows, "class_rows": class_rows}
    if run_dir:
        cloudy, clear = take_samples(test_dataset(images[:8], labels[:8], seed, 8, clouds), 8)[:2]
        grid = restoration_grid(np.asarray(generator(cloudy, training=False)), cloudy, clear)
        write_image(os.path.join(run_dir, "test_grid.png"), grid)
        writer = tf.summary.create_file_writer(os.path.join(run_dir, "test"))
        with writer.as_default():
            for k, v in overall.items():
                tf.summary.scalar(f"test/{k}", v, step=0)
            for row in alpha_rows[:-1]:
                tf.summary.scalar(f"test_alpha_{row['alpha']}/model_psnr", row["model_psnr"], step=0)
                tf.summary.scalar(f"test_alpha_{row['alpha']}/input_psnr", row["input_psnr"], step=0)
            tf.summary.image("test/cloudy_restored_target", grid[None], step=0)
        writer.close()
        with open(os.path.join(run_dir, "test_report.md"), "w") as f:
            f.write(f"## by cloud opacity\n\n{alpha_table}\n\n## by class\n\n{class_table}\n")
    return report


@dataclass(frozen=True)
class CloudRemoval(Recipe):
    """Cloud removal on EuroSAT: a U-Net generator against the ResNet discriminator, trained on
    fresh synthetic clouds every batch, scored against the cloudy input."""
    dataset = "eurosat"
    Options = EuroSATOptions
    value_range = (0.0, 1.0)

    epochs: int = override(Recipe, "epochs", 10)
    batch_size: int = override(Recipe, "batch_size", 64)
    head: Literal[HEADS] = setting("sigmoid", "U-Net head: sigmoid (the reference), residual, or veil "
                                                   "(inverts a grey cloud blend; starts as the identity)")
    norm: Literal["batch", "instance", "none"] = setting("batch", "normalisation in the U-Net blocks")
    g_lr: float = setting(1e-4, "generator learning rate (the peak, with a schedule)", min=0.0)
    g_schedule: Literal[LR_SCHEDULES] = setting("constant", "generator learning-rate schedule: constant, or "
                                                            "cosine (10-step warm-up, decays to 0 over the run)")
    d_lr: float = setting(1e-5, "discriminator learning rate", min=0.0)
    l1_weight: float = setting(100.0, "weight of the L1 term", min=0.0)
    psnr_weight: float = setting(0.0, "weight of minus the mean per-image PSNR in G's loss", min=0.0)
    clouds: Literal[CLOUD_KINDS] = setting("grey", "cloud kind: grey (the reference's Perlin clouds), thick, haze "
                                                   "or coloured", uses=("train", "evaluate"))
    image_size: int = setting(64, "tile size (EuroSAT tiles are 64x64; a multiple of 16)", min=16)

    def check(self) -> None:
        if self.image_size % 16:
            raise Pix2GanError(f"image_size={self.image_size} must be a multiple of 16 (the U-Net pools 4 times)",
                               argument="image_size")

    def holds_data(self, path: str) -> bool:
        return os.path.isdir(os.path.join(path, CLASSES[0]))

    def download_data(self, options) -> str:
        return download_eurosat(DATASETS, options.archive_sha256)

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        if source.kind == "synthetic":
            description = "synthetic satellite tiles (built-in)"
            arrays = synthetic_eurosat(options.classes, seed, test_fraction=options.test_fraction)
        else:
            description = f"EuroSAT {source.path}"
            if options.verify:
                verify_eurosat(source.path)
            arrays = load_eurosat(source.path, options.classes, options.test_fraction, seed, options.max_per_class,
                                  options.resize, options.cache)
        (train_x, _), (test_x, test_y) = arrays["train"], arrays["test"]
        if split is not None:
            images, labels = arrays[split]
            return Data(f"{description} [{split}, {len(images)} tiles, {self.clouds} clouds]",
                        extra={"images": images, "labels": labels})
        return Data(f"{description}, {len(train_x)} train / {len(test_x)} test tiles, {self.clouds} clouds",
                    cloud_pairs_dataset(train_x, self.batch_size, training=True, seed=seed, kind=self.clouds),
                    len(train_x), extra={"images": test_x, "labels": test_y})

    def for_generator(self, generator: keras.Model, weights: str) -> Recipe:
        shape = generator.input_shape
        if not isinstance(shape, tuple) or len(shape) != 4 or shape[-1] != 3:
            raise Pix2GanError(f"weights={weights!r} is not an RGB image-to-image generator (input shape {shape}): "
                               f"pass a {self.name} generator", argument="weights")
        if output_value_range(generator) != (0.0, 1.0):
            raise Pix2GanError(f"weights={weights!r} outputs [-1, 1] images (tanh), but cloud removal works on "
                               f"[0, 1] images: pass a {self.name} generator", argument="weights")
        return self

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        shape = (self.image_size, self.image_size, 3)
        generator = build_reference_unet(shape, head=self.head, norm=self.norm)
        discriminator = build_resnet_discriminator(shape)
        trainer = Pix2Pix(generator, discriminator, l1_weight=self.l1_weight, psnr_weight=self.psnr_weight,
                          value_range=self.value_range, eval_mode="inference")
        trainer.compile(keras.optimizers.Adam(generator_learning_rate(self.g_lr, self.g_schedule, total_steps)),
                        keras.optimizers.Adam(self.d_lr), jit_compile=jit_compile)
        return trainer

    def grid_renderer(self, data: Data):
        images, labels = data.extra["images"][:8], data.extra["labels"][:8]
        cloudy, clear = take_samples(test_dataset(images, labels, 0, 8, self.clouds), 8)[:2]
        return lambda trainer: restoration_grid(np.asarray(trainer.generate(cloudy)), cloudy, clear)

    def final_metrics(self, trainer, data, history, options, run_dir, seed) -> dict:
        report = cloud_report(trainer.inference_generator, data.extra["images"], data.extra["labels"], seed, run_dir,
                              self.clouds)
        per_bin = {f"test_{who}_psnr_alpha_{row['alpha']}": row[f"{who}_psnr"]
                   for row in report["alpha_rows"][:-1] for who in ("model", "input")}
        return {**{f"test_{k}": v for k, v in report["overall"].items()}, **per_bin}

    def score(self, generator, data, options, seed) -> dict:
        report = cloud_report(generator, data.extra["images"], data.extra["labels"], seed, options.logdir,
                              self.clouds)
        return {**report["overall"], "clouds": self.clouds, **report}

    def report(self, scores: dict) -> str:
        return f"{scores['weights']} on {scores['data']}\n\n{scores['alpha_table']}\n\n{scores['class_table']}"


@register
@dataclass(frozen=True)
class CloudRemovalReference(CloudRemoval):
    name = "cloud-removal-eurosat"
    summary = "cloud removal on EuroSAT (reference): U-Net G + ResNet D, BCE + 100*L1"


@register
@dataclass(frozen=True)
class CloudRemovalPlus(CloudRemoval):
    name = "cloud-removal-eurosat-plus"
    summary = ("cloud removal on EuroSAT (ours): U-Net with a cloud-inverting head (identity start), "
               "cosine G lr from 4e-4, BCE + 100*L1 + per-image PSNR term")

    head: Literal[HEADS] = override(CloudRemoval, "head", "veil")
    g_lr: float = override(CloudRemoval, "g_lr", 4e-4)
    g_schedule: Literal[LR_SCHEDULES] = override(CloudRemoval, "g_schedule", "cosine")
    psnr_weight: float = override(CloudRemoval, "psnr_weight", 4.0)
