"""pix2gan.optimizers.Adam: the steps, variables, config and saved paths of Keras's Adam / AdamW."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from pix2gan.errors import Pix2GanError
from pix2gan.optimizers import Adam, adam


def _variables(seed=0):
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=shape).astype("float32"), name=f"w{i}")
            for i, shape in enumerate(((3, 4), (4,), (2, 2, 3, 5)))]


def _run(optimizer, steps=6):
    variables = _variables()
    rng = np.random.default_rng(1)
    grads = [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables] for _ in range(steps)]

    @tf.function
    def step(g):
        optimizer.apply(g, variables)
    for g in grads:
        step(g)
    return [np.asarray(v) for v in variables], optimizer


@pytest.mark.parametrize("make_keras, make_fused", [
    (lambda: keras.optimizers.Adam(1e-2, beta_1=0.5), lambda: Adam(1e-2, beta_1=0.5)),
    (lambda: keras.optimizers.AdamW(3e-2, beta_1=0.4, beta_2=0.8, weight_decay=0.1),
     lambda: Adam(3e-2, beta_1=0.4, beta_2=0.8, weight_decay=0.1)),
    (lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5)),
     lambda: Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5))),
])
def test_fused_adam_takes_keras_adams_steps(make_keras, make_fused):
    expected, reference = _run(make_keras())
    got, fused = _run(make_fused())
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the same variables in the same order: a backup written under one resumes under the other
    assert [tuple(v.shape) for v in fused.variables] == [tuple(v.shape) for v in reference.variables]
    for a, b in zip(fused.variables, reference.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_fused_adam_round_trips_its_config_and_keras_adam_serves_distributed_runs():
    fused = adam(2e-4, beta_1=0.5, weight_decay=1e-4)
    assert isinstance(fused, Adam)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(fused))
    assert isinstance(again, Adam) and (again.beta_1, again.beta_2, again.weight_decay) == (0.5, 0.999, 1e-4)
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert type(adam(2e-4, beta_1=0.5)) is keras.optimizers.Adam
        assert type(adam(2e-4, weight_decay=1e-4)) is keras.optimizers.AdamW


def test_fused_adam_is_a_keras_adam_and_refuses_amsgrad():
    fused = adam(1e-3)
    assert isinstance(fused, keras.optimizers.Adam) and not fused.amsgrad
    with pytest.raises(Pix2GanError, match="amsgrad"):
        Adam(amsgrad=True)


class _Holder(keras.Model):
    """Two networks and their optimizers in a dict, as the GAN trainers keep them."""

    def __init__(self, make_optimizer):
        super().__init__()
        self.nets = {"g": keras.layers.Dense(3), "d": keras.layers.Dense(1)}
        self.optimizers = {name: make_optimizer() for name in self.nets}

    def call(self, x):
        return self.nets["d"](self.nets["g"](x))

    def step(self, x):
        for name, net in self.nets.items():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x)))
            grads = tape.gradient(loss, net.trainable_variables)
            self.optimizers[name].apply(grads, net.trainable_variables)


def test_a_keras_adam_backup_loads_into_ours_and_back(tmp_path):
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 5)).astype("float32"))
    for write, read in ((keras.optimizers.Adam, Adam), (Adam, keras.optimizers.Adam)):
        keras.utils.set_random_seed(0)
        written = _Holder(lambda w=write: w(1e-2))
        written(x)
        for _ in range(3):
            written.step(x)
        path = str(tmp_path / f"{write.__module__.split('.')[0]}.weights.h5")
        written.save_weights(path)
        loaded = _Holder(lambda r=read: r(1e-2))
        loaded(x)
        for name, net in loaded.nets.items():
            loaded.optimizers[name].build(net.trainable_variables)
        loaded.load_weights(path)
        for name in written.nets:
            a, b = written.optimizers[name].variables, loaded.optimizers[name].variables
            assert len(a) == len(b) and int(b[0].numpy()) == 3
            for va, vb in zip(a, b):
                np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
