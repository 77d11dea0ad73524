"""The EuroSAT judge: builder, Frechet distance on its features, loading (never training) with
clear refusals, making it on a tiny fake EuroSAT folder (library and CLI), and (slow tier) on the
real tiles."""
import os

import cv2
import keras
import numpy as np
import pytest
from conftest import shared_path

from pix2gan.classifier import (
    EUROSAT_CLASSIFIER_PATH,
    FEATURES_LAYER,
    EurosatJudge,
    build_eurosat_classifier,
    build_mnist_classifier,
    load_eurosat_judge,
    load_or_make_eurosat_judge,
    make_eurosat_judge,
)
from pix2gan.cli import main
from pix2gan.data.eurosat import CLASSES, load_eurosat
from pix2gan.errors import Pix2GanError
from pix2gan.saving import save_model_files


@pytest.fixture(scope="module")
def tiny_classifier():
    keras.utils.set_random_seed(0)
    return build_eurosat_classifier(filters=4, features=16)


def _tiles(n, seed=0):
    """Noise tiles in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, 64, 64, 3)).astype(np.float32)


def _smooth_tiles(n, seed=0):
    """Tiles of one colour each, with a gentle ramp: nothing like noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-0.3, 0.3, 64, dtype=np.float32)[None, :, None, None]
    tiles = rng.uniform(-0.7, 0.7, (n, 1, 1, 3)).astype(np.float32) + ramp
    return np.ascontiguousarray(np.broadcast_to(tiles, (n, 64, 64, 3)))


def test_builder_shapes_and_features_layer(tiny_classifier):
    model = build_eurosat_classifier()
    assert tuple(model.inputs[0].shape[1:]) == (64, 64, 3)
    assert tuple(model.outputs[0].shape[1:]) == (len(CLASSES),)
    assert model.get_layer(FEATURES_LAYER).output.shape[-1] == 128
    features = EurosatJudge(tiny_classifier).features(_tiles(5))
    assert features.shape == (5, 16) and np.all(features >= 0)  # ReLU features


def test_frechet_of_a_set_against_itself_is_zero(tiny_classifier):
    judge = EurosatJudge(tiny_classifier, batch_size=7)  # several batches
    a, b = _tiles(40, seed=1), _smooth_tiles(40, seed=2)
    mu, sigma = judge.statistics(a)
    assert mu.shape == (16,) and sigma.shape == (16, 16)
    same = judge.frechet(a, a.copy())
    assert abs(same) <= 1e-6 * max(1.0, np.trace(sigma))
    assert judge.frechet(a, b) > 1e-3 * np.trace(sigma)
    # the same tiles in [0, 1] or as uint8 give the same features
    features = judge.features(a)
    tol = 1e-4 * np.abs(features).max()
    np.testing.assert_allclose(judge.features((a + 1) / 2, value_range=(0, 1)), features, rtol=1e-4, atol=tol)
    as_uint8 = np.round((a + 1) * 127.5).astype(np.uint8)
    np.testing.assert_allclose(judge.features(as_uint8), judge.features(as_uint8 / 127.5 - 1), rtol=1e-4, atol=tol)
    labels = judge.features_and_predictions(a)[1]
    assert judge.accuracy(a, labels) == 1.0
    with pytest.raises(Pix2GanError, match="64x64x3"):
        judge.features(np.zeros((2, 32, 32, 3), np.float32))


def test_load_refuses_missing_and_wrong_models(tmp_path):
    with pytest.raises(Pix2GanError, match="pix2gan make-judge --dataset eurosat --data-dir") as missing:
        load_eurosat_judge(str(tmp_path / "none.h5"))
    assert str(tmp_path / "none.h5") in str(missing.value)
    with pytest.MonkeyPatch.context() as mp:  # the default path names no --output
        mp.chdir(tmp_path)
        with pytest.raises(Pix2GanError, match=f"{EUROSAT_CLASSIFIER_PATH} does not exist.*"
                                               "`pix2gan make-judge --dataset eurosat --data-dir DIR`"):
            load_eurosat_judge()
    mnist = save_model_files(build_mnist_classifier(filters=4, features=8), str(tmp_path), "mnist")["model"]
    with pytest.raises(Pix2GanError, match="28x28x1 image -> 10 logits, not the EuroSAT judge") as wrong:
        load_eurosat_judge(mnist)
    assert wrong.value.argument == "classifier"


def _fake_eurosat(root, per_class=5):
    """Ten class folders of small JPEG tiles, each class a distinct flat colour plus noise."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        os.makedirs(os.path.join(root, name))
        colour = np.array([k * 25, 255 - k * 25, (k * 70) % 256], np.float64)
        for i in range(per_class):
            tile = np.clip(colour + rng.normal(0, 10, (64, 64, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(os.path.join(root, name, f"{name}_{i + 1}.jpg"), tile)
    return str(root)


def test_make_eurosat_judge_on_a_tiny_folder(tmp_path, capsys):
    data = _fake_eurosat(tmp_path / "eurosat")
    path = str(tmp_path / "judges" / "eurosat.h5")
    # a judge under the minimum accuracy is refused and nothing is written
    with pytest.raises(Pix2GanError, match="test accuracy"):
        make_eurosat_judge(data, path, epochs=1, min_accuracy=1.01)
    assert not os.path.exists(path)
    assert make_eurosat_judge(data, path, epochs=1, min_accuracy=0.0) == path
    judge = EurosatJudge(load_eurosat_judge(path))
    assert judge.features(_tiles(3)).shape == (3, 128)
    # load_or_make loads an existing judge without training
    assert load_or_make_eurosat_judge(str(tmp_path / "no such folder"), path).count_params() == \
        judge.classifier.count_params()
    # a missing data folder raises the loader's error, before anything is written
    with pytest.raises(Pix2GanError, match="EuroSAT"):
        make_eurosat_judge(str(tmp_path / "no such folder"), str(tmp_path / "x.h5"))
    with pytest.raises(Pix2GanError, match=r"\.h5"):
        make_eurosat_judge(data, str(tmp_path / "x.keras"))
    # the command line, with the minimum lowered for these few tiles
    cli_path = str(tmp_path / "cli.h5")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pix2gan.classifier.EUROSAT_MIN_ACCURACY", 0.0)
        assert main(["make-judge", "--dataset", "eurosat", "--data-dir", data, "--output", cli_path,
                     "--epochs", "1"]) == 0
    assert f"wrote the EuroSAT judge to {cli_path}" in capsys.readouterr().out
    load_eurosat_judge(cli_path)
    assert main(["make-judge", "--dataset", "eurosat", "--data-dir", str(tmp_path / "none"),
                 "--output", str(tmp_path / "y.h5")]) == 2
    assert "error:" in capsys.readouterr().err and not os.path.exists(str(tmp_path / "y.h5"))
    assert main(["make-judge", "--dataset", "eurosat", "--synthetic", "--data-dir", data]) == 2


@pytest.mark.slow
def test_real_eurosat_judge(tmp_path):
    """`make_eurosat_judge` on the real tiles, for 2 of its 6 epochs (about 2.5 minutes on 2 cores
    against 8.5 for all 6, which the suite's time budget cannot hold). Measured 2026-12-02: 2
    epochs reach test accuracy 0.845, 3 reach 0.877, the full 6 reach 0.924 (the judge of the
    bench figures), so the bound here is 0.80 rather than :data:`EUROSAT_MIN_ACCURACY`, which
    ``make_eurosat_judge`` itself enforces by refusing to write a weaker judge."""
    data = shared_path("eurosat")
    path = make_eurosat_judge(data, str(tmp_path / "eurosat_classifier.h5"), epochs=2, min_accuracy=0.80)
    test_x, test_y = load_eurosat(data)["test"]
    judge = EurosatJudge(load_eurosat_judge(path))
    assert judge.accuracy(test_x, test_y) >= 0.80
    order = np.random.default_rng(0).permutation(len(test_x))
    first, second = test_x[order[:2000]], test_x[order[2000:4000]]  # two random halves of the same mix
    floor = judge.frechet(first, second)
    assert judge.frechet(first, test_x[test_y == 0]) > 10 * floor
