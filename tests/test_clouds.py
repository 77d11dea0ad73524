"""Clouds: the Perlin port equals noise.pnoise2; every cloud kind is seeded, masked and physical; pipelines."""
import os

import numpy as np
import pytest
import tensorflow as tf

noise = pytest.importorskip("noise")

from pix2gan.data.clouds import (CLOUD_KINDS, add_clouds, blend_clouds, cloud_pairs_dataset, perlin2,  # noqa: E402
                                 perlin_clouds, reference_clouds, rescale_tiles, synthesize_clouds,
                                 write_cloud_pairs)
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


def _ground(n=6, size=48, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.9, (n, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("kind", CLOUD_KINDS)
def test_each_kind_is_deterministic_in_range_and_masked_where_the_image_changed(kind):
    images = _ground()
    cloudy, mask = (t.numpy() for t in synthesize_clouds(images, [5, 6], kind))
    again, _ = synthesize_clouds(images, [5, 6], kind)
    other, _ = synthesize_clouds(images, [5, 7], kind)
    np.testing.assert_array_equal(cloudy, again.numpy())                 # same seed, same clouds
    assert np.abs(cloudy - other.numpy()).max() > 0.05                   # another seed, other clouds
    assert cloudy.shape == images.shape and mask.shape == images.shape[:3]
    assert 0.0 <= cloudy.min() and cloudy.max() <= 1.0 and 0.0 <= mask.min() and mask.max() <= 1.0
    changed = np.abs(cloudy - images).max(-1) > 1e-6
    assert not np.any(changed & (mask == 0))                             # untouched where the mask is 0
    assert not np.any(~changed & (mask > 1e-3))                          # changed wherever it says so
    assert mask.mean() > 0.02


def test_cloud_kinds_look_like_their_physics():
    images = np.full((16, 64, 64, 3), 0.3, np.float32)                   # a flat grey-green ground
    thin, thin_mask = (t.numpy() for t in synthesize_clouds(images, [1, 2], "thin"))
    thick, thick_mask = (t.numpy() for t in synthesize_clouds(images, [1, 2], "thick"))
    grey, grey_mask = (t.numpy() for t in synthesize_clouds(images, [1, 2], "grey"))
    # thin: a partial veil, never opaque; brighter than the ground (path radiance), slightly bluish
    assert thin_mask.max() <= 0.75 + 1e-6 and (thin >= 0.3 - 1e-6).all()
    veiled = thin_mask > 0.2
    assert (thin[..., 2][veiled] >= thin[..., 0][veiled] - 0.02).mean() > 0.7
    # thick: opaque white to light-grey cores with clear gaps between them
    cores = thick_mask > 0.999
    assert cores.mean() > 0.02 and (thick_mask == 0).mean() > 0.1
    assert thick[cores].min() >= 0.72 * 0.98 and thick[cores].max() <= 1.0
    # grey (the reference): one opacity per image, everywhere
    assert np.allclose(grey_mask, grey_mask[:, :1, :1], atol=1e-6)
    _, alpha = add_clouds(images, [1, 2], kind="grey")
    np.testing.assert_allclose(alpha.numpy(), grey_mask[:, 0, 0], atol=1e-5)


def test_shadows_are_the_clouds_moved_by_the_sun_vector():
    images = np.full((8, 64, 64, 3), 0.5, np.float32)
    sun = tf.constant([[9.0, -14.0]] * 8)                                # rows, columns (pixels)
    thick, _ = synthesize_clouds(images, [3, 4], "thick", sun=sun)
    shadow, _ = synthesize_clouds(images, [3, 4], "shadow", sun=sun)
    cloud = np.abs(thick.numpy() - 0.5).max(-1) > 0.01                   # the same clouds in both
    darkened = (shadow.numpy() < thick.numpy() - 0.01).any(-1) & ~cloud  # shade on clear ground
    # the shade at p is cast by the cloud at p + sun
    dy, dx = 9, -14
    cast = np.zeros_like(cloud)
    cast[:, :64 - dy, -dx:] = cloud[:, dy:, :64 + dx]
    inside = np.zeros_like(cloud)
    inside[:, :64 - dy, -dx:] = True
    agree = (darkened == (cast & ~cloud))[inside]
    assert darkened.mean() > 0.02 and agree.mean() > 0.98
    # shade darkens multiplicatively, by 35-75 %
    ratio = shadow.numpy()[darkened & cast] / 0.5
    assert ratio.min() >= 0.25 - 1e-3 and ratio.max() < 1.0


def test_mixed_draws_every_kind_and_clear_tiles():
    images = _ground(64, 32)
    cloudy, mask = (t.numpy() for t in synthesize_clouds(images, [8, 9], "mixed"))
    clear = (mask.max(axis=(1, 2)) == 0)
    uniform = np.ptp(mask, axis=(1, 2)) < 1e-6                           # grey: one opacity everywhere
    assert clear.sum() >= 1 and (uniform & ~clear).sum() >= 4
    np.testing.assert_array_equal(cloudy[clear], images[clear])


def test_rescaled_tiles_and_training_pairs_with_masks():
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    unit = images.astype(np.float32) / 255
    same = rescale_tiles(unit, tf.ones(8)).numpy()
    assert same.shape == unit.shape
    zoom = rescale_tiles(unit, tf.fill((8,), 2.0)).numpy()               # centre half, enlarged
    np.testing.assert_allclose(zoom[:, ::2, ::2].mean(), unit[:, 8:24, 8:24].mean(), atol=0.02)
    wide = rescale_tiles(unit, tf.fill((8,), 0.5)).numpy()               # four tiles shrunk into one
    np.testing.assert_allclose(wide[:, :16, :16].mean(axis=(1, 2)), unit.mean(axis=(1, 2)), atol=0.03)
    ds = cloud_pairs_dataset(images, 4, training=True, seed=1, kind="mixed", with_mask=True, scale_range=(0.5, 4),
                             ground=True)
    cloudy, (clear, mask) = next(iter(ds))
    assert cloudy.shape == clear.shape == (4, 32, 32, 3) and mask.shape == (4, 32, 32)
    batch = next(iter(cloud_pairs_dataset(images, 4, training=False, seed=1, with_alpha=True, with_mask=True,
                                          kind="none", scale=2.0)))
    np.testing.assert_array_equal(batch[0].numpy(), batch[1].numpy())   # "none": cloud-free, input is target
    assert float(tf.reduce_max(batch[3])) == 0.0
    with pytest.raises(Pix2GanError, match="scale_range"):
        cloud_pairs_dataset(images, 4, training=True, scale_range=(2.0, 1.0))


def test_unknown_kind_is_refused():
    with pytest.raises(Pix2GanError, match="unknown cloud kind 'fog'"):
        cloud_pairs_dataset(_ground().astype(np.uint8), 2, training=False, kind="fog")
