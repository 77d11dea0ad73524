"""What kind of model a saved file holds, and a check that it is the kind a command needs.

Every command that runs a saved model (``evaluate``, ``sample``, ``translate``, tiled inference)
calls one of the ``require_*`` functions right after loading it and before any other work, so a
discriminator, an MNIST generator given to an image-to-image command or a [0, 1] generator given
to a [-1, 1] entry is refused in one line that says what the file holds::

    weights='d.h5' is a discriminator: 2 inputs (32x32x3, 32x32x3) -> 2x2x1 logit map, but
    pix2pix-facades needs an image-to-image generator (?x?x3 image -> image in [-1, 1]): pass ...

The kind is read from the model's inputs, outputs and the activation of its output layer (the
last layer that is not a pure reshape); only an image-to-image model whose output layer does not
bound its values (a head blending input and correction) is run once on a fixed image to see the
range its output stays in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import keras
import numpy as np

from .errors import Pix2GanError

# Layers that move values around without changing them: the output range is the one before them.
_SHAPE_ONLY = (keras.layers.Reshape, keras.layers.Flatten, keras.layers.Permute, keras.layers.Cropping2D,
               keras.layers.Identity, keras.layers.Dropout, keras.layers.SpatialDropout2D)
_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0),
           "softsign": (-1.0, 1.0)}


def _dims(shape: Sequence) -> str:
    return "x".join("?" if d is None else str(int(d)) for d in shape)


def _range_text(value_range) -> str:
    return f"[{value_range[0]:g}, {value_range[1]:g}]"


def output_range(model: keras.Model) -> tuple[float, float] | None:
    """The range a bounded output activation confines the (last) output to: (-1, 1) for tanh,
    (0, 1) for sigmoid or a ReLU capped at 1; None for an unbounded output (logits, linear)."""
    layers = list(model.layers) if isinstance(model, keras.Model) else [model]
    for layer in reversed(layers):
        if isinstance(layer, keras.Model):  # a nested network ending the model
            return output_range(layer)
        if isinstance(layer, keras.layers.InputLayer):
            return None
        if isinstance(layer, keras.layers.ReLU):
            return (0.0, float(layer.max_value)) if layer.max_value is not None else None
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        if isinstance(layer, _SHAPE_ONLY) or (isinstance(layer, keras.layers.Activation) and activation == "linear"):
            continue
        return _RANGES.get(activation)
    return None


@dataclass(frozen=True)
class ModelKind:
    """What a model is, read from its signature: ``kind`` is one of 'image-to-image generator',
    'latent generator', 'discriminator', 'classifier' or 'model'; shapes exclude the batch axis."""
    kind: str
    inputs: tuple[tuple, ...]
    outputs: tuple[tuple, ...]
    value_range: tuple[float, float] | None
    conditional: bool = False

    def describe(self) -> str:
        """One phrase, e.g. 'a discriminator: 64x64x3 image -> 1 logit'."""
        out = self.outputs[0] if len(self.outputs) == 1 else None
        if self.kind == "image-to-image generator":
            return (f"an image-to-image generator: {_dims(self.inputs[0])} image -> {_dims(out)} image in "
                    f"{_range_text(self.value_range)}")
        if self.kind == "latent generator":
            label = " + label" if self.conditional else ""
            return (f"a{' conditional' if self.conditional else 'n unconditional'} latent generator: noise "
                    f"({self.inputs[0][0]},){label} -> {_dims(out)} image in {_range_text(self.value_range)}")
        if self.kind == "discriminator":
            what = "1 logit" if out == (1,) else f"{_dims(out)} logit map"
            if self.conditional:
                return f"a conditional discriminator: {_dims(self.inputs[0])} image + label -> {what}"
            if len(self.inputs) == 2:
                return f"a discriminator: 2 inputs ({', '.join(_dims(s) for s in self.inputs)}) -> {what}"
            return f"a discriminator: {_dims(self.inputs[0])} image -> {what}"
        if self.kind == "classifier":
            return f"a classifier: {_dims(self.inputs[0])} image -> {out[0]} logits"
        outs = ", ".join(f"({_dims(s)})" for s in self.outputs)
        return f"a model with inputs {', '.join(f'({_dims(s)})' for s in self.inputs)} -> outputs {outs}"


def _probe_range(model: keras.Model) -> tuple[float, float] | None:
    """The output range of an image-to-image model whose output layer does not bound it (e.g. a
    head that blends its input with a correction): run it once on a fixed [0, 1] image, then on a
    [-1, 1] one, and return the range the output stayed in, or None."""
    dims = tuple(d or 64 for d in model.inputs[0].shape[1:])  # 64: a multiple of any U-Net's pooling
    x = np.random.default_rng(0).uniform(0.0, 1.0, (1,) + dims).astype(np.float32)
    for lo in (0.0, -1.0):
        try:
            y = np.asarray(model(x * (1.0 - lo) + lo, training=False))
        except Exception:  # a model that cannot run on this input has no range to report
            return None
        if np.isfinite(y).all() and y.min() >= lo and y.max() <= 1.0:
            return (lo, 1.0)
    return None


def value_range_of(model: keras.Model) -> tuple[float, float] | None:
    """The output range of ``model``: from its output activation, else (image-to-image models
    only) from one probing run; None if unbounded or unknown."""
    return inspect_model(model).value_range


def _is_image(shape: tuple) -> bool:
    return len(shape) == 3 and shape[-1] is not None and 1 <= shape[-1] <= 4


def _is_label(tensor) -> bool:
    return tuple(tensor.shape[1:]) == (1,) and "int" in str(tensor.dtype)


def inspect_model(model) -> ModelKind:
    """Classify ``model`` (see :class:`ModelKind`); anything that is not a Keras model is refused."""
    if not isinstance(model, keras.Model):
        raise Pix2GanError(f"{type(model).__name__} is not a Keras model: pass a saved .h5 or .keras model")
    inputs = tuple(tuple(t.shape[1:]) for t in model.inputs)
    outputs = tuple(tuple(t.shape[1:]) for t in model.outputs)
    value_range = output_range(model) if len(outputs) == 1 else None
    labelled = len(inputs) == 2 and _is_label(model.inputs[1])
    out = outputs[0] if len(outputs) == 1 else None
    if value_range is None and out is not None and _is_image(out) and len(inputs) == 1 and _is_image(inputs[0]):
        value_range = _probe_range(model)
    kind = "model"
    if out is not None and _is_image(out) and value_range is not None:
        if len(inputs) == 1 and _is_image(inputs[0]):
            kind = "image-to-image generator"
        elif len(inputs[0]) == 1 and (len(inputs) == 1 or labelled):
            kind = "latent generator"
    elif out is not None and value_range is None and _is_image(inputs[0]) and (len(inputs) == 1 or labelled
                                                                              or _is_image(inputs[1])):
        if out == (1,) or (len(out) == 3 and out[-1] == 1):
            kind = "discriminator"
        elif len(out) == 1 and len(inputs) == 1 and out[0] is not None and out[0] > 1:
            kind = "classifier"
    return ModelKind(kind, inputs, outputs, value_range, labelled)


def _refuse(found: ModelKind, label: str, argument: str | None, needs: str, fix: str):
    raise Pix2GanError(f"{label} is {found.describe()}, but {needs}: {fix}", argument=argument)


def _label(name: str, argument: str | None) -> str:
    return f"{argument}={name!r}" if argument else f"model {name}"


def require_image_generator(model, name: str, *, needs: str, fix: str, argument: str | None = None,
                            value_range: Sequence[float] | None = None, channels: int | None = None,
                            square: bool = False, size: int | None = None) -> ModelKind:
    """Refuse anything but an image-to-image generator with the given output ``value_range``,
    input ``channels`` (and the same output channels), square or ``size`` x ``size`` inputs.

    ``name`` is the file (or model) named in the message, ``argument`` the Python argument it
    came from (the CLI shows the flag), ``needs`` who needs what ('pix2pix-facades needs ...')
    and ``fix`` what to pass instead. Returns the :class:`ModelKind` found.
    """
    found = inspect_model(model)
    label = _label(name, argument)
    want = (f"an image-to-image generator ({f'{channels}-channel ' if channels else ''}image -> image"
            + (f" in {_range_text(value_range)}" if value_range else "") + ")")
    if found.kind != "image-to-image generator":
        _refuse(found, label, argument, f"{needs} {want}", fix)
    (h, w, c), out = found.inputs[0], found.outputs[0]
    if value_range is not None and tuple(float(v) for v in value_range) != found.value_range:
        _refuse(found, label, argument, f"{needs} images in {_range_text(value_range)}", fix)
    if channels is not None and (c != channels or out[-1] != channels):
        _refuse(found, label, argument, f"{needs} {channels}-channel images in and out", fix)
    if (square or size) and (h != w or h is None):
        _refuse(found, label, argument, f"{needs} a fixed square input size", fix)
    if size is not None and h != size:
        _refuse(found, label, argument, f"{needs} {size}x{size} inputs", fix)
    return found


def require_latent_generator(model, name: str, *, needs: str, fix: str, argument: str | None = None,
                             image_shape: Sequence[int] | None = None,
                             value_range: Sequence[float] | None = None) -> ModelKind:
    """Refuse anything but a noise (+ label) -> image generator of ``image_shape`` whose output is
    in ``value_range``; arguments as in :func:`require_image_generator`."""
    found = inspect_model(model)
    label = _label(name, argument)
    shape = f"{_dims(image_shape)} image" if image_shape else "image"
    rng = f" in {_range_text(value_range)}" if value_range else ""
    if found.kind != "latent generator":
        _refuse(found, label, argument, f"{needs} a latent generator (noise (+ label) -> {shape}{rng})", fix)
    if image_shape is not None and found.outputs[0] != tuple(int(v) for v in image_shape):
        _refuse(found, label, argument, f"{needs} {shape}s", fix)
    if value_range is not None and tuple(float(v) for v in value_range) != found.value_range:
        _refuse(found, label, argument, f"{needs} images{rng}", fix)
    return found
