"""Compatibility module: the generator builders now live in :mod:`pix2gan.networks`; this only re-exports them."""
from .networks import (
    UNET_HEADS,
    build_dcgan_generator,
    build_mlp_generator,
    build_reference_unet,
    build_resnet_generator,
    build_unet_generator,
    check_image_shape,
    label_embedding,
)

__all__ = ["UNET_HEADS", "build_dcgan_generator", "build_mlp_generator", "build_reference_unet",
           "build_resnet_generator", "build_unet_generator", "check_image_shape", "label_embedding"]
