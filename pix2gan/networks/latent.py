"""Latent-variable GAN networks: MLP and DCGAN generators and discriminators (MNIST digits, EuroSAT scenes).

Generators map noise ``z`` (and, if conditional, an integer label) to an image in [-1, 1];
discriminators map an image (and label) to one logit. Their output layers compute in float32 under any Keras dtype
policy (a mixed-precision network still outputs float32 images and logits).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from ..errors import Pix2GanError
from .blocks import class_conditional_batchnorm, downsample, gan_init, network, norm_layer, upsample

# The output layers (tanh images, logits) compute in float32 whatever the Keras dtype policy: under
# mixed_bfloat16 / mixed_float16 the losses and saved outputs then stay float32.
OUTPUT_DTYPE = "float32"


LABEL_INITS = ("uniform", "normal")
G_CONDITIONINGS = ("concat", "batchnorm")


def _label_initializer(label_init: str):
    if label_init not in LABEL_INITS:
        raise Pix2GanError(f"label_init={label_init!r} is not a label embedding initialisation: use 'uniform' (Keras's "
                           "U(-0.05, 0.05)) or 'normal' (N(0, 1), as strong as the noise)", argument="label_init")
    return "uniform" if label_init == "uniform" else keras.initializers.RandomNormal(0.0, 1.0)


def label_embedding(labels, num_classes: int, dim: int, name: str, label_init: str = "uniform"):
    """``Embedding(num_classes, dim)`` of integer labels, flattened to ``(batch, dim)``; ``label_init``
    'uniform' starts it at Keras's U(-0.05, 0.05), 'normal' at N(0, 1)."""
    x = layers.Embedding(num_classes, dim, embeddings_initializer=_label_initializer(label_init),
                         name=f"{name}_embedding")(labels)
    return layers.Flatten(name=f"{name}_embedding_flat")(x)


def _latent_inputs(latent_dim: int, num_classes: int, embed_dim: int | None, name: str, label_init: str = "uniform"):
    """Noise input (and label input); returns (inputs, noise-plus-label tensor)."""
    z = keras.Input((latent_dim,), name="z")
    if not num_classes:
        return z, z
    labels = keras.Input((1,), dtype="int32", name="label")
    embedded = label_embedding(labels, num_classes, embed_dim or latent_dim, name, label_init)
    return [z, labels], layers.Concatenate(name=f"{name}_z_label")([z, embedded])


def _image_inputs(input_shape: Sequence[int], num_classes: int):
    """Image input (and label input); returns (inputs, image tensor, label tensor or None)."""
    image = keras.Input(tuple(input_shape), name="image")
    if not num_classes:
        return image, image, None
    labels = keras.Input((1,), dtype="int32", name="label")
    return [image, labels], image, labels


def dcgan_depth(height: int, width: int) -> int:
    """Number of stride-2 (up/down)samplings of the DCGAN networks for a ``height`` x ``width`` image.

    Both sides are halved together while they stay whole and above 4 (so 28 -> 7, 32 and 64 and
    128 -> 8), with at least two halvings: 2 at 28 and 32, 3 at 64, 4 at 128. Raises
    :class:`Pix2GanError` unless both sides are multiples of 4.
    """
    h, w = int(height), int(width)
    if h < 4 or w < 4 or h % 4 or w % 4:
        raise Pix2GanError(f"DCGAN image size {h}x{w} is not supported: both sides must be divisible by 4 "
                           "(at least two stride-2 upsamplings), e.g. 28, 32, 64 or 128")
    depth = 2
    while all(side % 2 ** (depth + 1) == 0 and side // 2 ** (depth + 1) > 4 for side in (h, w)):
        depth += 1
    return depth


def build_mlp_generator(latent_dim: int = 64, hidden: Sequence[int] = (256, 256),
                        output_shape: Sequence[int] = (28, 28, 1), num_classes: int = 0,
                        embed_dim: int | None = None, norm: str | None = None, activation: str = "relu",
                        output_activation: str = "tanh", name: str = "mlp_generator") -> keras.Model:
    """A fully connected generator ``z (, label) -> image``.

    Defaults are the vanilla GAN (64 -> 256 -> 256 -> 784, ReLU, tanh). With ``num_classes`` the
    label goes through ``Embedding(num_classes, embed_dim or latent_dim)`` and is concatenated with
    the noise (conditional GAN); ``norm='batch'`` adds BatchNorm before each hidden activation.
    Inputs: ``z`` (batch, latent_dim) and, if conditional, ``label`` (batch, 1) int32.
    """
    inputs, x = _latent_inputs(latent_dim, num_classes, embed_dim, name)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, use_bias=norm in (None, "none"), name=f"{name}_dense{i}")(x)
        if norm not in (None, "none"):
            x = norm_layer(norm, name=f"{name}_norm{i}")(x)
        x = layers.Activation(activation, name=f"{name}_act{i}")(x)
    x = layers.Dense(int(math.prod(output_shape)), activation=output_activation, dtype=OUTPUT_DTYPE,
                     name=f"{name}_out")(x)
    outputs = layers.Reshape(tuple(output_shape), dtype=OUTPUT_DTYPE, name=f"{name}_image")(x)
    return network(inputs, outputs, name)


def build_dcgan_generator(latent_dim: int = 100, output_shape: Sequence[int] = (28, 28, 1), filters: int = 64,
                          num_classes: int = 0, embed_dim: int | None = None, label_init: str = "uniform",
                          conditioning: str = "concat", name: str = "dcgan_generator") -> keras.Model:
    """DCGAN generator (Radford et al. 2016) for small images.

    ``z`` is projected and reshaped to a ``(H / 2**n, W / 2**n, filters * 2**(n-1))`` map (the
    paper's first layer, a matrix multiply and reshape), then ``n`` stride-2 transposed convs
    double the size while halving the width down to ``filters``, the last one producing the
    image. ``n`` comes from :func:`dcgan_depth` (2 at 28x28 and 32x32: from 7x7 / 8x8; 3 at
    64x64; 4 at 128x128). BatchNorm + ReLU everywhere but the output, which is a tanh; no pooling
    and no hidden fully connected layers.

    Conditional (``num_classes``; inputs ``[z, label]``), ``conditioning='concat'``: the label's
    embedding joins the noise before the projection; ``label_init`` starts it at Keras's
    U(-0.05, 0.05) ('uniform'), which next to N(0, 1) noise is a signal about 35x weaker than the
    noise's, or at N(0, 1) ('normal'). ``'batchnorm'``: the noise goes in alone and every
    BatchNorm takes its scale and shift from the label
    (:func:`~pix2gan.networks.blocks.class_conditional_batchnorm`).
    """
    if conditioning not in G_CONDITIONINGS:
        raise Pix2GanError(f"conditioning={conditioning!r} is not a way to give G the label: use 'concat' or "
                           "'batchnorm'", argument="g_conditioning")
    h, w, c = (int(v) for v in output_shape)
    depth = dcgan_depth(h, w)
    sh, sw = h // 2 ** depth, w // 2 ** depth
    by_norm = bool(num_classes) and conditioning == "batchnorm"
    if by_norm:
        z = keras.Input((latent_dim,), name="z")
        labels = keras.Input((1,), dtype="int32", name="label")
        inputs, x = [z, labels], z
    else:
        inputs, x = _latent_inputs(latent_dim, num_classes, embed_dim, name, label_init)

    def norm_relu(x, block):
        x = (class_conditional_batchnorm(x, labels, num_classes, f"{block}_norm") if by_norm
             else norm_layer("batch", name=f"{block}_norm")(x))
        return layers.ReLU(name=f"{block}_act")(x)

    x = layers.Dense(sh * sw * filters * 2 ** (depth - 1), use_bias=False, kernel_initializer=gan_init(),
                     name=f"{name}_project")(x)
    x = layers.Reshape((sh, sw, filters * 2 ** (depth - 1)), name=f"{name}_reshape")(x)
    x = norm_relu(x, f"{name}_project")
    for i in range(depth - 1):
        if not by_norm:
            x = upsample(x, filters * 2 ** (depth - 2 - i), size=4, norm="batch", name=f"{name}_up{i + 1}")
            continue
        # upsample()'s layers with the label's BatchNorm
        x = layers.Conv2DTranspose(filters * 2 ** (depth - 2 - i), 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=gan_init(), name=f"{name}_up{i + 1}_convT")(x)
        x = norm_relu(x, f"{name}_up{i + 1}")
    outputs = layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh", dtype=OUTPUT_DTYPE,
                                     kernel_initializer=gan_init(), name=f"{name}_out")(x)
    return network(inputs, outputs, name)


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
    outputs = layers.Dense(1, dtype=OUTPUT_DTYPE, name=f"{name}_logit")(x)
    return network(inputs, outputs, name)


def build_dcgan_discriminator(input_shape: Sequence[int] = (28, 28, 1), filters: int = 64, num_classes: int = 0,
                              norm: str | None = "batch", spectral_norm: bool = False, conditioning: str = "plane",
                              name: str = "dcgan_discriminator") -> keras.Model:
    """DCGAN discriminator (Radford et al. 2016): stride-2 convs, LeakyReLU 0.2, BatchNorm on all but
    the first conv, no pooling, no hidden dense layer; one logit from the flattened last map.

    The image is halved :func:`dcgan_depth` times (2 at 28x28 and 32x32, 3 at 64x64, 4 at
    128x128), mirroring the generator, with widths ``filters``, ``2 * filters``, ...
    Conditional (``num_classes``), ``conditioning='plane'``: the label's embedding is reshaped to
    one extra image channel; ``'projection'`` (Miyato & Koyama 2018): the logit gains the inner
    product of the flattened last map with the label's embedding (zeros at first), and the image
    goes in alone. ``norm`` ('batch' or None) is the normalisation after every conv but the first;
    ``spectral_norm`` wraps every conv and the logit layer in Keras's ``SpectralNormalization``
    (Miyato et al. 2018; one power iteration per training call), usually with ``norm=None``.
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    depth = dcgan_depth(h, w)
    if conditioning not in ("plane", "projection"):
        raise Pix2GanError(f"conditioning={conditioning!r} is not a way to give D the label: use 'plane' or "
                           "'projection'", argument="conditioning")
    inputs, image, labels = _image_inputs(input_shape, num_classes)
    x = image
    if num_classes and conditioning == "plane":
        plane = label_embedding(labels, num_classes, h * w, name)
        plane = layers.Reshape((h, w, 1), name=f"{name}_label_plane")(plane)
        x = layers.Concatenate(name=f"{name}_image_label")([image, plane])
    for i in range(depth):
        block_norm = None if i == 0 else norm
        if not spectral_norm:
            x = downsample(x, filters * 2 ** i, size=4, norm=block_norm, name=f"{name}_down{i + 1}")
            continue
        # downsample()'s layers, with the conv wrapped (the wrapper needs the conv unbuilt)
        conv = layers.Conv2D(filters * 2 ** i, 4, strides=2, padding="same", kernel_initializer=gan_init(),
                             use_bias=block_norm in (None, "none"), name=f"{name}_down{i + 1}_conv")
        x = layers.SpectralNormalization(conv, name=f"{name}_down{i + 1}_sn")(x)
        if block_norm not in (None, "none"):
            x = norm_layer(block_norm, name=f"{name}_down{i + 1}_norm")(x)
        x = layers.LeakyReLU(0.2, name=f"{name}_down{i + 1}_act")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    logit = layers.Dense(1, kernel_initializer=gan_init(), dtype=OUTPUT_DTYPE, name=f"{name}_logit")
    if spectral_norm:
        logit = layers.SpectralNormalization(logit, dtype=OUTPUT_DTYPE, name=f"{name}_logit_sn")
    outputs = logit(x)
    if num_classes and conditioning == "projection":
        # the projection term joins the float32 logit, so its layers compute in float32 too
        embedded = layers.Embedding(num_classes, x.shape[-1], embeddings_initializer="zeros", dtype=OUTPUT_DTYPE,
                                    name=f"{name}_projection_embedding")(labels)
        embedded = layers.Flatten(dtype=OUTPUT_DTYPE, name=f"{name}_projection_flat")(embedded)
        projection = layers.Dot(axes=1, dtype=OUTPUT_DTYPE, name=f"{name}_projection")([x, embedded])
        outputs = layers.Add(dtype=OUTPUT_DTYPE, name=f"{name}_logit_projected")([outputs, projection])
    return network(inputs, outputs, name)
