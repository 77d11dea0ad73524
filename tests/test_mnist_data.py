"""MNIST loaders: the shared copy, idx files written here (good and corrupt), mnist.npz and .h5."""
import gzip
import os
import struct

import numpy as np
import pytest

from pix2gan.data.mnist import (IDX_FILES, load_mnist, mnist_dataset, read_idx, read_mnist, read_mnist_h5, read_mnist_idx,
                                read_mnist_npz, resolve_mnist, verify_mnist_idx, write_mnist_h5)
from pix2gan.errors import Pix2GanError



def idx_bytes(array: np.ndarray, magic: int | None = None, dims=None) -> bytes:
    """An idx file: magic (0x0000 08 ndim for uint8) + big-endian dims + data."""
    array = np.asarray(array, np.uint8)
    dims = array.shape if dims is None else dims
    magic = (0x08 << 8 | len(dims)) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + array.tobytes()


def write_split(folder, split, images, labels, gz=True, image_bytes=None, label_bytes=None):
    os.makedirs(folder, exist_ok=True)
    for stem, data in zip(IDX_FILES[split], (image_bytes or idx_bytes(images), label_bytes or idx_bytes(labels))):
        path = os.path.join(folder, stem + (".gz" if gz else ""))
        with open(path, "wb") as f:
            f.write(gzip.compress(data) if gz else data)


def small_set(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def test_shared_copy_shapes_labels_and_checksums(mnist_dir):
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = read_mnist_idx(mnist_dir, split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and set(np.unique(labels)) == set(range(10))
        assert images.max() == 255 and images.min() == 0
    assert verify_mnist_idx(mnist_dir) == 4


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_shared_pipeline_value_range(mnist_dir, value_range):
    ds = load_mnist(mnist_dir, "test", batch_size=500, training=False, value_range=value_range, limit=1000)
    batches = list(ds)
    assert len(batches) == 2
    x, y = batches[0]
    assert x.shape == (500, 28, 28, 1) and x.dtype.name == "float32" and y.dtype.name == "int32"
    assert float(x.numpy().min()) == value_range[0] and float(x.numpy().max()) == value_range[1]
    raw_images, raw_labels = read_mnist_idx(mnist_dir, "test")
    np.testing.assert_array_equal(y.numpy(), raw_labels[:500])
    lo, hi = value_range
    np.testing.assert_allclose(x.numpy()[..., 0], raw_images[:500] / 255.0 * (hi - lo) + lo, atol=1e-6)


@pytest.mark.parametrize("gz", [True, False])
def test_written_idx_round_trip(tmp_path, gz):
    images, labels = small_set()
    write_split(str(tmp_path), "train", images, labels, gz=gz)
    x, y = read_mnist_idx(str(tmp_path), "train")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    ds = load_mnist(str(tmp_path), "train", batch_size=5, training=True, seed=0)
    xb, yb = next(iter(ds))
    assert xb.shape == (5, 28, 28, 1) and -1.0 <= float(xb.numpy().min()) and float(xb.numpy().max()) <= 1.0


def test_truncated_gzip_is_named(tmp_path):
    images, labels = small_set()
    write_split(str(tmp_path), "train", images, labels)
    path = os.path.join(str(tmp_path), "train-images-idx3-ubyte.gz")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(Pix2GanError, match=r"train-images-idx3-ubyte\.gz is a truncated or corrupt gzip"):
        read_mnist_idx(str(tmp_path), "train")


def test_truncated_payload(tmp_path):
    images, labels = small_set()
    write_split(str(tmp_path), "train", images, labels, image_bytes=idx_bytes(images)[:-100])
    with pytest.raises(Pix2GanError, match=r"is truncated: header \(12, 28, 28\) needs"):
        read_mnist_idx(str(tmp_path), "train")


def test_wrong_magic_number(tmp_path):
    images, labels = small_set()
    write_split(str(tmp_path), "train", images, labels, image_bytes=idx_bytes(images, magic=0x12345678))
    with pytest.raises(Pix2GanError, match="magic number 305419896"):
        read_mnist_idx(str(tmp_path), "train")


def test_labels_file_given_as_images(tmp_path):
    images, labels = small_set()
    write_split(str(tmp_path), "train", images, labels, image_bytes=idx_bytes(labels))
    with pytest.raises(Pix2GanError, match=r"images have shape \(12,\), expected \(N, 28, 28\)"):
        read_mnist_idx(str(tmp_path), "train")


def test_mismatched_counts(tmp_path):
    images, labels = small_set()
    write_split(str(tmp_path), "test", images, labels[:9])
    with pytest.raises(Pix2GanError, match="12 images but 9 labels"):
        read_mnist_idx(str(tmp_path), "test")


def test_label_outside_range(tmp_path):
    images, labels = small_set()
    labels[3] = 10
    write_split(str(tmp_path), "train", images, labels)
    with pytest.raises(Pix2GanError, match="label 10 is outside 0-9"):
        read_mnist_idx(str(tmp_path), "train")


def test_missing_files_and_empty_folder(tmp_path):
    with pytest.raises(Pix2GanError, match="does not exist"):
        read_idx(os.path.join(str(tmp_path), "nope.gz"))
    with pytest.raises(Pix2GanError, match="holds neither the four idx files"):
        resolve_mnist(str(tmp_path))
    with pytest.raises(Pix2GanError, match="too short for an idx header"):
        open(os.path.join(str(tmp_path), "x"), "wb").write(b"\x00\x00")
        read_idx(os.path.join(str(tmp_path), "x"))


def test_npz_and_h5_round_trip(tmp_path):
    train, test = small_set(12, 1), small_set(8, 2)
    npz = os.path.join(str(tmp_path), "mnist.npz")
    np.savez(npz, x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1])
    assert resolve_mnist(str(tmp_path)) == npz
    for split, (images, labels) in (("train", train), ("test", test)):
        x, y = read_mnist(npz, split)
        np.testing.assert_array_equal(x, images)
        np.testing.assert_array_equal(y, labels)
    h5 = write_mnist_h5(os.path.join(str(tmp_path), "mnist.h5"), {"train": train, "test": test})
    x, y = read_mnist_h5(h5, "test")
    np.testing.assert_array_equal(x, test[0])
    np.testing.assert_array_equal(y, test[1])
    xb, yb = next(iter(load_mnist(h5, "train", batch_size=4, training=False, value_range=(0, 1))))
    np.testing.assert_allclose(xb.numpy()[..., 0], train[0][:4] / 255.0, atol=1e-6)


def test_bad_npz_and_h5(tmp_path):
    bad = os.path.join(str(tmp_path), "bad.npz")
    np.savez(bad, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(Pix2GanError, match="not x_train/y_train"):
        read_mnist_npz(bad, "train")
    junk = os.path.join(str(tmp_path), "junk.npz")
    open(junk, "wb").write(b"not a zip file")
    with pytest.raises(Pix2GanError, match="is not a readable .npz"):
        read_mnist_npz(junk, "train")
    h5 = write_mnist_h5(os.path.join(str(tmp_path), "only_train.h5"), {"train": small_set()})
    with pytest.raises(Pix2GanError, match="has no x_test/y_test"):
        read_mnist_h5(h5, "test")
    images, labels = small_set()
    labels[0] = 11
    with pytest.raises(Pix2GanError, match="label 11 is outside 0-9"):
        write_mnist_h5(os.path.join(str(tmp_path), "x.h5"), {"train": (images, labels)})


def test_training_batches_are_whole_permutations_gathered_a_batch_at_a_time():
    """array_pipeline: each pass is a permutation of the examples cut into whole batches (the rest
    of each pass left out, a different rest each pass), images stay with their labels, the stream
    repeats to the bit for a seed and differs for another; evaluation batches keep the order."""
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 28, 28, 1), np.uint8)
    labels = np.arange(10) % 10
    def stream(seed, n=9):
        it = iter(mnist_dataset(images, labels, batch_size=3, training=True, seed=seed))
        return [tuple(np.asarray(t) for t in next(it)) for _ in range(n)]
    batches = stream(0)
    for x, y in batches:
        assert x.shape == (3, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
        np.testing.assert_array_equal(np.rint((x[:, 0, 0, 0] + 1) / 2 * 255).astype(int), y)  # pairs kept
    passes = [np.concatenate([y for _, y in batches[k:k + 3]]) for k in (0, 3, 6)]
    assert all(len(set(p)) == 9 for p in passes)  # 3 whole batches a pass, no repeats inside it
    assert len({tuple(p) for p in passes}) == 3
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, stream(0)))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(batches, stream(1)))
    ordered = [np.asarray(y) for _, y in mnist_dataset(images, labels, batch_size=4, training=False)]
    assert [list(y) for y in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(Pix2GanError, match="batch_size=11 exceeds the 10 examples"):
        mnist_dataset(images, labels, batch_size=11, training=True, seed=0)
