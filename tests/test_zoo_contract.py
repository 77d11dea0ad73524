"""The recipe contract: typed settings, the Python API, the generated CLI, model cards that round-trip."""
import ast
import dataclasses
import inspect
import json
import logging
import os

import pytest

import pix2gan
from pix2gan import zoo
from pix2gan.cli import entry_parser, main
from pix2gan.errors import Pix2GanError
from pix2gan.settings import specs
from pix2gan.zoo.recipe import Recipe, RunOptions

from conftest import REPO

TINY_PIX2PIX = dict(image_size=32, filters=4, batch_size=2, epochs=1)


def test_names_lists_every_entry_and_get_builds_each():
    assert zoo.names() == sorted(["pix2pix-facades", "cloud-removal-eurosat", "cloud-removal-eurosat-plus",
                                  "gan-mnist", "cgan-mnist", "lsgan-mnist", "dcgan-mnist", "cyclegan-eurosat",
                                  "cyclegan-facades", "dcgan-eurosat", "dcgan-eurosat-plus", "sequence-unet"])
    for name in zoo.names():
        recipe = zoo.get(name)
        assert isinstance(recipe, Recipe) and recipe.name == name and recipe.summary
        for spec in specs(recipe):
            assert spec.help, f"{name}.{spec.name} has no help text"
            assert getattr(recipe, spec.name) == spec.default


def test_entry_defaults_are_the_recipes_of_record():
    plus, ref = zoo.get("cloud-removal-eurosat-plus"), zoo.get("cloud-removal-eurosat")
    assert (plus.head, plus.g_lr, plus.g_schedule, plus.psnr_weight) == ("blend", 4e-4, "cosine", 4.0)
    assert (plus.clouds, plus.min_scale, plus.max_scale, plus.vary_ground) == ("mixed", 0.5, 4.0, True)
    assert (ref.head, ref.g_lr, ref.g_schedule, ref.psnr_weight, ref.d_lr) == ("sigmoid", 1e-4, "constant", 0.0, 1e-5)
    assert (ref.clouds, ref.min_scale, ref.max_scale, ref.vary_ground) == ("grey", 1.0, 1.0, False)
    dcgan = zoo.get("dcgan-mnist")
    assert (dcgan.arch, dcgan.conditional, dcgan.lr, dcgan.batch_size, dcgan.ema_decay) == ("dcgan", True, 4e-4, 64,
                                                                                              0.999)
    assert zoo.get("lsgan-mnist").loss == "lsgan" and zoo.get("cgan-mnist").g_hidden == (128, 256, 512, 1024)
    cycle = zoo.get("cyclegan-facades")
    assert (cycle.adversarial_loss, cycle.cycle_weight, cycle.identity_weight, cycle.pool_size, cycle.learning_rate,
            cycle.batch_size, cycle.load_scale, cycle.image_size, cycle.n_blocks) == ("lsgan", 10.0, 5.0, 50, 2e-4, 1,
                                                                                      1.12, 256, None)
    assert zoo.get("cyclegan-eurosat").image_size == 64
    facades = zoo.get("pix2pix-facades")
    assert (facades.epochs, facades.batch_size, facades.image_size, facades.l1_weight) == (200, 1, 256, 100.0)


def test_unknown_names_settings_and_values_are_refused_naming_the_valid_ones():
    with pytest.raises(Pix2GanError, match="unknown zoo entry 'nope': valid ones are cgan-mnist"):
        zoo.get("nope")
    with pytest.raises(Pix2GanError, match="l1_wieght.*valid ones are .*l1_weight") as info:
        zoo.get("pix2pix-facades", l1_wieght=3)
    assert info.value.argument == "l1_wieght"
    for bad, text in ((dict(l1_weight=float("nan")), "l1_weight=nan must be a finite number"),
                      (dict(l1_weight=-1.0), "l1_weight=-1.0 must be at least 0"),
                      (dict(direction="sideways"), "direction='sideways' is not one of BtoA, AtoB"),
                      (dict(epochs=0), "epochs=0 must be at least 1"),
                      (dict(filters=2.5), "filters=2.5 must be a number \\(int\\)"),
                      (dict(image_size=100), "image size 100x100 is not supported")):
        with pytest.raises(Pix2GanError, match=text):
            zoo.get("pix2pix-facades", **bad)
    with pytest.raises(Pix2GanError, match="g_lr=-1.0 must be at least 0"):
        zoo.get("cloud-removal-eurosat-plus", g_lr=-1.0)
    with pytest.raises(Pix2GanError, match="ema_decay=1.0 must be below 1"):
        zoo.get("dcgan-mnist", ema_decay=1.0)
    # ints are accepted where floats are wanted, and lists where tuples are (JSON cards hold lists)
    recipe = zoo.get("cgan-mnist", lr=1, g_hidden=[8, 16])
    assert recipe.lr == 1.0 and isinstance(recipe.lr, float) and recipe.g_hidden == (8, 16)


def test_train_signature_is_the_documented_one():
    params = list(inspect.signature(Recipe.train).parameters)
    assert params == ["self", "data_dir", "epochs", "steps_per_epoch", "batch_size", "steps_per_execution", "logdir",
                      "out", "run_name",
                      "seed", "jit_compile", "precision", "verbose", "backup_every", "deterministic", "on_nan", "strategy",
                      "devices", "cpu_replicas", "workers", "worker_index", "data_options"]
    # every run option is a train argument, and nothing else is
    assert set(f.name for f in dataclasses.fields(RunOptions)) | {"epochs", "batch_size"} == set(params[1:-1])
    assert list(inspect.signature(Recipe.evaluate).parameters)[:4] == ["self", "weights", "data_dir", "split"]
    assert list(inspect.signature(Recipe.sample).parameters)[:5] == ["self", "weights", "n", "label", "output"]
    for field, value in (("Run", ("trainer", "history", "metrics", "generator_path", "discriminator_path",
                                  "card_path", "run_dir", "files")),):
        assert tuple(f.name for f in dataclasses.fields(getattr(zoo, field))) == value


@pytest.mark.parametrize("name", ["pix2pix-facades", "cloud-removal-eurosat-plus", "dcgan-mnist"])
def test_cli_flags_map_one_to_one_onto_settings(name, capsys):
    parser, groups, flags = entry_parser("train", name)
    recipe = zoo.get(name)
    assert groups["recipe"] == [s.name for s in specs(recipe)]
    for spec in specs(recipe):
        assert flags[spec.name] == (spec.flag)
        assert spec.flag == "--" + spec.name.replace("_", "-")
    assert main(["train", name, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    for spec in specs(recipe) + specs(RunOptions) + [s for s in specs(recipe.Options) if "train" in s.uses]:
        assert spec.flag in text, spec.flag
    assert "(float; default 100.0)" in text or name != "pix2pix-facades"
    assert "--unconditional" in text or name != "dcgan-mnist"
    # a flag parses into its field, with its type
    values = vars(parser.parse_args(["--epochs", "3", "--batch-size", "5"]))
    assert values == {"epochs": 3, "batch_size": 5}


def test_cli_bool_flags_and_their_negatives():
    parser, _, _ = entry_parser("train", "dcgan-mnist")
    assert vars(parser.parse_args(["--unconditional"])) == {"conditional": False}
    assert vars(parser.parse_args(["--conditional", "--jit-compile"])) == {"conditional": True, "jit_compile": True}
    assert vars(parser.parse_args(["--g-hidden", "8", "16"])) == {"g_hidden": [8, 16]}


def test_cli_errors_name_the_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "pix2pix-facades", "--synthetic", "--l1-weight", "-2"]) == 2
    assert capsys.readouterr().err.strip() == "error: --l1-weight -2.0 must be at least 0"
    assert main(["train", "cloud-removal-eurosat", "--synthetic", "--test-fraction", "1.5"]) == 2
    assert "error: --test-fraction 1.5 must be below 1" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "models") and not os.path.exists(tmp_path / "logs")


def test_unknown_data_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(Pix2GanError, match="unknown train option\\(s\\) n for pix2pix-facades: valid ones are "
                                           "download, synthetic, archive_sha256, h5, val_steps"):
        zoo.get("pix2pix-facades").train(logdir=str(tmp_path), n=3)
    assert not os.listdir(tmp_path)
    with pytest.raises(Pix2GanError, match="split='val' is not a split of dcgan-mnist"):
        zoo.get("dcgan-mnist").evaluate(str(tmp_path / "g.h5"), split="val")
    with pytest.raises(Pix2GanError, match="does not generate from noise"):
        zoo.get("pix2pix-facades").draw_samples(None, 4, None, 0)


def test_train_returns_a_run_and_the_card_round_trips(tmp_path, caplog):
    """The acceptance flow on the built-in data, with every setting away from its default."""
    settings = dict(image_size=32, filters=4, epochs=1, batch_size=2, direction="AtoB", upsampling="resize",
                    minibatch_discrimination=True, eval_mode="inference", l1_weight=50.0, ema_decay=0.5)
    recipe = zoo.get("pix2pix-facades", **settings)
    assert all(getattr(recipe, k) != s.default for k, s in {s.name: s for s in specs(recipe)}.items())
    with caplog.at_level(logging.INFO, logger="pix2gan"):
        run = recipe.train(logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"), run_name="r",
                           steps_per_epoch=2, verbose=0, synthetic=True, val_steps=2)
    assert run.generator_path == str(tmp_path / "models" / "r_generator.h5")
    assert run.discriminator_path == str(tmp_path / "models" / "r_discriminator.h5")
    assert run.card_path == str(tmp_path / "models" / "r_generator.json")
    assert run.run_dir == str(tmp_path / "logs" / "r") and os.path.isdir(run.run_dir)
    assert run.trainer.generator.input_shape == (None, 32, 32, 3)
    assert set(run.metrics) == {f"val_{m}_{mode}" for m in ("l1", "psnr", "ssim") for mode in ("paper", "inference")}
    assert len(run.history.history["g_loss"]) == 1
    assert "r_generator.h5" in caplog.text and "synthetic facades" in caplog.text

    again = zoo.from_card(run.card_path)
    assert again == recipe and type(again) is type(recipe)
    for spec in specs(recipe):
        assert getattr(again, spec.name) == getattr(recipe, spec.name), spec.name
    card = json.load(open(run.card_path))
    assert card["entry"] == "pix2pix-facades" and card["settings"]["l1_weight"] == 50.0
    assert card["run"]["steps_per_epoch"] == 2 and card["run"]["run_name"] == "r"
    assert card["options"]["val_steps"] == 2 and card["data"].startswith("synthetic facades")
    assert set(card["versions"]) >= {"pix2gan", "tensorflow", "keras", "numpy"}
    assert card["metrics"] == pytest.approx(run.metrics)
    markdown = open(tmp_path / "models" / "r_generator.md").read()
    assert "l1_weight: 50.0" in markdown and "upsampling: resize" in markdown
    # the .md and .h5 paths next to the card work too, and evaluate scores the saved generator
    assert zoo.from_card(str(tmp_path / "models" / "r_generator.h5")) == recipe
    scores = zoo.get("pix2pix-facades").evaluate(run.generator_path, split="val", synthetic=True)
    assert scores["images"] == 16 and 0 < scores["psnr"] < 60 and scores["eval_mode"] == "paper"


def test_from_card_reads_cards_written_before_the_contract(tmp_path):
    old = {"entry": "dcgan-mnist", "data": "x", "recipe": {"name": "dcgan-mnist", "arch": "dcgan", "latent_dim": 100,
                                                          "conditional": False, "filters": 32, "g_hidden": [],
                                                          "norm": None}, "epochs": 10}
    (tmp_path / "old_generator.json").write_text(json.dumps(old))
    recipe = zoo.from_card(str(tmp_path / "old_generator.json"))
    assert recipe.conditional is False and recipe.filters == 32 and recipe.epochs == 10
    (tmp_path / "bad_generator.json").write_text("{not json")
    with pytest.raises(Pix2GanError, match="is not readable JSON"):
        zoo.from_card(str(tmp_path / "bad_generator.json"))
    with pytest.raises(Pix2GanError, match="does not exist"):
        zoo.from_card(str(tmp_path / "none_generator.json"))


def test_missing_data_falls_back_to_the_synthetic_set_with_a_note(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    recipe = zoo.get("cloud-removal-eurosat")
    options = recipe.options("train", {})
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        source = recipe.resolve_source(None, options)
    assert source.kind == "synthetic" and "no eurosat data found in datasets/eurosat" in caplog.text
    (tmp_path / "datasets" / "eurosat" / "AnnualCrop").mkdir(parents=True)
    assert recipe.resolve_source(None, options).path == os.path.join("datasets", "eurosat")
    assert recipe.resolve_source("elsewhere", options).path == "elsewhere"
    assert recipe.resolve_source("elsewhere", recipe.options("train", {"synthetic": True})).kind == "synthetic"


def _library_files():
    root = os.path.join(REPO, "pix2gan")
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, name), REPO)


def test_the_library_speaks_python():
    """No argparse, sys.argv or bare print below the CLI; no imports inside functions; no private Keras."""
    for path in _library_files():
        if path == os.path.join("pix2gan", "cli.py"):
            continue
        tree = ast.parse(open(os.path.join(REPO, path)).read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m == "argparse" for m in modules), f"{path}:{node.lineno} imports argparse"
                assert not any(m.startswith("keras.src") for m in modules), f"{path}:{node.lineno} private Keras"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                raise AssertionError(f"{path}:{node.lineno} prints; log through logging.getLogger('pix2gan')")
            if isinstance(node, ast.Attribute) and node.attr == "argv":
                raise AssertionError(f"{path}:{node.lineno} reads sys.argv")
            if isinstance(node, ast.Attribute) and node.attr == "_flatten_layers":
                raise AssertionError(f"{path}:{node.lineno} uses a private Keras API")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    assert not isinstance(inner, (ast.Import, ast.ImportFrom)), \
                        f"{path}:{inner.lineno} imports inside a function"


def test_pix2gan_zoo_is_reachable_from_the_package():
    assert pix2gan.zoo is zoo and callable(pix2gan.zoo.get)  # the acceptance command's spelling
