"""Fuzz every loader and `translate` with mutated files: how many are read, refused, crash or hang.

    python bench/fuzz.py [--n 300] [--seed 0] [--timeout 30]

Valid seed files of each type (JPEG, PNG, TIFF, h5, idx, npy; a few variants each: grayscale,
16-bit, float, progressive, gzipped...) are mutated (bit flips, overwritten, inserted, deleted or
duplicated byte runs, truncation, trailing bytes, damaged headers; half the PNGs get their chunk
checksums recomputed so the damage reaches the decoder), and every mutant goes through
each loader that takes its type:

- images: ``read_image``; the Facades pipeline (the upfront check, then one batch through
  ``tf.data``, where undecodable files used to fail mid-training); EuroSAT ``read_tiles``;
  ``translate_folder`` and ``translate_tiled`` (``pix2gan translate`` with and without ``--tile``);
- h5: the Facades and MNIST .h5 readers and the EuroSAT cache, and ``translate --model`` (the
  mutant as a saved model);
- idx: ``read_idx`` and the MNIST folder reader;
- npy: ``read_scene`` (:mod:`pix2gan.raster`) and tiled inference on it.

Outcomes: *read* (the loader returned), *refused* (:class:`pix2gan.errors.Pix2GanError`, the
one-line ``error:``), *crashed* (any other exception, or the process died) and *hung* (no answer
within the timeout). The loaders run in a worker process, so a crash or hang is counted and the
worker restarted instead of ending the run.

Measured on a 2-core CPU (shared), `python bench/fuzz.py`: 300 files, 1150 loader runs, 24 s:

| type | files | loader | read | refused | crashed | hung |
|---|---:|---|---:|---:|---:|---:|
| jpeg | 50 | read_image | 18 | 32 | 0 | 0 |
| jpeg | 50 | facades | 13 | 37 | 0 | 0 |
| jpeg | 50 | eurosat | 13 | 37 | 0 | 0 |
| jpeg | 50 | translate | 13 | 37 | 0 | 0 |
| jpeg | 50 | translate_tiled | 13 | 37 | 0 | 0 |
| png | 50 | read_image | 0 | 50 | 0 | 0 |
| png | 50 | facades | 0 | 50 | 0 | 0 |
| png | 50 | eurosat | 0 | 50 | 0 | 0 |
| png | 50 | translate | 0 | 50 | 0 | 0 |
| png | 50 | translate_tiled | 0 | 50 | 0 | 0 |
| tiff | 50 | read_image | 4 | 46 | 0 | 0 |
| tiff | 50 | facades | 0 | 50 | 0 | 0 |
| tiff | 50 | eurosat | 1 | 49 | 0 | 0 |
| tiff | 50 | translate | 4 | 46 | 0 | 0 |
| tiff | 50 | translate_tiled | 4 | 46 | 0 | 0 |
| h5 | 50 | facades_h5 | 7 | 43 | 0 | 0 |
| h5 | 50 | mnist_h5 | 3 | 47 | 0 | 0 |
| h5 | 50 | eurosat_cache | 28 | 22 | 0 | 0 |
| h5 | 50 | translate_model | 1 | 49 | 0 | 0 |
| idx | 50 | read_idx | 5 | 45 | 0 | 0 |
| idx | 50 | mnist_idx | 5 | 45 | 0 | 0 |
| npy | 50 | read_scene | 20 | 30 | 0 | 0 |
| npy | 50 | translate_tiled | 19 | 31 | 0 | 0 |
| all | 300 | all | 171 | 979 | 0 | 0 |

`--n 1200 --seed 1` (4600 loader runs, 76 s): 702 read, 3898 refused, 0 crashed, 0 hung. PNG
mutants are all refused: libpng checks chunk CRCs and the zlib stream, and OpenCV agrees on all
but a few. The TIFF seeds include a 5-band Sentinel-2-like GeoTIFF (UTM CRS, nodata, DEFLATE
tiles), which OpenCV cannot read as an image: ``translate_tiled`` reads TIFF through GDAL
(rasterio), window by window, and every damaged file it cannot read is a one-line error naming
it. TIFF is refused up front in the Facades pipeline, whose TensorFlow decoder cannot read it.
Of 300 JPEG mutants, 16 decode with OpenCV but not with TensorFlow: the files that used to pass
the OpenCV check and then fail mid-training.
"""
from __future__ import annotations

import gzip
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import rasterio.io  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from pix2gan.data.eurosat import load_eurosat, read_tiles  # noqa: E402
from pix2gan.data.facades import load_facades, load_facades_h5  # noqa: E402
from pix2gan.data.mnist import read_idx, read_mnist_h5, read_mnist_idx  # noqa: E402
from pix2gan.errors import Pix2GanError  # noqa: E402
from pix2gan.evaluation import translate_folder, translate_tiled  # noqa: E402
from pix2gan.imaging import read_image  # noqa: E402
from pix2gan.raster import read_scene  # noqa: E402

TYPES = ("jpeg", "png", "tiff", "h5", "idx", "npy")
OUTCOMES = ("read", "refused", "crashed", "hung")
LOADERS = {
    "jpeg": ("read_image", "facades", "eurosat", "translate", "translate_tiled"),
    "png": ("read_image", "facades", "eurosat", "translate", "translate_tiled"),
    "tiff": ("read_image", "facades", "eurosat", "translate", "translate_tiled"),
    "h5": ("facades_h5", "mnist_h5", "eurosat_cache", "translate_model"),
    "idx": ("read_idx", "mnist_idx"),
    "npy": ("read_scene", "translate_tiled"),
}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "h5": ".h5", "idx": "", "npy": ".npy"}
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ------------------------------------------------------------------ seeds and mutations (no TensorFlow)
def _idx(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    head = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.tobytes()


def _geotiff(pair: np.ndarray) -> bytes:
    """A Sentinel-2-like GeoTIFF: 5 uint16 bands named B2, B3, B4, B8, B11, a UTM CRS, nodata 0 in the
    first rows, 16-px DEFLATE tiles (what the rasterio path of ``translate --tile`` reads)."""
    bands = np.concatenate([pair, pair[..., :2]], axis=-1).transpose(2, 0, 1).astype(np.uint16) * 40 + 1
    bands[:, :3] = 0
    with rasterio.io.MemoryFile() as memory:
        with memory.open(driver="GTiff", height=32, width=64, count=5, dtype="uint16", crs="EPSG:32633",
                         transform=Affine(10, 0, 500000, 0, -10, 4600000), nodata=0, tiled=True, blockxsize=16,
                         blockysize=16, compress="deflate") as ds:
            ds.write(bands)
            for i, name in enumerate(("B2", "B3", "B4", "B8", "B11"), 1):
                ds.set_band_description(i, name)
        return memory.read()


def make_seeds(folder: str) -> dict[str, list[str]]:
    """Valid files of every type under ``folder`` (small, so each loader runs in milliseconds)."""
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:32, 0:64]
    pair = np.stack([(xx * 4) % 256, (yy * 8) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)  # photo | map
    seeds: dict[str, list[str]] = {t: [] for t in TYPES}

    def put(kind, name, data):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        seeds[kind].append(path)

    bgr = pair[..., ::-1]
    put("jpeg", "base.jpg", cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    put("jpeg", "progressive.jpg", cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
    put("jpeg", "gray.jpg", cv2.imencode(".jpg", pair[..., 0])[1].tobytes())
    put("png", "base.png", cv2.imencode(".png", bgr)[1].tobytes())
    put("png", "deep.png", cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes())
    put("png", "rgba.png", cv2.imencode(".png", np.dstack([bgr, np.full((32, 64), 200, np.uint8)]))[1].tobytes())
    put("tiff", "base.tif", cv2.imencode(".tif", bgr)[1].tobytes())
    put("tiff", "deep.tif", cv2.imencode(".tif", bgr.astype(np.uint16) * 257)[1].tobytes())
    put("tiff", "float.tif", cv2.imencode(".tif", bgr.astype(np.float32) / 255)[1].tobytes())
    put("tiff", "geo.tif", _geotiff(pair))
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    put("idx", "images.idx", _idx(images))
    put("idx", "labels.idx", _idx(labels))
    put("idx", "images.idx.gz", gzip.compress(_idx(images), mtime=0))
    put("npy", "scene_u8.npy", b"")
    np.save(seeds["npy"][-1], pair)
    put("npy", "scene_f32.npy", b"")
    np.save(seeds["npy"][-1], pair.astype(np.float32) / 255)
    put("npy", "scene_u16.npy", b"")
    np.save(seeds["npy"][-1], pair.astype(np.uint16) * 257)
    with h5py.File(os.path.join(folder, "facades.h5"), "w") as h5:
        for split in ("train", "val", "test"):
            h5[f"{split}_data_full"] = np.stack([pair[:, :32]] * 2).transpose(0, 3, 1, 2)
            h5[f"{split}_data_sketch"] = np.stack([pair[:, 32:]] * 2).transpose(0, 3, 1, 2)
    seeds["h5"].append(os.path.join(folder, "facades.h5"))
    with h5py.File(os.path.join(folder, "mnist.h5"), "w") as h5:
        for split in ("train", "test"):
            h5.create_dataset(f"x_{split}", data=images, compression="gzip")
            h5[f"y_{split}"] = labels
    seeds["h5"].append(os.path.join(folder, "mnist.h5"))
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inp))
    model.save(os.path.join(folder, "generator.h5"))  # a saved generator, for translate --model
    seeds["h5"].append(os.path.join(folder, "generator.h5"))
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random damages to ``data`` (never returns it unchanged)."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(out)
        op = rng.integers(0, 9)
        at = int(rng.integers(0, max(n, 1)))
        if op == 0 and n:  # flip a few bits
            for pos in rng.integers(0, n, int(rng.integers(1, 9))):
                out[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and n:  # overwrite a run with random bytes
            run = int(rng.integers(1, 17))
            out[at:at + run] = rng.integers(0, 256, run, dtype=np.uint8).tobytes()
        elif op == 2:  # truncate
            del out[max(1, at):]
        elif op == 3:  # insert random bytes
            out[at:at] = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        elif op == 4:  # delete a run
            del out[at:at + int(rng.integers(1, 65))]
        elif op == 5 and n:  # duplicate a run
            run = bytes(out[at:at + int(rng.integers(1, 257))])
            out[at:at] = run
        elif op == 6:  # bytes after the end (valid files followed by junk must still be read)
            out += rng.integers(0, 256, int(rng.integers(1, 129)), dtype=np.uint8).tobytes()
        elif op == 7 and n:  # damage the header, where sizes and types live
            head = min(n, 64)
            for pos in rng.integers(0, head, int(rng.integers(1, 4))):
                out[pos] = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, int(rng.integers(0, 256))]))
        elif n:  # a run of 0x00 or 0xFF
            out[at:at + int(rng.integers(1, 33))] = bytes([int(rng.choice([0, 255]))]) * int(rng.integers(1, 33))
    if bytes(out) == data:
        out += b"\0"
    return bytes(out)


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC, so the damage reaches the PNG decoder instead of stopping at
    the first checksum."""
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos:pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = zlib.crc32(bytes(out[pos + 4:end])).to_bytes(4, "big")
        pos = end + 4
    return bytes(out)


def make_mutants(folder: str, n: int, seed: int, seeds: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``n`` mutants spread evenly over the types: [(type, path)]."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = []
    for k in range(n):
        kind = TYPES[k % len(TYPES)]
        source = seeds[kind][(k // len(TYPES)) % len(seeds[kind])]
        data = mutate(open(source, "rb").read(), rng)
        if kind == "png" and k % 2:  # half the PNGs get valid checksums over their damage
            data = fix_png_crcs(data)
        name = os.path.basename(source).split(".")[0]
        path = os.path.join(folder, f"{k:04d}_{name}{EXTENSIONS[kind] or '.idx'}")
        if source.endswith(".gz"):
            path += ".gz"
        with open(path, "wb") as f:
            f.write(data)
        out.append((kind, path))
    return out


# ------------------------------------------------------------------ the worker: runs one loader on one file
def _worker(workdir: str) -> None:
    """Answer JSON jobs ``[loader, type, path]`` from stdin with ``[outcome, error]`` lines."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the libraries print goes to stderr, never into the protocol
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x))
    good_images = os.path.join(workdir, "good_images")
    os.makedirs(good_images, exist_ok=True)
    shutil.copy(os.path.join(workdir, "seeds", "base.png"), good_images)
    idx_good = {name: os.path.join(workdir, "seeds", "images.idx" if "images" in name else "labels.idx")
                for name in IDX_NAMES}
    eurosat_root = os.path.join(workdir, "eurosat")
    os.makedirs(os.path.join(eurosat_root, "Forest"), exist_ok=True)
    cv2.imwrite(os.path.join(eurosat_root, "Forest", "Forest_1.png"), np.full((64, 64, 3), 90, np.uint8))
    cv2.imwrite(os.path.join(eurosat_root, "Forest", "Forest_2.png"), np.full((64, 64, 3), 160, np.uint8))

    def fresh(name):
        folder = os.path.join(workdir, "jobs", name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        return folder

    def run(loader, kind, path):
        ext = os.path.splitext(path)[1]
        if loader == "read_image":
            read_image(path)
        elif loader == "facades":
            root = fresh("facades")
            os.makedirs(os.path.join(root, "train"))
            shutil.copy(path, os.path.join(root, "train", "1" + ext))
            for batch in load_facades(root, "train", image_size=16, batch_size=1, training=False):
                np.asarray(batch[0])
        elif loader == "eurosat":
            read_tiles([path], resize=True)
        elif loader == "translate":
            folder = fresh("translate_in")
            shutil.copy(path, folder)
            translate_folder(model, folder, fresh("translate_out"), verbose=False)
        elif loader == "translate_tiled":
            translate_tiled(model, path, fresh("tiled_out"), tile=16, verbose=False)
        elif loader == "facades_h5":
            for batch in load_facades_h5(path, "train", image_size=16, batch_size=1, training=False):
                np.asarray(batch[0])
        elif loader == "mnist_h5":
            read_mnist_h5(path, "train")
        elif loader == "eurosat_cache":
            cache = os.path.join(fresh("cache"), "cache.h5")
            shutil.copy(path, cache)
            load_eurosat(eurosat_root, ["Forest"], 0.5, cache=cache)
        elif loader == "translate_model":
            translate_folder(path, good_images, fresh("model_out"), resize=True, verbose=False)
        elif loader == "read_idx":
            read_idx(path)
        elif loader == "mnist_idx":
            folder = fresh("idx")
            target = IDX_NAMES[0] if "images" in os.path.basename(path) else IDX_NAMES[1]
            for name, good in idx_good.items():
                shutil.copy(path if name == target else good, os.path.join(folder, name + (".gz" if name == target
                                                                                         and path.endswith(".gz")
                                                                                         else "")))
            read_mnist_idx(folder, "train")
        elif loader == "read_scene":
            read_scene(path)
        else:
            raise ValueError(f"unknown loader {loader}")

    for line in sys.stdin:
        loader, kind, path = json.loads(line)
        try:
            run(loader, kind, path)
            answer = ["read", ""]
        except Pix2GanError as exc:
            answer = ["refused", str(exc)]
        except Exception as exc:  # what the fuzz test looks for: any other exception is a crash
            answer = ["crashed", f"{type(exc).__name__}: {exc}"[:300] + "\n" + traceback.format_exc()[-1500:]]
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


class _Worker:
    """A worker process; restarted after it dies or hangs."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.proc = None

    def start(self):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", self.workdir],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, text=True, bufsize=1)

    def ask(self, job, timeout: float) -> tuple[str, str]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return "hung", f"no answer in {timeout:g} s"
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return "crashed", f"the process died (exit status {code})"
        outcome, error = json.loads(line)
        return outcome, error

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def run_fuzz(n: int = 300, seed: int = 0, timeout: float = 60.0, workdir: str | None = None) -> dict:
    """Fuzz ``n`` mutated files (spread over JPEG, PNG, TIFF, h5, idx, npy) through every loader.

    Returns ``{"n", "seed", "seconds", "files": {type: count}, "outcomes": {type: {loader:
    {outcome: count}}}, "totals": {outcome: count}, "failures": [{type, loader, file, outcome,
    error}], "refusals": [{type, loader, file, error}]}`` where failures lists every crash and hang
    and refusals every one-line error. The first job also waits for the worker
    to import TensorFlow, hence the generous ``timeout``.
    """
    start = time.perf_counter()
    own = workdir is None
    workdir = tempfile.mkdtemp(prefix="pix2gan_fuzz_") if own else workdir
    worker = _Worker(workdir)
    try:
        seeds = make_seeds(os.path.join(workdir, "seeds"))
        mutants = make_mutants(os.path.join(workdir, "mutants"), n, seed, seeds)
        outcomes = {t: {loader: dict.fromkeys(OUTCOMES, 0) for loader in LOADERS[t]} for t in TYPES}
        failures, refusals = [], []
        for kind, path in mutants:
            for loader in LOADERS[kind]:
                outcome, error = worker.ask([loader, kind, path], timeout)
                outcomes[kind][loader][outcome] += 1
                if outcome == "refused":
                    refusals.append({"type": kind, "loader": loader, "file": os.path.basename(path), "error": error})
                if outcome in ("crashed", "hung"):
                    failures.append({"type": kind, "loader": loader, "file": os.path.basename(path),
                                     "outcome": outcome, "error": error})
    finally:
        worker.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    totals = {o: sum(c[o] for per in outcomes.values() for c in per.values()) for o in OUTCOMES}
    files = {t: sum(1 for k, _ in mutants if k == t) for t in TYPES}
    return {"n": n, "seed": seed, "seconds": round(time.perf_counter() - start, 1), "files": files,
            "outcomes": outcomes, "totals": totals, "failures": failures, "refusals": refusals}


def markdown(result: dict) -> str:
    lines = [f"{result['n']} mutated files (seed {result['seed']}), {sum(result['totals'].values())} loader runs, "
             f"{result['seconds']} s", "",
             "| type | files | loader | read | refused | crashed | hung |", "|---|---:|---|---:|---:|---:|---:|"]
    for kind, per in result["outcomes"].items():
        for loader, counts in per.items():
            lines.append(f"| {kind} | {result['files'][kind]} | {loader} | "
                         + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    t = result["totals"]
    lines.append(f"| all | {result['n']} | all | " + " | ".join(str(t[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
        sys.exit(0)
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="mutated files (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a loader counts as hung")
    parser.add_argument("--show", type=int, default=5, help="crashes / hangs to print (default 5)")
    args = parser.parse_args()
    result = run_fuzz(args.n, args.seed, args.timeout)
    print(markdown(result))
    for failure in result["failures"][:args.show]:
        print(f"\n{failure['outcome']}: {failure['loader']} on {failure['file']} ({failure['type']}):\n{failure['error']}")
