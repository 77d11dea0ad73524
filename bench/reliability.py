"""Reliability bench: kill-and-resume trials, steps lost per kill, backup overhead (and the fuzz bench).

    python bench/reliability.py                    # 24 kill trials + overhead + fuzz, about 15 CPU minutes
    python bench/reliability.py --trials 6 --no-fuzz --no-overhead

Kill trials. A tiny pix2pix (32 px, 4 filters, synthetic facades, 3 epochs x 6 steps, a backup
every 2 steps, ``deterministic=True``) runs in a worker process that is SIGKILLed at a random
point, then re-run to the end. Kinds of kill, in turn:

- ``step``: the parent kills the worker a random 0-40 ms after a random step began (mid-step);
- ``backup``: the worker kills itself while the Nth backup's weights file is half written;
- ``meta``: after the Nth backup's weights file is in place, before its record (incomplete backup);
- ``corrupt``: after the Nth backup completed, with its weights file damaged (disk corruption);
- ``stage``: while the final model set is being staged;
- ``commit``: after the set was committed, with only some files moved into place.

A trial passes when the re-run completes, the total step count is right (18), the final weights
are bit-equal to an uninterrupted run's, no temporary file or folder is left, and every saved file
matches the sha256 in its model card. "Steps lost" is the last step the killed worker finished
minus the step the re-run resumed from (bounded by the backup interval; a corrupt newest backup
costs one more interval).

Overhead. The full-size pix2pix trainer (256 px, 64 filters, batch 1): mean step time, the time
of one backup (save_weights + fsync + sha256 + record), and the backup's share of the training
time at the default (automatic) interval and at fixed step intervals. Also the cost of the
per-step finiteness check of every gradient.

The worker mode (``python bench/reliability.py worker --dir D ...``) is what
tests/test_reliability.py drives too.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS, STEPS, BACKUP_EVERY = 3, 6, 2
KINDS = ("step", "backup", "meta", "corrupt", "stage", "commit")


# ---------------------------------------------------------------------------------------- worker

def _kill_self() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill(spec: str | None) -> None:
    """Patch pix2gan.saving so the worker SIGKILLs itself at the point ``spec`` ('kind:n') names."""
    if not spec:
        return
    from pix2gan import saving
    kind, _, number = spec.partition(":")
    n = int(number or 1)
    calls = {"count": 0}

    if kind == "backup":  # half of the Nth backup's temporary weights file is on disk
        original_fsync = saving.fsync_path

        def fsync_path(path):
            name = os.path.basename(path)
            if name.startswith(".ckpt-") and ".tmp" in name:
                calls["count"] += 1
                if calls["count"] == n:
                    with open(path, "r+b") as f:
                        f.truncate(os.path.getsize(path) // 2)
                    _kill_self()
            return original_fsync(path)
        saving.fsync_path = fsync_path
    elif kind in ("meta", "corrupt"):
        original_atomic = saving.atomic_write

        def _atomic(path, write):
            name = os.path.basename(path)
            if name.startswith("ckpt-") and name.endswith(".json"):
                calls["count"] += 1
                if calls["count"] == n:
                    if kind == "meta":
                        _kill_self()
                    result = original_atomic(path, write)
                    weights = path[:-len(".json")] + ".weights.h5"
                    with open(weights, "r+b") as f:  # flip bytes in the middle of the finished file
                        f.seek(os.path.getsize(weights) // 2)
                        block = f.read(64)
                        f.seek(os.path.getsize(weights) // 2)
                        f.write(bytes(b ^ 0xFF for b in block))
                    _kill_self()
                    return result
            return original_atomic(path, write)
        saving.atomic_write = _atomic
    elif kind == "stage":
        original_card = saving.write_model_card

        def write_model_card(out_dir, stem, card):
            if ".saving" in os.path.basename(os.path.normpath(out_dir)):
                _kill_self()
            return original_card(out_dir, stem, card)
        saving.write_model_card = write_model_card
    elif kind == "commit":
        def _finish_commit(commit, out_dir):
            names = sorted((x for x in os.listdir(commit) if not x.startswith(".")), key=saving._commit_order)
            for name in names[:n]:
                os.replace(os.path.join(commit, name), os.path.join(out_dir, name))
            _kill_self()
        saving._finish_commit = _finish_commit
    elif kind != "step":
        raise SystemExit(f"unknown kill kind {kind!r}")


def worker(argv: list[str]) -> int:
    """Train the tiny pix2pix in ``--dir``; print ``STEP n`` after each step and ``RESULT {json}``."""
    parser = argparse.ArgumentParser(prog="reliability.py worker")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--backup-every", type=int, default=BACKUP_EVERY)
    parser.add_argument("--kill", default=None, help="kind:n, see the module doc")
    parser.add_argument("--nan-at", type=int, default=0, help="make the generator's weights NaN before this step")
    parser.add_argument("--on-nan", default="stop")
    parser.add_argument("--nondeterministic", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import keras
    import numpy as np

    from pix2gan.training import TrainingDiverged
    from pix2gan.zoo.pix2pix_facades import Pix2PixFacades
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    _install_kill(args.kill)

    class Probe(keras.callbacks.Callback):
        injected = False

        def on_train_batch_begin(self, batch, logs=None):
            done = int(self.model.optimizers["generator"].iterations)
            if args.nan_at and done == args.nan_at - 1 and not Probe.injected:
                Probe.injected = True
                kernel = self.model.generator.trainable_variables[-1]  # the output layer: tanh(nan) is nan
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

        def on_train_batch_end(self, batch, logs=None):
            print(f"STEP {int(self.model.optimizers['generator'].iterations)}", flush=True)

    class Tiny(Pix2PixFacades):
        def extra_callbacks(self, trainer, data, options, run_dir, seed):
            return [Probe()]

    os.chdir(args.dir)
    recipe = Tiny(image_size=32, filters=4, batch_size=2, epochs=args.epochs)
    try:
        run = recipe.train(synthetic=True, steps_per_epoch=args.steps, val_steps=1, verbose=0, run_name="r",
                           backup_every=args.backup_every, deterministic=not args.nondeterministic,
                           on_nan=args.on_nan)
    except TrainingDiverged as exc:
        print(f"DIVERGED {json.dumps({'step': exc.step, 'loss': exc.loss_name, 'message': str(exc)})}", flush=True)
        return 3
    trainer = run.trainer
    digest = hashlib.sha256()
    for array in trainer.generator.get_weights() + trainer.discriminator.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    print("RESULT " + json.dumps({"steps": int(trainer.optimizers["generator"].iterations),
                                  "digest": digest.hexdigest(),
                                  "lr": float(trainer.optimizers["generator"].learning_rate)}), flush=True)
    return 0


# ---------------------------------------------------------------------------------------- trials

def run_worker(workdir: str, *extra: str, kill_at_step: int | None = None, kill_delay: float = 0.0,
               timeout: float = 600.0) -> dict:
    """Run the worker; with ``kill_at_step`` SIGKILL it ``kill_delay`` s after it reports that step.
    Returns rc, the last step it reported, the resume step it logged, its result and stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", "--dir", workdir, *extra],
                            stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    last, result, diverged, deadline = 0, None, None, time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith("STEP "):
            last = int(line.split()[1])
            if kill_at_step is not None and last >= kill_at_step:
                time.sleep(kill_delay)
                proc.send_signal(signal.SIGKILL)
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
        elif line.startswith("DIVERGED "):
            diverged = json.loads(line[9:])
        if time.monotonic() > deadline:
            proc.kill()
    rc = proc.wait()
    err.seek(0)
    stderr = err.read()
    resumed = 0
    for line in stderr.splitlines():
        if "resuming from" in line and ": step " in line:
            resumed = int(line.split(": step ")[1].split()[0])
    return {"rc": rc, "last_step": last, "resumed_from": resumed, "result": result, "diverged": diverged,
            "stderr": stderr}


def leftovers(workdir: str) -> list[str]:
    """Temporary files or folders, and saved files that differ from their card's sha256."""
    from pix2gan.saving import file_sha256
    found = [p for folder in (os.path.join(workdir, "models"), os.path.join(workdir, "logs", "r", "backup"))
             for p in glob.glob(os.path.join(folder, ".*"))]
    card = os.path.join(workdir, "models", "r_generator.json")
    if not os.path.isfile(card):
        return found + ["no model card"]
    with open(card) as f:
        hashes = json.load(f).get("sha256", {})
    for name, digest in hashes.items():
        path = os.path.join(workdir, "models", name)
        if not os.path.isfile(path) or file_sha256(path) != digest:
            found.append(f"{name} differs from its card")
    return found


def trial(kind: str, rng: random.Random, reference: dict, root: str) -> dict:
    """One kill of ``kind`` and a re-run; the outcome and the reason of a failure."""
    workdir = tempfile.mkdtemp(prefix=f"{kind}-", dir=root)
    total = EPOCHS * STEPS
    if kind == "step":
        killed = run_worker(workdir, kill_at_step=rng.randint(1, total - 1), kill_delay=rng.uniform(0.0, 0.04))
    elif kind in ("backup", "meta", "corrupt"):
        killed = run_worker(workdir, "--kill", f"{kind}:{rng.randint(2, total // BACKUP_EVERY - 1)}")
    elif kind == "stage":
        killed = run_worker(workdir, "--kill", "stage")
    else:
        killed = run_worker(workdir, "--kill", f"commit:{rng.randint(1, 4)}")
    again = run_worker(workdir)
    outcome = {"kind": kind, "killed": killed["rc"] == -signal.SIGKILL, "killed_at": killed["last_step"],
               "resumed_from": again["resumed_from"], "lost": max(0, killed["last_step"] - again["resumed_from"]),
               "steps": (again["result"] or {}).get("steps")}
    problems = []
    if not outcome["killed"]:
        problems.append(f"the worker was not killed (rc {killed['rc']})")
    if again["rc"] != 0 or again["result"] is None:
        tail = [line for line in again["stderr"].splitlines() if line.strip()][-3:]
        problems.append(f"the re-run failed (rc {again['rc']}): {' | '.join(tail)}")
    else:
        if again["result"]["steps"] != total:
            problems.append(f"{again['result']['steps']} steps, not {total}")
        if again["result"]["digest"] != reference["digest"]:
            problems.append("final weights differ from the uninterrupted run's")
    left = leftovers(workdir)
    if left:
        problems.append(f"left over: {', '.join(left)}")
    outcome["problems"] = problems
    outcome["passed"] = not problems
    return outcome


def kill_trials(n: int, seed: int, root: str) -> list[dict]:
    reference_dir = tempfile.mkdtemp(prefix="reference-", dir=root)
    reference = run_worker(reference_dir)
    if reference["rc"] != 0:
        raise SystemExit(f"the uninterrupted run failed:\n{reference['stderr'][-3000:]}")
    rng = random.Random(seed)
    outcomes = []
    for i in range(n):
        outcome = trial(KINDS[i % len(KINDS)], rng, reference["result"], root)
        outcomes.append(outcome)
        print(f"trial {i + 1:2d} {outcome['kind']:8s} killed at step {outcome['killed_at']:2d}, resumed from "
              f"{outcome['resumed_from']:2d}: {'pass' if outcome['passed'] else 'FAIL ' + '; '.join(outcome['problems'])}",
              flush=True)
    return outcomes


# ---------------------------------------------------------------------------------------- overhead

def overhead(steps: int = 4, image_size: int = 256) -> dict:
    """Step time, backup time and the finiteness check's cost for the full-size pix2pix trainer."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from pix2gan.callbacks import AUTO_BACKUP_SECONDS, AUTO_BACKUP_SHARE
    from pix2gan.saving import BackupStore, all_finite, capture_state, state_variables
    from pix2gan.trainers import Pix2Pix
    from pix2gan.trainers.base import GANTrainer
    from pix2gan.zoo.pix2pix_facades import build_pix2pix

    def timed_steps(unchecked: bool) -> float:
        keras.utils.set_random_seed(0)
        trainer = Pix2Pix(*build_pix2pix(image_size))
        trainer.compile()
        if unchecked:  # the update without the finiteness check, for comparison
            def optimize(name, tape, loss):
                GANTrainer.apply_gradients(trainer.optimizers[name], tape, loss,
                                           trainer.networks[name].trainable_variables)
            trainer.optimize = optimize
        x = np.random.default_rng(0).uniform(-1, 1, (1, image_size, image_size, 3)).astype("float32")
        ds = tf.data.Dataset.from_tensors((x, x)).repeat()
        trainer.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)  # trace outside the timing
        start = time.perf_counter()
        trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / steps, trainer

    # alternated, best of two, as other work shares the CPU
    checked, trainer = timed_steps(False)
    unchecked, _ = timed_steps(True)
    checked = min(checked, timed_steps(False)[0])
    unchecked = min(unchecked, timed_steps(True)[0])
    folder = tempfile.mkdtemp(prefix="backup-")
    store = BackupStore(folder)
    times = []
    for i in range(3):
        start = time.perf_counter()  # what StepBackup.save does: the finiteness check, then the write
        assert all_finite(state_variables(trainer))
        store.save(trainer, capture_state(trainer, i + 1))
        times.append(time.perf_counter() - start)
    backup = float(np.median(times))
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(folder, "ckpt-*.weights.h5"))) / len(store.steps())
    start = time.perf_counter()
    BackupStore(folder).restore(trainer)
    restore = time.perf_counter() - start
    interval = max(AUTO_BACKUP_SECONDS, backup / AUTO_BACKUP_SHARE)
    return {"step_s": checked, "unchecked_step_s": unchecked, "backup_s": backup, "restore_s": restore,
            "backup_mb": size / 1e6, "auto_interval_s": interval, "auto_share": backup / (interval + backup),
            "every_100_share": backup / (100 * checked + backup), "every_10_share": backup / (10 * checked + backup)}


# ---------------------------------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.exit(worker(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overhead-steps", type=int, default=4)
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--no-fuzz", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, REPO)
    rows = []
    if args.trials:
        with tempfile.TemporaryDirectory(prefix="reliability-") as root:
            outcomes = kill_trials(args.trials, args.seed, root)
        passed = sum(o["passed"] for o in outcomes)
        lost = [o["lost"] for o in outcomes if o["kind"] in ("step", "backup", "meta", "corrupt")]
        rows += [("kill-and-resume trials passed / run", f"{passed} / {len(outcomes)}"),
                 ("steps lost per kill: mean / max (interval 2)", f"{sum(lost) / max(1, len(lost)):.2f} / {max(lost)}")]
        for kind in KINDS:
            mine = [o for o in outcomes if o["kind"] == kind]
            if mine:
                rows.append((f"  {kind}: passed / run, steps lost max", f"{sum(o['passed'] for o in mine)} / "
                             f"{len(mine)}, {max(o['lost'] for o in mine)}"))
    if not args.no_overhead:
        o = overhead(args.overhead_steps)
        rows += [("full pix2pix step (s), with / without the finiteness check",
                  f"{o['step_s']:.3f} / {o['unchecked_step_s']:.3f} "
                  f"({100 * (o['step_s'] / o['unchecked_step_s'] - 1):+.1f}%)"),
                 ("backup: size (MB), write (s), restore (s)",
                  f"{o['backup_mb']:.0f}, {o['backup_s']:.2f}, {o['restore_s']:.2f}"),
                 ("backup overhead at the default interval", f"{100 * o['auto_share']:.2f}% (every "
                  f"{o['auto_interval_s']:.0f} s)"),
                 ("backup overhead every 100 / 10 steps",
                  f"{100 * o['every_100_share']:.2f}% / {100 * o['every_10_share']:.2f}%")]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")

    # ---- fuzzed inputs: bench/fuzz.py (written separately) runs here when present -------------
    if not args.no_fuzz:
        if os.path.isfile(os.path.join(REPO, "bench", "fuzz.py")):
            sys.path.insert(0, os.path.join(REPO, "bench"))
            import fuzz
            result = fuzz.run_fuzz()
            print(fuzz.markdown(result) if hasattr(fuzz, "markdown") else result)
        else:
            print("bench/fuzz.py is missing: the fuzzed-inputs part was not run")


if __name__ == "__main__":
    main()
