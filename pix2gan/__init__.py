"""pix2gan: a Keras 3 / TensorFlow GAN zoo for image-to-image translation and image generation."""
import os as _os

# TensorFlow's C++ info/warning chatter hides our own messages; users can still set the variable.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
__version__ = "0.1.0"

from . import zoo  # noqa: E402
from .allocator import tune_allocator  # noqa: E402
from .composite import build_adversarial_model  # noqa: E402
from .errors import Pix2GanError  # noqa: E402
from .layers import MinibatchDiscrimination  # noqa: E402
from .networks import build_patchgan_discriminator, build_unet_generator  # noqa: E402
from .trainers import GANTrainer, Pix2Pix  # noqa: E402

__all__ = ["build_adversarial_model", "build_patchgan_discriminator", "build_unet_generator",
           "MinibatchDiscrimination", "GANTrainer", "Pix2Pix", "Pix2GanError", "tune_allocator", "zoo"]
