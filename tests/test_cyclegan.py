"""CycleGAN: layers against NumPy, networks, the history pool, the decay schedule, the trainer's
step and resume, the acquisition-conditions transform, and plain-Keras loading."""
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, run_python

from pix2gan.data.conditions import render_conditions, split_domains
from pix2gan.errors import Pix2GanError
from pix2gan.layers import ReflectionPadding2D
from pix2gan.networks import build_patchgan_discriminator, build_resnet_generator, norm_layer, resnet_blocks
from pix2gan.saving import capture_state, restore_random_state
from pix2gan.trainers import CycleGAN, HistoryPool, LinearDecay, cyclegan_optimizer
from pix2gan.zoo.cyclegan import build_cyclegan


# ------------------------------------------------------------------------------ layers
@pytest.mark.parametrize("padding", [1, 3, ((2, 0), (1, 3))])
def test_reflection_padding_matches_numpy(padding):
    x = np.random.default_rng(0).normal(size=(2, 7, 9, 3)).astype("float32")
    pads = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    expected = np.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect")
    layer = ReflectionPadding2D(padding)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.compute_output_shape((None, 7, None, 3)) == (None, 7 + sum(pads[0]), None, 3)
    assert ReflectionPadding2D.from_config(layer.get_config()).padding == layer.padding


def test_reflection_padding_refuses_bad_padding():
    with pytest.raises(ValueError, match="padding"):
        ReflectionPadding2D(((1, -1), (0, 0)))


def test_instance_norm_matches_numpy():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(3, 8, 6, 5)).astype("float32")
    layer = norm_layer("instance")
    y = np.asarray(layer(x))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + layer.epsilon)  # gamma 1, beta 0 at initialisation
    np.testing.assert_allclose(y, expected, atol=1e-4)
    # per image and per channel: one image's statistics never reach another
    y0 = np.asarray(layer(x[:1]))
    np.testing.assert_allclose(y0, y[:1], atol=1e-5)


# ------------------------------------------------------------------------------ networks
def test_parameter_counts_of_the_reference_networks():
    g = build_resnet_generator((256, 256, 3), n_blocks=resnet_blocks(256))
    assert resnet_blocks(256) == 9 and resnet_blocks(128) == 6 and resnet_blocks(64) == 6
    assert abs(g.count_params() - 11.4e6) < 0.05e6
    d = build_patchgan_discriminator((256, 256, 3), norm="instance", conditional=False)
    assert abs(d.count_params() - 2.77e6) < 0.02e6
    assert d.output_shape == (None, 30, 30, 1)
    assert sum(isinstance(layer, ReflectionPadding2D) for layer in g.layers) == 2 + 2 * 9


def test_cyclegan_networks_are_fully_convolutional():
    g_ab, g_ba, d_a, d_b = build_cyclegan(32, filters=4, d_filters=4, n_blocks=1)
    for size in (32, 48):
        x = np.zeros((1, size, size + 8, 3), "float32")
        assert g_ab(x).shape == (1, size, size + 8, 3)
    assert d_a.input_shape == (None, 32, 32, 3) and len(d_b.inputs) == 1
    with pytest.raises(Pix2GanError, match="multiples of 4"):
        build_resnet_generator((30, 32, 3))


# ------------------------------------------------------------------------------ pool
def test_history_pool_fills_then_swaps_half_the_time():
    pool = HistoryPool(4, (2, 2, 1), seed=3)
    batches = [np.full((1, 2, 2, 1), float(k), "float32") for k in range(1, 5)]
    for batch in batches:  # filling: each image is stored and returned as is
        np.testing.assert_array_equal(np.asarray(pool.query(tf.constant(batch))), batch)
    assert int(pool.count.numpy()) == 4
    stored = sorted(float(v) for v in np.asarray(pool.images)[:, 0, 0, 0])
    assert stored == [1.0, 2.0, 3.0, 4.0]
    swapped = 0
    for k in range(5, 205):
        new = np.full((1, 2, 2, 1), float(k), "float32")
        out = float(np.asarray(pool.query(tf.constant(new)))[0, 0, 0, 0])
        if out != k:
            swapped += 1
            assert out < k  # an older image came back ...
            assert k in np.asarray(pool.images)[:, 0, 0, 0]  # ... and the new one took its place
    assert 70 < swapped < 130  # probability 0.5
    assert int(pool.count.numpy()) == 4


def test_history_pool_batches_and_size_zero():
    pool = HistoryPool(3, (1, 1, 1), seed=0)
    out = np.asarray(pool.query(tf.constant(np.arange(5, dtype="float32").reshape(5, 1, 1, 1))))
    assert out.shape == (5, 1, 1, 1) and list(out[:3, 0, 0, 0]) == [0.0, 1.0, 2.0]
    off = HistoryPool(0, (1, 1, 1))
    x = tf.ones((2, 1, 1, 1))
    assert off.query(x) is x
    with pytest.raises(Pix2GanError, match="pool_size"):
        HistoryPool(-1, (1, 1, 1))


# ------------------------------------------------------------------------------ schedule
def test_linear_decay_start_middle_end():
    schedule = LinearDecay(2e-4, 100)
    values = {step: float(schedule(step)) for step in (0, 25, 50, 75, 100, 150)}
    assert values[0] == pytest.approx(2e-4) and values[25] == pytest.approx(2e-4)
    assert values[50] == pytest.approx(2e-4)
    assert values[75] == pytest.approx(1e-4)
    assert values[100] == 0.0 and values[150] == 0.0
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(restored(75)) == pytest.approx(1e-4)
    with pytest.raises(Pix2GanError):
        LinearDecay(1e-3, 10, decay_start=11)


# ------------------------------------------------------------------------------ trainer
SIZE = 32


def small_trainer(seed=0, pool_size=2, total_steps=8):
    keras.utils.set_random_seed(seed)
    trainer = CycleGAN(*build_cyclegan(SIZE, filters=4, d_filters=4, n_blocks=1), pool_size=pool_size,
                       image_shape=(SIZE, SIZE, 3), seed=seed)
    trainer.compile(optimizers={n: cyclegan_optimizer(2e-4, total_steps) for n in trainer.networks})
    return trainer


def unpaired_batches(seed=0, batch=2):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (batch, SIZE, SIZE, 3)).astype("float32")
    b = np.tanh(a * 1.5 + 0.3).astype("float32")
    return tf.data.Dataset.from_tensors((a, b)).repeat()


def test_one_step_changes_all_four_networks_and_optimizers():
    trainer = small_trainer()
    before = {n: [w.copy() for w in net.get_weights()] for n, net in trainer.networks.items()}
    history = trainer.fit(unpaired_batches(), steps_per_epoch=1, epochs=1, verbose=0)
    for name, net in trainer.networks.items():
        assert any(not np.array_equal(w0, w1) for w0, w1 in zip(before[name], net.get_weights())), name
        assert int(trainer.optimizers[name].iterations.numpy()) == 1, name
    assert {"g_loss", "adv_ab", "adv_ba", "cycle_a", "cycle_b", "idt_a", "idt_b", "d_a", "d_b"} <= set(history.history)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert int(trainer.pool_a.count.numpy()) == 2 and int(trainer.pool_b.count.numpy()) == 2


def test_losses_by_name_and_unknown_loss():
    for loss in ("lsgan", "bce", "hinge"):
        trainer = CycleGAN(*build_cyclegan(SIZE, filters=2, d_filters=2, n_blocks=0), adversarial_loss=loss,
                           pool_size=1, image_shape=(SIZE, SIZE, 3))
        trainer.compile()
        h = trainer.fit(unpaired_batches(), steps_per_epoch=1, epochs=1, verbose=0)
        assert np.isfinite(h.history["g_loss"][-1])
    with pytest.raises(Pix2GanError, match="adversarial_loss"):
        CycleGAN(*build_cyclegan(SIZE, filters=2, d_filters=2, n_blocks=0), adversarial_loss="wgan",
                 image_shape=(SIZE, SIZE, 3))


def test_test_step_reports_truth_scores():
    trainer = small_trainer()
    a = np.zeros((2, SIZE, SIZE, 3), "float32")
    logs = trainer.evaluate(tf.data.Dataset.from_tensors((a, a, a, a)), verbose=0, return_dict=True)
    assert {"cycle_a", "cycle_b", "ab_psnr", "ab_ssim", "ba_psnr"} <= set(logs)


def test_resume_restores_pool_and_schedule(tmp_path):
    """Four steps straight equal two steps, a backup (weights file + random state, as BackupStore
    writes it), a fresh trainer restored from it and two more."""
    steps = 4
    straight = small_trainer(total_steps=steps)
    straight.fit(unpaired_batches(), steps_per_epoch=steps, epochs=1, verbose=0)

    first = small_trainer(total_steps=steps)
    first.fit(unpaired_batches(), steps_per_epoch=2, epochs=1, verbose=0)
    path = str(tmp_path / "half.weights.h5")
    first.save_weights(path)
    state = capture_state(first, 2)
    resumed = small_trainer(seed=9, total_steps=steps)  # other initial weights and pool seed: all must be restored
    resumed.load_weights(path)
    restore_random_state(resumed, state)
    np.testing.assert_array_equal(np.asarray(resumed.pool_b.images), np.asarray(first.pool_b.images))
    assert int(resumed.pool_a.count.numpy()) == 2
    np.testing.assert_array_equal(np.asarray(resumed.pool_a.seed_generator.state),
                                  np.asarray(first.pool_a.seed_generator.state))
    opt = resumed.optimizers["generator_ab"]
    assert int(opt.iterations.numpy()) == 2
    assert float(opt.learning_rate) == pytest.approx(2e-4)  # the schedule is at step 2 of 4: decay starts now
    resumed.fit(unpaired_batches(), steps_per_epoch=2, epochs=1, verbose=0)
    assert float(opt.learning_rate) == 0.0  # step 4 of 4
    for name in straight.networks:
        for w0, w1 in zip(straight.networks[name].get_weights(), resumed.networks[name].get_weights()):
            np.testing.assert_array_equal(w0, w1)
    np.testing.assert_array_equal(np.asarray(resumed.pool_a.images), np.asarray(straight.pool_a.images))


# ------------------------------------------------------------------------------ conditions
def test_conditions_are_deterministic_and_domains_disjoint():
    tiles = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    one = render_conditions(tiles, range(6), seed=1)
    assert one.dtype == np.float32 and one.shape == tiles.shape and 0.0 <= one.min() and one.max() <= 1.0
    np.testing.assert_array_equal(one, render_conditions(tiles, range(6), seed=1))
    assert np.abs(one - render_conditions(tiles, range(6), seed=2)).max() > 0.01  # the haze follows the seed
    # the same tile at another index gets another veil: no pixel-wise map recovers it
    assert np.abs(render_conditions(tiles[:1], [0], 1) - render_conditions(tiles[:1], [1], 1)).max() > 0.01
    a, b = split_domains(101, seed=3)
    assert len(a) + len(b) == 101 and not set(a) & set(b)
    np.testing.assert_array_equal(a, split_domains(101, seed=3)[0])
    with pytest.raises(Pix2GanError, match="indices"):
        render_conditions(tiles, range(5))


# ------------------------------------------------------------------------------ saving
LOAD_WITH_ONLY_THE_LAYERS = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    import keras
    spec = importlib.util.spec_from_file_location("standalone_layers", sys.argv[4])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # registers ReflectionPadding2D; nothing else of pix2gan
    model = keras.models.load_model(sys.argv[1], compile=False)
    np.save(sys.argv[3], np.asarray(model(np.load(sys.argv[2]), training=False)))
    assert not any(name == "pix2gan" or name.startswith("pix2gan.") for name in sys.modules)
""")


def test_saved_generator_loads_in_plain_keras_with_only_the_registered_layer(tmp_path):
    g = build_cyclegan(32, filters=4, d_filters=4, n_blocks=2)[0]
    x = np.random.default_rng(1).uniform(-1, 1, (1, 24, 20, 3)).astype("float32")
    y = np.asarray(g(x, training=False))
    path = str(tmp_path / "g.h5")
    g.save(path)
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITH_ONLY_THE_LAYERS)
    proc = run_python([str(script), path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                       os.path.join(REPO, "pix2gan", "layers.py")], cwd=str(tmp_path), env={"PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), y, atol=1e-5)
