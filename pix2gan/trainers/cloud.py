"""Cloud removal with a supervised cloud map: pix2pix plus a loss on the generator's map."""
from __future__ import annotations

import keras
import tensorflow as tf

from ..distribute import all_reduce_sum, replicas
from ..errors import Pix2GanError
from ..networks import CORRECTED_LAYER, PROBABILITY_LAYER
from .pix2pix import Pix2Pix

MAP_SOFTNESS = 0.25  # a pixel that lost this share of its signal or more counts as fully clouded


def map_target(mask, softness: float = MAP_SOFTNESS):
    """The cloud map a generator should predict for a synthesis ``mask`` (the share of the
    ground's signal lost, see :func:`pix2gan.data.clouds.synthesize_clouds`): 0 on clear ground,
    rising linearly to 1 at ``softness``."""
    return tf.clip_by_value(tf.cast(mask, tf.float32) / softness, 0.0, 1.0)


def cloud_map_model(generator: keras.Model) -> keras.Model | None:
    """``x -> [restored, cloud probability, corrected image]`` sharing ``generator``'s layers, or
    None for a generator without a cloud map (see :func:`pix2gan.networks.blend_head`)."""
    names = {layer.name for layer in generator.layers}
    if not {PROBABILITY_LAYER, CORRECTED_LAYER} <= names:
        return None
    return keras.Model(generator.inputs, [generator.outputs[0], generator.get_layer(PROBABILITY_LAYER).output,
                                          generator.get_layer(CORRECTED_LAYER).output], name=f"{generator.name}_with_map")


class CloudPix2Pix(Pix2Pix):
    """:class:`Pix2Pix` for a generator with a cloud map, trained on ``(cloudy, (clear, mask))``.

    The generator loss adds ``map_weight`` x the binary cross-entropy between the map's
    probability and :func:`map_target` of the mask (``map_softness``: the signal loss at which
    a pixel counts as fully clouded), which teaches the map to be exactly 0 on
    clear ground (so the blend head leaves it untouched), and ``l1_weight`` x the L1 distance of
    the head's corrected image (before the blend) to the target. The step logs ``map_bce`` and
    ``corrected_l1``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, map_weight: float = 10.0,
                 map_softness: float = MAP_SOFTNESS, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.mapped = cloud_map_model(generator)
        if self.mapped is None:
            raise Pix2GanError(f"generator {generator.name} has no {PROBABILITY_LAYER!r} layer to supervise: build it "
                               "with head='blend'", argument="head")
        self.map_weight = float(map_weight)
        self.map_softness = float(map_softness)

    extra_log_names = ("map_bce", "corrected_l1")

    def generator_pass(self, inputs, targets):
        targets, mask = targets
        fake, probability, corrected = self.mapped(inputs, training=True)
        weight = map_target(mask, self.map_softness)[..., None]
        g_map = tf.reduce_mean(keras.losses.binary_crossentropy(weight, probability))
        # the corrected image learns wherever there is cloud, not only where the (young) map lets it through;
        # a ratio of sums over the global batch: with R replicas each holds R x its share of the
        # numerator over the global denominator, so their mean (what Keras's gradient sum and the
        # trackers see) is the one-device value
        total = all_reduce_sum(tf.reduce_sum(weight))
        g_corrected = tf.reduce_sum(tf.abs(corrected - targets) * weight) / (3.0 * total + 1.0)
        if replicas() > 1:
            g_corrected = g_corrected * float(replicas())
        extra = self.map_weight * g_map + self.l1_weight * g_corrected
        return fake, targets, extra, {"map_bce": g_map, "corrected_l1": g_corrected}

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(targets, (tuple, list)):
            targets = targets[0]
        return super().test_step((inputs, targets))
