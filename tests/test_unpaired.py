"""Unpaired (CycleGAN) loader: layout, one-line refusals, 16-bit PNGs, jitter, seeded and
independent domain orders, in-memory arrays, the evaluation dict."""
import os

import cv2
import numpy as np
import tensorflow as tf
from conftest import one_line_error

from pix2gan.data.unpaired import (
    check_domain,
    domain_dataset,
    find_unpaired_folders,
    holds_unpaired,
    jitter_image,
    list_domain,
    load_size,
    load_unpaired,
    resize_image,
    unpaired_dataset,
    unpaired_size,
)
from pix2gan.imaging import write_image


def _noise(h, w, seed=0, channels=3):
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels)).astype(np.uint8)


def _index_image(k, size=8):
    """A flat image whose value encodes ``k`` (read back by :func:`_indices`)."""
    return np.full((size, size, 3), 10 + 20 * k, np.uint8)


def _indices(batch, value_range=(-1.0, 1.0)):
    lo, hi = value_range
    means = (np.asarray(batch).reshape(len(batch), -1).mean(axis=1) - lo) / (hi - lo) * 255.0
    return [int(round((m - 10) / 20)) for m in means]


def _write_domain(folder, images):
    for k, image in enumerate(images):
        write_image(os.path.join(folder, f"{k}.png"), image)
    return folder


def _layout(root, a_images, b_images, splits=("train", "test")):
    for split in splits:
        _write_domain(os.path.join(root, split + "A"), a_images)
        _write_domain(os.path.join(root, split + "B"), b_images)
    return root


def _first(ds, n=1):
    return [tuple(np.asarray(t) for t in element) for element in ds.take(n)]


def test_layout_found(tmp_path):
    root = _layout(str(tmp_path), [_noise(8, 8)], [_noise(8, 8, 1)])
    assert holds_unpaired(root)
    assert not holds_unpaired(str(tmp_path / "trainA")) and not holds_unpaired(str(tmp_path / "nope"))
    assert not holds_unpaired(None)
    assert find_unpaired_folders(root) == (os.path.join(root, "trainA"), os.path.join(root, "trainB"))
    assert find_unpaired_folders(root, "test") == (os.path.join(root, "testA"), os.path.join(root, "testB"))


def test_layout_and_file_problems_are_one_line(tmp_path):
    error = one_line_error(lambda: find_unpaired_folders(str(tmp_path / "nope")), "nope", "trainA/ trainB/ testA/ testB/")
    assert error.argument == "data_dir"
    root = _layout(str(tmp_path), [_noise(8, 8)], [_noise(8, 8, 1)], splits=("train",))
    os.makedirs(tmp_path / "testA")
    one_line_error(lambda: find_unpaired_folders(root, "test"), str(tmp_path / "testB"), "does not exist",
                    "trainA/ trainB/ testA/ testB/")
    one_line_error(lambda: list_domain(str(tmp_path / "testA"), "A"), str(tmp_path / "testA"), "domain A", "no images")
    one_line_error(lambda: load_unpaired(root, "test", 8, 1, 0, False), str(tmp_path / "testB"))

    folder = tmp_path / "trainA"
    corrupt = folder / "9.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    one_line_error(lambda: check_domain(list_domain(str(folder), "A")), str(corrupt))
    one_line_error(lambda: load_unpaired(root, "train", 8, 1, 0, True), str(corrupt))
    corrupt.unlink()
    gray = write_image(str(folder / "5.png"), _noise(8, 8, channels=1)[..., 0])
    one_line_error(lambda: check_domain(list_domain(str(folder), "A")), gray, "1 channel(s), expected 3")
    os.remove(gray)
    tif = write_image(str(folder / "7.tif"), _noise(8, 8))
    one_line_error(lambda: list_domain(str(folder), "A"), tif, "convert it to PNG")
    os.remove(tif)
    check_domain(list_domain(str(folder), "A"))  # clean again

    one_line_error(lambda: domain_dataset(np.zeros((2, 8, 8, 1), np.uint8), 8, 0, True), "(N, H, W, 3)")
    one_line_error(lambda: domain_dataset([], 8, 0, True), "empty")
    one_line_error(lambda: domain_dataset(np.zeros((2, 8, 8, 3), np.uint8), 8, 0, True, load_scale=0.9), "load_scale")


def test_16_bit_png_is_scaled_by_65535(tmp_path):
    value = np.full((6, 6, 3), 257 * 200, np.uint16)  # 200/255 in 16 bits
    path = str(tmp_path / "deep.png")
    cv2.imwrite(path, value)
    check_domain([path])
    out = next(iter(domain_dataset([path], 6, 0, False)))
    eight = next(iter(domain_dataset(np.full((1, 6, 6, 3), 200, np.uint8), 6, 0, False)))
    np.testing.assert_allclose(out, eight, atol=1e-5)
    assert abs(float(out[0, 0, 0]) - (200 / 255 * 2 - 1)) < 1e-5


def test_sizes_and_counts_differ(tmp_path):
    a = [_noise(12 + 3 * k, 20 - 2 * k, k) for k in range(5)]
    b = [_noise(30, 9 + k, 10 + k) for k in range(3)]
    root = _layout(str(tmp_path), a, b, splits=("train",))
    ds = load_unpaired(root, "train", 16, 2, 0, True)
    for xa, xb in _first(ds, 5):  # more batches than B holds images: B repeats
        assert xa.shape == xb.shape == (2, 16, 16, 3) and xa.dtype == np.float32
        assert xa.min() >= -1.0 and xa.max() <= 1.0 and xb.min() >= -1.0 and xb.max() <= 1.0
    assert unpaired_size(a, b) == 5
    assert load_size(256, 1.12) == 286 and load_size(128, 1.12) == 143 and load_size(16, 1.0) == 16


def test_seeded_and_independent_orders(tmp_path):
    images = [_index_image(k) for k in range(8)]
    root = _layout(str(tmp_path), images, images, splits=("train",))
    files = list_domain(os.path.join(root, "trainA"), "A")

    def first_batches(seed):
        return _first(unpaired_dataset(files, files, 8, 8, seed), 2)
    one, again, other = first_batches(3), first_batches(3), first_batches(4)
    for (a1, b1), (a2, b2) in zip(one, again):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(one[0][0], other[0][0])
    (a_first, b_first), (a_second, _) = one
    order_a, order_b = _indices(a_first), _indices(b_first)
    assert sorted(order_a) == sorted(order_b) == list(range(8))  # one epoch: every image once
    assert order_a != order_b  # the domains are shuffled independently
    assert _indices(a_second) != order_a  # reshuffled each epoch


def test_jitter_keeps_size_and_changes_image():
    image = tf.constant(_noise(10, 12).astype(np.float32) / 255.0)
    seed = tf.constant([1, 2], tf.int64)
    out = jitter_image(image, 8, 1.25, seed)
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out, jitter_image(image, 8, 1.25, seed))
    assert not np.allclose(out, resize_image(image, 8), atol=1e-3)
    outs = [jitter_image(image, 8, 1.25, tf.constant([1, k], tf.int64)).numpy() for k in range(6)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])
    square = tf.constant(_noise(8, 8).astype(np.float32))  # load scale 1: the crop is the whole image
    flips = [jitter_image(square, 8, 1.0, tf.constant([0, k], tf.int64)).numpy() for k in range(8)]
    for o in flips:
        assert np.allclose(o, square, atol=1e-3) or np.allclose(o, square[:, ::-1], atol=1e-3)
    assert {np.allclose(o, square, atol=1e-3) for o in flips} == {True, False}  # both happen


def test_arrays_match_files(tmp_path):
    a = np.stack([_noise(10, 10, k) for k in range(6)])
    b = np.stack([_noise(10, 10, 20 + k) for k in range(4)])
    root = _layout(str(tmp_path), list(a), list(b), splits=("train",))
    files_a = list_domain(os.path.join(root, "trainA"), "A")
    files_b = list_domain(os.path.join(root, "trainB"), "B")
    from_arrays = _first(unpaired_dataset(a, b, 8, 3, 5), 2)
    from_files = _first(unpaired_dataset(files_a, files_b, 8, 3, 5), 2)
    for (xa, xb), (fa, fb) in zip(from_arrays, from_files):
        assert xa.shape == (3, 8, 8, 3)
        np.testing.assert_allclose(xa, fa, atol=1e-5)
        np.testing.assert_allclose(xb, fb, atol=1e-5)
    assert unpaired_size(a, b) == 6
    unit = next(iter(domain_dataset(a, 8, 0, False, value_range=(0.0, 1.0))))
    assert unit.shape == (8, 8, 3) and float(tf.reduce_min(unit)) >= 0.0


def test_eval_dict_gives_every_image_once(tmp_path):
    a = [_index_image(k, size=6 + k) for k in range(5)]  # different sizes, all resized to 8
    b = [_index_image(k) for k in range(3)]
    root = _layout(str(tmp_path), a, b, splits=("test",))
    data = load_unpaired(root, "test", 8, 2, 0, False)
    assert data["size_a"] == 5 and data["size_b"] == 3
    a_batches, b_batches = [np.asarray(x) for x in data["A"]], [np.asarray(x) for x in data["B"]]
    assert [len(x) for x in a_batches] == [2, 2, 1] and [len(x) for x in b_batches] == [2, 1]
    assert _indices(np.concatenate(a_batches)) == list(range(5))
    assert _indices(np.concatenate(b_batches)) == list(range(3))
    assert a_batches[0].shape[1:] == (8, 8, 3)
