"""Trainers: ``keras.Model`` subclasses whose ``train_step`` holds the GAN's GradientTapes."""
from .base import GANTrainer
from .cyclegan import CycleGAN, HistoryPool, LinearDecay, cyclegan_optimizer
from .latent import LatentGAN
from .pix2pix import Pix2Pix

__all__ = ["CycleGAN", "GANTrainer", "HistoryPool", "LatentGAN", "LinearDecay", "Pix2Pix", "cyclegan_optimizer"]
