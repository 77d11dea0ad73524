"""The adversarial (composite) model: generator followed by the discriminator's verdict."""
from __future__ import annotations

import keras


def build_adversarial_model(generator: keras.Model, discriminator: keras.Model,
                            name: str = "adversarial") -> keras.Model:
    """Input image -> (generated image, discriminator logits on it).

    A conditional discriminator (two inputs) sees ``[input, generated]``; an unconditional one
    sees the generated image alone. The layers are shared with ``generator`` and
    ``discriminator``. The discriminator is "frozen" the Keras 3 way: trainers take the gradient
    of the generator loss with respect to ``generator.trainable_variables`` only, rather than
    setting ``discriminator.trainable = False`` (which in Keras 3 would also switch its
    BatchNorm layers to inference mode, see KERAS3 notes).
    """
    inputs = keras.Input(generator.input_shape[1:], name="input_image")
    generated = generator(inputs)
    if len(discriminator.inputs) == 2:
        verdict = discriminator([inputs, generated])
    else:
        verdict = discriminator(generated)
    return keras.Model(inputs, [generated, verdict], name=name)
