"""Zoo entries `cloud-removal-eurosat` (the reference recipe) and `cloud-removal-eurosat-plus` (ours).

Data: EuroSAT RGB tiles as targets, cloud-covered copies as inputs (fresh clouds every training
batch, fixed seeded clouds for the test split), all in [0, 1]; or a folder of real cloudy /
clear pairs (:mod:`pix2gan.data.paired`).

- reference: the classic U-Net (sigmoid) and the ResNet discriminator (unconditional, one logit),
  BCE + 100 * L1, Adam G 1e-4 / D 1e-5 (PyTorch defaults beta1 0.9), batch 64, the reference's
  grey Perlin clouds.
- plus: the same networks, but the U-Net's head (``head="blend"``) predicts a corrected image and
  a per-pixel cloud map, and applies the correction only through the map, so clear ground passes
  unchanged; the map is trained against the known cloud and shadow mask (``map_weight``). It
  learns from every cloud kind of :mod:`pix2gan.data.clouds` (``clouds="mixed"``: thin cirrus and
  haze, thick cumulus, their shadows, the grey Perlin veils, clear tiles), on tiles resampled to
  0.5-4x the pixel size and with varied ground colour. G's learning rate warms up to 4e-4 in 10
  steps and decays to zero along a cosine over the run; the loss adds 4 x minus the mean
  per-image PSNR (``psnr_weight=4``) to BCE + 100 * L1. The variants measured on the way are
  listed in ``bench/clouds.py``.

Evaluation reports, for every cloud kind, PSNR / SSIM of the restored tiles and of the cloudy
input (the do-nothing baseline) overall and per opacity bin, the cloud map's IoU, the PSNR of
the output against the input on cloud-free tiles at 1x, 2x and 4x finer pixels (harm to clear
ground), and per class for the grey clouds; as Markdown tables, TensorBoard scalars and grids.
On a folder of real pairs it reports PSNR / SSIM / SAM per image and overall.
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
from ..data.paired import find_pair_folders, holds_pairs, list_pairs, paired_dataset, paired_report
from ..data.synthetic import synthetic_satellite_tiles
from ..errors import Pix2GanError
from ..evaluation import grouped_table, per_image_scores
from ..imaging import make_grid, to_uint8, write_image
from ..modelcheck import require_image_generator
from ..networks import UNET_HEADS, build_reference_unet, build_resnet_discriminator
from ..optimizers import adam
from ..settings import override, setting
from ..trainers import Pix2Pix
from ..trainers.cloud import MAP_SOFTNESS, CloudPix2Pix, cloud_map_model, map_target
from .recipe import DATASETS, Data, DataOptions, Recipe, Source
from .registry import register

LR_SCHEDULES = ("constant", "cosine")
WARMUP_STEPS = 10
ALPHA_BINS = ("0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1")
TEST_SEED_OFFSET = 1000  # test clouds never share a seed with training clouds
SYNTHETIC_PER_CLASS = 120
HEADS = tuple(UNET_HEADS)
REPORT_KINDS = ("grey", "thin", "thick", "shadow", "mixed")
CLEAR_SCALES = (1, 2, 4)


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


def test_dataset(images: np.ndarray, labels: np.ndarray, seed: int, batch_size: int = 64, clouds: str = "grey",
                 scale: float = 1.0) -> tf.data.Dataset:
    """Fixed cloudy test batches ``(cloudy, clear, alpha, label, mask)`` (clouds depend only on
    ``seed``); ``clouds="none"`` gives cloud-free tiles, ``scale`` resamples them first."""
    return cloud_pairs_dataset(images, batch_size, training=False, seed=seed + TEST_SEED_OFFSET,
                               with_alpha=True, labels=labels, kind=clouds, with_mask=True, scale=scale)


def restoration_grid(restored: np.ndarray, cloudy: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """(cloudy | restored | target) rows."""
    return make_grid([to_uint8(cloudy, (0, 1)), to_uint8(restored, (0, 1)), to_uint8(clear, (0, 1))])


def map_iou(generator: keras.Model, dataset: tf.data.Dataset, softness: float = MAP_SOFTNESS) -> float | None:
    """Intersection over union of the generator's cloud map (``map > 0.5``) and the known mask
    (:func:`~pix2gan.trainers.cloud.map_target` with ``softness`` above 0.5) over every pixel of ``dataset``; None
    for a generator without a map."""
    mapped = cloud_map_model(generator)
    if mapped is None:
        return None
    both = either = 0
    for cloudy, _, _, _, mask in dataset:
        predicted = np.asarray(mapped(cloudy, training=False)[1])[..., 0] > 0.5
        known = np.asarray(map_target(mask, softness)) > 0.5
        both += int(np.sum(predicted & known))
        either += int(np.sum(predicted | known))
    return both / either if either else 1.0


def _kind_row(kind: str, rows: list[dict], iou: float | None) -> str:
    by_bin = {r["alpha"]: r for r in rows[:-1]}
    cells = [f"{by_bin[b]['model_psnr']:.2f} / {by_bin[b]['input_psnr']:.2f}" if b in by_bin else "-"
             for b in ALPHA_BINS]
    total = rows[-1]
    return (f"| {kind} | {total['n']} | {total['model_psnr']:.2f} | {total['input_psnr']:.2f} | "
            f"{total['model_ssim']:.4f} | {total['input_ssim']:.4f} | " + " | ".join(cells) +
            f" | {'-' if iou is None else f'{iou:.3f}'} |")


def cloud_report(generator: keras.Model, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                 run_dir: str | None = None, kinds=REPORT_KINDS, scales=CLEAR_SCALES,
                 map_softness: float = MAP_SOFTNESS) -> dict:
    """Score ``generator`` on cloud-covered ``images`` against the cloudy-input baseline.

    For every cloud kind in ``kinds``: PSNR / SSIM / L1 of the restored tiles and of the cloudy
    input, overall and per opacity bin (``alpha`` = the share of the signal the clouds took, the
    mean of the mask), and the cloud map's IoU; for the first kind also per class. Then
    cloud-free tiles resampled by each of ``scales``: PSNR of the output against the input
    (how much the model harms clear ground; the input is the truth there).

    Returns ``{"overall": first kind's overall, "kinds": {kind: {"overall", "alpha_rows",
    "map_iou"}}, "clear": {scale: psnr}, "alpha_table", "class_table", "kind_table",
    "clear_table", "alpha_rows", "class_rows"}``; with ``run_dir`` the numbers also go to
    TensorBoard (``<run_dir>/test``) with a cloudy | restored | target grid per kind, and the
    tables to ``<run_dir>/test_report.md``.
    """
    report = {"kinds": {}, "clear": {}}
    kind_lines = ["| clouds | n | PSNR model | PSNR input | SSIM model | SSIM input | "
                  + " | ".join(f"a {b} model / input" for b in ALPHA_BINS) + " | map IoU |",
                  "|---|---:|---:|---:|---:|---:|" + "---:|" * len(ALPHA_BINS) + "---:|"]
    for i, kind in enumerate(kinds):
        dataset = test_dataset(images, labels, seed, clouds=kind)
        scores = per_image_scores(generator, dataset.map(lambda x, y, a, c, m: (x, y, a, c)), mode="inference",
                                  value_range=(0.0, 1.0))
        alpha, label = scores.pop("extra0"), scores.pop("extra1")
        bins = np.clip((alpha * 4).astype(int), 0, 3)
        alpha_table, alpha_rows = grouped_table(scores, bins, ALPHA_BINS, "alpha")
        iou = map_iou(generator, dataset, map_softness)
        overall = {k: v for k, v in alpha_rows[-1].items() if k not in ("alpha", "n")}
        report["kinds"][kind] = {"overall": overall, "alpha_rows": alpha_rows, "map_iou": iou}
        kind_lines.append(_kind_row(kind, alpha_rows, iou))
        if i == 0:
            class_table, class_rows = grouped_table(scores, label, CLASSES, "class")
            report |= {"overall": overall, "alpha_table": alpha_table, "alpha_rows": alpha_rows,
                       "class_table": class_table, "class_rows": class_rows}
    clear_lines = ["| pixel size | n | PSNR output vs input | SSIM output vs input |", "|---|---:|---:|---:|"]
    for scale in scales:
        scores = per_image_scores(generator, test_dataset(images, labels, seed, clouds="none", scale=scale)
                                  .map(lambda x, y, a, c, m: (x, y)), mode="inference", value_range=(0.0, 1.0))
        report["clear"][scale] = float(np.mean(scores["model_psnr"]))
        clear_lines.append(f"| {scale}x finer | {len(scores['model_psnr'])} | {report['clear'][scale]:.2f} | "
                           f"{np.mean(scores['model_ssim']):.4f} |")
    report["kind_table"], report["clear_table"] = "\n".join(kind_lines), "\n".join(clear_lines)
    if run_dir:
        _write_report(generator, images, labels, seed, run_dir, report, kinds)
    return report


def _write_report(generator, images, labels, seed, run_dir, report, kinds) -> None:
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "test"))
    with writer.as_default():
        for kind in kinds:
            cloudy, clear = take_samples(test_dataset(images[:8], labels[:8], seed, 8, kind), 8)[:2]
            grid = restoration_grid(np.asarray(generator(cloudy, training=False)), cloudy, clear)
            write_image(os.path.join(run_dir, f"test_grid_{kind}.png"), grid)
            tf.summary.image(f"test_{kind}/cloudy_restored_target", grid[None], step=0)
            found = report["kinds"][kind]
            for k, v in found["overall"].items():
                tf.summary.scalar(f"test_{kind}/{k}", v, step=0)
            for row in found["alpha_rows"][:-1]:
                tf.summary.scalar(f"test_{kind}_alpha_{row['alpha']}/model_psnr", row["model_psnr"], step=0)
                tf.summary.scalar(f"test_{kind}_alpha_{row['alpha']}/input_psnr", row["input_psnr"], step=0)
            if found["map_iou"] is not None:
                tf.summary.scalar(f"test_{kind}/map_iou", found["map_iou"], step=0)
        for scale, psnr in report["clear"].items():
            tf.summary.scalar(f"test_clear/psnr_vs_input_{scale}x", psnr, step=0)
    writer.close()
    text = report_text(report, kinds[0])
    with open(os.path.join(run_dir, "test_report.md"), "w") as f:
        f.write(text + "\n")


def report_text(report: dict, first_kind: str) -> str:
    """The report's tables as Markdown."""
    return (f"## by cloud kind (PSNR in dB; per opacity bin model / input)\n\n{report['kind_table']}\n\n"
            f"## cloud-free tiles: harm to clear ground\n\n{report['clear_table']}\n\n"
            f"## {first_kind} clouds by opacity\n\n{report['alpha_table']}\n\n"
            f"## {first_kind} clouds by class\n\n{report['class_table']}")


def report_metrics(report: dict) -> dict:
    """The report's numbers as flat card metrics: ``test_model_psnr`` ... (first kind),
    ``test_<kind>_{model,input}_psnr[_alpha_<bin>]``, ``test_<kind>_map_iou`` and
    ``test_clear_psnr_<scale>x``."""
    metrics = {f"test_{k}": v for k, v in report["overall"].items()}
    for row in report["alpha_rows"][:-1]:
        metrics |= {f"test_{who}_psnr_alpha_{row['alpha']}": row[f"{who}_psnr"] for who in ("model", "input")}
    for kind, found in report["kinds"].items():
        metrics |= {f"test_{kind}_{who}_psnr": found["overall"][f"{who}_psnr"] for who in ("model", "input")}
        for row in found["alpha_rows"][:-1]:
            metrics |= {f"test_{kind}_{who}_psnr_alpha_{row['alpha']}": row[f"{who}_psnr"] for who in ("model", "input")}
        if found["map_iou"] is not None:
            metrics[f"test_{kind}_map_iou"] = found["map_iou"]
    metrics |= {f"test_clear_psnr_{scale}x": v for scale, v in report["clear"].items()}
    return metrics


@dataclass(frozen=True)
class CloudRemoval(Recipe):
    """Cloud removal on EuroSAT: a U-Net generator against the ResNet discriminator, trained on
    fresh synthetic clouds every batch (or on a user's real cloudy / clear pairs), scored against
    the cloudy input."""
    dataset = "eurosat"
    Options = EuroSATOptions
    value_range = (0.0, 1.0)
    # bf16 test PSNR within noise of float32 (both heads, 2 seeds), step 0.67x / 0.70x the baseline (bench/)
    auto_mixed = True

    epochs: int = override(Recipe, "epochs", 10)
    batch_size: int = override(Recipe, "batch_size", 64)
    head: Literal[HEADS] = setting("sigmoid", "U-Net head: sigmoid (the reference), residual, veil (inverts a grey "
                                              "cloud blend), or blend (a corrected image applied through a cloud map: "
                                              "clear ground passes unchanged)")
    norm: Literal["batch", "instance", "none"] = setting("batch", "normalisation in the U-Net blocks")
    g_lr: float = setting(1e-4, "generator learning rate (the peak, with a schedule)", min=0.0)
    g_schedule: Literal[LR_SCHEDULES] = setting("constant", "generator learning-rate schedule: constant, or "
                                                            "cosine (10-step warm-up, decays to 0 over the run)")
    d_lr: float = setting(1e-5, "discriminator learning rate", min=0.0)
    l1_weight: float = setting(100.0, "weight of the L1 term", min=0.0)
    psnr_weight: float = setting(0.0, "weight of minus the mean per-image PSNR in G's loss", min=0.0)
    map_weight: float = setting(10.0, "weight of the cloud-map cross-entropy (blend head only)", min=0.0)
    map_softness: float = setting(MAP_SOFTNESS, "signal loss at which a pixel counts as fully clouded in the map's "
                                                "target (blend head only)", min=0.01, max=1.0)
    clouds: Literal[CLOUD_KINDS] = setting("grey", "training clouds: grey (the reference's Perlin veils), thin "
                                                   "(cirrus, haze), thick (cumulus), shadow (cumulus and their "
                                                   "shadows) or mixed (all of these and clear tiles)")
    min_scale: float = setting(1.0, "smallest random resampling of training tiles (0.5: pixels twice as large)",
                               min=0.125, max=8.0)
    max_scale: float = setting(1.0, "largest random resampling of training tiles (4: pixels 4x finer)",
                               min=0.125, max=8.0)
    vary_ground: bool = setting(False, "vary the brightness and colour of the ground in training")
    image_size: int = setting(64, "training tile size (EuroSAT tiles are 64x64; a multiple of 16); the saved "
                                  "generator takes any multiple of 16", min=16)

    def check(self) -> None:
        if self.image_size % 16:
            raise Pix2GanError(f"image_size={self.image_size} must be a multiple of 16 (the U-Net pools 4 times)",
                               argument="image_size")
        if self.min_scale > self.max_scale:
            raise Pix2GanError(f"min_scale={self.min_scale} is above max_scale={self.max_scale}: give the smaller "
                               "factor as min_scale", argument="min_scale")

    def holds_data(self, path: str) -> bool:
        return os.path.isdir(os.path.join(path, CLASSES[0])) or holds_pairs(path)

    def download_data(self, options, folder: str = DATASETS) -> str:
        return download_eurosat(folder, options.archive_sha256)

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        if source.kind == "folder" and holds_pairs(source.path):
            return self._load_pairs(source.path, split, seed)
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
            return Data(f"{description} [{split}, {len(images)} tiles]", extra={"images": images, "labels": labels})
        train = cloud_pairs_dataset(train_x, self.batch_size, training=True, seed=seed, kind=self.clouds,
                                    with_mask=self.head == "blend", scale_range=(self.min_scale, self.max_scale),
                                    ground=self.vary_ground)
        return Data(f"{description}, {len(train_x)} train / {len(test_x)} test tiles, {self.clouds} clouds", train,
                    len(train_x), extra={"images": test_x, "labels": test_y})

    def _load_pairs(self, root: str, split: str | None, seed: int) -> Data:
        """A folder of real cloudy / clear pairs (see :mod:`pix2gan.data.paired`): random tiles of
        the train pairs for training, whole images of the test pairs (else the train pairs) to score."""
        test_pairs = list_pairs(*find_pair_folders(root, split or "test"))
        if split is not None:
            return Data(f"pairs {root} [{split}, {len(test_pairs)} images]", extra={"pairs": test_pairs})
        train_pairs = list_pairs(*find_pair_folders(root, "train"))
        train = paired_dataset(train_pairs, self.image_size, self.batch_size, seed, training=True)
        if self.head == "blend":  # real pairs have no known mask: the change itself marks the clouds
            train = train.map(lambda x, y: (x, (y, tf.reduce_max(tf.abs(x - y), axis=-1))))
        return Data(f"pairs {root}, {len(train_pairs)} train / {len(test_pairs)} test images", train,
                    len(train_pairs), extra={"pairs": test_pairs})

    def for_generator(self, generator: keras.Model, weights: str) -> Recipe:
        require_image_generator(generator, weights, argument="weights", needs=f"{self.name} needs",
                                value_range=self.value_range, channels=3,
                                fix=f"pass a {self.name} generator (<run>_generator.h5)")
        return self

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        # fully convolutional: a saved generator takes scenes of any size (multiples of 16) whole
        generator = build_reference_unet((None, None, 3), head=self.head, norm=self.norm)
        discriminator = build_resnet_discriminator((self.image_size, self.image_size, 3))
        trainer_class, extra = Pix2Pix, {}
        if self.head == "blend":
            trainer_class, extra = CloudPix2Pix, {"map_weight": self.map_weight, "map_softness": self.map_softness}
        trainer = trainer_class(generator, discriminator, l1_weight=self.l1_weight, psnr_weight=self.psnr_weight,
                                value_range=self.value_range, eval_mode="inference", **extra)
        trainer.compile(adam(generator_learning_rate(self.g_lr, self.g_schedule, total_steps)),
                        adam(self.d_lr), jit_compile=jit_compile)
        return trainer

    def grid_renderer(self, data: Data):
        if "images" not in data.extra:
            return None
        images, labels = data.extra["images"][:8], data.extra["labels"][:8]
        cloudy, clear = take_samples(test_dataset(images, labels, 0, 8, self.clouds), 8)[:2]
        return lambda trainer: restoration_grid(np.asarray(trainer.generate(cloudy)), cloudy, clear)

    def _report(self, generator, data: Data, seed: int, run_dir: str | None) -> dict:
        if "pairs" in data.extra:
            return paired_report(lambda x: generator(x, training=False), data.extra["pairs"])
        return cloud_report(generator, data.extra["images"], data.extra["labels"], seed, run_dir,
                            map_softness=self.map_softness)

    def final_metrics(self, trainer, data, history, options, run_dir, seed) -> dict:
        report = self._report(trainer.inference_generator, data, seed, run_dir)
        if "pairs" in data.extra:
            return {f"test_{k}": v for k, v in report["overall"].items()}
        return report_metrics(report)

    def score(self, generator, data, options, seed) -> dict:
        report = self._report(generator, data, seed, options.logdir)
        return {**report["overall"], **report}

    def report(self, scores: dict) -> str:
        if "table" in scores:  # real pairs
            return f"{scores['weights']} on {scores['data']}\n\n{scores['table']}"
        return f"{scores['weights']} on {scores['data']}\n\n{report_text(scores, REPORT_KINDS[0])}"


@register
@dataclass(frozen=True)
class CloudRemovalReference(CloudRemoval):
    name = "cloud-removal-eurosat"
    summary = "cloud removal on EuroSAT (reference): U-Net G + ResNet D, BCE + 100*L1, grey Perlin clouds"


@register
@dataclass(frozen=True)
class CloudRemovalPlus(CloudRemoval):
    name = "cloud-removal-eurosat-plus"
    summary = ("cloud removal on EuroSAT (ours): U-Net with a supervised cloud map that leaves clear ground "
               "untouched, trained on mixed thin / thick / shadowed clouds at many pixel sizes; cosine G lr "
               "from 4e-4, BCE + 100*L1 + per-image PSNR + cloud-map terms")

    head: Literal[HEADS] = override(CloudRemoval, "head", "blend")
    g_lr: float = override(CloudRemoval, "g_lr", 4e-4)
    g_schedule: Literal[LR_SCHEDULES] = override(CloudRemoval, "g_schedule", "cosine")
    psnr_weight: float = override(CloudRemoval, "psnr_weight", 4.0)
    clouds: Literal[CLOUD_KINDS] = override(CloudRemoval, "clouds", "mixed")
    min_scale: float = override(CloudRemoval, "min_scale", 0.5)
    max_scale: float = override(CloudRemoval, "max_scale", 4.0)
    vary_ground: bool = override(CloudRemoval, "vary_ground", True)
