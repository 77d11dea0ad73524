"""The CycleGAN zoo entries end to end: train, the saved set, evaluate against the truth, translate,
the CycleGAN folder layout, and (slow tier) a few steps on the real data sets."""
import json
import os

import cv2
import numpy as np
import pytest

from conftest import shared_path
from pix2gan import zoo
from pix2gan.classifier import build_eurosat_classifier
from pix2gan.cli import main
from pix2gan.errors import Pix2GanError
from pix2gan.saving import load_model, save_model_files

TINY = ["--image-size", "32", "--filters", "4", "--d-filters", "4", "--n-blocks", "1", "--pool-size", "2"]


def _tiny_judge(folder) -> str:
    return save_model_files(build_eurosat_classifier(), str(folder), "judge")["model"]


def test_cyclegan_eurosat_train_evaluate_translate(tmp_path, capsys):
    out, logs = str(tmp_path / "models"), str(tmp_path / "logs")
    judge = _tiny_judge(tmp_path / "judge")
    assert main(["train", "cyclegan-eurosat", "--synthetic", *TINY, "--epochs", "1", "--steps-per-epoch", "2",
                 "--out", out, "--logdir", logs, "--run-name", "r", "--verbose", "0", "--judge", judge]) == 0
    for name in ("generator_AB", "generator_BA", "discriminator_A", "discriminator_B"):
        assert os.path.isfile(os.path.join(out, f"r_{name}.h5")), name
    card = json.load(open(os.path.join(out, "r_generator_AB.json")))
    assert card["entry"] == "cyclegan-eurosat" and card["settings"]["image_size"] == 32
    assert set(card["files"]) >= {"generator_AB", "generator_BA", "discriminator_A", "discriminator_B"}
    assert json.load(open(os.path.join(out, "r_generator_BA.json")))["load"].endswith("r_generator_BA.h5', compile=False)")
    assert {"val_ab_psnr", "val_ab_input_psnr", "val_ba_psnr", "val_cycle_a_psnr", "fd_ab", "fd_input"} <= set(card["metrics"])
    grid = cv2.imread(os.path.join(logs, "r", "samples", "epoch_0001.png"))
    assert grid is not None and grid.shape[1] > grid.shape[0]  # six columns of four samples
    assert any(n.startswith("events") for n in os.listdir(os.path.join(logs, "r", "train")))

    weights = os.path.join(out, "r_generator_AB.h5")
    assert main(["evaluate", "cyclegan-eurosat", "--weights", weights, "--synthetic", "--judge", judge,
                 "--test-tiles", "20"]) == 0
    printed = capsys.readouterr().out
    for key in ("ab_psnr", "ab_input_psnr", "ba_ssim", "cycle_a_psnr", "fd_ab", "fd_floor"):
        assert key in printed, key
    scores = zoo.get("cyclegan-eurosat").evaluate(weights, synthetic=True, judge=judge, test_tiles=20)
    assert scores["ab_gain_db"] == pytest.approx(scores["ab_psnr"] - scores["ab_input_psnr"])
    assert scores["fd_floor"] >= 0 and scores["fd_ab"] >= 0

    # any size through the tiled path; the generator is fully convolutional
    scene = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "scene.png"), scene)
    assert main(["translate", "--model", weights, "--tile", "64", str(tmp_path / "scene.png"),
                 str(tmp_path / "translated")]) == 0
    assert cv2.imread(str(tmp_path / "translated" / "scene.png")).shape == scene.shape
    assert main(["translate", "--model", weights, str(tmp_path / "scene.png"), str(tmp_path / "whole")]) == 0
    assert cv2.imread(str(tmp_path / "whole" / "scene.png")).shape == scene.shape
    capsys.readouterr()

    # the partner generator is found beside the weights, or must be named
    os.rename(weights, str(tmp_path / "lonely.h5"))
    with pytest.raises(Pix2GanError, match="inverse-weights"):
        zoo.get("cyclegan-eurosat").evaluate(str(tmp_path / "lonely.h5"), synthetic=True, judge=judge)
    scores = zoo.get("cyclegan-eurosat").evaluate(str(tmp_path / "lonely.h5"), synthetic=True, judge=judge,
                                                  test_tiles=10, inverse_weights=os.path.join(out, "r_generator_BA.h5"))
    assert "ab_psnr" in scores
    # evaluation never trains a judge
    with pytest.raises(Pix2GanError, match="make-judge"):
        zoo.get("cyclegan-eurosat").evaluate(str(tmp_path / "lonely.h5"), synthetic=True, test_tiles=10,
                                             judge=str(tmp_path / "none.h5"),
                                             inverse_weights=os.path.join(out, "r_generator_BA.h5"))


def _domains_folder(root) -> str:
    rng = np.random.default_rng(0)
    for split, counts in (("train", (5, 3)), ("test", (3, 2))):
        for domain, n in zip("AB", counts):
            os.makedirs(os.path.join(root, f"{split}{domain}"))
            for i in range(n):
                h, w = rng.integers(30, 60, 2)
                cv2.imwrite(os.path.join(root, f"{split}{domain}", f"{i}.png"),
                            rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return str(root)


def test_cyclegan_on_a_folder_of_two_domains(tmp_path):
    data = _domains_folder(tmp_path / "domains")
    run = zoo.get("cyclegan-facades", image_size=32, filters=4, d_filters=4, n_blocks=1, pool_size=2).train(
        data, epochs=1, steps_per_epoch=2, out=str(tmp_path / "m"), logdir=str(tmp_path / "l"), verbose=0)
    assert "CycleGAN folders" in json.load(open(run.card_path))["data"]
    scores = zoo.get("cyclegan-facades").evaluate(run.generator_path, data_dir=data)
    assert {"cycle_a_psnr", "cycle_b_psnr"} <= set(scores) and "ab_psnr" not in scores  # no truth here
    os.remove(os.path.join(data, "testB", "0.png"))
    os.remove(os.path.join(data, "testB", "1.png"))
    with pytest.raises(Pix2GanError, match="testB"):
        zoo.get("cyclegan-facades").evaluate(run.generator_path, data_dir=data)


def test_cyclegan_generators_load_as_plain_keras_models(tmp_path):
    run = zoo.get("cyclegan-facades", image_size=32, filters=4, d_filters=4, n_blocks=1, pool_size=2).train(
        synthetic=True, epochs=1, steps_per_epoch=1, out=str(tmp_path / "m"), logdir=str(tmp_path / "l"), verbose=0)
    g_ba = load_model(run.files["generator_BA"])
    assert g_ba.output_shape == (None, None, None, 3)
    assert load_model(run.files["discriminator_B"]).output_shape[-1] == 1  # its card is the generators'


@pytest.mark.slow
def test_cyclegan_eurosat_trains_on_the_real_tiles(tmp_path):
    data = shared_path("eurosat")
    judge = _tiny_judge(tmp_path / "judge")
    run = zoo.get("cyclegan-eurosat", filters=8, d_filters=8).train(
        data, epochs=1, steps_per_epoch=3, out=str(tmp_path / "m"), logdir=str(tmp_path / "l"), verbose=0,
        max_per_class=30, judge=judge, test_tiles=20)
    assert "EuroSAT" in json.load(open(run.card_path))["data"]
    scores = zoo.get("cyclegan-eurosat").evaluate(run.generator_path, data_dir=data, max_per_class=30, judge=judge,
                                                  test_tiles=20)
    assert scores["ab_input_psnr"] < 25 and np.isfinite(scores["ab_psnr"]) and np.isfinite(scores["fd_floor"])


@pytest.mark.slow
def test_cyclegan_facades_trains_on_the_real_pairs(tmp_path):
    data = shared_path("facades")
    run = zoo.get("cyclegan-facades", image_size=64, filters=8, d_filters=8).train(
        data, epochs=1, steps_per_epoch=3, out=str(tmp_path / "m"), logdir=str(tmp_path / "l"), verbose=0,
        val_steps=4)
    scores = zoo.get("cyclegan-facades").evaluate(run.generator_path, data_dir=data)
    assert scores["ab_input_psnr"] < scores["ab_psnr"] + 20 and np.isfinite(scores["ba_ssim"])
    assert "Facades" in scores["data"] and "106 A" in scores["data"]
