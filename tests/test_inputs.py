"""No input crashes the program: fuzzed files through every loader, models of the wrong kind, bad
output paths, downloads and the EuroSAT file list. Every bad input is refused with one
``error:`` line (a :class:`Pix2GanError`) before any work is done."""
import os
import sys
import time

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from pix2gan.cli import main
from pix2gan.data.common import download
from pix2gan.data.eurosat import verify_eurosat_files
from pix2gan.data.facades import load_facades
from pix2gan.errors import Pix2GanError
from pix2gan.imaging import read_image
from pix2gan.modelcheck import inspect_model
from pix2gan.networks import (
    build_dcgan_generator,
    build_mlp_discriminator,
    build_mlp_generator,
    build_patchgan_discriminator,
    build_reference_unet,
    build_resnet_discriminator,
    build_unet_generator,
)
from pix2gan.saving import save_model_files
from pix2gan.tiling import remove_clouds

sys.path.insert(0, os.path.join(REPO, "bench"))
import fuzz  # noqa: E402


# ------------------------------------------------------------------ fuzzing
def test_fuzzed_files_are_read_or_refused_by_every_loader():
    """300 mutated JPEG / PNG / TIFF / h5 / idx / npy files through every loader and translate:
    each is read or refused with Pix2GanError; none crashes or hangs."""
    result = fuzz.run_fuzz(n=300, seed=0)
    assert result["failures"] == [], fuzz.markdown(result) + "\n" + "\n".join(
        f"{f['outcome']} {f['loader']} {f['file']}: {f['error']}" for f in result["failures"][:5])
    assert sum(result["files"].values()) == 300 and all(result["files"][t] >= 50 for t in fuzz.TYPES)
    assert result["totals"]["read"] > 50 and result["totals"]["refused"] > 500  # the fuzzing bites both ways


def test_jpegs_opencv_accepts_but_tensorflow_refuses_are_refused_up_front(tmp_path):
    """The issue's mid-training ``jpeg::Uncompress failed``: the upfront check now decodes with the
    pipeline's decoder, so such files are refused before training, naming the file."""
    seeds = fuzz.make_seeds(str(tmp_path / "seeds"))
    base = open(seeds["jpeg"][0], "rb").read()
    rng = np.random.default_rng(3)
    found = 0
    for k in range(200):
        data = fuzz.mutate(base, rng)
        if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is None:
            continue
        try:
            tf.io.decode_jpeg(data)
            continue
        except tf.errors.OpError:
            found += 1
        root = tmp_path / f"facades{k}"
        (root / "train").mkdir(parents=True)
        (root / "train" / "1.jpg").write_bytes(data)
        with pytest.raises(Pix2GanError, match=r"1\.jpg"):
            load_facades(str(root), "train", image_size=16, training=False)
    assert found >= 3  # the fuzzing does produce such files


def test_valid_jpeg_with_trailing_bytes_is_read_and_bmp_facades_load(tmp_path):
    yy, xx = np.mgrid[0:16, 0:32]
    pair = np.stack([xx * 8, yy * 16, (xx + yy) * 5], -1).astype(np.uint8)
    good = cv2.imencode(".jpg", pair[..., ::-1])[1].tobytes()
    (tmp_path / "tail.jpg").write_bytes(good + b"camera maker notes after the end marker")
    assert read_image(str(tmp_path / "tail.jpg")).shape == (16, 32, 3)
    (tmp_path / "cut.jpg").write_bytes(good[:len(good) // 2])
    with pytest.raises(Pix2GanError, match="cut.jpg is truncated"):
        read_image(str(tmp_path / "cut.jpg"))
    root = tmp_path / "facades"
    (root / "train").mkdir(parents=True)
    cv2.imwrite(str(root / "train" / "1.bmp"), pair[..., ::-1])
    cv2.imwrite(str(root / "train" / "2.jpg"), pair[..., ::-1])
    batches = list(load_facades(str(root), "train", image_size=16, batch_size=1, training=False))
    assert len(batches) == 2
    cv2.imwrite(str(root / "train" / "3.tif"), pair[..., ::-1])  # TensorFlow's pipeline cannot decode TIFF
    with pytest.raises(Pix2GanError, match="3.tif is a TIFF file"):
        load_facades(str(root), "train", image_size=16, training=False)


# ------------------------------------------------------------------ models of every kind
@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One tiny saved model of each kind: {name: path}."""
    keras.utils.set_random_seed(0)
    folder = str(tmp_path_factory.mktemp("models"))
    nets = {
        "facades_g": build_unet_generator((32, 32, 3), filters=4, max_filters=8),
        "facades_d": build_patchgan_discriminator((32, 32, 3), filters=4),
        "cgan_g": build_mlp_generator(16, (8,), (28, 28, 1), 10),
        "gan_g": build_mlp_generator(16, (8,), (28, 28, 1), 0),
        "cgan_d": build_mlp_discriminator((28, 28, 1), (8,), 10, embed_dim=4),
        "cloud_g": build_reference_unet((32, 32, 3), widths=(4, 8)),
        "cloud_d": build_resnet_discriminator((32, 32, 3)),
    }
    return {name: save_model_files(net, folder, name)["model"] for name, net in nets.items()}


def test_every_kind_of_model_is_described():
    described = {
        "an image-to-image generator: 32x32x3 image -> 32x32x3 image in [-1, 1]":
            build_unet_generator((32, 32, 3), filters=4, max_filters=8),
        "a discriminator: 2 inputs (32x32x3, 32x32x3) -> 2x2x1 logit map": build_patchgan_discriminator((32, 32, 3),
                                                                                                      filters=4),
        "a conditional latent generator: noise (16,) + label -> 28x28x1 image in [-1, 1]":
            build_dcgan_generator(16, (28, 28, 1), 4, 10),
        "an unconditional latent generator: noise (16,) -> 28x28x1 image in [-1, 1]":
            build_mlp_generator(16, (8,), (28, 28, 1)),
        "a conditional discriminator: 28x28x1 image + label -> 1 logit":
            build_mlp_discriminator((28, 28, 1), (8,), 10, embed_dim=4),
        "a discriminator: 32x32x3 image -> 1 logit": build_resnet_discriminator((32, 32, 3)),
    }
    for text, model in described.items():
        assert inspect_model(model).describe() == text
    for head in ("sigmoid", "residual", "veil"):  # the cloud heads, whatever their last layer
        assert inspect_model(build_reference_unet((None, None, 3), widths=(4, 8), head=head)).value_range == (0.0, 1.0)


def _one_line_error(capsys, argv, *expected, code=2):
    got = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code and err, (got, err)
    assert err[-1].startswith("error: ") and "Traceback" not in "\n".join(err), err
    for text in expected:
        assert text in err[-1], err[-1]
    return err[-1]


@pytest.mark.parametrize("kind,expected", [
    ("facades_d", "is a discriminator: 2 inputs (32x32x3, 32x32x3) -> 2x2x1 logit map, but translate"),
    ("cgan_g", "is a conditional latent generator: noise (16,) + label -> 28x28x1 image in [-1, 1], but translate"),
    ("gan_g", "is an unconditional latent generator"),
    ("cloud_d", "is a discriminator: 32x32x3 image -> 1 logit"),
])
@pytest.mark.parametrize("tile", [False, True])
def test_translate_refuses_models_that_are_not_image_generators(tmp_path, capsys, models, kind, expected, tile):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    argv = ["translate", "--model", models[kind], str(tmp_path), str(tmp_path / "out")] + (["--tile", "0"] if tile
                                                                                            else [])
    _one_line_error(capsys, argv, expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("entry,kind,expected", [
    ("pix2pix-facades", "facades_d", "is a discriminator: 2 inputs"),
    ("pix2pix-facades", "cgan_g", "is a conditional latent generator"),
    ("pix2pix-facades", "cloud_d", "is a discriminator: 32x32x3 image -> 1 logit"),
    ("pix2pix-facades", "cloud_g", "32x32x3 image in [0, 1], but pix2pix-facades needs images in [-1, 1]"),
    ("cloud-removal-eurosat", "facades_g", "[-1, 1]"),
    ("cgan-mnist", "facades_g", "is an image-to-image generator: 32x32x3 image -> 32x32x3 image in [-1, 1], but "
                                "cgan-mnist needs a latent generator"),
    ("cgan-mnist", "cgan_d", "is a conditional discriminator: 28x28x1 image + label -> 1 logit"),
    ("dcgan-mnist", "cloud_g", "is an image-to-image generator"),
])
def test_evaluate_refuses_a_model_of_the_wrong_kind_before_any_work(tmp_path, capsys, monkeypatch, models, entry,
                                                                     kind, expected):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    line = _one_line_error(capsys, ["evaluate", entry, "--weights", models[kind], "--synthetic"], expected)
    assert "--weights" in line
    assert time.perf_counter() - start < 30  # refused before data, judges or scores
    assert os.listdir(tmp_path) == []  # evaluate writes nothing


@pytest.mark.parametrize("entry,kind,expected", [
    ("gan-mnist", "cgan_d", "is a conditional discriminator"),
    ("cgan-mnist", "facades_g", "is an image-to-image generator"),
    ("pix2pix-facades", "facades_g", "does not generate from noise"),
])
def test_sample_refuses_a_model_of_the_wrong_kind(tmp_path, capsys, models, entry, kind, expected):
    _one_line_error(capsys, ["sample", entry, "--weights", models[kind], "--output", str(tmp_path / "s.png")],
                    expected)
    assert not (tmp_path / "s.png").exists()


def test_sample_follows_the_generator_and_checks_the_output_first(tmp_path, capsys, models):
    # a conditional generator sampled through the unconditional entry: the generator decides
    assert main(["sample", "gan-mnist", "--weights", models["cgan_g"], "--n", "10", "--output",
                 str(tmp_path / "s.png")]) == 0
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    (tmp_path / "file").write_text("x")
    for output, text in ((str(tmp_path), "is a folder"), (str(tmp_path / "file" / "s.png"), "is a file, not a folder"),
                         (str(tmp_path / "s.npy"), "no image extension")):
        _one_line_error(capsys, ["sample", "gan-mnist", "--weights", models["gan_g"], "--output", output],
                        "--output", text)
    for flags, text in ((["--ncols", "0"], "--ncols 0 must be a positive"), (["--seed", "-1"], "--seed -1 must be"),
                        (["--n", "0"], "--n 0 must be a number of samples from 1"),
                        (["--n", "100000000"], "to 10000")):
        _one_line_error(capsys, ["sample", "gan-mnist", "--weights", models["gan_g"]] + flags, text)


def test_evaluate_mnist_never_trains_or_writes_the_judge(tmp_path, capsys, monkeypatch, models):
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(capsys, ["evaluate", "cgan-mnist", "--weights", models["cgan_g"], "--synthetic",
                                    "--n", "20"], "the MNIST judge", "evaluation never trains one",
                           "pix2gan make-judge --synthetic")
    assert "models/mnist_classifier_synthetic.h5" in line
    assert os.listdir(tmp_path) == []
    _one_line_error(capsys, ["evaluate", "cgan-mnist", "--weights", models["cgan_g"], "--synthetic", "--classifier",
                             models["facades_g"]], "--classifier", "not the MNIST judge")


def test_translate_checks_outputs_before_any_work(tmp_path, capsys, models):
    images = tmp_path / "in"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "file").write_text("x")
    _one_line_error(capsys, ["translate", "--model", models["facades_g"], str(images), str(tmp_path / "file")],
                    "output folder", "is a file")
    _one_line_error(capsys, ["translate", "--model", models["facades_g"], str(images), str(tmp_path / "file" / "o")],
                    "lies below the file")
    _one_line_error(capsys, ["translate", "--model", models["facades_g"], str(images), str(images)],
                    "would overwrite the input image")
    _one_line_error(capsys, ["translate", "--model", models["cloud_g"], str(images / "a.png"), str(images),
                             "--tile", "0"], "would overwrite the input image")
    _one_line_error(capsys, ["translate", "--model", models["facades_g"], str(images), str(tmp_path / "o"),
                             "--tile", "-3"], "--tile -3 must be a positive")
    assert open(tmp_path / "file").read() == "x"
    assert main(["translate", "--model", models["facades_g"], str(images), str(tmp_path / "out")]) == 0
    assert cv2.imread(str(tmp_path / "out" / "a.png")).shape == (32, 32, 3)


def test_bad_npy_scenes_are_refused(tmp_path, capsys, models):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY garbage" * 10)
    np.save(tmp_path / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(tmp_path / "cube.npy", np.zeros((2, 40, 40, 3), np.uint8))
    for name, text in (("objects.npy", "not a readable .npy array"), ("garbage.npy", "not a readable .npy array"),
                       ("strings.npy", "not pixels"), ("cube.npy", "not an image")):
        _one_line_error(capsys, ["translate", "--model", models["cloud_g"], str(tmp_path / name),
                                 str(tmp_path / "out"), "--tile", "0"], name, text)


def test_tiled_translation_runs_tanh_generators_in_their_range():
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inp))
    scene = np.random.default_rng(0).uniform(0, 1, (40, 56, 3)).astype(np.float32)
    tiled = remove_clouds(scene, model, tile=32, overlap=16, verbose=False)
    whole = (np.asarray(model(scene[None] * 2 - 1))[0] + 1) / 2  # [0, 1] in, the tanh range inside, [0, 1] out
    assert np.abs(tiled - whole).max() < 1e-5


# ------------------------------------------------------------------ downloads and the EuroSAT list
def test_downloads_land_where_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "source.bin"
    source.write_bytes(b"data" * 100)
    path = download("source.bin", source.as_uri(), "not/there/yet")  # relative, missing: created, used
    assert path == str(tmp_path / "not" / "there" / "yet" / "source.bin") and open(path, "rb").read() == b"data" * 100
    (tmp_path / "afile").write_text("x")
    with pytest.raises(Pix2GanError, match="cannot be created"):
        download("source.bin", source.as_uri(), "afile/sub")
    with pytest.raises(Pix2GanError, match="could not download"):
        download("missing.bin", (tmp_path / "missing.bin").as_uri(), "here")


def test_eurosat_files_are_checked_against_the_list(tmp_path):
    root = tmp_path / "eurosat"
    (root / "AnnualCrop").mkdir(parents=True)
    (root / "AnnualCrop" / "AnnualCrop_1.jpg").write_bytes(b"not the published tile")
    with pytest.raises(Pix2GanError, match="AnnualCrop_1.jpg fails its sha256 check"):
        verify_eurosat_files(str(root))
    (root / "AnnualCrop" / "AnnualCrop_1.jpg").unlink()
    with pytest.raises(Pix2GanError, match="AnnualCrop_1.jpg is missing"):
        verify_eurosat_files(str(root))


def test_download_with_a_data_dir_lands_in_that_folder(tmp_path, monkeypatch):
    from pix2gan import zoo
    recipe = zoo.get("cloud-removal-eurosat")
    asked = []
    monkeypatch.setattr(type(recipe), "download_data",
                        lambda self, options, folder="datasets": asked.append(folder) or folder)
    target = str(tmp_path / "mine")
    source = recipe.resolve_source(target, recipe.options("train", {"download": True}))
    assert asked == [target] and source.path == target
    os.makedirs(os.path.join(target, "AnnualCrop"))                     # holds data now: no download
    assert recipe.resolve_source(target, recipe.options("train", {"download": True})).path == target
    assert asked == [target]
