"""MNIST GAN builders, the shared LatentGAN trainer, the four zoo entries and the sampler."""
import json
import os

import keras
import numpy as np
import pytest

from pix2gan.discriminators import build_dcgan_discriminator, build_mlp_discriminator
from pix2gan.errors import Pix2GanError
from pix2gan.generators import build_dcgan_generator, build_mlp_generator
from pix2gan.trainers import LatentGAN
from pix2gan.trainers.latent import sample_generator
from pix2gan import zoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRIES = ("gan-mnist", "cgan-mnist", "lsgan-mnist", "dcgan-mnist")


@pytest.mark.parametrize("conditional", [False, True])
def test_builder_shapes(conditional):
    classes = 10 if conditional else 0
    z, labels = np.zeros((3, 64), np.float32), np.array([[1], [2], [3]], np.int32)
    g_in = [z, labels] if conditional else z
    for g in (build_mlp_generator(64, num_classes=classes),
              build_mlp_generator(64, (128, 256, 512, 1024), num_classes=classes, norm="batch", activation="gelu"),
              build_dcgan_generator(64, filters=16, num_classes=classes)):
        assert len(g.inputs) == (2 if conditional else 1)
        out = np.asarray(g(g_in))
        assert out.shape == (3, 28, 28, 1) and np.all(np.abs(out) <= 1.0)
    images = np.zeros((3, 28, 28, 1), np.float32)
    d_in = [images, labels] if conditional else images
    for d in (build_mlp_discriminator(num_classes=classes),
              build_mlp_discriminator(hidden=(1024, 512, 256, 128), num_classes=classes, norm="batch", activation="gelu"),
              build_dcgan_discriminator(filters=16, num_classes=classes)):
        assert np.asarray(d(d_in)).shape == (3, 1)


def test_vanilla_sizes_and_dcgan_rules():
    g, d = build_mlp_generator(), build_mlp_discriminator()
    assert [l.units for l in g.layers if isinstance(l, keras.layers.Dense)] == [256, 256, 784]
    assert [l.units for l in d.layers if isinstance(l, keras.layers.Dense)] == [256, 256, 1]
    dg, dd = build_dcgan_generator(), build_dcgan_discriminator()
    # Radford et al.: no pooling, one projection dense in G, only the output dense in D
    for model in (dg, dd):
        assert not any("Pooling" in type(l).__name__ for l in model.layers)
    assert sum(isinstance(l, keras.layers.Dense) for l in dg.layers) == 1
    assert sum(isinstance(l, keras.layers.Dense) for l in dd.layers) == 1
    assert any(isinstance(l, keras.layers.Conv2DTranspose) for l in dg.layers)
    with pytest.raises(Pix2GanError, match="divisible by 4"):
        build_dcgan_generator(output_shape=(30, 30, 1))


def test_trainer_refuses_mixed_conditioning():
    with pytest.raises(ValueError, match="disagree on conditioning"):
        LatentGAN(build_mlp_generator(8, (16,), num_classes=10), build_mlp_discriminator(hidden=(16,)))


@pytest.mark.parametrize("loss,smoothing", [("hinge", 0.0), ("lsgan", 0.1), ("bce", 0.1)])
def test_trainer_loss_options_on_random_batches(loss, smoothing):
    keras.utils.set_random_seed(0)
    g = build_mlp_generator(8, (32,), num_classes=10)
    d = build_mlp_discriminator(hidden=(32,), num_classes=10, embed_dim=8)
    trainer = LatentGAN(g, d, adversarial_loss=loss, label_smoothing=smoothing, reconstruction_weight=0.05, seed=0)
    trainer.compile()
    x = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype(np.float32)
    y = np.arange(64) % 10
    before = [np.array(v) for v in g.trainable_variables]
    history = trainer.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert {"g_loss", "g_adv", "d_loss", "d_real", "d_fake"} <= set(history.history)
    assert history.history["g_loss"][-1] != pytest.approx(history.history["g_adv"][-1])  # the L1 term counts
    assert any(not np.allclose(a, np.array(b)) for a, b in zip(before, g.trainable_variables))


def test_generator_ema_option(tmp_path):
    keras.utils.set_random_seed(0)
    g = build_dcgan_generator(16, filters=8)
    d = build_dcgan_discriminator(filters=8)
    with pytest.raises(ValueError, match="ema_decay"):
        LatentGAN(g, d, ema_decay=1.0)
    plain = LatentGAN(g, d)
    assert plain.ema_generator is None and plain.inference_generator is g
    trainer = LatentGAN(g, d, ema_decay=0.9, seed=0)
    ema = trainer.inference_generator
    assert ema is trainer.ema_generator and ema is not g
    for a, b in zip(ema.weights, g.weights):  # starts as an exact copy, same layout
        assert a.path == b.path
        np.testing.assert_array_equal(np.array(a), np.array(b))
    trainer.compile()
    start = [np.array(v) for v in ema.weights]
    x = np.random.default_rng(0).uniform(-1, 1, (96, 28, 28, 1)).astype(np.float32)
    trainer.fit(x, np.zeros(96), batch_size=16, epochs=1, verbose=0)
    assert int(trainer.ema_step.numpy()) == 6
    trainable = {id(v) for v in g.trainable_variables}
    moved = False
    for e, v, s0 in zip(ema.weights, g.weights, start):
        e, now = np.array(e), np.array(v)
        if id(v) in trainable:
            moved |= not np.allclose(e, s0)
            assert not np.allclose(e, now) or np.allclose(s0, now)  # lags behind the raw weights
        else:  # BatchNorm moving statistics are copied
            np.testing.assert_array_equal(e, now)
    assert moved
    np.testing.assert_allclose(trainer.sample(4, seed=3), sample_generator(ema, 4, seed=3))
    # the average and its step count are trainer weights, so BackupAndRestore resumes them
    trainer.save_weights(str(tmp_path / "t.weights.h5"))
    again = LatentGAN(build_dcgan_generator(16, filters=8), build_dcgan_discriminator(filters=8), ema_decay=0.9)
    again.compile()
    again.load_weights(str(tmp_path / "t.weights.h5"))
    assert int(np.array(again.ema_step)) == 6
    np.testing.assert_allclose(again.sample(4, seed=3), trainer.sample(4, seed=3), atol=1e-6)


TINY_RUN = dict(epochs=1, steps_per_epoch=3, batch_size=32, verbose=0, train_limit=400, fid_every=0,
                eval_samples=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRIES)
def test_entry_trains_a_few_steps(tmp_path, mnist_dir, name):
    settings = {"filters": 16, "conditional": False} if name == "dcgan-mnist" else {}
    if name == "gan-mnist":
        settings = {"ema_decay": 0.9}  # the option works for every entry
    run = zoo.get(name, **settings).train(data_dir=mnist_dir, logdir=str(tmp_path / "logs"),
                                          out=str(tmp_path / "models"), **TINY_RUN)
    for key in ("g_loss", "d_loss", "d_real", "d_fake"):
        assert np.isfinite(run.metrics[key]), key
    assert run.metrics["images_per_s"] > 0
    assert run.generator_path == str(tmp_path / "models" / f"{name}_generator.h5")
    generator = keras.models.load_model(run.generator_path, compile=False)  # plain Keras, no custom objects
    assert len(generator.inputs) == (1 if name in ("gan-mnist", "dcgan-mnist") else 2)
    assert (tmp_path / "logs" / name / "samples" / "epoch_0001.png").is_file()
    assert zoo.from_card(run.card_path) == zoo.get(name, **settings, epochs=1, batch_size=32)


@pytest.mark.slow
def test_dcgan_is_conditional_by_default_with_per_epoch_fid(tmp_path, mnist_dir):
    from pix2gan.classifier import train_mnist_classifier
    from pix2gan.data.mnist import read_mnist
    from pix2gan.saving import save_model_files
    train, test = read_mnist(mnist_dir, "train"), read_mnist(mnist_dir, "test")
    judge, _ = train_mnist_classifier((train[0][:500], train[1][:500]), (test[0][:200], test[1][:200]),
                                      epochs=1, batch_size=100, filters=4, features=16)
    save_model_files(judge, str(tmp_path), "judge")
    options = {**TINY_RUN, "fid_every": 1, "fid_samples": 200, "eval_samples": 300,
               "classifier": str(tmp_path / "judge.h5")}
    run = zoo.get("dcgan-mnist", filters=8, loss="hinge").train(
        data_dir=mnist_dir, logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"), **options)
    metrics = run.metrics
    assert np.isfinite(metrics["final_fid"]) and metrics["final_fid"] > 0
    assert 0.0 <= metrics["final_label_accuracy"] <= 1.0 and "val_fid" in metrics
    assert len(metrics["final_class_histogram"]) == 10
    assert os.listdir(tmp_path / "logs" / "dcgan-mnist" / "validation")
    generator = keras.models.load_model(str(tmp_path / "models" / "dcgan-mnist_generator.h5"), compile=False)
    assert len(generator.inputs) == 2  # noise and label


def test_conditional_sampler_honours_labels():
    keras.utils.set_random_seed(0)
    g = build_mlp_generator(8, (32,), num_classes=10)
    seven = sample_generator(g, 5, labels=7, seed=1)
    assert seven.shape == (5, 28, 28, 1) and seven.dtype == np.float32
    mixed = sample_generator(g, 5, labels=[7, 7, 3, 3, 7], seed=1)
    np.testing.assert_allclose(mixed[[0, 1, 4]], seven[[0, 1, 4]], atol=1e-6)
    assert not np.allclose(mixed[2], seven[2])  # same noise, other label, other image
    with pytest.raises(ValueError, match="class-conditional: pass labels"):
        sample_generator(g, 5)
    with pytest.raises(ValueError, match="unconditional: it takes no labels"):
        sample_generator(build_mlp_generator(8, (16,)), 5, labels=3)


def test_sample_command(tmp_path, capsys):
    import cv2
    from pix2gan.cli import main
    keras.utils.set_random_seed(0)
    cond = build_mlp_generator(8, (16,), num_classes=10)
    uncond = build_mlp_generator(8, (16,))
    cond.save(str(tmp_path / "cond.h5"))
    uncond.save(str(tmp_path / "uncond.h5"))
    out = str(tmp_path / "g.png")
    assert main(["sample", "cgan-mnist", "--weights", str(tmp_path / "cond.h5"), "--n", "64", "--label", "7",
                 "--output", out]) == 0
    grid = cv2.imread(out)
    assert grid.shape == (8 * 30 + 2, 8 * 30 + 2, 3)
    capsys.readouterr()
    assert main(["sample", "cgan-mnist", "--weights", str(tmp_path / "cond.h5"), "--label", "12"]) == 2
    assert "error: --label 12 is not a digit" in capsys.readouterr().err
    assert main(["sample", "gan-mnist", "--weights", str(tmp_path / "uncond.h5"), "--label", "3"]) == 2
    assert "is unconditional" in capsys.readouterr().err


def test_mlp_gans_run_several_steps_per_call_in_whole_calls(tmp_path):
    """gan-mnist runs 50 steps per call of its step: an epoch of one pass (53 batches of 100) is
    rounded down to 50 steps; a set steps_per_epoch of 12 runs calls of 12; the card says so."""
    common = dict(data_dir=None, synthetic=True, logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"),
                  verbose=0, fid_every=0, eval_samples=0, epochs=1)
    recipe = zoo.get("gan-mnist")
    assert recipe.default_steps_per_execution == 50 and zoo.get("dcgan-mnist").default_steps_per_execution == 1
    run = recipe.train(train_limit=5300, run_name="whole", **common)
    card = json.load(open(run.card_path))
    assert (card["run"]["steps_per_epoch"], card["run"]["steps_per_execution"]) == (50, 50)
    run = recipe.train(train_limit=5300, steps_per_epoch=12, run_name="set", **common)
    card = json.load(open(run.card_path))
    assert (card["run"]["steps_per_epoch"], card["run"]["steps_per_execution"]) == (12, 12)
    run = recipe.train(train_limit=5300, steps_per_epoch=12, steps_per_execution=5, run_name="five", **common)
    assert json.load(open(run.card_path))["run"]["steps_per_execution"] == 4
