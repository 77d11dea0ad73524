"""Output heads of the reference U-Net: what its last decoder features become.

Each head is a function ``(inputs, features, output_channels) -> outputs`` where ``inputs`` is
the U-Net's input image, ``features`` a :class:`UNetFeatures` and ``outputs`` the output image in
[0, 1] (float32). :data:`UNET_HEADS` maps the names ``build_reference_unet(head=...)`` accepts to
the functions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import keras
from keras import layers

from ..errors import Pix2GanError


class UNetFeatures(NamedTuple):
    """The U-Net tensors a head may use."""

    decoded: Any  # the last decoder feature map, full resolution
    bottleneck: Any  # the innermost encoder feature map


def _require_same_channels(inputs, output_channels: int, head: str) -> None:
    # These heads correct the input image in place, so they cannot change its channel count.
    c = inputs.shape[-1]
    if output_channels != c:
        raise Pix2GanError(f"the {head!r} U-Net head corrects the input, so it needs output_channels equal to the "
                           f"{c} input channels, got {output_channels}: use head='sigmoid' to change the channels")


def sigmoid_head(inputs, features: UNetFeatures, output_channels: int):
    """The reference head: a 1x1 conv and a sigmoid."""
    x = layers.Conv2D(output_channels, 1, name="output_conv")(features.decoded)
    return layers.Activation("sigmoid", dtype="float32", name="output_image")(x)


def residual_head(inputs, features: UNetFeatures, output_channels: int):
    """``clip(input + tanh(conv(features)), 0, 1)``.

    The correction conv is zero-initialised, so the untrained network is exactly the identity.
    """
    _require_same_channels(inputs, output_channels, "residual")
    x = layers.Conv2D(output_channels, 1, activation="tanh", kernel_initializer="zeros", dtype="float32",
                      name="correction")(features.decoded)
    x = layers.Add(dtype="float32", name="add_correction")([inputs, x])
    return layers.ReLU(max_value=1.0, dtype="float32", name="output_image")(x)


def veil_head(inputs, features: UNetFeatures, output_channels: int):
    """Invert the grey cloud blend ``x = (1 - a) y + a c`` as ``y = clip(x + s x - m, 0, 1)``.

    ``s`` is a per-image gain (a dense layer on the pooled bottleneck, standing for
    ``a / (1 - a)``) and ``m`` a one-channel map shared by all channels (standing for
    ``a c / (1 - a)``), both zero-initialised so the untrained network is the identity. The head
    cannot shift colours, only lift a grey veil.
    """
    _require_same_channels(inputs, output_channels, "veil")
    pooled = layers.GlobalAveragePooling2D(name="gain_pool")(features.bottleneck)
    gain = layers.Dense(1, kernel_initializer="zeros", dtype="float32", name="gain")(pooled)
    gain = layers.Reshape((1, 1, 1), name="gain_reshape")(gain)
    veil = layers.Conv2D(1, 1, kernel_initializer="zeros", dtype="float32", name="veil")(features.decoded)
    veil = layers.Concatenate(name="veil_rgb")([veil] * output_channels)
    lifted = layers.Multiply(name="gain_times_input")([inputs, gain])
    x = layers.Add(name="add_gain")([inputs, lifted])
    x = layers.Subtract(dtype="float32", name="remove_veil")([x, veil])
    return layers.ReLU(max_value=1.0, dtype="float32", name="output_image")(x)


MAP_LAYER = "cloud_map"
MAP_BIAS = 0.0  # the untrained map starts at 0.5 (measured: starting near 0, -2, kept corrections from learning)
CORRECTED_LAYER = "corrected"
PROBABILITY_LAYER = "cloud_probability"


def blend_head(inputs, features: UNetFeatures, output_channels: int):
    """Correct the input only where a predicted cloud map says so: ``out = x + m (c - x)``.

    ``c = clip(x + g x - v, 0, 1)`` is the corrected image: a per-pixel gain ``g`` (one channel,
    lifting a veil, ``a / (1 - a)`` under a blend of opacity ``a``) and a per-pixel offset ``v``
    (one per channel: the veil's radiance, or the whole ground where a cloud is opaque). The map
    ``m = clip(1.2 p - 0.1, 0, 1)`` stretches a sigmoid probability ``p`` (layer
    ``cloud_probability``, trained against the known cloud and shadow mask) so that it reaches
    exactly 0 (``p < 1/12``) and 1; where ``m`` is 0 the output *is* the input, bit for bit. Every
    operation is per pixel (no pooled or per-image statistic), so a scene processed in tiles
    equals the scene processed whole, up to the U-Net's receptive field. ``g`` and ``v`` start at
    zero: the untrained network is the identity.
    """
    _require_same_channels(inputs, output_channels, "blend")
    decoded = features.decoded
    gain = layers.Conv2D(1, 1, kernel_initializer="zeros", dtype="float32", name="gain")(decoded)
    offset = layers.Conv2D(output_channels, 1, kernel_initializer="zeros", dtype="float32", name="offset")(decoded)
    gain = layers.Concatenate(name="gain_rgb")([gain] * output_channels)
    lifted = layers.Multiply(name="gain_times_input")([inputs, gain])
    corrected = layers.Subtract(name="remove_offset")([layers.Add(name="add_gain")([inputs, lifted]), offset])
    corrected = layers.ReLU(max_value=1.0, dtype="float32", name=CORRECTED_LAYER)(corrected)
    logits = layers.Conv2D(1, 1, bias_initializer=keras.initializers.Constant(MAP_BIAS), dtype="float32",
                           name="cloud_logits")(decoded)
    probability = layers.Activation("sigmoid", dtype="float32", name=PROBABILITY_LAYER)(logits)
    stretched = layers.Rescaling(1.2, offset=-0.1, dtype="float32", name="stretch_map")(probability)
    cloud_map = layers.ReLU(max_value=1.0, dtype="float32", name=MAP_LAYER)(stretched)
    cloud_map = layers.Concatenate(name="cloud_map_rgb")([cloud_map] * output_channels)
    change = layers.Subtract(name="correction")([corrected, inputs])
    change = layers.Multiply(name="masked_correction")([cloud_map, change])
    blended = layers.Add(dtype="float32", name="blend")([inputs, change])
    # a no-op for [0, 1] inputs (the blend is convex); it declares the output range in the saved model
    return layers.ReLU(max_value=1.0, dtype="float32", name="output_image")(blended)


UNET_HEADS: dict[str, Callable] = {"sigmoid": sigmoid_head, "residual": residual_head, "veil": veil_head,
                                   "blend": blend_head}
