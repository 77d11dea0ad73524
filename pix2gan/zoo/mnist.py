"""Zoo entries `gan-mnist`, `cgan-mnist`, `lsgan-mnist`, `dcgan-mnist`: the classic GANs on MNIST.

All four are recipes for one trainer (:class:`pix2gan.trainers.LatentGAN`) over the shared
:class:`~pix2gan.zoo.latent.LatentRecipe` and differ only in options: builders, adversarial loss,
optimizer settings, conditioning and an exponential moving average (EMA) of the generator's
weights. Each run writes a fixed-noise sample grid per epoch (PNG +
TensorBoard), D(x), D(G(z)) and the losses as scalars, and, with ``--fid-every``, the MNIST-FID (and
label accuracy for conditional models) per epoch. With ``--ema-decay`` the grids, the scores and the
saved ``<run>_generator.h5`` all come from the EMA generator (the per-epoch scores of the raw one
are logged beside them as ``raw_fid`` / ``raw_label_accuracy``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np

from ..callbacks import ScalarLogger
from ..classifier import CLASSIFIER_PATH, MnistJudge, judge_path, load_classifier, load_or_train_classifier
from ..data.mnist import (
    IMAGE_SHAPE,
    NPZ_NAME,
    NUM_CLASSES,
    SYNTHETIC,
    download_mnist_npz,
    has_idx_files,
    mnist_dataset,
    read_mnist,
    resolve_mnist,
)
from ..errors import Pix2GanError
from ..losses import ADVERSARIAL_LOSSES
from ..modelcheck import require_latent_generator
from ..networks import build_dcgan_discriminator, build_dcgan_generator, build_mlp_discriminator, build_mlp_generator
from ..settings import override, setting
from ..trainers.latent import is_conditional, sample_generator
from .latent import LatentRecipe, Throughput, fixed_noise_grid, label_classes
from .recipe import DATASETS, Data, DataOptions, Recipe, Source
from .registry import register


@dataclass(frozen=True)
class MnistOptions(DataOptions):
    h5: str | None = setting(None, "read MNIST from an .h5 written by pix2gan.data.mnist.write_mnist_h5",
                             uses=("train", "evaluate"))
    classifier: str = setting(CLASSIFIER_PATH, "the MNIST judge (training makes it there on first use; evaluate "
                                               "only reads it: make it with `pix2gan make-judge`)",
                              uses=("train", "evaluate"))
    train_limit: int | None = setting(None, "train on the first N training images only", min=1)
    fid_every: int = setting(1, "MNIST-FID every N epochs (0: never)", min=0)
    fid_samples: int = setting(2000, "samples for the per-epoch MNIST-FID", min=1)
    eval_samples: int = setting(10000, "samples for the final scores (0 skips them)", min=0)
    n: int = setting(10000, "generated images to score", min=1, uses=("evaluate",))


def grid_renderer(latent_dim: int, conditional: bool, seed: int = 1234):
    """A 10x10 grid from fixed noise; conditional: row k asks for label k."""
    labels = np.repeat(np.arange(NUM_CLASSES), 10) if conditional else None
    return fixed_noise_grid(latent_dim, labels, 10, 100, seed)


def sample_for_scoring(generator: keras.Model, n: int, seed: int = 0):
    """``n`` samples and (conditional) the labels asked for: an equal share of each label."""
    labels = np.arange(n) % NUM_CLASSES if is_conditional(generator) else None
    return sample_generator(generator, n, labels, seed=seed), labels


def _number_scores(scores: dict) -> dict:
    """The scalar scores, with the class histogram spread into ``class_<k>`` fractions (for TensorBoard)."""
    out = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
    out.update({f"class_{k}": v for k, v in enumerate(scores.get("class_histogram", []))})
    return out


@dataclass(frozen=True)
class MnistGAN(LatentRecipe):
    """A GAN on MNIST: one trainer (:class:`~pix2gan.trainers.LatentGAN`), networks and losses by setting."""
    dataset = "mnist"
    Options = MnistOptions

    epochs: int = override(Recipe, "epochs", 50)
    batch_size: int = override(Recipe, "batch_size", 100)
    latent_dim: int = override(LatentRecipe, "latent_dim", 64)
    arch: Literal["mlp", "dcgan"] = setting("mlp", "networks: fully connected (mlp) or convolutional (dcgan)")
    g_hidden: tuple[int, ...] = setting((256, 256), "hidden widths of the MLP generator", min=1)
    d_hidden: tuple[int, ...] = setting((256, 256), "hidden widths of the MLP discriminator", min=1)
    norm: Literal["none", "batch"] = setting("none", "normalisation in the MLPs")
    g_activation: str = setting("relu", "hidden activation of the MLP generator")
    d_activation: str = setting("leaky_relu", "hidden activation of the MLP discriminator")
    filters: int = setting(64, "base filters of the DCGAN G and D", min=1)
    recon_weight: float = setting(0.0, "weight of an L1 term |G(z,y) - x| (the C-LSGAN reference uses 0.05; "
                                       "costs variety)", min=0.0)

    def check(self) -> None:
        for name in ("g_activation", "d_activation"):
            value = getattr(self, name)
            if value != "leaky_relu":
                try:
                    keras.activations.get(value)
                except ValueError:
                    raise Pix2GanError(f"{name}={value!r} is not a Keras activation: use e.g. relu, gelu or "
                                       "leaky_relu", argument=name) from None

    def default_locations(self) -> list[str]:
        folder = os.path.join("datasets", self.dataset)
        return [folder, os.path.join(folder, NPZ_NAME)]

    def holds_data(self, path: str) -> bool:
        return os.path.isfile(path) or has_idx_files(path)

    def explicit_source(self, options) -> Source | None:
        return Source("file", options.h5) if options.h5 else None

    def download_data(self, options, folder: str = DATASETS) -> str:
        return download_mnist_npz(folder)

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        where = SYNTHETIC if source.kind == "synthetic" else resolve_mnist(source.path)
        description = "synthetic digits (built-in)" if where == SYNTHETIC else f"MNIST {where}"
        if split is not None:
            return Data(description, extra={"source": where})
        images, labels = read_mnist(where, "train")
        if options.train_limit:
            images, labels = images[:options.train_limit], labels[:options.train_limit]
        if len(images) < self.batch_size:
            raise Pix2GanError(f"batch_size={self.batch_size} exceeds the {len(images)} training images: lower "
                               "batch_size or raise train_limit", argument="batch_size")
        return Data(f"{description}, {len(images)} images, {'conditional' if self.conditional else 'unconditional'} "
                    f"{self.arch}, loss {self.loss}" + (f", generator EMA {self.ema_decay:g}" if self.ema_decay else ""),
                    mnist_dataset(images, labels, self.batch_size, training=True, seed=seed), len(images),
                    extra={"source": where, "train": (images, labels)})

    def build_networks(self) -> tuple[keras.Model, keras.Model]:
        """The generator and discriminator."""
        classes = NUM_CLASSES if self.conditional else 0
        if self.arch == "dcgan":
            return (build_dcgan_generator(self.latent_dim, IMAGE_SHAPE, self.filters, classes),
                    build_dcgan_discriminator(IMAGE_SHAPE, self.filters, classes))
        norm = None if self.norm == "none" else self.norm
        return (build_mlp_generator(self.latent_dim, self.g_hidden, IMAGE_SHAPE, classes, norm=norm,
                                    activation=self.g_activation),
                build_mlp_discriminator(IMAGE_SHAPE, self.d_hidden, classes, embed_dim=self.latent_dim,
                                        norm=norm, activation=self.d_activation))

    def trainer_options(self) -> dict:
        return {"reconstruction_weight": self.recon_weight}

    def grid_renderer(self, data: Data):
        return grid_renderer(self.latent_dim, self.conditional)

    def judge(self, source: str, options, train=None, make: bool = True) -> MnistJudge:
        """The MNIST judge; ``make=False`` (evaluate) only loads it and never trains or writes one."""
        # a classifier passed by name is used as it is; the default has a synthetic-digits twin
        path = judge_path(source) if options.classifier == CLASSIFIER_PATH else options.classifier
        classifier = load_or_train_classifier(source, options.classifier) if make else load_classifier(path, source)
        return MnistJudge(classifier, read_mnist(source, "test"), train if train is not None else read_mnist(source, "train"))

    def extra_callbacks(self, trainer, data, options, run_dir, seed) -> list:
        throughput = Throughput(self.batch_size)
        data.extra["throughput"] = throughput
        callbacks = [throughput]
        if options.fid_every > 0 or options.eval_samples > 0:
            data.extra["judge"] = self.judge(data.extra["source"], options, data.extra["train"])
        if options.fid_every > 0:
            judge = data.extra["judge"]

            def per_epoch(model):
                scores = _number_scores(judge.score(*sample_for_scoring(model.inference_generator,
                                                                        options.fid_samples)))
                if model.ema_generator is not None:  # the raw generator too, to see what the average buys
                    raw = judge.score(*sample_for_scoring(model.generator, options.fid_samples))
                    scores.update({f"raw_{k}": raw[k] for k in ("fid", "label_accuracy") if k in raw})
                return scores
            callbacks.append(ScalarLogger(per_epoch, run_dir, every=options.fid_every))
        return callbacks

    def final_metrics(self, trainer, data, history, options, run_dir, seed) -> dict:
        metrics = super().final_metrics(trainer, data, history, options, run_dir, seed)
        metrics["images_per_s"] = data.extra["throughput"].images_per_second
        if options.eval_samples > 0:
            judge = data.extra["judge"]
            images, labels = sample_for_scoring(trainer.inference_generator, options.eval_samples, seed=seed + 1)
            metrics.update({f"final_{k}": v for k, v in judge.score(images, labels).items()})
            metrics["fid_floor"] = judge.floor(options.eval_samples)
        return metrics

    def for_generator(self, generator: keras.Model, weights: str) -> Recipe:
        # Conditional or not and the noise size follow the saved generator (sampling reads them from it).
        found = require_latent_generator(generator, weights, argument="weights", needs=f"{self.name} needs",
                                         image_shape=IMAGE_SHAPE, value_range=self.value_range,
                                         fix=f"pass an MNIST generator (<run>_generator.h5 of {self.name})")
        if found.conditional:
            classes = label_classes(generator)
            if classes is not None and classes != NUM_CLASSES:
                raise Pix2GanError(f"weights={weights!r} is a conditional generator of {classes} classes, but MNIST "
                                   f"has {NUM_CLASSES}: pass an MNIST generator", argument="weights")
        return self.replace(latent_dim=int(found.inputs[0][0]), conditional=found.conditional)

    def score(self, generator, data, options, seed) -> dict:
        """MNIST-FID beside the real-vs-real floor, class histogram and (conditional) label
        accuracy and per-label pixel-std ratio of a saved generator."""
        judge = self.judge(data.extra["source"], options, make=False)
        images, labels = sample_for_scoring(generator, options.n, seed)
        scores = judge.score(images, labels)
        scores["fid_floor"] = judge.floor(options.n)
        scores["fid_over_floor"] = scores["fid"] / scores["fid_floor"]
        scores["samples"] = options.n
        return scores

    def report(self, scores: dict) -> str:
        lines = [f"{scores['weights']}: MNIST-FID {scores['fid']:.3f} (real-vs-real floor {scores['fid_floor']:.3f}, "
                 f"{scores['fid_over_floor']:.1f}x) on {scores['samples']} samples"]
        if "label_accuracy" in scores:
            lines.append(f"label accuracy {scores['label_accuracy']:.4f}; per-label pixel std / real: "
                         f"min {scores['std_ratio_min']:.3f}, mean {scores['std_ratio_mean']:.3f}")
        lines.append(f"class histogram (0-9): {' '.join(f'{h:.3f}' for h in scores['class_histogram'])}; "
                     f"{scores['classes_covered']} classes with >= 2%")
        return "\n".join(lines)

    def draw_samples(self, generator, n, label, seed):
        conditional = is_conditional(generator)
        labels = None
        if label is not None:
            if not conditional:
                raise Pix2GanError(f"label={label!r}: this generator is unconditional; drop label or use a "
                                   "conditional model (cgan-mnist, lsgan-mnist, dcgan-mnist)", argument="label")
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < NUM_CLASSES:
                raise Pix2GanError(f"label={label!r} is not a digit: use 0-9", argument="label")
            labels = int(label)
        elif conditional:
            labels = np.arange(n) % NUM_CLASSES
        return sample_generator(generator, n, labels, seed=seed), (10 if conditional and label is None else 8)


@register
@dataclass(frozen=True)
class GanMnist(MnistGAN):
    name = "gan-mnist"
    summary = "vanilla GAN: MLP G 64-256-256-784 / D 784-256-256-1, BCE, Adam 2e-4, batch 100"
    default_steps_per_execution = 50  # a step of a few ms: Python's per-call cost shows (bench/run.py)
    auto_mixed = True  # bf16 MNIST-FID within noise of float32, step 0.77x the baseline against 0.89x (bench/)


@dataclass(frozen=True)
class ConditionalMlpGAN(MnistGAN):
    """The conditional MLP GANs: label embeddings, BatchNorm + GELU MLPs 128-1024, AdamW 3e-4."""
    default_steps_per_execution = 50
    latent_dim: int = override(MnistGAN, "latent_dim", 100)
    conditional: bool = override(MnistGAN, "conditional", True)
    lr: float = override(MnistGAN, "lr", 3e-4)
    beta1: float = override(MnistGAN, "beta1", 0.4)
    beta2: float = override(MnistGAN, "beta2", 0.8)
    weight_decay: float = override(MnistGAN, "weight_decay", 1e-4)
    g_hidden: tuple[int, ...] = override(MnistGAN, "g_hidden", (128, 256, 512, 1024))
    d_hidden: tuple[int, ...] = override(MnistGAN, "d_hidden", (1024, 512, 256, 128))
    norm: Literal["none", "batch"] = override(MnistGAN, "norm", "batch")
    g_activation: str = override(MnistGAN, "g_activation", "gelu")
    d_activation: str = override(MnistGAN, "d_activation", "gelu")


@register
@dataclass(frozen=True)
class CganMnist(ConditionalMlpGAN):
    name = "cgan-mnist"
    summary = "conditional GAN: label embeddings, BatchNorm+GELU MLPs 128-1024, BCE, AdamW 3e-4"


@register
@dataclass(frozen=True)
class LsganMnist(ConditionalMlpGAN):
    name = "lsgan-mnist"
    summary = ("conditional least-squares GAN: as cgan-mnist with the MSE adversarial loss and an EMA (0.999) of "
               "G's weights")
    loss: Literal[ADVERSARIAL_LOSSES] = override(MnistGAN, "loss", "lsgan")
    ema_decay: float = override(MnistGAN, "ema_decay", 0.999)
    auto_mixed = True  # bf16 MNIST-FID within noise of float32, step 0.71x the baseline against 0.95x (bench/)


@register
@dataclass(frozen=True)
class DcganMnist(MnistGAN):
    name = "dcgan-mnist"
    summary = ("DCGAN (Radford et al.), class-conditional by default (--unconditional for the paper's): "
               "transposed-conv G, strided-conv D, BatchNorm, BCE with one-sided label smoothing 0.1, Adam 4e-4 "
               "(beta1 0.5), batch 64, EMA (0.999) of G's weights")
    epochs: int = override(MnistGAN, "epochs", 25)
    batch_size: int = override(MnistGAN, "batch_size", 64)
    arch: Literal["mlp", "dcgan"] = override(MnistGAN, "arch", "dcgan")
    latent_dim: int = override(MnistGAN, "latent_dim", 100)
    conditional: bool = override(MnistGAN, "conditional", True)
    lr: float = override(MnistGAN, "lr", 4e-4)
    ema_decay: float = override(MnistGAN, "ema_decay", 0.999)
    label_smoothing: float = override(MnistGAN, "label_smoothing", 0.1)
    auto_mixed = True  # bf16 MNIST-FID within noise of float32 at 1500 steps, step 0.80x the baseline against 0.90x (bench/)
