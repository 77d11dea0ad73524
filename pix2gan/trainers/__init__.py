"""Trainers: ``keras.Model`` subclasses whose ``train_step`` holds the GAN's GradientTapes."""
from .base import GANTrainer
from .latent import LatentGAN
from .pix2pix import Pix2Pix

__all__ = ["GANTrainer", "LatentGAN", "Pix2Pix"]
