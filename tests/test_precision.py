"""The fast paths of training: the trainer's float32 step against a plain tf.function step, mixed
precision against float32, tracing once, the precision setting's refusals and the allocator."""
import functools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, one_line_error

from pix2gan import Pix2Pix, precision, zoo
from pix2gan.networks import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_mlp_discriminator,
    build_mlp_generator,
    build_patchgan_discriminator,
    build_resnet_discriminator,
    build_resnet_generator,
    build_unet_generator,
    resnet,
)
from pix2gan.networks.sequence import build_sequence_unet
from pix2gan.networks.unet import build_reference_unet
from pix2gan.precision import (
    BF16_STEP_RTOL,
    float32_copy,
    inference_copy,
    is_mixed,
    norm_float32_layers,
    precision_scope,
    resolve_precision,
    unsupported_reason,
)

sys.path.insert(0, REPO)
from bench.run import tutorial_pix2pix_step  # noqa: E402

SIZE = 32
needs_bf16 = pytest.mark.skipif(unsupported_reason("mixed_bfloat16") is not None,
                                reason=f"mixed_bfloat16 is not native here: {unsupported_reason('mixed_bfloat16')}")


def _networks(seed=0):
    keras.utils.set_random_seed(seed)
    shape = (SIZE, SIZE, 3)
    # no dropout: both steps must draw nothing at random to be compared
    return (build_unet_generator(shape, filters=8, max_filters=32, dropout=0.0),
            build_patchgan_discriminator(shape, filters=8))


def _batches(n=2, batch=2):
    rng = np.random.default_rng(0)
    return [(rng.uniform(-1, 1, (batch, SIZE, SIZE, 3)).astype("float32"),
             rng.uniform(-1, 1, (batch, SIZE, SIZE, 3)).astype("float32")) for _ in range(n)]


def _trainer(policy="float32", weights=None, lr=0.01):
    with precision_scope(policy):
        g, d = _networks()
        if weights is not None:
            g.set_weights(weights[0])
            d.set_weights(weights[1])
        trainer = Pix2Pix(g, d)
        trainer.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    return trainer


def _plain_step(g, d, lr=0.01):
    """The pix2pix step as the TensorFlow tutorial writes it (bench/run.py's baseline), with SGD."""
    g_opt, d_opt = keras.optimizers.SGD(lr), keras.optimizers.SGD(lr)
    g_opt.build(g.trainable_variables)
    d_opt.build(d.trainable_variables)
    return tutorial_pix2pix_step(g, d, g_opt, d_opt)


def test_float32_fit_step_matches_the_plain_tf_function_step():
    trainer = _trainer()
    g, d = _networks()
    step = _plain_step(g, d)
    for x, y in _batches(3):
        logs = trainer.train_on_batch(x, y, return_dict=True)
        d_loss = step(x, y)["d_loss"]
    for ours, plain in ((trainer.generator, g), (trainer.discriminator, d)):
        for a, b in zip(ours.get_weights(), plain.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert abs(logs["d_loss"] - float(d_loss)) < 1e-3  # the tracker averages 3 steps; the last is close


@needs_bf16
def test_mixed_bfloat16_steps_follow_float32_within_the_documented_bound():
    reference = _trainer()
    weights = (reference.generator.get_weights(), reference.discriminator.get_weights())
    mixed = _trainer("mixed_bfloat16", weights)
    assert is_mixed(mixed.generator) and not is_mixed(reference.generator)
    assert mixed.generator.output.dtype == "float32"  # the tanh stays float32
    for x, y in _batches(3):
        a = reference.train_on_batch(x, y, return_dict=True)
        b = mixed.train_on_batch(x, y, return_dict=True)
        for name in ("g_l1", "g_adv", "d_loss"):
            assert abs(a[name] - b[name]) <= BF16_STEP_RTOL * abs(a[name]), (name, a[name], b[name])
    saved = float32_copy(mixed.generator)
    assert not is_mixed(saved) and saved is not mixed.generator
    x = _batches(1)[0][0]
    np.testing.assert_allclose(np.asarray(saved(x)), np.asarray(mixed.generator(x)), atol=0.05)


def test_mixed_float16_compiles_with_loss_scaling_and_steps_finitely():
    # float16 is slow but correct on a CPU: this checks the wiring, not the speed
    trainer = _trainer("mixed_float16")
    assert all(isinstance(opt, keras.optimizers.LossScaleOptimizer) for opt in trainer.optimizers.values())
    before = [w.copy() for w in trainer.generator.get_weights()]
    for x, y in _batches(2):
        logs = trainer.train_on_batch(x, y, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainer.generator.get_weights()))
    assert trainer.nonfinite_update() is None


def test_training_step_is_traced_once_over_50_steps():
    class Counting(Pix2Pix):
        traces = 0

        def train_step(self, data):
            type(self).traces += 1  # Python runs here only while tracing
            return super().train_step(data)

    g, d = _networks()
    trainer = Counting(g, d)
    trainer.compile()
    x = np.concatenate([b[0] for b in _batches(5)])
    y = np.concatenate([b[1] for b in _batches(5)])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2, drop_remainder=True).repeat()
    trainer.fit(data, steps_per_epoch=25, epochs=2, verbose=0)
    assert Counting.traces == 1


def test_precision_refuses_what_would_not_run_natively(monkeypatch):
    monkeypatch.delenv(precision.ENVIRONMENT_VARIABLE, raising=False)
    one_line_error(lambda: resolve_precision("fp8"), "precision='fp8'", "mixed_bfloat16")
    if not tf.config.list_physical_devices("GPU"):
        one_line_error(lambda: resolve_precision("mixed_float16"), "precision='mixed_float16'", "GPU", "float32")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    if not tf.config.list_physical_devices("GPU"):
        one_line_error(lambda: resolve_precision("mixed_bfloat16"), "emulated", "precision='float32'")
        assert resolve_precision("auto", measured=True) == "float32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    if not tf.config.list_physical_devices("GPU"):
        assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert resolve_precision("auto", measured=True) == "mixed_bfloat16"
    assert resolve_precision("auto", measured=False) == "float32"
    assert resolve_precision("float32") == "float32"
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "float32")
    assert resolve_precision("auto", measured=True) == "float32"
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "half")
    one_line_error(lambda: resolve_precision("auto"), "PIX2GAN_PRECISION='half'")


def test_every_entry_takes_the_precision_setting_and_the_cli_flag():
    for name in zoo.names():
        one_line_error(lambda: zoo.get(name).train(synthetic=True, precision="fp8"), "precision='fp8'")
    result = subprocess.run([sys.executable, "-m", "pix2gan", "train", "gan-mnist", "--synthetic", "--precision", "fp8"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--precision" in result.stderr, result.stderr


@needs_bf16
def test_mixed_precision_run_saves_float32_networks_that_load_in_plain_keras(tmp_path):
    run = zoo.get("pix2pix-facades", image_size=32, epochs=1).train(
        synthetic=True, steps_per_epoch=2, logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"),
        precision="mixed_bfloat16", verbose=0)
    assert is_mixed(run.trainer.generator)
    loaded = keras.models.load_model(run.generator_path, compile=False)
    assert not is_mixed(loaded) and loaded.output.dtype == "float32"
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(float32_copy(run.trainer.inference_generator)(x)),
                               atol=1e-6)
    with open(run.card_path) as f:
        card = json.load(f)
    assert card["run"]["precision"] == "mixed_bfloat16" and card["run"]["precision_used"] == "mixed_bfloat16"


@pytest.mark.parametrize("env, expected", [({}, "tuned"), ({"PIX2GAN_ALLOCATOR": "default"}, "default"),
                                           ({"MALLOC_TOP_PAD_": "1048576"}, "environment")])
def test_allocator_tuning_and_its_opt_outs(env, expected):
    code = "import pix2gan.allocator as a; print(a.tune_allocator())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "PIX2GAN_ALLOCATOR"))}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.stdout.strip().splitlines()[-1] == expected, result.stderr


@pytest.mark.parametrize("entry", ["gan-mnist", "cyclegan-eurosat", "sequence-unet"])
def test_every_trainer_kind_traces_its_step_once(entry, monkeypatch):
    recipe = zoo.get(entry, **({"filters": 8} if entry == "sequence-unet" else {}))
    trainer = recipe.build_trainer(10, 0, False)
    kind = type(trainer)
    traces = []
    original = kind.train_step
    monkeypatch.setattr(kind, "train_step", lambda self, data: (traces.append(1), original(self, data))[1])
    shapes = [tuple(i.shape[1:]) for i in trainer.generator.inputs]
    if entry == "gan-mnist":
        batch = (np.zeros((4, 28, 28, 1), "float32"), np.zeros((4,), "int32"))
    elif entry == "cyclegan-eurosat":
        side = (recipe.image_size, recipe.image_size, 3)  # its generators take any size
        batch = (np.zeros((1, *side), "float32"), np.zeros((1, *side), "float32"))
    else:
        out = tuple(trainer.generator.outputs[0].shape[1:])
        batch = (np.zeros((2, *shapes[0]), "float32"), np.zeros((2, *out), "float32"))
    trainer.fit(tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(traces) == 1


def test_one_discriminator_call_on_real_and_fake_matches_two_where_d_has_no_batchnorm():
    """gan-mnist's D (no BatchNorm) scores [real; fake] in one call: the weights after three steps
    equal those of two calls; a BatchNorm D (cgan-mnist) keeps two calls."""
    def trainer(entry, **options):
        keras.utils.set_random_seed(0)
        recipe = zoo.get(entry, batch_size=8)
        generator, discriminator = recipe.build_networks()
        built = zoo.latent.LatentGAN(generator, discriminator, seed=3, **options)
        built.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
        return built
    joint, separate = trainer("gan-mnist"), trainer("gan-mnist", joint_discriminator=False)
    assert joint.joint_discriminator and not separate.joint_discriminator
    assert not trainer("cgan-mnist").joint_discriminator
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.uniform(-1, 1, (24, 28, 28, 1)).astype("float32"),
                                               rng.integers(0, 10, (24,)).astype("int32"))).batch(8)
    a = joint.fit(data, epochs=1, verbose=0).history
    b = separate.fit(data, epochs=1, verbose=0).history
    assert a["d_loss"][0] == pytest.approx(b["d_loss"][0], rel=1e-5)
    for one, two in ((joint.generator, separate.generator), (joint.discriminator, separate.discriminator)):
        for p, q in zip(one.get_weights(), two.get_weights()):
            np.testing.assert_allclose(p, q, atol=1e-5)


@needs_bf16
def test_resnet_generator_sums_its_residual_stream_in_float32_under_mixed_precision(monkeypatch):
    """Under mixed_bfloat16 the CycleGAN generator's residual sums and its full-resolution first and
    last convs compute in float32 (besides its norms and the activations after them); its
    training-mode output is then nearer the float32 network's than the same network with that
    stream in bf16."""
    keras.utils.set_random_seed(0)
    reference = build_resnet_generator((32, 32, 3), filters=8, n_blocks=6)
    with precision_scope("mixed_bfloat16"):
        mixed = build_resnet_generator((32, 32, 3), filters=8, n_blocks=6)
        monkeypatch.setattr(resnet, "STREAM_DTYPE", None)  # the global policy: a bf16 stream
        bf16_stream = build_resnet_generator((32, 32, 3), filters=8, n_blocks=6)
    for model in (mixed, bf16_stream):
        model.set_weights(reference.get_weights())
    normalised = norm_float32_layers(mixed)
    assert {f"res{b}_add" for b in range(1, 7)} <= normalised  # each sum takes a norm's output
    assert {layer.name for layer in mixed.layers if layer.dtype_policy.name == "float32"} - normalised == {
        "c7s1_conv", "output_conv", "output_image"}
    assert bf16_stream.get_layer("c7s1_conv").dtype_policy.name == "mixed_bfloat16"
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
    target = np.asarray(reference(x, training=True))
    error = {name: np.abs(np.asarray(model(x, training=True)) - target).mean()
             for name, model in (("stream", mixed), ("bf16 stream", bf16_stream))}
    assert 0 < error["stream"] < error["bf16 stream"] / 1.05, error


BUILDERS = {
    "unet": lambda: build_unet_generator((32, 32, 3), filters=8, max_filters=32),
    "reference-unet": lambda: build_reference_unet((32, 32, 3), widths=(8, 16, 32, 64, 128)),
    **{f"reference-unet-{head}": functools.partial(build_reference_unet, (32, 32, 3), widths=(8, 16, 32, 64, 128),
                                                   head=head) for head in ("residual", "veil", "blend")},
    "patchgan": lambda: build_patchgan_discriminator((32, 32, 3), filters=8),
    "resnet-g": lambda: build_resnet_generator((32, 32, 3), filters=8, n_blocks=2),
    "resnet-d": lambda: build_resnet_discriminator((32, 32, 3)),
    "dcgan-g": lambda: build_dcgan_generator(num_classes=10),
    "dcgan-g-cbn": lambda: build_dcgan_generator(num_classes=10, conditioning="batchnorm"),
    "dcgan-d": lambda: build_dcgan_discriminator(num_classes=10),
    "dcgan-d-sn": lambda: build_dcgan_discriminator(spectral_norm=True),
    "mlp-g": lambda: build_mlp_generator(hidden=(32, 64), num_classes=10, norm="batch", activation="gelu"),
    "mlp-d": lambda: build_mlp_discriminator(hidden=(64, 32), num_classes=10, norm="batch", dropout=0.3),
    "sequence-unet": lambda: build_sequence_unet((32, 32, 6), filters=8),
}


POLICY_ACTIVATIONS = {"unet": "down1_act", "patchgan": "down1_act", "dcgan-d": "dcgan_discriminator_down1_act",
                      "mlp-d": "mlp_discriminator_act0"}


@pytest.mark.parametrize("name", BUILDERS)
def test_norms_and_the_activations_after_them_compute_in_float32_under_mixed_precision(name):
    """Under mixed_bfloat16 every normalisation layer, and the dropout / activation / sum that takes
    its output, computes in float32 (bf16 elementwise kernels are slower than float32 plus the
    casts, bench/run.py); an activation after a conv keeps the policy; a bf16 inference copy of the
    float32 network keeps the same layers in float32."""
    build = BUILDERS[name]
    with precision_scope("mixed_bfloat16"):
        model = build()
    normalised = norm_float32_layers(model)
    for layer_name in normalised:
        assert model.get_layer(layer_name).dtype_policy.name == "float32", layer_name
    assert sum(isinstance(layer, precision.NORMALISATIONS) for layer in model.layers) >= 1 and len(normalised) >= 2
    if name in POLICY_ACTIVATIONS:  # an activation after a conv, not a norm, keeps the policy
        assert model.get_layer(POLICY_ACTIVATIONS[name]).dtype_policy.name == "mixed_bfloat16"
    with precision_scope("float32"):
        plain = build()
    assert not is_mixed(plain)  # the float32 network is as it was
    if unsupported_reason("mixed_bfloat16") is None:  # a bf16 inference copy keeps the same ones float32
        copy = inference_copy(plain, "mixed_bfloat16")
        assert norm_float32_layers(copy) == normalised
        assert {copy.get_layer(layer_name).dtype_policy.name for layer_name in normalised} == {"float32"}
        assert is_mixed(copy)


@pytest.mark.parametrize("name", ["unet", "dcgan-g-cbn"])
def test_the_float32_layers_set_after_building_compute_in_float32(name):
    """keep_norms_float32 sets the dtype policy of layers already in a functional graph; the
    network then computes as its config round-trip, whose layers get those dtypes when made:
    outputs and gradients agree bitwise (with these two networks, outputs differ by 2e-5 to 1.2e-4
    when the norms and the activations after them run in bf16 instead)."""
    with precision_scope("mixed_bfloat16"):
        built = BUILDERS[name]()
        remade = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(built))
    remade.set_weights(built.get_weights())
    rng = np.random.default_rng(0)
    inputs = [np.array([[1], [3]], "int32") if tensor.dtype == "int32"
              else rng.normal(size=(2, *tensor.shape[1:])).astype("float32") for tensor in built.inputs]
    results = []
    for model in (built, remade):
        with tf.GradientTape() as tape:
            outputs = tf.nest.flatten(model(inputs if len(inputs) > 1 else inputs[0], training=False))
            loss = tf.add_n([tf.reduce_mean(tf.cast(o, "float32")) for o in outputs])
        grads = tape.gradient(loss, model.trainable_variables)
        results.append([np.asarray(o, "float32") for o in outputs] + [np.asarray(tf.convert_to_tensor(g)) for g in grads])
    assert len(results[0]) == len(results[1]) > 2
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
