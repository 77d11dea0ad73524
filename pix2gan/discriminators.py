"""Compatibility module: the discriminator builders now live in :mod:`pix2gan.networks`; this only re-exports them."""
from .networks import (
    build_dcgan_discriminator,
    build_mlp_discriminator,
    build_patchgan_discriminator,
    build_resnet_discriminator,
)

__all__ = ["build_dcgan_discriminator", "build_mlp_discriminator", "build_patchgan_discriminator",
           "build_resnet_discriminator"]
