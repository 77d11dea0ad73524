"""Unpaired two-domain images for CycleGAN: the ``trainA/ trainB/ testA/ testB/`` folder layout
(junyanz/pytorch-CycleGAN-and-pix2pix) or two in-memory image arrays.

Files are PNG, JPEG, BMP or GIF (what ``tf.io.decode_image`` reads in a ``tf.data`` pipeline), any
size; 8-bit images are scaled by 1/255 and 16-bit PNGs by 1/65535, so both land in [0, 1] before
the value range is applied. :func:`check_domain` decodes every file once up front and refuses the
first unreadable, truncated, TIFF or wrong-channel file by name.

Training follows the reference CycleGAN: each image is resized (bicubic) to ``load_scale`` times
the image size (1.12 * 256 -> 286), cropped at random to the image size and mirrored at random.
The two domains are shuffled independently (each from its own seed derived from ``seed``),
reshuffled every epoch, repeated forever and zipped into ``(a_batch, b_batch)`` elements. Every
random choice comes from stateless TensorFlow ops keyed by the seed and the element's position,
so two pipelines built with the same seed give the same batches.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import PIPELINE_FORMATS, list_images
from .common import AUTOTUNE, check_image_files

DOMAINS = ("A", "B")
LOAD_SCALE = 1.12  # 256 -> 286, the reference CycleGAN's load size for 256 crops
_ARG = "data_dir"
_LAYOUT_TEXT = "trainA/ trainB/ testA/ testB/"
_PIPELINE_TEXT = ", ".join(f.upper() for f in PIPELINE_FORMATS)
_UNDECODABLE = (".tif", ".tiff")  # listed by imaging.list_images, but tf.data cannot decode them
_ARRAY_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _error(message: str, argument: str = _ARG) -> Pix2GanError:
    return Pix2GanError(message, argument=argument)


def holds_unpaired(root: str | None) -> bool:
    """Whether ``root`` holds the CycleGAN layout, i.e. both ``root/trainA`` and ``root/trainB`` are folders."""
    if not root or not os.path.isdir(root):
        return False
    return all(os.path.isdir(os.path.join(root, "train" + d)) for d in DOMAINS)


def find_unpaired_folders(root: str, split: str = "train") -> tuple[str, str]:
    """``(root/<split>A, root/<split>B)``; refuses a missing root or a missing domain folder, naming it."""
    if not split or not isinstance(split, str):
        raise _error(f"split {split!r} is not a split name: pass train or test (the folders {_LAYOUT_TEXT})",
                     argument="split")
    if not root or not os.path.isdir(root):
        raise _error(f"data folder {root} does not exist: pass a folder holding {_LAYOUT_TEXT} (the CycleGAN layout)")
    folders = tuple(os.path.join(root, split + d) for d in DOMAINS)
    for folder, domain in zip(folders, DOMAINS):
        if not os.path.isdir(folder):
            raise _error(f"folder {folder} does not exist: an unpaired data folder holds {_LAYOUT_TEXT}; "
                         f"put the domain {domain} images of the {split} split in {split}{domain}/")
    return folders


def list_domain(folder: str, domain: str) -> list[str]:
    """The image files of one domain folder in natural order (2.png before 10.png); refuses a missing
    or empty folder and TIFF files (which the ``tf.data`` pipeline cannot decode), naming them."""
    if not os.path.isdir(folder):
        raise _error(f"domain {domain} folder {folder} does not exist: check --data-dir")
    paths = list_images(folder)
    if not paths:
        raise _error(f"domain {domain} folder {folder} holds no images ({_PIPELINE_TEXT}): "
                     f"put the domain {domain} images there")
    for path in paths:
        if path.lower().endswith(_UNDECODABLE):
            raise _error(f"image {path} is a TIFF file, which the unpaired loader cannot decode "
                         f"(it reads {_PIPELINE_TEXT}): convert it to PNG")
    return paths


def check_domain(paths: Sequence[str], channels: int = 3) -> None:
    """Decode every file once with the pipeline's decoders and raise on the first one that is
    unreadable, truncated, in a format the pipeline cannot decode or not ``channels``-channel,
    naming it. 8- and 16-bit images both pass (16-bit PNGs are scaled by 1/65535 when loaded)."""
    try:
        check_image_files(paths, channels=channels, formats=PIPELINE_FORMATS)
    except Pix2GanError as exc:  # same message, blamed on the data folder for the command line
        raise _error(str(exc)) from None


def load_size(size: int, load_scale: float) -> int:
    """Side the image is resized to before the random crop: ``floor(load_scale * size)``, at least
    ``size`` (286 for 256 at the default 1.12, as the reference CycleGAN)."""
    if not float(load_scale) >= 1.0:
        raise Pix2GanError(f"load_scale {load_scale} must be at least 1 (the crop is taken from the image "
                           "resized to load_scale times its size)", argument="load_scale")
    return max(int(size), int(float(load_scale) * int(size) + 1e-6))


def jitter_image(image, size: int, load_scale: float, seed):
    """Training augmentation of one float (H, W, C) image in any range: bicubic resize to
    :func:`load_size` square, a random ``size`` x ``size`` crop and a random left-right mirror,
    both drawn by stateless ops from ``seed`` (shape (2,) int tensor). Values are not clipped
    (bicubic may overshoot slightly)."""
    big = load_size(size, load_scale)
    image = tf.image.resize(image, (big, big), method="bicubic")
    channels = image.shape[-1] if image.shape[-1] is not None else tf.shape(image)[-1]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    image = tf.image.stateless_random_crop(image, (int(size), int(size), channels), seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def resize_image(image, size: int):
    """Evaluation counterpart of :func:`jitter_image`: a plain bicubic resize to ``size`` x ``size``."""
    return tf.image.resize(image, (int(size), int(size)), method="bicubic")


def _positive(value, name: str) -> int:
    if int(value) < 1:
        raise Pix2GanError(f"{name} {value} must be at least 1", argument=name)
    return int(value)


def _source(source, channels: int):
    """``(items, load)`` for a list of files or an image array: ``items`` is a dataset of file paths
    or indices and ``load(item)`` gives that image as float32 (H, W, channels) in [0, 1]."""
    if isinstance(source, np.ndarray):
        images = source[..., None] if source.ndim == 3 and channels == 1 else source
        if images.ndim != 4 or images.shape[-1] != channels or images.dtype not in _ARRAY_SCALE or not len(images):
            raise _error(f"image array of shape {source.shape} and dtype {source.dtype} cannot be loaded: "
                         f"pass a non-empty (N, H, W, {channels}) uint8 or uint16 array")
        scale = _ARRAY_SCALE[images.dtype]
        held = tf.convert_to_tensor(images)

        def load_array(index):
            return tf.cast(tf.gather(held, index), tf.float32) / scale
        return tf.data.Dataset.range(len(images)), load_array
    if isinstance(source, (str, bytes)) or not isinstance(source, Sequence):
        raise _error(f"image source of type {type(source).__name__} cannot be loaded: pass a list of image files "
                     "(see list_domain) or a uint8 array (N, H, W, C)")
    if not source:
        raise _error("the list of image files is empty: check --data-dir")

    def load_file(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, dtype=tf.float32, expand_animations=False)
        image.set_shape((None, None, channels))
        return image
    return tf.data.Dataset.from_tensor_slices([str(p) for p in source]), load_file


def domain_dataset(source, image_size: int, seed: int, training: bool, load_scale: float = LOAD_SCALE,
                   value_range: Sequence[float] = (-1.0, 1.0), channels: int = 3) -> tf.data.Dataset:
    """Single unbatched float32 (image_size, image_size, channels) images in ``value_range`` from
    a list of image files (any size; decoded by ``tf.io.decode_image``) or an (N, H, W, C) uint8
    or uint16 array.

    Training: the order is shuffled from ``seed`` over the whole set and reshuffled every epoch,
    the set repeats forever, and each image gets :func:`jitter_image` with the stateless seed
    ``(seed, position in the stream)``. Otherwise: every image once, in order, resized by
    :func:`resize_image`. Values are clipped to ``value_range``.
    """
    size = _positive(image_size, "image_size")
    load_size(size, load_scale)  # refuse a bad load_scale now, not inside the pipeline
    items, load = _source(source, int(channels))
    count = int(items.cardinality())
    lo, hi = float(value_range[0]), float(value_range[1])

    def finish(image):
        image = tf.clip_by_value(image, 0.0, 1.0) * (hi - lo) + lo
        return tf.ensure_shape(image, (size, size, int(channels)))

    if not training:
        return items.map(lambda item: finish(resize_image(load(item), size)),
                         num_parallel_calls=AUTOTUNE, deterministic=True)
    seed = int(seed)
    items = items.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    items = tf.data.Dataset.zip((items, tf.data.Dataset.counter()))

    def jitter(item, position):
        element_seed = tf.stack([tf.constant(seed, tf.int64), position])
        return finish(jitter_image(load(item), size, load_scale, element_seed))
    return items.map(jitter, num_parallel_calls=AUTOTUNE, deterministic=True)


def domain_seeds(seed: int) -> tuple[int, int]:
    """Two unrelated seeds for domains A and B, hashed from ``(seed, 0)`` and ``(seed, 1)``."""
    return tuple(int(np.random.SeedSequence([int(seed) % 2 ** 64, k]).generate_state(1)[0]) for k in range(2))


def unpaired_size(source_a, source_b) -> int:
    """Images in an epoch: the larger of the two domains (as the reference CycleGAN counts it)."""
    return max(len(source_a), len(source_b))


def unpaired_dataset(source_a, source_b, image_size: int, batch_size: int, seed: int,
                     load_scale: float = LOAD_SCALE, value_range: Sequence[float] = (-1.0, 1.0),
                     channels: int = 3) -> tf.data.Dataset:
    """Endless training batches ``(a_batch, b_batch)`` of float32 (batch_size, image_size,
    image_size, channels) images in ``value_range``: each domain is a training
    :func:`domain_dataset` with its own seed from :func:`domain_seeds`, so the A and B orders are
    independent; full batches only, prefetched."""
    batch_size = _positive(batch_size, "batch_size")
    seed_a, seed_b = domain_seeds(seed)
    ds_a = domain_dataset(source_a, image_size, seed_a, True, load_scale, value_range, channels)
    ds_b = domain_dataset(source_b, image_size, seed_b, True, load_scale, value_range, channels)
    return tf.data.Dataset.zip((ds_a, ds_b)).batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def load_unpaired(root: str, split: str, image_size: int, batch_size: int, seed: int, training: bool,
                  check: bool = True, load_scale: float = LOAD_SCALE, value_range: Sequence[float] = (-1.0, 1.0),
                  channels: int = 3):
    """The ``split`` of a CycleGAN data folder: find ``<split>A/`` and ``<split>B/``, list them,
    decode-check every file (when ``check``), then return

    - training: :func:`unpaired_dataset` (endless ``(a_batch, b_batch)``);
    - otherwise: ``{"A": batches of A, "B": batches of B, "size_a": n, "size_b": m,
      "files_a": [...], "files_b": [...]}``, each domain every image once, in natural file order,
      plainly resized, the last batch possibly partial.
    """
    folder_a, folder_b = find_unpaired_folders(root, split)
    files_a, files_b = list_domain(folder_a, "A"), list_domain(folder_b, "B")
    if check:
        check_domain(files_a, channels)
        check_domain(files_b, channels)
    if training:
        return unpaired_dataset(files_a, files_b, image_size, batch_size, seed, load_scale, value_range, channels)
    batch_size = _positive(batch_size, "batch_size")

    def batches(files):
        ds = domain_dataset(files, image_size, seed, False, load_scale, value_range, channels)
        return ds.batch(batch_size).prefetch(AUTOTUNE)
    return {"A": batches(files_a), "B": batches(files_b), "size_a": len(files_a), "size_b": len(files_b),
            "files_a": files_a, "files_b": files_b}
