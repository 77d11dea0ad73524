"""Running a trainer with ``fit()`` and the standard callbacks; every zoo entry uses this."""
from __future__ import annotations

import os
import warnings
from typing import Sequence

import keras
import tensorflow as tf

from .callbacks import standard_callbacks
from .errors import Pix2GanError


def run_dir_for(logdir: str, run_name: str) -> str:
    """The folder of one run: TensorBoard events, sample grids and the resumable backup."""
    return os.path.join(logdir, run_name)


def check_resumable(trainer: keras.Model, run_dir: str) -> None:
    """If ``run_dir`` holds a backup, make sure it fits ``trainer`` before ``fit()`` tries to resume from it."""
    backup = os.path.join(run_dir, "backup", "latest.weights.h5")
    if not os.path.isfile(backup):
        return
    try:
        with warnings.catch_warnings():  # a mismatch warns once per layer before it raises
            warnings.simplefilter("ignore")
            trainer.load_weights(backup)
    except Exception as exc:
        raise Pix2GanError(f"run folder {run_dir} holds a backup of a different model ({type(exc).__name__}): "
                           "choose another --run-name, or delete the folder to start over") from None


def fit_gan(trainer: keras.Model, train_ds: tf.data.Dataset, *, run_dir: str, epochs: int, steps_per_epoch: int,
            val_ds: tf.data.Dataset | None = None, validation_steps: int | None = None,
            callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 1) -> keras.callbacks.History:
    """``trainer.fit`` with TensorBoard logging, BackupAndRestore and TerminateOnNaN under ``run_dir``.

    Raises ``FloatingPointError`` if training stopped on a NaN loss, so callers never save a
    diverged model.
    """
    os.makedirs(run_dir, exist_ok=True)
    check_resumable(trainer, run_dir)
    with warnings.catch_warnings():
        # our pipelines shuffle themselves; Keras warns that its own shuffle flag is ignored
        warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
        history = trainer.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=val_ds,
                              validation_steps=validation_steps,
                              callbacks=list(standard_callbacks(run_dir)) + list(callbacks), verbose=verbose)
    for values in history.history.values():
        if values and not all(map(lambda v: v == v, values)):
            raise FloatingPointError("training produced NaN losses and was stopped; nothing was saved")
    return history
