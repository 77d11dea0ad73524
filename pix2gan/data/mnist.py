"""MNIST: the four official idx ``.gz`` files, Keras's ``mnist.npz``, an .h5 export, tf.data pipelines.

Sources (:func:`resolve_mnist`): an ``.h5`` file written by :func:`write_mnist_h5`, ``mnist.npz``,
or a folder holding the idx files (``.gz`` or uncompressed) or ``mnist.npz``; a download of
``mnist.npz`` through ``keras.utils.get_file`` is checked against Keras's sha256. Which source
a zoo entry uses (``datasets/mnist`` when none is given) is decided by the recipe.

Every reader validates what it reads and raises :class:`Pix2GanError` naming the file, the bad
value and the fix: truncated or corrupt gzip streams, wrong idx magic numbers, headers that
disagree with the file size, image/label count mismatches, labels outside 0-9.

Pipelines yield ``(images, labels)``: float32 ``(batch, 28, 28, 1)`` in ``value_range``
(``(-1, 1)`` for tanh generators, ``(0, 1)`` for sigmoid ones) and int32 ``(batch,)`` labels.
"""
from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from typing import Sequence

import h5py
import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from .common import CHECKSUM_DIR, array_pipeline, download, verify_checksum_list
from .synthetic import synthetic_digits

logger = logging.getLogger("pix2gan")

SPLITS = ("train", "test")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NPZ_NAME = "mnist.npz"
NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# The sha256 keras.datasets.mnist.load_data checks (keras/src/datasets/mnist.py).
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DEFAULT_DIR = os.path.join("datasets", "mnist")
# The source name of the built-in synthetic digits (used when no MNIST is found): split -> (count, seed).
SYNTHETIC = "synthetic"
SYNTHETIC_SIZES = {"train": (20000, 0), "test": (4000, 1)}
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
VALUE_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
DATA_FIX = ("pass --data-dir with the four idx .gz files (or mnist.npz), --h5 FILE, "
            "or --download when online")

# idx type codes -> numpy big-endian dtypes (http://yann.lecun.com/exdb/mnist/)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: str) -> bytes:
    """The (decompressed) bytes of ``path``; gzip is detected by its magic, not its name."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"MNIST file {path} does not exist: {DATA_FIX}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise Pix2GanError(f"MNIST file {path} is a truncated or corrupt gzip stream ({exc}): "
                           "delete it and copy or download it again") from None


def read_idx(path: str) -> np.ndarray:
    """Parse one idx file (gzipped or not) into an array, checking magic number, header and size."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise Pix2GanError(f"MNIST file {path} is {len(data)} bytes, too short for an idx header: "
                           "delete it and copy or download it again")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    magic = struct.unpack(">I", data[:4])[0]
    if zero != 0 or dtype_code not in _IDX_TYPES or not 1 <= ndim <= 4:
        raise Pix2GanError(f"MNIST file {path} has magic number {magic} (0x{magic:08x}), not an idx file "
                           "(images 2051, labels 2049): check that it is one of the four MNIST idx files")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise Pix2GanError(f"MNIST file {path} is truncated inside its header: delete it and copy it again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise Pix2GanError(f"MNIST file {path} is {what}: header {dims} needs {expected} bytes, found {len(data)}; "
                           "delete it and copy or download it again")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def check_mnist_arrays(images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a split: uint8 (N, 28, 28) images, N labels in 0-9. Returns uint8 arrays."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise Pix2GanError(f"{where}: images have shape {images.shape}, expected (N, 28, 28): "
                           "use the MNIST image file, not the label file")
    if labels.ndim != 1:
        raise Pix2GanError(f"{where}: labels have shape {labels.shape}, expected (N,): use the MNIST label file")
    if len(images) != len(labels):
        raise Pix2GanError(f"{where}: {len(images)} images but {len(labels)} labels: "
                           "the image and label files come from different splits or one is damaged")
    if images.dtype != np.uint8:
        if images.size and (images.min() < 0 or images.max() > 255):
            raise Pix2GanError(f"{where}: pixel values span {images.min()}..{images.max()}, expected 0..255")
        images = images.astype(np.uint8)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)]
        raise Pix2GanError(f"{where}: label {int(bad[0])} is outside 0-9 ({len(bad)} such labels): "
                           "the label file is damaged; copy or download it again")
    return images, labels.astype(np.uint8)


def _find(data_dir: str, stem: str) -> str:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    return os.path.join(data_dir, stem + ".gz")


def idx_paths(data_dir: str, split: str) -> tuple[str, str]:
    """The (images, labels) idx files of ``split`` in ``data_dir`` (``.gz`` or uncompressed)."""
    if split not in SPLITS:
        raise Pix2GanError(f"unknown MNIST split {split!r}: use 'train' or 'test'")
    return tuple(_find(data_dir, stem) for stem in IDX_FILES[split])


def has_idx_files(data_dir: str) -> bool:
    """True when ``data_dir`` holds all four idx files."""
    return all(os.path.isfile(p) for s in SPLITS for p in idx_paths(data_dir, s))


def read_mnist_idx(data_dir: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,) uint8)`` of one split from the idx files in ``data_dir``."""
    image_path, label_path = idx_paths(data_dir, split)
    images, labels = read_idx(image_path), read_idx(label_path)
    return check_mnist_arrays(images, labels, f"MNIST {split} files {image_path} / {label_path}")


def verify_mnist_idx(data_dir: str) -> int:
    """Check the four idx ``.gz`` files against the sha256 list bundled with pix2gan (the shared copy)."""
    return verify_checksum_list(os.path.join(CHECKSUM_DIR, "mnist.sha256"), data_dir, prefix="mnist/")


def read_mnist_npz(path: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """One split of Keras's ``mnist.npz`` (keys ``x_train y_train x_test y_test``)."""
    if split not in SPLITS:
        raise Pix2GanError(f"unknown MNIST split {split!r}: use 'train' or 'test'")
    if not os.path.isfile(path):
        raise Pix2GanError(f"MNIST file {path} does not exist: {DATA_FIX}")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if not {f"x_{split}", f"y_{split}"} <= keys:
                raise Pix2GanError(f"{path} has arrays {sorted(keys)}, not x_{split}/y_{split}: "
                                   "use Keras's mnist.npz")
            images, labels = f[f"x_{split}"], f[f"y_{split}"]
    except Pix2GanError:
        raise
    except Exception as exc:  # zipfile / numpy raise many types for a damaged file
        raise Pix2GanError(f"{path} is not a readable .npz ({type(exc).__name__}: {exc}): "
                           "delete it and download it again (--download)") from None
    return check_mnist_arrays(images, labels, f"MNIST {split} in {path}")


def download_mnist_npz(cache_dir: str = "datasets") -> str:
    """Download Keras's ``mnist.npz`` with ``keras.utils.get_file``, checked against its sha256."""
    return download(NPZ_NAME, NPZ_URL, cache_dir, subdir="mnist", file_hash=NPZ_SHA256)


def write_mnist_h5(path: str, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Write ``{split: (images, labels)}`` to ``path`` as ``x_<split>`` / ``y_<split>`` uint8 datasets."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as h5:
        for split, (images, labels) in splits.items():
            images, labels = check_mnist_arrays(images, labels, f"MNIST {split} to write to {path}")
            h5.create_dataset(f"x_{split}", data=images, compression="gzip")
            h5.create_dataset(f"y_{split}", data=labels)
    os.replace(tmp, path)
    return path


def read_mnist_h5(path: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """One split of an .h5 written by :func:`write_mnist_h5`."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"h5 file {path} does not exist: check --h5 or write it with pix2gan.data.mnist.write_mnist_h5")
    try:
        with h5py.File(path, "r") as h5:
            if f"x_{split}" not in h5 or f"y_{split}" not in h5:
                raise Pix2GanError(f"h5 file {path} has no x_{split}/y_{split} (found {', '.join(sorted(h5.keys()))}): "
                                   "write it with pix2gan.data.mnist.write_mnist_h5")
            images, labels = np.asarray(h5[f"x_{split}"]), np.asarray(h5[f"y_{split}"])
    except Pix2GanError:
        raise
    except Exception as exc:
        raise Pix2GanError(f"h5 file {path} could not be read ({type(exc).__name__}: {str(exc)[:120]}): write it "
                           "again with pix2gan.data.mnist.write_mnist_h5") from None
    return check_mnist_arrays(images, labels, f"MNIST {split} in {path}")


def resolve_mnist(path: str) -> str:
    """The MNIST source at ``path``: an .h5 or .npz file as it is, a folder with the idx files, or
    the ``mnist.npz`` inside a folder."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise Pix2GanError(f"MNIST folder {path} does not exist: {DATA_FIX}")
    if has_idx_files(path):
        return path
    if os.path.isfile(os.path.join(path, NPZ_NAME)):
        return os.path.join(path, NPZ_NAME)
    raise Pix2GanError(f"MNIST folder {path} holds neither the four idx files "
                       f"({', '.join(s + '.gz' for v in IDX_FILES.values() for s in v)}) nor {NPZ_NAME}: {DATA_FIX}")


def read_mnist(source: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` uint8 of ``split`` from a source returned by :func:`resolve_mnist`."""
    if source == SYNTHETIC:
        n, seed = SYNTHETIC_SIZES[split]
        return synthetic_digits(n, seed=seed)
    if os.path.isdir(source):
        return read_mnist_idx(source, split)
    if source.endswith((".h5", ".hdf5")):
        return read_mnist_h5(source, split)
    return read_mnist_npz(source, split)


def scale_mnist(images, value_range: Sequence[float] = (-1.0, 1.0)):
    """uint8 (..., 28, 28) -> float32 (..., 28, 28, 1) in ``value_range`` (TensorFlow or NumPy input)."""
    lo, hi = float(value_range[0]), float(value_range[1])
    x = tf.cast(images, tf.float32) / 255.0 * (hi - lo) + lo
    return x[..., None] if x.shape[-1] != 1 else x


def mnist_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int = 100, training: bool = True,
                  value_range: Sequence[float] = (-1.0, 1.0), seed: int | None = None,
                  repeat: bool | None = None) -> tf.data.Dataset:
    """``(images, labels)`` batches from uint8 arrays: shuffled, repeated and in whole batches when
    ``training`` (so the traced step is not retraced; see :func:`~pix2gan.data.common.array_pipeline`);
    scaled per batch."""
    images, labels = check_mnist_arrays(images, labels, "MNIST arrays")
    return array_pipeline((images, labels.astype(np.int32)), batch_size, training, seed=seed, repeat=repeat,
                          batch_map=lambda x, y: (scale_mnist(x, value_range), y))


def load_mnist(source: str, split: str = "train", batch_size: int = 100, training: bool | None = None,
               value_range: Sequence[float] = (-1.0, 1.0), seed: int | None = None, limit: int | None = None,
               repeat: bool | None = None) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of one MNIST split; ``limit`` keeps the first ``limit`` examples."""
    images, labels = read_mnist(source, split)
    if limit:
        images, labels = images[:limit], labels[:limit]
    training = split == "train" if training is None else training
    return mnist_dataset(images, labels, batch_size, training, value_range, seed, repeat)
