"""Batched and mixed-precision inference: translate over a folder in batches, tiles in unpadded
batches, and `--precision` for both."""
import os

import keras
import numpy as np
import pytest

from conftest import one_line_error
from pix2gan import tiling
from pix2gan.cli import main
from pix2gan.evaluation import translate_folder
from pix2gan.imaging import read_image, write_image
from pix2gan.networks import build_unet_generator
from pix2gan.precision import inference_copy, is_mixed, unsupported_reason


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_unet_generator((32, 32, 3), filters=8, max_filters=16, dropout=0.0)
    path = str(tmp_path_factory.mktemp("model") / "g.h5")
    model.save(path)
    return path


def _images(folder, n, size=32, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_image(os.path.join(folder, f"{i:02d}.png"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return folder


def test_batched_translate_equals_one_image_at_a_time(tmp_path, generator):
    images = _images(str(tmp_path / "in"), 11)
    one = translate_folder(generator, images, str(tmp_path / "one"), batch_size=1, verbose=False)
    many = translate_folder(generator, images, str(tmp_path / "many"), batch_size=4, verbose=False)
    assert [os.path.basename(p) for p in one] == [os.path.basename(p) for p in many] and len(many) == 11
    for a, b in zip(one, many):
        assert np.abs(read_image(a).astype(int) - read_image(b).astype(int)).max() <= 1  # uint8 rounding
    one_line_error(lambda: translate_folder(generator, images, str(tmp_path / "x"), batch_size=0), "batch_size=0")


def test_translate_with_mixed_images_sizes_and_resize(tmp_path, generator):
    images = _images(str(tmp_path / "in"), 3)
    _images(str(tmp_path / "in2"), 2, size=48, seed=1)
    for name in os.listdir(tmp_path / "in2"):
        os.replace(tmp_path / "in2" / name, tmp_path / "in" / f"big_{name}")
    written = translate_folder(generator, images, str(tmp_path / "out"), resize=True, batch_size=8, verbose=False)
    sizes = sorted(read_image(p).shape[:2] for p in written)
    assert sizes == [(32, 32)] * 3 + [(48, 48)] * 2


@pytest.mark.skipif(unsupported_reason("mixed_bfloat16") is not None, reason="no native bf16 here")
def test_mixed_precision_inference_is_close_to_float32(tmp_path, generator):
    model = keras.models.load_model(generator, compile=False)
    mixed = inference_copy(model, "mixed_bfloat16")
    assert is_mixed(mixed) and not is_mixed(model) and mixed.output.dtype == "float32"
    assert mixed.layers[-1].dtype_policy.name == "float32"  # the output layer stays float32
    assert inference_copy(mixed, "mixed_bfloat16") is mixed  # no second copy (translate_tiled's scenes)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(mixed(x)), np.asarray(model(x)), atol=0.05)
    images = _images(str(tmp_path / "in"), 3)
    a = translate_folder(generator, images, str(tmp_path / "f32"), verbose=False)
    b = translate_folder(generator, images, str(tmp_path / "bf16"), precision="mixed_bfloat16", verbose=False)
    for p, q in zip(a, b):
        assert np.abs(read_image(p).astype(int) - read_image(q).astype(int)).max() <= 13  # 5% of 255
    assert main(["translate", "--model", generator, images, str(tmp_path / "cli"), "--precision", "mixed_bfloat16",
                 "--batch-size", "2"]) == 0
    assert len(os.listdir(tmp_path / "cli")) == 3


def test_tiles_run_in_unpadded_batches(monkeypatch, generator):
    model = keras.models.load_model(generator, compile=False)
    seen = []
    run = tiling.traced_inference(model)
    monkeypatch.setattr(tiling, "traced_inference", lambda m: (lambda x: (seen.append(int(x.shape[0])), run(x))[1]))
    scene = np.random.default_rng(0).integers(0, 256, (56, 80, 3), dtype=np.uint8)
    out = tiling.remove_clouds(scene, model, tile=32, overlap=8, batch_size=2, verbose=False)
    assert out.shape == scene.shape and out.dtype == scene.dtype
    # 2 rows of 3 tiles: a full batch of 2 and a batch of 1 per row, nothing padded
    assert seen == [2, 1] * 2
