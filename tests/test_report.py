"""`pix2gan report`: the run page (card, every epoch's metrics, plots, sample grids, links) read from
the TensorBoard event files, resumed and damaged runs, the comparison page, the command line, and
(slow tier) the report every training run writes at its end.

``PIX2GAN_SCREENSHOTS=docs/images PIX2GAN_SCREENSHOT_RUN=logs/<run>`` also writes the README's
screenshot of a report (``test_screenshot``).
"""
import json
import logging
import os
import shutil
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pix2gan import zoo
from pix2gan.cli import main
from pix2gan.report import read_run, write_comparison, write_report
from pix2gan.zoo import recipe as recipe_module

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    """The links, images and tables (lists of rows of cell texts) of a page."""

    def __init__(self, text):
        super().__init__()
        self.links, self.images, self.tables, self._row, self._cell = [], [], [], None, None
        self.feed(text)

    @property
    def rows(self):
        return [row for table in self.tables for row in table]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.tables[-1].append(self._row)
            self._row = None

    def table(self, first_header):
        """The table whose header row starts with ``first_header`` (header row first)."""
        return next(table for table in self.tables if table and table[0][0] == first_header)


def _read(path):
    with open(path) as f:
        return _Page(f.read())


def _log(folder, values, start_step=0, tag_prefix="epoch_"):
    """Write ``{name: [value per step]}`` as scalars to a new event file in ``folder``."""
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for name, series in values.items():
            for step, value in enumerate(series, start_step):
                tf.summary.scalar(tag_prefix + name, value, step=step)
    writer.close()


def _make_run(root, name="r", epochs=3, seed=0):
    """A run folder as fit_gan leaves it, with its saved files and card."""
    rng = np.random.default_rng(seed)
    run_dir, models = root / "logs" / name, root / "models"
    train = {"g_loss": rng.uniform(1, 50, epochs).tolist(), "d_loss": rng.uniform(0, 2, epochs).tolist()}
    val = {"psnr": rng.uniform(10, 30, epochs).tolist()}
    _log(run_dir / "train", train)
    _log(run_dir / "validation", val)
    _log(run_dir / "test", {"test/psnr": [21.5]}, tag_prefix="")  # logged once: not an epoch metric
    samples = run_dir / "samples"
    samples.mkdir(parents=True)
    writer = tf.summary.create_file_writer(str(samples))
    for epoch in range(1, epochs + 1):
        grid = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
        cv2.imwrite(str(samples / f"epoch_{epoch:04d}.png"), grid)
        with writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch)  # image summaries are not metrics
    writer.close()
    (run_dir / "backup").mkdir()
    models.mkdir(exist_ok=True)
    files = {"generator": str(models / f"{name}_generator.h5"),
             "generator_weights": str(models / f"{name}_generator.weights.h5"),
             "discriminator": str(models / f"{name}_discriminator.h5")}
    for path in files.values():
        open(path, "wb").write(b"x")
    card = {"card_version": 2, "entry": "pix2pix-facades", "summary": "pix2pix <b>test</b>",
            "settings": {"l1_weight": 100.0, "image_size": 256, "direction": "BtoA"},
            "run": {"steps_per_epoch": 4, "run_name": name, "seed": 0}, "options": {"synthetic": True},
            "data": "synthetic", "value_range": [-1.0, 1.0], "metrics": {"val_psnr_paper": 17.25},
            "versions": {"keras": "3"}, "files": files}
    card_path = models / f"{name}_generator.json"
    card_path.write_text(json.dumps(card))
    (models / f"{name}_generator.md").write_text("# card\n")
    return run_dir, card_path, train, val


def _shown(value: float) -> str:
    """How the page prints a number (4 decimals, trailing zeros dropped)."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _check_links(page_path):
    """Every link and image of the page resolves to an existing file or folder; returns the page."""
    page = _read(page_path)
    base = os.path.dirname(page_path)
    assert page.links and page.images
    for target in page.links + page.images:
        assert not target.startswith(("http:", "https:", "/")), target
        assert os.path.exists(os.path.join(base, target)), target
    return page


def test_report_lists_every_epoch_and_every_link_resolves(tmp_path):
    run_dir, card_path, train, val = _make_run(tmp_path)
    page_path = write_report(str(run_dir), str(card_path))
    assert page_path == str(run_dir / "report.html")
    page = _check_links(page_path)
    table = page.table("epoch")
    assert table[0] == ["epoch", "train/d_loss", "train/g_loss", "validation/psnr"]
    assert [row[0] for row in table[1:]] == ["1", "2", "3"]
    for epoch, row in enumerate(table[1:]):
        assert row[1:] == [_shown(train["d_loss"][epoch]), _shown(train["g_loss"][epoch]), _shown(val["psnr"][epoch])]
    assert ["test", "test/psnr", "0", "21.5"] in page.rows  # a scalar logged once is listed on its own
    # a plot per metric, a grid per epoch, every saved file, the card with every setting
    assert sorted(os.path.basename(p) for p in page.images if p.startswith("report/")) == \
        ["plot_d_loss.png", "plot_g_loss.png", "plot_psnr.png"]
    assert [p for p in page.images if p.startswith("samples/")] == [f"samples/epoch_{e:04d}.png" for e in (3, 2, 1)]
    linked = {os.path.basename(p) for p in page.links}
    assert {"r_generator.h5", "r_generator.weights.h5", "r_discriminator.h5", "r_generator.json",
            "r_generator.md"} <= linked
    for row in (["l1_weight", "100"], ["image_size", "256"], ["direction", "BtoA"], ["steps_per_epoch", "4"],
                ["val_psnr_paper", "17.25"]):
        assert row in page.rows, row
    html = open(page_path).read()
    assert "pix2pix &lt;b&gt;test&lt;/b&gt;" in html  # card text is escaped
    # the card is recorded, so the command finds it again without being told
    assert json.load(open(run_dir / "report" / "run.json"))["card"].endswith("r_generator.json")
    os.remove(page_path)
    write_report(str(run_dir))
    assert ["l1_weight", "100"] in _check_links(page_path).rows


def test_a_resumed_run_keeps_the_value_logged_last_and_a_damaged_file_is_read_up_to_the_damage(tmp_path, caplog):
    run_dir, _, train, _ = _make_run(tmp_path)
    # resumed from a backup inside epoch 2: epochs 2 and 3 are logged again, to a second event file
    _log(run_dir / "train", {"g_loss": [111.0, 222.0], "d_loss": [0.5, 0.25]}, start_step=1)
    log = read_run(str(run_dir))
    assert log.epochs["train/g_loss"] == {1: pytest.approx(train["g_loss"][0]), 2: 111.0, 3: 222.0}
    assert log.epoch_numbers() == [1, 2, 3]
    # a run killed while writing: the last record of a third event file is cut short
    _log(run_dir / "train", {"g_loss": [333.0, 444.0]}, start_step=3)
    last = sorted((run_dir / "train").iterdir())[-1]
    last.write_bytes(last.read_bytes()[:-7])
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        log = read_run(str(run_dir))
    assert log.epochs["train/g_loss"][4] == 333.0 and 5 not in log.epochs["train/g_loss"]
    assert "damaged" in caplog.text
    page = _check_links(write_report(str(run_dir)))
    assert [row[0] for row in page.table("epoch")[1:]] == ["1", "2", "3", "4"]


def test_report_of_a_run_without_card_or_samples(tmp_path):
    run_dir = tmp_path / "logs" / "bare"
    _log(run_dir / "train", {"loss": [3.0, 2.0]})
    page_path = write_report(str(run_dir))
    html = open(page_path).read()
    assert "no model card found" in html and "no sample grids" in html
    assert [row[1] for row in _read(page_path).table("epoch")[1:]] == ["3", "2"]


def test_compare_puts_runs_side_by_side(tmp_path, monkeypatch):
    a, _, train_a, val_a = _make_run(tmp_path, "a", epochs=3, seed=1)
    b, _, train_b, val_b = _make_run(tmp_path, "b", epochs=2, seed=2)
    write_report(str(a))
    monkeypatch.chdir(tmp_path)  # b's card is found as models/b_generator.json (a's from its report)
    page_path = write_comparison([str(a), str(b)])
    assert page_path == str(tmp_path / "logs" / "compare.html")
    page = _check_links(page_path)
    final = page.table("last logged value")
    assert final[0] == ["last logged value", "a", "b"]
    assert ["validation/psnr", _shown(val_a["psnr"][-1]), _shown(val_b["psnr"][-1])] in final
    assert ["train/g_loss", _shown(train_a["g_loss"][-1]), _shown(train_b["g_loss"][-1])] in final
    assert ["val_psnr_paper", "17.25", "17.25"] in page.rows
    assert sorted(os.path.basename(p) for p in page.images) == ["plot_d_loss.png", "plot_g_loss.png", "plot_psnr.png"]
    assert "a/report.html" in page.links  # a run with a report links to it


def test_cli_report(tmp_path, capsys):
    a, card, _, _ = _make_run(tmp_path, "a")
    b, _, _, _ = _make_run(tmp_path, "b")
    assert main(["report", str(a), "--card", str(card)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {a / 'report.html'}"
    out = tmp_path / "cmp" / "runs.html"
    assert main(["report", "--compare", str(a), str(b), "--output", str(out)]) == 0
    _check_links(str(out))
    for argv, needle in ((["report", str(tmp_path / "nope")], f"run folder {tmp_path / 'nope'} does not exist"),
                         (["report", str(a), str(b)], "add --compare"),
                         (["report", "--compare", str(a)], "--compare needs at least two run folders"),
                         (["report", "--compare", str(a), str(b), "--output", str(tmp_path / "x.txt")],
                          "must be an .html file name"),
                         (["report", str(a), "--card", str(tmp_path / "none.json")], "does not exist")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and needle in err, err


@pytest.mark.slow
def test_every_training_run_ends_with_its_report_and_a_failing_report_does_not_fail_the_run(tmp_path, monkeypatch,
                                                                                           caplog):
    recipe = zoo.get("pix2pix-facades", image_size=32, filters=4, epochs=2, batch_size=2)
    options = dict(logdir=str(tmp_path / "logs"), out=str(tmp_path / "models"), steps_per_epoch=2, verbose=0,
                   synthetic=True, val_steps=2)
    run = recipe.train(run_name="r", **options)
    page = _check_links(os.path.join(run.run_dir, "report.html"))
    table = page.table("epoch")
    header = table[0]
    for key, values in run.history.history.items():  # every metric of every epoch, as Keras logged it
        column = f"validation/{key[4:]}" if key.startswith("val_") else f"train/{key}"
        for epoch, value in enumerate(values):
            assert table[1 + epoch][header.index(column)] == _shown(value), (column, epoch)
    assert len(table) == 3 and [p for p in page.images if p.startswith("samples/")] == \
        ["samples/epoch_0002.png", "samples/epoch_0001.png"]
    assert {"r_generator.h5", "r_discriminator.h5", "r_generator.json"} <= {os.path.basename(p) for p in page.links}
    assert ["l1_weight", "100"] in page.rows

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(recipe_module, "write_report", broken)
    with caplog.at_level(logging.WARNING, logger="pix2gan"):
        run = recipe.replace(epochs=1).train(run_name="s", **{**options, "steps_per_epoch": 1})
    assert os.path.isfile(run.generator_path) and not os.path.exists(os.path.join(run.run_dir, "report.html"))
    assert "the run report could not be written (OSError: disk full)" in caplog.text


@pytest.mark.skipif(not os.environ.get("PIX2GAN_SCREENSHOTS"), reason="README screenshot: set PIX2GAN_SCREENSHOTS="
                    "DIR and PIX2GAN_SCREENSHOT_RUN=<a run folder>")
def test_screenshot():
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    page_path = write_report(os.environ["PIX2GAN_SCREENSHOT_RUN"])
    out = os.path.join(os.environ["PIX2GAN_SCREENSHOTS"], "report.png")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1180, "height": 860})
        page.goto("file://" + os.path.abspath(page_path))
        page.screenshot(path=out)
        browser.close()
    Image.open(out).convert("RGB").quantize(128).save(out, optimize=True)  # a palette PNG keeps it small
    assert os.path.getsize(out) < 150_000
