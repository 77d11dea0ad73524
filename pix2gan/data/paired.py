"""Real cloudy / cloud-free pairs from two folders of matching file names, any image size.

Layouts recognised (input folder, target folder), in this order: ``cloudy_image/`` +
``ground_truth/`` (RICE), ``A/`` + ``B/``, ``cloudy/`` + ``clear/`` (what
:func:`pix2gan.data.clouds.write_cloud_pairs` writes). They may sit under a split folder
(``root/train/cloudy_image``, ``root/test/A``) or directly under the root, where the same
pairs then serve every split.

Files pair by name without extension (``0001.png`` with ``0001.tif``). Images are 3-channel,
8-bit (/255), 16-bit (/65535) or float in [0, 1]; the two images of a pair must have the same
size. Every problem is a one-line :class:`Pix2GanError` naming the file and the fix.

Training takes random ``tile`` x ``tile`` crops, the same place in both images, with random
flips; the crops of batch ``i`` depend only on ``(seed, i)``, so runs repeat exactly.
:func:`paired_report` scores a generator on whole images against the do-nothing baseline
(the cloudy input itself): PSNR, SSIM and spectral angle (SAM).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import cv2
import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import IMAGE_EXTENSIONS, list_images, read_image
from ..metrics import image_metrics, spectral_angle
from ..tiling import tile_starts, value_scale
from .common import AUTOTUNE

PAIRED_LAYOUTS = (("cloudy_image", "ground_truth"), ("A", "B"), ("cloudy", "clear"))
PAD_MULTIPLE = 16  # a U-Net with 4 stride-2 stages needs sides divisible by 16 (deeper ones: pass more)
_ARG = "data_dir"
METRICS = ("psnr", "ssim", "sam")  # reported for the model output and for the cloudy input
_LAYOUT_TEXT = ", ".join(f"{a}/ + {b}/" for a, b in PAIRED_LAYOUTS)
_EXT_TEXT = ", ".join(IMAGE_EXTENSIONS)


def _error(message: str) -> Pix2GanError:
    return Pix2GanError(message, argument=_ARG)


def _layout_in(folder: str) -> tuple[str, str] | None:
    """The first complete layout directly inside ``folder``, or None."""
    for a, b in PAIRED_LAYOUTS:
        if os.path.isdir(os.path.join(folder, a)) and os.path.isdir(os.path.join(folder, b)):
            return os.path.join(folder, a), os.path.join(folder, b)
    return None


def _half_layout(folder: str) -> str | None:
    """A message for a layout with one of its two folders missing in ``folder``, or None."""
    for a, b in PAIRED_LAYOUTS:
        has_a, has_b = os.path.isdir(os.path.join(folder, a)), os.path.isdir(os.path.join(folder, b))
        if has_a != has_b:
            there, missing = (a, b) if has_a else (b, a)
            return (f"folder {os.path.join(folder, there)} has no partner folder {os.path.join(folder, missing)}: "
                    f"put the {'targets' if has_a else 'inputs'} there under the same file names")
    return None


def _split_folders(root: str) -> list[str]:
    """Names of the subfolders of ``root`` that hold a complete layout."""
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)) and _layout_in(os.path.join(root, n)))


def holds_pairs(root: str | None) -> bool:
    """Whether ``root`` holds a paired layout, directly or one split folder down."""
    if not root or not os.path.isdir(root):
        return False
    return _layout_in(root) is not None or bool(_split_folders(root))


def find_pair_folders(root: str, split: str | None = None) -> tuple[str, str]:
    """``(input_dir, target_dir)`` for ``split`` below ``root``: ``root/<split>/<layout>`` if it
    exists, else ``root/<layout>`` (shared by every split)."""
    if not root or not os.path.isdir(root):
        raise _error(f"data folder {root} does not exist: check --data-dir")
    if split:
        found = _layout_in(os.path.join(root, split))
        if found:
            return found
        if os.path.isdir(os.path.join(root, split)) and _half_layout(os.path.join(root, split)):
            raise _error(_half_layout(os.path.join(root, split)))
    found = _layout_in(root)
    if found:
        return found
    problem = _half_layout(root)
    if problem:
        raise _error(problem)
    splits = _split_folders(root)
    if splits:
        if split:
            raise _error(f"data folder {root} has no {split}/ pairs: its split folders are {', '.join(splits)}; "
                         "pass one of those")
        raise _error(f"data folder {root} holds pairs only per split ({', '.join(splits)}): pass a split")
    raise _error(f"data folder {root} holds no paired folders: put inputs and targets in {_LAYOUT_TEXT} "
                 f"(directly or under <split>/), with matching file names")


def _by_stem(folder: str, role: str) -> dict[str, str]:
    """{file stem: path} of the images in ``folder``; refuses missing, empty and duplicate stems."""
    if not os.path.isdir(folder):
        raise _error(f"{role} folder {folder} does not exist: check --data-dir")
    found: dict[str, str] = {}
    for path in list_images(folder):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in found:
            raise _error(f"{role} folder {folder} holds both {os.path.basename(found[stem])} and "
                         f"{os.path.basename(path)}: keep one file per name")
        found[stem] = path
    if not found:
        raise _error(f"{role} folder {folder} holds no images ({_EXT_TEXT}): put the {role} images there")
    return found


def _first_names(stems: set[str], files: dict[str, str], limit: int = 3) -> str:
    names = [os.path.basename(files[s]) for s in sorted(stems)[:limit]]
    return ", ".join(names) + (f" and {len(stems) - limit} more" if len(stems) > limit else "")


def list_pairs(input_dir: str, target_dir: str) -> list[tuple[str, str]]:
    """``(input_path, target_path)`` pairs matched by file name without extension, in the
    input folder's natural order; every image must have a partner."""
    inputs, targets = _by_stem(input_dir, "input"), _by_stem(target_dir, "target")
    lonely_in, lonely_tg = set(inputs) - set(targets), set(targets) - set(inputs)
    if lonely_in or lonely_tg:
        parts = []
        if lonely_in:
            parts.append(f"{len(lonely_in)} image(s) in {input_dir} have no partner in {target_dir} "
                         f"({_first_names(lonely_in, inputs)})")
        if lonely_tg:
            parts.append(f"{len(lonely_tg)} image(s) in {target_dir} have no partner in {input_dir} "
                         f"({_first_names(lonely_tg, targets)})")
        raise _error("; ".join(parts) + ": add or rename files so each name is in both folders")
    return [(path, targets[stem]) for stem, path in inputs.items()]


def _read_raw(path: str) -> tuple[np.ndarray, float]:
    """One 3-channel image in its own dtype and the number that maps it to [0, 1]."""
    try:
        image = read_image(path, channels=3)
    except Pix2GanError as e:  # same message, but blamed on the data folder for the command line
        raise _error(str(e)) from e
    except cv2.error as e:
        raise _error(f"image {path} could not be decoded ({str(e).strip().splitlines()[-1]}): replace or remove it") from e
    return image, value_scale(image, path)


def _read_raw_pair(input_path: str, target_path: str):
    x, sx = _read_raw(input_path)
    y, sy = _read_raw(target_path)
    if x.shape[:2] != y.shape[:2]:
        raise _error(f"input {input_path} is {x.shape[1]}x{x.shape[0]} but target {target_path} is "
                     f"{y.shape[1]}x{y.shape[0]}: a pair must have the same size")
    return x, sx, y, sy


def _unit(image: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) / np.float32(scale), 0.0, 1.0)


def read_pair(input_path: str, target_path: str) -> tuple[np.ndarray, np.ndarray]:
    """The pair as float32 (H, W, 3) arrays in [0, 1]; refuses unreadable files, other channel
    counts than 3 and unequal sizes, naming the files."""
    x, sx, y, sy = _read_raw_pair(input_path, target_path)
    return _unit(x, sx), _unit(y, sy)


def paired_images(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Names (input file stems), inputs and targets of whole pairs, float32 in [0, 1], any sizes."""
    names, xs, ys = [], [], []
    for input_path, target_path in pairs:
        x, y = read_pair(input_path, target_path)
        names.append(os.path.splitext(os.path.basename(input_path))[0])
        xs.append(x)
        ys.append(y)
    return names, xs, ys


def _check_tile_args(pairs, tile: int, batch_size: int) -> None:
    if not pairs:
        raise _error("no image pairs given: check --data-dir")
    if int(tile) < 1:
        raise Pix2GanError(f"tile {tile} must be at least 1", argument="tile")
    if int(batch_size) < 1:
        raise Pix2GanError(f"batch_size {batch_size} must be at least 1", argument="batch_size")


def _check_fits(path: str, image: np.ndarray, tile: int) -> None:
    h, w = image.shape[:2]
    if h < tile or w < tile:
        raise _error(f"image {path} is {w}x{h}, smaller than the {tile}x{tile} training tile: "
                     "remove it, or use a smaller tile")


def paired_dataset(pairs: Sequence[tuple[str, str]], tile: int, batch_size: int, seed: int = 0,
                   training: bool = True) -> tf.data.Dataset:
    """Batches of ``(cloudy, clear)`` float32 ``tile`` x ``tile`` crops in [0, 1].

    Training: every pair is decoded once and held in memory in its own dtype (8-bit RICE:
    1.5 MB per 512x512 pair); batch ``i`` draws images uniformly with replacement, a random
    crop at the same place in both, and random left-right / up-down flips, all from a
    generator keyed by ``(seed, i)``, so the stream repeats exactly; endless, full batches.
    Otherwise: each pair once, in order, cut into the tiles that cover it (the last one of a
    row or column moved back to end at the border), no flips; the last batch may be partial.
    An image smaller than ``tile`` on either side is refused, naming it.
    """
    _check_tile_args(pairs, tile, batch_size)
    tile, batch_size, seed = int(tile), int(batch_size), int(seed)
    if not training:
        spec = tf.TensorSpec((tile, tile, 3), tf.float32)
        for input_path, target_path in pairs:  # fail now, naming the file, not inside the first batch
            _check_fits(input_path, _read_raw_pair(input_path, target_path)[0], tile)
        return tf.data.Dataset.from_generator(lambda: _eval_tiles(pairs, tile), output_signature=(spec, spec)) \
            .batch(batch_size).prefetch(AUTOTUNE)
    held = []
    for input_path, target_path in pairs:
        x, sx, y, sy = _read_raw_pair(input_path, target_path)
        _check_fits(input_path, x, tile)
        held.append((x, np.float32(sx), y, np.float32(sy)))

    def crop_batch(index):
        # numpy_function: the scenes differ in size and stay on the host, never embedded in the graph
        rng = np.random.default_rng([seed, int(index)])
        xs, ys = [], []
        for k in rng.integers(len(held), size=batch_size):
            x, sx, y, sy = held[k]
            top = rng.integers(x.shape[0] - tile + 1)
            left = rng.integers(x.shape[1] - tile + 1)
            flip_lr, flip_ud = rng.random(2) < 0.5
            cx, cy = x[top:top + tile, left:left + tile], y[top:top + tile, left:left + tile]
            if flip_lr:
                cx, cy = cx[:, ::-1], cy[:, ::-1]
            if flip_ud:
                cx, cy = cx[::-1], cy[::-1]
            xs.append(_unit(cx, sx))
            ys.append(_unit(cy, sy))
        return np.stack(xs), np.stack(ys)

    def make(index):
        x, y = tf.numpy_function(crop_batch, [index], (tf.float32, tf.float32), stateful=False)
        x.set_shape((batch_size, tile, tile, 3))
        y.set_shape((batch_size, tile, tile, 3))
        return x, y

    return tf.data.Dataset.counter().map(make, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def _eval_tiles(pairs, tile: int):
    """Yield the covering tiles of every pair in order (read lazily, so memory stays one pair)."""
    for input_path, target_path in pairs:
        x, y = read_pair(input_path, target_path)
        for top in tile_starts(x.shape[0], tile, 0):
            for left in tile_starts(x.shape[1], tile, 0):
                yield x[top:top + tile, left:left + tile], y[top:top + tile, left:left + tile]


def pad_to_multiple(image: np.ndarray, multiple: int = PAD_MULTIPLE) -> np.ndarray:
    """Reflect-pad an (H, W, C) image at the bottom and right so both sides divide by ``multiple``."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="reflect")


def _scores(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    p, t = prediction[None], target[None]
    found = image_metrics(p, t, (0.0, 1.0))
    return {"psnr": float(found["psnr"][0]), "ssim": float(found["ssim"][0]), "sam": float(spectral_angle(p, t)[0])}



def _table(rows: list[dict], overall: dict) -> str:
    lines = ["| image | PSNR model | PSNR input | SSIM model | SSIM input | SAM model (deg) | SAM input (deg) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows + [dict(overall, name=f"all ({len(rows)})")]:
        cells = [f"{r[f'{who}_{m}']:.{4 if m == 'ssim' else 2}f}" for m in METRICS for who in ("model", "input")]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_report(generator_fn: Callable, pairs: Sequence[tuple[str, str]], multiple: int = PAD_MULTIPLE,
                  value_range: Sequence[float] = (0.0, 1.0)) -> dict:
    """Score ``generator_fn`` on whole pairs: PSNR (data range 1), SSIM (max 1) and SAM (degrees)
    of its output against the target, next to the same for the cloudy input (do-nothing baseline).

    ``generator_fn`` maps a (1, H, W, 3) float32 batch in ``value_range`` to its output in the
    same range; each image is reflect-padded to a multiple of ``multiple`` first and the output
    cropped back, so U-Nets take any size (one trace per distinct padded size). Returns
    ``{"rows": [{"name", "model_psnr", "input_psnr", "model_ssim", "input_ssim", "model_sam",
    "input_sam"}, ...], "overall": {means of those}, "table": Markdown table}``.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    rows = []
    for input_path, target_path in pairs:
        x, y = read_pair(input_path, target_path)
        h, w = x.shape[:2]
        if min(h, w) < 11:  # tf.image.ssim's 11x11 window
            raise _error(f"image {input_path} is {w}x{h}: scoring needs at least 11x11 pixels")
        padded = pad_to_multiple(x, int(multiple)) * (hi - lo) + lo
        out = np.asarray(generator_fn(tf.constant(padded[None])), np.float32)[0, :h, :w]
        out = np.clip((out - lo) / (hi - lo), 0.0, 1.0)
        row = {"name": os.path.splitext(os.path.basename(input_path))[0]}
        row |= {f"model_{k}": v for k, v in _scores(out, y).items()}
        row |= {f"input_{k}": v for k, v in _scores(x, y).items()}
        rows.append(row)
    if not rows:
        raise _error("no image pairs to score: check --data-dir and the split")
    overall = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "name"}
    return {"rows": rows, "overall": overall, "table": _table(rows, overall)}
