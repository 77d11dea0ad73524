import os

import cv2
import numpy as np
import pytest

from pix2gan.cli import main
from pix2gan.data.facades import (count_facades, load_facades, load_facades_h5, read_facades_h5,
                                  synthetic_facades_dataset, write_facades_h5)
from pix2gan.data.synthetic import synthetic_facades


def test_real_facades_pipeline(facades_dir):
    assert [count_facades(facades_dir, s) for s in ("train", "val", "test")] == [400, 100, 106]
    ds = load_facades(facades_dir, "train", image_size=128, batch_size=4, seed=0)
    x, y = next(iter(ds))
    assert x.shape == (4, 128, 128, 3) and y.shape == (4, 128, 128, 3)
    assert -1.0 <= float(np.min(x)) and float(np.max(y)) <= 1.0 and float(np.max(y)) > 0.5
    val = list(load_facades(facades_dir, "val", image_size=64, batch_size=8))
    assert sum(len(b[0]) for b in val) == 100  # evaluation keeps the partial last batch


def test_direction_swaps_halves(facades_dir):
    a2b = next(iter(load_facades(facades_dir, "val", "AtoB", image_size=64, batch_size=1)))
    b2a = next(iter(load_facades(facades_dir, "val", "BtoA", image_size=64, batch_size=1)))
    np.testing.assert_array_equal(a2b[0], b2a[1])
    np.testing.assert_array_equal(a2b[1], b2a[0])
    # A (left) is the photo: richer in colours than the flat label map
    assert np.std(a2b[0]) != np.std(a2b[1])


def test_training_jitter_is_seeded_and_mirrors_pairs_together(facades_dir):
    ds = load_facades(facades_dir, "train", image_size=64, batch_size=2, seed=3)
    x1, _ = next(iter(ds))
    x2, _ = next(iter(load_facades(facades_dir, "train", image_size=64, batch_size=2, seed=3)))
    np.testing.assert_array_equal(x1, x2)


def write_pix2pix_folder(root, n=6, size=32):
    photos, labels = synthetic_facades(n, size=size, seed=5)
    for split in ("train", "val", "test"):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for i in range(n):
            pair = np.concatenate([photos[i], labels[i]], axis=1)
            cv2.imwrite(os.path.join(root, split, f"{i + 1}.jpg"), pair[..., ::-1])
    return photos, labels


def test_h5_round_trip_matches_jpeg_folders(tmp_path):
    root = str(tmp_path / "facades")
    write_pix2pix_folder(root)
    h5 = write_facades_h5(root, str(tmp_path / "facades.h5"))
    full, sketch = read_facades_h5(h5, "val")
    assert full.shape == (6, 32, 32, 3) and full.dtype == np.uint8
    from pix2gan.imaging import read_image
    decoded = np.stack([read_image(os.path.join(root, "val", f"{i + 1}.jpg")) for i in range(6)])
    np.testing.assert_array_equal(full, decoded[:, :, :32])
    np.testing.assert_array_equal(sketch, decoded[:, :, 32:])
    x, y = next(iter(load_facades_h5(h5, "val", image_size=32, batch_size=6)))
    np.testing.assert_allclose(x, sketch / 127.5 - 1.0, atol=1e-5)  # BtoA: label map -> photo
    np.testing.assert_allclose(y, full / 127.5 - 1.0, atol=1e-5)
    # the JPEG pipeline (TensorFlow's decoder) sees the same pictures, up to decoder differences
    jx, jy = next(iter(load_facades(root, "val", image_size=32, batch_size=6)))
    assert float(np.mean(np.abs(np.asarray(jy) - np.asarray(y)))) < 0.05


def test_h5_channels_last_is_accepted(tmp_path):
    import h5py
    rng = np.random.default_rng(0)
    path = str(tmp_path / "book.h5")
    with h5py.File(path, "w") as f:
        f["train_data_full"] = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
        f["train_data_sketch"] = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    full, sketch = read_facades_h5(path, "train")
    assert full.shape == (3, 16, 16, 3)


def test_synthetic_set_is_deterministic_and_paired():
    a = synthetic_facades(3, size=64, seed=7)
    b = synthetic_facades(3, size=64, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], synthetic_facades(3, size=64, seed=8)[0])
    x, y = next(iter(synthetic_facades_dataset(8, "val", image_size=64, batch_size=4)))
    assert x.shape == y.shape == (4, 64, 64, 3)


# --- bad input: one line naming the file or value, exit status 2, models/ untouched -----------------

def _bad_input(tmp_path, capsys, monkeypatch, args, expect):
    monkeypatch.chdir(tmp_path)
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    sentinel = models / "pix2pix-facades_generator.h5"
    sentinel.write_bytes(b"previous good weights")
    code = main(["train", "pix2pix-facades", "--epochs", "1", "--steps-per-epoch", "1", "--image-size", "32",
                 "--filters", "4", "--verbose", "0"] + args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err and err[-1].startswith("error: ") and expect in err[-1], err
    assert sentinel.read_bytes() == b"previous good weights"
    return err[-1]


def test_missing_data_dir(tmp_path, capsys, monkeypatch):
    line = _bad_input(tmp_path, capsys, monkeypatch, ["--data-dir", "nowhere"], "nowhere")
    assert "does not exist" in line and "--data-dir" in line


def test_empty_data_dir(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir()
    _bad_input(tmp_path, capsys, monkeypatch, ["--data-dir", "empty"], "holds no images")


@pytest.mark.parametrize("damage,expect", [
    ("truncate", "truncated"), ("garbage", "not a JPEG"), ("corrupt", "could not be decoded"),
    ("size", "not two square halves"), ("gray", "channel"),
])
def test_bad_images_are_named(tmp_path, capsys, monkeypatch, damage, expect):
    root = tmp_path / "data"
    write_pix2pix_folder(str(root), n=3)
    bad = root / "train" / "2.jpg"
    data = bad.read_bytes()
    if damage == "truncate":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bad.write_bytes(b"hello" * 100)
    elif damage == "corrupt":
        bad.write_bytes(data[:20] + b"\x00" * 200 + b"\xff\xd9")
    elif damage == "size":
        cv2.imwrite(str(bad), np.zeros((32, 40, 3), np.uint8))
    elif damage == "gray":
        cv2.imwrite(str(bad), np.zeros((32, 64), np.uint8))
    line = _bad_input(tmp_path, capsys, monkeypatch, ["--data-dir", "data"], expect)
    assert "2.jpg" in line


def test_unknown_direction(tmp_path, capsys, monkeypatch):
    _bad_input(tmp_path, capsys, monkeypatch, ["--synthetic", "--direction", "sideways"], "sideways")


def test_image_size_the_unet_cannot_take(tmp_path, capsys, monkeypatch):
    line = _bad_input(tmp_path, capsys, monkeypatch, ["--synthetic", "--image-size", "100"], "100x100")
    assert "power" in line
