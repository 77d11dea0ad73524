"""The scene DCGANs (`dcgan-eurosat`): DCGAN depth by image size, the spectral-norm option, the
judge's Frechet distance and nearest neighbours, the recipe's settings and saved-generator checks,
a tiny run on the built-in tiles, the label pipeline of a conditional run (data, trainer, sampling,
judging) and the label's strength in a new generator; (slow tier) a few steps on the real EuroSAT
farmland tiles."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, one_line_error, run_python, shared_path

from pix2gan import zoo
from pix2gan.classifier import EurosatJudge, build_eurosat_classifier, nearest_neighbours
from pix2gan.cli import entry_parser, main
from pix2gan.networks import build_dcgan_discriminator, build_dcgan_generator, dcgan_depth
from pix2gan.saving import save_model_files
from pix2gan.trainers import LatentGAN
from pix2gan.zoo.latent import label_classes
from pix2gan.zoo.scenes import FARMLAND, SceneJudge, scene_dataset, to_judge_size

TINY = dict(filters=8, batch_size=16, latent_dim=16)
TINY_OPTIONS = dict(fid_every=1, fid_samples=40, eval_samples=60, neighbours=8)


@pytest.fixture(scope="module")
def tiny_classifier():
    keras.utils.set_random_seed(0)
    return build_eurosat_classifier(filters=4, features=16)


@pytest.fixture
def tiny_judge(tmp_path, tiny_classifier):
    return save_model_files(tiny_classifier, str(tmp_path), "judge")["model"]


def _tiles(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("size,depth", [(28, 2), (32, 2), (64, 3), (128, 4)])
def test_dcgan_depth_follows_the_image_size(size, depth):
    assert dcgan_depth(size, size) == depth
    g = build_dcgan_generator(8, (size, size, 3 if size != 28 else 1), filters=4)
    d = build_dcgan_discriminator((size, size, 3 if size != 28 else 1), filters=4)
    assert tuple(g.outputs[0].shape[1:]) == (size, size, 3 if size != 28 else 1)
    # one stride-2 layer per halving in each network; the projection's map is size / 2**depth
    assert sum(isinstance(layer, keras.layers.Conv2DTranspose) for layer in g.layers) == depth
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in d.layers) == depth
    assert g.get_layer("dcgan_generator_reshape").output.shape[1] == size // 2 ** depth


def test_spectral_norm_option_saves_and_loads_in_plain_keras(tmp_path):
    keras.utils.set_random_seed(0)
    plain = build_dcgan_discriminator((64, 64, 3), filters=8)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in plain.layers)
    d = build_dcgan_discriminator((64, 64, 3), filters=8, num_classes=10, norm=None, spectral_norm=True)
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 4  # three convs and the logit layer
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in d.layers)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 64, 64, 3)).astype(np.float32)
    y = np.array([[0], [6], [0], [6]], np.int32)
    kernel = np.asarray(wrapped[1].layer.kernel).reshape(-1, wrapped[1].layer.kernel.shape[-1])
    assert np.linalg.svd(kernel, compute_uv=False)[0] < 0.5  # N(0, 0.02) weights of a 4x4x8 -> 16 conv: ~0.3
    for _ in range(10):  # each training call takes one power iteration and rescales the kernel
        d([x, y], training=True)
    kernel = np.asarray(wrapped[1].layer.kernel).reshape(-1, wrapped[1].layer.kernel.shape[-1])
    assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, abs=0.02)
    d.save(str(tmp_path / "d.h5"))
    again = keras.models.load_model(str(tmp_path / "d.h5"), compile=False)
    np.testing.assert_allclose(np.asarray(again([x, y])), np.asarray(d([x, y])), atol=1e-6)


def test_projection_discriminator_takes_the_label_in_its_logit(tmp_path):
    keras.utils.set_random_seed(0)
    d = build_dcgan_discriminator((64, 64, 3), filters=8, num_classes=10, conditioning="projection")
    assert not any("label_plane" in layer.name for layer in d.layers)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    x = np.concatenate([x, x])
    y = np.array([[0], [0], [6], [6]], np.int32)
    logits = np.asarray(d([x, y])).ravel()
    np.testing.assert_allclose(logits[:2], logits[2:], atol=1e-6)  # the projection starts at zero
    embedding = d.get_layer("dcgan_discriminator_projection_embedding")
    table = np.zeros(embedding.embeddings.shape, np.float32)
    table[6] = 0.01
    embedding.embeddings.assign(table)
    features = keras.Model(d.inputs[0], d.get_layer("dcgan_discriminator_flatten").output)(x[:2])
    moved = np.asarray(d([x, y])).ravel()
    np.testing.assert_allclose(moved[:2], logits[:2], atol=1e-6)
    np.testing.assert_allclose(moved[2:] - logits[2:], 0.01 * np.asarray(features).sum(1), rtol=1e-4, atol=1e-5)
    d.save(str(tmp_path / "d.h5"))
    np.testing.assert_allclose(np.asarray(keras.models.load_model(str(tmp_path / "d.h5"), compile=False)([x, y])),
                               np.asarray(d([x, y])), atol=1e-6)
    one_line_error(lambda: build_dcgan_discriminator((64, 64, 3), 8, 10, conditioning="both"), "conditioning='both'")


def test_frechet_of_a_set_against_itself_is_zero(tiny_classifier):
    reference, other = _tiles(50, 1), _tiles(50, 2)
    judge = SceneJudge(tiny_classifier, FARMLAND, reference, other, other)
    assert judge.frechet(reference) == pytest.approx(0.0, abs=1e-6)
    signed = reference.astype(np.float32) / 127.5 - 1.0  # the same tiles as generated [-1, 1] images
    assert judge.score(signed)["fd"] == pytest.approx(0.0, abs=1e-4)
    assert EurosatJudge(tiny_classifier).frechet(signed, signed) == pytest.approx(0.0, abs=1e-6)
    smooth = np.full((50, 64, 64, 3), 0.3, np.float32) + np.linspace(-0.5, 0.5, 50, dtype=np.float32)[:, None, None,
                                                                                                           None]
    # (an untrained judge's features are small, so the distances are too: compare them)
    assert judge.floor(50) == pytest.approx(judge.frechet(other)) and judge.floor(50) > 0
    assert judge.score(smooth)["fd"] > 10 * judge.floor(50)
    # a 128x128 sample set is scored at the judge's 64x64: the upsampled reference scores ~0 too
    big = np.repeat(np.repeat(signed, 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(to_judge_size(big), signed, atol=1e-6)
    assert judge.score(big)["fd"] == pytest.approx(0.0, abs=1e-4)


def test_nearest_neighbours_and_the_memorisation_ratio(tiny_classifier):
    rng = np.random.default_rng(0)
    refs, queries = rng.normal(size=(300, 5)), rng.normal(size=(70, 5))
    index, dist = nearest_neighbours(queries, refs, batch_size=16)
    brute = np.linalg.norm(queries[:, None] - refs[None], axis=-1)
    np.testing.assert_array_equal(index, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), atol=1e-9)
    one_line_error(lambda: nearest_neighbours(queries, refs[:, :3]), "same d")
    train, test = _tiles(40, 3), _tiles(30, 4)
    judge = SceneJudge(tiny_classifier, FARMLAND, test, train, train)
    copies = train[[5, 17, 2]].astype(np.float32) / 127.5 - 1.0
    index, dist = judge.neighbours(copies)
    assert list(index) == [5, 17, 2] and np.allclose(dist, 0.0, atol=1e-3)
    assert judge.memorisation(copies)["nn_ratio"] < 0.01  # copies are far nearer than held-out tiles
    grid = judge.neighbour_grid(copies, ncols=2)
    assert grid.dtype == np.uint8 and grid.shape == (4 * 66 + 2, 2 * 66 + 2, 3)  # sample rows, neighbour rows


def test_recipe_defaults_settings_and_refusals():
    paper = zoo.get("dcgan-eurosat")
    assert (paper.classes, paper.image_size, paper.conditional, paper.loss, paper.lr, paper.beta1, paper.batch_size,
            paper.ema_decay, paper.spectral_norm, paper.d_norm) == (FARMLAND, 64, False, "bce", 2e-4, 0.5, 128, 0.0,
                                                                     False, "batch")
    assert paper.d_conditioning == "projection"  # only used with conditional=True
    plus = zoo.get("dcgan-eurosat-plus")
    assert (plus.ema_decay, plus.batch_size, plus.lr) == (0.999, 64, 2e-4)
    assert zoo.get("dcgan-eurosat", classes=["Forest", "Forest", "River"]).classes == ("Forest", "River")
    one_line_error(lambda: zoo.get("dcgan-eurosat", classes=("Farm",)), "classes=('Farm',) has unknown value",
                   "AnnualCrop")
    one_line_error(lambda: zoo.get("dcgan-eurosat", classes=()), "classes=() names no class")
    one_line_error(lambda: zoo.get("dcgan-eurosat", image_size=30), "image_size=30 must be a multiple of 4")
    # one --classes flag (a recipe setting), and classes= in train() sets it
    parser, groups, flags = entry_parser("train", "dcgan-eurosat")
    assert "classes" in groups["recipe"] and "classes" not in groups["options"]
    assert vars(parser.parse_args(["--classes", "Forest", "--conditional"])) == {"classes": ["Forest"],
                                                                                 "conditional": True}
    one_line_error(lambda: zoo.get("dcgan-eurosat").train(classes=("Nope",), synthetic=True), "classes=('Nope',)")


def test_tiny_128px_run_on_builtin_tiles_then_evaluate_and_sample(tmp_path, tiny_judge, capsys):
    recipe = zoo.get("dcgan-eurosat", **TINY, conditional=True, ema_decay=0.9, spectral_norm=True, d_norm="none",
                     loss="hinge", d_lr=4e-4, image_size=128)
    run = recipe.train(synthetic=True, epochs=1, steps_per_epoch=2, logdir=str(tmp_path / "logs"),
                       out=str(tmp_path / "models"), verbose=0, judge=tiny_judge, **TINY_OPTIONS)
    m = run.metrics
    assert np.isfinite(m["final_fd"]) and m["final_fd"] > 0 and m["fd_floor"] >= 0
    assert 0 <= m["final_class_accuracy"] <= 1 and 0 <= m["in_classes"] <= 1 and m["nn_ratio"] > 0
    assert m["images_per_s"] > 0 and "val_fd" in m and "val_raw_fd" in m
    for path in ("samples/epoch_0001.png", "nearest_neighbours.png"):
        assert os.path.isfile(os.path.join(run.run_dir, path)), path
    assert os.listdir(os.path.join(run.run_dir, "validation")) and os.listdir(os.path.join(run.run_dir, "test"))
    generator = keras.models.load_model(run.generator_path, compile=False)  # plain Keras, no custom objects
    assert len(generator.inputs) == 2 and tuple(generator.outputs[0].shape[1:]) == (128, 128, 3)
    keras.models.load_model(run.discriminator_path, compile=False)  # spectral norm is a Keras layer
    assert zoo.from_card(run.card_path) == recipe.replace(epochs=1)
    card = json.load(open(run.card_path))
    assert card["settings"]["classes"] == list(FARMLAND) and card["metrics"]["final_fd"] == pytest.approx(m["final_fd"])

    scores = zoo.get("dcgan-eurosat").evaluate(run.generator_path, synthetic=True, judge=tiny_judge, n=50,
                                              neighbours=0)
    assert scores["classes"] == list(FARMLAND) and scores["samples"] == 50 and "class_accuracy" in scores
    assert zoo.get("dcgan-eurosat").for_generator(generator, run.generator_path).image_size == 128
    assert main(["evaluate", "dcgan-eurosat", "--weights", run.generator_path, "--synthetic", "--judge", tiny_judge,
                 "--n", "40", "--logdir", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "Frechet distance" in out and "accuracy on the requested class" in out
    assert os.path.isfile(tmp_path / "eval" / "nearest_neighbours.png")
    png = str(tmp_path / "six.png")
    assert main(["sample", "dcgan-eurosat", "--weights", run.generator_path, "--n", "16", "--label", "6",
                 "--output", png]) == 0
    assert main(["sample", "dcgan-eurosat", "--weights", run.generator_path, "--label", "3"]) == 2
    assert "error: --label 3 is not a class this generator learnt: use 0 (AnnualCrop), 6 (PermanentCrop)" in \
        capsys.readouterr().err


def test_saved_generators_of_the_wrong_kind_are_refused(tmp_path):
    mnist = build_dcgan_generator(8, (28, 28, 1), filters=4)
    mnist.save(str(tmp_path / "mnist.h5"))
    recipe = zoo.get("dcgan-eurosat")
    one_line_error(lambda: recipe.sample(str(tmp_path / "mnist.h5")), "needs square RGB scenes")
    uncond = build_dcgan_generator(8, (128, 128, 3), filters=4)
    uncond.save(str(tmp_path / "big.h5"))
    found = recipe.for_generator(uncond, str(tmp_path / "big.h5"))
    assert (found.image_size, found.conditional, found.latent_dim, found.classes) == (128, False, 8, FARMLAND)
    one_line_error(lambda: recipe.draw_samples(uncond, 4, 0, 0), "this generator is unconditional")
    # the classes come from the card beside the weights
    (tmp_path / "big.json").write_text(json.dumps({"entry": "dcgan-eurosat", "settings": {"classes": ["Forest"]}}))
    assert recipe.for_generator(uncond, str(tmp_path / "big.h5")).classes == ("Forest",)


def test_example_script_help():
    done = run_python([os.path.join(REPO, "examples", "generate_scenes.py"), "--help"], cwd=REPO, timeout=120)
    assert done.returncode == 0 and "--classes" in done.stdout


@pytest.mark.slow
def test_entry_trains_a_few_steps_on_real_farmland(tmp_path, tiny_judge):
    data = shared_path("eurosat")
    judge = os.path.join(REPO, "models", "eurosat_classifier.h5")
    judge = judge if os.path.isfile(judge) else tiny_judge  # never make the real judge inside a test
    run = zoo.get("dcgan-eurosat", filters=16, batch_size=32).train(
        data_dir=data, epochs=1, steps_per_epoch=4, logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"),
        verbose=0, judge=judge, fid_every=0, eval_samples=200, neighbours=8, max_per_class=300)
    m = run.metrics
    assert all(np.isfinite(m[k]) for k in ("g_loss", "d_loss", "final_fd", "fd_floor", "nn_ratio"))
    assert m["final_fd"] > m["fd_floor"] > 0  # four steps are far from real farmland
    assert "EuroSAT" in json.load(open(run.card_path))["data"]
    generator = keras.models.load_model(run.generator_path, compile=False)
    assert len(generator.inputs) == 1 and np.asarray(generator(np.zeros((2, 100), np.float32))).shape == (2, 64, 64, 3)
    assert os.path.isfile(os.path.join(run.run_dir, "nearest_neighbours.png"))


# ------------------------------------------------------------------ the label pipeline of a conditional run
# Stubs that carry a label as an image's value: label k <-> every pixel at VALUE[k] (in [-1, 1]).
VALUE = np.linspace(-0.9, 0.72, 10).astype(np.float32)


def _label_tiles(labels) -> np.ndarray:
    """uint8 64x64 RGB tiles whose value encodes their label."""
    return np.broadcast_to(np.round((VALUE[labels] + 1) * 127.5).astype(np.uint8)[:, None, None, None],
                           (len(labels), 64, 64, 3)).copy()


def _label_painter(latent_dim: int, size: int, channels: int) -> keras.Model:
    """A conditional 'generator' [z, label] -> an image at VALUE[label] everywhere (z is ignored)."""
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((1,), dtype="int32", name="label")
    value = keras.layers.Embedding(10, 1, embeddings_initializer=keras.initializers.Constant(VALUE[:, None]))(label)
    ignored = keras.layers.Dense(1, kernel_initializer="zeros", use_bias=False)(z)
    value = keras.layers.Add()([keras.layers.Reshape((1, 1, 1))(value), keras.layers.Reshape((1, 1, 1))(ignored)])
    image = keras.layers.UpSampling2D(size)(value)
    image = keras.layers.Conv2D(channels, 1, kernel_initializer="ones", use_bias=False)(image)
    return keras.Model([z, label], image)


def _label_reader() -> keras.Model:
    """A 'judge' whose prediction is the label whose VALUE is nearest the image's mean: logit k is
    2 m VALUE[k] - VALUE[k]^2 = m^2 - (m - VALUE[k])^2 for mean m (the 'features' layer)."""
    image = keras.Input((64, 64, 3))
    mean = keras.layers.GlobalAveragePooling2D()(image)
    mean = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(1 / 3), use_bias=False,
                              name="features")(mean)
    logits = keras.layers.Dense(10, kernel_initializer=keras.initializers.Constant(2 * VALUE[None]),
                                bias_initializer=keras.initializers.Constant(-VALUE ** 2))(mean)
    return keras.Model(image, logits)


def test_scene_batches_keep_each_tile_with_its_label():
    labels = np.repeat(np.array([0, 6], np.int32), 48)
    for size in (64, 128):
        ds = scene_dataset(_label_tiles(labels), labels, 16, size, augment=True, seed=0)
        mixed = 0
        for images, batch_labels in ds.take(12):
            images, batch_labels = images.numpy(), batch_labels.numpy()
            assert images.shape == (16, size, size, 3) and set(batch_labels) <= {0, 6}
            np.testing.assert_allclose(images.mean((1, 2, 3)), VALUE[batch_labels], atol=0.01)
            mixed += len(set(batch_labels)) == 2
        assert mixed  # shuffled across the classes, not class by class


def test_conditional_trainer_gives_d_the_labels_of_its_images_and_g_its_own():
    """D(x, y) = (mean x - VALUE[y])^2 is 0 only for an image carrying its own label, so
    d_real = sigmoid(0) = 0.5 exactly when each real tile reaches D with its label, and d_fake =
    0.5 exactly when D judges each fake with the label G painted it with; any mix-up raises it."""
    image = keras.Input((8, 8, 1))
    label = keras.Input((1,), dtype="int32")
    value = keras.layers.Flatten()(keras.layers.Embedding(
        10, 1, embeddings_initializer=keras.initializers.Constant(VALUE[:, None]))(label))
    gap = keras.layers.Subtract()([keras.layers.GlobalAveragePooling2D()(image), value])
    discriminator = keras.Model([image, label], keras.layers.Multiply()([gap, gap]))
    generator = _label_painter(4, 8, 1)
    trainer = LatentGAN(generator, discriminator, seed=0)
    trainer.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))  # nothing moves: the logs stay exact
    labels = np.random.default_rng(0).integers(0, 10, 96).astype(np.int32)
    images = np.broadcast_to(VALUE[labels][:, None, None, None], (96, 8, 8, 1)).copy()
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(96, seed=0).batch(16, drop_remainder=True)
    logs = trainer.fit(ds, epochs=1, verbose=0).history
    assert logs["d_real"][-1] == pytest.approx(0.5, abs=1e-6) and logs["d_fake"][-1] == pytest.approx(0.5, abs=1e-6)
    assert trainer.discriminate(tf.constant(images[:16]), labels[::-1][:16]).numpy().max() > 0.01  # it can fail


def test_scene_samples_are_asked_for_and_judged_in_eurosat_label_indices():
    """Sampling, the grid rows and the judge's class accuracy all speak EuroSAT's indices
    (AnnualCrop 0, PermanentCrop 6), not positions in ``classes``."""
    recipe = zoo.get("dcgan-eurosat", conditional=True)
    generator, reader = _label_painter(recipe.latent_dim, 64, 3), _label_reader()
    reference = _label_tiles(np.repeat(np.array([0, 6]), 10))
    judge = SceneJudge(reader, FARMLAND, reference, reference, reference)
    np.testing.assert_array_equal(judge.judge.features_and_predictions(reference)[1], np.repeat([0, 6], 10))
    images, labels = recipe.samples(generator, 40, seed=0)
    assert set(labels) == {0, 6}
    scores = judge.score(images, labels)
    assert scores["class_accuracy"] == 1.0 and scores["in_classes"] == 1.0 and scores["class_share"] == [0.5, 0.5]
    grid, ncols = recipe.draw_samples(generator, 32, None, 0)  # rows ask for each class in turn
    rows = judge.judge.features_and_predictions(grid)[1].reshape(-1, ncols)
    np.testing.assert_array_equal(rows, np.repeat([[0], [6], [0], [6]], ncols, axis=1))
    sixes, _ = recipe.draw_samples(generator, 8, 6, 0)
    assert list(judge.judge.features_and_predictions(sixes)[1]) == [6] * 8
    assert judge.score(images, labels[::-1])["class_accuracy"] == 0.0  # a swapped label space reads 0


def test_conditional_scene_generator_starts_with_a_label_as_strong_as_its_noise():
    """Keras's default U(-0.05, 0.05) label embedding beside N(0, 1) noise moves a new
    generator's samples ~30x less than the noise does (and 300 steps on farmland left them
    label-blind); the scene entries start it at N(0, 1)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 32, 100)).astype(np.float32)
    zeros, sixes = np.zeros((32, 1), np.int32), np.full((32, 1), 6, np.int32)

    def label_over_noise(generator):
        a = np.asarray(generator([z[0], zeros], training=True))
        noise = np.abs(a - np.asarray(generator([z[1], zeros], training=True))).mean()
        return np.abs(a - np.asarray(generator([z[0], sixes], training=True))).mean() / noise
    keras.utils.set_random_seed(0)
    assert label_over_noise(build_dcgan_generator(100, (64, 64, 3), 8, 10)) < 0.1  # 'uniform', the default
    generator, discriminator = zoo.get("dcgan-eurosat", conditional=True, g_conditioning="concat",
                                       filters=8).build_networks()
    assert label_over_noise(generator) > 0.5
    assert np.asarray(generator.get_layer("dcgan_generator_embedding").embeddings).std() == pytest.approx(1.0, abs=0.1)
    one_line_error(lambda: build_dcgan_generator(100, (64, 64, 3), 8, 10, label_init="zeros"), "label_init='zeros'")


def test_class_conditional_batchnorm_generator_gives_each_class_its_own_scale_and_shift(tmp_path):
    """``g_conditioning='batchnorm'``: the noise goes in alone; every BatchNorm of G has a scale and
    shift per class (started at 1 and 0, so a new G ignores the label); it saves and loads in plain
    Keras, and the recipe still reads it as a generator of EuroSAT's ten labels."""
    recipe = zoo.get("dcgan-eurosat", conditional=True, g_conditioning="batchnorm", filters=8)
    generator, _ = recipe.build_networks()
    assert [tuple(t.shape) for t in generator.inputs] == [(None, 100), (None, 1)]
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3 and not any(n.center or n.scale for n in norms)  # project, up1, up2 at 64 px
    tables = {layer.name: np.asarray(layer.embeddings) for layer in generator.layers
              if isinstance(layer, keras.layers.Embedding)}
    assert len(tables) == 6 and all(t.shape[0] == 10 for t in tables.values())
    assert all((t == 1).all() for name, t in tables.items() if name.endswith("_class_scale"))
    assert all((t == 0).all() for name, t in tables.items() if name.endswith("_class_shift"))
    assert label_classes(generator) == 10
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    forest = generator.predict([z, np.full((4, 1), 1, np.int32)], verbose=0)
    np.testing.assert_array_equal(forest, generator.predict([z, np.full((4, 1), 9, np.int32)], verbose=0))
    # a class's own scale changes that class's samples only
    scale = generator.get_layer("dcgan_generator_up2_norm_class_scale")
    table = np.asarray(scale.embeddings).copy()
    table[9] *= 3.0
    scale.embeddings.assign(table)
    assert np.abs(generator.predict([z, np.full((4, 1), 9, np.int32)], verbose=0) - forest).max() > 1e-3
    np.testing.assert_array_equal(generator.predict([z, np.full((4, 1), 1, np.int32)], verbose=0), forest)
    path = str(tmp_path / "g.h5")
    generator.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict([z, np.full((4, 1), 9, np.int32)], verbose=0),
                               generator.predict([z, np.full((4, 1), 9, np.int32)], verbose=0), atol=1e-6)
    found = recipe.for_generator(loaded, path)
    assert found.conditional and found.latent_dim == 100
    one_line_error(lambda: build_dcgan_generator(100, (64, 64, 3), 8, 10, conditioning="film"),
                   "conditioning='film'")
