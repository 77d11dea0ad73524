"""Tiled inference: equals whole-image inference, no seams, keeps size and dtype, refuses bad input."""
import os

import cv2
import keras
import numpy as np
import pytest

from pix2gan.errors import Pix2GanError
from pix2gan.generators import build_reference_unet
from pix2gan.tiling import edge_weights, remove_clouds, tile_starts


def _small_conv():
    """A fully convolutional net with a 5x5 receptive field (radius 2)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x))


def test_window_weights_cross_fade():
    starts = tile_starts(100, 32, 16)
    assert starts[0] == 0 and starts[-1] == 68 and all(b - a <= 16 for a, b in zip(starts, starts[1:]))
    total = np.zeros(100)
    for s in starts:
        total[s:s + 32] += edge_weights(s, 32, 100, 16)
    assert total.min() > 0.4
    # Within a regular overlap the two ramps sum to exactly one.
    w0, w1 = edge_weights(0, 32, 100, 16), edge_weights(16, 32, 100, 16)
    np.testing.assert_allclose(w0[16:32] + w1[:16], 1.0)
    assert w1[:4].max() == 0.0  # the margin, where the neighbour's zero padding would leak in


def test_tiled_equals_whole_image_for_a_conv_net():
    model = _small_conv()
    image = np.random.default_rng(0).uniform(0, 1, (150, 203, 3)).astype(np.float32)
    whole = model(image[None]).numpy()[0]
    tiled = remove_clouds(image, model, tile=32, overlap=16, verbose=False)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    assert np.abs(tiled - whole).max() < 1e-5


def _seam_ratio(out, tile, overlap):
    """Largest column-to-column jump at a tile edge over the typical jump elsewhere."""
    jumps = np.abs(np.diff(out.astype(np.float64), axis=1)).mean(axis=(0, 2))
    edges = sorted({s - 1 for s in tile_starts(out.shape[1], tile, overlap)[1:]} |
                   {s + tile - 1 for s in tile_starts(out.shape[1], tile, overlap)[:-1]})
    return jumps[edges].max() / np.median(jumps)


def test_no_seams_with_a_unet():
    keras.utils.set_random_seed(1)
    model = build_reference_unet((None, None, 3), widths=(8, 16, 32))
    yy, xx = np.mgrid[0:96, 0:224] / 40.0
    image = (0.5 + 0.3 * np.sin(xx)[..., None] * np.cos(yy)[..., None] * np.ones(3)).astype(np.float32)
    blended = remove_clouds(image, model, tile=64, overlap=32, verbose=False)
    hard = remove_clouds(image, model, tile=64, overlap=0, verbose=False)
    assert _seam_ratio(hard, 64, 0) > 2.0  # the test can see a seam when there is one
    assert _seam_ratio(blended, 64, 32) < 1.5
    whole = model(image[None]).numpy()[0]
    assert np.abs(blended - whole)[8:-8, 8:-8].mean() < np.abs(hard - whole)[8:-8, 8:-8].mean()


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_keeps_size_and_dtype_and_writes_tiff(tmp_path, dtype, scale):
    model = _small_conv()
    image = (np.random.default_rng(0).uniform(0, 1, (70, 90, 3)) * scale).astype(dtype)
    out = remove_clouds(image, model, tile=32, overlap=8, verbose=False)
    assert out.shape == image.shape and out.dtype == dtype
    whole = model(image[None].astype(np.float32) / scale).numpy()[0]
    assert np.abs(out / scale - whole).max() <= 1.0 / scale
    out_path = str(tmp_path / "out.tif")
    assert remove_clouds(image, model, out_path, tile=32, overlap=8, verbose=False) == out_path
    back = cv2.imread(out_path, cv2.IMREAD_UNCHANGED)[..., ::-1]  # a plain reader sees an RGB TIFF
    np.testing.assert_array_equal(back, out)
    assert [n for n in os.listdir(tmp_path) if n != "out.tif"] == []  # no temporary or sidecar file left
    png = str(tmp_path / "in.png")
    cv2.imwrite(png, image[..., ::-1])
    remove_clouds(png, model, str(tmp_path / "out.png"), tile=32, overlap=8, verbose=False)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)[..., ::-1], out)


def test_small_images_and_npy(tmp_path):
    model = _small_conv()
    image = np.random.default_rng(0).uniform(0, 1, (20, 12, 3)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    out = remove_clouds(str(tmp_path / "in.npy"), model, str(tmp_path / "out.npy"), tile=32, verbose=False)
    assert out == str(tmp_path / "out.npy")
    # sides shorter than the tile are mirrored up to a multiple of 16 (what U-Nets take), then cropped
    padded = np.pad(image, ((0, 12), (0, 4), (0, 0)), mode="symmetric")
    result = np.load(tmp_path / "out.npy")
    assert result.shape == (20, 12, 3)
    np.testing.assert_allclose(result, model(padded[None]).numpy()[0, :20, :12], atol=1e-6)
    # a side shorter than the tile, the other one tiled
    tall = np.random.default_rng(1).uniform(0, 1, (80, 20, 3)).astype(np.float32)
    padded = np.pad(tall, ((0, 0), (0, 12), (0, 0)), mode="symmetric")
    np.testing.assert_allclose(remove_clouds(tall, model, tile=32, overlap=16, verbose=False),
                               model(padded[None]).numpy()[0, :, :20], atol=1e-5)
    unet = build_reference_unet((None, None, 3), widths=(4, 8, 8, 8, 8), head="blend")
    assert remove_clouds(np.zeros((100, 150, 3), np.uint8), unet, verbose=False).shape == (100, 150, 3)
    with pytest.raises(Pix2GanError, match="tile 40 must be a multiple of 16"):
        remove_clouds(np.zeros((100, 150, 3), np.uint8), unet, tile=40, verbose=False)


def test_bad_inputs(tmp_path):
    model = _small_conv()
    nan = np.zeros((40, 40, 3), np.float32)
    nan[30, 5, 1] = np.nan
    with pytest.raises(Pix2GanError, match="NaN"):
        remove_clouds(nan, model, tile=32, verbose=False)
    with pytest.raises(Pix2GanError, match="1 band"):
        remove_clouds(np.zeros((40, 40), np.uint8), model, tile=32, verbose=False)
    with pytest.raises(Pix2GanError, match="2 bands"):
        remove_clouds(np.zeros((40, 40, 2), np.uint8), model, tile=32, verbose=False)
    with pytest.raises(Pix2GanError, match="empty"):
        remove_clouds(np.zeros((0, 40, 3), np.uint8), model, tile=32, verbose=False)
    gray = str(tmp_path / "gray.png")
    cv2.imwrite(gray, np.zeros((40, 40), np.uint8))
    with pytest.raises(Pix2GanError, match="gray.png has 1 band"):
        remove_clouds(gray, model, tile=32, verbose=False)
    fixed = build_reference_unet((64, 64, 3), widths=(4, 8))
    with pytest.raises(Pix2GanError, match="smaller than the model"):
        remove_clouds(np.zeros((40, 80, 3), np.uint8), fixed, verbose=False)
    with pytest.raises(Pix2GanError, match="fixed input size 64"):
        remove_clouds(np.zeros((80, 80, 3), np.uint8), fixed, tile=32, verbose=False)
