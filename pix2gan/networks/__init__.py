"""Network builders grouped by family, and a by-name choice of generator and discriminator.

- :mod:`.blocks`: small blocks shared by the builders (convs, norms, residual blocks, reflection padding).
- :mod:`.unet` and :mod:`.heads`: the pix2pix U-Net and the cloud-removal U-Net with its output heads.
- :mod:`.patchgan`: the pix2pix PatchGAN discriminator.
- :mod:`.resnet`: the CycleGAN ResNet generator and the cloud-removal ResNet discriminator.
- :mod:`.latent`: MLP and DCGAN generators and discriminators for noise-to-image GANs.

``build_generator("resnet", input_shape=(128, 128, 3))`` builds by name from :data:`GENERATORS`;
``build_discriminator`` does the same from :data:`DISCRIMINATORS`.
"""
from __future__ import annotations

from collections.abc import Callable

import keras

from ..errors import Pix2GanError
from .blocks import (
    double_conv,
    downsample,
    gan_init,
    network,
    norm_layer,
    reflection_pad,
    residual_block,
    upsample,
)
from .heads import (
    CORRECTED_LAYER,
    MAP_LAYER,
    PROBABILITY_LAYER,
    UNET_HEADS,
    UNetFeatures,
    blend_head,
    residual_head,
    sigmoid_head,
    veil_head,
)
from .latent import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_mlp_discriminator,
    build_mlp_generator,
    dcgan_depth,
    label_embedding,
)
from .patchgan import build_patchgan_discriminator
from .resnet import build_resnet_discriminator, build_resnet_generator, resnet_blocks
from .unet import build_reference_unet, build_unet_generator, check_image_shape

GENERATORS: dict[str, Callable[..., keras.Model]] = {
    "unet": build_unet_generator,
    "reference_unet": build_reference_unet,
    "resnet": build_resnet_generator,
    "mlp": build_mlp_generator,
    "dcgan": build_dcgan_generator,
}

DISCRIMINATORS: dict[str, Callable[..., keras.Model]] = {
    "patchgan": build_patchgan_discriminator,
    "resnet": build_resnet_discriminator,
    "mlp": build_mlp_discriminator,
    "dcgan": build_dcgan_discriminator,
}


def _choose(kind: str, builders: dict[str, Callable[..., keras.Model]], name: str) -> Callable[..., keras.Model]:
    if name not in builders:
        raise Pix2GanError(f"unknown {kind} {name!r}: use one of {', '.join(builders)}")
    return builders[name]


def build_generator(name: str, **kwargs) -> keras.Model:
    """Build the generator registered as ``name`` in :data:`GENERATORS` with ``kwargs``.

    Raises :class:`Pix2GanError` naming the unknown name and the valid ones.
    """
    return _choose("generator", GENERATORS, name)(**kwargs)


def build_discriminator(name: str, **kwargs) -> keras.Model:
    """Build the discriminator registered as ``name`` in :data:`DISCRIMINATORS` with ``kwargs``.

    Raises :class:`Pix2GanError` naming the unknown name and the valid ones.
    """
    return _choose("discriminator", DISCRIMINATORS, name)(**kwargs)


__all__ = [
    "CORRECTED_LAYER",
    "DISCRIMINATORS",
    "GENERATORS",
    "MAP_LAYER",
    "PROBABILITY_LAYER",
    "UNET_HEADS",
    "UNetFeatures",
    "blend_head",
    "build_dcgan_discriminator",
    "build_dcgan_generator",
    "build_discriminator",
    "build_generator",
    "build_mlp_discriminator",
    "build_mlp_generator",
    "build_patchgan_discriminator",
    "build_reference_unet",
    "build_resnet_discriminator",
    "build_resnet_generator",
    "build_unet_generator",
    "check_image_shape",
    "dcgan_depth",
    "double_conv",
    "downsample",
    "gan_init",
    "label_embedding",
    "network",
    "norm_layer",
    "reflection_pad",
    "residual_block",
    "residual_head",
    "resnet_blocks",
    "sigmoid_head",
    "upsample",
    "veil_head",
]
