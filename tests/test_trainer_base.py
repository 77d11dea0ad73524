"""GANTrainer: named networks with one optimizer each, complete save/restore, the generator EMA, errors."""
import ast
import os
import warnings

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import pix2gan.inference
from pix2gan.errors import Pix2GanError
from pix2gan.inference import EVAL_MODES, batchnorm_statistics, run_generator
from pix2gan.losses import generator_loss, l1_loss
from pix2gan.trainers import GANTrainer
from pix2gan.trainers.base import WeightAverage

NETWORKS = ("g", "f", "d_x", "d_y")


def dense_net(units, name):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units)(keras.layers.Dense(8, activation="relu")(inputs)), name=name)


class ToyCycleGAN(GANTrainer):
    """Four networks, four optimizers, the base unchanged: G: X -> Y, F: Y -> X, D_X, D_Y."""

    def __init__(self, seed, ema_decay=0.0):
        keras.utils.set_random_seed(seed)
        super().__init__(networks={"g": dense_net(4, "g"), "f": dense_net(4, "f"),
                                   "d_x": dense_net(1, "d_x"), "d_y": dense_net(1, "d_y")})
        self.enable_ema(ema_decay, network="g")

    def train_step(self, data):
        x, y = data
        n = self.networks
        with tf.GradientTape(persistent=True) as tape:
            fake_y, fake_x = n["g"](x, training=True), n["f"](y, training=True)
            cycle = l1_loss(n["f"](fake_y, training=True), x) + l1_loss(n["g"](fake_x, training=True), y)
            losses = {
                "g": generator_loss(n["d_y"](fake_y, training=True)) + 10.0 * cycle,
                "f": generator_loss(n["d_x"](fake_x, training=True)) + 10.0 * cycle,
                "d_x": tf.reduce_mean(tf.square(n["d_x"](x, training=True) - 1.0))
                + tf.reduce_mean(tf.square(n["d_x"](fake_x, training=True))),
                "d_y": tf.reduce_mean(tf.square(n["d_y"](y, training=True) - 1.0))
                + tf.reduce_mean(tf.square(n["d_y"](fake_y, training=True))),
            }
        for name, loss in losses.items():
            self.optimize(name, tape, loss)
        self.update_ema()
        return self.track({f"{name}_loss": loss for name, loss in losses.items()})

    def call(self, inputs, training=False):
        return self.networks["g"](inputs, training=training)


def toy_data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(1.0, 0.5, size=(n, 4)).astype(np.float32)


def compiled_toy(seed, ema_decay=0.0, mixed=True):
    trainer = ToyCycleGAN(seed, ema_decay)
    if mixed:  # each kind of optimizer state: Adam moments, SGD momentum, RMSprop, and a default Adam for d_y
        trainer.compile(optimizers={"g": keras.optimizers.Adam(1e-2), "f": keras.optimizers.SGD(1e-2, momentum=0.9),
                                    "d_x": keras.optimizers.RMSprop(1e-3)})
    else:
        trainer.compile()
    return trainer


def state(trainer):
    """Every variable that must survive save/load, keyed by owner, position and the last word of its
    name (the rest holds auto-numbered layer names, which differ between instances)."""
    out = {}
    for name in NETWORKS:
        for kind, variables in (("", trainer.networks[name].weights), ("_optimizer", trainer.optimizers[name].variables)):
            out.update({f"{name}{kind}/{i}/{v.name.split('_')[-1]}": np.array(v)
                        for i, v in enumerate(variables)})
    if trainer.ema_generator is not None:
        out.update({f"ema/{i}": np.array(v) for i, v in enumerate(trainer.ema_generator.weights)})
        out["ema_step"] = np.array(trainer.ema_step)
    return out


def test_four_networks_four_optimizers_save_and_load_everything(tmp_path):
    trainer = compiled_toy(0, ema_decay=0.5)
    assert list(trainer.networks) == list(trainer.optimizers) == list(NETWORKS)
    assert trainer.optimizer is None  # no Keras default optimizer beside ours
    d_y = trainer.optimizers["d_y"]
    assert isinstance(d_y, keras.optimizers.Adam) and np.isclose(float(d_y.learning_rate), 2e-4)
    assert np.isclose(d_y.beta_1, 0.5)
    for name in NETWORKS:  # built at compile time, over that network's variables only
        assert trainer.optimizers[name].built and int(trainer.optimizers[name].iterations) == 0
    x, y = toy_data()
    history = trainer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert {f"{name}_loss" for name in NETWORKS} <= set(history.history)
    for name in NETWORKS:
        assert int(trainer.optimizers[name].iterations) == 2
    assert int(trainer.ema_step) == 2
    saved = state(trainer)
    # the optimizer state is real: moments / momentum moved away from zero
    for name in ("g", "f", "d_x", "d_y"):
        slots = [v for k, v in saved.items() if k.startswith(f"{name}_optimizer/") and "iteration" not in k
                 and "learning_rate" not in k]
        assert slots and any(np.abs(s).sum() > 0 for s in slots), name
    path = str(tmp_path / "toy.weights.h5")
    trainer.save_weights(path)

    fresh = compiled_toy(1, ema_decay=0.5)
    before = state(fresh)
    assert sorted(before) == sorted(saved)
    assert any(not np.array_equal(before[k], saved[k]) for k in saved)  # a different start, so loading shows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh.load_weights(path)
    assert not [str(w.message) for w in caught if "optimizer" in str(w.message).lower()]
    loaded = state(fresh)
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    for name in NETWORKS:
        assert int(fresh.optimizers[name].iterations) == 2


def test_no_keras_default_optimizer_is_saved_or_warned_about(tmp_path):
    x, y = toy_data()
    backup = str(tmp_path / "backup")
    trainer = compiled_toy(0, mixed=False)  # Adam everywhere: any RMSprop would be Keras's default
    assert trainer.optimizer is None
    trainer.fit(x, y, batch_size=8, epochs=1, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    trainer.save_weights(str(tmp_path / "toy.weights.h5"))
    with h5py.File(str(tmp_path / "toy.weights.h5")) as f:
        names = []
        f.visit(names.append)
    assert [n for n in names if n.startswith("optimizers/adam")]
    assert not [n for n in names if "rm_sprop" in n or "rmsprop" in n or n.split("/")[0] == "optimizer"]
    # resuming with BackupAndRestore loads every optimizer without "Skipping variable loading" warnings
    resumed = compiled_toy(1, mixed=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed.fit(x, y, batch_size=8, epochs=1, verbose=0,
                    callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    assert not [str(w.message) for w in caught if "optimizer" in str(w.message).lower()]
    expected, got = state(trainer), state(resumed)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_two_network_compile_keeps_the_positional_form():
    g, d = dense_net(4, "g"), dense_net(1, "d")
    trainer = GANTrainer(g, d)
    assert trainer.generator is g and trainer.discriminator is d
    assert list(trainer.networks) == ["generator", "discriminator"]
    with pytest.raises(AttributeError, match="compile"):
        _ = trainer.g_optimizer
    g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.SGD(1e-2)
    trainer.compile(g_opt, d_opt, jit_compile=False)
    assert trainer.g_optimizer is g_opt and trainer.d_optimizer is d_opt
    assert trainer.optimizers == {"generator": g_opt, "discriminator": d_opt}
    assert len(g_opt.variables) == 2 + 2 * len(g.trainable_variables)  # iterations, lr, m and v per weight
    trainer.compile(optimizers={"discriminator": d_opt})  # by name; the generator gets the default
    assert trainer.d_optimizer is d_opt and isinstance(trainer.g_optimizer, keras.optimizers.Adam)
    assert trainer.g_optimizer is not g_opt


def test_compile_refuses_bad_optimizer_arguments():
    trainer = GANTrainer(dense_net(4, "g"), dense_net(1, "d"))
    with pytest.raises(Pix2GanError, match="'critic'.*generator, discriminator"):
        trainer.compile(optimizers={"critic": keras.optimizers.Adam()})
    shared = keras.optimizers.Adam()
    with pytest.raises(Pix2GanError, match="shares one optimizer"):
        trainer.compile(optimizers={"generator": shared, "discriminator": shared})
    with pytest.raises(Pix2GanError, match="g_optimizer"):
        trainer.compile(keras.optimizers.Adam(), optimizers={"generator": keras.optimizers.Adam()})
    with pytest.raises(Pix2GanError, match="optimizers="):
        trainer.compile(optimizer="adam")
    toy = ToyCycleGAN(0)
    with pytest.raises(Pix2GanError, match="d_optimizer.*g, f, d_x, d_y"):
        toy.compile(d_optimizer=keras.optimizers.Adam())
    with pytest.raises(AttributeError, match="no network 'generator'"):
        _ = toy.generator


def test_bad_arguments_are_pix2gan_errors_naming_the_choices():
    g, d = dense_net(4, "g"), dense_net(1, "d")
    with pytest.raises(Pix2GanError, match="adversarial_loss 'wgan'.*bce, lsgan, hinge") as err:
        GANTrainer(g, d, adversarial_loss="wgan")
    assert err.value.argument == "adversarial_loss"
    for decay in (1.0, -0.1, 1.5):
        with pytest.raises(Pix2GanError, match=f"ema_decay {decay}.*\\[0, 1\\)"):
            GANTrainer(g, d, ema_decay=decay)
    with pytest.raises(Pix2GanError, match="mode 'train'.*paper, inference"):
        run_generator(g, np.zeros((1, 4), np.float32), "train")
    with pytest.raises(Pix2GanError, match="networks"):
        GANTrainer()


def test_weight_average_warm_up_formula():
    keras.utils.set_random_seed(0)
    model = dense_net(2, "m")
    average = WeightAverage(model, 0.9)
    start = [np.array(w) for w in model.weights]
    for t in range(3):
        for w in model.weights:
            w.assign(w + 1.0)
        average.update()
        d = min(0.9, (1 + t) / (10 + t))
        start = [d * s + (1 - d) * np.array(w) for s, w in zip(start, model.weights)]
        for got, want in zip(average.average.weights, start):
            np.testing.assert_allclose(np.array(got), want, rtol=1e-6)
    assert int(average.step) == 3


def test_batchnorm_statistics_walks_nested_models():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization()(keras.layers.Dense(4)(inner_in)), name="inner")
    outer_in = keras.Input((4,))
    hidden = keras.layers.BatchNormalization()(inner(outer_in))
    outer = keras.Model(outer_in, inner(hidden), name="outer")  # the nested model is used twice
    bns = [inner.layers[2], outer.layers[2]]  # depth first: the nested model's BatchNorm comes first
    assert all(isinstance(layer, keras.layers.BatchNormalization) for layer in bns)
    stats = batchnorm_statistics(outer)
    assert [id(v) for v in stats] == [id(v) for layer in bns for v in (layer.moving_mean, layer.moving_variance)]
    assert EVAL_MODES == ("paper", "inference")


def test_inference_module_imports_no_trainer():
    with open(os.path.abspath(pix2gan.inference.__file__)) as source:
        tree = ast.parse(source.read())
    modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert modules and not [m for m in modules if "trainers" in m]
