"""Perlin clouds: the vectorised port equals noise.pnoise2, blending, ranges, seeding, disk pairs."""
import os

import numpy as np
import pytest
import tensorflow as tf

noise = pytest.importorskip("noise")

from pix2gan.data.clouds import (add_clouds, blend_clouds, cloud_pairs_dataset, perlin2, perlin_clouds,  # noqa: E402
                                 reference_clouds, write_cloud_pairs)
from pix2gan.errors import Pix2GanError  # noqa: E402


def _pnoise(x, y, rx, ry):
    return np.array([noise.pnoise2(a, b, octaves=1, repeatx=rx, repeaty=ry, base=0) for a, b in zip(x, y)])


@pytest.mark.parametrize("xla", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("repeat", [(1024.0, 1024.0), (64.0, 64.0), (37.0, 50.0), (5.0, 3.0)])
def test_perlin2_matches_pnoise2_on_random_coordinates(repeat, xla):
    rng = np.random.default_rng(1)
    # Negative and positive coordinates, lattice points and points beyond the repeat period.
    x = np.concatenate([rng.uniform(-300, 300, 3000), np.arange(-5, 5, 0.5)])
    y = np.concatenate([rng.uniform(-300, 300, 3000), np.arange(-5, 5, 0.5)[::-1]])
    got = perlin2(x, y, *repeat, xla=xla).numpy()
    assert np.abs(got - _pnoise(x, y, *repeat)).max() <= 1e-6


def test_perlin2_grid_broadcasting_equals_elementwise():
    rows, cols = np.linspace(0, 20, 17), np.linspace(-3, 9, 13)
    grid = perlin2(rows[:, None], cols[None, :], 16.0, 16.0).numpy()
    xs, ys = np.meshgrid(rows, cols, indexing="ij")
    assert np.abs(grid - _pnoise(xs.ravel(), ys.ravel(), 16.0, 16.0).reshape(grid.shape)).max() <= 1e-6


def test_perlin2_refuses_other_bases():
    with pytest.raises(Pix2GanError, match="base=3"):
        perlin2([0.5], [0.5], base=3)


@pytest.mark.parametrize("xla", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("scale", [5.0, 23.7, 119.9])
def test_cloud_maps_match_reference_loop(scale, xla):
    got = perlin_clouds([scale], 24, 20, xla=xla).numpy()[0]
    ref = reference_clouds(24, 20, scale)
    assert got.shape == (24, 20)
    assert np.abs(got - ref).max() <= 1e-6
    assert got.min() == 0.0 and abs(got.max() - 1.0) < 1e-6


def test_blend_formula_and_ranges():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    clouds = rng.uniform(0, 1, (3, 8, 8)).astype(np.float32)
    alpha = np.array([0.0, 0.4, 1.0], np.float32)
    out = blend_clouds(images, clouds, alpha).numpy()
    np.testing.assert_allclose(out[0], images[0], atol=1e-7)
    np.testing.assert_allclose(out[2], np.repeat(clouds[2][..., None], 3, -1), atol=1e-7)
    np.testing.assert_allclose(out[1], images[1] * 0.6 + clouds[1][..., None] * 0.4, atol=1e-6)
    cloudy, a = add_clouds(images, seed=[3, 4])
    assert cloudy.shape == images.shape and a.shape == (3,)
    assert float(np.min(cloudy)) >= 0.0 and float(np.max(cloudy)) <= 1.0
    assert 0.0 <= float(np.min(a)) and float(np.max(a)) <= 1.0
    # Clouds are grey: cloudy - (1 - alpha) * image is the same in every channel.
    cloud_part = cloudy.numpy() - (1 - a.numpy())[:, None, None, None] * images
    np.testing.assert_allclose(cloud_part[..., 0], cloud_part[..., 2], atol=1e-5)


def test_pairs_are_seeded_fresh_per_batch_and_fixed_for_test():
    images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)

    def first(ds, n):
        return [np.asarray(b[0]) for _, b in zip(range(n), ds)]
    a = first(cloud_pairs_dataset(images, 4, training=False, seed=5), 2)
    b = first(cloud_pairs_dataset(images, 4, training=False, seed=5), 2)
    c = first(cloud_pairs_dataset(images, 4, training=False, seed=6), 2)
    np.testing.assert_array_equal(a[0], b[0])
    assert np.abs(a[0] - c[0]).max() > 0.01
    train = first(cloud_pairs_dataset(images, 8, training=True, seed=5), 3)  # one batch = one epoch
    assert np.abs(train[0] - train[1]).max() > 0.01  # new clouds (and order) every epoch
    cloudy, clear, alpha = next(iter(cloud_pairs_dataset(images, 4, training=False, seed=5, with_alpha=True)))
    assert cloudy.shape == (4, 16, 16, 3) and alpha.shape == (4,)
    np.testing.assert_allclose(np.asarray(clear), images[:4] / 255.0, atol=1e-6)


def test_write_cloud_pairs(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    n = write_cloud_pairs(images, str(tmp_path), seed=1, names=["a.jpg", "b.jpg", "c.jpg"])
    assert n == 3
    assert sorted(os.listdir(tmp_path / "cloudy")) == ["a.png", "b.png", "c.png"]
    assert sorted(os.listdir(tmp_path / "clear")) == ["a.png", "b.png", "c.png"]
    with pytest.raises(Pix2GanError, match="extension"):
        write_cloud_pairs(images, str(tmp_path), extension=".gif")


def test_xla_clouds_match_the_exact_port():
    scales = np.array([5.0, 17.5, 64.0, 119.0])
    exact = perlin_clouds(scales, 32, 32).numpy()
    fast = perlin_clouds(scales, 32, 32, xla=True).numpy()
    assert fast.shape == exact.shape == (4, 32, 32)
    assert np.abs(fast - exact).max() <= 1e-6


def test_cloud_kinds_ranges_shapes_and_grey_default():
    from pix2gan.data.clouds import CLOUD_KINDS, shape_clouds
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    grey, alpha = add_clouds(images, seed=[5, 6])
    same, _ = add_clouds(images, seed=[5, 6], kind="grey")
    np.testing.assert_array_equal(grey.numpy(), same.numpy())
    maps = perlin_clouds([10.0, 40.0, 80.0, 7.0], 16, 16)
    for kind in CLOUD_KINDS:
        cloudy, a = add_clouds(images, seed=[5, 6], kind=kind)
        np.testing.assert_array_equal(a.numpy(), alpha.numpy())  # same opacities, other clouds
        assert cloudy.shape == images.shape and 0.0 <= cloudy.numpy().min() and cloudy.numpy().max() <= 1.0
        shaped = shape_clouds(maps, kind, tf.constant([1, 2], tf.int64)).numpy()
        assert 0.0 <= shaped.min() and shaped.max() <= 1.0
    thick = shape_clouds(maps, "thick", tf.constant([1, 2], tf.int64)).numpy()
    assert (thick == 0).mean() > 0.05 and (thick == 1).mean() > 0.05  # clear gaps and opaque cores
    assert shape_clouds(maps, "haze", tf.constant([1, 2], tf.int64)).numpy().min() >= 0.7 - 1e-6
    coloured = shape_clouds(maps, "coloured", tf.constant([1, 2], tf.int64)).numpy()
    assert coloured.shape == (4, 16, 16, 3)
    assert not np.allclose(coloured[..., 0], coloured[..., 1])  # tinted, not grey
    with pytest.raises(Pix2GanError, match="unknown cloud kind 'fog'"):
        cloud_pairs_dataset(images, 2, training=False, kind="fog")
