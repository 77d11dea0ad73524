"""Command-line flags every zoo entry shares, so `pix2gan train <entry>` and the examples agree."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_common_args(parser: argparse.ArgumentParser, *, epochs: int, batch_size: int, run_name: str) -> None:
    """Add the flags every entry's ``train`` takes; defaults are the entry's paper settings."""
    parser.add_argument("--data-dir", help="folder with the data set (default: look under datasets/, "
                                           "else fall back to the built-in synthetic set)")
    parser.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    parser.add_argument("--steps-per-epoch", type=positive_int, help="steps per epoch (default: one pass over the data)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size, help=f"batch size (default {batch_size})")
    parser.add_argument("--logdir", default="logs", help="TensorBoard root; the run goes to LOGDIR/RUN_NAME (default logs)")
    parser.add_argument("--out", default="models", help="folder for saved models and model cards (default models)")
    parser.add_argument("--run-name", default=run_name,
                        help=f"run name (default {run_name}); re-running with the same name resumes from its last epoch")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--jit-compile", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras progress output (1 = bar)")
