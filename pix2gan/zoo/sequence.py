"""Zoo entry `sequence-unet`: next-frame prediction with the "GAN + U-Net" reference.

The generator is the reference sequence U-Net (:func:`pix2gan.networks.sequence.build_sequence_unet`):
``frames_in`` frames stacked on the channel axis in, the ``frames_out`` frames that follow out, in
[0, 1]. It trains on L1 (or MSE) alone, or with ``adversarial`` also against a conditional
PatchGAN that sees the input frames beside the true or predicted ones (pix2pix-style, through
:class:`~pix2gan.trainers.sequence.SequencePix2Pix`).

Data: Moving MNIST made from the MNIST digits (:mod:`pix2gan.data.moving_mnist`; the training
sequences from the training digits, the test sequences from the test digits; the built-in
synthetic digits when no MNIST is found), or a folder of ordered frames
(:mod:`pix2gan.data.frames`), told apart by what ``data_dir`` holds.

Each epoch writes a strip (inputs | predicted | truth) as PNG and TensorBoard image, an animated
GIF (Pillow) of the same sequences, and per-frame validation MSE / SSIM as scalars. After training
and in ``evaluate``: MSE and SSIM for every predicted frame beside the copy-last and the
linear-extrapolation baselines (:func:`pix2gan.sequence.per_frame_report`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from ..callbacks import ScalarLogger
from ..data.common import take_samples
from ..data.frames import frames_dataset, holds_frames, list_frames, read_frames, split_folders, window_starts
from ..data.mnist import NPZ_NAME, SYNTHETIC, download_mnist_npz, has_idx_files, read_mnist, resolve_mnist
from ..data.moving_mnist import moving_mnist_dataset
from ..errors import Pix2GanError
from ..imaging import write_image
from ..networks import build_patchgan_discriminator
from ..networks.sequence import DOWNSAMPLING, build_sequence_unet
from ..optimizers import adam
from ..sequence import (
    METHODS,
    per_frame_report,
    report_metrics,
    sequence_animation,
    sequence_model_shape,
    sequence_strip,
    write_gif,
)
from ..settings import override, setting
from ..trainers.sequence import RECONSTRUCTION_LOSSES, Regression, SequencePix2Pix
from .latent import Throughput
from .recipe import DATASETS, Data, DataOptions, Recipe, Source
from .registry import register

SAMPLES = 4  # sequences in the strips and GIFs


@dataclass(frozen=True)
class SequenceOptions(DataOptions):
    train_sequences: int = setting(10000, "Moving MNIST: training sequences per epoch (sequence i is always the "
                                          "same for a seed)", min=1)
    test_sequences: int = setting(1000, "Moving MNIST: test sequences scored after training and by evaluate",
                                  min=1, uses=("train", "evaluate"))
    val_sequences: int = setting(256, "sequences (Moving MNIST) or windows (frames folder) validated every epoch",
                                 min=1)
    num_digits: int = setting(2, "Moving MNIST: digits per sequence", min=1, uses=("train", "evaluate"))
    min_speed: float = setting(2.0, "Moving MNIST: slowest digit speed, pixels per frame", min=0.0,
                               uses=("train", "evaluate"))
    max_speed: float = setting(5.0, "Moving MNIST: fastest digit speed, pixels per frame", min=0.0,
                               uses=("train", "evaluate"))
    test_fraction: float = setting(0.2, "frames folder without train/ and test/: the share of its frames, at the "
                                        "end, held out for testing", min=0.0, below=1.0, uses=("train", "evaluate"))
    resize: bool = setting(False, "frames folder: resize frames to height x width (default: refuse other sizes)",
                           uses=("train", "evaluate"))
    gif_every: int = setting(1, "write the animated GIF of the sample sequences every N epochs (0: never)", min=0)
    logdir: str | None = setting(None, "also write the per-frame table, a strip PNG, a GIF and TensorBoard scalars "
                                       "here", uses=("evaluate",))

    def __post_init__(self):
        super().__post_init__()
        if self.min_speed > self.max_speed:
            raise Pix2GanError(f"min_speed={self.min_speed} is above max_speed={self.max_speed}: give the smaller "
                               "speed as min_speed", argument="min_speed")


class GifCallback(keras.callbacks.Callback):
    """Every ``every`` epochs, an animated GIF of fixed sample sequences (inputs, then predicted
    beside true frames) to ``<run_dir>/samples/epoch_NNNN.gif``."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, channels: int, run_dir: str, every: int = 1):
        super().__init__()
        self.inputs, self.targets, self.channels = inputs, targets, channels
        self.folder = os.path.join(run_dir, "samples")
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if not self.every or (epoch + 1) % self.every:
            return
        predicted = np.asarray(self.model.generate(self.inputs))
        write_gif(os.path.join(self.folder, f"epoch_{epoch + 1:04d}.gif"),
                  sequence_animation(self.inputs, predicted, self.targets, self.channels))


@register
@dataclass(frozen=True)
class SequenceUNet(Recipe):
    """Frame prediction with the reference sequence U-Net, L1 (or MSE), optionally adversarial."""
    name = "sequence-unet"
    summary = ("next-frame prediction, the GAN + U-Net reference: frames stacked on channels, Conv-BN-LeakyReLU "
               "U-Net 64-1024 with bilinear upsampling and the input concatenated at the end, L1 (or MSE), "
               "optionally against a conditional PatchGAN; Moving MNIST or a folder of frames")
    dataset = "mnist"
    Options = SequenceOptions
    auto_mixed = True  # bf16 measured within noise of float32 and 0.67x the baseline step (bench/precision.py, run.py)
    value_range = (0.0, 1.0)

    epochs: int = override(Recipe, "epochs", 10)
    batch_size: int = override(Recipe, "batch_size", 16)
    frames_in: int = setting(10, "input frames (stacked on the channel axis)", min=1)
    frames_out: int = setting(10, "predicted frames", min=1)
    channels: int = setting(1, "channels per frame (1 grey, 3 RGB)", min=1, max=4, uses=("train", "evaluate"))
    height: int = setting(64, "frame height (sides that are not multiples of 16 are padded inside the model)",
                          min=1)
    width: int = setting(64, "frame width", min=1)
    filters: int = setting(64, "base width of the U-Net: widths filters x 1, 2, 4, 8, 16 (the reference: 64, "
                               "i.e. 64-1024, 31M parameters at 60 channels in and out)", min=1)
    downsampling: Literal[DOWNSAMPLING] = setting("conv", "encoder downsampling: 2x2 stride-2 conv (the reference) "
                                                          "or 2x2 max-pooling")
    loss: Literal[RECONSTRUCTION_LOSSES] = setting("l1", "reconstruction loss: l1 or mse")
    adversarial: bool = setting(False, "also train against a conditional PatchGAN that sees the input frames and the "
                                       "true or predicted ones (pix2pix-style)")
    recon_weight: float = setting(100.0, "weight of the L1/MSE term beside the adversarial term (adversarial only)",
                                  min=0.0)
    d_filters: int = setting(64, "base width of the PatchGAN (adversarial only)", min=1)
    lr: float = setting(1e-3, "Adam learning rate of the U-Net (and of the PatchGAN)", min=0.0)
    beta1: float = setting(0.9, "Adam beta1", min=0.0, below=1.0)

    # ----------------------------------------------------------------- data
    def default_locations(self) -> list[str]:
        folder = os.path.join(DATASETS, self.dataset)
        return [folder, os.path.join(folder, NPZ_NAME)]

    def holds_data(self, path: str) -> bool:
        return os.path.isfile(path) or has_idx_files(path) or os.path.isfile(os.path.join(path, NPZ_NAME)) \
            or holds_frames(path)

    def download_data(self, options, folder: str = DATASETS) -> str:
        return download_mnist_npz(folder)

    def _is_mnist(self, source: Source) -> bool:
        if source.kind != "folder":
            return True
        return has_idx_files(source.path) or os.path.isfile(os.path.join(source.path, NPZ_NAME))

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        if self._is_mnist(source):
            return self._moving_mnist(source, options, split, seed)
        if not holds_frames(source.path):
            raise Pix2GanError(f"data folder {source.path} holds neither the MNIST files (for Moving MNIST) nor "
                               "frames (images directly inside, or in train/ and test/): pass one of those",
                               argument="data_dir")
        return self._frames(source.path, options, split, seed)

    def _moving_mnist(self, source: Source, options, split: str | None, seed: int) -> Data:
        if self.channels != 1:
            raise Pix2GanError(f"channels={self.channels}: Moving MNIST frames are grey, use channels=1",
                               argument="channels")
        where = SYNTHETIC if source.kind == "synthetic" else resolve_mnist(source.path)
        what = "synthetic digits (built-in)" if where == SYNTHETIC else f"MNIST {where}"
        common = dict(frames_in=self.frames_in, frames_out=self.frames_out, batch_size=self.batch_size, seed=seed,
                      size=(self.height, self.width), num_digits=options.num_digits,
                      speed=(options.min_speed, options.max_speed))
        scored_split = split or "test"
        digits = read_mnist(where, scored_split)[0]
        scored = moving_mnist_dataset(digits, options.test_sequences, training=False, split=scored_split, **common)
        description = (f"Moving MNIST from {what}, {self.height}x{self.width}, {options.num_digits} digits, "
                       f"{self.frames_in} -> {self.frames_out} frames")
        if split is not None:
            return Data(f"{description} [{split}, {options.test_sequences} sequences]",
                        extra={"scored": scored, "sequences": options.test_sequences})
        train = moving_mnist_dataset(read_mnist(where, "train")[0], options.train_sequences, training=True,
                                     split="train", **common)
        val_count = min(options.val_sequences, options.test_sequences)
        val = moving_mnist_dataset(digits, val_count, training=False, split="test", **common)
        return Data(f"{description}, {options.train_sequences} train / {options.test_sequences} test sequences",
                    train, options.train_sequences, val, math.ceil(val_count / self.batch_size),
                    extra={"scored": scored, "sequences": options.test_sequences})

    def _frames(self, root: str, options, split: str | None, seed: int) -> Data:
        read = dict(channels=self.channels, size=(self.height, self.width), resize=options.resize)
        folders = split_folders(root)
        need = self.frames_in + self.frames_out
        if folders is not None:
            parts = {s: (read_frames(folders[s], **read), folders[s]) for s in ("train", "test") if split in (None, s)}
        else:
            paths = list_frames(root)
            window_starts(len(paths), self.frames_in, self.frames_out, root)
            held = max(need, int(round(len(paths) * options.test_fraction)))
            if len(paths) - held < need:
                raise Pix2GanError(f"frames folder {root} holds {len(paths)} frames: too few for a training and a test "
                                   f"part of at least {need} frames each (frames_in {self.frames_in} + frames_out "
                                   f"{self.frames_out}, test_fraction {options.test_fraction:g}): add frames, lower "
                                   "frames_in / frames_out, or give train/ and test/ folders", argument="data_dir")
            frames = read_frames(root, paths=paths, **read)
            cut = len(paths) - held
            parts = {"train": (frames[:cut], f"{root} (frames 1-{cut})"),
                     "test": (frames[cut:], f"{root} (frames {cut + 1}-{len(paths)})")}
            parts = {s: v for s, v in parts.items() if split in (None, s)}
        common = dict(frames_in=self.frames_in, frames_out=self.frames_out, batch_size=self.batch_size, seed=seed)
        scored_split = split or "test"
        test_frames, test_where = parts[scored_split]
        scored = frames_dataset(test_frames, training=False, folder=test_where, **common)
        windows = len(test_frames) - need + 1
        description = (f"frames {root}, {test_frames.shape[2]}x{test_frames.shape[1]}x{test_frames.shape[3]}, "
                       f"{self.frames_in} -> {self.frames_out} frames")
        if split is not None:
            return Data(f"{description} [{split}, {windows} windows]", extra={"scored": scored, "sequences": windows})
        train_frames, train_where = parts["train"]
        train = frames_dataset(train_frames, training=True, folder=train_where, **common)
        train_windows = len(train_frames) - need + 1
        return Data(f"{description}, {train_windows} train / {windows} test windows", train, train_windows, scored,
                    math.ceil(min(options.val_sequences, windows) / self.batch_size),
                    extra={"scored": scored, "sequences": windows})

    # ----------------------------------------------------------------- networks
    def for_generator(self, generator: keras.Model, weights: str) -> Recipe:
        h, w, frames_in, frames_out = sequence_model_shape(generator, weights, self.channels, argument="weights",
                                                           needs=f"{self.name} needs")
        return self.replace(frames_in=frames_in, frames_out=frames_out, height=h or self.height,
                            width=w or self.width)

    def build_networks(self) -> tuple[keras.Model, keras.Model | None]:
        """The U-Net and (``adversarial``) the conditional PatchGAN."""
        shape = (self.height, self.width, self.frames_in * self.channels)
        out = self.frames_out * self.channels
        generator = build_sequence_unet(shape, out, filters=self.filters, downsampling=self.downsampling)
        if not self.adversarial:
            return generator, None
        return generator, build_patchgan_discriminator(shape, target_channels=out, filters=self.d_filters)

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        generator, discriminator = self.build_networks()
        if discriminator is None:
            trainer = Regression(generator, loss=self.loss, value_range=self.value_range)
            trainer.compile(adam(self.lr, beta_1=self.beta1), jit_compile=jit_compile)
            return trainer
        trainer = SequencePix2Pix(generator, discriminator, loss=self.loss, recon_weight=self.recon_weight,
                                  value_range=self.value_range, eval_mode="inference")
        trainer.compile(adam(self.lr, beta_1=self.beta1), adam(self.lr, beta_1=self.beta1), jit_compile=jit_compile)
        return trainer

    def saved_models(self, trainer: keras.Model) -> dict[str, keras.Model]:
        models = {"generator": trainer.inference_generator}
        if "discriminator" in trainer.networks:
            models["discriminator"] = trainer.discriminator
        return models

    # ----------------------------------------------------------------- pictures and scores
    def _samples(self, data: Data) -> tuple[np.ndarray, np.ndarray]:
        if "samples" not in data.extra:
            data.extra["samples"] = take_samples(data.val if data.val is not None else data.extra["scored"], SAMPLES)
        return data.extra["samples"]

    def grid_renderer(self, data: Data):
        inputs, targets = self._samples(data)
        return lambda trainer: sequence_strip(inputs, np.asarray(trainer.generate(inputs)), targets, self.channels)

    def extra_callbacks(self, trainer, data, options, run_dir, seed) -> list:
        throughput = Throughput(self.batch_size)
        data.extra["throughput"] = throughput
        inputs, targets = self._samples(data)

        def per_epoch(model) -> dict:
            report = per_frame_report(model.generate, data.val, self.frames_in, self.frames_out, self.channels,
                                      steps=data.val_steps)
            found = report_metrics(report, prefix="")
            values = {k[len("model_"):]: v for k, v in found.items() if k.startswith("model_")}
            values |= {k: v for k, v in found.items() if k.endswith("_mean") and k.startswith(METHODS[1:])}
            return values | {"mse_vs_copy_last": found["mse_vs_copy_last"]}
        return [throughput, GifCallback(inputs, targets, self.channels, run_dir, options.gif_every),
                ScalarLogger(per_epoch, run_dir)]

    def _report(self, generator: keras.Model, data: Data) -> dict:
        return per_frame_report(lambda x: generator(x, training=False), data.extra["scored"], self.frames_in,
                                self.frames_out, self.channels)

    def _write_report(self, generator: keras.Model, data: Data, report: dict, folder: str, tag: str) -> None:
        """The table as Markdown, a strip PNG and a GIF of the first sequences, and the per-frame
        curves as TensorBoard scalars (step = predicted frame)."""
        inputs, targets = take_samples(data.extra["scored"], SAMPLES)
        predicted = np.asarray(generator(inputs, training=False))
        strip = sequence_strip(inputs, predicted, targets, self.channels)
        write_image(os.path.join(folder, f"{tag}_strip.png"), strip)
        write_gif(os.path.join(folder, f"{tag}_sequence.gif"), sequence_animation(inputs, predicted, targets,
                                                                                  self.channels))
        writer = tf.summary.create_file_writer(os.path.join(folder, tag))
        with writer.as_default():
            tf.summary.image(f"{tag}/inputs_predicted_truth", strip[None], step=0)
            for method, found in report["rows"].items():
                for metric, values in found.items():
                    for k, v in enumerate(values):
                        tf.summary.scalar(f"{tag}_{metric}/{method}", v, step=k + 1)
        writer.close()
        with open(os.path.join(folder, f"{tag}_report.md"), "w") as f:
            f.write(f"# {self.name}: {data.description}\n\n{report['n']} sequences, MSE and SSIM per predicted "
                    f"frame\n\n{report['table']}\n")

    def final_metrics(self, trainer, data, history, options, run_dir, seed) -> dict:
        metrics = super().final_metrics(trainer, data, history, options, run_dir, seed)
        metrics["images_per_s"] = data.extra["throughput"].images_per_second
        report = self._report(trainer.inference_generator, data)
        self._write_report(trainer.inference_generator, data, report, run_dir, "test")
        return metrics | report_metrics(report) | {"test_sequences": report["n"]}

    def score(self, generator, data, options, seed) -> dict:
        report = self._report(generator, data)
        if options.logdir:
            os.makedirs(options.logdir, exist_ok=True)
            self._write_report(generator, data, report, options.logdir, "evaluate")
        return report_metrics(report, prefix="") | {"sequences": report["n"], "table": report["table"],
                                                     "rows": report["rows"]}

    def report(self, scores: dict) -> str:
        return (f"{scores['weights']} on {scores['data']}: MSE and SSIM per predicted frame, {scores['sequences']} "
                f"sequences (model MSE {scores['mse_vs_copy_last']:.3f}x copy-last's on average)\n\n{scores['table']}")
