"""The built-in synthetic sets that commands fall back to on a machine without data."""
import logging

import numpy as np

from pix2gan import zoo
from pix2gan.data.eurosat import CLASSES
from pix2gan.data.mnist import SYNTHETIC, read_mnist
from pix2gan.data.synthetic import synthetic_digits, synthetic_satellite_tiles


def test_synthetic_digits_look_like_mnist():
    images, labels = synthetic_digits(200, seed=3)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.uint8
    assert set(labels) == set(range(10))
    # white digit on black, inside MNIST's centred 20x20 box (a 4-pixel border stays empty)
    assert images.max() == 255 and images[:, :4].max() == 0 and images[:, -4:].max() == 0
    np.testing.assert_array_equal(images, synthetic_digits(200, seed=3)[0])
    assert not np.array_equal(images, synthetic_digits(200, seed=4)[0])


def test_synthetic_tiles_have_every_class_and_differ_by_class():
    tiles, labels = synthetic_satellite_tiles(4, seed=1)
    assert tiles.shape == (40, 64, 64, 3) and tiles.dtype == np.uint8
    assert np.bincount(labels).tolist() == [4] * len(CLASSES)
    means = np.array([tiles[labels == k].mean(axis=(0, 1, 2)) for k in range(len(CLASSES))])
    water, forest = means[CLASSES.index("SeaLake")], means[CLASSES.index("Forest")]
    assert water[2] > water[0] and forest[1] > forest[0]  # blue water, green forest
    np.testing.assert_array_equal(tiles, synthetic_satellite_tiles(4, seed=1)[0])


def test_mnist_falls_back_to_synthetic_digits(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    recipe = zoo.get("gan-mnist")
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        source = recipe.resolve_source(None, recipe.options("train", {}))
    assert source.kind == "synthetic" and "no mnist data found in datasets/mnist" in caplog.text
    data = recipe.load_data(source, recipe.options("train", {"train_limit": 200}), None, 0)
    assert data.description.startswith("synthetic digits") and data.train_size == 200
    images, labels = read_mnist(SYNTHETIC, "test")
    assert images.shape[1:] == (28, 28) and len(images) == len(labels)
