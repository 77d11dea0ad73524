"""The main job end to end: the example trains, logs, saves, resumes; plain Keras loads the weights."""
import glob
import os

import cv2
import numpy as np
import pytest

from conftest import REPO, run_python, shared_path

EXAMPLE = os.path.join(REPO, "examples", "train_facades.py")
TINY = ["--image-size", "32", "--filters", "4", "--batch-size", "2", "--steps-per-epoch", "3",
        "--val-steps", "2", "--minibatch-discrimination"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    first = run_python([EXAMPLE, "--epochs", "2"] + TINY, cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    return work, first


def test_example_reports_where_things_went(run):
    work, proc = run
    assert "synthetic" in proc.stderr  # the fallback says so
    for text in ("logs/pix2pix-facades", "models/pix2pix-facades_generator.h5", "val_psnr_paper"):
        assert text in proc.stdout
    for name in ("generator.h5", "generator.weights.h5", "discriminator.h5", "discriminator.weights.h5",
                 "generator.md", "generator.json"):
        assert os.path.isfile(work / "models" / f"pix2pix-facades_{name}")
    grids = sorted(glob.glob(str(work / "logs" / "pix2pix-facades" / "samples" / "epoch_*.png")))
    assert len(grids) == 2
    grid = cv2.imread(grids[-1])
    assert grid.shape[1] > 3 * 32 and grid.shape[0] > 4 * 32  # 4 rows of input | generated | target


def _tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(folder, size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    return set(tags.get("scalars", [])) | set(tags.get("tensors", [])) | set(tags.get("images", []))


def test_tensorboard_events_hold_scalars_and_images(run):
    work, _ = run
    root = work / "logs" / "pix2pix-facades"
    train = _tags(str(root / "train"))
    assert {"epoch_g_loss", "epoch_d_loss", "epoch_g_l1", "epoch_g_adv", "epoch_d_real", "epoch_d_fake"} <= train
    assert {"epoch_l1", "epoch_psnr", "epoch_ssim"} <= _tags(str(root / "validation"))
    assert "samples" in _tags(str(root / "samples"))


def test_plain_keras_loads_generator_and_discriminator_without_pix2gan(run, tmp_path):
    work, _ = run
    from pix2gan.saving import load_model
    gen_path = str(work / "models" / "pix2pix-facades_generator.h5")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(load_model(gen_path)(x, training=False))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", expected)
    script = tmp_path / "plain.py"
    script.write_text(f"""
import sys, numpy as np, keras
g = keras.models.load_model({gen_path!r}, compile=False)
y = np.asarray(g(np.load({str(tmp_path / 'x.npy')!r}), training=False))
np.testing.assert_allclose(y, np.load({str(tmp_path / 'y.npy')!r}), atol=1e-5)
assert not any(m.startswith('pix2gan') for m in sys.modules), 'pix2gan was imported'
print('generator ok', y.shape)
""")
    proc = run_python([str(script)], cwd=tmp_path, env={"PYTHONPATH": ""})
    assert proc.returncode == 0 and "generator ok (2, 32, 32, 3)" in proc.stdout, proc.stderr[-2000:]

    # The discriminator carries MinibatchDiscrimination: it needs only that registered layer.
    script.write_text(f"""
import numpy as np, keras
from pix2gan.layers import MinibatchDiscrimination
d = keras.models.load_model({str(work / 'models' / 'pix2pix-facades_discriminator.h5')!r}, compile=False)
assert any(isinstance(l, MinibatchDiscrimination) for l in d.layers)
x = np.zeros((2, 32, 32, 3), 'float32')
print('discriminator ok', d([x, x]).shape)
""")
    proc = run_python([str(script)], cwd=tmp_path)
    assert proc.returncode == 0 and "discriminator ok" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow
def test_rerun_with_the_same_run_name_resumes(run):
    work, _ = run
    again = run_python([EXAMPLE, "--epochs", "3"] + TINY, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Epoch 3/3" in again.stdout and "Epoch 1/3" not in again.stdout and "Epoch 2/3" not in again.stdout
    assert len(glob.glob(str(work / "logs" / "pix2pix-facades" / "samples" / "epoch_*.png"))) == 3


def test_cli_lists_evaluates_and_translates(run, tmp_path, capsys):
    work, _ = run
    from pix2gan.cli import main
    assert main(["list"]) == 0
    assert "pix2pix-facades" in capsys.readouterr().out
    gen = str(work / "models" / "pix2pix-facades_generator.h5")
    assert main(["evaluate", "pix2pix-facades", "--weights", gen, "--synthetic", "--split", "val"]) == 0
    assert "psnr" in capsys.readouterr().out
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"{i}.png"), np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert main(["translate", "--model", gen, str(src), str(tmp_path / "out")]) == 0
    outs = sorted(glob.glob(str(tmp_path / "out" / "*.png")))
    assert len(outs) == 3 and cv2.imread(outs[0]).shape == (32, 32, 3)
    cv2.imwrite(str(src / "big.png"), np.zeros((48, 40, 3), np.uint8))
    capsys.readouterr()
    assert main(["translate", "--model", gen, str(src), str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "big.png" in err and "40x48" in err and "--resize" in err
    assert main(["translate", "--model", gen, "--resize", str(src), str(tmp_path / "out3")]) == 0
    assert cv2.imread(str(tmp_path / "out3" / "big.png")).shape == (48, 40, 3)
    assert main(["translate", "--model", str(tmp_path / "none.h5"), str(src), str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_example_trains_on_real_facades(tmp_path):
    """The issue's acceptance command, on the real photos."""
    data = shared_path("facades")
    proc = run_python([EXAMPLE, "--data-dir", data, "--epochs", "1", "--steps-per-epoch", "20", "--image-size", "128",
                       "--verbose", "2"], cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "400 train / 100 val pairs" in proc.stdout
    assert os.path.isfile(tmp_path / "models" / "pix2pix-facades_generator.h5")
    psnr = float(proc.stdout.split("val_psnr_paper ")[1].split(",")[0])
    assert 5.0 < psnr < 40.0


def test_resuming_a_run_of_another_shape_is_refused(run, capsys, monkeypatch):
    work, _ = run
    monkeypatch.chdir(work)
    from pix2gan.cli import main
    code = main(["train", "pix2pix-facades", "--synthetic", "--image-size", "64", "--filters", "4", "--epochs", "1",
                 "--steps-per-epoch", "1", "--verbose", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "logs/pix2pix-facades" in err and "--run-name" in err
