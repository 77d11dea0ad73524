"""Running a trainer with ``fit()``; every zoo entry uses this.

- **Exact resume.** :class:`~pix2gan.callbacks.StepBackup` writes atomic, hash-checked backups
  (:class:`~pix2gan.saving.BackupStore`) every ``backup_every`` steps: networks, every optimizer,
  the step, the random state and the metric trackers. A re-run loads the newest good one and
  continues at that step: the rest of the interrupted epoch first (the training pipeline
  skipped to the batch where it stopped), then the remaining epochs. With TF op determinism
  (``deterministic=True`` in a recipe's ``train``) the result equals the uninterrupted run's.
- **Divergence.** A non-finite loss or gradient skips that update and stops the run after the
  step with :class:`TrainingDiverged`, naming the step and the loss; nothing is backed up or
  saved from a diverged state. ``on_nan='rollback'`` instead reloads the last good backup,
  scales every learning rate by :data:`ROLLBACK_FACTOR` and carries on, at most
  :data:`MAX_ROLLBACKS` times.
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import Callable, Sequence

import keras
import tensorflow as tf

from .callbacks import StepBackup, standard_callbacks
from .distribute import agree_min, is_multi_worker, offset_replica_seeds
from .errors import Pix2GanError
from .saving import BackupStore, TrainingState, model_signature, seed_variables

logger = logging.getLogger("pix2gan")

ON_NAN = ("stop", "rollback")
ROLLBACK_FACTOR = 0.5
MAX_ROLLBACKS = 3


class TrainingDiverged(FloatingPointError):
    """Training met a non-finite loss, gradient or weight; ``step`` (1-based, counted over the whole
    run), ``loss_name`` and ``value`` say where. Nothing was backed up or saved from that state."""

    def __init__(self, message: str, step: int, loss_name: str, value: float):
        super().__init__(message)
        self.step, self.loss_name, self.value = step, loss_name, value


def run_dir_for(logdir: str, run_name: str) -> str:
    """The folder of one run: TensorBoard events, sample grids and the resumable backups."""
    return os.path.join(logdir, run_name)


def backup_dir_for(run_dir: str) -> str:
    return os.path.join(run_dir, "backup")


def check_resumable(trainer: keras.Model, run_dir: str) -> None:
    """If ``run_dir`` holds a backup, make sure it fits ``trainer`` (raises :class:`Pix2GanError`
    for a backup of a different model) without loading it."""
    store = BackupStore(backup_dir_for(run_dir))
    signature = model_signature(trainer)
    for step in store.steps():
        problem, _ = store._problem(step, signature)
        if not problem:
            return


def check_on_nan(on_nan: str) -> str:
    if on_nan not in ON_NAN:
        raise Pix2GanError(f"on_nan={on_nan!r} is not one of {', '.join(ON_NAN)}", argument="on_nan")
    return on_nan


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * scale``, with ``scale`` a variable that a rollback lowers without retracing."""

    def __init__(self, schedule, scale: tf.Variable):
        self.schedule = schedule
        self.scale = scale

    def __call__(self, step):
        rate = self.schedule(step)
        return rate * tf.cast(self.scale, rate.dtype)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "scale": float(self.scale.numpy())}


class LearningRates:
    """Every optimizer's learning rate as built, and :meth:`scale` to set them to ``base * factor``.

    Constant rates are assigned; a schedule is wrapped once in :class:`ScaledSchedule` (before
    the training step is traced, so the wrapper is what the step uses)."""

    def __init__(self, trainer: keras.Model):
        named = getattr(trainer, "optimizers", None)
        optimizers = list(named.values()) if isinstance(named, dict) else [trainer.optimizer]
        self.entries = []
        for opt in (o for o in optimizers if o is not None):
            config = opt.get_config().get("learning_rate")
            if isinstance(config, dict):
                scale = tf.Variable(1.0, trainable=False)
                opt.learning_rate = ScaledSchedule(keras.optimizers.schedules.deserialize(config), scale)
                self.entries.append((opt, None, scale))
            else:
                # read as a tensor: under a strategy the rate is a distributed variable, which float() refuses
                self.entries.append((opt, float(tf.convert_to_tensor(opt.learning_rate)), None))

    def scale(self, factor: float) -> None:
        for opt, base, scale in self.entries:
            if scale is None:
                opt.learning_rate = base * factor
            else:
                scale.assign(factor)


def shard_by_batch(dataset):
    """``dataset`` with ``AutoShardPolicy.DATA``: each worker of a cluster keeps its share of every
    global batch (not whole files), so the workers together see the batches one device would."""
    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _sharded(build: Callable[[], tf.data.Dataset]) -> Callable[[], tf.data.Dataset]:
    return lambda: shard_by_batch(build())


def _restore(store: BackupStore, trainer: keras.Model, steps_per_epoch: int | None, cluster: bool
             ) -> TrainingState | None:
    """The newest good backup loaded into ``trainer``; in a cluster the newest step that every
    worker holds (a kill can fall between two workers' writes of one step). Then, under a
    strategy with several replicas, each replica's dropout gets its own random stream again
    (:func:`~pix2gan.distribute.offset_replica_seeds`; a backup holds replica 0's)."""
    if not cluster:
        state = store.restore(trainer, steps_per_epoch)
    else:
        agreed = agree_min(store.newest_good(model_signature(trainer)))
        state = None if agreed < 0 else store.restore(trainer, steps_per_epoch, at_most=agreed)
    networks = getattr(trainer, "networks", None)
    if isinstance(networks, dict):
        offset_replica_seeds([v for net in networks.values() for v in seed_variables(net)],
                             trainer.distribute_strategy)
    return state


def _merged_history(trainer: keras.Model, epochs: dict) -> keras.callbacks.History:
    history = keras.callbacks.History()
    history.set_model(trainer)
    history.epoch = sorted(epochs)
    history.history = {}
    for epoch in history.epoch:
        for key, value in epochs[epoch].items():
            history.history.setdefault(key, []).append(value)
    return history


def _repeating(dataset):
    if isinstance(dataset, tf.data.Dataset) and int(dataset.cardinality()) >= 0:
        # a finite pipeline repeats inside tf.data, so batch n of the run is element n of one stream
        return dataset.repeat()
    return dataset


def fit_gan(trainer: keras.Model, train_ds: tf.data.Dataset, *, run_dir: str, epochs: int, steps_per_epoch: int,
            val_ds: tf.data.Dataset | None = None, validation_steps: int | None = None,
            callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 1, backup_every: int | None = None,
            on_nan: str = "stop", rebuild_train: Callable[[], tf.data.Dataset] | None = None,
            backup_dir: str | None = None, steps_per_execution: int = 1) -> keras.callbacks.History:
    """``trainer.fit`` with TensorBoard logging, exact resume and divergence handling under ``run_dir``.

    Resumes from the newest good backup in ``run_dir/backup`` (see the module doc); backups are
    written every ``backup_every`` steps (None: automatic, about every two minutes) and at the
    end, and kept, so re-running with more epochs continues. Returns the merged ``History`` of
    the epochs run.

    A resume inside an epoch runs ``fit()`` twice (the rest of that epoch, then whole epochs), and
    a rollback once more: each later call needs its own iterator at the start of the stream, since
    a reshuffling pipeline shuffles a second iterator over the same dataset object differently.
    ``rebuild_train()`` returns the training pipeline built anew (as the recipes pass it); without
    it the same dataset object is iterated again, which is exact only for pipelines that do not
    reshuffle per iteration. Raises :class:`TrainingDiverged` at a non-finite loss or gradient (after the
    rollbacks ``on_nan='rollback'`` allows), so callers never save a diverged model.

    ``backup_dir`` (default ``run_dir/backup``) holds the backups. Under a multi-worker strategy
    every worker keeps its own (see ``Recipe.train``), written at the same steps (``backup_every``
    None means once an epoch there: the automatic interval is timed, and times differ between
    machines), and a restarted cluster resumes at the newest step every worker holds; the data
    is sharded by batch (``AutoShardPolicy.DATA``), so the workers together see the batches one
    device would.

    ``steps_per_execution`` N runs up to N steps in one call of the compiled step (one Python
    round trip for N steps: what small steps need). Keras runs an epoch in whole calls, so each
    ``fit()`` uses the largest count up to N that divides its steps (:func:`steps_per_call`):
    epochs, backups and resumes stay exact.
    """
    check_on_nan(on_nan)
    if int(steps_per_execution) < 1:
        raise Pix2GanError(f"steps_per_execution={steps_per_execution!r} must be at least 1",
                           argument="steps_per_execution")
    if backup_every is not None and int(backup_every) < 1:
        raise Pix2GanError(f"backup_every={backup_every!r} must be at least 1 step (or None: automatic)",
                           argument="backup_every")
    os.makedirs(run_dir, exist_ok=True)
    store = BackupStore(backup_dir or backup_dir_for(run_dir))
    store.clean()
    total = epochs * steps_per_epoch
    rates = LearningRates(trainer)
    strategy = getattr(trainer, "distribute_strategy", None)
    cluster = strategy is not None and is_multi_worker(strategy)
    if cluster:
        backup_every = backup_every or steps_per_epoch
        train_ds, val_ds = shard_by_batch(train_ds), shard_by_batch(val_ds)
        if rebuild_train is not None:
            rebuild_train = _sharded(rebuild_train)
    state = _restore(store, trainer, steps_per_epoch, cluster)
    if state is None:
        state = TrainingState(steps_per_epoch=steps_per_epoch)
        if on_nan == "rollback":  # a good state to roll back to before the first backup
            first = StepBackup(store, state, steps_per_epoch=steps_per_epoch, total_steps=total)
            first.set_model(trainer)
            first.save()
    else:
        if state.steps_per_epoch and state.steps_per_epoch != steps_per_epoch:
            logger.warning("the backup was written with %d steps per epoch, this run has %d: it resumes at step %d "
                           "of the run, but the epochs fall differently", state.steps_per_epoch, steps_per_epoch,
                           state.step)
        epoch, batch = divmod(state.step, steps_per_epoch)
        logger.info("resuming from %s: step %d of %d (epoch %d, batch %d)", state.path, state.step, total,
                    epoch + 1, batch)
    if state.lr_scale != 1.0:
        rates.scale(state.lr_scale)
    fresh = [_repeating(train_ds)]

    def pipeline():
        """The training pipeline for the next fit() call: a never-iterated one where possible."""
        if fresh:
            return fresh.pop()
        return _repeating(rebuild_train() if rebuild_train is not None else train_ds)
    logged: dict[int, dict] = {}
    while True:
        for name in state.trackers:  # created now, so the resumed epoch carries on their running means
            if hasattr(trainer, "tracker"):
                trainer.tracker(name)
        backup = StepBackup(store, state, steps_per_epoch=steps_per_epoch, total_steps=total,
                            backup_every=backup_every, lr_scale=state.lr_scale, rollbacks=state.rollbacks)
        everything = list(standard_callbacks(run_dir)) + list(callbacks) + [backup]
        _run_segments(trainer, pipeline, state.step, epochs, steps_per_epoch, val_ds, validation_steps,
                      everything, verbose, backup, logged, int(steps_per_execution))
        if not backup.diverged:
            return _merged_history(trainer, logged)
        state = _after_divergence(trainer, store, backup, on_nan, rates, run_dir)


def steps_per_call(steps: int, wanted: int) -> int:
    """The largest count of steps per call, at most ``wanted``, that divides ``steps``: Keras runs a
    ``fit()`` epoch in whole calls of ``steps_per_execution`` steps, and a last call longer than the
    steps left would run past the epoch's end on an endless stream."""
    return next(n for n in range(max(1, min(int(wanted), int(steps))), 0, -1) if steps % n == 0)


def set_steps_per_execution(trainer: keras.Model, n: int) -> None:
    """Compile ``trainer``'s next training call for ``n`` steps per call (its step is traced anew
    when ``n`` changes)."""
    if getattr(trainer, "steps_per_execution", 1) != n:
        trainer.steps_per_execution = n
        trainer.train_function = None


def _run_segments(trainer, pipeline, start, epochs, steps_per_epoch, val_ds, validation_steps, callbacks, verbose,
                  backup, logged, steps_per_execution=1) -> None:
    """fit() from global step ``start``: the rest of its epoch, then whole epochs."""
    step = start
    while step < epochs * steps_per_epoch and not backup.diverged:
        epoch, batch = divmod(step, steps_per_epoch)
        last = epoch + 1 if batch else epochs
        set_steps_per_execution(trainer, steps_per_call(steps_per_epoch - batch, steps_per_execution))
        train_ds = pipeline()
        data = train_ds.skip(step) if step and isinstance(train_ds, tf.data.Dataset) else train_ds
        if step and not isinstance(train_ds, tf.data.Dataset):
            logger.warning("the training data is not a tf.data pipeline: the resumed run starts it from the beginning")
        with warnings.catch_warnings():
            # our pipelines shuffle themselves; Keras warns that its own shuffle flag is ignored
            warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
            history = trainer.fit(data, initial_epoch=epoch, epochs=last, steps_per_epoch=steps_per_epoch - batch,
                                  validation_data=val_ds, validation_steps=validation_steps, callbacks=callbacks,
                                  verbose=verbose)
        for index, number in enumerate(history.epoch):
            logged[number] = {k: v[index] for k, v in history.history.items() if index < len(v)}
        step = backup.step if backup.diverged else (epoch + 1 if batch else epochs) * steps_per_epoch


def _after_divergence(trainer, store, backup, on_nan, rates, run_dir) -> TrainingState:
    """Raise :class:`TrainingDiverged`, or roll back to the last good backup and return its state."""
    info = backup.diverged
    what = ("the weights became non-finite" if info["kind"] == "weights" else
            f"the {info['loss_name']} is {info['value']}" if info["kind"] == "loss" else
            f"the {info['loss_name']} is {info['value']} but its gradients are not finite")
    where = f"step {info['step']} (epoch {info['epoch']}, batch {info['batch']})"
    if on_nan == "rollback" and backup.rollbacks < MAX_ROLLBACKS:
        strategy = getattr(trainer, "distribute_strategy", None)
        state = _restore(store, trainer, None, strategy is not None and is_multi_worker(strategy))
        if state is not None:
            if hasattr(trainer, "reset_nonfinite"):
                trainer.reset_nonfinite()
            state.rollbacks = backup.rollbacks + 1
            state.lr_scale = backup.lr_scale * ROLLBACK_FACTOR
            rates.scale(state.lr_scale)
            logger.warning("training diverged at %s: %s; rolled back to step %d and scaled the learning rates by %g "
                           "(rollback %d of at most %d)", where, what, state.step, state.lr_scale, state.rollbacks,
                           MAX_ROLLBACKS)
            return state
    kept = f"the last good backup ({store.steps()[0]} steps) is kept in {store.folder}" if store.steps() else \
        "no backup was written"
    advice = ("after the rollbacks allowed, lower the learning rates" if on_nan == "rollback" else
              "lower the learning rates, or pass on_nan='rollback' (--on-nan rollback) to roll back and lower "
              "them automatically")
    raise TrainingDiverged(f"training diverged at {where}: {what}; the run stopped and nothing was saved "
                           f"({kept}); {advice}", info["step"], info["loss_name"], info["value"])
