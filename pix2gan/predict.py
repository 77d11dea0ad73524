"""Traced, batched inference (``training=False``) shared by samplers, judges and tiled inference."""
from __future__ import annotations

import weakref
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

_TRACED: "weakref.WeakKeyDictionary[keras.Model, object]" = weakref.WeakKeyDictionary()


def traced_inference(model: keras.Model):
    """``model(x, training=False)`` as a ``tf.function``, one per model, so repeated calls (every
    epoch, every tile) reuse the traced graph instead of retracing."""
    if model not in _TRACED:
        ref = weakref.ref(model)  # the cached function must not keep its model alive
        _TRACED[model] = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
    return _TRACED[model]


def predict_in_batches(model: keras.Model, inputs: np.ndarray | Sequence[np.ndarray], batch_size: int = 1000):
    """Run ``model`` over ``inputs`` (an array, or a list of equally long arrays for a model with
    several inputs) ``batch_size`` rows at a time; return NumPy outputs (a list for several outputs)."""
    run = traced_inference(model)
    several = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if several else [inputs]
    parts = []
    for start in range(0, len(arrays[0]), batch_size):
        batch = [a[start:start + batch_size] for a in arrays]
        out = run(batch if several else batch[0])
        parts.append([np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)])
    outputs = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    return outputs if len(outputs) > 1 else outputs[0]
