"""sequence-unet: the reference builder's shapes and sizes, Moving MNIST, the frames-folder windows,
the per-frame scores and baselines, predict_frames; (slow tier) the entry trained on the real data."""
import json
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import one_line_error
from PIL import Image

from pix2gan import zoo
from pix2gan.cli import main
from pix2gan.data.frames import frames_dataset, list_frames, natural_key, read_frames, window_starts
from pix2gan.data.mnist import read_mnist_idx
from pix2gan.data.moving_mnist import (
    DIGIT_SIZE,
    bounce,
    moving_mnist_batch,
    moving_mnist_dataset,
    moving_mnist_sequence,
)
from pix2gan.data.synthetic import synthetic_digits
from pix2gan.networks import build_patchgan_discriminator
from pix2gan.networks.sequence import build_sequence_unet, sequence_unet_padding
from pix2gan.sequence import (
    copy_last,
    frame_scores,
    linear_extrapolation,
    per_frame_report,
    predict_frames,
    sequence_animation,
    sequence_model_shape,
    sequence_strip,
    split_frames,
    stack_frames,
    write_gif,
)
from pix2gan.trainers.sequence import Regression, SequencePix2Pix
from pix2gan.zoo.recipe import Source


def _block(cin, cout):
    return 9 * cin * cout + 9 * cout * cout + 2 * 4 * cout  # two bias-free 3x3 convs, two BatchNorms


def _reference_params(c_in=60, c_out=60, f=64, downsampling="conv"):
    widths = [f * 2 ** i for i in range(5)]
    n, cin = 0, c_in
    for i, w in enumerate(widths):
        if i and downsampling == "conv":
            n += 4 * cin * cin + cin  # 2x2 stride-2 conv keeping the width, with bias
        n += _block(cin, w)
        cin = w
    n += _block(cin, widths[3])  # middle 1024 -> 512
    cin = widths[3]
    for i in reversed(range(4)):
        out = widths[0] if i == 0 else widths[i - 1]
        n += _block(cin + widths[i] + (c_in if i == 0 else 0), out)  # skip (+ the raw input at the last block)
        cin = out
    return n + cin * c_out + c_out  # 1x1 output conv


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(64, seed=3)[0]


# ------------------------------------------------------------------------------------------ builder

def test_reference_unet_shapes_and_parameter_count_at_64_and_560x480():
    small = build_sequence_unet((64, 64, 60))
    assert small.output_shape == (None, 64, 64, 60)
    assert small.count_params() == _reference_params() == 31_387_388
    big = build_sequence_unet((480, 560, 60))
    assert big.output_shape == (None, 480, 560, 60)
    assert big.count_params() == small.count_params()
    assert not any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in big.layers)  # 480, 560: multiples of 16
    widths = [small.get_layer(f"enc{i}_conv2").filters for i in range(1, 6)]
    assert widths == [64, 128, 256, 512, 1024] and small.get_layer("middle_conv2").filters == 512
    assert small.get_layer("up1").interpolation == "bilinear"
    assert small.get_layer("skip4").input[2] is small.inputs[0]  # the last block sees the raw input frames
    assert isinstance(small.get_layer("enc1_act1"), keras.layers.Activation)
    y = small(np.random.default_rng(0).uniform(0, 1, (1, 64, 64, 60)).astype(np.float32), training=False)
    assert y.shape == (1, 64, 64, 60) and 0.0 <= float(tf.reduce_min(y)) and float(tf.reduce_max(y)) <= 1.0


def test_builder_options_odd_sizes_and_plain_keras_loading(tmp_path):
    pooled = build_sequence_unet((64, 64, 10), 5, filters=8, downsampling="maxpool")
    assert pooled.count_params() == _reference_params(10, 5, 8, "maxpool")
    assert sequence_unet_padding(50, 70) == ((7, 7), (5, 5))  # to 64 x 80
    assert sequence_unet_padding(64, 65) == ((0, 0), (7, 8))
    odd = build_sequence_unet((50, 70, 6), 4, filters=4)
    assert odd.output_shape == (None, 50, 70, 4)
    assert odd.count_params() == _reference_params(6, 4, 4)  # padding and cropping add no weights
    x = np.random.default_rng(1).uniform(0, 1, (2, 50, 70, 6)).astype(np.float32)
    path = str(tmp_path / "g.h5")
    odd.save(path)
    again = keras.models.load_model(path, compile=False)  # standard layers only: plain Keras loads it
    np.testing.assert_allclose(again(x, training=False), odd(x, training=False), atol=1e-6)
    conv = build_sequence_unet((None, None, 3), filters=4)  # fully convolutional
    assert conv(np.zeros((1, 32, 48, 3), np.float32)).shape == (1, 32, 48, 3)
    one_line_error(lambda: build_sequence_unet((64, 64, 3), downsampling="stride"), "downsampling", "conv")


# ------------------------------------------------------------------------------------------ Moving MNIST

def test_bounce_matches_a_step_by_step_reflection():
    rng = np.random.default_rng(0)
    start, velocity, limit = rng.uniform(0, 36, (3, 2)), rng.uniform(-9, 9, (3, 2)), np.array([36.0, 20.0])
    start = np.minimum(start, limit)
    pos, vel, expected = start.copy(), velocity.copy(), []
    for _ in range(60):
        expected.append(pos.copy())
        pos = pos + vel
        for axis in range(2):
            for d in range(3):
                while not 0 <= pos[d, axis] <= limit[axis]:  # reflect off whichever wall was crossed
                    if pos[d, axis] < 0:
                        pos[d, axis], vel[d, axis] = -pos[d, axis], -vel[d, axis]
                    else:
                        pos[d, axis], vel[d, axis] = 2 * limit[axis] - pos[d, axis], -vel[d, axis]
    np.testing.assert_allclose(bounce(start, velocity, np.arange(60.0), limit), np.array(expected), atol=1e-9)


def test_moving_mnist_is_deterministic_and_digits_stay_whole_inside(digits):
    a, corners, chosen = moving_mnist_sequence(digits, 7, seed=5)
    b, corners_b, _ = moving_mnist_sequence(digits, 7, seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(corners, corners_b)
    assert a.shape == (20, 64, 64) and a.dtype == np.uint8 and corners.shape == (20, 2, 2)
    assert not np.array_equal(a, moving_mnist_sequence(digits, 8, seed=5)[0])
    assert not np.array_equal(a, moving_mnist_sequence(digits, 7, seed=6)[0])
    assert not np.array_equal(a, moving_mnist_sequence(digits, 7, seed=5, split="test")[0])
    for index in range(40):  # fast digits over long sequences bounce many times
        frames, corners, (k,) = moving_mnist_sequence(digits, index, seed=1, frames=60, size=(48, 64), num_digits=1,
                                                      speed=(6.0, 9.0))
        assert corners.min() >= 0 and (corners[..., 0] <= 48 - DIGIT_SIZE).all() and (corners[..., 1] <= 64 - 28).all()
        ink = int(digits[k].astype(np.int64).sum())
        assert (frames.reshape(60, -1).astype(np.int64).sum(axis=1) == ink).all()  # the whole digit, every frame
        steps = np.abs(np.diff(corners[:, 0], axis=0)).max()
        assert steps <= 9 + 1  # at most the speed (plus rounding) per frame
    two, corners, chosen = moving_mnist_sequence(digits, 3, seed=2)
    for t in (0, 19):
        for d in range(2):
            y, x = corners[t, d]
            window = two[t, y:y + 28, x:x + 28]
            assert (window >= digits[chosen[d]]).all()  # each digit is drawn whole where its corner says


def test_moving_mnist_windows_targets_follow_inputs(digits):
    ds = moving_mnist_dataset(digits, 6, frames_in=10, frames_out=10, batch_size=4, seed=4, training=False,
                              split="test")
    batches = list(ds)
    assert [int(x.shape[0]) for x, _ in batches] == [4, 2]
    x, y = batches[0]
    assert x.shape == (4, 64, 64, 10) and y.shape == (4, 64, 64, 10) and x.dtype == tf.float32
    whole = moving_mnist_batch(digits, range(4), seed=4, split="test")  # (4, 20, 64, 64)
    np.testing.assert_allclose(x, np.transpose(whole[:, :10], (0, 2, 3, 1)) / 255.0)
    np.testing.assert_allclose(y, np.transpose(whole[:, 10:], (0, 2, 3, 1)) / 255.0)
    _, corners, _ = moving_mnist_sequence(digits, 0, seed=4, split="test")
    assert np.abs(corners[10] - corners[9]).max() <= 6  # the first target frame is one step after the last input
    # the training pipeline is shuffled but the same for a seed
    first = [next(iter(moving_mnist_dataset(digits, 64, batch_size=8, seed=9)))[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])


def test_moving_mnist_from_the_real_digits_is_deterministic(mnist_dir):
    images, _ = read_mnist_idx(mnist_dir, "test")
    a = moving_mnist_batch(images, [0, 1, 2], seed=0, split="test")
    np.testing.assert_array_equal(a, moving_mnist_batch(images, [0, 1, 2], seed=0, split="test"))
    assert a.shape == (3, 20, 64, 64) and a.max() == 255
    one_line_error(lambda: moving_mnist_sequence(images, 0, size=(20, 64)), "20x64", "28x28")


# ------------------------------------------------------------------------------------------ frames folder

STEP = 8  # frame i of a test folder is filled with STEP * i


def _write_frames(folder, n, size=(16, 24), name="f{}.png", channels=1):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        value = np.full(size + ((channels,) if channels > 1 else ()), STEP * i, np.uint8)
        cv2.imwrite(os.path.join(folder, name.format(i)), value)


def test_frames_folder_natural_order_and_windows(tmp_path):
    folder = str(tmp_path / "loop")
    _write_frames(folder, 12)
    assert [os.path.basename(p) for p in list_frames(folder)][:3] == ["f0.png", "f1.png", "f2.png"]
    assert [os.path.basename(p) for p in list_frames(folder)][-2:] == ["f10.png", "f11.png"]  # not f1, f10, f11, f2
    assert sorted(["a10b2", "a2b10", "a2b9"], key=natural_key) == ["a2b9", "a2b10", "a10b2"]
    frames = read_frames(folder, channels=1)
    assert frames.shape == (12, 16, 24, 1)
    np.testing.assert_array_equal(window_starts(12, 3, 2), np.arange(8))
    batches = list(frames_dataset(frames, 3, 2, batch_size=5, training=False))
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (8, 16, 24, 3) and y.shape == (8, 16, 24, 2)
    for start in range(8):  # inputs: frames start..start+2, targets: the next two, in time order
        np.testing.assert_allclose(x[start, 0, 0], [STEP * (start + k) / 255 for k in range(3)], rtol=1e-6)
        np.testing.assert_allclose(y[start, 0, 0], [STEP * (start + 3 + k) / 255 for k in range(2)], rtol=1e-6)
    shuffled = next(iter(frames_dataset(frames, 3, 2, batch_size=4, training=True, seed=1)))[0]
    starts = np.rint(shuffled[:, 0, 0, 0].numpy() * 255 / STEP).astype(int)
    np.testing.assert_allclose(shuffled[:, 0, 0, 2], (starts + 2) * STEP / 255, rtol=1e-6)  # windows stay whole


def test_frames_folder_errors_name_the_folder_and_count(tmp_path):
    short = str(tmp_path / "short")
    _write_frames(short, 4)
    one_line_error(lambda: window_starts(len(list_frames(short)), 3, 2, short), short, "holds 4 frames", "5")
    uneven = str(tmp_path / "uneven")
    _write_frames(uneven, 6)
    _write_frames(uneven, 2, size=(8, 8), name="g{}.png")
    one_line_error(lambda: read_frames(uneven), uneven, "2 of 8 frames", "g0.png")
    one_line_error(lambda: read_frames(short, size=(32, 32)), short, "4 frames", "24x16")
    assert read_frames(short, size=(32, 32), resize=True).shape == (4, 32, 32, 1)
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    one_line_error(lambda: read_frames(empty), empty, "no frames")
    recipe = zoo.get("sequence-unet", frames_in=3, frames_out=2, height=16, width=24, batch_size=2)
    options = recipe.options("train", {})
    one_line_error(lambda: recipe.load_data(Source("folder", short), options, None, 0), short, "4 frames")
    loop = str(tmp_path / "loop")
    _write_frames(loop, 30)
    data = recipe.load_data(Source("folder", loop), options, None, 0)
    assert data.train_size == 24 - 5 + 1  # the last 6 frames (20%) are the test part
    assert data.extra["sequences"] == 6 - 5 + 1
    x, y = next(iter(data.extra["scored"]))
    np.testing.assert_allclose(x[0, 0, 0], np.array([24, 25, 26]) * STEP / 255.0, rtol=1e-6)  # frames 25-27


# ------------------------------------------------------------------------------------------ scores and pictures

def test_baselines_scores_and_report():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 8, 8, 6)).astype(np.float32)  # three RGB frames... as 6 channels of 2-channel frames
    np.testing.assert_array_equal(copy_last(x, 3, channels=2), np.concatenate([x[..., 4:6]] * 3, axis=-1))
    lin = np.asarray(linear_extrapolation(x, 2, channels=2))
    step = x[..., 4:6] - x[..., 2:4]
    np.testing.assert_allclose(lin[..., :2], np.clip(x[..., 4:6] + step, 0, 1), atol=1e-6)
    np.testing.assert_allclose(lin[..., 2:], np.clip(x[..., 4:6] + 2 * step, 0, 1), atol=1e-6)
    np.testing.assert_array_equal(linear_extrapolation(x[..., :2], 2, channels=2), copy_last(x[..., :2], 2, 2))
    np.testing.assert_array_equal(stack_frames(split_frames(x, 2)), x)
    y = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    scores = frame_scores(y * 0.5, y, channels=1)
    np.testing.assert_allclose(scores["mse"], np.mean((0.5 * y) ** 2, axis=(1, 2)), rtol=1e-5)
    perfect = frame_scores(y, y, 1)
    np.testing.assert_allclose(perfect["ssim"], 1.0, atol=1e-5)
    data = [(y[..., :2], y[..., 1:])]  # "frames" 0-1 in, 1-2 out: the oracle is exact, copy-last exact at frame 1
    report = per_frame_report(lambda inputs: tf.constant(y[..., 1:]), data, 2, 2, 1)
    assert report["n"] == 2 and report["rows"]["model"]["mse"] == [0.0, 0.0]
    assert report["rows"]["copy_last"]["mse"][0] == pytest.approx(0.0, abs=1e-12)
    assert report["rows"]["copy_last"]["mse"][1] > 0.05
    assert report["table"].splitlines()[-1].startswith("| mean |")


def test_strip_and_gif(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    p = rng.uniform(0, 1, (2, 16, 16, 2)).astype(np.float32)
    strip = sequence_strip(x, p, p, channels=1)
    assert strip.dtype == np.uint8 and strip.shape[0] == 2 * 18 + 2 and strip.shape[1] == (3 + 2 + 2) * 18 - 6 + 16 + 4
    pictures = sequence_animation(x, p, p, channels=1)
    assert len(pictures) == 5
    path = write_gif(str(tmp_path / "a" / "s.gif"), pictures, 100)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0
    assert not [n for n in os.listdir(tmp_path / "a") if n.startswith(".")]  # no temporary file left


# ------------------------------------------------------------------------------------------ trainers

def test_trainers_learn_a_fixed_batch():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    y = np.roll(x[..., 1:], 1, axis=2)  # the "next frames": the last two frames, shifted one pixel
    keras.utils.set_random_seed(0)
    regression = Regression(build_sequence_unet((16, 16, 3), 2, filters=4), loss="l1")
    regression.compile(keras.optimizers.Adam(1e-2))
    repeated = tf.data.Dataset.from_tensors((x, y)).repeat()
    history = regression.fit(repeated, steps_per_epoch=10, epochs=3, verbose=0, shuffle=False).history
    assert history["g_loss"][-1] < 0.7 * history["g_loss"][0]  # epoch means: 0.22 -> 0.13 measured
    assert set(history) == {"g_loss", "g_l1", "g_mse"}
    assert set(regression.evaluate(x, y, verbose=0, return_dict=True)) == {"l1", "psnr", "ssim"}
    g = build_sequence_unet((16, 16, 3), 2, filters=4)
    gan = SequencePix2Pix(g, build_patchgan_discriminator((16, 16, 3), target_channels=2, filters=4, n_layers=1),
                          loss="mse", recon_weight=10.0, value_range=(0.0, 1.0), eval_mode="inference")
    gan.compile()
    logs = gan.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert {"g_mse", "g_adv", "d_loss"} <= set(logs) and gan.l1_weight == 0.0
    one_line_error(lambda: Regression(g, loss="huber"), "loss='huber'", "l1, mse")


# ------------------------------------------------------------------------------------------ saved models

def test_sequence_model_shape_refuses_other_models():
    g = build_sequence_unet((32, 32, 6), 4, filters=4)
    assert sequence_model_shape(g, "g.h5", 2) == (32, 32, 3, 2)
    one_line_error(lambda: sequence_model_shape(g, "g.h5", 4), "g.h5", "6 channels", "4-channel")
    d = build_patchgan_discriminator((32, 32, 6), target_channels=4, filters=4)
    one_line_error(lambda: sequence_model_shape(d, "d.h5", 1, argument="weights"), "weights='d.h5'",
                   "inputs (32x32x6), (32x32x4)", "frame predictor")


def test_predict_frames_writes_frames_strip_and_gif(tmp_path):
    g = build_sequence_unet((16, 24, 3), 2, filters=4)
    model = str(tmp_path / "g.h5")
    g.save(model)
    folder = str(tmp_path / "loop")
    _write_frames(folder, 9)
    out = str(tmp_path / "out")
    result = predict_frames(model, folder, out)
    assert [os.path.basename(p) for p in result["frames"]] == ["predicted_001.png", "predicted_002.png"]
    assert [os.path.basename(p) for p in result["window"]] == ["f6.png", "f7.png", "f8.png"]
    assert result["scores"] is None  # nothing follows the last frames
    assert cv2.imread(result["frames"][0], cv2.IMREAD_UNCHANGED).shape == (16, 24)
    with Image.open(result["gif"]) as gif:
        assert gif.n_frames == 5
    scored = predict_frames(model, folder, out, start=2)  # frames 2-4 in, 5-6 exist: scored beside the baselines
    assert scored["scores"]["n"] == 1 and len(scored["scores"]["rows"]["linear"]["mse"]) == 2
    one_line_error(lambda: predict_frames(model, folder, out, start=8), "start=8", "0 to 6")
    taken = str(tmp_path / "taken")
    open(taken, "w").close()
    one_line_error(lambda: predict_frames(model, folder, taken), taken, "is a file")
    small = str(tmp_path / "small")
    _write_frames(small, 4, size=(8, 8))
    one_line_error(lambda: predict_frames(model, small, out), small, "8x8", "24x16")
    assert len(predict_frames(model, small, out, resize=True)["frames"]) == 2
    assert main(["predict-frames", "--model", model, folder, str(tmp_path / "cli")]) == 0
    assert sorted(os.listdir(tmp_path / "cli")) == ["predicted_001.png", "predicted_002.png", "sequence.gif",
                                                    "strip.png"]
    assert main(["predict-frames", "--model", model, small, str(tmp_path / "cli2")]) == 2


# ------------------------------------------------------------------------------------------ slow tier

@pytest.mark.slow
def test_entry_trains_on_moving_mnist_and_predicts(mnist_dir, tmp_path):
    models, logs = str(tmp_path / "models"), str(tmp_path / "logs")
    recipe = zoo.get("sequence-unet", filters=4, batch_size=4, adversarial=True, loss="mse", d_filters=4)
    run = recipe.train(data_dir=mnist_dir, steps_per_epoch=3, logdir=logs, out=models, train_sequences=40,
                       test_sequences=8, val_sequences=4, verbose=0)
    m = run.metrics
    for key in ("test_model_mse_f01", "test_copy_last_mse_f10", "test_linear_ssim_mean", "images_per_s", "val_mse_f01"):
        assert np.isfinite(m[key]), key
    assert m["test_sequences"] == 8
    samples = os.path.join(run.run_dir, "samples")
    assert {"epoch_0001.png", "epoch_0001.gif"} <= set(os.listdir(samples))
    assert os.path.isfile(os.path.join(run.run_dir, "test_report.md"))
    assert run.discriminator_path and os.path.isfile(run.discriminator_path)
    card = json.load(open(run.card_path))
    assert card["settings"]["adversarial"] is True and card["entry"] == "sequence-unet"
    assert zoo.from_card(run.card_path) == recipe
    g = keras.models.load_model(run.generator_path, compile=False)
    assert g.input_shape == (None, 64, 64, 10) and g.output_shape == (None, 64, 64, 10)
    scores = recipe.evaluate(run.generator_path, data_dir=mnist_dir, test_sequences=8)
    assert scores["sequences"] == 8
    assert scores["copy_last_mse_f01"] == pytest.approx(m["test_copy_last_mse_f01"], rel=1e-6)
    assert scores["model_mse_f01"] == pytest.approx(m["test_model_mse_f01"], rel=1e-4)
    assert "| mean |" in recipe.report(scores)
    # the frames of a test sequence, as files, through predict-frames
    x, _ = next(iter(moving_mnist_dataset(read_mnist_idx(mnist_dir, "test")[0], 1, batch_size=1, training=False,
                                          split="test")))
    folder = str(tmp_path / "frames")
    os.makedirs(folder)
    for k in range(10):
        cv2.imwrite(os.path.join(folder, f"t{k + 1}.png"), np.rint(x[0, ..., k].numpy() * 255).astype(np.uint8))
    assert main(["predict-frames", "--model", run.generator_path, folder, str(tmp_path / "pred")]) == 0
    assert len([n for n in os.listdir(tmp_path / "pred") if n.startswith("predicted_")]) == 10
