"""Train pix2pix on Facades: `python examples/train_facades.py --help` lists the flags.

Paper defaults (batch 1, 256x256, 200 epochs). Without data it trains on the built-in
synthetic facades and says so. Logs go to logs/<run> (tensorboard --logdir logs), weights to models/.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan.cli import run_entry_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_entry_command("train", "pix2pix-facades"))
