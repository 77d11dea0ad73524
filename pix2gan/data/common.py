"""Data conventions shared by every loader.

- Images flow through ``tf.data`` as float32 in the model's value range, NHWC.
- Paired sets yield ``(input, target)`` tuples; pipelines cache decoded images, shuffle, jitter,
  batch (dropping the last partial batch when training, so the traced step is not retraced)
  and prefetch.
- Files are checked before training starts (``check_image_files``), so a corrupt, truncated or
  wrongly sized file fails at once with its name instead of deep inside ``fit()``.
- Downloads go through ``keras.utils.get_file`` into the folder asked for (:func:`download`) and
  are verified against sha256 lists.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import read_image
from ..saving import file_sha256

logger = logging.getLogger("pix2gan")
AUTOTUNE = tf.data.AUTOTUNE
CHECKSUM_DIR = os.path.join(os.path.dirname(__file__), "checksums")


def sha256_file(path: str) -> str:
    """Hex sha256 of a file (:func:`pix2gan.saving.file_sha256`)."""
    return file_sha256(path)


def verify_checksums(entries: Iterable[tuple[str, str]], root: str) -> list[str]:
    """Check files under ``root`` against ``(digest, relative path)`` pairs, in order; return each
    file's full hex sha256.

    A digest may be the leading hex digits of the sha256 (a compact list). Raises
    :class:`Pix2GanError` naming the first missing or mismatching file.
    """
    found = []
    for digest, rel in entries:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise Pix2GanError(f"file {path} is missing from the download: delete {root} and download again")
        full = sha256_file(path)
        if not full.startswith(digest):
            raise Pix2GanError(f"file {path} fails its sha256 check: delete {root} and download again")
        found.append(full)
    return found


def verify_checksum_list(list_path: str, root: str, prefix: str = "") -> int:
    """Check files under ``root`` against a ``sha256sum``-style list; return how many were checked.

    Lines name paths like ``facades/train/1.jpg``; ``prefix`` (``"facades/"``) is stripped so the
    rest is resolved below ``root`` (see :func:`verify_checksums`).
    """
    entries = []
    with open(list_path) as f:
        for line in f:
            digest, name = line.strip().split(None, 1)
            entries.append((digest, name[len(prefix):] if prefix and name.startswith(prefix) else name))
    return len(verify_checksums(entries, root))


def download(name: str, url: str, dest: str, subdir: str = "", extract: bool = False,
             file_hash: str | None = None, hash_algorithm: str = "sha256") -> str:
    """Fetch ``url`` into ``dest/subdir`` with ``keras.utils.get_file`` and return its path.

    ``get_file`` quietly falls back to a temporary cache folder when ``dest`` does not exist or
    is not writable; here ``dest`` is created first, and a download that lands anywhere else is
    refused, so the data is always where the user asked (the path is logged).
    """
    dest = os.path.abspath(dest)
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise Pix2GanError(f"download folder {dest} cannot be created ({exc.strerror}): pass a writable folder") from None
    if not os.access(dest, os.W_OK):
        raise Pix2GanError(f"download folder {dest} is not writable: pass a writable folder")
    try:
        path = keras.utils.get_file(name, url, cache_dir=dest, cache_subdir=subdir, extract=extract,
                                    file_hash=file_hash, hash_algorithm=hash_algorithm)
    except Exception as exc:  # urllib, hashing and archive errors come in many types
        raise Pix2GanError(f"could not download {url} ({type(exc).__name__}: {str(exc)[:120]}): check the network, "
                           "or download it by hand and pass --data-dir") from None
    if os.path.commonpath([os.path.abspath(path), dest]) != dest:
        raise Pix2GanError(f"the download of {url} landed in {path}, not in {dest}: check that {dest} is writable")
    logger.info("downloaded %s to %s", url, path)
    return path


def check_image_files(paths: Sequence[str], check: Callable[[str, np.ndarray], None] | None = None,
                      channels: int = 3, formats: Sequence[str] | None = None) -> None:
    """Decode every file once with :func:`pix2gan.imaging.read_image` (TensorFlow's decoders, those
    of the pipelines) and raise on the first bad one, naming it.

    ``check(path, image)`` may add shape rules (it should raise :class:`Pix2GanError`); ``formats``
    limits the accepted formats (e.g. to those a ``tf.data`` pipeline can decode).
    """
    for path in paths:
        image = read_image(path, channels=channels, formats=formats)
        if check is not None:
            check(path, image)


def require_dir(path: str | None, what: str, fix: str, argument: str | None = None) -> str:
    """Return ``path`` if it is an existing folder; else raise naming it and the fix (``argument``:
    the argument that gave ``path``, for the command line's flag)."""
    if not path:
        raise Pix2GanError(f"no {what} folder given: {fix}", argument=argument)
    if not os.path.isdir(path):
        raise Pix2GanError(f"{what} folder {path} does not exist: {fix}", argument=argument)
    return path


def augment_pair(a, b, size: Sequence[int], jitter: bool, seed=None):
    """Resize an (input, target) pair to ``size``; with ``jitter`` do the pix2pix augmentation:
    resize to 286/256 of the size, take the same random crop of both, mirror both at random.

    ``seed`` is a stateless seed (shape (2,) int64 tensor) for the jitter."""
    h, w = int(size[0]), int(size[1])
    ca = tf.shape(a)[-1]
    both = tf.concat([a, b], axis=-1)
    if jitter:
        big = (h * 286 // 256, w * 286 // 256)
        both = tf.image.resize(both, big, method="nearest")
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        both = tf.image.stateless_random_crop(both, (h, w, tf.shape(both)[-1]), seed=seeds[0])
        both = tf.image.stateless_random_flip_left_right(both, seed=seeds[1])
    else:
        both = tf.image.resize(both, (h, w), method="bilinear")
    return both[..., :ca], both[..., ca:]


def batch_pipeline(ds: tf.data.Dataset, batch_size: int, training: bool, shuffle_buffer: int = 1000,
                   seed: int | None = None, repeat: bool | None = None,
                   batch_map: Callable | None = None) -> tf.data.Dataset:
    """Shuffle (training), repeat (training unless told otherwise), batch (dropping the last partial
    batch when training), apply ``batch_map`` to each batch in parallel, and prefetch."""
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if training if repeat is None else repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=training)
    if batch_map is not None:
        ds = ds.map(batch_map, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def array_pipeline(arrays: Sequence[np.ndarray], batch_size: int, training: bool, seed: int | None = None,
                   repeat: bool | None = None, batch_map: Callable | None = None) -> tf.data.Dataset:
    """Batches of in-memory ``arrays`` (equal first axes), as tuples (one array: its batches alone).

    Training (and repeating): an endless stream in which every pass over the examples is a fresh
    permutation (stateless, from ``seed`` and the pass's number; ``seed=None`` draws one from
    NumPy's global generator) cut into ``len // batch_size`` whole batches, so each pass leaves
    out a different ``len % batch_size`` examples; each batch is gathered from the arrays in one
    step. Otherwise, or with ``repeat=False``, :func:`batch_pipeline` over the examples.
    ``batch_map`` maps each batch in parallel; the stream is prefetched.
    """
    arrays = tuple(arrays)
    n = len(arrays[0])
    if not (training and (repeat is None or repeat)):
        ds = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
        return batch_pipeline(ds, batch_size, training, shuffle_buffer=n, seed=seed, repeat=repeat,
                              batch_map=batch_map)
    if n < batch_size:
        raise Pix2GanError(f"batch_size={batch_size} exceeds the {n} examples", argument="batch_size")
    per_pass = n // batch_size
    seed = int(np.random.randint(0, 2 ** 31 - 1)) if seed is None else int(seed)
    tensors = tuple(tf.constant(a) for a in arrays)

    def one_pass(index):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64),
                                                                                     index]))
        return tf.reshape(order[:per_pass * batch_size], (per_pass, batch_size))

    def gather(rows):
        batch = tuple(tf.gather(t, rows) for t in tensors)
        batch = batch if len(batch) > 1 else batch[0]
        if batch_map is None:
            return batch
        return batch_map(*batch) if isinstance(batch, tuple) else batch_map(batch)
    # one gather per batch, not one element at a time through a shuffle buffer: the MLP GANs'
    # steps are short enough that a per-element pipeline takes a real share of the CPU
    ds = tf.data.Dataset.range(2 ** 62).map(one_pass).unbatch()
    return ds.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def scale_images(images, value_range: Sequence[float] = (-1.0, 1.0)):
    """uint8 [0, 255] -> float32 in ``value_range``."""
    lo, hi = float(value_range[0]), float(value_range[1])
    return tf.cast(images, tf.float32) / 255.0 * (hi - lo) + lo


def take_samples(ds: tf.data.Dataset, n: int) -> tuple[np.ndarray, ...]:
    """The first ``n`` samples of a *batched* dataset as NumPy arrays (fixed samples for grids)."""
    parts: list[list[np.ndarray]] = []
    count = 0
    for element in ds:
        element = element if isinstance(element, (tuple, list)) else (element,)
        batch = [np.asarray(e) for e in element]
        if not parts:
            parts = [[] for _ in batch]
        for k, e in enumerate(batch):
            parts[k].append(e)
        count += len(batch[0])
        if count >= n:
            break
    return tuple(np.concatenate(p)[:n] for p in parts)
