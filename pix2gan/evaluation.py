"""Evaluating and applying saved image-to-image generators."""
from __future__ import annotations

import os
import weakref
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from .errors import Pix2GanError
from .imaging import check_output_dir, list_images, read_image, to_uint8, write_image
from .inference import batchnorm_statistics, check_eval_mode, run_generator
from .metrics import image_metrics
from .modelcheck import require_image_generator, value_range_of
from .precision import inference_copy
from .raster import output_extension
from .saving import load_model
from .tiling import remove_clouds


def output_value_range(generator: keras.Model) -> tuple[float, float]:
    """(0, 1) for a generator ending in a sigmoid or a ReLU capped at 1 (or, for an output layer that
    does not bound it, staying in [0, 1] when probed), else (-1, 1) (tanh); see
    :func:`pix2gan.modelcheck.value_range_of`."""
    return value_range_of(generator) or (-1.0, 1.0)


_GENERATE: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def make_generate_fn(generator: keras.Model, mode: str = "paper"):
    """A traced ``inputs -> outputs`` function running ``generator`` in evaluation ``mode``; one
    per model and mode, so translating folder after folder does not retrace."""
    functions = _GENERATE.setdefault(generator, {})
    if mode not in functions:
        statistics = batchnorm_statistics(generator)
        ref = weakref.ref(generator)  # the cached function must not keep its model alive
        # no tensor-dependent control flow: autograph=False (it cannot read a lambda's source anyway)
        functions[mode] = tf.function(lambda x: run_generator(ref(), x, mode, statistics), reduce_retracing=True,
                                      autograph=False)
    return functions[mode]


def evaluate_generator(generator: keras.Model, dataset: tf.data.Dataset, mode: str = "paper",
                       value_range: Sequence[float] | None = None, steps: int | None = None) -> dict:
    """Mean L1, PSNR and SSIM (on [0, 1] images) of ``generator`` over ``(input, target)`` batches,
    next to the same figures for the input itself where input and target have the same shape."""
    value_range = value_range or output_value_range(generator)
    generate = make_generate_fn(generator, mode)
    sums: dict[str, float] = {}
    count = 0
    for i, (x, y) in enumerate(dataset):
        if steps is not None and i >= steps:
            break
        scores = image_metrics(generate(x), y, value_range)
        for k, v in scores.items():
            sums[k] = sums.get(k, 0.0) + float(tf.reduce_sum(v))
        count += int(x.shape[0])
    if not count:
        raise Pix2GanError("the evaluation set is empty: check --data-dir and --split")
    return {k: v / count for k, v in sums.items()} | {"images": count}


def _load_generator(model: str | keras.Model, needs: str, fix: str):
    """(model, name, ModelKind) of a saved generator path or a model, refused unless it is an
    image-to-image generator."""
    name = model if isinstance(model, str) else getattr(model, "name", "model")
    generator = load_model(model) if isinstance(model, str) else model
    return generator, name, require_image_generator(generator, name, needs=needs, fix=fix)


def _output_for(output_dir: str, path: str, ext: str, inputs: set[str]) -> str:
    out = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + ext)
    if os.path.abspath(out) in inputs:
        raise Pix2GanError(f"output {out} would overwrite the input image {path}: pass another output folder")
    if os.path.isdir(out):
        raise Pix2GanError(f"output {out} is a folder: remove it or pass another output folder")
    return out


def translate_folder(model_path: str | keras.Model, input_dir: str, output_dir: str, mode: str = "inference",
                     resize: bool = False, verbose: bool = True, batch_size: int = 8,
                     precision: str = "float32") -> list[str]:
    """Run a saved generator (a path, or a model) over every image in ``input_dir`` (or the one
    image it names), writing PNGs to ``output_dir``.

    Images must have the model's input size (or pass ``resize=True`` to resize in and back out).
    The model, the input folder and the output paths are all checked before the first image is
    translated. Consecutive images of one size go through the model ``batch_size`` at a time;
    ``precision`` runs it in float32 (default) or mixed precision
    (:func:`pix2gan.precision.inference_copy`; 'auto': the fastest this machine runs natively).
    In ``mode='paper'`` BatchNorm uses the statistics of each batch, so there ``batch_size=1``
    gives every image the result it would get alone.
    """
    check_eval_mode(mode, "mode")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise Pix2GanError(f"batch_size={batch_size!r} must be a whole number >= 1", argument="batch_size")
    check_output_dir(output_dir)
    files = [input_dir] if os.path.isfile(input_dir) else list_images(input_dir)
    if not files:
        raise Pix2GanError(f"input folder {input_dir} holds no images (.png, .jpg, .tif, .bmp)")
    generator, name, found = _load_generator(model_path, "translate needs",
                                             "pass a saved image-to-image generator (<run>_generator.h5)")
    generator = inference_copy(generator, precision)
    (h, w, c), (lo, hi) = found.inputs[0], found.value_range
    inputs = {os.path.abspath(p) for p in files}
    outputs = [_output_for(output_dir, p, ".png", inputs) for p in files]
    generate = make_generate_fn(generator, mode)
    written = []
    bar = keras.utils.Progbar(len(files), unit_name="image") if verbose else None
    pending: list[tuple[str, tuple[int, int], np.ndarray]] = []  # (output, original size, model input)

    def flush():
        if not pending:
            return
        y = np.asarray(generate(tf.constant(np.stack([x for _, _, x in pending]))))
        for (out, size, _), image in zip(pending, y):
            if image.shape[:2] != size:
                image = tf.image.resize(image, size).numpy()
            written.append(write_image(out, to_uint8(image, (lo, hi))))
        if bar:
            bar.add(len(pending))
        pending.clear()

    for path, out in zip(files, outputs):
        image = read_image(path, channels=c)
        if image.ndim == 2:
            image = image[..., None]
        scale = 65535.0 if image.dtype == np.uint16 else 1.0 if image.dtype.kind == "f" else 255.0
        size = image.shape[:2]
        if (h is not None and size[0] != h) or (w is not None and size[1] != w):
            if not resize:
                raise Pix2GanError(f"image {path} is {size[1]}x{size[0]} but the model takes {w}x{h}: "
                                   "resize it, or pass --resize")
            image = tf.image.resize(image.astype(np.float32), (h or size[0], w or size[1])).numpy()
        x = np.clip(image.astype(np.float32) / scale, 0.0, 1.0) * (hi - lo) + lo
        if pending and (len(pending) == batch_size or pending[0][2].shape != x.shape):
            flush()
        pending.append((out, size, x))
    flush()
    return written


def per_image_scores(generator: keras.Model, dataset: tf.data.Dataset, mode: str = "inference",
                     value_range: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Per-image L1, PSNR and SSIM of the generator (``model_*``) and of the input itself
    (``input_*``, the do-nothing baseline) over batches ``(input, target, *extras)``; the extras
    (e.g. cloud opacity, class label) come back as ``extra0``, ``extra1``, ... for grouping."""
    value_range = value_range or output_value_range(generator)
    generate = make_generate_fn(generator, mode)
    parts: dict[str, list] = {}
    for x, y, *extras in dataset:
        found = {f"model_{k}": v for k, v in image_metrics(generate(x), y, value_range).items()}
        found |= {f"input_{k}": v for k, v in image_metrics(x, y, value_range).items()}
        found |= {f"extra{i}": e for i, e in enumerate(extras)}
        for k, v in found.items():
            parts.setdefault(k, []).append(np.asarray(v))
    if not parts:
        raise Pix2GanError("the evaluation set is empty: check --data-dir and the split")
    return {k: np.concatenate(v) for k, v in parts.items()}


def grouped_table(scores: dict[str, np.ndarray], groups: np.ndarray, names: Sequence[str],
                  title: str = "group") -> tuple[str, list[dict]]:
    """Mean scores per group (``groups[i]`` indexes ``names``), model next to input, as a
    Markdown table and as rows of numbers; the last row is the whole set."""
    rows = []
    for g, name in list(enumerate(names)) + [(None, "all")]:
        keep = np.ones(len(groups), bool) if g is None else groups == g
        if not keep.any():
            continue
        rows.append({title: name, "n": int(keep.sum()),
                     **{k: float(np.mean(scores[k][keep])) for k in scores if k.startswith(("model_", "input_"))}})
    cols = ("model_psnr", "input_psnr", "model_ssim", "input_ssim", "model_l1", "input_l1")
    lines = [f"| {title} | n | PSNR model | PSNR input | SSIM model | SSIM input | L1 model | L1 input |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r[title]} | {r['n']} | " + " | ".join(f"{r[c]:.2f}" if "psnr" in c else f"{r[c]:.4f}" for c in cols)
              + " |" for r in rows]
    return "\n".join(lines), rows


def translate_tiled(model_path: str | keras.Model, input_path: str, output_dir: str, tile: int | None = None,
                    overlap: int | None = None, scale: float | None = None, verbose: bool = True, *,
                    bands: str | Sequence[str | int] | None = None, cog: bool = False, batch_size: int = 8,
                    precision: str = "float32") -> list[str]:
    """Run a saved generator (e.g. cloud removal) over images of any size, tile by tile.

    ``input_path`` is a scene (GeoTIFF, JP2 or any raster GDAL opens, PNG / JPEG, ``.npy``) or a
    folder of them; each output keeps its input's size, dtype and georeference and is written to
    ``output_dir``: rasters as tiled GeoTIFFs window by window (``cog``: Cloud-Optimised, every
    output a ``.tif``), ``.npy`` and PNG as such, JPEG / BMP as PNG so nothing is lost again.
    ``bands``, ``scale``, ``batch_size`` (tiles per model call) and ``precision`` are those of
    :func:`pix2gan.tiling.remove_clouds`.
    """
    check_output_dir(output_dir)
    if os.path.isdir(input_path):
        files = list_images(input_path) + sorted(os.path.join(input_path, n) for n in os.listdir(input_path)
                                                 if n.lower().endswith(".jp2"))
    elif os.path.isfile(input_path):
        files = [input_path]
    else:
        raise Pix2GanError(f"input {input_path} does not exist: pass an image, a .npy scene or a folder of images")
    if not files:
        raise Pix2GanError(f"input folder {input_path} holds no images (.png, .jpg, .tif, .jp2, .bmp)")
    generator, _, _ = _load_generator(model_path, "translate --tile needs",
                                      "pass a saved image-to-image generator (<run>_generator.h5)")
    generator = inference_copy(generator, precision)  # once for every scene: one copy, one trace
    inputs = {os.path.abspath(p) for p in files}
    outputs = []
    for path in files:
        outputs.append(_output_for(output_dir, path, output_extension(path, cog), inputs))
    for path, out in zip(files, outputs):
        remove_clouds(path, generator, out, tile=tile, overlap=overlap, bands=bands, scale=scale, cog=cog,
                      verbose=verbose, batch_size=batch_size, precision=precision)
    return outputs
