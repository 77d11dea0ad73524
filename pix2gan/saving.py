"""Saving trained networks so plain Keras can load them, without ever leaving half-written files."""
from __future__ import annotations

import json
import logging
import os
import time

import keras
import numpy as np

from . import layers as _layers  # noqa: F401  (registers the custom layers before loading)
from .errors import Pix2GanError


def check_finite(model: keras.Model) -> None:
    """Refuse to save a model with NaN or infinite weights (a diverged run must not overwrite good files)."""
    for w in model.weights:
        if not np.all(np.isfinite(np.asarray(w))):
            raise Pix2GanError(f"model {model.name} has non-finite weights in {w.path}: training diverged, "
                               "nothing was saved; lower the learning rate or resume from the last backup")


def _atomic(path: str, write) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    stem, ext = (base[:-len(".weights.h5")], ".weights.h5") if base.endswith(".weights.h5") else os.path.splitext(base)
    tmp = os.path.join(folder, f".{stem}.tmp{os.getpid()}{ext}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_model_files(model: keras.Model, out_dir: str, stem: str) -> dict[str, str]:
    """Write ``<out_dir>/<stem>.h5`` (full model, loadable by ``keras.models.load_model``) and
    ``<out_dir>/<stem>.weights.h5``. Each file is written to a temporary name and renamed, so a
    crash never leaves a truncated file in place of a good one."""
    check_finite(model)
    # .h5 is chosen on purpose (loadable by any Keras); silence Keras's "legacy format" notice.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        full = _atomic(os.path.join(out_dir, f"{stem}.h5"), lambda p: model.save(p, include_optimizer=False))
    finally:
        absl_logger.setLevel(level)
    weights = _atomic(os.path.join(out_dir, f"{stem}.weights.h5"), model.save_weights)
    return {"model": full, "weights": weights}


def write_model_card(out_dir: str, stem: str, card: dict) -> str:
    """Write ``<out_dir>/<stem>.json`` (for code, read back by ``pix2gan.zoo.from_card``) and
    ``<stem>.md`` (for people) describing a run; return the JSON path."""
    card = {"written": time.strftime("%Y-%m-%d %H:%M:%S"), **card}
    lines = [f"# {stem}", ""]
    for key, value in card.items():
        if isinstance(value, dict):
            lines.append(f"- **{key}**:")
            lines += [f"  - {k}: {v:.4f}" if isinstance(v, float) else f"  - {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"- **{key}**: {value}")
    _atomic(os.path.join(out_dir, f"{stem}.md"), lambda p: open(p, "w").write("\n".join(lines) + "\n"))
    # the JSON last: a card whose .json exists is complete
    return _atomic(os.path.join(out_dir, f"{stem}.json"),
                   lambda p: open(p, "w").write(json.dumps(card, indent=2, default=str) + "\n"))


def save_run(out_dir: str, run_name: str, generator: keras.Model, card: dict,
             discriminator: keras.Model | None = None) -> dict[str, str]:
    """Save a finished run: ``<run>_generator`` (.h5 + .weights.h5), the discriminator likewise,
    and the model card (``card`` plus the files and how to load the generator). Returns the
    paths: ``generator``, ``generator_weights``, ``discriminator``, ``card``."""
    saved = save_model_files(generator, out_dir, f"{run_name}_generator")
    paths = {"generator": saved["model"], "generator_weights": saved["weights"]}
    if discriminator is not None:
        paths["discriminator"] = save_model_files(discriminator, out_dir, f"{run_name}_discriminator")["model"]
    paths["card"] = write_model_card(out_dir, f"{run_name}_generator", {
        **card, "files": dict(paths), "load": f"keras.models.load_model('{saved['model']}', compile=False)"})
    return paths


def load_model(path: str) -> keras.Model:
    """Load a saved ``.h5`` / ``.keras`` model for inference (no optimizer), with a clear error."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"model file {path} does not exist: train one first (pix2gan train ...) or fix --model/--weights")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py/keras raise many types for a bad file
        raise Pix2GanError(f"model file {path} could not be loaded ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}): pass a .h5 or .keras file saved by pix2gan or Keras") from None
