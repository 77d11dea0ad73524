"""Running a trained image-to-image generator: the evaluation modes, with no trainer involved.

Evaluation, prediction and the trainers' validation step all go through :func:`run_generator`, so a
saved generator is scored the same way with or without the trainer that made it.
"""
from __future__ import annotations

from collections.abc import Iterator

import keras
import tensorflow as tf

from .errors import Pix2GanError

EVAL_MODES = ("paper", "inference")


def check_eval_mode(mode: str, argument: str = "eval_mode") -> str:
    """Return ``mode`` if it is one of :data:`EVAL_MODES`, else raise :class:`Pix2GanError`."""
    if mode not in EVAL_MODES:
        raise Pix2GanError(f"{argument} {mode!r} is not an evaluation mode: use one of {', '.join(EVAL_MODES)}",
                           argument=argument)
    return mode


def iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer inside ``model``, depth first, each once, entering nested models and wrappers.

    Uses the public ``Model.layers`` and ``Wrapper.layer``; sub-layers that a custom (non-Model)
    layer keeps as private attributes are not visited.
    """
    seen: set[int] = set()

    def walk(layer):
        children = list(layer.layers) if isinstance(layer, keras.Model) else []
        if isinstance(layer, keras.layers.Wrapper):
            children.append(layer.layer)
        for child in children:
            if id(child) not in seen:  # a layer shared by two paths is reported once
                seen.add(id(child))
                yield child
                yield from walk(child)

    yield from walk(model)


def batchnorm_statistics(model: keras.Model) -> list:
    """The moving mean/variance variables of every BatchNormalization layer in ``model``."""
    return [v for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
            for v in (layer.moving_mean, layer.moving_variance)]


def run_generator(generator: keras.Model, inputs, mode: str = "paper", statistics: list | None = None):
    """Run ``generator`` in evaluation ``mode``.

    'paper': dropout on and batch statistics (``training=True``), as in the pix2pix paper, with
    the BatchNorm moving averages put back afterwards so evaluation never changes the weights.
    ``statistics`` is :func:`batchnorm_statistics` of ``generator``, computed here when omitted.
    'inference': plain ``training=False``.
    """
    check_eval_mode(mode, "mode")
    if mode == "inference":
        return generator(inputs, training=False)
    statistics = batchnorm_statistics(generator) if statistics is None else statistics
    saved = [tf.identity(v.value) for v in statistics]
    outputs = generator(inputs, training=True)
    # Auto control dependencies run these after the generator's own moving-average updates.
    for variable, value in zip(statistics, saved):
        variable.assign(value)
    return outputs
