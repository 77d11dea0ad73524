"""A folder of ordered frames (a radar loop, a video's frames) as sliding windows for frame prediction.

Frames are the image files directly inside a folder, in natural order of their names
(``frame_2.png`` before ``frame_10.png``). Every window of ``frames_in + frames_out`` consecutive
frames is one example: the first ``frames_in`` frames, stacked on the channel axis (frame-major),
are the input and the ``frames_out`` after them the target, float32 in [0, 1] (8-bit frames / 255,
16-bit ones / 65535).

A folder with ``train/`` and ``test/`` (or ``val/``) sub-folders gives the splits; a flat folder
is one sequence, split in time: the last ``test_fraction`` of its frames is the test part, so no
test window overlaps a training one. Frames of unequal size, and parts too short for one window,
are refused before any work with one line naming the folder and the count.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import IMAGE_EXTENSIONS, read_image
from .common import batch_pipeline

SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}


def natural_key(name: str) -> list:
    """Sort key that orders the digit runs of ``name`` by value: ``f2.png`` < ``f10.png``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name) if part]


def list_frames(folder: str) -> list[str]:
    """The image files directly inside ``folder``, in natural order of their names."""
    if not os.path.isdir(folder):
        raise Pix2GanError(f"frames folder {folder} does not exist: pass a folder of ordered frames", argument="data_dir")
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n))]
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


def holds_frames(folder: str) -> bool:
    """Whether ``folder`` holds frames itself or in a ``train/`` sub-folder."""
    return os.path.isdir(folder) and any(list_frames(f) for f in (folder, os.path.join(folder, "train"))
                                         if os.path.isdir(f))


def split_folders(root: str) -> dict[str, str] | None:
    """``{'train': ..., 'test': ...}`` where ``root`` has both sub-folders, else None (one sequence)."""
    found = {}
    for split, candidates in SPLIT_FOLDERS.items():
        for name in candidates:
            if os.path.isdir(os.path.join(root, name)):
                found[split] = os.path.join(root, name)
                break
    return found if len(found) == len(SPLIT_FOLDERS) else None


def read_frames(folder: str, channels: int | None = None, size: Sequence[int] | None = None,
                resize: bool = False, paths: Sequence[str] | None = None) -> np.ndarray:
    """The frames of ``folder`` (or ``paths`` in it) as one array ``(N, H, W, C)`` of their dtype
    (uint8 or uint16). ``channels`` (1 or 3) is required of every frame; ``size`` ``(H, W)``
    too, unless ``resize`` (bilinear) is set. Frames of unequal size are refused, naming the
    folder, how many differ and the first one."""
    paths = list_frames(folder) if paths is None else list(paths)
    if not paths:
        raise Pix2GanError(f"frames folder {folder} holds no frames (.png, .jpg, .tif, .bmp): pass a folder of "
                           "ordered frames", argument="data_dir")
    frames = []
    for path in paths:
        image = read_image(path, channels=channels)
        frames.append(image[..., None] if image.ndim == 2 else image)
    if resize and size is not None:
        frames = [resize_frame(f, size) for f in frames]
    shape = frames[0].shape
    odd = [i for i, f in enumerate(frames) if f.shape != shape or f.dtype != frames[0].dtype]
    if odd:
        first = frames[odd[0]]
        raise Pix2GanError(
            f"frames folder {folder}: {len(odd)} of {len(frames)} frames differ from the first "
            f"({os.path.basename(paths[0])}: {shape[1]}x{shape[0]}x{shape[2]} {frames[0].dtype}), e.g. "
            f"{os.path.basename(paths[odd[0]])}: {first.shape[1]}x{first.shape[0]}x{first.shape[2]} {first.dtype}: "
            "give every frame the same size, channels and bit depth (or pass resize)", argument="data_dir")
    if size is not None and tuple(shape[:2]) != (int(size[0]), int(size[1])):
        raise Pix2GanError(f"frames folder {folder}: its {len(frames)} frames are {shape[1]}x{shape[0]}, the model "
                           f"takes {int(size[1])}x{int(size[0])}: pass height={shape[0]} width={shape[1]}, or resize",
                           argument="data_dir")
    return np.stack(frames)


def resize_frame(frame: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``frame`` (H, W, C) resized (bilinear) to ``size`` (height, width), keeping its dtype."""
    target = (int(size[0]), int(size[1]))
    if frame.shape[:2] == target:
        return frame
    resized = tf.image.resize(frame.astype(np.float32), target).numpy()
    if frame.dtype.kind in "ui":
        resized = np.clip(np.rint(resized), 0, np.iinfo(frame.dtype).max)
    return resized.astype(frame.dtype)


def window_starts(count: int, frames_in: int, frames_out: int, folder: str = "frames", stride: int = 1) -> np.ndarray:
    """Start indices of the windows of ``frames_in + frames_out`` frames in a sequence of
    ``count``; refused (naming ``folder`` and ``count``) when not even one window fits."""
    need = frames_in + frames_out
    if frames_in < 1 or frames_out < 1:
        raise Pix2GanError(f"frames_in={frames_in} and frames_out={frames_out} must be at least 1",
                           argument="frames_in")
    if count < need:
        raise Pix2GanError(f"frames folder {folder} holds {count} frames, fewer than the {need} of one window "
                           f"(frames_in {frames_in} + frames_out {frames_out}): add frames or lower frames_in / "
                           "frames_out", argument="data_dir")
    return np.arange(0, count - need + 1, max(1, int(stride)))


def stack_window(frames: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frames ``start .. start + length - 1`` of ``(N, H, W, C)`` stacked frame-major on the channel
    axis: ``(H, W, length * C)``."""
    window = frames[start:start + length]
    return np.concatenate(list(window), axis=-1)


def full_scale(dtype) -> float:
    """The value of full scale of a frame dtype: 255 for 8-bit, 65535 for 16-bit, 1 for float."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def frames_dataset(frames: np.ndarray, frames_in: int, frames_out: int, batch_size: int = 16,
                   training: bool = True, seed: int | None = None, folder: str = "frames",
                   repeat: bool | None = None) -> tf.data.Dataset:
    """``(inputs (B, H, W, frames_in * C), targets (B, H, W, frames_out * C))`` float32 batches in
    [0, 1] of every window of ``frames`` ``(N, H, W, C)``: shuffled, repeated and without a partial
    last batch when ``training``, in time order otherwise. The frames are held once in memory and
    each window is gathered from them."""
    starts = window_starts(len(frames), frames_in, frames_out, folder)
    if training and len(starts) < batch_size:
        raise Pix2GanError(f"frames folder {folder} gives {len(starts)} windows of {frames_in + frames_out} frames, "
                           f"fewer than batch_size={batch_size}: add frames or lower batch_size", argument="batch_size")
    scale = full_scale(frames.dtype)
    held = tf.constant(frames)
    length = frames_in + frames_out
    h, w, c = frames.shape[1:]

    def gather(first):
        index = first[:, None] + tf.range(length, dtype=first.dtype)[None]   # (B, L)
        windows = tf.gather(held, index)                                     # (B, L, H, W, C)
        windows = tf.reshape(tf.transpose(windows, (0, 2, 3, 1, 4)), (-1, h, w, length * c))
        windows = tf.cast(windows, tf.float32) / scale
        return windows[..., :frames_in * c], windows[..., frames_in * c:]

    # the window starts are shuffled and batched, so each batch gathers its windows from the one copy
    ds = tf.data.Dataset.from_tensor_slices(starts.astype(np.int64))
    return batch_pipeline(ds, batch_size, training, shuffle_buffer=len(starts), seed=seed, repeat=repeat,
                          batch_map=gather)
