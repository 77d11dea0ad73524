
import keras
import numpy as np
import pytest
import tensorflow as tf

from pix2gan import MinibatchDiscrimination, Pix2GanError, build_adversarial_model
from pix2gan.networks import (
    DISCRIMINATORS,
    GENERATORS,
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_discriminator,
    build_generator,
    build_patchgan_discriminator,
    build_reference_unet,
    build_resnet_generator,
    build_unet_generator,
    reflection_pad,
)


def test_paper_generator_parameter_count_and_shape():
    g = build_unet_generator((256, 256, 3))
    assert g.output_shape == (None, 256, 256, 3)
    # The pix2pix U-Net at 256x256: about 54.4M parameters.
    assert abs(g.count_params() - 54.4e6) < 0.05e6
    encoder = [l for l in g.layers if l.name.endswith("_conv") and l.name.startswith("down")]
    assert [l.filters for l in encoder] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(l.kernel_size == (4, 4) and l.strides == (2, 2) for l in encoder)
    dropouts = [l for l in g.layers if isinstance(l, keras.layers.Dropout)]
    assert len(dropouts) == 3 and all(d.rate == 0.5 for d in dropouts)
    norms = {l.name for l in g.layers if isinstance(l, keras.layers.BatchNormalization)}
    assert "down1_norm" not in norms and "down8_norm" not in norms and "down2_norm" in norms


@pytest.mark.parametrize("shape", [(64, 64, 3), (32, 64, 3), (128, 32, 1)])
def test_generator_sizes_follow_the_input(shape):
    g = build_unet_generator(shape, filters=4, max_filters=16)
    assert g.output_shape == (None,) + shape
    g2 = build_unet_generator(shape, filters=4, max_filters=16, upsampling="resize")
    assert g2.output_shape == (None,) + shape
    assert not any(isinstance(l, keras.layers.Conv2DTranspose) for l in g2.layers)
    y = g(np.random.uniform(-1, 1, (2,) + shape).astype("float32"))
    assert float(np.max(np.abs(y))) <= 1.0


@pytest.mark.parametrize("shape", [(100, 100, 3), (256, 200, 3), (4, 4, 3), (64, 64, 0)])
def test_generator_refuses_unsupported_shapes(shape):
    with pytest.raises(Pix2GanError, match="not supported"):
        build_unet_generator(shape)


def test_unet_takes_a_stack_of_frames():
    # 20 RGB frames stacked along channels in, one RGB image out.
    g = build_unet_generator((64, 64, 60), output_channels=3, filters=4, max_filters=16)
    assert g.input_shape == (None, 64, 64, 60) and g.output_shape == (None, 64, 64, 3)
    y = g(np.random.uniform(-1, 1, (1, 64, 64, 60)).astype("float32"))
    assert y.shape == (1, 64, 64, 3)
    ref = build_reference_unet((32, 32, 60), output_channels=3, widths=(4, 8, 16))
    assert ref.output_shape == (None, 32, 32, 3)
    # heads that correct the input in place cannot change the channel count
    with pytest.raises(Pix2GanError, match="output_channels equal to the 60 input channels"):
        build_reference_unet((32, 32, 60), output_channels=3, widths=(4, 8, 16), head="residual")


def test_patchgan_is_70x70_and_conditioned():
    d = build_patchgan_discriminator((256, 256, 3))
    assert d.output_shape == (None, 30, 30, 1)
    assert len(d.inputs) == 2
    d_small = build_patchgan_discriminator((64, 64, 3), filters=4)
    assert d_small.output_shape == (None, 6, 6, 1)


def test_patchgan_with_minibatch_discrimination():
    d = build_patchgan_discriminator((64, 64, 3), filters=4, minibatch_discrimination=True, num_kernels=100, kernel_dim=5)
    mbd = d.get_layer("minibatch_discrimination")
    assert isinstance(mbd, MinibatchDiscrimination)
    assert mbd.kernel.shape == (32, 500)
    x = np.random.uniform(-1, 1, (3, 64, 64, 3)).astype("float32")
    assert d([x, x]).shape == (3, 6, 6, 1)


def minibatch_reference(x, t, num_kernels, kernel_dim):
    """Salimans et al.: o_b = sum_j exp(-||M_b - M_j||_1) per kernel, concatenated to x."""
    m = (x @ t).reshape(len(x), num_kernels, kernel_dim)
    out = np.zeros((len(x), num_kernels))
    for i in range(len(x)):
        for j in range(len(x)):
            out[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
    return np.concatenate([x, out], axis=1)


def test_minibatch_discrimination_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 12)).astype("float32")
    layer = MinibatchDiscrimination(num_kernels=7, kernel_dim=3)
    y = np.asarray(layer(x))
    t = np.asarray(layer.kernel)
    np.testing.assert_allclose(y, minibatch_reference(x, t, 7, 3), rtol=1e-5, atol=1e-5)
    only = MinibatchDiscrimination(num_kernels=7, kernel_dim=3, concat=False)
    only.build(x.shape)
    only.kernel.assign(t)
    np.testing.assert_allclose(np.asarray(only(x)), y[:, 12:], rtol=1e-5)
    # identical samples: every pair contributes exp(0) = 1
    same = np.repeat(x[:1], 4, axis=0)
    np.testing.assert_allclose(np.asarray(layer(same))[:, 12:], 4.0, rtol=1e-6)
    assert MinibatchDiscrimination.from_config(layer.get_config()).num_kernels == 7


def test_adversarial_model_outputs_image_and_verdict():
    g = build_unet_generator((32, 32, 3), filters=4, max_filters=8)
    d = build_patchgan_discriminator((32, 32, 3), filters=4)
    adv = build_adversarial_model(g, d)
    x = np.random.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    fake, verdict = adv(x)
    assert fake.shape == (2, 32, 32, 3) and verdict.shape == (2,) + d.output_shape[1:]
    g_x = np.asarray(g(x))
    np.testing.assert_allclose(np.asarray(fake), g_x, atol=1e-6)
    np.testing.assert_allclose(np.asarray(verdict), np.asarray(d([x, g_x])), atol=1e-5)
    # the composite shares the networks' weights
    assert {id(v) for v in g.trainable_variables} <= {id(v) for v in adv.trainable_variables}


# Parameter counts of the 28x28 DCGAN networks before DCGAN depth followed the image size: saved
# MNIST models and bench figures rely on them.
DCGAN_28_PARAMS = {  # (num_classes, filters): (generator, discriminator), latent_dim 100, 1 channel
    (0, 64): (760065, 138945),
    (10, 64): (1388265, 147809),
}


@pytest.mark.parametrize("side,depth", [(28, 2), (32, 2), (64, 3), (128, 4)])
def test_dcgan_depth_follows_the_image_size(side, depth):
    g = build_dcgan_generator(16, output_shape=(side, side, 3), filters=4, num_classes=10)
    d = build_dcgan_discriminator((side, side, 3), filters=4, num_classes=10)
    assert g.output_shape == (None, side, side, 3) and d.output_shape == (None, 1)
    start = g.get_layer("dcgan_generator_reshape").output.shape
    assert start[1] == side // 2 ** depth and start[3] == 4 * 2 ** (depth - 1)
    assert sum(isinstance(l, keras.layers.Conv2DTranspose) for l in g.layers) == depth
    assert sum(isinstance(l, keras.layers.Conv2D) for l in d.layers) == depth
    z, labels = np.zeros((2, 16), "float32"), np.array([[1], [2]], "int32")
    image = np.asarray(g([z, labels]))
    assert image.shape == (2, side, side, 3)
    assert np.asarray(d([image, labels])).shape == (2, 1)


@pytest.mark.parametrize("classes", [0, 10])
def test_dcgan_at_28_keeps_its_architecture(classes):
    g = build_dcgan_generator(num_classes=classes)
    d = build_dcgan_discriminator(num_classes=classes)
    assert (g.count_params(), d.count_params()) == DCGAN_28_PARAMS[(classes, 64)]
    assert g.get_layer("dcgan_generator_reshape").output.shape == (None, 7, 7, 128)
    assert [l.name for l in g.layers if "convT" in l.name or l.name.endswith("_out")] == [
        "dcgan_generator_up1_convT", "dcgan_generator_out"]
    assert [l.name for l in d.layers if l.name.endswith("_conv")] == [
        "dcgan_discriminator_down1_conv", "dcgan_discriminator_down2_conv"]


@pytest.mark.parametrize("shape", [(30, 30, 1), (28, 26, 1), (2, 2, 1)])
def test_dcgan_refuses_unreachable_sizes(shape):
    with pytest.raises(Pix2GanError, match=f"{shape[0]}x{shape[1]}.*divisible by 4") as info:
        build_dcgan_generator(output_shape=shape)
    assert "\n" not in str(info.value)
    with pytest.raises(Pix2GanError, match="divisible by 4"):
        build_dcgan_discriminator(shape)


@pytest.mark.parametrize("pad,shape", [(1, (4, 5, 2)), (3, (7, 4, 3)), (3, (8, 8, 1))])
def test_reflection_pad_equals_tf_pad_reflect(pad, shape):
    x = keras.Input(shape)
    model = keras.Model(x, reflection_pad(x, pad, name="pad"))
    assert not any(isinstance(l, keras.layers.Lambda) for l in model.layers)
    data = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    expected = tf.pad(data, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    np.testing.assert_array_equal(np.asarray(model(data)), expected.numpy())


def test_resnet_generator_outputs_and_layers():
    """(Its plain-Keras load with only the registered layers is tested in test_cyclegan.py.)"""
    g = build_resnet_generator((32, 32, 3), filters=4, n_blocks=2)
    assert g.output_shape == (None, 32, 32, 3)
    assert not any(isinstance(l, keras.layers.Lambda) for l in g.layers)
    assert g.get_layer("output_image").dtype_policy.compute_dtype == "float32"
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    y = np.asarray(g(x, training=False))
    assert y.shape == (2, 32, 32, 3) and np.all(np.abs(y) <= 1.0)


def test_resnet_generator_layout():
    g = build_resnet_generator((16, 16, 2), output_channels=1, filters=2, n_blocks=3)
    assert g.output_shape == (None, 16, 16, 1)
    convs = [l for l in g.layers if type(l) is keras.layers.Conv2D]
    assert [(l.filters, l.kernel_size[0], l.strides[0]) for l in convs] == (
        [(2, 7, 1), (4, 3, 2), (8, 3, 2)] + [(8, 3, 1)] * 6 + [(1, 7, 1)])
    assert [l.filters for l in g.layers if isinstance(l, keras.layers.Conv2DTranspose)] == [4, 2]
    assert sum(isinstance(l, keras.layers.GroupNormalization) for l in g.layers) == 1 + 2 + 2 * 3 + 2
    with pytest.raises(Pix2GanError, match="multiples of 4"):
        build_resnet_generator((30, 30, 3))


def test_builders_by_name():
    assert set(GENERATORS) == {"unet", "reference_unet", "resnet", "mlp", "dcgan"}
    assert set(DISCRIMINATORS) == {"patchgan", "resnet", "mlp", "dcgan"}
    g = build_generator("unet", input_shape=(32, 32, 3), filters=4, max_filters=8)
    assert g.name == "unet_generator" and g.output_shape == (None, 32, 32, 3)
    d = build_discriminator("dcgan", filters=4)
    assert d.output_shape == (None, 1)
    with pytest.raises(Pix2GanError, match="unknown generator 'nope'") as info:
        build_generator("nope")
    for valid in GENERATORS:
        assert valid in str(info.value)
    with pytest.raises(Pix2GanError, match="unknown discriminator 'nope'.*patchgan, resnet, mlp, dcgan"):
        build_discriminator("nope")
