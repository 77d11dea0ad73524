"""The registry of zoo entries."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import Pix2GanError


@dataclass(frozen=True)
class Entry:
    """A zoo entry: how to add its flags, train it and evaluate saved weights.

    ``add_train_args(parser)`` adds the train flags (the common ones included);
    ``train(args) -> dict`` trains, saves ``<out>/<run>_generator.h5`` and returns final metrics;
    ``add_eval_args`` / ``evaluate(args) -> dict`` do the same for evaluation;
    ``sample(args)`` (optional) writes generated samples.
    """
    name: str
    summary: str
    add_train_args: Callable[[argparse.ArgumentParser], None]
    train: Callable[[argparse.Namespace], dict]
    add_eval_args: Callable[[argparse.ArgumentParser], None]
    evaluate: Callable[[argparse.Namespace], dict]
    add_sample_args: Optional[Callable[[argparse.ArgumentParser], None]] = None
    sample: Optional[Callable[[argparse.Namespace], str]] = None


_ENTRIES: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    _ENTRIES[entry.name] = entry
    return entry


def get_entry(name: str) -> Entry:
    if name not in _ENTRIES:
        raise Pix2GanError(f"unknown zoo entry {name!r}: `pix2gan list` shows {', '.join(sorted(_ENTRIES))}")
    return _ENTRIES[name]


def list_entries() -> list[Entry]:
    return [_ENTRIES[k] for k in sorted(_ENTRIES)]
