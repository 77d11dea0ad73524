import numpy as np
import pytest

import keras

from pix2gan import (MinibatchDiscrimination, Pix2GanError, build_adversarial_model, build_patchgan_discriminator,
                     build_unet_generator)


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


@pytest.mark.parametrize("shape", [(100, 100, 3), (256, 200, 3), (4, 4, 3), (64, 64, 5)])
def test_generator_refuses_unsupported_shapes(shape):
    with pytest.raises(Pix2GanError, match="not supported"):
        build_unet_generator(shape)


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
