"""Reading, writing and tiling images into grids (OpenCV for files, NumPy for arrays)."""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

from .errors import Pix2GanError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


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


def write_image(path: str, image: np.ndarray) -> str:
    """Write an RGB (or grayscale) array to ``path`` (format from the extension); makes folders."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    if not cv2.imwrite(path, image):
        raise Pix2GanError(f"could not write image {path}: check the folder is writable and the extension is an image type")
    return path


def jpeg_problem(data: bytes) -> str | None:
    """Why these JPEG bytes are broken (no start marker, or truncated), or None if they look whole."""
    if not data.startswith(b"\xff\xd8"):
        return "is not a JPEG file (no start-of-image marker)"
    if not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "is truncated (no end-of-image marker)"
    return None


def read_image(path: str, channels: int | None = None) -> np.ndarray:
    """Read an image file as an RGB(A)/grayscale array, keeping its dtype (8- or 16-bit).

    ``channels`` (1 or 3), when given, is required: other channel counts are refused.
    Raises :class:`Pix2GanError` naming the file for missing, empty, truncated or corrupt files.
    """
    if not os.path.isfile(path):
        raise Pix2GanError(f"image {path} does not exist: check the path")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise Pix2GanError(f"image {path} is empty (0 bytes): replace or remove it")
    if path.lower().endswith((".jpg", ".jpeg")):
        problem = jpeg_problem(data)
        if problem:
            raise Pix2GanError(f"image {path} {problem}: replace or remove the file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise Pix2GanError(f"image {path} could not be decoded (corrupt or unsupported format): replace or remove it")
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
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
