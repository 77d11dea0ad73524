"""Reliability: exact resume from atomic backups, divergence stops (or rolls back), sets saved whole."""
import json
import logging
import os
import random
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from pix2gan import saving
from pix2gan.errors import Pix2GanError
from pix2gan.saving import BackupStore, capture_state, check_against_card, clean_stale, load_model, save_run
from pix2gan.trainers import GANTrainer, Pix2Pix
from pix2gan.trainers.base import FiniteWatch
from pix2gan.training import MAX_ROLLBACKS, TrainingDiverged, fit_gan, steps_per_call
from pix2gan.zoo.recipe import RunOptions

sys.path.insert(0, os.path.join(REPO, "bench"))
import reliability  # noqa: E402  (the bench's worker and trial code)


def toy_nets():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(8, activation="relu")(inputs))
    g = keras.Model(inputs, keras.layers.Dense(4)(hidden), name="g")
    inputs = keras.Input((4,))
    d = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(inputs)), name="d")
    return g, d


class ToyGAN(GANTrainer):
    """x -> y with an adversarial and an L1 term; dropout in G, so resuming must restore its seeds."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(x, training=True)
            fake_logits, real_logits = self.discriminator(fake, training=True), self.discriminator(y, training=True)
            g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits)) + tf.reduce_mean(tf.abs(fake - y))
            d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
        self.optimize("generator", g_tape, g_loss)
        self.optimize("discriminator", d_tape, d_loss)
        return self.track({"g_loss": g_loss, "d_loss": d_loss})


def toy_trainer(seed=0, lr=1e-2):
    keras.utils.set_random_seed(seed)
    trainer = ToyGAN(*toy_nets())
    trainer.compile(keras.optimizers.Adam(lr), keras.optimizers.SGD(lr, momentum=0.9))
    return trainer


def toy_data(nan_at_step=None, batch=4):
    """40 pairs, shuffled per pass; with ``nan_at_step`` unshuffled, and that step's targets NaN
    (a pass is 10 batches)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x * 0.5 + 1.0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if nan_at_step is not None:
        y[(nan_at_step - 1) % 10 * batch] = np.nan
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return ds.shuffle(40, seed=1).batch(batch, drop_remainder=True)


def weights_of(trainer):
    return [np.array(v) for v in trainer.weights] + [np.array(v) for o in trainer.optimizers.values()
                                                     for v in o.variables]


class Interrupt(keras.callbacks.Callback):
    """Stands in for a kill: raises after global step ``at`` (counted by the generator's optimizer)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizers["generator"].iterations) >= self.at:
            raise KeyboardInterrupt


class PoisonOnce(keras.callbacks.Callback):
    """Makes G's output bias NaN just before step ``at``, once."""

    def __init__(self, at):
        super().__init__()
        self.at, self.done = at, False

    def on_train_batch_begin(self, batch, logs=None):
        if not self.done and int(self.model.optimizers["generator"].iterations) == self.at - 1:
            self.done = True
            kernel = self.model.generator.trainable_variables[-1]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


# ------------------------------------------------------------------------------- exact resume

def test_an_interrupted_run_resumes_mid_epoch_to_the_uninterrupted_weights(tmp_path, caplog):
    common = dict(epochs=3, steps_per_epoch=4, backup_every=3, verbose=0)
    whole = toy_trainer()
    history = fit_gan(whole, toy_data(), run_dir=str(tmp_path / "whole"), **common)
    assert int(whole.optimizers["generator"].iterations) == 12 and history.epoch == [0, 1, 2]

    first = toy_trainer()
    with pytest.raises(KeyboardInterrupt):  # killed in epoch 2, step 8; the last backup is step 6
        fit_gan(first, toy_data(), run_dir=str(tmp_path / "cut"), callbacks=[Interrupt(8)], **common)
    assert BackupStore(str(tmp_path / "cut" / "backup")).steps() == [6, 3]
    resumed = toy_trainer(seed=5)  # other initial weights and seeds: everything comes from the backup
    keras.utils.set_random_seed(0)  # the pipeline's shuffle depends on the global seed, as in a re-run
    with caplog.at_level(logging.INFO, logger="pix2gan"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_gan(resumed, toy_data(), run_dir=str(tmp_path / "cut"), rebuild_train=toy_data, **common)
    assert not [str(w.message) for w in caught if "optimizer" in str(w.message).lower()]  # no spurious one
    assert "step 6 of 12 (epoch 2, batch 2)" in caplog.text
    assert history.epoch == [1, 2] and int(resumed.optimizers["generator"].iterations) == 12
    for got, expected in zip(weights_of(resumed), weights_of(whole)):
        np.testing.assert_array_equal(got, expected)
    # the resumed epoch's logged means cover the whole epoch, as in the uninterrupted run
    assert history.history["g_loss"][-1] == pytest.approx(fit_history_last(whole, "g_loss"), rel=1e-6)


def fit_history_last(trainer, name):
    return float(trainer.tracker(name).result())


def test_backups_are_written_atomically_and_corrupt_or_incomplete_ones_fall_back(tmp_path, caplog):
    trainer = toy_trainer()
    store = BackupStore(str(tmp_path / "backup"), keep=3)
    for step in (2, 4, 6):
        store.save(trainer, capture_state(trainer, step))
    assert store.steps() == [6, 4, 2]
    assert not [n for n in os.listdir(store.folder) if n.startswith(".")]  # no temporary file stays
    weights6 = str(tmp_path / "backup" / "ckpt-0000000006.weights.h5")
    with open(weights6, "r+b") as f:  # damage the newest backup's weights in the middle
        f.seek(os.path.getsize(weights6) // 2)
        block = f.read(32)
        f.seek(os.path.getsize(weights6) // 2)
        f.write(bytes(b ^ 0xFF for b in block))
    os.remove(str(tmp_path / "backup" / "ckpt-0000000004.json"))  # and leave the one before incomplete
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        state = store.restore(toy_trainer(seed=3))
    assert state.step == 2
    assert "corrupt backup" in caplog.text and "ckpt-0000000006.weights.h5" in caplog.text
    assert "incomplete backup" in caplog.text and "falling back to the previous backup" in caplog.text
    # a new backup drops the later (bad) ones and keeps the previous good one
    store.keep = 2
    store.save(trainer, capture_state(trainer, 3))
    assert store.steps() == [3, 2]


def test_a_truncated_keras_backup_is_named_corrupt_not_another_model(tmp_path, caplog):
    trainer = toy_trainer()
    folder = tmp_path / "backup"
    folder.mkdir()
    trainer.save_weights(str(folder / "latest.weights.h5"))
    (folder / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    state = BackupStore(str(folder)).restore(toy_trainer(seed=1), steps_per_epoch=5)
    assert state.step == 10  # an old epoch backup still resumes
    with open(folder / "latest.weights.h5", "r+b") as f:
        f.truncate(os.path.getsize(folder / "latest.weights.h5") // 3)
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        assert BackupStore(str(folder)).restore(toy_trainer(seed=1), steps_per_epoch=5) is None
    assert "corrupt backup" in caplog.text and "truncated" in caplog.text


def test_a_backup_of_another_model_is_refused(tmp_path):
    store = BackupStore(str(tmp_path / "backup"))
    store.save(toy_trainer(), capture_state(toy_trainer(), 1))
    keras.utils.set_random_seed(0)
    g, d = toy_nets()
    other = ToyGAN(keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)]), d)
    other.compile()
    with pytest.raises(Pix2GanError, match="holds a backup of a different model.*--run-name"):
        store.restore(other)


# ------------------------------------------------------------------------------- divergence

def test_a_nan_loss_stops_the_run_at_that_step_and_writes_nothing(tmp_path):
    trainer = toy_trainer()
    with pytest.raises(TrainingDiverged) as info:
        fit_gan(trainer, toy_data(nan_at_step=7), run_dir=str(tmp_path), epochs=2, steps_per_epoch=5,
                backup_every=2, verbose=0)
    assert info.value.step == 7 and info.value.loss_name == "generator loss"
    assert "step 7 (epoch 2, batch 2): the generator loss is nan" in str(info.value)
    assert "last good backup (6 steps)" in str(info.value) and "--on-nan rollback" in str(info.value)
    # step 7's updates were skipped: the weights and optimizers are the finite state after step 6
    assert int(trainer.optimizers["generator"].iterations) == 6
    assert all(np.isfinite(w).all() for w in weights_of(trainer))
    assert BackupStore(str(tmp_path / "backup")).steps() == [6, 4]


def test_a_nan_gradient_with_a_finite_loss_is_caught_too():
    watch_trainer = toy_trainer()
    x = tf.constant([[1.0, 2.0, 3.0, 4.0]])
    with tf.GradientTape() as tape:
        out = watch_trainer.generator(x)
        loss = tf.reduce_mean(tf.sqrt(tf.abs(out) * 0.0))  # finite loss (0), gradient 0 * inf = nan
    before = [np.array(v) for v in watch_trainer.generator.trainable_variables]
    watch_trainer.optimize("generator", tape, loss)
    found = watch_trainer.nonfinite_update()
    assert found["network"] == "generator" and found["kind"] == "gradient" and found["loss"] == 0.0
    for got, expected in zip(watch_trainer.generator.trainable_variables, before):
        np.testing.assert_array_equal(np.array(got), expected)  # the update was skipped
    watch_trainer.reset_nonfinite()
    assert watch_trainer.nonfinite_update() is None
    assert isinstance(watch_trainer._finite_watch, FiniteWatch)
    assert not [v for v in watch_trainer.weights if "count" in v.path]  # the watch is not saved


def test_rollback_restores_the_last_backup_lowers_the_rates_and_finishes(tmp_path, caplog):
    trainer = toy_trainer(lr=1e-2)
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        fit_gan(trainer, toy_data(), run_dir=str(tmp_path), epochs=2, steps_per_epoch=5, backup_every=2,
                verbose=0, on_nan="rollback", callbacks=[PoisonOnce(7)])
    assert "diverged at step 7" in caplog.text and "rolled back to step 6" in caplog.text
    assert int(trainer.optimizers["generator"].iterations) == 10
    assert all(np.isfinite(w).all() for w in weights_of(trainer))
    for opt in trainer.optimizers.values():
        assert float(opt.learning_rate) == pytest.approx(5e-3)
    with open(tmp_path / "backup" / "ckpt-0000000010.json") as f:
        record = json.load(f)
    assert record["lr_scale"] == 0.5 and record["rollbacks"] == 1


def test_rollback_gives_up_after_a_few_tries(tmp_path, caplog):
    trainer = toy_trainer()
    with caplog.at_level(logging.WARNING, logger="pix2gan"), pytest.raises(TrainingDiverged, match="step 3"):
        fit_gan(trainer, toy_data(nan_at_step=3), run_dir=str(tmp_path), epochs=1, steps_per_epoch=5,
                backup_every=2, verbose=0, on_nan="rollback")
    assert caplog.text.count("rolled back to step 2") == MAX_ROLLBACKS


def test_out_of_domain_settings_are_refused_before_any_work():
    g, d = toy_nets()
    with pytest.raises(Pix2GanError, match="learning rate -1.0 is out of its domain"):
        ToyGAN(g, d).compile(keras.optimizers.Adam(-1.0))
    with pytest.raises(Pix2GanError, match="learning rate nan"):
        ToyGAN(g, d).compile(d_optimizer=keras.optimizers.Adam(float("nan")))
    with pytest.raises(Pix2GanError, match="label_smoothing=1.0"):
        ToyGAN(g, d, label_smoothing=1.0)
    for bad in (dict(l1_weight=float("nan")), dict(l1_weight=-1.0), dict(psnr_weight=float("inf"))):
        with pytest.raises(Pix2GanError, match=list(bad)[0]):
            Pix2Pix(g, d, **bad)
    for bad, text in ((dict(backup_every=0), "backup_every=0 must be at least 1"),
                      (dict(on_nan="ignore"), "on_nan='ignore' is not one of stop, rollback"),
                      (dict(deterministic="yes"), "deterministic='yes' must be True or False")):
        with pytest.raises(Pix2GanError, match=text):
            RunOptions(**bad)


# ------------------------------------------------------------------------------- whole sets

def small_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_a_set_is_saved_whole_and_an_interrupted_commit_is_finished(tmp_path, monkeypatch):
    out = str(tmp_path / "models")
    first = save_run(out, "r", small_model(0), {"entry": "x"}, small_model(1))
    assert sorted(os.listdir(out)) == ["r_discriminator.h5", "r_discriminator.weights.h5", "r_generator.h5",
                                       "r_generator.json", "r_generator.md", "r_generator.weights.h5"]
    card = json.load(open(first["card"]))
    assert set(card["sha256"]) == {"r_generator.h5", "r_generator.weights.h5", "r_discriminator.h5",
                                   "r_discriminator.weights.h5"}

    def killed_after_two(commit, out_dir):  # a kill after the commit, with two files moved
        names = sorted(os.listdir(commit), key=saving._commit_order)
        for name in names[:2]:
            os.replace(os.path.join(commit, name), os.path.join(out_dir, name))
        raise KeyboardInterrupt
    monkeypatch.setattr(saving, "_finish_commit", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        save_run(out, "r", small_model(2), {"entry": "x"}, small_model(3))
    monkeypatch.undo()
    with pytest.raises(Pix2GanError, match="unfinished save"):
        load_model(os.path.join(out, "r_generator.h5"))
    assert "finished the interrupted save of run r" in clean_stale(out)[0]
    assert not [n for n in os.listdir(out) if n.startswith(".")]
    x = np.ones((1, 4), "float32")
    np.testing.assert_allclose(load_model(os.path.join(out, "r_generator.h5"))(x), small_model(2)(x), atol=1e-6)
    for name in json.load(open(first["card"]))["sha256"]:
        check_against_card(os.path.join(out, name))


def test_a_kill_before_the_commit_keeps_the_old_set_and_stale_files_are_cleaned(tmp_path, monkeypatch):
    out = str(tmp_path / "models")
    save_run(out, "r", small_model(0), {"entry": "x"})
    before = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(saving, "write_model_card", killed)
    with pytest.raises(KeyboardInterrupt):
        save_run(out, "r", small_model(5), {"entry": "x"})
    monkeypatch.undo()
    assert {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)} == before
    # what SIGKILLed saves leave behind (a dead process id), and a live one's file, which stays
    dead = 2 ** 22 + 12345
    os.makedirs(os.path.join(out, f".r.saving{dead}"))
    open(os.path.join(out, f".r_generator.tmp{dead}.h5"), "w").close()
    open(os.path.join(out, f".r_generator.tmp{os.getpid()}.h5"), "w").close()
    done = clean_stale(out)
    assert len(done) == 2 and not os.path.exists(os.path.join(out, f".r.saving{dead}"))
    assert os.listdir(out).count(f".r_generator.tmp{os.getpid()}.h5") == 1


def test_a_file_from_another_save_is_reported_on_load(tmp_path):
    out = str(tmp_path / "models")
    save_run(out, "r", small_model(0), {"entry": "x"})
    small_model(7).save(os.path.join(out, "r_generator.h5"))  # replaced behind the card's back
    with pytest.raises(Pix2GanError, match="does not match its model card .*sha256"):
        load_model(os.path.join(out, "r_generator.h5"))


def test_the_cli_has_the_reliability_flags(capsys):
    from pix2gan.cli import main
    assert main(["train", "pix2pix-facades", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--backup-every", "--deterministic", "--on-nan"):
        assert flag in text


# ------------------------------------------------------------------------------- kills (slow)

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny pix2pix run of bench/reliability.py, uninterrupted."""
    run = reliability.run_worker(str(tmp_path_factory.mktemp("reference")))
    assert run["rc"] == 0, run["stderr"][-3000:]
    assert run["result"]["steps"] == reliability.EPOCHS * reliability.STEPS
    return run["result"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["step", "backup", "corrupt", "commit"])
def test_a_killed_run_resumes_to_the_same_steps_and_weights(kind, reference, tmp_path):
    outcome = reliability.trial(kind, random.Random(len(kind)), reference, str(tmp_path))
    assert outcome["passed"], outcome["problems"]
    assert outcome["lost"] <= 2 * reliability.BACKUP_EVERY


@pytest.mark.slow
def test_nan_at_step_k_stops_at_k_or_rolls_back(tmp_path):
    stopped = reliability.run_worker(str(tmp_path), "--nan-at", "8")
    assert stopped["rc"] == 3 and stopped["diverged"]["step"] == 8, stopped["stderr"][-2000:]
    assert "generator loss is nan" in stopped["diverged"]["message"]
    assert not os.path.exists(tmp_path / "models" / "r_generator.h5")  # nothing saved
    again = tmp_path / "rollback"
    again.mkdir()
    run = reliability.run_worker(str(again), "--nan-at", "8", "--on-nan", "rollback")
    assert run["rc"] == 0, run["stderr"][-2000:]
    assert run["result"]["steps"] == reliability.EPOCHS * reliability.STEPS
    assert run["result"]["lr"] == pytest.approx(1e-4)
    assert "rolled back to step 6" in run["stderr"]


class CallCounter(keras.callbacks.Callback):
    """Counts the calls of the compiled step (Keras calls on_train_batch_end once per call)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1


def test_steps_per_call_is_the_largest_divisor_up_to_the_wish():
    assert [steps_per_call(s, w) for s, w in ((12, 25), (10, 4), (937, 25), (600, 25), (7, 1), (3, 8))] == \
        [12, 2, 1, 25, 1, 3]


def test_several_steps_per_call_keep_epochs_backups_and_resumes_exact(tmp_path):
    """steps_per_execution 4 on 6-step epochs runs calls of 3 steps (4 would overrun the epoch);
    a resume from a backup at epoch 2's third step runs the rest of that epoch and ends with the
    weights of the uninterrupted run, which equal those of one step per call."""
    common = dict(epochs=3, steps_per_epoch=6, backup_every=3, verbose=0)
    one = toy_trainer()
    fit_gan(one, toy_data(), run_dir=str(tmp_path / "one"), **common)
    whole, calls = toy_trainer(), CallCounter()
    history = fit_gan(whole, toy_data(), run_dir=str(tmp_path / "whole"), callbacks=[calls], steps_per_execution=4,
                      **common)
    assert int(whole.optimizers["generator"].iterations) == 18 and history.epoch == [0, 1, 2]
    assert calls.calls == 6 and whole.steps_per_execution == 3
    assert BackupStore(str(tmp_path / "whole" / "backup")).steps()[0] == 18
    for got, expected in zip(weights_of(whole), weights_of(one)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    first = toy_trainer()
    with pytest.raises(KeyboardInterrupt):  # killed at step 12 (end of epoch 2): the last backup is step 9
        fit_gan(first, toy_data(), run_dir=str(tmp_path / "cut"), callbacks=[Interrupt(12)], steps_per_execution=4,
                **common)
    assert BackupStore(str(tmp_path / "cut" / "backup")).steps()[:2] == [9, 6]
    resumed = toy_trainer(seed=5)
    keras.utils.set_random_seed(0)
    history = fit_gan(resumed, toy_data(), run_dir=str(tmp_path / "cut"), rebuild_train=toy_data,
                      steps_per_execution=4, **common)
    assert history.epoch == [1, 2] and int(resumed.optimizers["generator"].iterations) == 18
    for got, expected in zip(weights_of(resumed), weights_of(whole)):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(Pix2GanError, match="steps_per_execution=0 must be at least 1"):
        fit_gan(toy_trainer(), toy_data(), run_dir=str(tmp_path / "zero"), steps_per_execution=0, **common)
