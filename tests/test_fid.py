"""Frechet distance against a NumPy/SciPy reference, and the MNIST judge's scores."""
import os

import numpy as np
import pytest
import scipy.linalg

from conftest import shared_path
from pix2gan.metrics import feature_statistics, frechet_distance, frechet_distance_of_features



def reference_fid(a, b):
    """The textbook formula with scipy.linalg.sqrtm (as in pytorch-fid / TTUR)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("dim,seed", [(8, 0), (32, 1), (64, 2)])
def test_matches_scipy_reference(dim, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((600, dim)) @ rng.standard_normal((dim, dim))
    b = 0.7 * rng.standard_normal((500, dim)) @ rng.standard_normal((dim, dim)) + rng.standard_normal(dim)
    ours, ref = frechet_distance_of_features(a, b), reference_fid(a, b)
    assert ref > 1.0
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_identical_sets_near_zero_and_mean_shift():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((400, 16))
    assert abs(frechet_distance_of_features(a, a.copy())) < 1e-8
    shift = np.full(16, 0.5)
    # same covariance, shifted mean: the distance is |shift|^2
    assert frechet_distance_of_features(a, a + shift) == pytest.approx(16 * 0.25, rel=1e-6)


def test_statistics_validation():
    with pytest.raises(ValueError, match="n >= 2"):
        feature_statistics(np.zeros((1, 4)))
    mu, s = feature_statistics(np.random.default_rng(0).standard_normal((10, 4)))
    with pytest.raises(ValueError, match="mismatched statistics"):
        frechet_distance(mu, s, mu[:3], s[:3, :3])


@pytest.fixture(scope="module")
def tiny_judge():
    mnist_dir = shared_path("mnist")
    from pix2gan.classifier import MnistJudge, train_mnist_classifier
    from pix2gan.data.mnist import read_mnist
    train, test = read_mnist(mnist_dir, "train"), read_mnist(mnist_dir, "test")
    small_train, small_test = (train[0][:4000], train[1][:4000]), (test[0][:2000], test[1][:2000])
    model, accuracy = train_mnist_classifier(small_train, small_test, epochs=4, batch_size=50,
                                             filters=8, features=32)
    return MnistJudge(model, small_test, small_train), accuracy


def test_tiny_judge_scores_real_and_collapsed_digits(tiny_judge):
    from pix2gan.data.mnist import scale_mnist
    judge, accuracy = tiny_judge
    assert accuracy > 0.85
    real = scale_mnist(judge.train[0][:2000]).numpy()
    labels = judge.train[1][:2000]
    good = judge.score(real, labels)
    assert good["fid"] < 0.2 * judge.fid(np.repeat(real[:10], 200, axis=0))
    assert good["label_accuracy"] > 0.85 and good["classes_covered"] == 10
    assert 0.8 < good["std_ratio_mean"] < 1.2
    assert sum(good["class_histogram"]) == pytest.approx(1.0, abs=1e-3)
    # one image per label (the collapse the benchmark guards against): std ratio 0
    one_each = np.stack([real[np.argmax(labels == k)] for k in range(10)])
    collapsed = judge.score(np.repeat(one_each, 50, axis=0), np.repeat(np.arange(10), 50))
    assert collapsed["std_ratio_min"] == 0.0 and collapsed["fid"] > 5 * good["fid"]
    # [0, 1] images give the same scores as the same images in [-1, 1]
    assert judge.fid((real + 1) / 2, value_range=(0, 1)) == pytest.approx(good["fid"], rel=1e-4)
    assert judge.floor(2000) < good["fid"] + 5.0


def test_classifier_is_cached(tmp_path, tiny_judge):
    from pix2gan.classifier import load_or_train_classifier
    from pix2gan.saving import save_model_files
    judge, _ = tiny_judge
    save_model_files(judge.classifier, str(tmp_path), "judge")
    loaded = load_or_train_classifier(shared_path("mnist"), os.path.join(str(tmp_path), "judge.h5"))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(x, training=False), judge.classifier(x, training=False), atol=1e-5)
