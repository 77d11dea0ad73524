"""Trainers: ``keras.Model`` subclasses whose ``train_step`` holds the GAN's GradientTapes."""
from .base import GANTrainer
from .pix2pix import Pix2Pix
from .latent import LatentGAN

__all__ = ["GANTrainer", "LatentGAN", "Pix2Pix"]
