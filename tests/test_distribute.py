"""Data-parallel training under tf.distribute gives the updates of one device.

Logical CPU devices must be set before TensorFlow sets up its devices, so every distributed run
happens in a subprocess: this file is also the script those subprocesses run
(``python tests/test_distribute.py MODE ...``), and the pytest process itself never splits its CPU.

- ``equal``: on 2 logical CPUs, one SGD step and four Adam steps under ``MirroredStrategy`` against
  the same steps on one device (same initial weights, same global batch) for each trainer
  (pix2pix, latent GAN, CycleGAN; ``cloud``, the cloud-map trainer, by hand:
  ``python tests/test_distribute.py equal cloud``).
- ``worker``: one worker of a two-process ``MultiWorkerMirroredStrategy`` run (or, with index -1,
  the same run on one device) of a tiny zoo recipe defined here, through ``Recipe.train``.
"""
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import one_line_error

from pix2gan.cli import entry_parser
from pix2gan.distribute import (
    TESTED_KERAS,
    check_keras_version,
    cluster_config,
    is_chief,
    make_strategy,
    replicas,
    sync_batchnorm,
)
from pix2gan.networks import (
    build_dcgan_discriminator,
    build_mlp_generator,
    build_patchgan_discriminator,
    build_reference_unet,
    build_resnet_discriminator,
    build_resnet_generator,
    build_unet_generator,
)
from pix2gan.trainers import CycleGAN, LatentGAN, Pix2Pix
from pix2gan.trainers.cloud import CloudPix2Pix
from pix2gan.zoo.recipe import Data, Recipe, RunOptions, Source
from pix2gan.zoo.registry import register

HERE = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(HERE))
TOLERANCE = 1e-5


def run_mode(*args, timeout=240) -> dict:
    """Run this file as a script and return the JSON it prints last."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, HERE, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ the script's side

def _tiny_trainer(kind: str, optimizer: str, networks_from=None, run_eagerly=False):
    """A tiny trainer of ``kind`` with ``optimizer`` ('sgd' or 'adam') for both (all) networks;
    ``networks_from`` (another trainer) gives the initial weights.

    Adam's epsilon is 1e-4: a gradient element far below epsilon moves its weight by about
    lr * g / epsilon, so epsilon bounds how much Adam magnifies float round-off, which a batch
    split over 2 replicas changes at the 1e-7 level (summation order); with 1e-7, round-off in
    near-zero gradients became 6e-5 differences in 4 steps."""
    keras.utils.set_random_seed(3)
    if kind == "pix2pix":
        nets = {"generator": build_unet_generator((32, 32, 3), filters=4, max_filters=8, dropout=0.0),
                "discriminator": build_patchgan_discriminator((32, 32, 3), filters=4)}
        trainer = Pix2Pix(nets["generator"], nets["discriminator"], ema_decay=0.9)
    elif kind == "cloud":
        nets = {"generator": build_reference_unet((32, 32, 3), widths=(4, 8), head="blend"),
                "discriminator": build_resnet_discriminator((32, 32, 3), stem_filters=4, stages=(1, 1), widths=(4, 8))}
        trainer = CloudPix2Pix(nets["generator"], nets["discriminator"], value_range=(0.0, 1.0), psnr_weight=1.0)
    elif kind == "latent":
        nets = {"generator": build_mlp_generator(8, (16,), (8, 8, 1), num_classes=3, norm="batch"),
                "discriminator": build_dcgan_discriminator((8, 8, 1), filters=4, num_classes=3)}
        trainer = LatentGAN(nets["generator"], nets["discriminator"], seed=5, ema_decay=0.9)
    else:
        nets = {"generator_ab": build_resnet_generator((16, 16, 3), filters=4, n_blocks=1, name="g_ab"),
                "generator_ba": build_resnet_generator((16, 16, 3), filters=4, n_blocks=1, name="g_ba"),
                "discriminator_a": build_patchgan_discriminator((16, 16, 3), filters=4, n_layers=1, norm="instance",
                                                                conditional=False, name="d_a"),
                "discriminator_b": build_patchgan_discriminator((16, 16, 3), filters=4, n_layers=1, norm="instance",
                                                                conditional=False, name="d_b")}
        trainer = CycleGAN(**nets, pool_size=3, seed=7)
    if networks_from is not None:
        for name, net in nets.items():
            net.set_weights(networks_from.networks[name].get_weights())

    def make():
        return keras.optimizers.SGD(0.05) if optimizer == "sgd" else keras.optimizers.Adam(1e-3, 0.5, epsilon=1e-4)
    trainer.compile(optimizers={name: make() for name in nets}, run_eagerly=run_eagerly)
    return trainer


def _data(kind: str):
    rng = np.random.default_rng(0)
    if kind == "pix2pix":
        x, y = rng.uniform(-1, 1, (2, 4, 32, 32, 3)).astype("float32")
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    if kind == "cloud":
        cloudy, clear = rng.uniform(0, 1, (2, 8, 32, 32, 3)).astype("float32")
        mask = np.clip(rng.uniform(-0.5, 1, (8, 32, 32)), 0, 1).astype("float32")  # a third of it clear
        return tf.data.Dataset.from_tensor_slices((cloudy, (clear, mask))).batch(4).repeat()
    if kind == "latent":
        images = rng.uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
        labels = rng.integers(0, 3, (8,)).astype("int32")
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).repeat()
    a, b = rng.uniform(-1, 1, (2, 8, 16, 16, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((a, b)).batch(2).repeat()


def _state(trainer) -> list:
    """Every weight of every network (BatchNorm statistics included), the moving average's and the pools'."""
    return [np.asarray(v) for v in trainer.weights]


def equal_mode(kinds) -> dict:
    """For each trainer kind: SGD (1 step) and Adam (4 steps) on one device and mirrored over 2 CPUs."""
    strategy = make_strategy("mirrored", cpu_replicas=2)
    results = {}
    for kind in kinds:
        for optimizer, steps in (("sgd", 1), ("adam", 4)):
            began = time.perf_counter()
            one = _tiny_trainer(kind, optimizer, run_eagerly=True)  # the reference: eager is quicker than tracing
            with strategy.scope():
                many = _tiny_trainer(kind, optimizer, networks_from=one)
            synced = [layer.synchronized for net in many.networks.values() for layer in net.layers
                      if type(layer).__name__ == "BatchNormalization"]
            start = [a - b for a, b in zip(_state(one), _state(many))]
            initial = _trainable(one)
            logs = {}
            for name, trainer in (("one", one), ("mirrored", many)):
                history = trainer.fit(_data(kind), epochs=1, steps_per_epoch=steps, verbose=0)
                logs[name] = {k: float(np.ravel(v[-1])[0]) for k, v in history.history.items()}
            moved = max(float(np.max(np.abs(a - b))) for a, b in zip(_trainable(one), initial))
            diffs = [float(np.max(np.abs(a - b))) for a, b in zip(_state(one), _state(many))]
            diff = max(diffs)
            worst = [v.path for v in one.weights][int(np.argmax(diffs))]
            results[f"{kind}-{optimizer}"] = {
                "replicas": many.distribute_strategy.num_replicas_in_sync, "weights": len(_state(one)),
                "start_diff": max(float(np.max(np.abs(d))) for d in start), "diff": diff, "worst": worst,
                "moved": moved, "seconds": time.perf_counter() - began,
                "logs": logs, "synchronized_bn": synced, "devices": len(tf.config.list_logical_devices("CPU"))}
    if "pix2pix" in kinds:
        results["refused"] = {"batch": _message(lambda: _tiny_recipe()(batch_size=3).train(
            strategy="mirrored", cpu_replicas=2, logdir=os.devnull, out=os.devnull)),
            "jit": _message(lambda: _jit_under(strategy))}
    return results


def _message(call) -> str:
    try:
        call()
    except Exception as exc:  # the message is what the test checks
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def _jit_under(strategy):
    with strategy.scope():
        trainer = Pix2Pix(build_unet_generator((32, 32, 3), filters=4, max_filters=8),
                          build_patchgan_discriminator((32, 32, 3), filters=4))
        trainer.compile(jit_compile=True)


def _trainable(trainer) -> list:
    return [np.asarray(v) for net in trainer.networks.values() for v in net.trainable_variables]


def _tiny_recipe():
    """A tiny paired-image zoo entry (pix2pix without dropout on 32x32 random pairs), registered under
    a test name in this process only."""
    class KillAt(keras.callbacks.Callback):
        """SIGKILL this process before the step that follows ``step`` finished steps, once every one
        of the ``peers`` workers has got there (a marker file each in ``folder``): a worker killed
        sooner would close the socket its peer still reads the step's last all-reduce from."""

        def __init__(self, step, folder, peers=2, timeout=120.0):
            super().__init__()
            self.step, self.seen, self.folder, self.peers, self.timeout = int(step), 0, folder, peers, timeout

        def on_train_batch_begin(self, batch, logs=None):
            if self.seen == self.step:
                os.makedirs(self.folder, exist_ok=True)
                open(os.path.join(self.folder, f"{os.getpid()}"), "w").close()
                deadline = time.monotonic() + self.timeout
                while len(os.listdir(self.folder)) < self.peers and time.monotonic() < deadline:
                    time.sleep(0.05)
                os.kill(os.getpid(), signal.SIGKILL)
            self.seen += 1

    @register
    @dataclass(frozen=True)
    class TinyPaired(Recipe):
        name = "test-tiny-paired"
        summary = "tiny pix2pix for the distribution tests"
        dataset = "none"

        def resolve_source(self, data_dir, options):
            return Source("synthetic")

        def load_data(self, source, options, split, seed):
            rng = np.random.default_rng(seed)
            x, y = rng.uniform(-1, 1, (2, 16, 32, 32, 3)).astype("float32")
            train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(16, seed=seed).batch(self.batch_size,
                                                                                           drop_remainder=True)
            val = tf.data.Dataset.from_tensor_slices((x[:4], y[:4])).batch(self.batch_size)
            return Data("random pairs", train, 16, val)

        def build_trainer(self, total_steps, seed, jit_compile):
            keras.utils.set_random_seed(seed)
            g = build_unet_generator((32, 32, 3), filters=4, max_filters=8, dropout=0.0)
            d = build_patchgan_discriminator((32, 32, 3), filters=4)
            trainer = Pix2Pix(g, d, eval_mode="inference")
            trainer.compile(jit_compile=jit_compile)
            return trainer

        def grid_renderer(self, data):
            x, y = next(iter(data.val))
            return lambda trainer: ((np.asarray(trainer.generate(x[:2])) + 1) * 127.5).astype("uint8").reshape(
                -1, 32, 3)

        def extra_callbacks(self, trainer, data, options, run_dir, seed):
            kill = os.environ.get("PIX2GAN_TEST_KILL_AT")
            return [KillAt(int(kill), os.environ["PIX2GAN_TEST_KILL_DIR"])] if kill else []

    return TinyPaired


def worker_mode(index: int, ports: str, root: str, epochs: int, result: str) -> dict:
    """Worker ``index`` of the cluster on localhost ``ports`` (index -1: one device, no cluster)
    trains the tiny recipe into ``root``; its final weights go to ``result`` (.npz)."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pix2gan").setLevel(logging.INFO)
    recipe = _tiny_recipe()(epochs=int(epochs), batch_size=4)
    cluster = {} if int(index) < 0 else {
        "strategy": "multiworker", "worker_index": int(index),
        "workers": ",".join(f"localhost:{p}" for p in ports.split(","))}
    started = time.perf_counter()
    run = recipe.train(logdir=os.path.join(root, "logs"), out=os.path.join(root, "models"), run_name="tiny",
                       steps_per_epoch=4, verbose=0, backup_every=2, **cluster)
    np.savez(result, *[np.asarray(v) for v in run.trainer.weights])
    return {"seconds": time.perf_counter() - started, "metrics": run.metrics}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "equal":
        print(json.dumps(equal_mode(sys.argv[2].split(","))))
    elif mode == "worker":
        print(json.dumps(worker_mode(*sys.argv[2:7]), default=str))
    sys.exit(0)


# ------------------------------------------------------------------------------ the tests

@pytest.fixture(scope="module")
def equal_results():
    """``kind -> results`` of the 'equal' mode, each kind run once (in its own subprocess) when first asked."""
    found = {}

    def get(kind):
        if kind not in found:
            found[kind] = run_mode("equal", kind)
        return found[kind]
    return get


@pytest.mark.parametrize("kind", ["pix2pix", "latent", pytest.param("cyclegan", marks=pytest.mark.slow)])
@pytest.mark.parametrize("optimizer", ("sgd", "adam"))
def test_mirrored_updates_equal_one_device(equal_results, kind, optimizer):
    found = equal_results(kind)[f"{kind}-{optimizer}"]
    assert found["devices"] == 2 and found["replicas"] == 2
    assert found["start_diff"] == 0.0
    assert found["moved"] > 100 * TOLERANCE, found  # the steps changed the weights...
    assert found["diff"] < TOLERANCE, found          # ...exactly as on one device
    one, many = found["logs"]["one"], found["logs"]["mirrored"]
    assert set(one) == set(many)
    for name in one:
        assert many[name] == pytest.approx(one[name], rel=1e-5, abs=1e-5), (name, one, many)
    if kind in ("pix2pix", "latent"):
        assert found["synchronized_bn"] and all(found["synchronized_bn"])


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch(root, epochs, kill_at=None, timeout=180, single=True) -> list:
    """Two localhost workers and, beside them, the same run on one device (index -1, in root/single,
    never killed);
    returns [(returncode, output, pid)] for worker 0, worker 1 and the single run (if ``single``). Every process is
    killed at ``timeout`` seconds, so a hung cluster fails the test instead of hanging CI."""
    ports = ",".join(map(str, free_ports(2)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    kill = dict(env, PIX2GAN_TEST_KILL_AT=str(kill_at), PIX2GAN_TEST_KILL_DIR=os.path.join(root, f"kill-{ports}"))
    envs = [kill if kill_at is not None else env] * 2 + [env]
    jobs = [(i, os.path.join(root, "cluster"), os.path.join(root, f"w{i}.npz")) for i in (0, 1)]
    if single:
        jobs.append((-1, os.path.join(root, "single"), os.path.join(root, "single.npz")))
    # output to files, not pipes: a worker blocked on a full pipe would stall the whole cluster
    logs = [open(os.path.join(root, f"launch{len(os.listdir(root))}-{i}.log"), "w+") for i, _, _ in jobs]
    procs = [subprocess.Popen([sys.executable, HERE, "worker", str(i), ports, folder, str(epochs), result],
                              cwd=REPO, env=job_env, stdout=log, stderr=subprocess.STDOUT, text=True)
             for (i, folder, result), log, job_env in zip(jobs, logs, envs)]
    deadline = time.monotonic() + timeout
    outputs = []
    for proc, log in zip(procs, logs):
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
                other.wait()
        log.seek(0)
        out = log.read()
        log.close()
        if proc.returncode == -signal.SIGKILL and time.monotonic() >= deadline:
            pytest.fail(f"a worker ran past {timeout} s (a hung cluster?):\n{out[-4000:]}")
        outputs.append((proc.returncode, out, proc.pid))
    return outputs


def load_weights(path) -> list:
    with np.load(path) as found:
        return [found[k] for k in found.files]


def files_under(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, names in os.walk(folder) for f in names)


def check_cluster_run(root, outputs, others=()):
    """Both workers ran to the end with the one-device weights; only the chief wrote the run's
    files (no event file of worker 1's process, or of ``others``: worker 1 pids of earlier launches)."""
    for code, out, _ in outputs:
        assert code == 0, out[-4000:]
    w0, w1, single = (load_weights(os.path.join(root, n)) for n in ("w0.npz", "w1.npz", "single.npz"))
    assert len(w0) == len(w1) == len(single) > 10
    for a, b, c in zip(w0, w1, single):
        np.testing.assert_array_equal(a, b)                 # the workers agree bitwise...
        np.testing.assert_allclose(a, c, rtol=0, atol=TOLERANCE)  # ...and with one device
    assert "worker 0 (chief)" in outputs[0][1] and "worker 1 (not chief)" in outputs[1][1]
    # only the chief wrote the run's files (TensorBoard names event files by process), worker 1 only its backups
    cluster = os.path.join(root, "cluster")
    written = files_under(cluster)
    chief, workers = outputs[0][2], {outputs[1][2], *others}
    for sub in ("train", "validation", "samples"):
        events = [f for f in written if f.startswith(f"logs/tiny/{sub}/events")]
        assert any(f".{chief}." in f for f in events), written
        assert not [f for f in events if any(f".{pid}." in f for pid in workers)], written
    assert "models/tiny_generator.h5" in written and "models/tiny_generator.json" in written
    assert not [f for f in written if "worker-1" in f and "/backup/worker-1/ckpt-" not in f], written
    assert any("/backup/worker-1/ckpt-" in f for f in written), written
    return written


def test_what_cannot_split_evenly_or_compile_is_refused_before_any_work(equal_results):
    refused = equal_results("pix2pix")["refused"]
    assert refused["batch"].startswith("Pix2GanError: batch_size=3 does not split evenly over 2 replicas"), refused
    assert "use a multiple of 2" in refused["batch"]
    assert refused["jit"].startswith("Pix2GanError: jit_compile=True cannot run under MirroredStrategy over 2 "
                                     "devices"), refused


@pytest.mark.slow
def test_two_workers_match_one_device_only_the_chief_writes_and_a_killed_cluster_resumes(tmp_path):
    """One cluster run, killed and restarted (one test: each launch costs ~30 s on 2 cores): the
    two workers train 5 steps and back up at steps 2 and 4, both are SIGKILLed, and the restarted
    cluster resumes at step 4 and ends with identical weights, equal to one device's uninterrupted
    run; only the chief wrote models, logs and grids, and worker 1's scratch folder is gone."""
    root = str(tmp_path)
    first = launch(root, epochs=2, kill_at=5, single=False)
    assert first[0][0] == first[1][0] == -signal.SIGKILL, (first[0][1][-3000:], first[1][1][-3000:])
    assert not os.path.exists(os.path.join(root, "cluster", "models", "tiny_generator.h5"))
    for folder in ("backup", "backup/worker-1"):
        held = sorted(f for f in os.listdir(os.path.join(root, "cluster", "logs", "tiny", folder)) if f.endswith(".json"))
        assert held == ["ckpt-0000000002.json", "ckpt-0000000004.json"], (folder, held)
    again = launch(root, epochs=2)
    for code, out, _ in again[:2]:
        assert "resuming from" in out and "step 4 of 8" in out, out[-3000:]
    check_cluster_run(root, again, others=[first[1][2]])
    scratch = [line for line in again[1][1].splitlines() if "pix2gan-tiny-worker1-" in line]
    assert scratch, again[1][1][-3000:]                        # worker 1 wrote its files to a scratch folder...
    folder = scratch[0].split("logs: ")[-1].split()[0].split("/logs/")[0]
    assert not os.path.exists(folder), folder                  # ...which is gone


# ------------------------------------------------------------------------------ in-process checks (one device)

def test_untested_keras_versions_are_refused_loudly():
    # The Keras issue 20585 workarounds override Keras internals: a new Keras must be run through
    # the multi-worker tests above and added to TESTED_KERAS before it trains a cluster.
    assert keras.__version__ in TESTED_KERAS, (
        f"Keras {keras.__version__} is untested with pix2gan.distribute.KerasIssue20585: run the slow tests of "
        "tests/test_distribute.py and add it to TESTED_KERAS")
    check_keras_version()


def test_cluster_from_a_worker_list():
    assert cluster_config(None, None) is None
    assert cluster_config("a:1, b:2", 1) == {"cluster": {"worker": ["a:1", "b:2"]},
                                            "task": {"type": "worker", "index": 1}}
    one_line_error(lambda: cluster_config("a:1,b:2", 2), "worker_index=2", "0 to 1")
    one_line_error(lambda: cluster_config("a:1,b", 0), "'b' is not host:port")
    one_line_error(lambda: cluster_config("a:1,b:2", None), "go together")
    one_line_error(lambda: cluster_config("a:1,,b:2", 0), "empty item")


def test_strategy_names_and_options_are_checked_before_any_work(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    one_line_error(lambda: make_strategy("gpus"), "strategy='gpus'", "default, mirrored, multiworker, tpu")
    one_line_error(lambda: make_strategy("default", workers="a:1,b:2", worker_index=0), "multiworker")
    one_line_error(lambda: make_strategy("default", devices="0,1"), "devices='0,1'", "mirrored")
    one_line_error(lambda: make_strategy("multiworker"), "TF_CONFIG")
    one_line_error(lambda: make_strategy("mirrored", devices="5"), "no CPU 5")
    one_line_error(lambda: make_strategy("default", cpu_replicas=3), "cpu_replicas=3", "fresh process")


def test_one_device_keeps_plain_batchnorm_and_the_run_flags_exist():
    assert replicas() == 1 and not sync_batchnorm() and is_chief()
    g = build_unet_generator((32, 32, 3), filters=4, max_filters=8)
    norms = [layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.synchronized for layer in norms)
    _, groups, flags = entry_parser("train", "pix2pix-facades")
    for name in ("strategy", "devices", "cpu_replicas", "workers", "worker_index"):
        assert name in groups["run"] and flags[name] == "--" + name.replace("_", "-")
    one_line_error(lambda: RunOptions(strategy="nccl"), "strategy")
    one_line_error(lambda: RunOptions(worker_index=-1), "worker_index")
