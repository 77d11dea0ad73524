"""Discriminator builders (Keras functional API). Every discriminator returns logits."""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from .blocks import downsample, gan_init, norm_layer
from .layers import MinibatchDiscrimination


def build_patchgan_discriminator(input_shape: Sequence[int] = (256, 256, 3), target_channels: int | None = None,
                                 filters: int = 64, n_layers: int = 3, norm: str = "batch",
                                 minibatch_discrimination: bool = False, num_kernels: int = 100,
                                 kernel_dim: int = 5, name: str = "patchgan_discriminator") -> keras.Model:
    """The pix2pix PatchGAN, conditioned on the input image.

    Inputs ``[input_image, target_or_generated_image]`` are concatenated along channels; with
    ``n_layers=3`` each output logit sees a 70x70 patch (C64-C128-C256 stride 2, C512 stride 1,
    then a 1-channel conv): a 30x30 logit map at 256x256.

    With ``minibatch_discrimination=True`` the last feature map is average-pooled per sample,
    passed through :class:`MinibatchDiscrimination` (``num_kernels`` x ``kernel_dim``), and the
    resulting batch statistics are broadcast over the map as extra channels before the final
    conv, so every patch verdict can see how alike the samples of the batch are.
    """
    h, w, c = (int(v) for v in input_shape)
    target_channels = target_channels or c
    inp = keras.Input((h, w, c), name="input_image")
    tar = keras.Input((h, w, target_channels), name="target_image")
    x = layers.Concatenate(name="condition")([inp, tar])
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
    return keras.Model([inp, tar], logits, name=name)


# --- latent-variable GAN discriminators (MNIST family) -------------------------------------------
from .generators import label_embedding  # noqa: E402


def _image_inputs(input_shape: Sequence[int], num_classes: int):
    image = keras.Input(tuple(input_shape), name="image")
    if not num_classes:
        return image, image, None
    labels = keras.Input((1,), dtype="int32", name="label")
    return [image, labels], image, labels


def build_mlp_discriminator(input_shape: Sequence[int] = (28, 28, 1), hidden: Sequence[int] = (256, 256),
                            num_classes: int = 0, embed_dim: int = 64, norm: str | None = None,
                            activation: str = "leaky_relu", dropout: float = 0.0,
                            name: str = "mlp_discriminator") -> keras.Model:
    """A fully connected discriminator ``image (, label) -> logit``.

    Defaults are the vanilla GAN (784 -> 256 -> 256 -> 1, LeakyReLU 0.2). With ``num_classes``
    the label's ``Embedding(num_classes, embed_dim)`` is concatenated with the flattened image;
    ``norm='batch'`` adds BatchNorm before each hidden activation but the first.
    """
    inputs, image, labels = _image_inputs(input_shape, num_classes)
    x = layers.Flatten(name=f"{name}_flatten")(image)
    if num_classes:
        x = layers.Concatenate(name=f"{name}_image_label")([x, label_embedding(labels, num_classes, embed_dim, name)])
    for i, units in enumerate(hidden):
        x = layers.Dense(units, use_bias=norm in (None, "none") or i == 0, name=f"{name}_dense{i}")(x)
        if norm not in (None, "none") and i > 0:
            x = norm_layer(norm, name=f"{name}_norm{i}")(x)
        x = (layers.LeakyReLU(0.2, name=f"{name}_act{i}") if activation == "leaky_relu"
             else layers.Activation(activation, name=f"{name}_act{i}"))(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
    outputs = layers.Dense(1, name=f"{name}_logit")(x)
    return keras.Model(inputs, outputs, name=name)


def build_dcgan_discriminator(input_shape: Sequence[int] = (28, 28, 1), filters: int = 64, num_classes: int = 0,
                              name: str = "dcgan_discriminator") -> keras.Model:
    """DCGAN discriminator (Radford et al. 2016): stride-2 convs, LeakyReLU 0.2, BatchNorm on all but
    the first conv, no pooling, no hidden dense layer; one logit from the flattened last map.

    Conditional (``num_classes``): the label's embedding is reshaped to one extra image channel.
    """
    inputs, image, labels = _image_inputs(input_shape, num_classes)
    x = image
    if num_classes:
        h, w = int(input_shape[0]), int(input_shape[1])
        plane = label_embedding(labels, num_classes, h * w, name)
        plane = layers.Reshape((h, w, 1), name=f"{name}_label_plane")(plane)
        x = layers.Concatenate(name=f"{name}_image_label")([image, plane])
    x = downsample(x, filters, size=4, norm=None, name=f"{name}_down1")
    x = downsample(x, filters * 2, size=4, norm="batch", name=f"{name}_down2")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    outputs = layers.Dense(1, kernel_initializer=gan_init(), name=f"{name}_logit")(x)
    return keras.Model(inputs, outputs, name=name)


def build_resnet_discriminator(input_shape: Sequence[int] = (64, 64, 3), stem_filters: int = 16,
                               stages: Sequence[int] = (3, 4, 6, 3), widths: Sequence[int] = (16, 32, 128, 256),
                               norm: str = "batch", name: str = "resnet_discriminator") -> keras.Model:
    """The cloud-removal reference's unconditional ResNet discriminator: one logit per image.

    Stem: 7x7 stride-2 conv (``stem_filters``), norm, ReLU, 3x3 stride-2 max-pool; then residual
    stages of ``stages`` basic blocks at ``widths`` filters (the first block of every stage
    after the first has stride 2), global average pooling and a dense logit. About 5.04M
    parameters at the defaults.
    """
    from .blocks import residual_block
    inputs = keras.Input(tuple(input_shape), name="image")
    x = layers.Conv2D(stem_filters, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    bn = norm_layer(norm, name="stem_norm")
    x = bn(x) if bn is not None else x
    x = layers.ReLU(name="stem_act")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (blocks, filters) in enumerate(zip(stages, widths)):
        for b in range(blocks):
            x = residual_block(x, filters, strides=2 if (s and not b) else 1, norm=norm, name=f"stage{s + 1}_block{b + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logits, name=name)
