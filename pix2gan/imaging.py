"""Reading, writing and tiling images into grids.

Files are decoded by TensorFlow (JPEG, PNG, BMP, GIF: the decoder of the ``tf.data`` pipelines) or
OpenCV (TIFF) and written by OpenCV; grids are NumPy.
"""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np
import tensorflow as tf

from .errors import Pix2GanError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# What tf.io.decode_image reads: the formats a tf.data pipeline can decode from files.
PIPELINE_FORMATS = ("jpeg", "png", "bmp", "gif")
_MAGIC = {"jpeg": (b"\xff\xd8",), "png": (b"\x89PNG\r\n\x1a\n",), "bmp": (b"BM",), "gif": (b"GIF87a", b"GIF89a"),
          "tiff": (b"II*\x00", b"MM\x00*")}


def to_uint8(images, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """Float images in ``value_range`` -> uint8 [0, 255]; grayscale stays one channel."""
    lo, hi = value_range
    x = (np.asarray(images, dtype=np.float32) - lo) / (hi - lo)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def make_grid(columns: Sequence[np.ndarray], pad: int = 2) -> np.ndarray:
    """Tile equal-length uint8 batches side by side: row i holds ``columns[k][i]`` for each k.

    Grayscale batches are repeated to RGB so columns can mix. Returns (H, W, 3) uint8.
    """
    cols = []
    for batch in columns:
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        cols.append(batch[..., :3])
    n, h, w = cols[0].shape[:3]
    grid = np.full((n * (h + pad) + pad, len(cols) * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        for k, batch in enumerate(cols):
            y, x = pad + i * (h + pad), pad + k * (w + pad)
            grid[y:y + h, x:x + w] = batch[i]
    return grid


def tile_batch(images: np.ndarray, ncols: int, pad: int = 2) -> np.ndarray:
    """Tile one uint8 batch (N, H, W[, C]) into a grid of ``ncols`` columns; returns (H, W, 3)."""
    images = np.asarray(images)
    n = len(images)
    nrows = -(-n // ncols)
    blank = np.full((nrows * ncols - n,) + images.shape[1:], 255, images.dtype)
    rows = np.concatenate([images, blank]).reshape((nrows, ncols) + images.shape[1:])
    return make_grid([rows[:, k] for k in range(ncols)], pad=pad)


def check_output_file(path: str, what: str = "output", argument: str | None = None,
                      also: Sequence[str] = ()) -> str:
    """Refuse an output path that cannot be written before any work is done: an existing folder,
    a folder on the way that is a file, an extension OpenCV cannot write (beyond those in ``also``)."""
    if os.path.isdir(path):
        raise Pix2GanError(f"{what} {path} is a folder: pass a file name ending in .png", argument=argument)
    folder = os.path.dirname(os.path.abspath(path))
    parent = folder
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise Pix2GanError(f"{what} {path} cannot be written: {parent} is a file, not a folder", argument=argument)
    if not path.lower().endswith(tuple(also)) and not cv2.haveImageWriter(path):
        raise Pix2GanError(f"{what} {path} has no image extension OpenCV can write: use .png, .jpg or .tif",
                           argument=argument)
    return path


def check_output_dir(path: str, what: str = "output folder", argument: str | None = None) -> str:
    """Refuse an output folder that exists as a file, or lies below a file, before any work is done."""
    parent = os.path.abspath(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        where = "is a file" if parent == os.path.abspath(path) else f"lies below the file {parent}"
        raise Pix2GanError(f"{what} {path} {where}: pass a folder", argument=argument)
    return path


def write_image(path: str, image: np.ndarray) -> str:
    """Write an RGB (or grayscale) array to ``path`` (format from the extension); makes folders."""
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    try:
        written = cv2.imwrite(path, image)
    except cv2.error as exc:  # e.g. a dtype the format cannot hold
        raise Pix2GanError(f"could not write image {path} ({str(exc).strip().splitlines()[-1][:120]}): "
                           "use .png or .tif for 16-bit or float images") from None
    if not written:
        raise Pix2GanError(f"could not write image {path}: check the folder is writable and the extension is an image type")
    return path


def image_format(data: bytes) -> str | None:
    """The image format of ``data`` from its magic bytes ('jpeg', 'png', 'bmp', 'gif', 'tiff'), or None."""
    for fmt, magics in _MAGIC.items():
        if data.startswith(magics):
            return fmt
    return None


def _problem(path: str, data: bytes, fmt: str | None) -> str:
    """Why ``data`` did not decode, in words, for the error message."""
    if fmt is None:
        if path.lower().endswith((".jpg", ".jpeg")):
            return "is not a JPEG file (no start-of-image marker)"
        return "is not an image file pix2gan reads (JPEG, PNG, BMP, GIF or TIFF)"
    if fmt == "jpeg" and b"\xff\xd9" not in data[2:]:
        return "is truncated (no end-of-image marker)"
    if fmt == "png" and b"IEND" not in data[-16:]:
        return "is truncated (no IEND chunk)"
    return f"could not be decoded (a corrupt {fmt.upper()} file)"


def _decode_tensorflow(data: bytes, fmt: str) -> np.ndarray:
    if fmt == "png" and len(data) > 24 and data[24] == 16:  # bit depth in IHDR: keep 16-bit PNGs 16-bit
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False).numpy()


def decode_image(data: bytes, path: str = "image", formats: Sequence[str] | None = None) -> np.ndarray:
    """Decode image bytes into an RGB(A) or grayscale (2-D) array, keeping 8/16-bit/float depth.

    JPEG, PNG, BMP and GIF go through TensorFlow's decoders, the ones the ``tf.data`` pipelines use
    (see :data:`PIPELINE_FORMATS`), so a file that passes the upfront check also decodes in training;
    TIFF (16-bit and float scenes), which TensorFlow cannot read, goes through OpenCV. ``formats``
    limits the accepted formats. Raises :class:`Pix2GanError` naming ``path``.
    """
    if len(data) == 0:
        raise Pix2GanError(f"image {path} is empty (0 bytes): replace or remove it")
    fmt = image_format(data)
    if fmt is not None and formats is not None and fmt not in formats:
        raise Pix2GanError(f"image {path} is a {fmt.upper()} file, but this data set is read as "
                           f"{', '.join(f.upper() for f in formats)}: convert it (e.g. to PNG)")
    try:
        if fmt in PIPELINE_FORMATS:
            image = _decode_tensorflow(data, fmt)
        elif fmt == "tiff":
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        else:
            image = None
    except (tf.errors.OpError, cv2.error):
        image = None
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        raise Pix2GanError(f"image {path} {_problem(path, data, fmt)}: replace or remove the file")
    if fmt == "tiff" and image.ndim == 3 and image.shape[-1] in (3, 4):  # OpenCV gives BGR(A)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[-1] == 3 else cv2.COLOR_BGRA2RGBA)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def read_image(path: str, channels: int | None = None, formats: Sequence[str] | None = None) -> np.ndarray:
    """Read an image file as an RGB(A)/grayscale array, keeping its dtype (8- or 16-bit, float TIFF).

    ``channels`` (1 or 3), when given, is required: other channel counts are refused; ``formats``
    limits the formats (see :func:`decode_image`). Raises :class:`Pix2GanError` naming the file for
    missing, empty, truncated, corrupt or unsupported files.
    """
    if not os.path.isfile(path):
        raise Pix2GanError(f"image {path} does not exist: check the path")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise Pix2GanError(f"image {path} could not be read ({exc.strerror}): check its permissions") from None
    image = decode_image(data, path, formats)
    if channels is not None:
        found = 1 if image.ndim == 2 else image.shape[-1]
        if found != channels:
            raise Pix2GanError(f"image {path} has {found} channel(s), expected {channels}: convert it to "
                               f"{'RGB' if channels == 3 else 'grayscale'}")
    return image


def list_images(folder: str) -> list[str]:
    """Image files directly inside ``folder``, in natural order (2.jpg before 10.jpg)."""
    if not os.path.isdir(folder):
        raise Pix2GanError(f"folder {folder} does not exist: check the path")
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]

    def natural(name):
        stem = os.path.splitext(name)[0]
        return (0, int(stem), name) if stem.isdigit() else (1, 0, name)
    return [os.path.join(folder, n) for n in sorted(names, key=natural)]
