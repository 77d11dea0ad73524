"""Paired-folder loader: layouts, pairing by name, one-line refusals, seeded crops, whole-image report, SAM."""
import os

import cv2
import numpy as np
import pytest
from conftest import one_line_error

from pix2gan.data.paired import (
    PAIRED_LAYOUTS,
    find_pair_folders,
    holds_pairs,
    list_pairs,
    paired_dataset,
    paired_images,
    paired_report,
    read_pair,
)
from pix2gan.imaging import write_image
from pix2gan.metrics import spectral_angle


def _image(h, w, seed=0, dtype=np.uint8):
    top = 255 if dtype == np.uint8 else 65535
    return np.random.default_rng(seed).integers(0, top + 1, (h, w, 3)).astype(dtype)


def _write_pairs(root, layout=("cloudy_image", "ground_truth"), names=("a", "b"), size=(20, 24), ext=(".png", ".png")):
    a, b = (os.path.join(root, d) for d in layout)
    for i, n in enumerate(names):
        write_image(os.path.join(a, n + ext[0]), _image(*size, seed=i))
        write_image(os.path.join(b, n + ext[1]), _image(*size, seed=100 + i))
    return a, b


@pytest.mark.parametrize("layout", PAIRED_LAYOUTS)
def test_each_layout_found_at_root_and_per_split(tmp_path, layout):
    a, b = _write_pairs(str(tmp_path / "flat"), layout)
    assert holds_pairs(str(tmp_path / "flat"))
    assert find_pair_folders(str(tmp_path / "flat")) == (a, b)
    assert find_pair_folders(str(tmp_path / "flat"), "test") == (a, b)  # root layout serves every split
    ta, tb = _write_pairs(str(tmp_path / "split" / "train"), layout)
    va, vb = _write_pairs(str(tmp_path / "split" / "test"), layout)
    assert holds_pairs(str(tmp_path / "split"))
    assert find_pair_folders(str(tmp_path / "split"), "train") == (ta, tb)
    assert find_pair_folders(str(tmp_path / "split"), "test") == (va, vb)
    one_line_error(lambda: find_pair_folders(str(tmp_path / "split"), "val"), "val/", "test, train")
    one_line_error(lambda: find_pair_folders(str(tmp_path / "split")), "pass a split")


def test_layout_problems_are_one_line(tmp_path):
    assert not holds_pairs(str(tmp_path)) and not holds_pairs(str(tmp_path / "nope"))
    one_line_error(lambda: find_pair_folders(str(tmp_path / "nope")), "nope", "does not exist")
    one_line_error(lambda: find_pair_folders(str(tmp_path)), "cloudy_image/ + ground_truth/")
    os.makedirs(tmp_path / "A")
    error = one_line_error(lambda: find_pair_folders(str(tmp_path)), str(tmp_path / "B"))
    assert error.argument == "data_dir"


def test_pairs_by_name_across_extensions(tmp_path):
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    for i, (n, ea, eb) in enumerate([("10", ".png", ".tif"), ("2", ".PNG", ".bmp"), ("x", ".png", ".png")]):
        write_image(os.path.join(a, n + ea), _image(16, 16, i))
        write_image(os.path.join(b, n + eb), _image(16, 16, i))
    with open(os.path.join(a, "notes.txt"), "w") as f:  # not an image: ignored
        f.write("hi")
    pairs = list_pairs(a, b)
    assert [(os.path.basename(p), os.path.basename(q)) for p, q in pairs] == \
        [("2.PNG", "2.bmp"), ("10.png", "10.tif"), ("x.png", "x.png")]
    names, xs, ys = paired_images(pairs)
    assert names == ["2", "10", "x"]
    np.testing.assert_array_equal(xs[0], ys[0])  # lossless formats round-trip the same pixels
    assert xs[0].dtype == np.float32 and xs[0].shape == (16, 16, 3)


def test_unmatched_duplicate_missing_and_empty_refused(tmp_path):
    a, b = _write_pairs(str(tmp_path), ("A", "B"), names=("a", "b", "c"))
    os.remove(os.path.join(b, "b.png"))
    write_image(os.path.join(b, "z.png"), _image(20, 24))
    one_line_error(lambda: list_pairs(a, b), "b.png", "z.png", "no partner")
    os.remove(os.path.join(b, "z.png"))
    write_image(os.path.join(b, "b.png"), _image(20, 24))
    write_image(os.path.join(a, "c.jpg"), _image(20, 24))
    one_line_error(lambda: list_pairs(a, b), "c.png", "c.jpg", "one file per name")
    os.remove(os.path.join(a, "c.jpg"))
    one_line_error(lambda: list_pairs(a, str(tmp_path / "gone")), "gone", "does not exist")
    os.makedirs(tmp_path / "empty")
    one_line_error(lambda: list_pairs(str(tmp_path / "empty"), b), "empty", "no images")


def test_read_pair_refusals_and_16_bit(tmp_path):
    x16 = _image(12, 14, 1, np.uint16)
    write_image(str(tmp_path / "x16.png"), x16)
    write_image(str(tmp_path / "y8.png"), _image(12, 14, 2))
    x, y = read_pair(str(tmp_path / "x16.png"), str(tmp_path / "y8.png"))
    np.testing.assert_allclose(x, x16 / 65535.0, atol=1e-6)
    assert x.dtype == y.dtype == np.float32 and 0.0 <= y.min() and y.max() <= 1.0
    write_image(str(tmp_path / "big.png"), _image(13, 14))
    one_line_error(lambda: read_pair(str(tmp_path / "y8.png"), str(tmp_path / "big.png")),
                    "y8.png is 14x12", "big.png is 14x13")
    cv2.imwrite(str(tmp_path / "gray.png"), _image(12, 14)[..., 0])
    one_line_error(lambda: read_pair(str(tmp_path / "gray.png"), str(tmp_path / "y8.png")), "gray.png", "1 channel")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    one_line_error(lambda: read_pair(str(tmp_path / "y8.png"), str(tmp_path / "bad.png")), "bad.png")


def test_training_tiles_shapes_same_place_and_repeat(tmp_path):
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    for i, (h, w) in enumerate([(20, 24), (31, 17)]):  # different sizes
        x = _image(h, w, i)
        write_image(os.path.join(a, f"{i}.png"), x)
        write_image(os.path.join(b, f"{i}.png"), x // 2 + 10)  # y = f(x) pixel by pixel
    pairs = list_pairs(a, b)
    first = [tuple(t.numpy() for t in batch) for batch in paired_dataset(pairs, 16, 3, seed=7).take(4)]
    for x, y in first:
        assert x.shape == y.shape == (3, 16, 16, 3) and x.dtype == np.float32
        np.testing.assert_allclose(y * 255, np.rint(x * 255) // 2 + 10, atol=1e-3)
    again = [tuple(t.numpy() for t in batch) for batch in paired_dataset(pairs, 16, 3, seed=7).take(4)]
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    other = next(iter(paired_dataset(pairs, 16, 3, seed=8)))[0].numpy()
    assert not np.array_equal(other, first[0][0])
    one_line_error(lambda: paired_dataset(pairs, 18, 2), "1.png is 17x31", "18x18")


def test_evaluation_tiles_cover_each_image(tmp_path):
    a, b = _write_pairs(str(tmp_path), ("A", "B"), names=("p", "q"), size=(20, 24))
    tiles = list(paired_dataset(list_pairs(a, b), 16, 3, training=False))
    assert [t[0].shape[0] for t in tiles] == [3, 3, 2]  # 2x2 covering tiles per image, then the rest
    x, _ = read_pair(*list_pairs(a, b)[0])
    np.testing.assert_array_equal(tiles[0][0].numpy()[1], x[:16, 8:24])  # last column moved back to the border


def test_report_identity_equals_input_and_padding(tmp_path):
    a, b = _write_pairs(str(tmp_path), ("cloudy", "clear"), names=("m", "n"), size=(21, 27))
    seen = []

    def identity(x):
        seen.append(tuple(x.shape))
        return x
    report = paired_report(identity, list_pairs(a, b))
    assert seen == [(1, 32, 32, 3)] * 2
    assert [r["name"] for r in report["rows"]] == ["m", "n"]
    for r in report["rows"] + [report["overall"]]:
        for m in ("psnr", "ssim", "sam"):
            assert r[f"model_{m}"] == pytest.approx(r[f"input_{m}"], abs=1e-6)
        assert 0 < r["input_sam"] < 90 and np.isfinite(r["input_psnr"])
    assert report["overall"]["model_psnr"] == pytest.approx(np.mean([r["model_psnr"] for r in report["rows"]]))
    lines = report["table"].splitlines()
    assert len(lines) == 2 + 2 + 1 and lines[-1].startswith("| all (2) |") and "SAM model" in lines[0]
    # A [-1, 1] generator: inputs arrive in its range and outputs are mapped back.
    lows = []
    scaled = paired_report(lambda x: lows.append(float(np.min(x))) or x, list_pairs(a, b), value_range=(-1.0, 1.0))
    assert min(lows) < -0.9
    for k, v in report["overall"].items():
        assert scaled["overall"][k] == pytest.approx(v, abs=1e-4)


def test_spectral_angle_hand_computed():
    a = np.array([[[[1, 0, 0], [1, 1, 0]], [[0, 0, 0], [0.2, 0.3, 0.4]]]], np.float32)
    b = np.array([[[[0, 1, 0], [1, 0, 0]], [[1, 1, 1], [0.2, 0.3, 0.4]]]], np.float32)
    # pixels: 90 degrees, 45 degrees, zero vector (0), identical (0)
    assert float(spectral_angle(a, b)[0]) == pytest.approx((90 + 45 + 0 + 0) / 4, abs=1e-4)
    rng = np.random.default_rng(3)
    p, q = rng.uniform(0, 1, (2, 5, 6, 3)), rng.uniform(0, 1, (2, 5, 6, 3))
    cos = (p * q).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1))
    np.testing.assert_allclose(spectral_angle(p, q).numpy(), np.degrees(np.arccos(cos)).mean(axis=(1, 2)), atol=1e-4)
    assert float(spectral_angle(p, p)[0]) == 0.0  # identical: exactly 0, no arccos round-off
    assert float(spectral_angle(p, p * 3)[0]) < 1e-4  # same direction
