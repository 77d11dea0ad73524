"""Data-parallel training with ``tf.distribute``: the strategy from a name, logical CPU devices,
the multi-machine cluster, which worker writes, and the helpers the trainers' steps use.

- :func:`make_strategy` makes ``'default'`` (one device), ``'mirrored'`` (every GPU of this
  machine, or ``devices``, or the ``cpu_replicas`` logical CPU devices), ``'multiworker'``
  (``MultiWorkerMirroredStrategy`` over the machines of ``TF_CONFIG``, or of ``workers`` /
  ``worker_index``) or ``'tpu'`` (untested). Make it before any model: networks, optimizers and
  metric trackers are created inside ``strategy.scope()`` (``Recipe.train`` does this).
- Keras all-reduces gradients with a SUM, so a loss that is a mean over one replica's share of the
  batch must be divided by the replica count before it is differentiated
  (:meth:`pix2gan.trainers.GANTrainer.optimize` does it once for every trainer, as Keras's own
  ``Loss`` objects do); the values logged stay unscaled.
- A step's random draws (noise, which images a pool swaps) are drawn for the global batch and
  sliced per replica (:func:`replica_slice`), so R replicas draw what one device would.
- :func:`sync_batchnorm`: BatchNorm layers built while a strategy with more than one replica is
  in scope use the statistics of the global batch (``synchronized=True``).
- :class:`KerasIssue20585`: the two local workarounds that let Keras's ``fit()`` run under
  ``MultiWorkerMirroredStrategy``, for the Keras versions in :data:`TESTED_KERAS`.
"""
from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from .errors import Pix2GanError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
# Keras versions on which the KerasIssue20585 workarounds were run (the slow tests of tests/test_distribute.py).
TESTED_KERAS = ("3.15.1",)
REPLICA_SEED_STRIDE = 1_000_003  # between the seeds of two replicas' random streams


# ---------------------------------------------------------------------------- devices and strategies

def split_cpu(replicas: int) -> list[str]:
    """Split the CPU into ``replicas`` logical devices (so distribution can be tried on any
    machine) and return their names. Must run before TensorFlow initialises its devices (before
    any model, tensor or strategy); afterwards only a matching split is accepted."""
    replicas = int(replicas)
    if replicas < 1:
        raise Pix2GanError(f"cpu_replicas={replicas} must be at least 1", argument="cpu_replicas")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        present = tf.config.list_logical_devices("CPU")
        if len(present) != replicas:
            raise Pix2GanError(f"cpu_replicas={replicas}: TensorFlow already set up {len(present)} CPU device(s) in "
                               "this process; split the CPU before any model or tensor is made (a fresh process)",
                               argument="cpu_replicas") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def parse_list(text: str | None, argument: str) -> list[str]:
    """``'a,b,c'`` (or a sequence) -> ``['a', 'b', 'c']``; empty items are refused."""
    if text is None:
        return []
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    if not items or not all(items):
        raise Pix2GanError(f"{argument}={text!r} has an empty item: give comma-separated values", argument=argument)
    return items


def _device_names(devices: str | None) -> list[str] | None:
    """``'0,1'`` -> the GPUs (or, without GPUs, the logical CPUs) of those indices; full names pass."""
    items = parse_list(devices, "devices")
    if not items:
        return None
    kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    known = [d.name for d in tf.config.list_logical_devices(kind)]
    names = []
    for item in items:
        name = f"/device:{kind}:{item}" if item.isdigit() else item
        if item.isdigit() and int(item) >= len(known):
            raise Pix2GanError(f"devices={devices!r}: there is no {kind} {item} (this machine has {len(known)}: "
                               f"{', '.join(known) or 'none'})", argument="devices")
        names.append(name)
    return names


def cluster_config(workers: str | None, worker_index: int | None) -> dict | None:
    """The ``TF_CONFIG`` of worker ``worker_index`` of the cluster ``workers`` ('host:port,...'),
    or None when neither is given."""
    hosts = parse_list(workers, "workers")
    if not hosts and worker_index is None:
        return None
    if not hosts or worker_index is None:
        raise Pix2GanError("workers and worker_index go together: give every worker's host:port (the same list on "
                           "every machine) and this machine's index in it", argument="workers" if not hosts
                           else "worker_index")
    bad = [h for h in hosts if not h.rpartition(":")[2].isdigit() or not h.rpartition(":")[0]]
    if bad:
        raise Pix2GanError(f"workers={workers!r}: {bad[0]!r} is not host:port", argument="workers")
    if not 0 <= int(worker_index) < len(hosts):
        raise Pix2GanError(f"worker_index={worker_index} is out of range: use 0 to {len(hosts) - 1} (the position of "
                           "this machine in workers)", argument="worker_index")
    return {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": int(worker_index)}}


def check_keras_version() -> None:
    """Refuse multi-worker training on a Keras version the :class:`KerasIssue20585` workarounds
    were not run on: they override Keras internals, and an untested version could train wrongly."""
    if keras.__version__ not in TESTED_KERAS:
        raise Pix2GanError(f"strategy='multiworker' is tested on Keras {', '.join(TESTED_KERAS)}, not "
                           f"{keras.__version__}: run the slow tests of tests/test_distribute.py and add the version to "
                           "pix2gan.distribute.TESTED_KERAS, or install a tested Keras", argument="strategy")


def make_strategy(name: str = "default", devices: str | None = None, cpu_replicas: int | None = None,
                  workers: str | None = None, worker_index: int | None = None) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see :data:`STRATEGIES` and the module doc).

    ``devices``: a comma-separated subset ('0,1' or device names) for 'mirrored';
    ``cpu_replicas``: split the CPU into that many logical devices first (on a machine without
    GPUs 'mirrored' then uses all of them; each 'multiworker' worker uses one device);
    ``workers`` / ``worker_index``: write ``TF_CONFIG`` for 'multiworker' (else it is read from
    the environment as set). Call it before any model is built.
    """
    if name not in STRATEGIES:
        raise Pix2GanError(f"strategy={name!r} is not one of {', '.join(STRATEGIES)}", argument="strategy")
    config = cluster_config(workers, worker_index)
    if config is not None and name != "multiworker":
        raise Pix2GanError(f"workers / worker_index describe a cluster: use strategy='multiworker', not {name!r}",
                           argument="strategy")
    if devices and name not in ("mirrored",):
        raise Pix2GanError(f"devices={devices!r} picks the devices of strategy='mirrored', not {name!r} (limit a "
                           "multi-worker machine's GPUs with CUDA_VISIBLE_DEVICES)", argument="devices")
    if cpu_replicas:
        split_cpu(cpu_replicas)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        chosen = _device_names(devices)
        if chosen is None and not tf.config.list_physical_devices("GPU"):
            chosen = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(chosen)
    if name == "multiworker":
        check_keras_version()
        if config is not None:
            os.environ["TF_CONFIG"] = json.dumps(config)
        elif not os.environ.get("TF_CONFIG"):
            raise Pix2GanError("strategy='multiworker' needs the cluster: set TF_CONFIG on every machine, or pass "
                               "workers='host:port,...' and worker_index", argument="strategy")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as exc:
            raise Pix2GanError(f"TF_CONFIG is not JSON ({exc}): see docs/distributed.md", argument="strategy") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    # TPUs: written after the TensorFlow guide and never run here (no TPU to test on).
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line for logs and model cards: the strategy's class, replicas and (multi-worker) task."""
    text = f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)"
    if is_multi_worker(strategy):
        text += f", worker {worker_index(strategy)} ({'chief' if is_chief(strategy) else 'not chief'})"
    return text


def check_jit(jit_compile: bool, strategy: tf.distribute.Strategy | None = None) -> None:
    """Refuse XLA where the strategy in scope cannot run it, before any step is traced.

    Keras compiles the whole distributed step, all local replicas in one XLA program, which fails
    for several devices of one machine ("Trying to access resource ... located in device ...",
    https://github.com/keras-team/keras/issues/19005); and XLA has no cross-worker collectives on
    CPUs. One replica per process (one GPU per worker of a cluster) is left to XLA.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not jit_compile or strategy.num_replicas_in_sync == 1:
        return
    local = list(strategy.extended.worker_devices)
    if len(local) > 1:
        raise Pix2GanError(f"jit_compile=True cannot run under {type(strategy).__name__} over {len(local)} devices of "
                           "one machine (Keras compiles every replica into one XLA program, keras-team/keras#19005): "
                           "drop jit_compile, or run one worker per device with strategy='multiworker'",
                           argument="jit_compile")
    if all("CPU" in d.upper() for d in local):
        raise Pix2GanError("jit_compile=True cannot run a multi-worker step on CPUs (XLA has no CPU collectives): "
                           "drop jit_compile, or give each worker a GPU", argument="jit_compile")


# ---------------------------------------------------------------------------- which worker is which

def is_multi_worker(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether ``strategy`` (default: the current one) spans several worker processes."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    cluster = _task(strategy)[2]
    return len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1


def _task(strategy) -> tuple[str | None, int, dict]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, 0, {}
    return resolver.task_type, int(resolver.task_id or 0), resolver.cluster_spec().as_dict()


def worker_index(strategy: tf.distribute.Strategy | None = None) -> int:
    """This process's index among the workers (0 on one machine)."""
    strategy = strategy or tf.distribute.get_strategy()
    return _task(strategy)[1] if is_multi_worker(strategy) else 0


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's outputs: always on one machine; in a cluster the
    'chief' task, or worker 0 where there is no chief."""
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return True
    task_type, task_id, cluster = _task(strategy)
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def agree_min(value: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """The smallest of every worker's ``value`` (itself on one machine). Every worker must call it."""
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return int(value)
    local = strategy.run(lambda: tf.constant([int(value)], tf.int64))
    return int(tf.reduce_min(strategy.gather(local, axis=0)))


# ---------------------------------------------------------------------------- inside a training step

def replicas() -> int:
    """Replicas of the strategy in scope (1 outside any)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def sync_batchnorm() -> bool:
    """Whether BatchNorm built now should synchronise its statistics: a strategy with more than
    one replica is in scope, so each replica sees only part of the batch."""
    return replicas() > 1


def all_reduce_sum(value):
    """``value`` summed over the replicas (itself on one replica); call it in a replica context."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def replica_slice(draw):
    """This replica's share of ``draw``, a tensor drawn for the global batch (axis 0, equal shares).
    Every replica draws the same tensor from the same seed state, so taking its own rows gives the
    replicas together exactly what one device would draw for the whole batch."""
    context = tf.distribute.get_replica_context()
    count = 1 if context is None else context.num_replicas_in_sync
    if count == 1:
        return draw
    share = tf.shape(draw)[0] // count
    start = tf.cast(context.replica_id_in_sync_group, tf.int32) * share
    return draw[start:start + share]


def gather_batch(value):
    """The global batch from every replica's share of ``value`` (concatenated on axis 0, in replica order)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_gather(value, axis=0)


def run_if(condition, update, *args) -> None:
    """Run ``update(*args)`` (which applies optimizers) only where ``condition`` holds;
    ``condition`` must be equal on every replica, and every per-replica tensor ``update`` uses
    must come in ``args``.

    A ``tf.cond`` whose branch applies an optimizer cannot run in a replica context of a strategy
    that synchronises through ``merge_call`` (MirroredStrategy: "merge_call called while defining
    a new graph"); the condition is then taken in the cross-replica context and ``update`` runs on
    every replica from there, with that replica's ``args``, as Keras's ``LossScaleOptimizer`` does.
    """
    def branch(*values):
        update(*values)
        return tf.constant(True)

    context = tf.distribute.get_replica_context()
    if context is None or not tf.distribute.has_strategy():
        tf.cond(condition, lambda: branch(*args), lambda: tf.constant(False))
        return

    def cross_replica(strategy, condition, *values):
        first = strategy.experimental_local_results(condition)[0]

        def each():
            strategy.extended.call_for_each_replica(branch, args=values)
            return tf.constant(True)
        tf.cond(first, each, lambda: tf.constant(False))

    context.merge_call(cross_replica, args=(condition, *args))


def offset_replica_seeds(variables, strategy: tf.distribute.Strategy | None = None) -> None:
    """Give each replica its own random stream in the Keras seed-generator states ``variables``
    (``[seed, counter]``): replica r's seed becomes ``seed + r * REPLICA_SEED_STRIDE``.

    A layer's random draws (dropout masks) come from a mirrored seed state, so without this every
    replica would draw the same mask for its share of the batch. Replica 0 keeps the state a
    backup saves; restoring one puts every replica back on it, so call this again after a restore.
    Draws made for the global batch and sliced (:func:`replica_slice`) must keep shared states.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1 or not variables:
        return

    @tf.function
    def shift():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        for var in variables:
            step = tf.cast(tf.stack([replica * REPLICA_SEED_STRIDE, 0]), var.dtype)
            var.assign(var + step)  # in a replica context each replica writes its own copy

    strategy.run(shift)


# ---------------------------------------------------------------------------- Keras issue 20585

class KerasIssue20585:
    """The two workarounds that let Keras's own ``fit()`` run a trainer under
    ``MultiWorkerMirroredStrategy`` (https://github.com/keras-team/keras/issues/20585, open; run on
    the Keras versions of :data:`TESTED_KERAS`, which :func:`make_strategy` checks):

    1. ``fit()`` starts with a "symbolic build" that reduces the first batch with
       ``strategy.reduce("MEAN", ...)``, which raises on a multi-worker PerReplica value; a
       trainer arrives with its networks and optimizers built, so the build is skipped.
    2. ``fit()`` reduces each logged value over the replicas with ``axis=0``, which raises
       "Invalid reduction dimension 0" on a scalar; :meth:`log_values` gives them shape ``(1,)``.

    On one machine (and on other strategies) both are no-ops. Mixed into
    :class:`pix2gan.trainers.GANTrainer`.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):  # overrides a Keras internal (1. above)
        if is_multi_worker(self.distribute_strategy) and self.built:
            return None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def log_values(self, values: dict) -> dict:
        """``values`` as ``fit()`` may return them from a step (2. above)."""
        if not is_multi_worker(self.distribute_strategy):
            return values
        return {k: tf.reshape(v, (1,)) for k, v in values.items()}
