"""Benchmark: data-parallel training under tf.distribute on this machine, and what it all-reduces.

    python bench/distribute.py [--steps 12] [--size 64] [--batch 4] [--skip-entries]

1. Step time of one pix2pix step (U-Net + PatchGAN at ``--size``, global batch ``--batch``) on one
   device against ``MirroredStrategy`` over 2 logical CPU devices, and one process against two
   localhost ``MultiWorkerMirroredStrategy`` workers: on a 2-core machine this measures the
   overhead of distribution (splitting, all-reduce, synchronised BatchNorm), not a speed-up.
2. For every zoo entry with its default settings, the bytes all-reduced per training step: every
   network is updated once per step, so the gradients summed over the replicas are the float32
   sizes of all trainable weights (plus a few scalars: the finiteness checks and, for BatchNorm
   synchronised over replicas, 2 x channels floats per BatchNorm call). From those the ring
   all-reduce time: each device sends and receives 2 (N - 1) / N x bytes, at its link's bandwidth,
   for 8 GPUs over NVLink and for 2 machines over 25 Gb/s Ethernet.

Each configuration runs in its own process (logical devices must be set before TensorFlow starts).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, REPO)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pix2gan import zoo  # noqa: E402
from pix2gan.distribute import describe, make_strategy  # noqa: E402
from pix2gan.inference import iter_layers  # noqa: E402
from pix2gan.trainers import Pix2Pix  # noqa: E402
from pix2gan.zoo.pix2pix_facades import build_pix2pix  # noqa: E402

NVLINK_BYTES_PER_S = 300e9    # per direction, per GPU (A100 NVLink 3: 600 GB/s both ways)
ETHERNET_BYTES_PER_S = 25e9 / 8


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def timed_run(strategy_name: str, steps: int, size: int, batch: int, cpu_replicas: int | None = None,
              workers: str | None = None, index: int | None = None) -> dict:
    """ms per step (median after 2 warm-up steps) of pix2pix fit() under the named strategy."""
    strategy = make_strategy(strategy_name, cpu_replicas=cpu_replicas, workers=workers, worker_index=index)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        trainer = Pix2Pix(*build_pix2pix(size, filters=16))
        trainer.compile()
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (2, 2 * batch, size, size, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).repeat()
    timer = StepTimer()
    started = time.perf_counter()
    trainer.fit(data, epochs=1, steps_per_epoch=steps + 2, verbose=0, callbacks=[timer])
    gaps = np.diff([started] + timer.ends)[2:]
    return {"strategy": describe(strategy), "ms_per_step": 1000 * float(np.median(gaps)),
            "first_step_s": float(timer.ends[0] - started), "steps": len(gaps)}


def run_child(args: list[str], env=None, timeout=300) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, HERE, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES="", **(env or {})))


def child_result(proc: subprocess.Popen, timeout=300) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"child failed ({proc.returncode}): {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def entry_bytes() -> list[dict]:
    """Trainable float32 bytes per zoo entry (default settings), from its built networks."""
    rows = []
    for name in zoo.names():
        recipe = zoo.get(name)
        keras.backend.clear_session()
        try:
            trainer = recipe.build_trainer(1000, 0, False)
        except Exception as exc:  # an entry whose trainer needs its data first: named, not counted
            rows.append({"entry": name, "error": f"{type(exc).__name__}: {str(exc)[:80]}"})
            continue
        nets = {k: int(sum(np.prod(v.shape) for v in net.trainable_variables)) for k, net in trainer.networks.items()}
        norms = sum(int(layer.moving_mean.shape[0]) for net in trainer.networks.values()
                    for layer in iter_layers(net) if isinstance(layer, keras.layers.BatchNormalization))
        rows.append({"entry": name, "networks": nets, "params": sum(nets.values()),
                     "bytes": 4 * sum(nets.values()), "batchnorm_channels": norms, "batch_size": recipe.batch_size})
    return rows


def ring_seconds(nbytes: float, devices: int, bandwidth: float) -> float:
    """Ring all-reduce time: each device sends (and receives) 2 (N - 1) / N x bytes at ``bandwidth``."""
    return 2 * (devices - 1) / devices * nbytes / bandwidth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--skip-entries", action="store_true")
    args = p.parse_args()
    common = [str(args.steps), str(args.size), str(args.batch)]
    print(f"pix2pix step, {args.size}x{args.size}, filters 16, global batch {args.batch}, "
          f"{tf.config.experimental.get_device_details(tf.config.list_physical_devices('CPU')[0]) or 'CPU'}")
    print(f"{'configuration':42s} {'ms/step':>9s} {'first step s':>13s}")
    for label, child in (("1 device", ["_time", "default", *common]),
                         ("MirroredStrategy, 2 logical CPU devices", ["_time", "mirrored", *common, "2"])):
        found = child_result(run_child(child))
        print(f"{label:42s} {found['ms_per_step']:9.1f} {found['first_step_s']:13.1f}")
    ports = ",".join(map(str, free_ports(2)))
    procs = [run_child(["_worker", str(i), ports, *common]) for i in (0, 1)]
    found = [child_result(proc) for proc in procs]
    for i, f in enumerate(found):
        print(f"{f'MultiWorkerMirrored, localhost worker {i}':42s} {f['ms_per_step']:9.1f} {f['first_step_s']:13.1f}")
    if args.skip_entries:
        return
    print("\nbytes all-reduced per step (float32 gradients of every network; each network is updated once a step)")
    print(f"{'entry':28s} {'params':>11s} {'MB/step':>9s} {'BN ch':>6s} {'8 GPU NVLink ms':>16s} "
          f"{'2 x 25 Gb/s ms':>15s}")
    for row in entry_bytes():
        if "error" in row:
            print(f"{row['entry']:28s} not built: {row['error']}")
            continue
        nvlink = 1000 * ring_seconds(row["bytes"], 8, NVLINK_BYTES_PER_S)
        ethernet = 1000 * ring_seconds(row["bytes"], 2, ETHERNET_BYTES_PER_S)
        print(f"{row['entry']:28s} {row['params']:11,d} {row['bytes'] / 1e6:9.1f} {row['batchnorm_channels']:6d} "
              f"{nvlink:16.2f} {ethernet:15.1f}")
    print(f"\nring all-reduce: each device moves 2 (N - 1) / N x bytes; NVLink taken as {NVLINK_BYTES_PER_S / 1e9:.0f} GB/s "
          f"per direction per GPU (N = 8), Ethernet as 25 Gb/s = {ETHERNET_BYTES_PER_S / 1e9:.3f} GB/s between 2 "
          "machines (N = 2, after each machine has summed its own GPUs). Overlap with the backward pass not counted.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_time":
        _, _, name, steps, size, batch, *rest = sys.argv
        print(json.dumps(timed_run(name, int(steps), int(size), int(batch), int(rest[0]) if rest else None)))
    elif len(sys.argv) > 1 and sys.argv[1] == "_worker":
        _, _, index, ports, steps, size, batch = sys.argv
        workers = ",".join(f"localhost:{port}" for port in ports.split(","))
        print(json.dumps(timed_run("multiworker", int(steps), int(size), int(batch), workers=workers,
                                   index=int(index))))
    else:
        main()
