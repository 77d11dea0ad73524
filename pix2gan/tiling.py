"""Run an image-to-image generator over scenes of any size: overlapping tiles, seamless blending.

The scene is cut into ``tile`` x ``tile`` tiles overlapping by ``overlap`` pixels (the last
tile of a row or column is moved back to end at the border). Each tile's output is weighted by
a separable window that is 0 for ``margin = overlap // 4`` pixels at every edge shared with a
neighbour (where a convolutional net sees zero padding instead of the real context), then
ramps linearly to 1 across the rest of the overlap; edges on the scene border keep weight 1.
Where two tiles overlap the two ramps sum to 1, so the blend is a cross-fade: no seams, and a
network whose receptive field fits in the margin gives exactly its whole-image output.

Memory stays bounded by the rows in flight, not the scene: each row of tiles is read as one
``tile``-row window (:mod:`pix2gan.raster`: GeoTIFF / COG / JP2 through rasterio, ``.npy``
memory-mapped), accumulated in a ``tile``-row float buffer, and its finished rows are converted
to the output dtype and written at once (a GeoTIFF by windows, a ``.npy`` memory-mapped). PNG and
JPEG scenes are decoded and encoded whole (those formats have no windowed codec).

Images: 8-bit (/255), 16-bit (/65535, or ``scale``, e.g. 10000 for Sentinel-2 L2A reflectance)
or float in [0, 1]; any number of bands, of which ``bands`` picks the model's (default: B4, B3,
B2 when the band descriptions name them, else the first); the output keeps the input's size,
dtype and georeference. Nodata pixels (the raster's nodata value, mask or alpha band, NaN in a
float raster, or ``nodata``) never reach the network: in each tile they are filled with the mean
of its valid pixels per band (a tile without any is skipped), and they are nodata in the output.
"""
from __future__ import annotations

import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from .errors import Pix2GanError
from .modelcheck import require_image_generator
from .precision import inference_copy
from .predict import traced_inference
from .raster import Scene, Sink, bounded_cache, check_output, default_scale, open_scene, open_sink
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
    """The number that maps ``image`` to [0, 1] (see :func:`pix2gan.raster.default_scale`); refuses
    NaN/inf float input (naming ``name``)."""
    if max_value is None and np.issubdtype(image.dtype, np.floating):
        bad = next((r for r in range(0, image.shape[0], 1024) if not np.isfinite(image[r:r + 1024]).all()), None)
        if bad is not None:
            raise Pix2GanError(f"image {name} holds NaN or infinite values (near row {bad}): fix or mask them first")
    return default_scale(image.dtype, name, max_value)


def _from_unit(values: np.ndarray, dtype: np.dtype, scale: float) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        return np.clip(np.rint(values * scale), 0, np.iinfo(dtype).max).astype(dtype)
    return (values * scale).astype(dtype)


def fill_invalid(tile: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``tile`` (H, W, C) with its invalid pixels set to the mean of its valid ones, band by band,
    so nodata never reaches the network as black (or as the nodata value)."""
    if valid.all():
        return tile
    tile = tile.copy()
    tile[~valid] = tile[valid].mean(axis=0)
    return tile


def tiled_apply(scene: Scene, predict: Callable[[np.ndarray], np.ndarray], sink: Sink, *, tile: int,
                overlap: int, batch_size: int = 8, multiple: int = 1, verbose: bool = False) -> Sink:
    """Write ``predict`` applied tile by tile over ``scene`` into ``sink``, one row of tiles at a time.

    ``predict`` maps a float32 batch (N, tile, tile, C) in [0, 1] to outputs of the same shape. A
    scene side shorter than ``tile`` becomes the tile's side, mirrored up to a ``multiple`` of
    pixels (what a U-Net of any input size takes) and cropped back. Invalid pixels are filled
    (:func:`fill_invalid`) and tiles without a valid pixel skipped.
    """
    h, w, c = scene.shape
    if overlap < 0 or overlap >= tile:
        raise Pix2GanError(f"overlap {overlap} must be from 0 to tile - 1 = {tile - 1}")
    th, tw = min(tile, h), min(tile, w)
    pad = ((0, -th % multiple if th < tile else 0), (0, -tw % multiple if tw < tile else 0), (0, 0))
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    col_w = [edge_weights(x, tw, w, overlap) for x in xs]
    acc = np.zeros((th, w, c), np.float32)
    weight = np.zeros((th, w, 1), np.float32)
    bar = keras.utils.Progbar(len(ys), unit_name="tile row") if verbose else None
    for k, y in enumerate(ys):
        pixels, valid = scene.read(y, th)
        row_w = edge_weights(y, th, h, overlap)
        todo = [i for i in range(len(xs)) if valid is None or valid[:, xs[i]:xs[i] + tw].any()]
        for b in range(0, len(todo), batch_size):  # at most batch_size tiles in memory at once
            batch = []
            for i in todo[b:b + batch_size]:
                t = pixels[:, xs[i]:xs[i] + tw].astype(np.float32) / np.float32(scene.scale)
                if valid is not None:
                    t = fill_invalid(t, valid[:, xs[i]:xs[i] + tw])
                batch.append(np.pad(t, pad, mode="symmetric") if any(pad[0] + pad[1]) else t)
            for i, o in zip(todo[b:b + batch_size], predict(np.stack(batch))[:, :th, :tw]):
                x = xs[i]
                wt = row_w[:, None, None] * col_w[i][None, :, None]
                acc[:, x:x + tw] += o * wt
                weight[:, x:x + tw] += wt
        done = (ys[k + 1] - y) if k + 1 < len(ys) else th
        block = _from_unit(acc[:done] / np.maximum(weight[:done], 1e-12), scene.dtype, scene.scale)
        sink.write(y, block, None if valid is None else valid[:done])
        acc = np.concatenate([acc[done:], np.zeros((done, w, c), np.float32)])
        weight = np.concatenate([weight[done:], np.zeros((done, w, 1), np.float32)])
        if bar:
            bar.add(1)
    return sink


def model_predictor(model: keras.Model, batch_size: int,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> Callable[[np.ndarray], np.ndarray]:
    """``tiles -> outputs`` in [0, 1] for a generator working in ``value_range`` ((0, 1) or a tanh
    generator's (-1, 1)), for batches of up to ``batch_size`` tiles.

    A short batch (the end of a row, a small scene) runs as it is, not padded to ``batch_size``:
    the traced function relaxes its batch dimension after the first other size
    (:func:`pix2gan.predict.traced_inference`), so at most one more trace is paid, never the
    padded tiles' compute."""
    run = traced_inference(model)
    lo, hi = value_range

    def predict(tiles):
        if len(tiles) > batch_size:
            raise Pix2GanError(f"{len(tiles)} tiles in one call, more than batch_size={batch_size}",
                               argument="batch_size")
        out = np.asarray(run(tf.constant(tiles * (hi - lo) + lo if (lo, hi) != (0.0, 1.0) else tiles)))
        return (out - lo) / (hi - lo) if (lo, hi) != (0.0, 1.0) else out
    return predict


def remove_clouds(image: str | np.ndarray, model: str | keras.Model, output: str | None = None, *,
                  tile: int | None = None, overlap: int | None = None, batch_size: int = 8,
                  bands: str | tuple | None = None, scale: float | None = None, nodata: float | None = None,
                  cog: bool = False, verbose: bool = True, precision: str = "float32") -> np.ndarray | str:
    """Run an image-to-image generator (e.g. cloud removal; [0, 1] or tanh [-1, 1]) over a scene of any size.

    ``image`` is a path (GeoTIFF / COG / JP2 or any raster GDAL opens, PNG / JPEG, ``.npy``) or an
    (H, W, bands) array; ``model`` a saved generator path or a model. ``bands`` picks the model's
    bands by description or 1-based number ("B4,B3,B2"; default B4, B3, B2 where so named, else
    the first); ``scale`` is the value of full scale (default 255 / 65535 / 1 by dtype; 10000 for
    Sentinel-2 L2A reflectance); ``nodata`` marks the pixels equal to it invalid, in place of the
    file's nodata value or masks (see the module doc). ``tile`` defaults to the model's input size (512 for a fully
    convolutional model), ``overlap`` to a quarter of the tile (half for a fully convolutional
    model: each output pixel then comes from tiles where it lies at least 64 px from the inner
    edges, where the cloud-removal U-Net's output equals its whole-scene output to within 1e-4,
    measured in bench/clouds.py).

    ``batch_size`` tiles go through the model per call; ``precision`` runs it in float32 (default)
    or mixed precision (:func:`pix2gan.precision.inference_copy`; outputs then differ by about
    1e-2 of full scale).

    Without ``output`` the result array (the input's size and dtype, the picked bands) is
    returned. With ``output`` the result is written there and its path returned: ``.tif`` as a
    tiled GeoTIFF with the input's CRS, transform, nodata, band names, dtype and compression
    (``cog=True``: a Cloud-Optimised GeoTIFF), written window by window; ``.npy`` memory-mapped;
    PNG / JPEG whole.
    """
    model_name = model if isinstance(model, str) else getattr(model, "name", "model")
    if isinstance(model, str):
        model = load_model(model)
    found = require_image_generator(model, model_name, needs="tiled inference needs",
                                    fix="pass the saved generator (e.g. <run>_generator.h5)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise Pix2GanError(f"batch_size={batch_size!r} must be a whole number >= 1", argument="batch_size")
    model = inference_copy(model, precision)
    if output:
        check_output(output, cog)
        if isinstance(image, str) and os.path.abspath(output) == os.path.abspath(image):
            raise Pix2GanError(f"output {output} is the input scene itself: write to another file or folder")
    elif cog:
        raise Pix2GanError("cog writes a Cloud-Optimised GeoTIFF: pass an output .tif", argument="cog")
    channels = found.inputs[0][-1]
    if found.outputs[0][-1] != channels:
        raise Pix2GanError(f"model {model_name} maps {channels} bands to {found.outputs[0][-1]}: tiled inference keeps "
                           "the bands of the scene; use translate without --tile")
    with bounded_cache(), open_scene(image, channels, bands=bands, scale=scale, nodata=nodata) as scene:
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
        h, w = scene.shape[:2]
        if fixed is not None and (h < tile or w < tile):
            raise Pix2GanError(f"image {scene.name} is {w}x{h}, smaller than the model's {tile}x{tile} input: pad or "
                               "resize it")
        if overlap < 0 or overlap >= tile:
            raise Pix2GanError(f"overlap {overlap} must be from 0 to tile - 1 = {tile - 1}", argument="overlap")
        if fixed is None and tile % SIDE_MULTIPLE:
            raise Pix2GanError(f"tile {tile} must be a multiple of {SIDE_MULTIPLE} for a generator of any input size "
                               "(its U-Net halves the tile four times): use e.g. 256", argument="tile")
        sink = open_sink(scene, output, cog=cog)
        try:
            tiled_apply(scene, model_predictor(model, batch_size, found.value_range), sink, tile=tile,
                        overlap=overlap, batch_size=batch_size, multiple=1 if fixed is not None else SIDE_MULTIPLE,
                        verbose=verbose)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    return output if output else sink.array
