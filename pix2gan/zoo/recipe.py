"""The recipe contract every zoo entry fulfils, and the train / evaluate / sample flow, written once.

A zoo entry is a frozen dataclass of its settings (every field made with
:func:`pix2gan.settings.setting`: typed, with a default and a help text) that subclasses
:class:`Recipe` and supplies a few hooks:

- ``holds_data(folder)`` / ``download_data(options)``: where its data set lives;
- ``load_data(source, options, split, seed)``: the pipelines for training (``split=None``) or
  for scoring one split, as a :class:`Data`;
- ``build_trainer(total_steps, seed, jit_compile)``: its networks and compiled trainer;
- ``grid_renderer(data)``: the per-epoch sample grid; ``extra_callbacks(...)``: anything else
  logged per epoch;
- ``final_metrics(...)`` after training and ``score(...)`` for ``evaluate``;
- ``draw_samples(...)`` for entries that generate from noise.

Everything else (seeding, finding the data with the synthetic fallback, counting steps, fit with
TensorBoard and resumable backups, saving the generator, discriminator and model card, loading
saved weights for ``evaluate`` and ``sample``) lives here. Progress and notes go to the
``pix2gan`` logger and Keras's ``verbose`` progress bar.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal

import h5py
import keras
import numpy as np
import tensorflow as tf

from .. import __version__
from ..allocator import allocator_state, tune_allocator
from ..callbacks import ImageGridCallback
from ..distribute import STRATEGIES, agree_min, describe, is_chief, is_multi_worker, make_strategy, worker_index
from ..errors import Pix2GanError
from ..imaging import check_output_file, tile_batch, to_uint8, write_image
from ..modelcheck import require_image_generator
from ..precision import PRECISIONS, float32_copy, precision_scope, resolve_precision
from ..report import write_report
from ..saving import clean_stale, load_model, save_run
from ..settings import as_dict, build, setting, specs, validate
from ..training import backup_dir_for, fit_gan, run_dir_for

logger = logging.getLogger("pix2gan")
DATASETS = "datasets"
CARD_VERSION = 2


@dataclass(frozen=True)
class RunOptions:
    """How one training run is carried out, as opposed to what is trained: ``Recipe.train``'s
    keyword arguments (``epochs`` and ``batch_size`` are recipe settings)."""
    data_dir: str | None = setting(None, "folder with the data set (default: datasets/<data set> if it is "
                                         "there, else a download when asked, else the built-in synthetic set)")
    steps_per_epoch: int | None = setting(None, "steps per epoch (default: one pass over the training data, rounded "
                                                "down to a whole number of steps_per_execution calls)", min=1)
    steps_per_execution: int | None = setting(
        None, "training steps per call of the compiled step: one Python round trip for that many steps, for small "
              "steps (default: the entry's; 1 for most; each fit() uses the largest count up to this that divides "
              "its steps, so epochs and resumes stay exact)", min=1)
    logdir: str = setting("logs", "TensorBoard root; the run goes to LOGDIR/RUN_NAME")
    out: str = setting("models", "folder for the saved models and model cards")
    run_name: str | None = setting(None, "run name (default: the entry's name); re-running with the same name "
                                         "resumes from its last finished epoch")
    seed: int = setting(0, "random seed")
    jit_compile: bool = setting(False, "compile the training step with XLA")
    precision: Literal[PRECISIONS] = setting(
        "auto", "numeric precision: 'float32', 'mixed_bfloat16' (CPUs with AVX512_BF16/AMX, recent GPUs), "
                "'mixed_float16' (GPUs, with loss scaling), or 'auto': $PIX2GAN_PRECISION if set, else the fastest "
                "this machine runs natively for entries measured unchanged by it, else float32 (see pix2gan.precision)")
    verbose: int = setting(1, "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch", min=0, max=2)
    backup_every: int | None = setting(None, "steps between resumable backups in LOGDIR/RUN_NAME/backup (default: "
                                             "automatic, about every 2 minutes of training); a kill loses at most "
                                             "these steps", min=1)
    deterministic: bool = setting(False, "TF op determinism: the same seed gives the same weights, and a killed "
                                         "and resumed run ends with the uninterrupted run's weights (slower on GPU)")
    on_nan: Literal["stop", "rollback"] = setting(
        "stop", "at a non-finite loss or gradient: 'stop' the run at that step (nothing is saved), or 'rollback' to "
                "the last good backup with halved learning rates (at most 3 times)")
    strategy: Literal[STRATEGIES] = setting(
        "default", "tf.distribute strategy: 'default' (one device), 'mirrored' (data-parallel over this machine's "
                   "GPUs, or --devices, or --cpu-replicas logical CPUs), 'multiworker' (over the machines of "
                   "TF_CONFIG or --workers), 'tpu' (untested); the batch size is the global batch, split between "
                   "replicas (see docs/distributed.md)")
    devices: str | None = setting(None, "with --strategy mirrored: the devices to use, comma-separated GPU indices "
                                        "or device names (default: every GPU)")
    cpu_replicas: int | None = setting(None, "split the CPU into this many logical devices before anything else, so "
                                             "distribution can be tried without GPUs", min=1)
    workers: str | None = setting(None, "with --strategy multiworker: every worker's host:port, comma-separated, the "
                                        "same list on every machine (instead of TF_CONFIG)")
    worker_index: int | None = setting(None, "with --workers: this machine's position in the list (0 is the chief, "
                                             "which alone writes models, logs and sample grids)", min=0)

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class DataOptions:
    """Where and how an entry reads its data and what it measures: not part of the trained model.
    Entries extend it with their own options."""
    download: bool = setting(False, "download the official data set into datasets/ if it is not there",
                             uses=("train", "evaluate"))
    synthetic: bool = setting(False, "use the built-in synthetic data set", uses=("train", "evaluate"))

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Source:
    """Where the data comes from: ``kind`` is 'folder', 'file' or 'synthetic'."""
    kind: str
    path: str | None = None


@dataclass
class Data:
    """What ``load_data`` hands to the flow: a description for logs and cards, the training
    pipeline and its size, an optional validation pipeline, and anything else the entry's own
    hooks need (``extra``)."""
    description: str
    train: tf.data.Dataset | None = None
    train_size: int = 0
    val: tf.data.Dataset | None = None
    val_steps: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A finished training run: the trainer, Keras's history, the final metrics and where the
    files went (``files``: every saved file by label)."""
    trainer: keras.Model
    history: keras.callbacks.History
    metrics: dict
    generator_path: str
    discriminator_path: str | None
    card_path: str
    run_dir: str
    files: dict = field(default_factory=dict)


def library_versions() -> dict:
    return {"pix2gan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "python": platform.python_version()}


@dataclass(frozen=True)
class Recipe:
    """Base class of the zoo entries (see the module doc). Build one with
    ``pix2gan.zoo.get(name, **settings)``."""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    dataset: ClassVar[str] = ""                       # folder under datasets/ and the data set's name in notes
    Options: ClassVar[type] = DataOptions
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    # precision='auto' trains this entry in mixed precision only where its bench quality was
    # measured unchanged under it (bench/precision.py) and its step faster (bench/run.py)
    auto_mixed: ClassVar[bool] = False
    # steps per call of the compiled step when the run does not say: >1 only where the step is so
    # short that Python's per-call cost shows (bench/run.py)
    default_steps_per_execution: ClassVar[int] = 1

    epochs: int = setting(1, "training epochs", min=1)
    batch_size: int = setting(1, "batch size", min=1, uses=("train", "evaluate"))

    def __post_init__(self):
        validate(self)
        self.check()

    # ----------------------------------------------------------------- settings
    def check(self) -> None:
        """Checks across settings (raise :class:`Pix2GanError`); single settings are checked
        against their field's domain already."""

    def settings(self) -> dict:
        """Every setting as JSON-ready values."""
        return as_dict(self)

    def replace(self, **changes) -> "Recipe":
        """A copy with ``changes`` applied (unknown names are refused, values checked)."""
        build(type(self), changes, f"setting(s) of {self.name}")
        return dataclasses.replace(self, **changes)

    def options(self, use: str, values: dict):
        """This entry's :attr:`Options` for command ``use`` ('train' or 'evaluate') from ``values``."""
        valid = [s.name for s in specs(self.Options, use)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise Pix2GanError(f"unknown {use} option(s) {', '.join(unknown)} for {self.name}: valid ones are "
                               f"{', '.join(valid) or 'none'}", argument=unknown[0])
        return self.Options(**values)

    # ----------------------------------------------------------------- hooks
    def default_locations(self) -> list[str]:
        """Where to look for the data set when no folder is given."""
        return [os.path.join(DATASETS, self.dataset)]

    def holds_data(self, path: str) -> bool:
        """Whether ``path`` holds this entry's data set."""
        return os.path.isdir(path) and bool(os.listdir(path))

    def explicit_source(self, options) -> Source | None:
        """A source named by an option (for example an .h5 file), which wins over folders."""
        return None

    def download_data(self, options, folder: str = DATASETS) -> str:
        """Download the official data set into ``folder``; return where it is."""
        raise Pix2GanError(f"zoo entry {self.name} cannot download its data: pass data_dir", argument="download")

    def load_data(self, source: Source, options, split: str | None, seed: int) -> Data:
        """Training pipelines (``split=None``) or the pipeline of one split to score."""
        raise NotImplementedError

    def for_generator(self, generator: keras.Model, weights: str) -> "Recipe":
        """The recipe adapted to a saved generator before scoring it (for example its image
        size); refuse a model of the wrong kind here, with :mod:`pix2gan.modelcheck`, before any
        data is read. The default accepts an image-to-image generator in :attr:`value_range`."""
        require_image_generator(generator, weights, argument="weights", needs=f"{self.name} needs",
                                value_range=self.value_range, fix=f"pass a {self.name} generator")
        return self

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        """The compiled trainer; ``total_steps`` is the whole run's length (for schedules)."""
        raise NotImplementedError

    def saved_models(self, trainer: keras.Model) -> dict[str, keras.Model]:
        """What a finished run saves, ``{label: model}`` as ``<out>/<run>_<label>.h5``: the first is
        the generator that ``evaluate`` and ``translate`` take (its card is ``<run>_<label>.json``)."""
        return {"generator": trainer.inference_generator, "discriminator": trainer.discriminator}

    def grid_renderer(self, data: Data) -> Callable[[keras.Model], np.ndarray] | None:
        """``render(trainer) -> uint8 grid`` drawn every epoch, or None."""
        return None

    def extra_callbacks(self, trainer: keras.Model, data: Data, options, run_dir: str,
                        seed: int) -> list[keras.callbacks.Callback]:
        return []

    def final_metrics(self, trainer: keras.Model, data: Data, history: keras.callbacks.History, options,
                      run_dir: str, seed: int) -> dict:
        """The numbers that go into the Run and the model card."""
        return {k: float(v[-1]) for k, v in history.history.items() if v}

    def score(self, generator: keras.Model, data: Data, options, seed: int) -> dict:
        """``evaluate``'s scores of a saved generator on ``data``."""
        raise NotImplementedError

    def report(self, scores: dict) -> str:
        """``evaluate``'s scores as text for people."""
        numbers = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))
        return f"{self.name} {scores.get('weights', '')} on {scores.get('data', '')} [{scores.get('split', '')}]: " \
               f"{numbers}"

    def draw_samples(self, generator: keras.Model, n: int, label: int | None, seed: int) -> tuple[np.ndarray, int]:
        """``n`` generated images and the grid's column count; entries that sample override it."""
        raise Pix2GanError(f"zoo entry {self.name} does not generate from noise, so it has no sample command: "
                           "use evaluate, or translate for image-to-image models")

    # ----------------------------------------------------------------- the flow
    def resolve_source(self, data_dir: str | None, options) -> Source:
        """``data_dir`` (downloaded into when asked and it holds no data) -> an option's own source ->
        ``datasets/<name>`` -> a download into ``datasets/`` when asked -> the built-in synthetic
        set (with a note)."""
        if options.synthetic:
            return Source("synthetic")
        explicit = self.explicit_source(options)
        if explicit is not None:
            return explicit
        if data_dir:
            if options.download and not (os.path.exists(data_dir) and self.holds_data(data_dir)):
                return Source("folder", self.download_data(options, data_dir))  # downloads land where asked
            return Source("file" if os.path.isfile(data_dir) else "folder", data_dir)
        for candidate in self.default_locations():
            if os.path.exists(candidate) and self.holds_data(candidate):
                return Source("file" if os.path.isfile(candidate) else "folder", candidate)
        if options.download:
            return Source("folder", self.download_data(options))
        logger.warning("note: no %s data found in %s (give a data folder, or download when online); using the "
                       "built-in synthetic set instead", self.dataset, " or ".join(self.default_locations()))
        return Source("synthetic")

    def train(self, data_dir: str | None = None, epochs: int | None = None, steps_per_epoch: int | None = None,
              batch_size: int | None = None, steps_per_execution: int | None = None, logdir: str = "logs",
              out: str = "models", run_name: str | None = None,
              seed: int = 0, jit_compile: bool = False, precision: str = "auto", verbose: int = 1,
              backup_every: int | None = None, deterministic: bool = False, on_nan: str = "stop",
              strategy: str = "default", devices: str | None = None, cpu_replicas: int | None = None,
              workers: str | None = None, worker_index: int | None = None, **data_options) -> Run:
        """Train this recipe and save ``<out>/<run>_generator.h5`` (+ ``.weights.h5``), the
        discriminator and the model card (JSON + Markdown); logs, sample grids and the resumable
        backup go to ``<logdir>/<run>``. ``epochs`` / ``batch_size`` override the recipe's;
        ``data_options`` are this entry's :attr:`Options`. Re-running with the same ``run_name``
        resumes at the step of the last backup (every ``backup_every`` steps); with
        ``deterministic=True`` it ends with the weights of an uninterrupted run. A non-finite loss
        stops the run (:class:`~pix2gan.training.TrainingDiverged`) or, with
        ``on_nan='rollback'``, rolls back to the last backup with lower learning rates.
        ``steps_per_execution`` runs that many steps per call of the compiled step (default: the
        entry's :attr:`default_steps_per_execution`; without ``steps_per_epoch`` an epoch is then
        one pass over the data rounded down to whole calls).
        ``precision`` picks float32 or mixed precision (:mod:`pix2gan.precision`); the saved
        networks are float32 either way. The process's malloc is tuned for training steps first
        (:func:`pix2gan.allocator.tune_allocator`; ``PIX2GAN_ALLOCATOR=default`` keeps glibc's).

        ``strategy`` trains data-parallel under ``tf.distribute`` (see :mod:`pix2gan.distribute` and
        docs/distributed.md): ``batch_size`` is then the global batch, a multiple of the replica
        count, and gives the updates one device would. In a cluster only the chief writes
        ``out`` and ``logdir``; each other worker writes to a temporary folder (removed at the end)
        and keeps its backups in ``<logdir>/<run>/backup/worker-<index>``, so a restarted cluster
        resumes."""
        changes = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v is not None}
        recipe = self.replace(**changes) if changes else self
        tune_allocator()
        run = RunOptions(data_dir=data_dir, steps_per_epoch=steps_per_epoch, steps_per_execution=steps_per_execution,
                         logdir=logdir, out=out,
                         run_name=run_name or self.name, seed=seed, jit_compile=jit_compile, precision=precision,
                         verbose=verbose,
                         backup_every=backup_every, deterministic=deterministic, on_nan=on_nan, strategy=strategy,
                         devices=devices, cpu_replicas=cpu_replicas, workers=workers, worker_index=worker_index)
        return recipe._train(run, recipe.options("train", data_options))

    def _train(self, run: RunOptions, options) -> Run:
        # the strategy first: it may split the CPU, which must happen before TensorFlow sets up devices
        strategy = make_strategy(run.strategy, run.devices, run.cpu_replicas, run.workers, run.worker_index)
        if self.batch_size % strategy.num_replicas_in_sync:
            raise Pix2GanError(f"batch_size={self.batch_size} does not split evenly over {strategy.num_replicas_in_sync} "
                               f"replicas ({describe(strategy)}): use a multiple of {strategy.num_replicas_in_sync} (it "
                               "is the global batch)", argument="batch_size")
        chief = is_chief(strategy)
        run_dir = run_dir_for(run.logdir, run.run_name)
        backup_dir = backup_dir_for(run_dir)
        scratch = None
        if not chief:
            # only the chief writes the run's files; this worker writes the same ones to a scratch folder
            # (every worker must take the same steps), and keeps its backups for a restarted cluster
            backup_dir = os.path.join(backup_dir, f"worker-{worker_index(strategy)}")
            scratch = tempfile.mkdtemp(prefix=f"pix2gan-{run.run_name}-worker{worker_index(strategy)}-")
            run = dataclasses.replace(run, logdir=os.path.join(scratch, "logs"), out=os.path.join(scratch, "models"))
            run_dir = run_dir_for(run.logdir, run.run_name)
        try:
            done = self._train_with(run, options, strategy, run_dir, backup_dir)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        # every worker waits for the others here: a worker whose chief has exited loses the cluster
        agree_min(0, strategy)
        return done

    def _train_with(self, run: RunOptions, options, strategy, run_dir: str, backup_dir: str) -> Run:
        if run.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(run.seed)
        clean_stale(run.out)  # finish or remove what killed saves left behind
        source = self.resolve_source(run.data_dir, options)
        data = self.load_data(source, options, None, run.seed)
        per_call = run.steps_per_execution or self.default_steps_per_execution
        steps = run.steps_per_epoch or max(1, data.train_size // self.batch_size)
        if run.steps_per_epoch is None and steps > per_call:
            steps -= steps % per_call  # whole calls of per_call steps
        logger.info("%s: %s, batch %d, %d epochs x %d steps", self.name, data.description, self.batch_size,
                    self.epochs, steps)
        if strategy.num_replicas_in_sync > 1 or is_multi_worker(strategy):
            logger.info("distributed: %s", describe(strategy))
        # networks, optimizers and trackers are made inside the scope: they become distributed variables
        precision = resolve_precision(run.precision, measured=self.auto_mixed)
        logger.info("precision: %s", precision)
        with strategy.scope(), precision_scope(precision):
            trainer = self.build_trainer(self.epochs * steps, run.seed, run.jit_compile)
        render = self.grid_renderer(data)
        callbacks = ([ImageGridCallback(render, run_dir)] if render else [])
        callbacks += self.extra_callbacks(trainer, data, options, run_dir, run.seed)
        history = fit_gan(trainer, data.train, run_dir=run_dir, epochs=self.epochs, steps_per_epoch=steps,
                          val_ds=data.val, validation_steps=data.val_steps, callbacks=callbacks,
                          verbose=run.verbose, backup_every=run.backup_every, on_nan=run.on_nan,
                          rebuild_train=lambda: self.load_data(source, options, None, run.seed).train,
                          backup_dir=backup_dir, steps_per_execution=per_call)
        metrics = self.final_metrics(trainer, data, history, options, run_dir, run.seed)
        card = {"card_version": CARD_VERSION, "entry": self.name, "summary": self.summary,
                "settings": self.settings(), "run": {**as_dict(run), "steps_per_epoch": steps,
                                                      "steps_per_execution": getattr(trainer, "steps_per_execution", 1),
                                                      "replicas": strategy.num_replicas_in_sync,
                                                      "precision_used": precision,
                                                      "allocator": allocator_state()},
                "options": as_dict(options), "data": data.description,
                "value_range": list(self.value_range), "metrics": metrics, "versions": library_versions(),
                "python": f"pix2gan.zoo.from_card(CARD).train(...)  # or pix2gan.zoo.get({self.name!r}, **settings)"}
        # float32 copies of mixed-precision networks: the files then run alike on any machine
        (label, generator), *others = ((k, float32_copy(m)) for k, m in self.saved_models(trainer).items())
        paths = save_run(run.out, run.run_name, generator, card, label=label, others=dict(others))
        logger.info("logs:    %s  (tensorboard --logdir %s)", run_dir, os.path.dirname(os.path.normpath(run_dir)) or ".")
        logger.info("weights: %s", ", ".join(v for k, v in paths.items() if k != "card"))
        logger.info("card:    %s", paths["card"])
        if not is_chief(strategy):
            logger.info("worker %d is not the chief: its files went to a temporary folder, removed now",
                        worker_index(strategy))
            return Run(trainer, history, metrics, paths[label], paths.get("discriminator"), paths["card"], run_dir, paths)
        try:
            logger.info("report:  %s", write_report(run_dir, paths["card"]))
        except Exception as exc:  # the report only presents a finished run: its failure must not fail the run
            logger.warning("warning: the run report could not be written (%s: %s); `pix2gan report %s` tries again",
                           type(exc).__name__, exc, run_dir)
        logger.info("final: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in metrics.items() if not isinstance(v, str)))
        return Run(trainer, history, metrics, paths[label], paths.get("discriminator"), paths["card"], run_dir, paths)

    def evaluate(self, weights: str, data_dir: str | None = None, split: str = "test", seed: int = 0,
                 **options) -> dict:
        """Score the saved generator ``weights`` on ``split``. ``options`` are this entry's
        :attr:`Options` for evaluate, plus recipe settings marked for evaluation (for example the
        test-time mode or the cloud kind). Evaluation trains nothing and writes nothing unless an
        option asks for it."""
        evaluation_settings = [s.name for s in specs(self, "evaluate")]
        changes = {k: options.pop(k) for k in list(options) if k in evaluation_settings}
        recipe = self.replace(**changes) if changes else self
        if split not in self.splits:
            raise Pix2GanError(f"split={split!r} is not a split of {self.name}: use one of {', '.join(self.splits)}",
                               argument="split")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise Pix2GanError(f"seed={seed!r} must be a whole number >= 0", argument="seed")
        opts = recipe.options("evaluate", options)
        generator = load_model(weights)
        recipe = recipe.for_generator(generator, weights)  # refuses a model of the wrong kind before any work
        data = recipe.load_data(recipe.resolve_source(data_dir, opts), opts, split, seed)
        scores = recipe.score(generator, data, opts, seed)
        return {"weights": weights, "data": data.description, "split": split, **scores}

    def sample(self, weights: str, n: int = 64, label: int | None = None, output: str | None = None, seed: int = 0,
               ncols: int | None = None) -> str:
        """Write a PNG grid of ``n`` samples of the saved generator ``weights`` (all of ``label``
        for a conditional one) to ``output`` (default ``<weights stem>_samples.png``); return its path."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10000:
            raise Pix2GanError(f"n={n!r} must be a number of samples from 1 to 10000 (one grid)", argument="n")
        if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1):
            raise Pix2GanError(f"ncols={ncols!r} must be a positive number of columns", argument="ncols")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise Pix2GanError(f"seed={seed!r} must be a whole number >= 0", argument="seed")
        path = output or os.path.splitext(weights)[0] + "_samples.png"
        check_output_file(path, "output", argument="output" if output else None)  # before any work
        generator = load_model(weights)
        recipe = self.for_generator(generator, weights)
        images, columns = recipe.draw_samples(generator, n, label, seed)
        write_image(path, tile_batch(to_uint8(images, recipe.value_range), ncols or columns))
        logger.info("wrote %d samples to %s", n, path)
        return path


def read_card(path: str) -> dict:
    """The JSON model card at ``path`` (``<run>_generator.json``; a ``.md`` or ``.h5`` path next to
    it is accepted too)."""
    stem = path
    for suffix in (".weights.h5", ".json", ".md", ".h5", ".keras"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    json_path = stem + ".json"
    if not os.path.isfile(json_path):
        raise Pix2GanError(f"model card {json_path} does not exist: pass the .json card written next to the "
                           "saved generator", argument="path")
    try:
        with open(json_path) as f:
            card = json.load(f)
    except (OSError, ValueError) as exc:
        raise Pix2GanError(f"model card {json_path} is not readable JSON ({exc}): pass a card written by "
                           "pix2gan", argument="path") from None
    if not isinstance(card, dict) or "entry" not in card:
        raise Pix2GanError(f"model card {json_path} names no zoo entry: pass a card written by pix2gan",
                           argument="path")
    return card


def card_settings(card: dict, recipe_type: type) -> dict:
    """The recipe settings recorded in ``card``. Cards written before settings were recorded as
    a whole give what they hold (top-level keys, or a ``recipe`` dict) for the known names."""
    if "settings" in card:
        return dict(card["settings"])
    known = {s.name: s for s in specs(recipe_type)}
    legacy = {**card, **(card.get("recipe") if isinstance(card.get("recipe"), dict) else {})}
    # old cards wrote None for "no value" where settings now name it ("none"): keep the default then
    return {k: v for k, v in legacy.items() if k in known and (v is not None or known[k].optional)}

