"""The pix2pix PatchGAN discriminator (returns a map of logits)."""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from ..layers import MinibatchDiscrimination
from .blocks import downsample, gan_init, network, norm_layer


def build_patchgan_discriminator(input_shape: Sequence[int] = (256, 256, 3), target_channels: int | None = None,
                                 filters: int = 64, n_layers: int = 3, norm: str = "batch",
                                 minibatch_discrimination: bool = False, num_kernels: int = 100,
                                 kernel_dim: int = 5, conditional: bool = True,
                                 name: str = "patchgan_discriminator") -> keras.Model:
    """The pix2pix PatchGAN, conditioned on the input image (``conditional=False``: on nothing).

    Inputs ``[input_image, target_or_generated_image]`` are concatenated along channels (an
    unconditional PatchGAN, CycleGAN's, takes one ``image``); with
    ``n_layers=3`` each output logit sees a 70x70 patch (C64-C128-C256 stride 2, C512 stride 1,
    then a 1-channel conv): a 30x30 logit map at 256x256.

    With ``minibatch_discrimination=True`` the last feature map is average-pooled per sample,
    passed through :class:`MinibatchDiscrimination` (``num_kernels`` x ``kernel_dim``), and the
    resulting batch statistics are broadcast over the map as extra channels before the final
    conv, so every patch verdict can see how alike the samples of the batch are.
    """
    h, w = (None if v is None else int(v) for v in input_shape[:2])
    c = int(input_shape[-1])
    target_channels = target_channels or c
    if conditional:
        inp = keras.Input((h, w, c), name="input_image")
        tar = keras.Input((h, w, target_channels), name="target_image")
        inputs = [inp, tar]
        x = layers.Concatenate(name="condition")(inputs)
    else:
        inputs = x = keras.Input((h, w, c), name="image")
    for i in range(n_layers):
        x = downsample(x, min(filters * 2 ** i, filters * 8), norm=None if i == 0 else norm, name=f"down{i + 1}")

    x = layers.ZeroPadding2D(name="pad1")(x)
    x = layers.Conv2D(min(filters * 2 ** n_layers, filters * 8), 4, kernel_initializer=gan_init(),
                      use_bias=norm in (None, "none"), name="conv")(x)
    bn = norm_layer(norm, name="conv_norm")
    if bn is not None:
        x = bn(x)
    x = layers.LeakyReLU(0.2, name="conv_act")(x)

    if minibatch_discrimination:
        fh, fw = x.shape[1], x.shape[2]
        stats = layers.GlobalAveragePooling2D(name="mbd_pool")(x)
        stats = MinibatchDiscrimination(num_kernels, kernel_dim, concat=False, name="minibatch_discrimination")(stats)
        stats = layers.Reshape((1, 1, num_kernels), name="mbd_reshape")(stats)
        stats = layers.UpSampling2D((fh, fw), name="mbd_broadcast")(stats)
        x = layers.Concatenate(name="mbd_concat")([x, stats])

    x = layers.ZeroPadding2D(name="pad2")(x)
    logits = layers.Conv2D(1, 4, kernel_initializer=gan_init(), dtype="float32", name="patch_logits")(x)
    return network(inputs, logits, name)
