"""Cloud removal: builders' shapes and sizes, training raises PSNR, the zoo entries end to end."""
import json
import os

import cv2
import keras
import numpy as np
import pytest

from pix2gan.cli import main
from pix2gan.data.clouds import cloud_pairs_dataset
from pix2gan.discriminators import build_resnet_discriminator
from pix2gan.errors import Pix2GanError
from pix2gan.evaluation import grouped_table, per_image_scores
from pix2gan.generators import build_reference_unet
from pix2gan.trainers import Pix2Pix


def _double_conv_params(cin, cout):
    return 9 * cin * cout + 9 * cout * cout + 2 * 4 * cout  # two bias-free convs, two BatchNorms


def _unet_params(widths=(32, 64, 128, 256, 512), c=3):
    n, cin = 0, c
    for f in widths:
        n += _double_conv_params(cin, f)
        cin = f
    for f in reversed(widths[:-1]):
        n += 4 * cin * f + f  # 2x2 transpose conv
        n += _double_conv_params(2 * f, f)
        cin = f
    return n + cin * c + c  # 1x1 output conv


def _basic_block(cin, cout, stride):
    n = 9 * cin * cout + 9 * cout * cout + 2 * 4 * cout
    return n + (cin * cout + 4 * cout if stride != 1 or cin != cout else 0)


def _resnet_params(stages=(3, 4, 6, 3), widths=(16, 32, 128, 256)):
    n, cin = 49 * 3 * 16 + 4 * 16, 16
    for s, (blocks, f) in enumerate(zip(stages, widths)):
        for b in range(blocks):
            n += _basic_block(cin, f, 2 if s and not b else 1)
            cin = f
    return n + cin + 1


def test_reference_builders_shapes_and_parameter_counts():
    g = build_reference_unet((64, 64, 3))
    assert g.output_shape == (None, 64, 64, 3)
    assert g.count_params() == _unet_params() == 7_768_995
    assert g.layers[-1].activation.__name__ == "sigmoid"
    plus = build_reference_unet((64, 64, 3), head="residual")
    assert plus.count_params() == g.count_params()
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(plus(x, training=False).numpy(), x, atol=1e-6)  # starts as the identity
    cloud = build_reference_unet((64, 64, 3), head="veil")
    assert cloud.count_params() == g.count_params() - (32 * 3 + 3) + (32 + 1) + (512 + 1)
    np.testing.assert_allclose(cloud(x, training=False).numpy(), x, atol=1e-6)  # identity start too
    # The head can represent the exact inverse of a grey blend: set gain a/(1-a) and veil a*c/(1-a).
    a, c = 0.4, 0.7
    cloud.get_layer("gain").bias.assign([a / (1 - a)])
    cloud.get_layer("veil").bias.assign([a * c / (1 - a)])
    y = x * 0.5 + 0.25
    np.testing.assert_allclose(cloud((1 - a) * y + a * c, training=False).numpy(), y, atol=1e-5)
    with pytest.raises(Pix2GanError, match="unknown U-Net head"):
        build_reference_unet((64, 64, 3), head="magic")
    d = build_resnet_discriminator((64, 64, 3))
    assert d.output_shape == (None, 1)
    assert d.count_params() == _resnet_params()
    assert build_reference_unet((None, None, 3))(np.zeros((1, 48, 80, 3))).shape == (1, 48, 80, 3)
    with pytest.raises(Pix2GanError, match="multiples of 16"):
        build_reference_unet((40, 40, 3))


def _randomise(model, names, scale=0.05, seed=0):
    rng = np.random.default_rng(seed)
    for name in names:
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in layer.get_weights()])


def test_blend_head_is_the_identity_where_the_map_is_zero():
    g = build_reference_unet((None, None, 3), widths=(8, 16, 32), head="blend")
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(g(x, training=False).numpy(), x)      # untrained: the identity
    _randomise(g, ("gain", "offset"), 0.5)
    logits = g.get_layer("cloud_logits")
    kernel = logits.get_weights()[0]
    corrected = keras.Model(g.inputs, g.get_layer("corrected").output)(x, training=False).numpy()
    assert np.abs(corrected - x).mean() > 0.05                           # the correction is real...
    logits.set_weights([np.zeros_like(kernel), np.array([-10.0], np.float32)])
    np.testing.assert_array_equal(g(x, training=False).numpy(), x)      # ...but a zero map passes x through
    logits.set_weights([np.zeros_like(kernel), np.array([10.0], np.float32)])
    np.testing.assert_allclose(g(x, training=False).numpy(), corrected, atol=1e-6)  # a full map applies it
    # a map that is zero on one half: that half is the input, bit for bit
    probe = keras.Model(g.inputs, g.get_layer("cloud_map").output)
    logits.set_weights([np.zeros_like(kernel), np.array([0.0], np.float32)])
    out = keras.Model(g.inputs, [g.output, probe.output])
    restored, cloud_map = (t.numpy() for t in out(x, training=False))
    zero = cloud_map[..., 0] == 0.0
    np.testing.assert_array_equal(restored[zero], x[zero])


def test_tiled_output_equals_the_whole_scene_output():
    from pix2gan.tiling import remove_clouds
    keras.utils.set_random_seed(0)
    scene = np.random.default_rng(2).uniform(0, 1, (512, 512, 3)).astype(np.float32)
    g = build_reference_unet((None, None, 3), head="blend")
    _randomise(g, ("gain", "offset", "cloud_logits"))
    whole = g(scene[None], training=False).numpy()[0]
    assert np.abs(whole - scene).mean() > 0.005                          # not the identity
    tiled = remove_clouds(scene, g, tile=256, overlap=128, verbose=False)
    assert np.abs(tiled - whole)[32:-32, 32:-32].max() <= 1e-3
    # a head with a per-image statistic (the veil head's pooled gain) cannot pass this
    veil = build_reference_unet((None, None, 3), head="veil")
    _randomise(veil, ("gain", "veil"), 0.5)
    whole = veil(scene[None], training=False).numpy()[0]
    tiled = remove_clouds(scene, veil, tile=256, overlap=128, verbose=False)
    assert np.abs(tiled - whole)[32:-32, 32:-32].max() > 1e-3


def test_cloud_map_trainer_learns_the_map_from_the_mask():
    from pix2gan.trainers.cloud import CloudPix2Pix, cloud_map_model
    keras.utils.set_random_seed(0)
    images = _smooth_images(16)
    g = build_reference_unet((None, None, 3), widths=(8, 16, 32), head="blend")
    d = build_resnet_discriminator((32, 32, 3), stem_filters=8, stages=(1, 1), widths=(8, 16))
    trainer = CloudPix2Pix(g, d, value_range=(0.0, 1.0), eval_mode="inference", map_weight=10.0)
    trainer.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(1e-5))
    data = cloud_pairs_dataset(images, 8, training=True, seed=0, kind="thick", with_mask=True)
    history = trainer.fit(data, epochs=1, steps_per_epoch=30, verbose=0).history
    assert history["map_bce"][-1] < 0.6                                  # from log(2) = 0.69 at the start
    assert cloud_map_model(build_reference_unet((32, 32, 3), widths=(8, 16, 32))) is None
    with pytest.raises(Pix2GanError, match="head='blend'"):
        CloudPix2Pix(build_reference_unet((32, 32, 3), widths=(8, 16, 32)), d)


def _smooth_images(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        f, p, col = rng.uniform(1, 3, 2), rng.uniform(0, 6, 2), rng.uniform(0.1, 0.5, 3)
        base = 0.5 + 0.5 * np.sin(f[0] * 6 * xx + p[0]) * np.cos(f[1] * 6 * yy + p[1])
        out.append(np.clip(base[..., None] * col + 0.1, 0, 1))
    return (np.stack(out) * 255).astype(np.uint8)


def test_a_few_training_steps_raise_psnr():
    keras.utils.set_random_seed(0)
    images = _smooth_images(16)
    g = build_reference_unet((32, 32, 3), widths=(8, 16, 32))
    d = build_resnet_discriminator((32, 32, 3), stem_filters=8, stages=(1, 1), widths=(8, 16))
    trainer = Pix2Pix(g, d, value_range=(0.0, 1.0), eval_mode="inference")
    trainer.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(1e-5))
    test = cloud_pairs_dataset(images[:8], 8, training=False, seed=9, with_alpha=True)
    before = per_image_scores(g, test)["model_psnr"].mean()
    trainer.fit(cloud_pairs_dataset(images, 8, training=True, seed=0), epochs=1, steps_per_epoch=40, verbose=0)
    after = per_image_scores(g, test)["model_psnr"].mean()
    assert after > before + 3.0, (before, after)


def test_cosine_schedule_warms_up_and_decays_to_zero_over_the_whole_run():
    from pix2gan.zoo.cloud_removal import WARMUP_STEPS, generator_learning_rate
    lr = generator_learning_rate(4e-4, "cosine", total_steps=110)
    values = [float(lr(step)) for step in (0, WARMUP_STEPS // 2, WARMUP_STEPS, 60, 110)]
    assert values[0] == 0.0 and 0.0 < values[1] < 4e-4
    np.testing.assert_allclose(values[2:], [4e-4, 2e-4, 0.0], atol=1e-9)
    short = generator_learning_rate(4e-4, "cosine", total_steps=4)  # too short to warm up: starts at the peak
    np.testing.assert_allclose([float(short(0)), float(short(2)), float(short(4))], [4e-4, 2e-4, 0.0], atol=1e-9)
    assert generator_learning_rate(2e-4, "constant", None) == 2e-4
    with pytest.raises(Pix2GanError, match="total_steps=None"):
        generator_learning_rate(4e-4, "cosine", None)
    with pytest.raises(Pix2GanError, match="unknown learning-rate schedule 'step'"):
        generator_learning_rate(1e-4, "step", 100)


def test_grouped_table_rows():
    scores = {"model_psnr": np.array([10.0, 20.0, 30.0]), "input_psnr": np.array([1.0, 2.0, 3.0]),
              "model_ssim": np.ones(3), "input_ssim": np.zeros(3), "model_l1": np.zeros(3), "input_l1": np.ones(3)}
    text, rows = grouped_table(scores, np.array([0, 0, 2]), ["a", "b", "c"], "g")
    assert [r["g"] for r in rows] == ["a", "c", "all"]
    assert rows[0]["model_psnr"] == 15.0 and rows[-1]["n"] == 3
    assert "| a | 2 | 15.00 | 1.50 |" in text


def _fake_eurosat(root, classes=("Forest", "River"), n=4):
    images = _smooth_images(n * len(classes), 64, seed=3)
    for k, name in enumerate(classes):
        os.makedirs(os.path.join(root, name))
        for i in range(n):
            cv2.imwrite(os.path.join(root, name, f"{name}_{i + 1}.jpg"), images[k * n + i][..., ::-1])
    return str(root)


@pytest.mark.slow
def test_zoo_train_evaluate_translate_end_to_end(tmp_path, capsys):
    data = _fake_eurosat(tmp_path / "eurosat")
    out, logs = str(tmp_path / "models"), str(tmp_path / "logs")
    common = ["--data-dir", data, "--classes", "Forest", "River", "--test-fraction", "0.5"]
    assert main(["train", "cloud-removal-eurosat-plus", *common, "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "2", "--out", out, "--logdir", logs, "--run-name", "r", "--verbose", "0"]) == 0
    weights = os.path.join(out, "r_generator.h5")
    assert os.path.isfile(weights) and os.path.isfile(os.path.join(out, "r_generator.json"))
    report = open(os.path.join(logs, "r", "test_report.md")).read()
    assert "| 0-0.25 |" in report or "| 0.25-0.5 |" in report
    assert "| Forest |" in report and "| River |" in report
    for kind in ("grey", "thin", "thick", "shadow", "mixed"):
        assert f"| {kind} |" in report and os.path.isfile(os.path.join(logs, "r", f"test_grid_{kind}.png"))
    assert "| 4x finer |" in report
    assert any(n.startswith("events") for n in os.listdir(os.path.join(logs, "r", "test")))
    card = json.load(open(os.path.join(out, "r_generator.json")))
    assert {"test_shadow_model_psnr", "test_shadow_map_iou", "test_clear_psnr_4x"} <= set(card["metrics"])
    assert main(["evaluate", "cloud-removal-eurosat-plus", "--weights", weights, *common]) == 0
    printed = capsys.readouterr().out
    assert "PSNR model" in printed and "| shadow |" in printed and "harm to clear ground" in printed

    scene = (np.random.default_rng(0).uniform(0, 1, (100, 150, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "scene.tif"), scene)
    assert main(["translate", "--model", weights, "--tile", "0", "--overlap", "16", str(tmp_path / "scene.tif"),
                 str(tmp_path / "restored")]) == 0
    restored = cv2.imread(str(tmp_path / "restored" / "scene.tif"), cv2.IMREAD_UNCHANGED)
    assert restored.shape == scene.shape and restored.dtype == np.uint16

    # Bad input: a missing class folder, and a one-band scene (fewer than the 3 bands the model needs).
    assert main(["evaluate", "cloud-removal-eurosat", "--weights", weights, "--data-dir", data,
                 "--classes", "Forest", "SeaLake"]) == 2
    assert "SeaLake" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "gray.png"), np.zeros((80, 80), np.uint8))
    assert main(["translate", "--model", weights, "--tile", "0", str(tmp_path / "gray.png"), str(tmp_path / "o")]) == 2
    assert "gray.png has 1 band" in capsys.readouterr().err


def _pairs_folder(root, n=3, size=48):
    images = _smooth_images(n, size, seed=5)
    for split in ("train", "test"):
        for i, clear in enumerate(images):
            cloudy = np.clip(clear.astype(int) + 60, 0, 255).astype(np.uint8)
            for folder, image in (("A", cloudy), ("B", clear)):
                os.makedirs(os.path.join(root, split, folder), exist_ok=True)
                cv2.imwrite(os.path.join(root, split, folder, f"scene{i}.png"), image[..., ::-1])
    return str(root)


def test_evaluate_on_a_folder_of_real_pairs(tmp_path):
    from pix2gan import zoo
    from pix2gan.saving import save_model_files
    data = _pairs_folder(tmp_path / "pairs")
    g = build_reference_unet((None, None, 3), widths=(8, 16, 32), head="blend")   # untrained: the identity
    weights = save_model_files(g, str(tmp_path / "m"), "g")["model"]
    recipe = zoo.get("cloud-removal-eurosat-plus")
    scores = recipe.evaluate(weights, data_dir=data)
    assert [r["name"] for r in scores["rows"]] == ["scene0", "scene1", "scene2"]
    assert scores["model_psnr"] == pytest.approx(scores["input_psnr"])
    assert scores["model_sam"] == pytest.approx(scores["input_sam"], abs=1e-4)
    assert "SAM" in recipe.report(scores)
    os.remove(os.path.join(data, "test", "B", "scene1.png"))
    with pytest.raises(Pix2GanError, match="scene1"):
        recipe.evaluate(weights, data_dir=data)


@pytest.mark.slow
def test_training_on_real_pairs(tmp_path):
    from pix2gan import zoo
    data = _pairs_folder(tmp_path / "pairs", size=64)
    run = zoo.get("cloud-removal-eurosat-plus", image_size=32).train(
        data, epochs=1, steps_per_epoch=2, batch_size=2, out=str(tmp_path / "m"), logdir=str(tmp_path / "l"),
        verbose=0)
    assert "pairs" in json.load(open(run.card_path))["data"]
    assert {"test_model_psnr", "test_input_psnr", "test_model_sam"} <= set(run.metrics)
