"""Windowed raster I/O: peak memory and time of tiled inference over a large synthetic GeoTIFF.

    python bench/raster.py                          # 4096x4096, 13 uint16 bands, tile 512
    python bench/raster.py --size 8192 --bands 13   # a larger scene: the peak should not move
    python bench/raster.py --baseline DIR           # also the same 3-band scene through another
                                                    # checkout's pix2gan (e.g. `git archive` of the
                                                    # commit before rasterio) for the old OpenCV path

A Sentinel-2-like GeoTIFF (UTM CRS, 10 m pixels, bands B1 ... B12 with B8A, nodata 0 on a border,
DEFLATE tiles of 256) is written window by window, so making it never holds the scene either.
Each case runs in a fresh subprocess (its own peak RSS, ``ru_maxrss``) with a tiny any-size
generator (3x3 convolutions 3 -> 8 -> 3), so the time is mostly reading, tiling and writing:

- ``13-band``: ``remove_clouds(scene.tif, model, out.tif)``, picking B4, B3, B2, written as a
  tiled GeoTIFF by windows;
- ``13-band, --cog`` (with ``--cog``): the same, written as a Cloud-Optimised GeoTIFF (a tiled
  GeoTIFF copied by GDAL's COG driver, overviews included);
- ``3-band``: the same pixels as a 3-band uint16 GeoTIFF (what the old OpenCV path could read);
- ``3-band, baseline``: that file through ``--baseline``'s ``remove_clouds`` (whole-scene read,
  memory-mapped TIFF output).

``RSS before`` is the process after importing TensorFlow and tracing the model once; the rise
above it is what the scene costs.

Measured on 2 CPU cores shared with other jobs (``--cog --baseline`` with ``git archive`` of the
commit before rasterio; RSS before about 810 MB in every case):

| scene (uint16) | scene MB, all bands | seconds | MP/s | peak RSS rise MB |
|---|---:|---:|---:|---:|
| 4096x4096, 13 bands | 416 | 22.8 | 0.73 | 310 |
| 4096x4096, 13 bands, --cog | 416 | 36.7 | 0.46 | 327 |
| 4096x4096, 3 bands | 96 | 16.1 | 1.04 | 274 |
| 4096x4096, 3 bands, baseline | 96 | 20.5 | 0.82 | 428 |
| 8192x8192, 13 bands (``--size 8192``) | 1664 | 63.1 | 1.06 | 483 |
| 8192x8192, 3 bands | 384 | 65.2 | 1.03 | 489 |
| 8192x8192, 3 bands, baseline | 384 | 65.7 | 1.02 | 1254 |

Four times the pixels raise the windowed path's memory 1.6x (row buffers grow with the width,
GDAL's cache is capped at 128 MB) and the baseline's 2.9x (the whole scene in, a memory-mapped
scene out). With GDAL's cache at 1200 MB (``GDAL_CACHEMAX=1200``, about its default of 5% of
RAM here) the 4096x4096 13-band run rose 605 MB against 310 / 327 MB capped, in 12.6 s against
12.3 / 11.7 s (a quieter moment of the machine than the table's). Times are equal within the
run-to-run noise of the shared cores.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def make_scene(path: str, size: int, bands: int, rows: int = 256) -> None:
    """A synthetic ``size`` x ``size`` uint16 product of ``bands`` bands, written ``rows`` rows at a time."""
    profile = dict(driver="GTiff", height=size, width=size, count=bands, dtype="uint16", crs="EPSG:32633",
                   transform=Affine(10.0, 0.0, 499980.0, 0.0, -10.0, 4600020.0), nodata=0, tiled=True,
                   blockxsize=256, blockysize=256, compress="deflate", bigtiff="IF_SAFER")
    if bands == 3:
        profile["photometric"] = "rgb"  # what OpenCV (the baseline's reader) needs to see three channels
    rng = np.random.default_rng(0)
    xx = np.arange(size) / 97.0
    with rasterio.open(path, "w", **profile) as ds:
        for i in range(bands):
            ds.set_band_description(i + 1, S2_BANDS[i] if bands == 13 else ("B4", "B3", "B2")[i] if bands == 3
                                    else f"b{i + 1}")
        for y in range(0, size, rows):
            n = min(rows, size - y)
            yy = (np.arange(y, y + n) / 131.0)[:, None]
            base = 3000 + 2000 * np.sin(xx)[None] * np.cos(yy) + rng.normal(0, 200, (n, size))
            block = np.stack([base + 150 * b for b in range(bands)])
            block = np.clip(block, 1, 10000).astype(np.uint16)
            block[:, :, :size // 20] = 0  # a nodata strip on the west side, as at a swath edge
            ds.write(block, window=Window(0, y, size, n))


def _case(scene: str, out: str, tile: int, cog: bool) -> dict:
    """Run in the subprocess: trace once, then time ``remove_clouds`` over ``scene``."""
    # imported here, in the subprocess, from the checkout on its PYTHONPATH (this one or --baseline)
    import keras  # noqa: PLC0415

    from pix2gan.tiling import remove_clouds  # noqa: PLC0415
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x))
    remove_clouds(np.zeros((tile, tile, 3), np.uint16), model, tile=tile, verbose=False)  # trace once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    remove_clouds(scene, model, out, tile=tile, verbose=False, **({"cog": True} if cog else {}))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "before_mb": before,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_case(scene: str, out: str, tile: int, pythonpath: str, cog: bool = False) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=pythonpath)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", scene, out, str(tile), str(int(cog))],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--bands", type=int, default=13)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--cog", action="store_true", help="also the first scene written as a Cloud-Optimised GeoTIFF")
    parser.add_argument("--baseline", help="a pix2gan checkout to run the 3-band scene through as well")
    parser.add_argument("--workdir", help="where the scenes go (default a temporary folder, removed)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="pix2gan_raster_")
    os.makedirs(work, exist_ok=True)
    scenes = {f"{args.bands}-band": (os.path.join(work, f"scene{args.bands}.tif"), args.bands),
              "3-band": (os.path.join(work, "scene3.tif"), 3)}
    for path, bands in scenes.values():
        if not os.path.exists(path):
            start = time.perf_counter()
            make_scene(path, args.size, bands)
            print(f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MB on disk) in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    cases = [(name, path, bands, ROOT, False) for name, (path, bands) in scenes.items()]
    if args.cog:
        cases.insert(1, (f"{args.bands}-band, --cog", scenes[f"{args.bands}-band"][0], args.bands, ROOT, True))
    if args.baseline:
        cases.append(("3-band, baseline", scenes["3-band"][0], 3, os.path.abspath(args.baseline), False))
    for name, path, bands, pythonpath, cog in cases:
        out = os.path.join(work, f"out_{len(rows)}.tif")
        result = run_case(path, out, args.tile, pythonpath, cog)
        os.remove(out)
        raw = args.size * args.size * bands * 2 / 2**20
        rows.append((name, raw, result))
        print(f"{name}: {json.dumps(result)}", flush=True)
    mp = args.size * args.size / 1e6
    print(f"\n## tiled inference over a {args.size}x{args.size} uint16 scene (tile {args.tile}, tiny generator, "
          f"{os.cpu_count()} CPUs)\n")
    print("| scene | scene MB (all bands) | RGB MB | seconds | MP/s | RSS before MB | peak RSS MB | rise MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, raw, r in rows:
        rgb = args.size * args.size * 3 * 2 / 2**20
        print(f"| {name} | {raw:.0f} | {rgb:.0f} | {r['seconds']:.1f} | {mp / r['seconds']:.2f} | "
              f"{r['before_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} |")
    if not args.workdir:
        for path, _ in scenes.values():
            os.remove(path)
        os.rmdir(work)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--case":
        print(json.dumps(_case(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1")))
    else:
        main()
