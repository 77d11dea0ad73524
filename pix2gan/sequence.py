"""Frame prediction with a saved model: scores per predicted frame beside two baselines, strips and
GIFs of sequences, and :func:`predict_frames` for a folder of frames.

A frame predictor maps ``frames_in`` frames stacked on the channel axis (frame-major, ``(H, W,
frames_in * C)``, values in [0, 1]) to the next ``frames_out`` frames stacked the same way. The
baselines it is scored against need no training:

- copy-last: every future frame is the last input frame;
- linear extrapolation: frame ``k`` is ``last + k * (last - previous)``, clipped to [0, 1]
  (copy-last when there is one input frame).

Animated GIFs are written with Pillow.
"""
from __future__ import annotations

import io
import logging
import os
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from .data.frames import full_scale, list_frames, read_frames
from .errors import Pix2GanError
from .imaging import check_output_dir, to_uint8, write_image
from .modelcheck import inspect_model, output_range
from .saving import atomic_write, load_model

logger = logging.getLogger("pix2gan")

METHODS = ("model", "copy_last", "linear")
METHOD_NAMES = {"model": "model", "copy_last": "copy-last", "linear": "linear extrapolation"}
GAP = 8  # pixels between the inputs, predicted and truth groups of a strip


def split_frames(stacked, channels: int = 1):
    """``(B, H, W, F * C)`` -> ``(B, F, H, W, C)`` (TensorFlow or NumPy input; a tensor comes back)."""
    stacked = tf.convert_to_tensor(stacked)
    b, h, w = tf.shape(stacked)[0], stacked.shape[1], stacked.shape[2]
    frames = stacked.shape[-1] // channels
    return tf.transpose(tf.reshape(stacked, (b, h, w, frames, channels)), (0, 3, 1, 2, 4))


def stack_frames(frames):
    """``(B, F, H, W, C)`` -> ``(B, H, W, F * C)``, the inverse of :func:`split_frames`."""
    frames = tf.convert_to_tensor(frames)
    b, f, h, w, c = tf.shape(frames)[0], frames.shape[1], frames.shape[2], frames.shape[3], frames.shape[4]
    return tf.reshape(tf.transpose(frames, (0, 2, 3, 1, 4)), (b, h, w, f * c))


def copy_last(inputs, frames_out: int, channels: int = 1):
    """The copy-last baseline: the last input frame, ``frames_out`` times (stacked like the inputs)."""
    last = tf.convert_to_tensor(inputs)[..., -channels:]
    return tf.tile(last, (1, 1, 1, frames_out))


def linear_extrapolation(inputs, frames_out: int, channels: int = 1):
    """The linear baseline: future frame ``k`` (1-based) is ``clip(last + k * (last - previous), 0, 1)``;
    copy-last when the input holds a single frame."""
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    if inputs.shape[-1] < 2 * channels:
        return copy_last(inputs, frames_out, channels)
    last, previous = inputs[..., -channels:], inputs[..., -2 * channels:-channels]
    steps = [tf.clip_by_value(last + k * (last - previous), 0.0, 1.0) for k in range(1, frames_out + 1)]
    return tf.concat(steps, axis=-1)


def frame_scores(prediction, target, channels: int = 1) -> dict:
    """Per-sequence, per-frame MSE and SSIM (on [0, 1] frames): ``{'mse': (B, F), 'ssim': (B, F)}``.
    SSIM is TensorFlow's (11x11 Gaussian window, smaller for frames under 11 pixels), averaged
    over the channels of a frame."""
    p = split_frames(tf.clip_by_value(tf.cast(prediction, tf.float32), 0.0, 1.0), channels)
    t = split_frames(tf.clip_by_value(tf.cast(target, tf.float32), 0.0, 1.0), channels)
    b, f, h, w = tf.shape(p)[0], p.shape[1], p.shape[2], p.shape[3]
    mse = tf.reduce_mean(tf.square(p - t), axis=(2, 3, 4))
    flat = (-1, h, w, channels)
    ssim = tf.image.ssim(tf.reshape(p, flat), tf.reshape(t, flat), max_val=1.0, filter_size=min(11, h, w))
    return {"mse": mse, "ssim": tf.reshape(ssim, (b, f))}


def per_frame_report(generate: Callable, dataset: tf.data.Dataset, frames_in: int, frames_out: int,
                     channels: int = 1, steps: int | None = None) -> dict:
    """Mean MSE and SSIM per predicted frame of ``generate`` (inputs -> predicted frames) over the
    ``(inputs, targets)`` batches of ``dataset`` (at most ``steps`` batches), beside copy-last and
    linear extrapolation.

    Returns ``{'n': sequences, 'frames_out': F, 'rows': {method: {'mse': [F floats], 'ssim': [...]}},
    'table': Markdown}`` with ``method`` in :data:`METHODS`."""
    sums = {m: {"mse": np.zeros(frames_out), "ssim": np.zeros(frames_out)} for m in METHODS}
    n = 0
    for i, (x, y) in enumerate(dataset):
        if steps is not None and i >= steps:
            break
        guesses = {"model": generate(x), "copy_last": copy_last(x, frames_out, channels),
                   "linear": linear_extrapolation(x, frames_out, channels)}
        for method, guess in guesses.items():
            for metric, values in frame_scores(guess, y, channels).items():
                sums[method][metric] += np.asarray(values, np.float64).sum(axis=0)
        n += int(x.shape[0])
    if not n:
        raise Pix2GanError("the evaluation set is empty: check data_dir and the split", argument="data_dir")
    rows = {m: {k: [float(v) for v in s / n] for k, s in found.items()} for m, found in sums.items()}
    return {"n": n, "frames_in": frames_in, "frames_out": frames_out, "rows": rows, "table": report_table(rows)}


def report_table(rows: dict) -> str:
    """The per-frame scores of :func:`per_frame_report` as a Markdown table, a mean row last."""
    frames = len(rows["model"]["mse"])
    head = ("| frame | " + " | ".join(f"MSE {METHOD_NAMES[m]}" for m in METHODS) + " | "
            + " | ".join(f"SSIM {METHOD_NAMES[m]}" for m in METHODS) + " |")
    lines = [head, "|---|" + "---:|" * (2 * len(METHODS))]

    def line(label, pick):
        return (f"| {label} | " + " | ".join(f"{pick(rows[m]['mse']):.5f}" for m in METHODS) + " | "
                + " | ".join(f"{pick(rows[m]['ssim']):.4f}" for m in METHODS) + " |")
    lines += [line(str(k + 1), lambda v, k=k: v[k]) for k in range(frames)]
    lines.append(line("mean", lambda v: float(np.mean(v))))
    return "\n".join(lines)


def report_metrics(report: dict, prefix: str = "test_") -> dict:
    """The report's numbers as flat card metrics: ``<prefix><method>_<mse|ssim>_f<k>`` per frame and
    ``..._mean``, and ``<prefix>mse_vs_copy_last`` (the model's mean MSE over copy-last's)."""
    out = {}
    for method, found in report["rows"].items():
        for metric, values in found.items():
            out.update({f"{prefix}{method}_{metric}_f{k + 1:02d}": v for k, v in enumerate(values)})
            out[f"{prefix}{method}_{metric}_mean"] = float(np.mean(values))
    out[f"{prefix}mse_vs_copy_last"] = out[f"{prefix}model_mse_mean"] / max(out[f"{prefix}copy_last_mse_mean"], 1e-12)
    return out


# ------------------------------------------------------------------------------------ pictures

def _row(frames: np.ndarray, pad: int = 2) -> np.ndarray:
    """uint8 frames (F, H, W, C) side by side on white, RGB."""
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    frames = frames[..., :3]
    f, h, w = frames.shape[:3]
    out = np.full((h, f * (w + pad) - pad, 3), 255, np.uint8)
    for k in range(f):
        out[:, k * (w + pad):k * (w + pad) + w] = frames[k]
    return out


def sequence_strip(inputs, predicted, truth=None, channels: int = 1, pad: int = 2) -> np.ndarray:
    """An RGB uint8 picture, one row per sequence: inputs | predicted | truth (each group a row of
    frames, groups :data:`GAP` pixels apart). Arguments are stacked frames ``(B, H, W, F * C)`` in [0, 1]."""
    groups = [inputs, predicted] + ([truth] if truth is not None else [])
    groups = [to_uint8(np.asarray(split_frames(g, channels)), (0.0, 1.0)) for g in groups]
    rows = []
    for i in range(len(groups[0])):
        parts = [_row(g[i], pad) for g in groups]
        gap = np.full((parts[0].shape[0], GAP, 3), 255, np.uint8)
        line = parts[0]
        for part in parts[1:]:
            line = np.concatenate([line, gap, part], axis=1)
        rows.append(line)
    width = max(r.shape[1] for r in rows)
    out = np.full((len(rows) * (rows[0].shape[0] + pad) + pad, width + 2 * pad, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        y = pad + i * (r.shape[0] + pad)
        out[y:y + r.shape[0], pad:pad + r.shape[1]] = r
    return out


def sequence_animation(inputs, predicted, truth=None, channels: int = 1, pad: int = 2) -> list[np.ndarray]:
    """Animation frames (RGB uint8), one per time step: the input frames, then the predicted frames
    beside the true ones (or the predicted alone), one row per sequence. A red bar on top marks the
    predicted steps."""
    x = to_uint8(np.asarray(split_frames(inputs, channels)), (0.0, 1.0))
    p = to_uint8(np.asarray(split_frames(predicted, channels)), (0.0, 1.0))
    t = None if truth is None else to_uint8(np.asarray(split_frames(truth, channels)), (0.0, 1.0))
    panels = 2 if t is not None else 1
    steps = [(x[:, k], x[:, k] if t is not None else None, False) for k in range(x.shape[1])]
    steps += [(p[:, k], t[:, k] if t is not None else None, True) for k in range(p.shape[1])]
    pictures = []
    for left, right, predicted_step in steps:
        cells = [left] + ([right] if panels == 2 else [])
        rows = [_row(np.stack([cell[i] for cell in cells]), pad) for i in range(len(left))]
        bar = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
        if predicted_step:
            bar[:, :left.shape[2]] = (220, 30, 30)
        pictures.append(np.concatenate([bar] + [np.pad(r, ((0, pad), (0, 0), (0, 0)), constant_values=255)
                                                for r in rows], axis=0))
    return pictures


def write_gif(path: str, pictures: Sequence[np.ndarray], duration_ms: int = 200) -> str:
    """Write RGB uint8 ``pictures`` as a looping animated GIF with Pillow, atomically (Pillow shows
    identical consecutive pictures as one, for their summed duration)."""
    if not pictures:
        raise Pix2GanError(f"GIF {path} needs at least one picture", argument="pictures")
    images = [Image.fromarray(np.asarray(p, np.uint8)) for p in pictures]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(duration_ms), loop=0)

    def write(target):
        with open(target, "wb") as f:
            f.write(buffer.getvalue())
    return atomic_write(path, write)


# ------------------------------------------------------------------------------------ saved models

def sequence_model_shape(model: keras.Model, name: str, channels: int, *, argument: str | None = None,
                         needs: str = "frame prediction needs") -> tuple[int | None, int | None, int, int]:
    """``(height, width, frames_in, frames_out)`` of a frame predictor (one ``(H, W, frames_in * C)``
    input, one ``(H, W, frames_out * C)`` output in [0, 1]); anything else is refused in one line
    saying what the model is."""
    label = f"{argument}={name!r}" if argument else f"model {name}"
    want = f"{needs} a frame predictor ((H, W, frames_in x {channels}) frames -> (H, W, frames_out x {channels}) " \
           "frames in [0, 1])"
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Pix2GanError(f"{label} is {inspect_model(model).describe()}, but {want}: pass a sequence-unet "
                           "generator (<run>_generator.h5)", argument=argument)
    shape_in, shape_out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if (len(shape_in) != 3 or len(shape_out) != 3 or shape_in[:2] != shape_out[:2]
            or output_range(model) != (0.0, 1.0)):
        raise Pix2GanError(f"{label} is {inspect_model(model).describe()}, but {want}: pass a sequence-unet "
                           "generator (<run>_generator.h5)", argument=argument)
    c_in, c_out = int(shape_in[-1]), int(shape_out[-1])
    if c_in % channels or c_out % channels:
        raise Pix2GanError(f"{label} takes {c_in} channels and gives {c_out}, not whole numbers of {channels}-channel "
                           "frames: pass the model's channels per frame (1 grey, 3 RGB)", argument="channels")
    h, w = (None if v is None else int(v) for v in shape_in[:2])
    return h, w, c_in // channels, c_out // channels


def predict_frames(model_path: str | keras.Model, frames_dir: str, out_dir: str, channels: int | None = None,
                   start: int | None = None, resize: bool = False, duration_ms: int = 200) -> dict:
    """Predict the frames that follow a window of ``frames_dir`` with a saved frame predictor.

    The window is the last ``frames_in`` frames of the folder (natural order of names), or the
    ``frames_in`` frames from index ``start`` (0-based); ``channels`` per frame defaults to the
    first frame's (1 grey, 3 RGB). Frames must have the model's size unless ``resize``; predicted
    frames keep the input's bit depth and size. Writes ``predicted_001.png`` ... to ``out_dir``,
    ``strip.png`` (inputs | predicted | truth where the folder holds the frames that follow the
    window) and ``sequence.gif`` (Pillow). Returns ``{'frames': [paths], 'strip': path, 'gif':
    path, 'window': [input frame paths], 'scores': per-frame MSE/SSIM dict or None}``; the scores
    (beside copy-last and linear extrapolation, see :func:`per_frame_report`) exist when the truth
    does. Everything is checked before the model runs."""
    check_output_dir(out_dir, argument="out_dir")
    paths = list_frames(frames_dir)
    if not paths:
        raise Pix2GanError(f"frames folder {frames_dir} holds no frames (.png, .jpg, .tif, .bmp): pass a folder of "
                           "ordered frames", argument="frames_dir")
    name = model_path if isinstance(model_path, str) else getattr(model_path, "name", "model")
    model = load_model(model_path) if isinstance(model_path, str) else model_path
    if channels is None:
        first = read_frames(frames_dir, paths=paths[:1])
        channels = int(first.shape[-1])
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise Pix2GanError(f"channels={channels!r} must be a positive number of channels per frame", argument="channels")
    h, w, frames_in, frames_out = sequence_model_shape(model, name, channels, argument="model_path")
    if len(paths) < frames_in:
        raise Pix2GanError(f"frames folder {frames_dir} holds {len(paths)} frames, fewer than the {frames_in} input "
                           f"frames the model takes: add frames", argument="frames_dir")
    first = len(paths) - frames_in if start is None else start
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or not 0 <= first <= len(paths) - frames_in:
        raise Pix2GanError(f"start={start!r} must be a frame index from 0 to {len(paths) - frames_in} (the folder "
                           f"holds {len(paths)} frames, the model takes {frames_in})", argument="start")
    window = paths[first:first + frames_in]
    truth_paths = paths[first + frames_in:first + frames_in + frames_out]
    if len(truth_paths) < frames_out:
        truth_paths = []
    outputs = [os.path.join(out_dir, f"predicted_{k + 1:03d}.png") for k in range(frames_out)]
    strip_path, gif_path = os.path.join(out_dir, "strip.png"), os.path.join(out_dir, "sequence.gif")
    taken = {os.path.abspath(p) for p in paths}
    for out in outputs + [strip_path, gif_path]:
        if os.path.abspath(out) in taken:
            raise Pix2GanError(f"output {out} would overwrite a frame of {frames_dir}: pass another out_dir",
                               argument="out_dir")
        if os.path.isdir(out):
            raise Pix2GanError(f"output {out} is a folder: remove it or pass another out_dir", argument="out_dir")
    raw = read_frames(frames_dir, channels=channels, paths=window + truth_paths)
    size = raw.shape[1:3]
    scale = full_scale(raw.dtype)
    if (h is not None and h != size[0]) or (w is not None and w != size[1]):
        if not resize:
            raise Pix2GanError(f"frames of {frames_dir} are {size[1]}x{size[0]} but the model takes {w}x{h}: resize "
                               "them, or pass resize", argument="frames_dir")
    model_size = (h or size[0], w or size[1])
    frames = tf.image.resize(raw.astype(np.float32) / scale, model_size) if tuple(size) != model_size else \
        tf.constant(raw.astype(np.float32) / scale)
    frames = tf.clip_by_value(frames, 0.0, 1.0)
    x = stack_frames(frames[None, :frames_in])
    predicted = tf.convert_to_tensor(model(x, training=False))
    truth = stack_frames(frames[None, frames_in:]) if truth_paths else None
    scores = None
    if truth is not None:
        scores = per_frame_report(lambda inputs: predicted, [(x, truth)], frames_in, frames_out, channels)
    # the files keep the frames' own size and bit depth
    full = split_frames(predicted, channels)[0]
    if tuple(size) != model_size:
        full = tf.image.resize(full, size)
    full = np.clip(np.asarray(full), 0.0, 1.0)
    written = []
    for k, out in enumerate(outputs):
        values = np.rint(full[k] * scale).astype(raw.dtype) if raw.dtype.kind in "ui" else full[k].astype(raw.dtype)
        written.append(write_image(out, values[..., 0] if channels == 1 else values))
    write_image(strip_path, sequence_strip(x, predicted, truth, channels))
    write_gif(gif_path, sequence_animation(x, predicted, truth, channels), duration_ms)
    logger.info("predicted %d frames after %s .. %s into %s", frames_out, os.path.basename(window[0]),
                os.path.basename(window[-1]), out_dir)
    if scores is not None:
        logger.info("against the %d frames that follow in %s:\n%s", frames_out, frames_dir, scores["table"])
    return {"frames": written, "strip": strip_path, "gif": gif_path, "window": window, "scores": scores}
