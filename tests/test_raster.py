"""Real satellite files through rasterio: a 13-band uint16 GeoTIFF in a UTM CRS with a nodata border
goes through tiled inference window by window and comes out with its georeference, nodata, band
names, dtype and compression, its pixels equal to the in-memory result."""
import os

import cv2
import keras
import numpy as np
import rasterio
import rasterio.shutil
from conftest import one_line_error
from rasterio.enums import MaskFlags
from rasterio.transform import Affine

from pix2gan.cli import main
from pix2gan.evaluation import translate_tiled
from pix2gan.raster import GeoTiffSink, RasterScene, open_scene, parse_bands, read_scene
from pix2gan.tiling import remove_clouds

S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
TRANSFORM = Affine(10.0, 0.0, 499980.0, 0.0, -10.0, 4600020.0)  # 10 m pixels
H, W = 100, 150


def _small_conv():
    """A fully convolutional net with a 5x5 receptive field (radius 2), sigmoid output."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x))


def _reflectance(bands=13, seed=0):
    """(bands, H, W) uint16 reflectance-like values in 1..10000 (never 0), smooth plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] / 25.0
    base = 3000 + 2500 * np.sin(xx)[None] * np.cos(yy)[None] + 400 * np.arange(bands)[:, None, None] / bands
    return np.clip(base + rng.normal(0, 300, (bands, H, W)), 1, 10000).astype(np.uint16)


def _border(value=0):
    """A nodata border wider than one tile on the left (whole tiles of nodata) and a few rows at the bottom."""
    invalid = np.zeros((H, W), bool)
    invalid[:, :40] = True
    invalid[-6:] = True
    return invalid


def _write(path, data, nodata=0, descriptions=S2_BANDS, compress="lzw", **extra):
    profile = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                   dtype=data.dtype.name, crs=CRS, transform=TRANSFORM, nodata=nodata, tiled=True, blockxsize=64,
                   blockysize=64, compress=compress, **extra)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or (), 1):
            ds.set_band_description(i, d)
    return str(path)


def _product(tmp_path, name="s2.tif", nodata_value=0, **kw):
    data = _reflectance()
    data[:, _border()] = nodata_value
    return _write(tmp_path / name, data, nodata=nodata_value, **kw), data


def test_geotiff_out_keeps_georeference_nodata_names_and_equals_the_in_memory_result(tmp_path):
    model = _small_conv()
    path, data = _product(tmp_path)
    out = str(tmp_path / "out" / "s2.tif")
    assert remove_clouds(path, model, out, tile=32, overlap=16, scale=10000, verbose=False) == out
    in_memory = remove_clouds(path, model, tile=32, overlap=16, scale=10000, verbose=False)
    rgb = np.moveaxis(data[[3, 2, 1]], 0, -1)  # B4, B3, B2: picked from the descriptions
    from_array = remove_clouds(rgb, model, tile=32, overlap=16, scale=10000, nodata=0, verbose=False)
    with rasterio.open(path) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.crs.to_epsg() == 32633
        assert dst.transform == src.transform and (dst.width, dst.height) == (W, H)
        assert dst.nodata == 0 and dst.dtypes == ("uint16",) * 3 and dst.count == 3
        assert dst.descriptions == ("B4", "B3", "B2")
        assert dst.compression == src.compression and dst.compression.value == "LZW"
        assert dst.profile["tiled"] and dst.block_shapes[0] == (256, 256)
        written = np.moveaxis(dst.read(), 0, -1)
        valid = dst.read_masks(1) > 0
    np.testing.assert_array_equal(written, in_memory)
    np.testing.assert_array_equal(written, from_array)
    border = _border()
    np.testing.assert_array_equal(valid, ~border)              # nodata stays nodata, nothing else becomes it
    assert (written[border] == 0).all() and (written[~border] > 0).all()
    # inside the valid area, away from the border, the result is the network's on the whole scene
    whole = model(rgb[None].astype(np.float32) / 10000).numpy()[0]
    inner = (slice(3, H - 9), slice(43, W - 3))
    assert np.abs(written[inner] / 10000 - whole[inner]).max() <= 1 / 10000 + 1e-6
    assert sorted(os.listdir(tmp_path / "out")) == ["s2.tif"]  # no temporary or sidecar file


def test_nodata_pixels_never_reach_the_network(tmp_path):
    model = _small_conv()
    # the same valid pixels with two different nodata values (and border contents)
    a, _ = _product(tmp_path, "zero.tif", nodata_value=0)
    b, _ = _product(tmp_path, "max.tif", nodata_value=65535)
    out_a = remove_clouds(a, model, tile=32, overlap=16, verbose=False)
    out_b = remove_clouds(b, model, tile=32, overlap=16, verbose=False)
    valid = ~_border()
    np.testing.assert_array_equal(out_a[valid], out_b[valid])
    assert (out_a[~valid] == 0).all() and (out_b[~valid] == 65535).all()
    # the test can tell: the same scene without a nodata value feeds the black border to the network
    data = _reflectance()
    data[:, _border()] = 0
    c = _write(tmp_path / "no_nodata.tif", data, nodata=None)
    out_c = remove_clouds(c, model, tile=32, overlap=16, verbose=False)
    assert np.abs(out_c[valid].astype(int) - out_a[valid]).max() > 100


def test_reads_and_writes_by_windows(tmp_path, monkeypatch):
    model = _small_conv()
    path, _ = _product(tmp_path)
    reads, writes = [], []
    real_read, real_write = RasterScene.read, GeoTiffSink.write
    monkeypatch.setattr(RasterScene, "read", lambda self, row, rows: reads.append(rows) or real_read(self, row, rows))
    monkeypatch.setattr(GeoTiffSink, "write", lambda self, row, block, valid: writes.append((row, len(block)))
                        or real_write(self, row, block, valid))
    remove_clouds(path, model, str(tmp_path / "out.tif"), tile=32, overlap=16, verbose=False)
    assert reads and max(reads) == 32  # one tile row at a time, never the 100-row scene
    assert max(n for _, n in writes) <= 32 and sum(n for _, n in writes) == H
    assert [r for r, _ in writes] == sorted(r for r, _ in writes)


def test_band_choice(tmp_path):
    model = _small_conv()
    path, data = _product(tmp_path)
    default = remove_clouds(path, model, tile=32, verbose=False)
    for bands in ("B4,B3,B2", "b04, B3, 2", (4, 3, 2), ["B4", 3, "B2"]):
        np.testing.assert_array_equal(remove_clouds(path, model, tile=32, bands=bands, verbose=False), default)
    assert parse_bands("B8A,11,B12") == ("B8A", 11, "B12")
    swir = remove_clouds(path, model, tile=32, bands="B12,B8A,B4", verbose=False)
    assert not np.array_equal(swir, default)
    # without band names: the first three
    plain = _write(tmp_path / "plain.tif", data, descriptions=None)
    np.testing.assert_array_equal(remove_clouds(plain, model, tile=32, verbose=False),
                                  remove_clouds(path, model, tile=32, bands="1,2,3", verbose=False))
    # one-line errors naming the file and the bands it has
    error = one_line_error(lambda: remove_clouds(path, model, tile=32, bands="B4,B3,B99", verbose=False),
                           "s2.tif has no band B99", "13 bands: 1 B1, 2 B2", "9 B8A", "13 B12")
    assert error.argument == "bands"
    one_line_error(lambda: remove_clouds(path, model, tile=32, bands="4,3,14", verbose=False), "no band 14")
    one_line_error(lambda: remove_clouds(path, model, tile=32, bands="B4,B3", verbose=False),
                   "names 2 band(s) but the model takes 3")
    two = _write(tmp_path / "two.tif", data[:2], descriptions=("VV", "VH"))
    one_line_error(lambda: remove_clouds(two, model, tile=32, verbose=False),
                   "two.tif has 2 bands: 1 VV, 2 VH, but the model takes 3")


def test_scale_maps_reflectance_in_and_out(tmp_path):
    model = _small_conv()
    data = _reflectance(bands=3)
    path = _write(tmp_path / "l2a.tif", data, nodata=None, descriptions=("B4", "B3", "B2"))
    out = remove_clouds(path, model, tile=32, overlap=16, scale=10000, verbose=False)
    whole = model(np.moveaxis(data, 0, -1)[None].astype(np.float32) / 10000).numpy()[0]
    assert np.abs(out / 10000 - whole).max() <= 1 / 10000 + 1e-6
    one_line_error(lambda: remove_clouds(path, model, tile=32, scale=-1, verbose=False), "scale -1")


def test_cloud_optimised_geotiff(tmp_path):
    model = _small_conv()
    path, _ = _product(tmp_path)
    plain, cog = str(tmp_path / "plain.tif"), str(tmp_path / "cog.tif")
    remove_clouds(path, model, plain, tile=32, verbose=False)
    remove_clouds(path, model, cog, tile=32, cog=True, verbose=False)
    with rasterio.open(plain) as a, rasterio.open(cog) as b:
        assert b.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert "LAYOUT" not in a.tags(ns="IMAGE_STRUCTURE")
        assert (b.crs, b.transform, b.nodata, b.descriptions) == (a.crs, a.transform, a.nodata, a.descriptions)
        np.testing.assert_array_equal(b.read(), a.read())
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []
    one_line_error(lambda: remove_clouds(path, model, str(tmp_path / "x.png"), tile=32, cog=True, verbose=False),
                   "x.png is not a .tif")


def test_masks_without_a_nodata_value_and_float_nan(tmp_path):
    model = _small_conv()
    data = _reflectance(bands=3)
    border = _border()
    masked = str(tmp_path / "masked.tif")
    with rasterio.open(masked, "w", driver="GTiff", height=H, width=W, count=3, dtype="uint16", crs=CRS,
                       transform=TRANSFORM, tiled=True, blockxsize=64, blockysize=64) as ds:
        ds.write(data)
        ds.write_mask(np.where(border, 0, 255).astype(np.uint8))
    out = str(tmp_path / "masked_out.tif")
    remove_clouds(masked, model, out, tile=32, scale=10000, verbose=False)
    with rasterio.open(out) as dst:
        assert dst.nodata is None and MaskFlags.per_dataset in dst.mask_flag_enums[0]
        np.testing.assert_array_equal(dst.read_masks(1) > 0, ~border)
        written = np.moveaxis(dst.read(), 0, -1)
    floats = (data / 10000).astype(np.float32)
    floats[:, border] = np.nan
    nan_path = _write(tmp_path / "float.tif", floats, nodata=np.nan, descriptions=None)
    result = remove_clouds(nan_path, model, tile=32, verbose=False)
    assert result.dtype == np.float32 and np.isnan(result[border]).all() and np.isfinite(result[~border]).all()
    np.testing.assert_allclose(result[~border] * 10000, written[~border], atol=1.01)


def test_jp2_png_and_npy_through_the_same_path(tmp_path):
    model = _small_conv()
    data = _reflectance(bands=3)
    tif = _write(tmp_path / "src.tif", data, nodata=None, descriptions=None, compress=None)
    jp2 = str(tmp_path / "in" / "scene.jp2")
    os.makedirs(os.path.dirname(jp2))
    rasterio.shutil.copy(tif, jp2, driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES")
    written = translate_tiled(model, os.path.dirname(jp2), str(tmp_path / "out"), tile=32, verbose=False)
    assert written == [str(tmp_path / "out" / "scene.tif")]
    with rasterio.open(written[0]) as dst:
        assert dst.crs.to_epsg() == 32633 and dst.transform == TRANSFORM
        np.testing.assert_array_equal(np.moveaxis(dst.read(), 0, -1),
                                      remove_clouds(tif, model, tile=32, verbose=False))
    # an RGBA PNG: the first three bands, the same result as the RGB PNG
    rgb = (np.moveaxis(data, 0, -1) // 40).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([rgb[..., ::-1], np.full((H, W), 255, np.uint8)]))
    a = remove_clouds(str(tmp_path / "rgb.png"), model, tile=32, verbose=False)
    np.testing.assert_array_equal(remove_clouds(str(tmp_path / "rgba.png"), model, tile=32, verbose=False), a)
    np.save(tmp_path / "scene.npy", rgb)
    np.testing.assert_array_equal(remove_clouds(str(tmp_path / "scene.npy"), model, tile=32, verbose=False), a)
    assert read_scene(tif).shape == (H, W, 3) and read_scene(str(tmp_path / "rgba.png")).shape == (H, W, 4)


def test_damaged_and_unreadable_rasters_are_one_line_errors(tmp_path):
    model = _small_conv()
    path, _ = _product(tmp_path, compress="deflate")
    raw = open(path, "rb").read()
    cut = tmp_path / "cut.tif"
    third = len(raw) // 3  # the directory (written last) intact, a third of the compressed tiles garbage
    cut.write_bytes(raw[:third] + np.random.default_rng(0).integers(0, 256, third, np.uint8).tobytes() + raw[2 * third:])
    one_line_error(lambda: remove_clouds(str(cut), model, tile=32, verbose=False), "cut.tif", "could not be read")
    one_line_error(lambda: remove_clouds(str(cut), model, str(tmp_path / "out" / "cut.tif"), tile=32, verbose=False),
                   "cut.tif")
    assert os.listdir(tmp_path / "out") == []  # the half-written output is removed
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    one_line_error(lambda: remove_clouds(str(junk), model, tile=32, verbose=False), "junk.tif",
                   "not an image or raster")
    (tmp_path / "empty.tif").write_bytes(b"")
    one_line_error(lambda: remove_clouds(str(tmp_path / "empty.tif"), model, tile=32, verbose=False), "empty")
    one_line_error(lambda: open_scene(np.zeros((8, 8, 4), np.uint8), 3, bands="B4,B3,B2"),  # arrays have no names
                   "array has no band B4", "4 bands: 1, 2, 3, 4")


def test_translate_command_with_bands_scale_and_cog(tmp_path, capsys):
    model = _small_conv()
    h5 = str(tmp_path / "g.h5")
    model.save(h5)
    path, _ = _product(tmp_path)
    out = tmp_path / "out"
    assert main(["translate", "--model", h5, "--tile", "32", "--bands", "B4,B3,B2", "--scale", "10000", "--cog",
                 path, str(out)]) == 0
    with rasterio.open(out / "s2.tif") as dst:
        assert dst.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and dst.crs.to_epsg() == 32633
        result = np.moveaxis(dst.read(), 0, -1)
    np.testing.assert_array_equal(result, remove_clouds(path, model, tile=32, scale=10000, verbose=False))
    capsys.readouterr()
    for argv, text in ((["--tile", "32", "--bands", "B4,B3,B13"], "s2.tif has no band B13"),
                       (["--bands", "B4,B3,B2"], "--bands applies to tiled translation only"),
                       (["--cog"], "--cog applies to tiled translation only"),
                       (["--tile", "32", "--scale", "0"], "--scale 0.0 must be a positive")):
        assert main(["translate", "--model", h5, *argv, path, str(tmp_path / "o2")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and text in err[-1], err
