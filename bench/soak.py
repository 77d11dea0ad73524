"""Memory growth and retracing of every zoo entry over 1,000 training steps of ``Recipe.train``.

    python bench/soak.py [--only NAME ...] [--steps 1000] [--json FILE] [--data-dir DIR]

Each entry runs in its own subprocess: ``Recipe.train`` as a user calls it (``precision='auto'``,
its real training pipeline from ../shared/data/<data set> or ``--data-dir``, the synthetic set
where there is neither, its per-epoch callbacks: sample grids, TensorBoard, FID / GIFs where the
entry has them, backups every 250 steps, then its final scores, saving and report), for 10
epochs of ``--steps / 10`` steps. A probe callback, added to the entry's own, reads VmRSS after
every call of the compiled step and counts how often ``train_step`` runs in Python (a trace).

Steps of a second or more would make 1,000 steps take hours on 2 cores, so the heavy entries
run at a smaller batch or image size (``SIZES``): what could grow per step (Python objects,
tf.data state, callback buffers, traced functions) does not depend on the tensors' size. The
EuroSAT entries read 100 tiles per class (``DATA``), so that their final scores, which follow
the soaked steps, take minutes rather than most of an hour.

Columns: ``step ms`` (the median wall time per step between calls of the compiled step, so
epoch-end callbacks excluded), ``RSS e1`` / ``e6`` / ``e10`` (VmRSS at the last step of epochs 1,
6 and 10, before that epoch's callbacks), ``max`` (the most VmRSS read at any step), ``+MB e6-e10``
and ``MB/1k e6-e10`` (growth over the second half, epochs 6-10, and the least-squares slope of its
five epoch-end readings per 1,000 steps: what keeps growing once every per-epoch callback, FID
every 5 epochs included, has run at least once, as against a callback's one-off allocation),
``first`` (``train_step`` traces by the end of the first epoch: 1 where the step's metric
trackers exist before it traces) and ``retraces`` (traces after the first epoch).

Measured 2026-12-07 13:56-15:29 UTC (``python bench/soak.py --json ...``, 2 CPU cores,
TensorFlow 2.20.0, Keras 3.15.1, the real data sets of ../shared/data; other jobs shared the
cores at times, which changes ``step ms`` and ``total s``, not what is measured). cgan-mnist and
the two cloud-removal entries are from a second run (``--only``) with the epoch-end readings
this table is built from, and sequence-unet's row is the one its subprocess printed before the
runner's old 1,200 s timeout stopped it (the runner now stops a child by a timer, keeping a
result that came in time, and waits up to an hour):

| entry | sizes | precision | steps | step ms | RSS e1 MB | RSS e6 MB | RSS e10 MB | max MB | +MB e6-e10 | MB/1k e6-e10 | first | retraces | total s |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| cgan-mnist | its own | float32 | 1000 | 63.2 | 1182 | 1211 | 1211 | 1211 | +0.9 | +2.4 | 1 | 0 | 99 |
| cloud-removal-eurosat | batch_size=4 | mixed_bfloat16 | 1000 | 322.0 | 1348 | 1414 | 1388 | 1468 | -26.4 | -95.9 | 1 | 0 | 380 |
| cloud-removal-eurosat-plus | batch_size=4 | mixed_bfloat16 | 1000 | 281.5 | 1531 | 1477 | 1413 | 1549 | -64.2 | -122.6 | 1 | 0 | 395 |
| cyclegan-eurosat | image_size=32 | float32 | 1000 | 399.7 | 1785 | 1752 | 1762 | 1786 | +9.7 | +16.3 | 1 | 0 | 1262 |
| cyclegan-facades | image_size=32 | float32 | 1000 | 390.1 | 1454 | 1653 | 1670 | 1696 | +17.2 | +32.2 | 1 | 0 | 503 |
| dcgan-eurosat | batch_size=16 | mixed_bfloat16 | 1000 | 106.5 | 902 | 1307 | 1224 | 1308 | -83.1 | -264.3 | 1 | 0 | 122 |
| dcgan-eurosat-plus | batch_size=16 | mixed_bfloat16 | 1000 | 104.4 | 942 | 1362 | 1233 | 1363 | -128.3 | -386.6 | 1 | 0 | 123 |
| dcgan-mnist | its own | mixed_bfloat16 | 1000 | 66.1 | 1099 | 1156 | 1133 | 1157 | -23.0 | -45.8 | 1 | 0 | 91 |
| gan-mnist | its own | mixed_bfloat16 | 1000 | 10.5 | 1072 | 1090 | 1090 | 1090 | +0.8 | +2.2 | 1 | 0 | 30 |
| lsgan-mnist | its own | mixed_bfloat16 | 1000 | 46.2 | 1205 | 1225 | 1225 | 1225 | +0.5 | +1.3 | 1 | 0 | 95 |
| pix2pix-facades | image_size=64 | mixed_bfloat16 | 1000 | 203.5 | 1681 | 1759 | 1759 | 1842 | +0.4 | +62.0 | 1 | 0 | 346 |
| sequence-unet | batch_size=2 | mixed_bfloat16 | 1000 | 255.7 | 1646 | 1732 | 1733 | 1733 | +1.2 | +2.8 | 1 | 0 | 1213 |

Every entry traced its step once and never again over 1,000 steps and 10 epochs of callbacks.
No entry's memory keeps growing: after the first epoch's callbacks (and, for the dcgan-eurosat
entries, the first FID at epoch 5, +400 MB once, partly given back after), the epoch-end
readings stay within a band: +0.5 to +1.2 MB over the second half for the MNIST MLP GANs and
sequence-unet, and readings that go up and down by 20-90 MB between epochs for the others
(pix2pix-facades 1759, 1781, 1841, 1842, 1759), which is why a five-point slope reads +62 MB/1k
there while the second half's growth is +0.4 MB. The largest second-half growths, cyclegan-facades
+17.2 MB and cyclegan-eurosat +9.7 MB, are within their own readings' spread (1650-1694 and
1752-1783 MB).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from bench.run import count_traces, say, shared_data_dir, spawn, table, vm_rss_mb, write_json  # noqa: E402

# settings that bring a step to about 0.1-0.2 s here (the entries' own batch and size otherwise)
SIZES = {
    "dcgan-eurosat": {"batch_size": 16},
    "dcgan-eurosat-plus": {"batch_size": 16},
    "cloud-removal-eurosat": {"batch_size": 4},
    "cloud-removal-eurosat-plus": {"batch_size": 4},
    "cyclegan-eurosat": {"image_size": 32},
    "cyclegan-facades": {"image_size": 32},
    "pix2pix-facades": {"image_size": 64},
    "sequence-unet": {"batch_size": 2},
}
# data options that keep the final scores (which are not soaked) short: the EuroSAT entries score
# the whole held-out split, 8,100 tiles, otherwise
DATA = {name: {"max_per_class": 100} for name in ("dcgan-eurosat", "dcgan-eurosat-plus", "cloud-removal-eurosat",
                                                  "cloud-removal-eurosat-plus", "cyclegan-eurosat")}
EPOCHS = 10


class Probe(keras.callbacks.Callback):
    """``samples``: (step, time, VmRSS) after every call of the compiled step; ``traces``: how often
    ``train_step`` has been traced, at every epoch's end."""

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch, self.samples, self.traces, self.counter, self.epoch = steps_per_epoch, [], [], None, 0

    def set_model(self, model):
        super().set_model(model)
        if self.counter is None:  # fit() sets the model before it makes its train function from train_step
            self.counter = count_traces(model)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.samples.append((self.epoch * self.steps_per_epoch + batch + 1, time.perf_counter(), vm_rss_mb()))

    def on_epoch_end(self, epoch, logs=None):
        self.traces.append(self.counter[0])


def soak(entry: str, steps: int, data_dir: str | None, data_options: dict | None = None) -> dict:
    """One entry's row: ``Recipe.train`` for ``steps`` steps in 10 epochs, with the entry's
    ``SIZES`` and ``DATA`` options (``data_options`` added to them)."""
    import numpy as np

    from pix2gan import zoo

    per_epoch = max(1, steps // EPOCHS)
    options = {**DATA.get(entry, {}), **(data_options or {})}
    recipe = zoo.get(entry, epochs=EPOCHS, **SIZES.get(entry, {}))
    probe = Probe(per_epoch)

    # Recipe.train takes run options only (its signature is RunOptions, one to one with the
    # CLI), so the probe joins the entry's own callbacks through a subclass
    class Soaked(type(recipe)):
        def extra_callbacks(self, *args):
            return super().extra_callbacks(*args) + [probe]

    soaked = Soaked(**{f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe) if f.init})
    data_dir = data_dir or shared_data_dir(recipe)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pix2gan-soak-") as tmp:
        run = soaked.train(data_dir=data_dir, steps_per_epoch=per_epoch, logdir=os.path.join(tmp, "logs"),
                           out=os.path.join(tmp, "models"), backup_every=250, verbose=0,
                           synthetic=data_dir is None, **options)
        with open(run.card_path) as f:
            card = json.load(f)
    total_s = time.perf_counter() - start
    steps_seen = np.array([s for s, _, _ in probe.samples], float)
    times = np.array([t for _, t, _ in probe.samples])
    rss = np.array([r for _, _, r in probe.samples])
    gaps = np.diff(times) / np.maximum(np.diff(steps_seen), 1)
    return summarise({
        "entry": entry, "sizes": SIZES.get(entry, {}), "data_options": options, "batch": recipe.batch_size,
        "steps": int(steps_seen[-1]), "epochs": EPOCHS, "steps_per_epoch": per_epoch, "data": card.get("data"),
        "precision": card["run"].get("precision_used"), "steps_per_execution": card["run"].get("steps_per_execution"),
        "step_ms": float(np.median(gaps)) * 1e3, "total_s": total_s, "rss_max_mb": float(rss.max()),
        "first_traces": probe.traces[0], "retraces": probe.traces[-1] - probe.traces[0],
        "traces_by_epoch": probe.traces,
        # VmRSS at the last call of each epoch (before its epoch-end callbacks)
        "rss_by_epoch": [float(rss[steps_seen <= (e + 1) * per_epoch][-1]) for e in range(EPOCHS)]})


def summarise(row: dict) -> dict:
    """``row`` with the memory columns, from its ``rss_by_epoch``: VmRSS at the end of epochs 1, 6
    and 10, and over the second half (epochs 6-10, after every per-epoch callback, FID every 5
    epochs included, has run at least once) the growth and the least-squares slope per 1,000 steps."""
    import numpy as np
    rss = np.asarray(row["rss_by_epoch"], float)
    half = np.arange(EPOCHS // 2, EPOCHS)
    slope = np.polyfit((half + 1) * row["steps_per_epoch"], rss[half], 1)[0] * 1000
    return row | {"sizes_text": ", ".join(f"{k}={v}" for k, v in row["sizes"].items()) or "its own",
                  "rss_e1_mb": float(rss[0]), "rss_e6_mb": float(rss[half[0]]), "rss_end_mb": float(rss[-1]),
                  "rss_growth_2nd_half_mb": float(rss[-1] - rss[half[0]]), "rss_slope_2nd_half_mb_per_1k": float(slope)}


COLUMNS = [("entry", "entry", "{}"), ("sizes", "sizes_text", "{}"), ("precision", "precision", "{}"),
           ("steps", "steps", "{}"), ("step ms", "step_ms", "{:.1f}"), ("RSS e1 MB", "rss_e1_mb", "{:.0f}"),
           ("RSS e6 MB", "rss_e6_mb", "{:.0f}"), ("RSS e10 MB", "rss_end_mb", "{:.0f}"),
           ("max MB", "rss_max_mb", "{:.0f}"), ("+MB e6-e10", "rss_growth_2nd_half_mb", "{:+.1f}"),
           ("MB/1k e6-e10", "rss_slope_2nd_half_mb_per_1k", "{:+.1f}"), ("first", "first_traces", "{}"),
           ("retraces", "retraces", "{}"), ("total s", "total_s", "{:.0f}")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", help="entries to soak (default: every zoo entry)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per entry (10 epochs)")
    p.add_argument("--json", help="write the rows here (after every entry)")
    p.add_argument("--data-dir", help="data folder for every entry (default: ../shared/data/<data set>)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per entry subprocess")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        row = soak(args.child, args.steps, args.data_dir)
        say(f"  [{args.child}] row {json.dumps(row)}")
        print("RESULT " + json.dumps(row), flush=True)
        return 0

    from pix2gan import zoo
    names = [n for n in zoo.names() if not args.only or n in args.only]
    say(f"bench/soak.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {len(names)} entries x {args.steps} steps")
    rows, started = [], time.perf_counter()
    for name in names:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--steps", str(args.steps)]
        cmd += ["--data-dir", args.data_dir] if args.data_dir else []
        entry_start = time.perf_counter()
        row = spawn(cmd, args.timeout, name)
        rows.append(row)
        say(f"{name}: done in {time.perf_counter() - entry_start:.0f} s")
        if args.json:  # after every entry, so an interrupted run keeps what it measured
            write_json(args.json, rows)
    say("")
    say(table(rows, COLUMNS))
    say(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
