"""Train `sequence-unet` on Moving MNIST, then predict the next frames of a folder of frames.

    python examples/predict_frames.py --data-dir ../shared/data/mnist                 # ~5 CPU minutes
    python examples/predict_frames.py --data-dir ../shared/data/mnist --filters 64    # the reference width (slow)
    python examples/predict_frames.py --frames-dir my_loop/ --height 480 --width 560 --channels 3

With the MNIST files (or none: the built-in synthetic digits), it trains on Moving MNIST; with
``--frames-dir`` on that folder of ordered frames instead (its last 20% is the test part). After
training it writes 20 frames of a test sequence as PNG files to ``OUT/frames`` (Moving MNIST only)
and runs ``pix2gan.sequence.predict_frames`` on the first 10 of them, the same as

    pix2gan predict-frames --model models/sequence-unet_generator.h5 --start 0 OUT/frames OUT/predicted

which writes the 10 predicted frames, a strip (inputs | predicted | truth) and an animated GIF, and
prints MSE and SSIM per predicted frame beside copying the last frame and linear extrapolation.
The run's logs (TensorBoard, a strip PNG and a GIF per epoch) are in logs/<run>.
"""
import argparse
import logging
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan import zoo  # noqa: E402
from pix2gan.data.mnist import SYNTHETIC, read_mnist, resolve_mnist  # noqa: E402
from pix2gan.data.moving_mnist import moving_mnist_sequence  # noqa: E402
from pix2gan.imaging import write_image  # noqa: E402
from pix2gan.sequence import predict_frames  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="MNIST idx files or mnist.npz (default: datasets/mnist, else synthetic)")
    parser.add_argument("--frames-dir", help="train on this folder of ordered frames instead of Moving MNIST")
    parser.add_argument("--filters", type=int, default=16, help="U-Net base width (reference 64; default 16 for CPU)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--adversarial", action="store_true", help="also train against the conditional PatchGAN")
    parser.add_argument("--out", default="predict_frames_out", help="where the test frames and predictions go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    recipe = zoo.get("sequence-unet", filters=args.filters, epochs=args.epochs, height=args.height, width=args.width,
                     channels=args.channels, adversarial=args.adversarial)
    run = recipe.train(data_dir=args.frames_dir or args.data_dir, steps_per_epoch=args.steps_per_epoch,
                       test_sequences=200, verbose=2)
    if args.frames_dir:
        predict_frames(run.generator_path, args.frames_dir, os.path.join(args.out, "predicted"))
        return 0
    # one test sequence of Moving MNIST as a folder of frames, as any frame source would give them
    found = recipe.resolve_source(args.data_dir, recipe.options("train", {}))  # where training found its digits
    source = SYNTHETIC if found.kind == "synthetic" else resolve_mnist(found.path)
    frames, _, _ = moving_mnist_sequence(read_mnist(source, "test")[0], index=0, seed=0, split="test",
                                         size=(args.height, args.width))
    folder = os.path.join(args.out, "frames")
    for k, frame in enumerate(frames):
        write_image(os.path.join(folder, f"frame_{k + 1}.png"), frame)
    result = predict_frames(run.generator_path, folder, os.path.join(args.out, "predicted"), start=0)
    mse = np.mean(result["scores"]["rows"]["model"]["mse"])
    copy = np.mean(result["scores"]["rows"]["copy_last"]["mse"])
    logging.getLogger("pix2gan").info("this sequence: model MSE %.5f, copy-last %.5f; see %s and %s", mse, copy,
                                      result["strip"], result["gif"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
