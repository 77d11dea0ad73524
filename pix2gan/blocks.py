"""Compatibility module: the building blocks now live in :mod:`pix2gan.networks.blocks`; this only re-exports them."""
from .networks.blocks import (
    double_conv,
    downsample,
    gan_init,
    network,
    norm_layer,
    reflection_pad,
    residual_block,
    upsample,
)

__all__ = ["double_conv", "downsample", "gan_init", "network", "norm_layer", "reflection_pad", "residual_block", "upsample"]
