"""`pix2gan serve`: the page run as the command runs it (a subprocess on a free loopback port) and
driven over HTTP with gradio_client, Gradio's documented client, and in headless Chromium (Debian's
``chromium`` through Playwright's Python package; skipped, with the reason, where it is missing).

The generators are tiny convolutional nets built here, so the servers start in seconds.
``PIX2GAN_SCREENSHOTS=docs/images PIX2GAN_SCREENSHOT_MODEL=<run>_generator.h5`` also writes the
README's screenshot of the page (``test_screenshot``), with the cloudy-fields example.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import keras
import numpy as np
import pytest
from conftest import REPO, one_line_error
from PIL import Image

from pix2gan.cli import main
from pix2gan.modelcheck import inspect_model
from pix2gan.saving import load_model
from pix2gan.data.clouds import synthesize_clouds
from pix2gan.data.synthetic import synthetic_facades, synthetic_satellite_tiles
from pix2gan.serve import EXAMPLE_SEEDS, ImageTranslator, write_examples

gradio_client = pytest.importorskip("gradio_client", reason="gradio_client (with gradio, the [serve] extra) is not "
                                                             "installed: pip install -r requirements.txt")
from gradio_client import Client, handle_file  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UPLOAD_MB = 1.0  # the servers' caps, small so the tests can exceed them cheaply
MEGAPIXELS = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m pix2gan serve`` in a subprocess, with its own working folder and TMPDIR."""

    def __init__(self, model: str, root, *flags):
        self.work, self.tmp = root / "work", root / "tmp"
        self.work.mkdir()
        self.tmp.mkdir()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(root / "server.log", "w+")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, TMPDIR=str(self.tmp))
        self.proc = subprocess.Popen([sys.executable, "-m", "pix2gan", "serve", "--model", model, "--port",
                                      str(self.port), *flags], cwd=self.work, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 180.0) -> "Server":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"the server did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def client(self, downloads) -> Client:
        return Client(self.url, download_files=str(downloads), analytics_enabled=False, verbose=False)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny generators saved as .h5: any-size RGB -> RGB (tanh), 64x64 fixed (sigmoid), an MNIST-style
    conditional latent generator, and a discriminator."""
    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(y)
    keras.Model(x, y).save(folder / "any_generator.h5")
    x = keras.Input((64, 64, 3))
    keras.Model(x, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)).save(folder / "fixed.h5")
    z, label = keras.Input((16,)), keras.Input((1,), dtype="int32")
    e = keras.layers.Flatten()(keras.layers.Embedding(10, 16)(label))
    h = keras.layers.Dense(28 * 28, activation="tanh")(keras.layers.Concatenate()([z, e]))
    keras.Model([z, label], keras.layers.Reshape((28, 28, 1))(h)).save(folder / "cgan_generator.h5")
    x = keras.Input((32, 32, 3))
    keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x))).save(folder / "discriminator.h5")
    return folder


@pytest.fixture(scope="module")
def image_server(models, tmp_path_factory):
    """The image page, with tiles of 64 px (so a 300x200 upload is tiled) and small caps."""
    server = Server(str(models / "any_generator.h5"), tmp_path_factory.mktemp("image_server"), "--tile", "64",
                    "--max-upload-mb", str(UPLOAD_MB), "--max-megapixels", str(MEGAPIXELS))
    yield server.wait()
    server.stop()


@pytest.fixture(scope="module")
def latent_server(models, tmp_path_factory):
    """The sampling page of a conditional MNIST-style generator."""
    server = Server(str(models / "cgan_generator.h5"), tmp_path_factory.mktemp("latent_server"))
    yield server.wait()
    server.stop()


def _png(path, image) -> str:
    """Write an RGB(A) or grayscale array as a PNG."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA)
    cv2.imwrite(str(path), image)
    return str(path)


def _photo(h, w, seed=0) -> np.ndarray:
    """A smooth test picture (compresses well, unlike noise)."""
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    return np.stack([(127 + 120 * np.sin(xx / (9 + 4 * rng.random()) + yy / (13 + 5 * c))) for c in range(3)],
                    -1).astype(np.uint8)


def _expected(models, image) -> np.ndarray:
    """The any-size model run on the whole image in one pass, as the page should show it."""
    model = keras.models.load_model(models / "any_generator.h5", compile=False)
    y = np.asarray(model(image[None].astype(np.float32) / 127.5 - 1.0, training=False))[0]
    return np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _rejected(client, path, *needles):
    with pytest.raises(Exception) as info:
        client.predict(handle_file(path), api_name="/translate")
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return str(info.value)


def test_http_upload_returns_the_models_output_at_the_input_size(image_server, models, tmp_path):
    client = image_server.client(tmp_path / "downloads")
    picture = _photo(200, 300)
    out_path, status = client.predict(handle_file(_png(tmp_path / "in.png", picture)), api_name="/translate")
    out = cv2.imread(out_path)[..., ::-1]
    assert out.shape == (200, 300, 3)
    assert "in.png: 300x200 -> 300x200" in status and "tiled, 64-px tiles" in status and " ms " in status
    # the tiles blend back into the whole-image output (the net sees 2 px each side; the tile margin is 8)
    assert np.abs(out.astype(int) - _expected(models, picture).astype(int)).max() <= 1


def test_bad_uploads_get_a_message_and_the_server_keeps_answering(image_server, tmp_path):
    client = image_server.client(tmp_path / "downloads")
    good = _png(tmp_path / "good.png", _photo(40, 56))
    (tmp_path / "notes.png").write_text("not an image at all")
    cases = [
        (str(tmp_path / "notes.png"), ("notes.png", "is not an image file pix2gan reads")),
        (_png(tmp_path / "gray.png", _photo(40, 40)[..., 0]), ("gray.png is grayscale (1 channel(s))",
                                                              "convert it to RGB")),
        (_png(tmp_path / "clear.png", np.dstack([_photo(40, 40), np.full((40, 40), 90, np.uint8)])),
         ("clear.png is RGBA with transparency",)),
        (_png(tmp_path / "huge.png", np.zeros((1000, 800, 3), np.uint8)), ("huge.png is 800x1000 (0.8 megapixels)",
                                                                          "cap of 0.5")),
    ]
    for path, needles in cases:
        _rejected(client, path, *needles)
        out_path, status = client.predict(handle_file(good), api_name="/translate")
        assert cv2.imread(out_path).shape == (40, 56, 3) and status.startswith("good.png: 56x40 -> 56x40")
    # an opaque alpha band is dropped, not refused
    opaque = _png(tmp_path / "opaque.png", np.dstack([_photo(40, 40), np.full((40, 40), 255, np.uint8)]))
    assert cv2.imread(client.predict(handle_file(opaque), api_name="/translate")[0]).shape == (40, 40, 3)
    # over the upload cap: Gradio refuses the file before it reaches the model
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    big = _png(tmp_path / "big.png", noise)
    assert os.path.getsize(big) > UPLOAD_MB * 1024 * 1024
    with pytest.raises(Exception) as info:
        client.predict(handle_file(big), api_name="/translate")
    assert "413" in str(info.value) or "maximum" in str(info.value).lower(), str(info.value)
    out_path, _ = client.predict(handle_file(good), api_name="/translate")
    assert cv2.imread(out_path).shape == (40, 56, 3)
    assert image_server.proc.poll() is None


@pytest.mark.slow
def test_latent_page_samples_a_chosen_label(latent_server, tmp_path):
    client = latent_server.client(tmp_path / "downloads")
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(api) == {"/sample"}
    label = api["/sample"]["parameters"][0]
    assert label["component"] == "Dropdown" and "'7'" in str(label["type"])  # the label picker offers 0-9
    grid_path, status = client.predict("7", 10, 3, api_name="/sample")
    grid = cv2.imread(grid_path)
    # 10 digits of 28 px in 8 columns, 2 px padding: 2 rows -> (62, 242), shown at 2x (longer side >= 280 px)
    assert grid.shape == (62 * 2, 242 * 2, 3)
    assert status.startswith("10 samples of label 7 (seed 3)")
    again, _ = client.predict("7", 10, 3, api_name="/sample")
    assert np.array_equal(cv2.imread(again), grid)  # the seed fixes the samples
    with pytest.raises(Exception, match="Value 500 is greater than maximum value 100"):  # Gradio checks the slider
        client.predict("all", 500, 0, api_name="/sample")
    assert cv2.imread(client.predict("all", 20, 0, api_name="/sample")[0]) is not None


def test_fixed_size_model_tiles_large_images_and_resizes_small_ones(models):
    model = load_model(str(models / "fixed.h5"))
    translator = ImageTranslator(model, inspect_model(model))
    for (h, w), how in (((64, 64), "one pass"), ((100, 150), "tiled, 64-px tiles"),
                        ((30, 50), "resized to the model's 64x64 and back")):
        ok, data = cv2.imencode(".png", _photo(h, w))
        result = translator(data.tobytes(), "x.png")
        assert result.image.shape == (h, w, 3) and result.image.dtype == np.uint8
        assert result.status.startswith(f"x.png: {w}x{h} -> {w}x{h} in ") and result.status.endswith(f"({how})")


def _eurosat_folder(root, per_class=(("AnnualCrop", 18), ("River", 9))):
    """A EuroSAT-shaped folder: each tile is a flat colour coding its class and number."""
    for cls, count in per_class:
        (root / cls).mkdir(parents=True)
        for n in range(1, count + 1):
            colour = (10 * n, 200 if cls == "River" else 40, 255 - 10 * n)
            _png(root / cls / f"{cls}_{n}.png", np.full((64, 64, 3), colour, np.uint8))
    return root


def _clouded(clear, seed, kind):
    """What the examples should hold: ``clear`` uint8 under :func:`synthesize_clouds`."""
    cloudy, _ = synthesize_clouds(clear[None].astype(np.float32) / 255.0, seed, kind)
    return np.clip(np.rint(np.asarray(cloudy[0]) * 255.0), 0, 255)


def test_examples_are_made_from_the_given_eurosat_tiles_in_order(tmp_path):
    folder = _eurosat_folder(tmp_path / "eurosat")
    paths = write_examples(str(tmp_path / "examples"), str(folder))
    assert [os.path.basename(p) for p in paths] == ["cloudy_fields.jpg", "cloudy_river.jpg", "facade_labels.png"]
    fields, river, labels = (cv2.imread(p)[..., ::-1].astype(np.float32) for p in paths)
    # the mosaic holds AnnualCrop_1 ... AnnualCrop_16 row by row (natural order, not AnnualCrop_10 after _1)
    tiles = [np.full((64, 64, 3), (10 * n, 40, 255 - 10 * n), np.uint8) for n in range(1, 17)]
    mosaic = np.concatenate([np.concatenate(tiles[r * 4:r * 4 + 4], 1) for r in range(4)], 0)
    lexical = [tiles[n - 1] for n in sorted(range(1, 17), key=str)]  # 1, 10, 11, ..., 16, 2, ...
    wrong = np.concatenate([np.concatenate(lexical[r * 4:r * 4 + 4], 1) for r in range(4)], 0)
    assert fields.shape == (256, 256, 3)
    error = np.mean(np.abs(fields - _clouded(mosaic, EXAMPLE_SEEDS["thick"], "thick")))  # JPEG's loss
    assert error < 4.0 < 2 * error < np.mean(np.abs(fields - _clouded(wrong, EXAMPLE_SEEDS["thick"], "thick")))
    assert np.mean(np.abs(fields - mosaic)) > 10.0  # and the clouds are on it
    seventh = np.full((64, 64, 3), (70, 200, 185), np.uint8)  # River_7
    assert river.shape == (64, 64, 3) and np.mean(np.abs(river - _clouded(seventh, EXAMPLE_SEEDS["thin"], "thin"))) < 4.0
    assert np.array_equal(labels, synthetic_facades(1, seed=3)[1][0])  # PNG: exact


def test_examples_fall_back_to_synthetic_tiles_and_refuse_a_folder_without_eurosat(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no datasets/eurosat here
    first = [open(p, "rb").read() for p in write_examples(str(tmp_path / "a"))]
    again = [open(p, "rb").read() for p in write_examples(str(tmp_path / "b"))]
    assert first == again  # the same examples every start
    tiles, classes = synthetic_satellite_tiles(16, seed=0)
    river = cv2.imread(str(tmp_path / "a" / "cloudy_river.jpg"))[..., ::-1].astype(np.float32)
    assert np.mean(np.abs(river - _clouded(tiles[classes == 8][6], EXAMPLE_SEEDS["thin"], "thin"))) < 4.0
    for folder, needle in ((tmp_path / "nothing", "nothing does not exist"),
                           (_eurosat_folder(tmp_path / "fields", (("AnnualCrop", 16),)), "River is missing")):
        error = one_line_error(lambda: write_examples(str(tmp_path / "c"), str(folder)), needle, "--eurosat-dir")
        assert "--data-dir" not in str(error) and error.argument == "eurosat_dir"
    few = _eurosat_folder(tmp_path / "few", (("AnnualCrop", 16), ("River", 6)))
    one_line_error(lambda: write_examples(str(tmp_path / "c"), str(few)), "--eurosat-dir", "too few tiles", "7 River")


def test_serve_refuses_what_is_not_a_generator_in_one_line(models, monkeypatch, capsys):
    # serve() sets these for Gradio; monkeypatch puts them back afterwards
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unused")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    assert main(["serve", "--model", str(models / "discriminator.h5"), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: --model") and "is a discriminator" in err, err
    assert main(["serve", "--model", str(models / "any_generator.h5"), "--port", "0"]) == 2
    assert "--port 0 must be from 1 to 65535" in capsys.readouterr().err
    assert main(["serve", "--model", str(models / "any_generator.h5"), "--tile", "50"]) == 2
    assert "--tile 50 must be a positive multiple of 16" in capsys.readouterr().err


def _browser(playwright):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it where it can)")
    # Playwright's own browser download cannot work here: drive Debian's chromium; as root it needs --no-sandbox
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def _offline_page(browser, width=1100, height=760):
    """A page that may reach the loopback server only: every other request is refused and recorded."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()
    page.route("**/*", route)
    return page, outside


def _wait_for_output(page, name, timeout_ms=60000):
    """Wait until the status names ``name`` and the output image has loaded; return its size."""
    page.wait_for_function("name => { const s = document.querySelector('#status');"
                           " const i = document.querySelector('#output img');"
                           " return s && s.innerText.includes(name + ':') && i && i.complete && i.naturalWidth > 0; }",
                           arg=name, timeout=timeout_ms)
    return page.eval_on_selector("#output img", "i => [i.naturalWidth, i.naturalHeight]")


def _open(page, url):
    page.goto(url)
    page.wait_for_selector("#input input[type=file]", state="attached", timeout=60000)


def test_browser_uploads_an_image_and_shows_the_output(image_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")
    picture = _png(tmp_path / "street.png", _photo(150, 230, seed=4))
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page, outside = _offline_page(browser)
            _open(page, image_server.url)
            # the examples made at the start are offered; picking one runs it
            # the gallery renders after the upload box; expect() waits for it where count() would not
            for name in ("cloudy_fields", "cloudy_river", "facade_labels"):
                sync_api.expect(page.locator(f"img[src*='{name}']")).to_have_count(1, timeout=60000)
            page.locator("img[src*='cloudy_river']").click()
            assert _wait_for_output(page, "cloudy_river.jpg") == [64, 64]
            # a bad upload: its message is shown and the page goes on working
            page.locator("#input input[type=file]").set_input_files(_png(tmp_path / "gray.png", _photo(30, 30)[..., 0]))
            page.get_by_text("gray.png is grayscale (1 channel(s)) but the model takes 3").first.wait_for(timeout=60000)
            page.locator("#input input[type=file]").set_input_files(picture)
            assert _wait_for_output(page, "street.png") == [230, 150]
            assert "street.png: 230x150 -> 230x150 in " in page.inner_text("#status")
            page.screenshot(path=str(tmp_path / "serve.png"))
            assert outside == []  # the page works offline: nothing but the local server was asked for
        finally:
            browser.close()


def test_nothing_is_written_outside_the_temporary_folder(image_server, models):
    """Run after the other image-page tests: stops the server and checks what it left behind."""
    assert os.listdir(image_server.work) == []  # the working folder stays empty
    assert sorted(os.listdir(models)) == ["any_generator.h5", "cgan_generator.h5", "discriminator.h5", "fixed.h5"]
    temp = glob.glob(str(image_server.tmp / "pix2gan-serve-*"))
    assert len(temp) == 1 and os.listdir(temp[0])  # uploads and outputs went there
    assert set(os.listdir(image_server.tmp)) == {os.path.basename(temp[0])}
    assert image_server.stop() == 0
    assert os.listdir(image_server.tmp) == []  # and it is removed when the server stops
    assert "serving" in open(image_server.log.name).read()


@pytest.mark.skipif(not os.environ.get("PIX2GAN_SCREENSHOTS"), reason="README screenshot: set PIX2GAN_SCREENSHOTS="
                    "DIR and PIX2GAN_SCREENSHOT_MODEL=<a trained image-to-image generator>")
def test_screenshot(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    server = Server(os.environ["PIX2GAN_SCREENSHOT_MODEL"], tmp_path).wait()
    try:
        example = next(p for p in write_examples(str(tmp_path / "examples")) if "cloudy_fields" in p)
        with sync_api.sync_playwright() as playwright:
            browser = _browser(playwright)
            page, _ = _offline_page(browser, 1000, 700)
            _open(page, server.url)
            page.locator("#input input[type=file]").set_input_files(example)
            _wait_for_output(page, os.path.basename(example), timeout_ms=300000)
            page.wait_for_timeout(500)
            out = os.path.join(os.environ["PIX2GAN_SCREENSHOTS"], "serve.png")
            page.screenshot(path=out)
            browser.close()
        # a palette PNG keeps the committed file small
        image = cv2.imread(out)
        Image.fromarray(image[..., ::-1]).quantize(128).save(out, optimize=True)
        assert os.path.getsize(out) < 150_000
    finally:
        server.stop()
