"""Benchmark: inference throughput of `translate` over a folder and of the tiled path, per batch
size and precision, against the machine's matmul rate measured in the same run.

    python bench/inference.py [--scene 2048] [--tile 256] [--images 48]

Rows:
- ``translate``: pix2pix-facades' U-Net (256x256, untrained weights: speed does not depend on
  them) over a folder of ``--images`` PNGs through :func:`pix2gan.evaluation.translate_folder`,
  decode and encode included: images/s and megapixels/s.
- ``tiled``: the cloud-removal reference U-Net (any input size) over a ``--scene`` square uint8
  scene through :func:`pix2gan.tiling.remove_clouds` with ``--tile`` tiles (a quarter overlap
  as the default is a half: the network then sees every output pixel away from tile edges), so
  more tiles than the scene's area: tiles/s, scene megapixels/s, and the network's achieved
  FLOP/s over the share of the matmul rate in the same precision (float32 or bf16).
- ``generator``: the same U-Net on a batch of 16 tiles alone (compiled call), the upper bound
  the tiled path approaches.

Measured 2026-12-02 on the quiet machine (`python bench/inference.py --scene 1024 --images 24
--batches 1 8`; matmul float32 318, bf16 1101 GFLOP/s):

| path | precision | batch | items/s | MP/s | GFLOP/s | share of the same precision's matmul |
|---|---|---:|---:|---:|---:|---:|
| translate (256 px, PNG in and out) | float32 | 1 | 7.39 | 0.48 | 89 | 28% |
| translate | float32 | 8 | 15.29 | 1.00 | 185 | 58% |
| translate | mixed_bfloat16 | 1 | 7.08 | 0.46 | 86 | 8% |
| translate | mixed_bfloat16 | 8 | 14.12 | 0.93 | 171 | 16% |
| tiled (256 px tiles, half overlap) | float32 | 1 | 7.98 | 0.17 | 193 | 61% |
| tiled | float32 | 8 | 9.43 | 0.20 | 228 | 72% |
| tiled | mixed_bfloat16 | 1 | 13.73 | 0.29 | 332 | 30% |
| tiled | mixed_bfloat16 | 8 | 15.33 | 0.33 | 370 | 34% |
| generator alone | float32 | 16 | 10.01 | 0.66 | 242 | 76% |
| generator alone | mixed_bfloat16 | 16 | 19.67 | 1.29 | 475 | 43% |

Batching doubles ``translate`` and lifts the tiled path from 61% to 72% of the float32 matmul
rate; bf16 speeds the tiled path up 1.6x (370 GFLOP/s, above the float32 matmul rate) but not
``translate`` at this size, where the mixed-precision copy and its trace are paid per call and
decoding and encoding take a larger share.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.run import forward_flops, matmul_rate  # noqa: E402
from pix2gan.evaluation import translate_folder  # noqa: E402
from pix2gan.imaging import write_image  # noqa: E402
from pix2gan.networks import build_reference_unet  # noqa: E402
from pix2gan.precision import inference_copy, unsupported_reason  # noqa: E402
from pix2gan.tiling import remove_clouds, tile_starts  # noqa: E402
from pix2gan.zoo.pix2pix_facades import build_pix2pix  # noqa: E402


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()

    precisions = ["float32"] + ([] if unsupported_reason("mixed_bfloat16") else ["mixed_bfloat16"])
    rates = {"float32": matmul_rate(tf.float32), "mixed_bfloat16": matmul_rate(tf.bfloat16)}
    print(f"matmul rate: float32 {rates['float32'] / 1e9:.0f} GFLOP/s, bf16 {rates['mixed_bfloat16'] / 1e9:.0f} "
          f"GFLOP/s (2048x2048, this run)", flush=True)
    print(f"{'path':<10} {'precision':<15} {'batch':>5} {'s':>7} {'items/s':>8} {'MP/s':>6} {'GFLOP/s':>8} "
          f"{'share':>6}", flush=True)

    keras.utils.set_random_seed(0)
    work = tempfile.mkdtemp(prefix="pix2gan-inference-")
    facades, _ = build_pix2pix(256)
    folder = os.path.join(work, "in")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for i in range(args.images):
        write_image(os.path.join(folder, f"{i:03d}.png"), rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    per_image = forward_flops(facades)
    for precision in precisions:
        for batch in args.batches:
            out = os.path.join(work, f"out-{precision}-{batch}")
            translate_folder(facades, folder, out, batch_size=batch, precision=precision, verbose=False)  # warm-up
            seconds = timed(lambda: translate_folder(facades, folder, out + "b", batch_size=batch,
                                                     precision=precision, verbose=False))
            rate = args.images / seconds
            achieved = rate * per_image
            print(f"{'translate':<10} {precision:<15} {batch:>5} {seconds:>7.2f} {rate:>8.2f} "
                  f"{rate * 256 * 256 / 1e6:>6.2f} {achieved / 1e9:>8.0f} {achieved / rates[precision]:>6.0%}",
                  flush=True)

    unet = build_reference_unet((None, None, 3), 3)
    tile = args.tile
    per_tile = forward_flops(unet, (tile, tile, 3))
    scene = rng.integers(0, 256, (args.scene, args.scene, 3), dtype=np.uint8)
    overlap = tile // 2
    tiles = len(tile_starts(args.scene, tile, overlap)) ** 2
    for precision in precisions:
        for batch in args.batches:
            seconds = timed(lambda: remove_clouds(scene[:tile * 2, :tile * 2], unet, tile=tile, batch_size=batch,
                                                  precision=precision, verbose=False))  # warm-up traces
            seconds = timed(lambda: remove_clouds(scene, unet, tile=tile, batch_size=batch, precision=precision,
                                                  verbose=False))
            achieved = tiles * per_tile / seconds
            print(f"{'tiled':<10} {precision:<15} {batch:>5} {seconds:>7.2f} {tiles / seconds:>8.2f} "
                  f"{args.scene ** 2 / 1e6 / seconds:>6.2f} {achieved / 1e9:>8.0f} {achieved / rates[precision]:>6.0%}",
                  flush=True)
        model = inference_copy(unet, precision)
        run = tf.function(lambda x, m=model: m(x, training=False))
        x = tf.constant(rng.uniform(0, 1, (16, tile, tile, 3)).astype(np.float32))
        run(x).numpy()
        seconds = min(timed(lambda: run(x).numpy()) for _ in range(3))
        achieved = 16 * per_tile / seconds
        print(f"{'generator':<10} {precision:<15} {16:>5} {seconds:>7.2f} {16 / seconds:>8.2f} "
              f"{16 * tile * tile / 1e6 / seconds:>6.2f} {achieved / 1e9:>8.0f} {achieved / rates[precision]:>6.0%}",
              flush=True)


if __name__ == "__main__":
    main()
