"""A local page to try a saved generator: ``pix2gan serve`` (Gradio, the optional ``[serve]`` extra).

:func:`build_app` reads what the model is (:func:`pix2gan.modelcheck.inspect_model`) and lays out
one of two pages:

- an image-to-image generator: upload an image (or pick one of the examples :func:`write_examples`
  makes when the server starts) and see it beside the output with the inference time. An image at
  least as large as a fixed-size model's input, or any image for a model of any input size, goes
  through the tiled path (:func:`pix2gan.tiling.remove_clouds`), so large scenes work in bounded
  memory; a smaller one is resized to the model's input and back.
- a latent (MNIST-style) generator: a label picker (conditional models), a count, a seed and a
  sample button showing the grid.

Uploads larger than ``max_upload_mb`` are refused by Gradio before they reach the model; files
that are not images, images over ``max_megapixels`` (read from the header before decoding) and
wrong channel counts get a one-line message, and the page keeps serving. Gradio keeps uploads and
outputs, and TensorFlow its autograph sources, in one temporary folder of the server's own,
removed when it stops; nothing else is written. Analytics are off and the page needs no network access.
"""
from __future__ import annotations

import importlib
import io
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from .data.clouds import synthesize_clouds
from .data.eurosat import CLASSES, eurosat_files, read_tiles
from .data.eurosat import DEFAULT_DIR as DEFAULT_EUROSAT_DIR
from .data.synthetic import synthetic_facades, synthetic_satellite_tiles
from .errors import Pix2GanError
from .imaging import decode_image, tile_batch, to_uint8, write_image
from .inference import iter_layers
from .modelcheck import ModelKind, inspect_model
from .predict import traced_inference
from .saving import load_model
from .tiling import ANY_SIZE_TILE, SIDE_MULTIPLE, remove_clouds, value_scale
from .trainers.latent import sample_generator

logger = logging.getLogger("pix2gan")

HOST = "127.0.0.1"
PORT = 8000
MAX_UPLOAD_MB = 25.0  # a 16-bit 2048x2048 RGB TIFF is 24 MiB
MAX_MEGAPIXELS = 16.8  # 4096 x 4096
MAX_SAMPLES = 100
EXAMPLE_FIELDS, EXAMPLE_RIVER = "AnnualCrop", "River"  # the EuroSAT classes of the two cloudy examples
EXAMPLE_SEEDS = {"thick": (2, 0), "thin": (5, 0)}  # synthesize_clouds seeds of the examples
DISPLAY_MIN_SIDE = 280  # MNIST grids are scaled up (nearest) to at least this many pixels for the page


def _example_tiles(eurosat_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(the first 16 AnnualCrop tiles, the 7th River tile, where they came from): from
    ``eurosat_dir`` (which must hold EuroSAT), else ``datasets/eurosat`` where it does, else the
    built-in synthetic tiles."""
    folder = eurosat_dir or DEFAULT_EUROSAT_DIR
    if eurosat_dir or os.path.isdir(os.path.join(folder, CLASSES[0])):
        fix = "pass --eurosat-dir pointing at the EuroSAT RGB folder holding AnnualCrop/ Forest/ ... River/"
        files = eurosat_files(folder, (EXAMPLE_FIELDS, EXAMPLE_RIVER), fix, fix, argument="eurosat_dir")
        if len(files[EXAMPLE_FIELDS]) < 16 or len(files[EXAMPLE_RIVER]) < 7:
            raise Pix2GanError(f"--eurosat-dir {folder} holds too few tiles for the examples (16 {EXAMPLE_FIELDS}, "
                               f"7 {EXAMPLE_RIVER}): pass the whole EuroSAT RGB folder", argument="eurosat_dir")
        fields, river = read_tiles(files[EXAMPLE_FIELDS][:16], resize=True), read_tiles(files[EXAMPLE_RIVER][6:7],
                                                                                       resize=True)
        return fields, river[0], f"EuroSAT tiles in {folder}"
    tiles, labels = synthetic_satellite_tiles(16, seed=0)
    return (tiles[labels == CLASSES.index(EXAMPLE_FIELDS)], tiles[labels == CLASSES.index(EXAMPLE_RIVER)][6],
            "built-in synthetic tiles")


def write_examples(folder: str, eurosat_dir: str | None = None) -> list[str]:
    """Write the image page's example inputs into ``folder``; returns their paths, sorted by name.

    - ``cloudy_fields.jpg``: 16 AnnualCrop tiles as a 256x256 mosaic under thick synthetic cloud;
    - ``cloudy_river.jpg``: a River tile (64x64) under thin cloud;
    - ``facade_labels.png``: a facade label map drawn by :func:`synthetic_facades` (seed 3).

    The tiles come from ``eurosat_dir`` (the folder holding AnnualCrop/ ... River/), else from
    ``datasets/eurosat`` where it holds EuroSAT, else from the built-in synthetic tiles; the clouds
    from :func:`synthesize_clouds` at fixed seeds, so the same tiles always give the same examples.
    """
    fields, river, source = _example_tiles(eurosat_dir)
    mosaic = tile_batch(fields, 4, pad=0)
    cloudy_fields, _ = synthesize_clouds(mosaic[None].astype(np.float32) / 255.0, EXAMPLE_SEEDS["thick"], "thick")
    cloudy_river, _ = synthesize_clouds(river[None].astype(np.float32) / 255.0, EXAMPLE_SEEDS["thin"], "thin")
    _, labels = synthetic_facades(1, seed=3)
    paths = [write_image(os.path.join(folder, "cloudy_fields.jpg"), to_uint8(cloudy_fields[0], (0.0, 1.0))),
             write_image(os.path.join(folder, "cloudy_river.jpg"), to_uint8(cloudy_river[0], (0.0, 1.0))),
             write_image(os.path.join(folder, "facade_labels.png"), labels[0])]
    logger.info("serve: examples made from %s in %s", source, folder)
    return sorted(paths)


def label_classes(generator: keras.Model) -> int | None:
    """How many labels a conditional generator's label embedding takes (None without one)."""
    sizes = [layer.input_dim for layer in iter_layers(generator) if isinstance(layer, keras.layers.Embedding)]
    return sizes[0] if len(sizes) == 1 else None


def _to_display(image: np.ndarray, scale: float) -> np.ndarray:
    """An 8-bit copy of ``image`` (values in [0, ``scale``]) for the page; one band stays grayscale."""
    out = np.clip(np.rint(np.asarray(image, np.float32) * (255.0 / scale)), 0, 255).astype(np.uint8)
    return out[..., 0] if out.ndim == 3 and out.shape[-1] == 1 else out


@dataclass
class Result:
    """What one request gives the page: the output image (uint8) and a one-line status."""
    image: np.ndarray | None
    status: str


class ImageTranslator:
    """Runs an image-to-image generator on uploaded image bytes (see the module doc)."""

    def __init__(self, model: keras.Model, found: ModelKind, tile: int | None = None,
                 max_megapixels: float = MAX_MEGAPIXELS):
        self.model = model
        self.found = found
        (self.height, self.width, self.channels) = found.inputs[0]
        self.out_channels = found.outputs[0][-1]
        self.tile = tile
        self.max_pixels = int(max_megapixels * 1e6)

    def _check_pixels(self, w: int, h: int, name: str) -> None:
        if w * h > self.max_pixels:
            raise Pix2GanError(f"upload {name} is {w}x{h} ({w * h / 1e6:.1f} megapixels), over this server's cap of "
                               f"{self.max_pixels / 1e6:g}: crop or downscale it (or restart the server with a "
                               "larger --max-megapixels)")

    def read(self, data: bytes, name: str) -> np.ndarray:
        """Decode an upload, refusing oversized, non-image and wrongly banded files by name."""
        try:
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                w, h = header.size
        except Image.DecompressionBombError:
            raise Pix2GanError(f"upload {name} has more pixels than Pillow will open: send at most "
                               f"{self.max_pixels / 1e6:g} megapixels") from None
        except Exception:  # not a format Pillow knows: decode_image below names the problem
            w = h = 0
        self._check_pixels(w, h, name)
        image = decode_image(data, name)
        if image.ndim == 2:
            image = image[..., None]
        self._check_pixels(image.shape[1], image.shape[0], name)
        if image.shape[-1] == 4 and self.channels == 3:
            full = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
            if np.all(image[..., 3] == full):
                image = image[..., :3]  # an opaque alpha band (common in PNGs) carries nothing
        found = image.shape[-1]
        if found != self.channels:
            what = "RGBA with transparency" if found == 4 and self.channels == 3 else \
                {1: "grayscale", 3: "RGB", 4: "RGBA"}.get(found, f"{found}-channel")
            want = "RGB" if self.channels == 3 else f"{self.channels}-channel"
            raise Pix2GanError(f"upload {name} is {what} ({found} channel(s)) but the model takes {self.channels}: "
                               f"convert it to {want}")
        return image

    def _direct(self, unit: np.ndarray) -> np.ndarray:
        """One pass on a [0, 1] image: resized to a fixed-size model's input and back, or
        mirror-padded to a multiple of the sides an any-size model takes and cropped."""
        lo, hi = self.found.value_range
        h, w = unit.shape[:2]
        if self.height is not None:
            x = tf.image.resize(unit, (self.height, self.width)).numpy() if (h, w) != (self.height, self.width) \
                else unit
        else:
            x = np.pad(unit, ((0, -h % SIDE_MULTIPLE), (0, -w % SIDE_MULTIPLE), (0, 0)), mode="symmetric")
        y = np.asarray(traced_inference(self.model)(tf.constant(x[None] * (hi - lo) + lo)))[0]
        y = (y - lo) / (hi - lo)
        return tf.image.resize(y, (h, w)).numpy() if self.height is not None and y.shape[:2] != (h, w) else y[:h, :w]

    def __call__(self, data: bytes, name: str) -> Result:
        image = self.read(data, name)
        h, w = image.shape[:2]
        scale = value_scale(image, f"upload {name}")
        fixed = self.height is not None
        tiled = self.out_channels == self.channels and (
            not fixed or (self.height == self.width and h >= self.height and w >= self.width))
        start = time.perf_counter()
        if tiled:
            tile = self.height if fixed else (self.tile or ANY_SIZE_TILE)
            # one tile per call: a batch would be padded to its full size, wasting work on small images
            out = remove_clouds(image, self.model, tile=tile, batch_size=1, verbose=False)
            how = f"tiled, {tile}-px tiles" if max(h, w) > tile else "one pass"
            display = _to_display(out, scale)
        else:
            out = self._direct(image.astype(np.float32) / scale)
            how = (f"resized to the model's {self.width}x{self.height} and back" if fixed and (h, w) !=
                   (self.height, self.width) else "one pass")
            display = _to_display(out, 1.0)
        seconds = time.perf_counter() - start
        return Result(display, f"{name}: {w}x{h} -> {display.shape[1]}x{display.shape[0]} in {seconds * 1000:.0f} ms "
                               f"({how})")


class LatentSampler:
    """Draws a grid of samples from a latent (noise [+ label]) generator."""

    def __init__(self, model: keras.Model, found: ModelKind):
        self.model = model
        self.found = found
        self.classes = (label_classes(model) or 10) if found.conditional else 0

    def __call__(self, label, n, seed) -> Result:
        n = int(n)
        seed = int(seed)
        if not 1 <= n <= MAX_SAMPLES:
            raise Pix2GanError(f"n {n} must be from 1 to {MAX_SAMPLES} samples")
        if seed < 0:
            raise Pix2GanError(f"seed {seed} must be a whole number >= 0")
        labels, columns = None, 8
        if self.classes:
            if label in (None, "", "all"):
                labels, columns = np.arange(n) % self.classes, min(self.classes, 10)
            else:
                labels = int(label)
                if not 0 <= labels < self.classes:
                    raise Pix2GanError(f"label {label} must be from 0 to {self.classes - 1}")
        start = time.perf_counter()
        images = sample_generator(self.model, n, labels, seed=seed)
        seconds = time.perf_counter() - start
        grid = tile_batch(to_uint8(images, self.found.value_range), min(columns, n))
        grid = np.repeat(np.repeat(grid, -(-DISPLAY_MIN_SIDE // max(grid.shape[:2])), 0),
                         -(-DISPLAY_MIN_SIDE // max(grid.shape[:2])), 1)
        which = "" if not self.classes else (" of every label" if labels is not None and np.ndim(labels) else
                                             f" of label {labels}")
        return Result(grid, f"{n} samples{which} (seed {seed}) in {seconds * 1000:.0f} ms")


def _payload_file(payload) -> tuple[bytes, str] | None:
    """The bytes and original name of an uploaded file (Gradio's FileData, unprocessed)."""
    if not payload:
        return None
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)
    name = (payload.get("orig_name") if isinstance(payload, dict) else getattr(payload, "orig_name", None)) or \
        os.path.basename(path or "upload")
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read(), name


def _gradio():
    """The gradio module. Imported on first use, not with this module: it is the optional [serve]
    extra, and importing it costs seconds that no other pix2gan command should pay."""
    try:
        return importlib.import_module("gradio")
    except ImportError:
        raise Pix2GanError("pix2gan serve needs Gradio, which is not installed: pip install 'pix2gan[serve]' "
                           "(or pip install gradio)") from None


def build_app(model: str | keras.Model, *, tile: int | None = None, max_megapixels: float = MAX_MEGAPIXELS,
              examples_dir: str | None = None, eurosat_dir: str | None = None):
    """The Gradio ``Blocks`` page for a saved generator path (or a model); see the module doc.

    With ``examples_dir``, the image page offers the examples :func:`write_examples` writes there
    (from ``eurosat_dir``'s tiles where given); without it, the page offers none.

    Refuses anything that is not an image-to-image or latent generator in one line. The page's
    API: ``/translate`` (an image file -> output image, status) or ``/sample`` (label, n, seed ->
    grid, status). A bad request is answered with its one-line message as a Gradio error: shown on
    the page, raised by an API client.
    """
    if tile is not None and (tile < SIDE_MULTIPLE or tile % SIDE_MULTIPLE):
        raise Pix2GanError(f"--tile {tile} must be a positive multiple of {SIDE_MULTIPLE}", argument="tile")
    if not max_megapixels > 0:
        raise Pix2GanError(f"--max-megapixels {max_megapixels} must be positive", argument="max_megapixels")
    name = model if isinstance(model, str) else getattr(model, "name", "model")
    generator = load_model(model) if isinstance(model, str) else model
    found = inspect_model(generator)
    if found.kind not in ("image-to-image generator", "latent generator"):
        raise Pix2GanError(f"--model {name} is {found.describe()}, but serve needs a generator (image-to-image or "
                           "noise -> image): pass <run>_generator.h5", argument="model")
    gr = _gradio()
    title = f"pix2gan: {os.path.basename(name)}"
    # delete_cache: files older than an hour are removed every ten minutes, so a long-running server does not grow
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(f"## {title}\n{found.describe()}")
        if found.kind == "image-to-image generator":
            translator = ImageTranslator(generator, found, tile, max_megapixels)

            def translate(payload):
                upload = _payload_file(payload)
                if upload is None:
                    return None, ""
                try:
                    result = translator(*upload)
                except Pix2GanError as exc:  # the page shows it; the API client gets it as an error
                    logger.warning("serve: %s", exc)
                    raise gr.Error(str(exc), print_exception=False) from None
                logger.info("serve: %s", result.status)
                return result.image, result.status

            with gr.Row():
                source = gr.Image(label="input", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                  elem_id="input", buttons=["fullscreen"])
                output = gr.Image(label="output", format="png", interactive=False, elem_id="output",
                                  buttons=["download", "fullscreen"])
            with gr.Row():
                button = gr.Button("Translate", variant="primary")
            status = gr.Markdown(elem_id="status")
            if examples_dir:
                examples = write_examples(examples_dir, eurosat_dir)
                gr.Examples(examples=[[p] for p in examples], inputs=[source], label="examples")
            # change: an upload, a pasted image or a picked example runs at once (a cleared input clears the
            # output); preprocess=False: the handler reads the file itself and names what is wrong with it
            gr.on(triggers=[source.change, button.click], fn=translate, inputs=[source], outputs=[output, status],
                  preprocess=False, api_name="translate")
        else:
            sampler = LatentSampler(generator, found)

            def sample(label, n, seed):
                try:
                    result = sampler(label, n, seed)
                except Pix2GanError as exc:
                    raise gr.Error(str(exc), print_exception=False) from None
                logger.info("serve: %s", result.status)
                return result.image, result.status

            with gr.Row():
                with gr.Column(scale=1):
                    label = gr.Dropdown(["all"] + [str(k) for k in range(sampler.classes)], value="all",
                                        label="label", visible=bool(sampler.classes), elem_id="label")
                    count = gr.Slider(1, MAX_SAMPLES, value=40 if sampler.classes else 32, step=1, label="samples")
                    seed = gr.Number(0, precision=0, minimum=0, label="seed")
                    button = gr.Button("Sample", variant="primary")
                grid = gr.Image(label="samples", format="png", interactive=False, scale=2, elem_id="output",
                                buttons=["download", "fullscreen"])
            status = gr.Markdown(elem_id="status")
            button.click(sample, inputs=[label, count, seed], outputs=[grid, status], api_name="sample")
    return app


def serve(model: str, host: str = HOST, port: int = PORT, *, tile: int | None = None,
          max_upload_mb: float = MAX_UPLOAD_MB, max_megapixels: float = MAX_MEGAPIXELS,
          eurosat_dir: str | None = None, block: bool = True):
    """Serve the page of :func:`build_app` on ``http://host:port`` (loopback by default) until
    interrupted. The examples (:func:`write_examples`, from ``eurosat_dir``'s tiles where given),
    uploads and outputs live in a temporary folder removed at the end; analytics,
    share links and server-side rendering are off. With ``block=False`` the server runs in the
    background and ``(app, url, temp_dir)`` is returned (close with ``app.close()``). Gradio fixes
    some of its temporary paths when first imported, so call this before anything imports gradio
    (as the command line does)."""
    if not max_upload_mb > 0:
        raise Pix2GanError(f"--max-upload-mb {max_upload_mb} must be positive", argument="max_upload_mb")
    if not 0 < port < 65536:
        raise Pix2GanError(f"--port {port} must be from 1 to 65535", argument="port")
    # set before Gradio is first imported: it reads both then (its temporary folder is a module constant)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    temp = tempfile.mkdtemp(prefix="pix2gan-serve-")
    os.environ["GRADIO_TEMP_DIR"] = temp
    keep = False  # the temporary folder outlives this call only for a server left running (block=False)
    # TensorFlow's autograph writes its generated sources to the temporary folder (making the examples,
    # and while the server runs): this one, so that they go when it does
    system_temp, tempfile.tempdir = tempfile.tempdir, temp
    try:
        app = build_app(model, tile=tile, max_megapixels=max_megapixels, examples_dir=os.path.join(temp, "examples"),
                        eurosat_dir=eurosat_dir)
        _, url, _ = app.launch(server_name=host, server_port=port, share=False, show_error=True, quiet=True,
                               max_file_size=int(max_upload_mb * 1024 * 1024), ssr_mode=False,
                               prevent_thread_lock=True, footer_links=["api"])
        logger.info("serving %s on %s (uploads up to %g MB; temporary files in %s); Ctrl+C stops it", model, url,
                    max_upload_mb, temp)
        if not block:
            keep = True
            return app, url, temp
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # a terminated server cleans up as after Ctrl+C
        app.block_thread()  # returns at Ctrl+C (or SIGTERM)
        app.close()
    finally:
        tempfile.tempdir = system_temp
        if not keep:
            shutil.rmtree(temp, ignore_errors=True)
    return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt
