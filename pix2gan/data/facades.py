"""Facades (pix2pix format): JPEG folders, the book's .h5 layout, download, synthetic fallback.

In the pix2pix archive each file is ``photo | label map`` side by side (A | B). Direction
``BtoA`` (the pix2pix default for Facades) maps label maps to photos; ``AtoB`` the reverse.
"""
from __future__ import annotations

import os
from typing import Sequence

import h5py
import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import PIPELINE_FORMATS, list_images, read_image
from .common import (
    AUTOTUNE,
    CHECKSUM_DIR,
    augment_pair,
    check_image_files,
    download,
    require_dir,
    scale_images,
    verify_checksum_list,
)
from .synthetic import synthetic_facades

FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
DIRECTIONS = ("AtoB", "BtoA")
SPLITS = ("train", "val", "test")
DATA_FIX = "pass --data-dir pointing at the folder holding train/ val/ test/, or use --download or --synthetic"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise Pix2GanError(f"unknown direction {direction!r}: use AtoB (photo -> labels) or BtoA (labels -> photo)")
    return direction


def facades_files(data_dir: str, split: str = "train") -> list[str]:
    """The JPEG files of one split, in natural order; raises if the folder is missing or empty."""
    if split not in SPLITS:
        raise Pix2GanError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    require_dir(data_dir, "Facades data", DATA_FIX)
    folder = os.path.join(data_dir, split)
    require_dir(folder, f"Facades {split}", DATA_FIX)
    files = list_images(folder)
    if not files:
        raise Pix2GanError(f"Facades {split} folder {folder} holds no images: {DATA_FIX}")
    return files


def _check_side_by_side(path: str, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    if w != 2 * h:
        raise Pix2GanError(f"image {path} is {w}x{h}, not two square halves side by side (width = 2 x height): "
                           "use pix2pix-format files (photo | label map)")


def _split_halves(image, direction):
    half = tf.shape(image)[1] // 2
    a, b = image[:, :half], image[:, half:]
    return (b, a) if direction == "BtoA" else (a, b)


def _finish(ds: tf.data.Dataset, image_size: Sequence[int], batch_size: int, training: bool, seed,
            repeat: bool | None) -> tf.data.Dataset:
    """Shared tail of every Facades pipeline: cache uint8 pairs, jitter, scale to [-1, 1], batch."""
    ds = ds.cache()
    if training if repeat is None else repeat:
        ds = ds.repeat()
    if training:
        ds = ds.shuffle(1000, seed=seed, reshuffle_each_iteration=True)
        # A seeded stream of stateless seeds makes the jitter reproducible, even in parallel maps.
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed).batch(2)))

        def prepare(pair, rng):
            a, b = augment_pair(tf.cast(pair[0], tf.float32), tf.cast(pair[1], tf.float32), image_size,
                                jitter=True, seed=rng)
            return scale_images(a), scale_images(b)
    else:
        def prepare(a, b):
            a, b = augment_pair(tf.cast(a, tf.float32), tf.cast(b, tf.float32), image_size, jitter=False)
            return scale_images(a), scale_images(b)
    ds = ds.map(prepare, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(AUTOTUNE)


def load_facades(data_dir: str, split: str = "train", direction: str = "BtoA", image_size: int | Sequence[int] = 256,
                 batch_size: int = 1, training: bool | None = None, seed: int | None = None,
                 repeat: bool | None = None, check_files: bool = True) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``(input, target)`` batches in [-1, 1] from pix2pix-format JPEGs.

    ``training`` (default: ``split == 'train'``) turns on the pix2pix jitter (resize to 286/256,
    random crop, random mirror), shuffling, repetition and dropping the last partial batch.
    Every file is decoded once up front to fail early, naming a corrupt or wrongly sized file.
    """
    check_direction(direction)
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    training = split == "train" if training is None else training
    files = facades_files(data_dir, split)
    if check_files:
        # The check decodes with the pipeline's own decoder (TensorFlow's), so whatever passes it
        # also decodes in training; formats TensorFlow cannot read (TIFF) are refused here.
        check_image_files(files, _check_side_by_side, channels=3, formats=PIPELINE_FORMATS)

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.uint8, expand_animations=False)
        return _split_halves(image, direction)
    ds = tf.data.Dataset.from_tensor_slices(files).map(decode, num_parallel_calls=AUTOTUNE)
    return _finish(ds, size, batch_size, training, seed, repeat)


def count_facades(data_dir: str, split: str = "train") -> int:
    return len(facades_files(data_dir, split))


# --- the book's .h5 layout -----------------------------------------------------------------------
# One file with ``<split>_data_full`` (photos, A) and ``<split>_data_sketch`` (label maps, B), uint8,
# stored channels-first (N, 3, H, W) by the book's make_dataset script; channels-last is accepted.

def _h5_images(h5, key: str, path: str) -> np.ndarray:
    if key not in h5 or not isinstance(h5[key], h5py.Dataset):
        raise Pix2GanError(f"h5 file {path} has no dataset {key!r} (found {', '.join(sorted(h5.keys()))}): "
                           "write it with pix2gan.data.facades.write_facades_h5")
    dataset = h5[key]
    if dataset.ndim != 4:
        raise Pix2GanError(f"dataset {key!r} in {path} has shape {dataset.shape}, expected (N, 3, H, W) or (N, H, W, 3)")
    if dataset.dtype.kind not in "uif":
        raise Pix2GanError(f"dataset {key!r} in {path} holds {dataset.dtype} values, expected uint8 pixels: "
                           "write it with pix2gan.data.facades.write_facades_h5")
    x = dataset[()]
    if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = np.transpose(x, (0, 2, 3, 1))
    if x.shape[-1] != 3 or 0 in x.shape:
        raise Pix2GanError(f"dataset {key!r} in {path} has shape {x.shape}, expected N RGB images (N, H, W, 3)")
    if x.dtype != np.uint8:
        if not np.isfinite(x).all():
            raise Pix2GanError(f"dataset {key!r} in {path} holds NaN or infinite values: write the file again")
        x = np.clip(x * 255.0 if x.max() <= 1.0 else x, 0, 255).astype(np.uint8)
    return x


def read_facades_h5(path: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(photos, label_maps)`` of one split from the book's .h5 file, as uint8 NHWC."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"h5 file {path} does not exist: check --h5 or write it with datasets/prepare_facades_h5.py")
    try:
        with h5py.File(path, "r") as h5:
            full = _h5_images(h5, f"{split}_data_full", path)
            sketch = _h5_images(h5, f"{split}_data_sketch", path)
    except Pix2GanError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError, RuntimeError... for a damaged file
        raise Pix2GanError(f"h5 file {path} could not be read ({type(exc).__name__}: {str(exc)[:120]}): "
                           "write it again with pix2gan.data.facades.write_facades_h5") from None
    if len(full) != len(sketch) or full.shape != sketch.shape:
        raise Pix2GanError(f"h5 file {path}: {split}_data_full {full.shape} and {split}_data_sketch {sketch.shape} differ")
    return full, sketch


def write_facades_h5(data_dir: str, path: str, splits: Sequence[str] = SPLITS, channels_first: bool = True) -> str:
    """Export pix2pix-format JPEG folders to the book's .h5 layout (uint8, channels-first by default)."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as h5:
        for split in splits:
            if not os.path.isdir(os.path.join(data_dir, split)):
                continue
            images = [read_image(p, channels=3) for p in facades_files(data_dir, split)]
            for p, im in zip(facades_files(data_dir, split), images):
                _check_side_by_side(p, im)
            arr = np.stack(images)
            half = arr.shape[2] // 2
            full, sketch = arr[:, :, :half], arr[:, :, half:]
            if channels_first:
                full, sketch = full.transpose(0, 3, 1, 2), sketch.transpose(0, 3, 1, 2)
            h5.create_dataset(f"{split}_data_full", data=full, compression="gzip")
            h5.create_dataset(f"{split}_data_sketch", data=sketch, compression="gzip")
    os.replace(tmp, path)
    return path


def paired_arrays_dataset(photos: np.ndarray, labels: np.ndarray, direction: str = "BtoA",
                          image_size: int | Sequence[int] = 256, batch_size: int = 1, training: bool = True,
                          seed: int | None = None, repeat: bool | None = None) -> tf.data.Dataset:
    """The Facades pipeline over in-memory uint8 arrays (the .h5 layout and the synthetic set)."""
    check_direction(direction)
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    a, b = (labels, photos) if direction == "BtoA" else (photos, labels)
    ds = tf.data.Dataset.from_tensor_slices((a, b))
    return _finish(ds, size, batch_size, training, seed, repeat)


def load_facades_h5(path: str, split: str = "train", direction: str = "BtoA", image_size: int | Sequence[int] = 256,
                    batch_size: int = 1, training: bool | None = None, seed: int | None = None,
                    repeat: bool | None = None) -> tf.data.Dataset:
    """Like :func:`load_facades`, from the book's .h5 file."""
    check_direction(direction)
    photos, labels = read_facades_h5(path, split)
    training = split == "train" if training is None else training
    return paired_arrays_dataset(photos, labels, direction, image_size, batch_size, training, seed, repeat)


def synthetic_facades_dataset(n: int = 64, split: str = "train", direction: str = "BtoA",
                              image_size: int | Sequence[int] = 256, batch_size: int = 1,
                              training: bool | None = None, seed: int = 0, repeat: bool | None = None) -> tf.data.Dataset:
    """The built-in synthetic facade set as a pipeline; splits use disjoint seeds."""
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    offset = {"train": 0, "val": 1_000_003, "test": 2_000_003}[split]
    photos, labels = synthetic_facades(n, size=size[0], width=size[1], seed=seed + offset)
    training = split == "train" if training is None else training
    return paired_arrays_dataset(photos, labels, direction, size, batch_size, training, seed, repeat)


def download_facades(cache_dir: str = "datasets", archive_sha256: str | None = None) -> str:
    """Download and extract the official pix2pix Facades archive; return the folder with train/val/test.

    The archive is fetched with ``keras.utils.get_file`` (checked against ``archive_sha256`` when
    given) and every extracted file is verified against the sha256 list bundled with pix2gan.
    """
    path = download("facades.tar.gz", FACADES_URL, cache_dir, extract=True, file_hash=archive_sha256)
    root = path if os.path.isdir(os.path.join(path, "train")) else os.path.join(path, "facades")
    if not os.path.isdir(os.path.join(root, "train")):
        raise Pix2GanError(f"the extracted archive at {path} has no facades/train folder: delete it and download again")
    verify_checksum_list(os.path.join(CHECKSUM_DIR, "facades.sha256"), root, prefix="facades/")
    return root
