"""Run an image-to-image generator over scenes of any size: overlapping tiles, seamless blending.

The scene is cut into ``tile`` x ``tile`` tiles overlapping by ``overlap`` pixels (the last
tile of a row or column is moved back to end at the border). Each tile's output is weighted by
a separable window that is 0 for ``margin = overlap // 4`` pixels at every edge shared with a
neighbour (where a convolutional net sees zero padding instead of the real context), then
ramps linearly to 1 across the rest of the overlap; edges on the scene border keep weight 1.
Where two tiles overlap the two ramps sum to 1, so the blend is a cross-fade: no seams, and a
network whose receptive field fits in the margin gives exactly its whole-image output.

Memory stays bounded: tiles are processed one row of tiles at a time into a ``tile``-row float
accumulator; finished rows are converted to the output dtype and written at once, straight
into a memory-mapped ``.tif`` / ``.npy`` output for scenes larger than memory. The input is
held once in its own dtype (a 10980x10980 16-bit RGB Sentinel-2 scene: 723 MB); ``.npy`` input
is memory-mapped.

Images: 8-bit (/255), 16-bit (/65535, or ``max_value``, e.g. 10000 for Sentinel-2 L2A
reflectance) or float in [0, 1] (NaN refused); 3 channels (grayscale and 4-band are refused);
the output keeps the input's size and dtype.
"""
from __future__ import annotations

import os
import struct
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from .errors import Pix2GanError
from .imaging import check_output_file, read_image, write_image
from .modelcheck import require_image_generator
from .predict import traced_inference
from .saving import load_model

ANY_SIZE_TILE = 512  # default tile of a fully convolutional generator
SIDE_MULTIPLE = 16  # sides a fully convolutional generator takes (the reference U-Net pools 4 times)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``length`` with at least ``overlap`` pixels of overlap."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return starts


def edge_weights(start: int, tile: int, length: int, overlap: int) -> np.ndarray:
    """1-D blending weights of the tile at ``start`` (see the module doc)."""
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 1)
    d = np.arange(tile, dtype=np.float32)
    w = np.ones(tile, np.float32)
    if start > 0:
        w = np.minimum(w, np.clip((d - margin + 0.5) / ramp, 0.0, 1.0))
    if start + tile < length:
        w = np.minimum(w, np.clip((tile - 1 - d - margin + 0.5) / ramp, 0.0, 1.0))
    return w


def value_scale(image: np.ndarray, name: str, max_value: float | None = None) -> float:
    """The number that maps ``image`` to [0, 1]; refuses NaN/inf float input (naming ``name``)."""
    if max_value is not None:
        return float(max_value)
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(image.dtype, np.floating):
        bad = next((r for r in range(0, image.shape[0], 1024) if not np.isfinite(image[r:r + 1024]).all()), None)
        if bad is not None:
            raise Pix2GanError(f"image {name} holds NaN or infinite values (near row {bad}): fix or mask them first")
        return 1.0
    raise Pix2GanError(f"image {name} has dtype {image.dtype}: use 8-bit, 16-bit or float images")


def check_scene(image: np.ndarray, name: str, channels: int = 3) -> None:
    """Refuse arrays that are not images, zero-size, grayscale or wrongly banded scenes, naming ``name``."""
    if image.ndim not in (2, 3):
        raise Pix2GanError(f"image {name} has shape {image.shape}, not an image (H, W, bands): pass one scene "
                           "as an (H, W, 3) array")
    if image.size == 0 or min(image.shape[:2]) == 0:
        raise Pix2GanError(f"image {name} is empty ({'x'.join(map(str, image.shape))}): pass a non-empty image")
    found = 1 if image.ndim == 2 else image.shape[-1]
    if found != channels:
        raise Pix2GanError(f"image {name} has {found} band(s) but the model takes {channels}: "
                           f"convert it to {channels}-band RGB first")


def _from_unit(values: np.ndarray, dtype: np.dtype, scale: float) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        return np.clip(np.rint(values * scale), 0, np.iinfo(dtype).max).astype(dtype)
    return (values * scale).astype(dtype)


def tiled_apply(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], out: np.ndarray, *, tile: int,
                overlap: int, batch_size: int = 8, scale: float = 1.0, verbose: bool = False) -> np.ndarray:
    """Fill ``out`` (same shape and dtype as ``image``) with ``predict`` applied tile by tile.

    ``predict`` maps a float32 batch (N, tile, tile, C) in [0, 1] to outputs of the same shape.
    """
    h, w, c = image.shape
    if overlap < 0 or overlap >= tile:
        raise Pix2GanError(f"overlap {overlap} must be from 0 to tile - 1 = {tile - 1}")
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    col_w = [edge_weights(x, tw, w, overlap) for x in xs]
    acc = np.zeros((th, w, c), np.float32)
    weight = np.zeros((th, w, 1), np.float32)
    bar = keras.utils.Progbar(len(ys), unit_name="tile row") if verbose else None
    for k, y in enumerate(ys):
        row_w = edge_weights(y, th, h, overlap)
        tiles = np.stack([image[y:y + th, x:x + tw] for x in xs]).astype(np.float32) / scale
        outputs = np.concatenate([predict(tiles[i:i + batch_size]) for i in range(0, len(tiles), batch_size)])
        for x, cw, o in zip(xs, col_w, outputs):
            wt = row_w[:, None, None] * cw[None, :, None]
            acc[:, x:x + tw] += o * wt
            weight[:, x:x + tw] += wt
        done = (ys[k + 1] - y) if k + 1 < len(ys) else th
        out[y:y + done] = _from_unit(acc[:done] / np.maximum(weight[:done], 1e-12), out.dtype, scale)
        acc = np.concatenate([acc[done:], np.zeros((done, w, c), np.float32)])
        weight = np.concatenate([weight[done:], np.zeros((done, w, 1), np.float32)])
        if bar:
            bar.add(1)
    return out


def model_predictor(model: keras.Model, batch_size: int,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> Callable[[np.ndarray], np.ndarray]:
    """``tiles -> outputs`` in [0, 1] for a generator working in ``value_range`` ((0, 1) or a tanh
    generator's (-1, 1)), padding to a fixed batch so nothing retraces."""
    run = traced_inference(model)
    lo, hi = value_range

    def predict(tiles):
        n = len(tiles)
        if n < batch_size:
            tiles = np.concatenate([tiles, np.zeros((batch_size - n,) + tiles.shape[1:], tiles.dtype)])
        out = np.asarray(run(tf.constant(tiles * (hi - lo) + lo if (lo, hi) != (0.0, 1.0) else tiles)))[:n]
        return (out - lo) / (hi - lo) if (lo, hi) != (0.0, 1.0) else out
    return predict


def write_tiff_header(path: str, shape: tuple[int, int, int], dtype) -> int:
    """Create an uncompressed little-endian TIFF of ``shape`` (H, W, C) and ``dtype`` with its pixel
    data zero-filled, and return the byte offset of the (contiguous, row-major) pixels."""
    h, w, c = shape
    dtype = np.dtype(dtype)
    bits, fmt = dtype.itemsize * 8, 3 if dtype.kind == "f" else 1
    row_bytes = w * c * dtype.itemsize
    rows = max(1, min(h, (1 << 16) // max(row_bytes, 1)))
    n = -(-h // rows)
    entries = 11
    ifd = 8
    extra = ifd + 2 + entries * 12 + 4
    bps_at, fmt_at, off_at = extra, extra + 2 * c, extra + 4 * c
    cnt_at = off_at + 4 * n
    data_at = (cnt_at + 4 * n + 15) // 16 * 16
    if data_at + h * row_bytes >= 1 << 32:
        raise Pix2GanError(f"output {path} would exceed 4 GB, the limit of classic TIFF: write a .npy output instead")

    def entry(tag, typ, count, value):
        return struct.pack("<HHII", tag, typ, count, value) if typ == 4 or count > 2 else \
            struct.pack("<HHIHH", tag, typ, count, value, 0)
    table = [entry(256, 4, 1, w), entry(257, 4, 1, h),
             entry(258, 3, c, bps_at) if c > 2 else entry(258, 3, 1, bits), entry(259, 3, 1, 1),
             entry(262, 3, 1, 2 if c >= 3 else 1), entry(273, 4, n, off_at) if n > 1 else entry(273, 4, 1, data_at),
             entry(277, 3, 1, c), entry(278, 4, 1, rows),
             entry(279, 4, n, cnt_at) if n > 1 else entry(279, 4, 1, h * row_bytes),
             entry(284, 3, 1, 1), entry(339, 3, c, fmt_at) if c > 2 else entry(339, 3, 1, fmt)]
    head = b"II" + struct.pack("<HI", 42, ifd) + struct.pack("<H", entries) + b"".join(table) + struct.pack("<I", 0)
    head += struct.pack(f"<{c}H", *([bits] * c)) + struct.pack(f"<{c}H", *([fmt] * c))
    head += struct.pack(f"<{n}I", *[data_at + i * rows * row_bytes for i in range(n)])
    head += struct.pack(f"<{n}I", *[min(rows, h - i * rows) * row_bytes for i in range(n)])
    head += b"\0" * (data_at - len(head))
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(data_at + h * row_bytes)
    return data_at


def open_output(path: str, shape: tuple[int, int, int], dtype) -> np.ndarray:
    """A writable array for ``path``: memory-mapped for .tif/.tiff and .npy, in memory otherwise."""
    ext = os.path.splitext(path)[1].lower()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if ext in (".tif", ".tiff"):
        offset = write_tiff_header(path, shape, dtype)
        return np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r+", offset=offset, shape=shape)
    if ext == ".npy":
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    return np.empty(shape, dtype)


def read_scene(path: str) -> np.ndarray:
    """Read a scene: ``.npy`` memory-mapped (numeric arrays only: object arrays are never
    unpickled), images with :func:`pix2gan.imaging.read_image` (8/16-bit, float TIFF)."""
    if not path.lower().endswith(".npy"):
        return read_image(path)
    if not os.path.isfile(path):
        raise Pix2GanError(f"image {path} does not exist: check the path")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError... for a damaged header or size
        raise Pix2GanError(f"image {path} is not a readable .npy array ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:120] if str(exc) else 'damaged'}): write it again with "
                           "numpy.save") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "uif" or array.dtype.fields is not None:
        raise Pix2GanError(f"image {path} holds {getattr(array, 'dtype', type(array).__name__)} values, not "
                           "pixels: save a uint8, uint16 or float array")
    return array


def remove_clouds(image: str | np.ndarray, model: str | keras.Model, output: str | None = None, *,
                  tile: int | None = None, overlap: int | None = None, batch_size: int = 8,
                  max_value: float | None = None, verbose: bool = True) -> np.ndarray:
    """Run an image-to-image generator (e.g. cloud removal; [0, 1] or tanh [-1, 1]) over a scene of any size.

    ``image`` is a path (PNG/JPG/TIFF, 8- or 16-bit, or .npy) or an (H, W, 3) array; ``model`` a
    saved generator path or a model. ``tile`` defaults to the model's input size (512 for a
    fully convolutional model), ``overlap`` to a quarter of the tile (half for a fully
    convolutional model: each output pixel then comes from tiles where it lies at least 64 px
    from the inner edges, where the cloud-removal U-Net's output equals its whole-scene output
    to within 1e-4, measured in bench/clouds.py). With ``output`` the result
    is written there (TIFF and .npy incrementally); the result array (memory-mapped for those
    formats) is returned, with the input's size and dtype.
    """
    model_name = model if isinstance(model, str) else getattr(model, "name", "model")
    if isinstance(model, str):
        model = load_model(model)
    found = require_image_generator(model, model_name, needs="tiled inference needs",
                                    fix="pass the saved generator (e.g. <run>_generator.h5)")
    name = image if isinstance(image, str) else "array"
    if output:
        check_output_file(output, also=(".npy",))
        if isinstance(image, str) and os.path.abspath(output) == os.path.abspath(image):
            raise Pix2GanError(f"output {output} is the input scene itself: write to another file or folder")
    array = read_scene(image) if isinstance(image, str) else np.asarray(image)
    if array.ndim == 2:  # a one-band scene, for a one-band model
        array = array[..., None]
    channels = found.inputs[0][-1]
    check_scene(array, name, channels)
    if found.outputs[0][-1] != channels:
        raise Pix2GanError(f"model {model_name} maps {channels} bands to {found.outputs[0][-1]}: tiled inference keeps "
                           "the bands of the scene; use translate without --tile")
    scale = value_scale(array, name, max_value)
    fixed = found.inputs[0][0]
    tile = int(tile or fixed or ANY_SIZE_TILE)
    if tile < 1:
        raise Pix2GanError(f"tile {tile} must be a positive number of pixels", argument="tile")
    if fixed is not None and tile != fixed:
        raise Pix2GanError(f"tile {tile} differs from the model's fixed input size {fixed}: omit --tile, "
                           "or rebuild the generator with any-size inputs")
    # a network of any input size sees tiles as it would the whole scene once each used pixel lies
    # >= tile / 4 from a tile's inner edge (the window's zero margin is overlap / 4)
    overlap = (tile // 4 if fixed is not None else tile // 2) if overlap is None else int(overlap)
    h, w = array.shape[:2]
    if fixed is not None and (h < tile or w < tile):
        raise Pix2GanError(f"image {name} is {w}x{h}, smaller than the model's {tile}x{tile} input: pad or resize it")
    if overlap < 0 or overlap >= tile:
        raise Pix2GanError(f"overlap {overlap} must be from 0 to tile - 1 = {tile - 1}", argument="overlap")
    if fixed is None and tile % SIDE_MULTIPLE:
        raise Pix2GanError(f"tile {tile} must be a multiple of {SIDE_MULTIPLE} for a generator of any input size "
                           "(its U-Net halves the tile four times): use e.g. 256", argument="tile")
    out = open_output(output, array.shape, array.dtype) if output else np.empty(array.shape, array.dtype)
    # a side shorter than the tile becomes the tile's side: pad it (mirrored) to a size the network takes
    pad = [(-s % SIDE_MULTIPLE) if fixed is None and s < tile else 0 for s in (h, w)]
    scene, result = array, out
    if any(pad):
        scene = np.pad(array, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="symmetric")
        result = np.empty(scene.shape, array.dtype)
    tiled_apply(scene, model_predictor(model, batch_size, found.value_range), result, tile=tile, overlap=overlap,
                batch_size=batch_size, scale=scale, verbose=verbose)
    if any(pad):
        out[...] = result[:h, :w]
    if output:
        if isinstance(out, np.memmap):
            out.flush()
        else:
            write_image(output, out)
    return out
