"""Train one of the MNIST GANs: `python examples/train_mnist.py [ENTRY] [flags]`.

ENTRY is gan-mnist (default), cgan-mnist, lsgan-mnist or dcgan-mnist; `--help` lists the flags.
MNIST is read from --data-dir (the four idx .gz files or mnist.npz), datasets/mnist, or the Keras
cache; --download fetches Keras's mnist.npz. Logs (sample grids, losses, D(x), D(G(z)),
MNIST-FID per epoch) go to logs/<run> (tensorboard --logdir logs), weights to models/. Then:

    pix2gan sample cgan-mnist --weights models/cgan-mnist_generator.h5 --n 64 --label 7
    pix2gan evaluate cgan-mnist --weights models/cgan-mnist_generator.h5 --data-dir ../shared/data/mnist
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan.cli import run_entry_command  # noqa: E402

ENTRIES = ("gan-mnist", "cgan-mnist", "lsgan-mnist", "dcgan-mnist")

if __name__ == "__main__":
    argv = sys.argv[1:]
    entry = argv.pop(0) if argv and argv[0] in ENTRIES else "gan-mnist"
    sys.exit(run_entry_command("train", entry, argv))
