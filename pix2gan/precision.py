"""Numeric precision of training: float32, or mixed precision where the hardware runs it natively.

- ``'float32'``: every layer computes in float32.
- ``'mixed_bfloat16'``: layers compute in bfloat16 with float32 weights (Keras's dtype policy).
  Fast only on CPUs with native bf16 instructions (AVX512_BF16 or AMX-BF16, read from
  ``/proc/cpuinfo``) and on GPUs of compute capability 8.0 and newer; elsewhere it would be
  emulated and slower, so it is refused.
- ``'mixed_float16'``: float16 compute on a GPU (compute capability 7.0 and newer); every
  optimizer of a trainer compiled under it is wrapped in ``keras.optimizers.LossScaleOptimizer``
  (:meth:`pix2gan.trainers.GANTrainer.compile`). Refused without such a GPU.
- ``'auto'``: the value of the ``PIX2GAN_PRECISION`` environment variable when set, else the
  fastest precision this machine runs natively (:func:`fastest_precision`), for entries whose
  bench quality was measured unchanged under it, else float32.

Under a mixed policy the builders keep their output activations, their normalisation layers and
the elementwise layers after those (:func:`norm_float32_layers`) in float32, and the losses
compute in float32 (:mod:`pix2gan.losses`). Saved generators are float32 copies
(:func:`float32_copy`), so they load and run in plain Keras on any machine.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import keras
import tensorflow as tf

from .errors import Pix2GanError
from .inference import iter_layers

# How far a mixed_bfloat16 step's losses may lie from the float32 step's (relative) in the first
# steps from the same weights: bfloat16 keeps 8 significant bits (0.4% per rounding), and the
# differences add up over a network's depth (tests/test_precision.py).
BF16_STEP_RTOL = 0.05
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The layers that compute in float32 under a mixed policy when they normalise, or take (through
# elementwise layers) a normalisation's output: Keras's BatchNorm and GroupNorm compute in float32
# inside anyway, and TF's bfloat16 elementwise kernels are slower than float32 ones plus the casts
# (LeakyReLU forward + gradient on a 64x14x14x64 map: 2.6 ms in bf16, 1.1 ms via float32;
# bench/run.py). The float32 output then goes straight to the next conv, which rounds it to
# bfloat16 once, as before.
NORMALISATIONS = (keras.layers.BatchNormalization, keras.layers.GroupNormalization)
ELEMENTWISE = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Dropout,
               keras.layers.Add, keras.layers.Multiply)
ENVIRONMENT_VARIABLE = "PIX2GAN_PRECISION"
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this machine's first CPU (empty where ``/proc/cpuinfo`` is absent)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16)."""
    return bool(set(NATIVE_BF16_FLAGS) & cpu_flags())


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of every visible GPU ((0, 0) where TensorFlow does not say)."""
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def fastest_precision() -> str:
    """The fastest precision this machine runs natively: ``'mixed_float16'`` on GPUs of compute
    capability 7.0+, ``'mixed_bfloat16'`` on CPUs with native bf16, else ``'float32'``."""
    gpus = gpu_compute_capabilities()
    if gpus:
        return "mixed_float16" if min(gpus) >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_native_bf16() else "float32"


def unsupported_reason(precision: str) -> str | None:
    """Why ``precision`` would not run natively here (None when it does)."""
    gpus = gpu_compute_capabilities()
    if precision == "mixed_bfloat16":
        if gpus and min(gpus) < (8, 0):
            return f"the GPUs' compute capability {min(gpus)} has no bfloat16 units (8.0 and newer do)"
        if not gpus and not cpu_has_native_bf16():
            return ("this CPU has no native bfloat16 instructions (AVX512_BF16 or AMX-BF16), so bfloat16 would be "
                    "emulated and slower than float32")
    if precision == "mixed_float16":
        if not gpus:
            return "float16 is fast on GPUs only, and this machine has none (on a CPU with bf16, use mixed_bfloat16)"
        if min(gpus) < (7, 0):
            return f"the GPUs' compute capability {min(gpus)} has no float16 tensor cores (7.0 and newer do)"
    return None


def resolve_precision(precision: str = "auto", measured: bool = True) -> str:
    """The concrete precision for ``precision`` (one of :data:`PRECISIONS`).

    ``'auto'``: ``PIX2GAN_PRECISION`` when set, else :func:`fastest_precision` where ``measured``
    (the entry's bench quality held under mixed precision), else ``'float32'``. A precision that
    would not run natively here raises :class:`Pix2GanError` naming the reason and the fix.
    """
    if precision not in PRECISIONS:
        raise Pix2GanError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}", argument="precision")
    if precision == "auto":
        chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
        if chosen:
            if chosen not in PRECISIONS[1:]:
                raise Pix2GanError(f"{ENVIRONMENT_VARIABLE}={chosen!r} is not one of {', '.join(PRECISIONS[1:])}: "
                                   "fix or unset the environment variable", argument="precision")
            precision = chosen
        else:
            return fastest_precision() if measured else "float32"
    reason = unsupported_reason(precision)
    if reason:
        raise Pix2GanError(f"precision={precision!r} cannot run natively here: {reason}; use precision='float32' "
                           "(or 'auto', the fastest this machine supports)", argument="precision")
    return precision


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[str]:
    """Build networks and compile trainers under Keras's dtype policy ``precision`` (a concrete
    precision, see :func:`resolve_precision`); the previous global policy comes back afterwards."""
    if precision not in PRECISIONS[1:]:
        raise Pix2GanError(f"precision={precision!r} is not one of {', '.join(PRECISIONS[1:])}", argument="precision")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield precision
    finally:
        keras.config.set_dtype_policy(previous)


def _replace_policies(config, old: tuple[str, ...], new: str):
    """``config`` (a serialised model) with every dtype policy named in ``old`` replaced by ``new``."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            if config["config"].get("name", "") in old:
                return {**config, "config": {**config["config"], "name": new}}
            return config
        return {key: _replace_policies(value, old, new) for key, value in config.items()}
    if isinstance(config, list):
        return [_replace_policies(value, old, new) for value in config]
    return config


def _copy_with(model: keras.Model, config: dict) -> keras.Model:
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def is_mixed(model: keras.Model) -> bool:
    """Whether any layer of ``model`` (nested models included) computes under a mixed policy."""
    return _computes_in(model, ("mixed_bfloat16", "mixed_float16"))


def _computes_in(model: keras.Model, policies: tuple[str, ...]) -> bool:
    return any(layer.dtype_policy.name in policies for layer in iter_layers(model))


def norm_float32_layers(model: keras.Model) -> set[str]:
    """Names of ``model``'s normalisation layers, and of the elementwise layers (activations,
    dropout, sums and products) with an input that comes from one of them, directly or through
    other such layers: the layers :func:`keep_norms_float32` runs in float32 under a mixed policy
    (every builder returns through it, :func:`pix2gan.networks.blocks.network`) and
    :func:`inference_copy` keeps in float32. Walks the functional graph of ``model``'s own layers
    (in Keras's topological order) through their public ``input`` / ``output``."""
    producer: dict[int, str] = {}
    for layer in model.layers:
        with contextlib.suppress(AttributeError, ValueError):  # input layers; layers called twice
            for tensor in tf.nest.flatten(layer.output):
                producer[id(tensor)] = layer.name
    names: set[str] = set()
    for layer in model.layers:
        if isinstance(layer, NORMALISATIONS):
            names.add(layer.name)
        elif isinstance(layer, ELEMENTWISE):
            with contextlib.suppress(AttributeError, ValueError):
                if any(producer.get(id(tensor)) in names for tensor in tf.nest.flatten(layer.input)):
                    names.add(layer.name)
    return names


def keep_norms_float32(model: keras.Model) -> keras.Model:
    """Set the layers of :func:`norm_float32_layers` to compute in float32 when ``model`` computes
    under a mixed policy (in place, through the public ``dtype_policy`` setter; weights are float32
    under any policy, so nothing else changes); returns ``model``. A float32 model is untouched."""
    if is_mixed(model):
        names = norm_float32_layers(model)
        for layer in model.layers:
            if layer.name in names:
                layer.dtype_policy = "float32"
    return model


def float32_copy(model: keras.Model) -> keras.Model:
    """``model`` itself when it computes in float32, else a copy with every layer in float32 and
    the same weights (mixed-precision weights are float32 already): what a run saves, so the file
    runs alike on machines without bf16 or fp16 units."""
    if not is_mixed(model):
        return model
    return _copy_with(model, _replace_policies(keras.saving.serialize_keras_object(model),
                                               ("mixed_bfloat16", "mixed_float16"), "float32"))


def inference_copy(model: keras.Model, precision: str = "float32") -> keras.Model:
    """``model`` to run for inference in ``precision`` (resolved and checked as
    :func:`resolve_precision` does; 'auto' here means the fastest native one): itself for
    float32, else a copy whose layers compute under the mixed policy, but for the layers that
    produce the model's outputs, which stay float32. Outputs then differ from float32 by
    bfloat16's (or float16's) rounding, about 1e-2 of the value range. A model that already
    computes in ``precision`` comes back as it is. The normalisation layers and the elementwise
    layers after them (:func:`norm_float32_layers`) stay float32 too, as the builders make them."""
    precision = resolve_precision(precision, measured=True)
    if precision == "float32":
        return float32_copy(model)
    if _computes_in(model, (precision,)):
        return model  # already a copy in this precision (translate_tiled makes one for all its scenes)
    config = _replace_policies(keras.saving.serialize_keras_object(model), ("float32",), precision)
    outputs = config["config"].get("output_layers", [])
    outputs = {outputs[0]} if outputs and isinstance(outputs[0], str) else {o[0] for o in outputs}
    keep = outputs | norm_float32_layers(model)
    for layer in config["config"].get("layers", []):
        if layer.get("config", {}).get("name") in keep:
            layer["config"] = _replace_policies(layer["config"], (precision,), "float32")
    return _copy_with(model, config)
