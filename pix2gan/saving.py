"""Saving trained networks so plain Keras can load them, without ever leaving half-written files.

- Single files are written to a temporary name, flushed to disk (fsync) and renamed into place.
- A run's set (generator, its weights, discriminator, model card) is staged in a hidden folder
  and committed by one rename of that folder; the files then move into place, card last. A
  kill after the commit is finished by the next run (:func:`clean_stale`), one before it leaves
  the old set untouched. The card records each file's sha256, and :func:`load_model` reports a
  file that does not match its card.
- Resumable training backups (:class:`BackupStore`) are numbered by step and checked by hash, so a
  truncated or corrupt one is named and skipped for the previous good one.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import random
import re
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import h5py
import keras
import numpy as np
import tensorflow as tf

from . import layers as _layers  # noqa: F401  (registers the custom layers before loading)
from .errors import Pix2GanError

logger = logging.getLogger("pix2gan")


# ---------------------------------------------------------------------------- files on disk

def fsync_path(path: str) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename after it never exposes a hole."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a temporary file of a live process is not stale)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def check_finite(model: keras.Model) -> None:
    """Refuse to save a model with NaN or infinite weights (a diverged run must not overwrite good files)."""
    for w in model.weights:
        if not np.all(np.isfinite(np.asarray(w))):
            raise Pix2GanError(f"model {model.name} has non-finite weights in {w.path}: training diverged, "
                               "nothing was saved; lower the learning rate or resume from the last backup")


def atomic_write(path: str, write) -> str:
    """Call ``write(tmp)`` on a temporary name beside ``path``, flush it to disk and rename it over
    ``path``, so a crash leaves either the old file or the whole new one; returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    stem, ext = (base[:-len(".weights.h5")], ".weights.h5") if base.endswith(".weights.h5") else os.path.splitext(base)
    tmp = os.path.join(folder, f".{stem}.tmp{os.getpid()}{ext}")
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(folder)
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
        full = atomic_write(os.path.join(out_dir, f"{stem}.h5"), lambda p: model.save(p, include_optimizer=False))
    finally:
        absl_logger.setLevel(level)
    weights = atomic_write(os.path.join(out_dir, f"{stem}.weights.h5"), model.save_weights)
    return {"model": full, "weights": weights}


def text_writer(text: str):
    """A ``write(path)`` for :func:`atomic_write` that writes ``text``."""
    def write(path):
        with open(path, "w") as f:
            f.write(text)
    return write


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
    atomic_write(os.path.join(out_dir, f"{stem}.md"), text_writer("\n".join(lines) + "\n"))
    # the JSON last: a card whose .json exists is complete
    return atomic_write(os.path.join(out_dir, f"{stem}.json"), text_writer(json.dumps(card, indent=2, default=str) + "\n"))


# ---------------------------------------------------------------------------- whole sets

_STAGE = re.compile(r"^\.(?P<run>.+)\.saving(?P<pid>\d+)$")
_COMMIT = re.compile(r"^\.(?P<run>.+)\.commit$")
_TMP_FILE = re.compile(r"^\..+\.tmp(?P<pid>\d+)(\.[A-Za-z0-9.]+)?$")


def _commit_order(name: str) -> tuple:
    # model files first, then the Markdown card, the JSON card (the mark of a whole set) last
    return (name.endswith(".json"), name.endswith(".md"), name)


def _finish_commit(commit: str, out_dir: str) -> None:
    """Move every file of a committed set into ``out_dir`` (card last) and remove the commit folder."""
    names = sorted((n for n in os.listdir(commit) if not n.startswith(".")), key=_commit_order)
    for name in names:
        os.replace(os.path.join(commit, name), os.path.join(out_dir, name))
    fsync_path(out_dir)
    _remove(commit)


def clean_stale(folder: str) -> list[str]:
    """Tidy ``folder`` after killed runs: finish committed but unmoved model sets, delete unfinished
    staging folders and temporary files whose process is gone. Returns what was done, one line each."""
    done: list[str] = []
    if not os.path.isdir(folder):
        return done
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        commit, stage, tmp = _COMMIT.match(name), _STAGE.match(name), _TMP_FILE.match(name)
        if commit and os.path.isdir(path):
            if any(n.endswith(".json") for n in os.listdir(path)):
                _finish_commit(path, folder)
                done.append(f"finished the interrupted save of run {commit['run']} in {folder}")
            else:  # a commit folder always holds its card; anything else is not ours to finish
                _remove(path)
                done.append(f"removed the incomplete save {path}")
        elif stage and os.path.isdir(path) and not pid_alive(int(stage["pid"])):
            _remove(path)
            done.append(f"removed the unfinished save {path} of a killed run")
        elif tmp and not stage and not pid_alive(int(tmp["pid"])):
            _remove(path)
            done.append(f"removed the temporary file {path} of a killed run")
    for line in done:
        logger.info("%s", line)
    return done


def save_run(out_dir: str, run_name: str, generator: keras.Model, card: dict,
             discriminator: keras.Model | None = None, *, label: str = "generator",
             others: Mapping[str, keras.Model] | None = None) -> dict[str, str]:
    """Save a finished run: ``<run>_<label>`` (.h5 + .weights.h5) for the generator, the
    discriminator and every model of ``others`` ({label: model}, e.g. CycleGAN's second generator
    and discriminators) likewise, and a model card (``card`` plus the files, their sha256 and how to
    load the generator) next to every generator (``<run>_<label>.json``/``.md`` for each label that
    starts with ``generator``). Returns the paths: each label, ``<label>_weights`` for the first
    generator, and ``card`` (the first generator's).

    The set is written whole or not at all: every file goes to a staging folder, which is renamed
    to ``.<run>.commit`` once complete; the files then move into ``out_dir``, the cards last. A
    kill before that rename leaves the previous set as it was; a kill after it is finished by the
    next :func:`clean_stale` (every training run calls it)."""
    models = {label: generator, **({"discriminator": discriminator} if discriminator is not None else {}),
              **dict(others or {})}
    for model in models.values():
        check_finite(model)
    os.makedirs(out_dir, exist_ok=True)
    clean_stale(out_dir)
    stage = os.path.join(out_dir, f".{run_name}.saving{os.getpid()}")
    commit = os.path.join(out_dir, f".{run_name}.commit")
    _remove(stage)
    os.makedirs(stage)
    try:
        parts = {}
        for name, model in models.items():
            staged = save_model_files(model, stage, f"{run_name}_{name}")
            parts[name], parts[f"{name}_weights"] = staged["model"], staged["weights"]
        final = {k: os.path.join(out_dir, os.path.basename(v)) for k, v in parts.items()}
        hashes = {os.path.basename(v): file_sha256(v) for v in parts.values()}
        listed = {k: v for k, v in final.items() if k in models or k == f"{label}_weights"}
        for name in (n for n in models if n.startswith("generator")):
            write_model_card(stage, f"{run_name}_{name}", {
                **card, "files": listed, "sha256": hashes,
                "load": f"keras.models.load_model('{final[name]}', compile=False)"})
        fsync_path(stage)
        os.replace(stage, commit)  # the commit point: from here on the whole new set wins
        fsync_path(out_dir)
    except BaseException:
        _remove(stage)
        raise
    _finish_commit(commit, out_dir)
    return {**listed, "card": os.path.join(out_dir, f"{run_name}_{label}.json")}


def _card_for(path: str) -> str | None:
    """The model card of a saved model file: ``<stem>.json``, or for a discriminator the card of a
    generator of the same run (``<run>_generator*.json``)."""
    folder, base = os.path.split(os.path.abspath(path))
    stem = base
    for suffix in (".weights.h5", ".h5", ".keras"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    if os.path.isfile(os.path.join(folder, stem + ".json")):
        return os.path.join(folder, stem + ".json")
    cut = stem.rfind("_discriminator")
    if cut > 0:
        cards = sorted(glob.glob(os.path.join(glob.escape(folder), glob.escape(stem[:cut]) + "_generator*.json")))
        if cards:
            return cards[0]
    return None


def check_against_card(path: str) -> None:
    """Raise :class:`Pix2GanError` if ``path`` belongs to a set whose save is unfinished, or differs
    from the sha256 its model card records (a file of another save). Files without a card, or
    named in a card written before hashes were recorded, pass."""
    folder, base = os.path.split(os.path.abspath(path))
    for commit in glob.glob(os.path.join(glob.escape(folder), ".*.commit")):
        if os.path.isdir(commit) and base in os.listdir(commit):
            raise Pix2GanError(f"model file {path} is part of an unfinished save ({commit}): run the same training "
                               "again (same --run-name) to finish it, or wait for the save in progress",
                               argument="path")
    card_path = _card_for(path)
    if card_path is None:
        return
    try:
        with open(card_path) as f:
            recorded = (json.load(f).get("sha256") or {}).get(base)
    except (OSError, ValueError, AttributeError):
        return  # an unreadable card is reported by the code that reads cards
    if recorded and file_sha256(path) != recorded:
        raise Pix2GanError(f"model file {path} does not match its model card {card_path} (sha256 differs): the "
                           "files come from different saves; re-run the training with the same --run-name to write "
                           "a whole set, or delete the card to load the file anyway", argument="path")


def load_model(path: str) -> keras.Model:
    """Load a saved ``.h5`` / ``.keras`` model for inference (no optimizer), with a clear error.
    A file that does not match the sha256 in its model card is refused (see :func:`check_against_card`)."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"model file {path} does not exist: train one first (pix2gan train ...) or fix --model/--weights")
    check_against_card(path)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py/keras raise many types for a bad file
        raise Pix2GanError(f"model file {path} could not be loaded ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}): pass a .h5 or .keras file saved by pix2gan or Keras") from None


# ---------------------------------------------------------------------------- resumable backups

BACKUP_FORMAT = 1
_CKPT = re.compile(r"^ckpt-(?P<step>\d+)\.json$")


@dataclass
class TrainingState:
    """Where a run stands: ``step`` finished steps, the learning-rate scale and rollbacks so far
    (see ``on_nan='rollback'``), the random state (Keras seed generators, Python, NumPy) and the
    running means of the metric trackers. Held in a backup beside the weights."""
    step: int = 0
    lr_scale: float = 1.0
    rollbacks: int = 0
    seeds: list = field(default_factory=list)
    python_rng: list | None = None
    numpy_rng: list | None = None
    trackers: dict = field(default_factory=dict)
    steps_per_epoch: int | None = None
    path: str | None = None  # the backup it came from


def seed_variables(model: keras.Model) -> list:
    """The state variables of every ``keras.random.SeedGenerator`` in ``model`` (dropout layers,
    a trainer's noise source): part of ``model.variables`` but not of the weights file."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights and v.name == "seed_generator_state"]


def _optimizers(model: keras.Model) -> list:
    named = getattr(model, "optimizers", None)
    if isinstance(named, dict) and named:
        return list(named.values())
    return [model.optimizer] if getattr(model, "optimizer", None) is not None else []


def state_variables(model: keras.Model) -> list:
    """Every variable a backup restores through the weights file: weights and optimizer state."""
    return list(model.weights) + [v for opt in _optimizers(model) for v in opt.variables]


def model_signature(model: keras.Model) -> str:
    """A short hash of the shapes and dtypes of :func:`state_variables` (names hold auto-numbering)."""
    layout = [[list(v.shape), str(v.dtype)] for v in state_variables(model)]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]


def all_finite(variables) -> bool:
    """Whether every float variable holds only finite values (one fused sum per variable)."""
    sums = [tf.reduce_sum(tf.cast(v, tf.float32)) for v in variables if "float" in str(v.dtype)]
    return not sums or bool(np.isfinite(float(tf.add_n(sums))))


def capture_state(model: keras.Model, step: int, lr_scale: float = 1.0, rollbacks: int = 0,
                  steps_per_epoch: int | None = None) -> TrainingState:
    """The :class:`TrainingState` of ``model`` now, after ``step`` steps."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    trackers = {m.name: [np.asarray(v).tolist() for v in m.variables] for m in getattr(model, "metrics", [])}
    return TrainingState(step=int(step), lr_scale=float(lr_scale), rollbacks=int(rollbacks),
                         seeds=[np.asarray(v).tolist() for v in seed_variables(model)],
                         python_rng=[version, list(internal), gauss],
                         numpy_rng=[kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
                         trackers=trackers, steps_per_epoch=steps_per_epoch)


def restore_random_state(model: keras.Model, state: TrainingState) -> None:
    """Put back the seed generators' states and the Python and NumPy global random states."""
    seeds = seed_variables(model)
    if len(seeds) == len(state.seeds):
        for var, value in zip(seeds, state.seeds):
            var.assign(np.asarray(value, dtype=str(var.dtype)))
    elif state.seeds:
        logger.warning("the backup holds %d random seed states, the model has %d: random draws after the resume "
                       "differ from the interrupted run", len(state.seeds), len(seeds))
    if state.python_rng:
        version, internal, gauss = state.python_rng
        random.setstate((version, tuple(internal), gauss))
    if state.numpy_rng:
        kind, keys, pos, has_gauss, cached = state.numpy_rng
        np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, cached))


class BackupStore:
    """Resumable backups of a trainer in ``folder``: ``ckpt-<step>.weights.h5`` (``save_weights``:
    networks and every optimizer) and ``ckpt-<step>.json`` (the :class:`TrainingState`, the weights
    file's size and sha256, and the model's layout).

    Each file is written under a temporary name, flushed and renamed; the JSON is written last and
    marks the backup complete. The newest ``keep`` backups stay, so the previous one survives
    until a newer one is whole, and a backup that turns out corrupt falls back to the one before.
    A Keras ``BackupAndRestore`` backup (``latest.weights.h5``) of an older version is read too.
    """

    def __init__(self, folder: str, keep: int = 2):
        self.folder = folder
        self.keep = max(1, int(keep))

    def _paths(self, step: int) -> tuple[str, str]:
        stem = os.path.join(self.folder, f"ckpt-{step:010d}")
        return stem + ".weights.h5", stem + ".json"

    def steps(self) -> list[int]:
        """Steps of the backups there are (complete or not), newest first."""
        if not os.path.isdir(self.folder):
            return []
        found = {int(m["step"]) for m in map(_CKPT.match, os.listdir(self.folder)) if m}
        found |= {int(n[5:15]) for n in os.listdir(self.folder)
                  if n.startswith("ckpt-") and n.endswith(".weights.h5") and n[5:15].isdigit()}
        return sorted(found, reverse=True)

    def save(self, model: keras.Model, state: TrainingState) -> str:
        """Write a backup of ``model`` at ``state.step``; then drop all but the newest ``keep``
        backups up to that step, and every later one (left from before a rollback)."""
        os.makedirs(self.folder, exist_ok=True)
        weights, meta = self._paths(state.step)
        tmp = os.path.join(self.folder, f".ckpt-{state.step:010d}.tmp{os.getpid()}.weights.h5")
        try:
            model.save_weights(tmp, overwrite=True)
            fsync_path(tmp)
            size, digest = os.path.getsize(tmp), file_sha256(tmp)
            os.replace(tmp, weights)
        finally:
            _remove(tmp)
        record = {"format": BACKUP_FORMAT, "weights": os.path.basename(weights), "size": size, "sha256": digest,
                  "signature": model_signature(model), "written": time.strftime("%Y-%m-%d %H:%M:%S"),
                  **dataclasses.asdict(dataclasses.replace(state, path=None))}
        atomic_write(meta, text_writer(json.dumps(record)))
        older = [s for s in self.steps() if s < state.step][self.keep - 1:]
        for step in older + [s for s in self.steps() if s > state.step]:
            for path in self._paths(step):
                _remove(path)
        for legacy in ("latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp",
                       "training_metadata.json.bkp"):
            _remove(os.path.join(self.folder, legacy))
        return weights

    def clean(self) -> list[str]:
        """Remove temporary backup files of killed runs."""
        return clean_stale(self.folder)

    def _problem(self, step: int, signature: str) -> tuple[str, dict | None]:
        """('', record) for a usable backup, ('corrupt ...' or 'incomplete ...', None) otherwise;
        raises :class:`Pix2GanError` for a backup of a different model."""
        weights, meta = self._paths(step)
        if not os.path.isfile(meta):
            return f"incomplete backup {weights} (no {os.path.basename(meta)}: the write was interrupted)", None
        try:
            with open(meta) as f:
                record = json.load(f)
            expected_size, expected_hash = int(record["size"]), str(record["sha256"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"corrupt backup {meta} ({type(exc).__name__}: unreadable record)", None
        if not os.path.isfile(weights):
            return f"incomplete backup {meta} (its weights file {os.path.basename(weights)} is missing)", None
        size = os.path.getsize(weights)
        if size != expected_size:
            return f"corrupt backup {weights} ({size} bytes, {expected_size} written: truncated or overwritten)", None
        if file_sha256(weights) != expected_hash:
            return f"corrupt backup {weights} (its sha256 differs from the one recorded when it was written)", None
        if record.get("signature") != signature:
            raise Pix2GanError(f"{weights} holds a backup of a different model (other layer or optimizer shapes): "
                               "choose another --run-name, or delete the run folder to start over",
                               argument="run_name")
        return "", record

    def newest_good(self, signature: str) -> int:
        """The step of the newest usable backup (-1: none), checked as :meth:`restore` checks it."""
        for step in self.steps():
            if not self._problem(step, signature)[0]:
                return step
        return -1

    def restore(self, model: keras.Model, steps_per_epoch: int | None = None,
                at_most: int | None = None) -> TrainingState | None:
        """Load the newest good backup (of step ``at_most`` or earlier, where given) into ``model``
        and return its state (None: no backup, start from step 0). Corrupt and incomplete backups
        are named in a warning and skipped."""
        signature = model_signature(model)
        for step in self.steps():
            if at_most is not None and step > at_most:
                continue
            problem, record = self._problem(step, signature)
            if problem:
                logger.warning("%s; falling back to the previous backup", problem)
                continue
            weights, _ = self._paths(step)
            self._load(model, weights)
            known = {f.name for f in dataclasses.fields(TrainingState)}
            state = TrainingState(**{k: v for k, v in record.items() if k in known})
            state.path = weights
            restore_random_state(model, state)
            return state
        return self._restore_legacy(model, steps_per_epoch)

    def _load(self, model: keras.Model, weights: str) -> None:
        try:
            with warnings.catch_warnings():  # a mismatch warns once per layer before it raises
                warnings.simplefilter("ignore")
                model.load_weights(weights)
        except Exception as exc:
            raise Pix2GanError(f"{weights} holds a backup of a different model ({type(exc).__name__}): choose "
                               "another --run-name, or delete the run folder to start over",
                               argument="run_name") from None

    def _restore_legacy(self, model: keras.Model, steps_per_epoch: int | None) -> TrainingState | None:
        weights = os.path.join(self.folder, "latest.weights.h5")
        if not os.path.isfile(weights):
            if self.steps():
                logger.warning("no usable backup in %s: training starts over from step 0", self.folder)
            return None
        try:
            h5py.File(weights, "r").close()
        except OSError as exc:
            logger.warning("corrupt backup %s (%s: truncated, probably by a kill while it was written); training "
                           "starts over from step 0", weights, str(exc).splitlines()[0][:120])
            return None
        self._load(model, weights)
        epoch = 0
        try:
            with open(os.path.join(self.folder, "training_metadata.json")) as f:
                epoch = int(json.load(f)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return TrainingState(step=epoch * (steps_per_epoch or 0), steps_per_epoch=steps_per_epoch, path=weights)
