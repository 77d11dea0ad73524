"""Keras callbacks for GAN runs: sample grids (PNG + TensorBoard) and the standard set."""
from __future__ import annotations

import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from .imaging import write_image


class ImageGridCallback(keras.callbacks.Callback):
    """Each epoch, render a uint8 RGB grid with ``render(model)`` from fixed samples.

    The grid is written as ``<run_dir>/samples/epoch_NNNN.png`` and as an image summary
    ``tag`` in ``<run_dir>/samples`` so ``tensorboard --logdir logs`` shows it.
    """

    def __init__(self, render: Callable[[keras.Model], np.ndarray], run_dir: str, tag: str = "samples",
                 every: int = 1):
        super().__init__()
        self.render = render
        self.folder = os.path.join(run_dir, "samples")
        self.tag = tag
        self.every = max(1, int(every))
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        grid = self.render(self.model)
        write_image(os.path.join(self.folder, f"epoch_{epoch + 1:04d}.png"), grid)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.folder)
        with self._writer.as_default():
            tf.summary.image(self.tag, grid[None], step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ScalarLogger(keras.callbacks.Callback):
    """Log extra per-epoch numbers (e.g. FID) from ``compute(model) -> {name: value}`` to TensorBoard."""

    def __init__(self, compute: Callable[[keras.Model], dict], run_dir: str, every: int = 1, subdir: str = "validation"):
        super().__init__()
        self.compute = compute
        self.folder = os.path.join(run_dir, subdir)
        self.every = max(1, int(every))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        values = self.compute(self.model)
        writer = tf.summary.create_file_writer(self.folder)
        with writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(f"epoch_{name}", float(value), step=epoch)
        writer.close()
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in values.items()})


def standard_callbacks(run_dir: str) -> list[keras.callbacks.Callback]:
    """TensorBoard scalars under ``run_dir``, a resumable backup in ``run_dir/backup``, stop on NaN.

    The backup is kept after training, so re-running with the same run name (and more epochs)
    continues where the last run stopped rather than starting over.
    """
    return [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"), delete_checkpoint=False),
        keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False, update_freq="epoch"),
    ]
