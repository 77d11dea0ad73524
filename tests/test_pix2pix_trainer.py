import keras
import numpy as np
import pytest
import tensorflow as tf

from pix2gan import Pix2Pix, build_patchgan_discriminator, build_unet_generator
from pix2gan.data.facades import synthetic_facades_dataset
from pix2gan.errors import Pix2GanError
from pix2gan.inference import batchnorm_statistics
from pix2gan.losses import psnr_loss
from pix2gan.trainers.pix2pix import EVAL_MODES


def tiny_pix2pix(size=32, **kwargs):
    keras.utils.set_random_seed(1)
    g = build_unet_generator((size, size, 3), filters=8, max_filters=32)
    d = build_patchgan_discriminator((size, size, 3), filters=8)
    trainer = Pix2Pix(g, d, **kwargs)
    trainer.compile()
    return trainer


def test_few_train_steps_lower_l1_on_a_tiny_set():
    trainer = tiny_pix2pix()
    fixed = synthetic_facades_dataset(8, image_size=32, batch_size=4, training=False, repeat=False)
    before = trainer.evaluate(fixed, return_dict=True, verbose=0)
    train = synthetic_facades_dataset(8, image_size=32, batch_size=4, training=False, repeat=True)
    history = trainer.fit(train, epochs=1, steps_per_epoch=30, verbose=0)
    after = trainer.evaluate(fixed, return_dict=True, verbose=0)
    assert set(history.history) >= {"g_loss", "g_adv", "g_l1", "d_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert after["l1"] < 0.9 * before["l1"], (before, after)
    assert after["psnr"] > before["psnr"] + 1.0


def test_paper_eval_mode_never_changes_weights():
    trainer = tiny_pix2pix()
    stats = batchnorm_statistics(trainer.generator)
    assert stats
    # give the moving averages non-trivial values first
    train = synthetic_facades_dataset(8, image_size=32, batch_size=4, training=False, repeat=True)
    trainer.fit(train, epochs=1, steps_per_epoch=2, verbose=0)
    before = [np.array(v) for v in trainer.generator.weights]
    x = next(iter(train))[0]
    out_paper = trainer.generate(x, "paper")
    tf.function(lambda t: trainer.generate(t, "paper"))(x)
    trainer.evaluate(synthetic_facades_dataset(4, image_size=32, batch_size=4, training=False), verbose=0)
    after = [np.array(v) for v in trainer.generator.weights]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)
    out_inference = trainer.generate(x, "inference")
    np.testing.assert_allclose(np.asarray(out_inference), np.asarray(trainer.generate(x, "inference")))
    assert not np.allclose(np.asarray(out_paper), np.asarray(out_inference))


def test_unconditional_discriminator_and_unit_range_are_supported():
    keras.utils.set_random_seed(2)
    g = build_unet_generator((32, 32, 3), filters=4, max_filters=8)
    inp = keras.Input((32, 32, 3))
    d = keras.Model(inp, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inp)))
    trainer = Pix2Pix(g, d, value_range=(0, 1), adversarial_loss="lsgan")
    trainer.compile()
    x = np.random.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    logs = trainer.train_on_batch(x, x, return_dict=True)
    assert np.isfinite(logs["g_loss"]) and np.isfinite(logs["d_loss"])


def test_psnr_loss_is_minus_the_mean_per_image_psnr():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    noisy = np.clip(target + rng.normal(0, [[[[0.01]]], [[[0.05]]], [[[0.2]]]], target.shape), 0, 1).astype(np.float32)
    expected = -np.mean(tf.image.psnr(noisy, target, max_val=1.0).numpy())
    np.testing.assert_allclose(psnr_loss(tf.constant(noisy), target).numpy(), expected, rtol=1e-5)
    # [-1, 1] images: the same score with max_value 2
    np.testing.assert_allclose(psnr_loss(tf.constant(noisy * 2 - 1), target * 2 - 1, max_value=2.0).numpy(),
                               expected, rtol=1e-4)
    assert psnr_loss(tf.constant(target), target).numpy() == -80.0  # identical images: floored, finite


def test_psnr_term_is_trained_and_logged():
    trainer = tiny_pix2pix(psnr_weight=0.5)
    train = synthetic_facades_dataset(8, image_size=32, batch_size=4, training=False, repeat=True)
    history = trainer.fit(train, epochs=1, steps_per_epoch=3, verbose=0)
    assert "g_psnr" in history.history and np.isfinite(history.history["g_psnr"][-1])
    assert history.history["g_psnr"][-1] > 0  # logged as the (positive) PSNR in dB


def test_generator_ema_option():
    trainer = tiny_pix2pix(ema_decay=0.9)
    raw, ema = trainer.generator, trainer.ema_generator
    assert trainer.inference_generator is ema and ema is not raw
    train = synthetic_facades_dataset(8, image_size=32, batch_size=4, training=False, repeat=True)
    trainer.fit(train, epochs=1, steps_per_epoch=3, verbose=0)
    assert int(trainer.ema_step) == 3
    trainable = {id(v) for v in raw.trainable_variables}
    differs = False
    for e, v in zip(ema.weights, raw.weights):
        e, v_now = np.array(e), np.array(v)
        assert np.all(np.isfinite(e))
        differs |= id(v) in trainable and not np.allclose(e, v_now)
    assert differs
    x = next(iter(train))[0]  # evaluation runs the average
    np.testing.assert_allclose(np.asarray(trainer.generate(x, "inference")), np.asarray(ema(x, training=False)))
    plain = tiny_pix2pix()
    assert plain.ema_generator is None and plain.inference_generator is plain.generator


def test_bad_arguments_name_the_choices():
    g = build_unet_generator((32, 32, 3), filters=4, max_filters=8)
    d = build_patchgan_discriminator((32, 32, 3), filters=4)
    for decay in (1.0, -0.5):
        with pytest.raises(Pix2GanError, match=r"ema_decay .*\[0, 1\)"):
            Pix2Pix(g, d, ema_decay=decay)
    with pytest.raises(Pix2GanError, match="eval_mode 'test'.*paper, inference"):
        Pix2Pix(g, d, eval_mode="test")
    with pytest.raises(Pix2GanError, match="adversarial_loss 'l2'.*bce, lsgan, hinge"):
        Pix2Pix(g, d, adversarial_loss="l2")
    assert EVAL_MODES == ("paper", "inference")  # still importable from the trainer module
