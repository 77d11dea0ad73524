"""Zoo entries `gan-mnist`, `cgan-mnist`, `lsgan-mnist`, `dcgan-mnist`: the classic GANs on MNIST.

All four are recipes for one trainer (:class:`pix2gan.trainers.LatentGAN`) and differ only in
options: builders, adversarial loss, optimizer settings, conditioning and an exponential moving
average (EMA) of the generator's weights. Each run writes a fixed-noise sample grid per epoch (PNG +
TensorBoard), D(x), D(G(z)) and the losses as scalars, and, with ``--fid-every``, the MNIST-FID (and
label accuracy for conditional models) per epoch. With ``--ema-decay`` the grids, the scores and the
saved ``<run>_generator.h5`` all come from the EMA generator (the per-epoch scores of the raw one
are logged beside them as ``raw_fid`` / ``raw_label_accuracy``).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass

import keras
import numpy as np

from ..callbacks import ImageGridCallback, ScalarLogger
from ..classifier import CLASSIFIER_PATH, MnistJudge, load_or_train_classifier
from ..data.mnist import IMAGE_SHAPE, NUM_CLASSES, mnist_dataset, read_mnist, resolve_mnist
from ..discriminators import build_dcgan_discriminator, build_mlp_discriminator
from ..errors import Pix2GanError
from ..generators import build_dcgan_generator, build_mlp_generator
from ..imaging import tile_batch, to_uint8, write_image
from ..losses import ADVERSARIAL_LOSSES
from ..options import add_common_args, positive_int
from ..saving import load_model, save_run
from ..trainers import LatentGAN
from ..trainers.latent import is_conditional, sample_generator, sample_noise
from ..training import fit_gan, run_dir_for
from .registry import Entry, register


@dataclass(frozen=True)
class Recipe:
    """Everything that tells the four MNIST entries apart."""
    name: str
    summary: str
    arch: str                      # 'mlp' or 'dcgan'
    latent_dim: int
    conditional: bool
    loss: str
    lr: float
    beta1: float
    beta2: float
    weight_decay: float
    batch_size: int
    epochs: int
    g_hidden: tuple = ()
    d_hidden: tuple = ()
    norm: str | None = None
    g_activation: str = "relu"
    d_activation: str = "leaky_relu"
    filters: int = 64
    ema_decay: float = 0.0         # moving average of G's weights; sampled, scored and saved
    label_smoothing: float = 0.0


_CLSGAN = dict(arch="mlp", latent_dim=100, conditional=True, lr=3e-4, beta1=0.4, beta2=0.8, weight_decay=1e-4,
               batch_size=100, epochs=50, g_hidden=(128, 256, 512, 1024), d_hidden=(1024, 512, 256, 128),
               norm="batch", g_activation="gelu", d_activation="gelu")
RECIPES = {r.name: r for r in (
    Recipe("gan-mnist", "vanilla GAN: MLP G 64-256-256-784 / D 784-256-256-1, BCE, Adam 2e-4, batch 100",
           arch="mlp", latent_dim=64, conditional=False, loss="bce", lr=2e-4, beta1=0.5, beta2=0.999,
           weight_decay=0.0, batch_size=100, epochs=50, g_hidden=(256, 256), d_hidden=(256, 256)),
    Recipe("cgan-mnist", "conditional GAN: label embeddings, BatchNorm+GELU MLPs 128-1024, BCE, AdamW 3e-4",
           loss="bce", **_CLSGAN),
    Recipe("lsgan-mnist", "conditional least-squares GAN: as cgan-mnist with the MSE adversarial loss and an "
           "EMA (0.999) of G's weights", loss="lsgan", ema_decay=0.999, **_CLSGAN),
    Recipe("dcgan-mnist", "DCGAN (Radford et al.), class-conditional by default (--unconditional for the paper's): "
           "transposed-conv G, strided-conv D, BatchNorm, BCE with one-sided label smoothing 0.1, Adam 4e-4 "
           "(beta1 0.5), batch 64, EMA (0.999) of G's weights",
           arch="dcgan", latent_dim=100, conditional=True, loss="bce", lr=4e-4, beta1=0.5, beta2=0.999,
           weight_decay=0.0, batch_size=64, epochs=25, filters=64, ema_decay=0.999, label_smoothing=0.1),
)}


def build_networks(recipe: Recipe) -> tuple[keras.Model, keras.Model]:
    """The recipe's generator and discriminator."""
    classes = NUM_CLASSES if recipe.conditional else 0
    if recipe.arch == "dcgan":
        return (build_dcgan_generator(recipe.latent_dim, IMAGE_SHAPE, recipe.filters, classes),
                build_dcgan_discriminator(IMAGE_SHAPE, recipe.filters, classes))
    return (build_mlp_generator(recipe.latent_dim, recipe.g_hidden, IMAGE_SHAPE, classes, norm=recipe.norm,
                                activation=recipe.g_activation),
            build_mlp_discriminator(IMAGE_SHAPE, recipe.d_hidden, classes, embed_dim=recipe.latent_dim,
                                    norm=recipe.norm, activation=recipe.d_activation))


def make_optimizer(recipe: Recipe) -> keras.optimizers.Optimizer:
    """Adam, or AdamW when the recipe has weight decay."""
    if recipe.weight_decay:
        return keras.optimizers.AdamW(recipe.lr, beta_1=recipe.beta1, beta_2=recipe.beta2,
                                      weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(recipe.lr, beta_1=recipe.beta1, beta_2=recipe.beta2)


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--h5", help="read MNIST from an .h5 written by pix2gan.data.mnist.write_mnist_h5")
    parser.add_argument("--download", action="store_true", help="download Keras's mnist.npz (sha256-checked)")
    parser.add_argument("--classifier", default=CLASSIFIER_PATH,
                        help=f"the MNIST judge (default {CLASSIFIER_PATH}; trained there on first use)")


def add_train_args_for(recipe: Recipe):
    def add_train_args(parser: argparse.ArgumentParser) -> None:
        add_common_args(parser, epochs=recipe.epochs, batch_size=recipe.batch_size, run_name=recipe.name)
        add_data_args(parser)
        parser.add_argument("--loss", choices=ADVERSARIAL_LOSSES, default=recipe.loss,
                            help=f"adversarial loss (default {recipe.loss})")
        parser.add_argument("--label-smoothing", type=float, default=recipe.label_smoothing,
                            help=f"one-sided label smoothing (default {recipe.label_smoothing:g})")
        parser.add_argument("--ema-decay", type=float, default=recipe.ema_decay,
                            help="exponential moving average of the generator's weights, which is then what is "
                                 f"sampled, scored and saved (0: off; default {recipe.ema_decay:g})")
        parser.add_argument("--latent-dim", type=positive_int, default=recipe.latent_dim)
        parser.add_argument("--lr", type=float, default=recipe.lr)
        parser.add_argument("--beta1", type=float, default=recipe.beta1)
        parser.add_argument("--beta2", type=float, default=recipe.beta2)
        parser.add_argument("--weight-decay", type=float, default=recipe.weight_decay)
        parser.add_argument("--recon-weight", type=float, default=0.0,
                            help="weight of an L1 term |G(z,y) - x| (the C-LSGAN reference uses 0.05; costs variety)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--conditional", dest="conditional", action="store_true", default=recipe.conditional,
                           help="class-conditional G and D" + (" (default)" if recipe.conditional else ""))
        group.add_argument("--unconditional", dest="conditional", action="store_false")
        if recipe.arch == "dcgan":
            parser.add_argument("--filters", type=positive_int, default=recipe.filters, help="base filters of G and D")
        parser.add_argument("--train-limit", type=positive_int, help="train on the first N training images only")
        parser.add_argument("--fid-every", type=int, default=1, help="MNIST-FID every N epochs (0: never; default 1)")
        parser.add_argument("--fid-samples", type=positive_int, default=2000,
                            help="samples for the per-epoch MNIST-FID (default 2000)")
        parser.add_argument("--eval-samples", type=int, default=10000,
                            help="samples for the final scores (default 10000; 0 skips them)")
    return add_train_args


def recipe_from_args(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """The recipe with the command-line overrides applied."""
    return dataclasses.replace(recipe, latent_dim=args.latent_dim, conditional=args.conditional, loss=args.loss,
                               lr=args.lr, beta1=args.beta1, beta2=args.beta2, weight_decay=args.weight_decay,
                               batch_size=args.batch_size, filters=getattr(args, "filters", recipe.filters),
                               ema_decay=args.ema_decay, label_smoothing=args.label_smoothing)


def grid_renderer(latent_dim: int, conditional: bool, seed: int = 1234):
    """A 10x10 grid from fixed noise; conditional: row k asks for label k."""
    z = sample_noise(100, latent_dim, seed)
    labels = np.repeat(np.arange(NUM_CLASSES), 10) if conditional else None

    def render(trainer):
        images = sample_generator(trainer.inference_generator, 100, labels, z=z)
        return tile_batch(to_uint8(images), 10)
    return render


def sample_for_scoring(generator: keras.Model, n: int, seed: int = 0):
    """``n`` samples and (conditional) the labels asked for: an equal share of each label."""
    labels = np.arange(n) % NUM_CLASSES if is_conditional(generator) else None
    return sample_generator(generator, n, labels, seed=seed), labels


def _number_scores(scores: dict) -> dict:
    """The scalar scores, with the class histogram spread into ``class_<k>`` fractions (for TensorBoard)."""
    out = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
    out.update({f"class_{k}": v for k, v in enumerate(scores.get("class_histogram", []))})
    return out


class Throughput(keras.callbacks.Callback):
    """Training images per second per epoch (the first epoch, which traces the step, is dropped
    when there are more)."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self.rates: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self._steps * self.batch_size / (time.perf_counter() - self._start))

    @property
    def images_per_second(self) -> float:
        rates = self.rates[1:] or self.rates
        return float(np.median(rates)) if rates else float("nan")


def train_recipe(recipe: Recipe, args: argparse.Namespace) -> dict:
    """Train one MNIST entry; save ``<out>/<run>_generator.h5`` (+ D, + model card); return metrics."""
    keras.utils.set_random_seed(args.seed)
    recipe = recipe_from_args(recipe, args)
    source = resolve_mnist(args.data_dir, args.h5, args.download)
    train_images, train_labels = read_mnist(source, "train")
    if args.train_limit:
        train_images, train_labels = train_images[:args.train_limit], train_labels[:args.train_limit]
    if len(train_images) < recipe.batch_size:
        raise Pix2GanError(f"--batch-size {recipe.batch_size} exceeds the {len(train_images)} training images: "
                           "lower --batch-size or raise --train-limit")
    steps = args.steps_per_epoch or len(train_images) // recipe.batch_size
    run_dir = run_dir_for(args.logdir, args.run_name)
    print(f"{recipe.name}: MNIST {source}, {len(train_images)} images, {'conditional' if recipe.conditional else 'unconditional'} "
          f"{recipe.arch}, loss {recipe.loss}, batch {recipe.batch_size}, {args.epochs} epochs x {steps} steps"
          + (f", generator EMA {recipe.ema_decay:g}" if recipe.ema_decay else ""))

    generator, discriminator = build_networks(recipe)
    trainer = LatentGAN(generator, discriminator, adversarial_loss=recipe.loss,
                        label_smoothing=recipe.label_smoothing, reconstruction_weight=args.recon_weight, seed=args.seed,
                        ema_decay=recipe.ema_decay)
    trainer.compile(make_optimizer(recipe), make_optimizer(recipe), jit_compile=args.jit_compile)
    data = mnist_dataset(train_images, train_labels, recipe.batch_size, training=True, seed=args.seed)

    judge = None
    if args.fid_every > 0 or args.eval_samples > 0:
        judge = MnistJudge(load_or_train_classifier(source, args.classifier), read_mnist(source, "test"),
                           (train_images, train_labels))
    throughput = Throughput(recipe.batch_size)
    callbacks = [throughput, ImageGridCallback(grid_renderer(recipe.latent_dim, recipe.conditional), run_dir)]
    if judge is not None and args.fid_every > 0:
        def per_epoch(model):
            scores = _number_scores(judge.score(*sample_for_scoring(model.inference_generator, args.fid_samples)))
            if model.ema_generator is not None:  # the raw generator too, to see what the average buys
                raw = judge.score(*sample_for_scoring(model.generator, args.fid_samples))
                scores.update({f"raw_{k}": raw[k] for k in ("fid", "label_accuracy") if k in raw})
            return scores
        callbacks.append(ScalarLogger(per_epoch, run_dir, every=args.fid_every))
    history = fit_gan(trainer, data, run_dir=run_dir, epochs=args.epochs, steps_per_epoch=steps,
                      callbacks=callbacks, verbose=args.verbose)

    metrics = {k: float(v[-1]) for k, v in history.history.items() if v}
    metrics["images_per_s"] = throughput.images_per_second
    if judge is not None and args.eval_samples > 0:
        images, labels = sample_for_scoring(trainer.inference_generator, args.eval_samples, seed=args.seed + 1)
        scores = judge.score(images, labels)
        metrics.update({f"final_{k}": v for k, v in scores.items()})
        metrics["fid_floor"] = judge.floor(args.eval_samples)
    save_run(args.out, args.run_name, trainer.inference_generator, {
        "entry": recipe.name, "data": source, "recipe": dataclasses.asdict(recipe), "epochs": args.epochs,
        "steps_per_epoch": steps, "train_images": len(train_images), "seed": args.seed,
        "value_range": "[-1, 1] (tanh)", "metrics": metrics,
    }, discriminator, run_dir)
    print("final: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return metrics


def add_eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="saved generator (.h5 or .keras)")
    parser.add_argument("--data-dir", help="MNIST folder (idx files or mnist.npz)")
    parser.add_argument("--n", type=positive_int, default=10000, help="generated images to score (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    add_data_args(parser)


def evaluate_entry(args: argparse.Namespace) -> dict:
    """Print and return MNIST-FID beside the real-vs-real floor, class histogram and (conditional)
    label accuracy and per-label pixel-std ratio of a saved generator."""
    generator = load_model(args.weights)
    source = resolve_mnist(args.data_dir, args.h5, args.download)
    judge = MnistJudge.from_source(source, args.classifier)
    images, labels = sample_for_scoring(generator, args.n, args.seed)
    scores = judge.score(images, labels)
    scores["fid_floor"] = judge.floor(args.n)
    scores["fid_over_floor"] = scores["fid"] / scores["fid_floor"]
    print(f"{args.weights}: MNIST-FID {scores['fid']:.3f} (real-vs-real floor {scores['fid_floor']:.3f}, "
          f"{scores['fid_over_floor']:.1f}x) on {args.n} samples")
    if labels is not None:
        print(f"label accuracy {scores['label_accuracy']:.4f}; per-label pixel std / real: "
              f"min {scores['std_ratio_min']:.3f}, mean {scores['std_ratio_mean']:.3f}")
    print(f"class histogram (0-9): {' '.join(f'{h:.3f}' for h in scores['class_histogram'])}; "
          f"{scores['classes_covered']} classes with >= 2%")
    return scores


def add_sample_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="saved generator (.h5 or .keras)")
    parser.add_argument("--n", type=positive_int, default=64, help="number of samples (default 64)")
    parser.add_argument("--label", type=int, help="digit 0-9 to draw (conditional generators; default: all labels in turn)")
    parser.add_argument("--ncols", type=positive_int, help="grid columns (default 8, or 10 for label rows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="PNG to write (default: next to the weights, <stem>_samples.png)")


def sample_entry(args: argparse.Namespace) -> str:
    """Write a PNG grid of ``--n`` samples (of ``--label`` for conditional generators)."""
    generator = load_model(args.weights)
    conditional = is_conditional(generator)
    labels = None
    if args.label is not None:
        if not conditional:
            raise Pix2GanError(f"--label {args.label}: generator {args.weights} is unconditional; drop --label "
                               "or use a conditional model (cgan-mnist, lsgan-mnist, dcgan-mnist)")
        if not 0 <= args.label < NUM_CLASSES:
            raise Pix2GanError(f"--label {args.label} is not a digit: use 0-9")
        labels = args.label
    elif conditional:
        labels = np.arange(args.n) % NUM_CLASSES
    images = sample_generator(generator, args.n, labels, seed=args.seed)
    ncols = args.ncols or (10 if conditional and args.label is None else 8)
    path = args.output or os.path.splitext(args.weights)[0] + "_samples.png"
    write_image(path, tile_batch(to_uint8(images), ncols))
    print(f"wrote {args.n} samples to {path}")
    return path


def _register(recipe: Recipe) -> Entry:
    return register(Entry(recipe.name, recipe.summary, add_train_args_for(recipe),
                          lambda args: train_recipe(recipe, args), add_eval_args, evaluate_entry,
                          add_sample_args, sample_entry))


ENTRIES = [_register(r) for r in RECIPES.values()]
