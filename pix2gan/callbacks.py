"""Keras callbacks for GAN runs: sample grids (PNG + TensorBoard) and the standard set."""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from .imaging import write_image
from .saving import BackupStore, TrainingState, all_finite, capture_state, state_variables

logger = logging.getLogger("pix2gan")

# The automatic backup interval: at least this many seconds, and long enough that writing a
# backup takes at most AUTO_BACKUP_SHARE of the training time.
AUTO_BACKUP_SECONDS = 120.0
AUTO_BACKUP_SHARE = 0.02


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


class StepBackup(keras.callbacks.Callback):
    """Count the run's global steps, stop at the first non-finite update, and write backups.

    ``state`` is where the run starts (``state.step`` finished steps). After every step the
    trainer's record of skipped non-finite updates (``nonfinite_update()``) and the logged values
    are checked: a non-finite one sets :attr:`diverged` (step, loss name, value) and stops
    ``fit()`` after that step, with nothing written. Otherwise a backup goes to ``store`` every
    ``backup_every`` steps (None: about every :data:`AUTO_BACKUP_SECONDS`, longer when a backup
    is slow) and at the run's last step. A backup due at an epoch's last step waits for the end of
    that epoch, so it holds the state after validation and the epoch's callbacks: resuming from
    it continues exactly as the uninterrupted run would. Put this callback last.

    Steps are counted from Keras's batch index, so a trainer compiled with
    ``steps_per_execution`` N (N steps per call, the callbacks once per call) is counted
    exactly; backups and the divergence check then fall at the end of a call.
    """

    def __init__(self, store: BackupStore, state: TrainingState, *, steps_per_epoch: int, total_steps: int,
                 backup_every: int | None = None, lr_scale: float = 1.0, rollbacks: int = 0):
        super().__init__()
        self.store = store
        self.step = int(state.step)
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)
        self.backup_every = backup_every
        self.lr_scale = lr_scale
        self.rollbacks = rollbacks
        self.diverged: dict | None = None
        self.saved_step = self.step
        self.backup_seconds: list[float] = []
        self._last_save = time.monotonic()
        self._pending = False
        # a resume inside an epoch carries on that epoch's running means
        self._trackers = dict(state.trackers) if self.step % self.steps_per_epoch else {}
        self._epoch_start = self.step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step
        if not self._trackers:
            return
        for metric in getattr(self.model, "metrics", []):
            values = self._trackers.get(metric.name)
            if values is not None and len(values) == len(metric.variables):
                for var, value in zip(metric.variables, values):
                    var.assign(np.asarray(value, dtype=str(var.dtype)))
        self._trackers = {}

    def _nonfinite(self, logs) -> dict | None:
        check = getattr(self.model, "nonfinite_update", None)
        found = check() if check is not None else None
        if found:
            return {"loss_name": f"{found['network']} loss", "value": found["loss"], "kind": found["kind"]}
        for name, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                return {"loss_name": name, "value": number, "kind": "loss"}
        return None

    def on_train_batch_end(self, batch, logs=None):
        if self.diverged:
            return
        self.step = self._epoch_start + batch + 1  # batch: the last step of this call, counted in the epoch
        found = self._nonfinite(logs)
        if found:
            self._diverge(found)
            return
        if self._due():
            if self.step % self.steps_per_epoch:
                self.save()
            else:
                self._pending = True

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged:
            return
        if self._pending or (self.step >= self.total_steps and self.saved_step < self.step):
            self.save()

    def _due(self) -> bool:
        if self.step >= self.total_steps:
            return True
        if self.backup_every:
            return self.step - self.saved_step >= self.backup_every
        cost = self.backup_seconds[-1] if self.backup_seconds else 0.0
        return time.monotonic() - self._last_save >= max(AUTO_BACKUP_SECONDS, cost / AUTO_BACKUP_SHARE)

    def _diverge(self, found: dict) -> None:
        epoch, batch = divmod(self.step - 1, self.steps_per_epoch)
        self.diverged = {"step": self.step, "epoch": epoch + 1, "batch": batch + 1, **found}
        self.model.stop_training = True

    def save(self) -> None:
        """Write a backup of the model at the current step (refused if a weight is not finite)."""
        self._pending = False
        started = time.monotonic()
        if not all_finite(state_variables(self.model)):
            self._diverge({"loss_name": "weights", "value": float("nan"), "kind": "weights"})
            return
        state = capture_state(self.model, self.step, self.lr_scale, self.rollbacks, self.steps_per_epoch)
        self.store.save(self.model, state)
        self.saved_step = self.step
        self._last_save = time.monotonic()
        self.backup_seconds.append(self._last_save - started)


def standard_callbacks(run_dir: str) -> list[keras.callbacks.Callback]:
    """TensorBoard scalars under ``run_dir``. (Backups and the divergence check are
    :class:`StepBackup`'s, which :func:`pix2gan.training.fit_gan` adds itself.)"""
    return [keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False, update_freq="epoch")]
