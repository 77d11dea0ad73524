"""Moving MNIST (Srivastava et al. 2015), generated from MNIST digits: digits bouncing inside a frame.

Each sequence is a pure function of the digit set, a seed and its index: the index seeds its own
random stream (NumPy's ``SeedSequence`` of ``(seed, split, index)``), which picks the digits, their
start positions, directions and speeds. A digit moves on a straight line at constant speed and
bounces off the frame's walls (the position is reflected into ``[0, side - 28]``), so it always
stays whole inside the frame; overlapping digits combine by their maximum. Training draws
sequences from the MNIST training digits, testing from the test digits, and the two splits use
different seed streams as well.

:func:`moving_mnist_dataset` turns sequences into ``(inputs, targets)`` batches for a frame
predictor: the first ``frames_in`` frames stacked on the channel axis, and the ``frames_out``
frames that follow them, float32 in [0, 1].
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from .common import batch_pipeline

DIGIT_SIZE = 28
SPLIT_STREAMS = {"train": 0, "test": 1}
DEFAULT_SPEED = (2.0, 5.0)  # pixels per frame; the original's fixed step is about 3.6 px on 64x64 frames


def check_canvas(size: Sequence[int], speed: Sequence[float] = DEFAULT_SPEED, num_digits: int = 2) -> tuple[int, int]:
    """``(height, width)`` of the frames, refused unless a whole digit fits and the motion settings are sound."""
    h, w = (int(v) for v in size)
    if h < DIGIT_SIZE or w < DIGIT_SIZE:
        raise Pix2GanError(f"Moving MNIST frames of {h}x{w} cannot hold a {DIGIT_SIZE}x{DIGIT_SIZE} digit: use "
                           f"frames of at least {DIGIT_SIZE}x{DIGIT_SIZE} (64x64 is the standard)", argument="height")
    lo, hi = (float(v) for v in speed)
    if not 0 <= lo <= hi:
        raise Pix2GanError(f"speed range ({lo:g}, {hi:g}) must satisfy 0 <= slowest <= fastest (pixels per frame)",
                           argument="speed")
    if num_digits < 1:
        raise Pix2GanError(f"num_digits={num_digits} must be at least 1", argument="num_digits")
    return h, w


def bounce(start: np.ndarray, velocity: np.ndarray, steps: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Positions ``start + velocity * t`` reflected into ``[0, limit]`` (a ball between two walls),
    for every ``t`` in ``steps``: shape ``(len(steps),) + start.shape``. A zero limit pins the axis at 0."""
    free = start[None] + velocity[None] * steps[:, None, None]
    span = np.where(limit > 0, 2.0 * limit, 1.0)
    folded = np.mod(free, span)
    return np.where(limit > 0, limit - np.abs(folded - limit), 0.0)


def sequence_motion(seed: int, index: int, frames: int, size: Sequence[int], num_digits: int = 2,
                    speed: Sequence[float] = DEFAULT_SPEED, split: str = "train",
                    digit_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The random choices of sequence ``index``: ``(digit indices (num_digits,), top-left corners
    (frames, num_digits, 2) as int (row, column))``, each corner in ``[0, side - 28]``."""
    if split not in SPLIT_STREAMS:
        raise Pix2GanError(f"unknown Moving MNIST split {split!r}: use 'train' or 'test'", argument="split")
    if seed < 0 or index < 0:
        raise Pix2GanError(f"seed={seed} and index={index} must be whole numbers >= 0", argument="seed")
    h, w = check_canvas(size, speed, num_digits)
    rng = np.random.default_rng((int(seed), SPLIT_STREAMS[split], int(index)))
    chosen = rng.integers(0, digit_count, num_digits)
    limit = np.array([h - DIGIT_SIZE, w - DIGIT_SIZE], np.float64)
    start = rng.uniform(0.0, 1.0, (num_digits, 2)) * limit
    angle = rng.uniform(0.0, 2.0 * np.pi, num_digits)
    pace = rng.uniform(float(speed[0]), float(speed[1]), num_digits)
    velocity = pace[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=-1)
    corners = bounce(start, velocity, np.arange(frames, dtype=np.float64), limit)
    return chosen, np.rint(corners).astype(np.int64)


def moving_mnist_sequence(digits: np.ndarray, index: int, seed: int = 0, frames: int = 20,
                          size: Sequence[int] = (64, 64), num_digits: int = 2,
                          speed: Sequence[float] = DEFAULT_SPEED, split: str = "train"
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequence ``index``: ``(frames uint8 (frames, H, W), corners (frames, num_digits, 2), digit
    indices (num_digits,))`` drawn from ``digits`` (uint8, (N, 28, 28))."""
    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or not len(digits):
        raise Pix2GanError(f"Moving MNIST needs digits of shape (N, 28, 28), got {digits.shape}: pass MNIST images",
                           argument="digits")
    h, w = check_canvas(size, speed, num_digits)
    chosen, corners = sequence_motion(seed, index, frames, (h, w), num_digits, speed, split, len(digits))
    canvas = np.zeros((frames, h, w), np.uint8)
    for d, k in enumerate(chosen):
        digit = digits[k]
        for t in range(frames):
            y, x = corners[t, d]
            window = canvas[t, y:y + DIGIT_SIZE, x:x + DIGIT_SIZE]
            np.maximum(window, digit, out=window)
    return canvas, corners, chosen


def moving_mnist_batch(digits: np.ndarray, indices: Sequence[int], seed: int = 0, frames: int = 20,
                       size: Sequence[int] = (64, 64), num_digits: int = 2,
                       speed: Sequence[float] = DEFAULT_SPEED, split: str = "train") -> np.ndarray:
    """The sequences ``indices`` as uint8 ``(len(indices), frames, H, W)``."""
    return np.stack([moving_mnist_sequence(digits, int(i), seed, frames, size, num_digits, speed, split)[0]
                     for i in indices])


def moving_mnist_dataset(digits: np.ndarray, count: int, frames_in: int = 10, frames_out: int = 10,
                         batch_size: int = 16, seed: int = 0, training: bool = True, size: Sequence[int] = (64, 64),
                         num_digits: int = 2, speed: Sequence[float] = DEFAULT_SPEED, split: str = "train",
                         repeat: bool | None = None) -> tf.data.Dataset:
    """``(inputs (B, H, W, frames_in), targets (B, H, W, frames_out))`` float32 batches in [0, 1] of
    sequences ``0 .. count - 1``: shuffled, repeated and without a partial last batch when
    ``training``, in index order otherwise. Sequences are rendered per batch in a NumPy function."""
    if count < 1 or frames_in < 1 or frames_out < 1:
        raise Pix2GanError(f"count={count}, frames_in={frames_in} and frames_out={frames_out} must be at least 1",
                           argument="count")
    if training and count < batch_size:
        raise Pix2GanError(f"batch_size={batch_size} exceeds the {count} training sequences: lower batch_size or "
                           "raise the number of sequences", argument="batch_size")
    h, w = check_canvas(size, speed, num_digits)
    frames = frames_in + frames_out
    digits = np.ascontiguousarray(digits)

    def render(indices):
        batch = moving_mnist_batch(digits, indices, seed, frames, (h, w), num_digits, speed, split)
        return np.ascontiguousarray(np.transpose(batch, (0, 2, 3, 1)))

    def to_pair(indices):
        sequences = tf.numpy_function(render, [indices], tf.uint8, stateful=False)
        sequences = tf.reshape(sequences, (-1, h, w, frames))
        sequences = tf.cast(sequences, tf.float32) / 255.0
        return sequences[..., :frames_in], sequences[..., frames_in:]

    ids = tf.data.Dataset.range(count)
    return batch_pipeline(ids, batch_size, training, shuffle_buffer=count, seed=seed, repeat=repeat,
                          batch_map=to_pair)
