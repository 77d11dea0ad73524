"""Judges: small CNN classifiers trained once by pix2gan, whose penultimate ``features`` layer
turns sets of images into a Frechet distance (FID-style), and the scores built on them.

:class:`FeatureJudge` holds what every judge shares: features and predictions of a set of images
(batched, in any value range), their statistics, the Frechet distance between two sets and the
accuracy against labels. Two judges build on it:

- The MNIST judge (:class:`MnistJudge`) turns generated digits into numbers: MNIST-FID (Frechet
  distance between the classifier's penultimate features of generated and test images), the
  real-vs-real floor (train vs test), the class histogram of samples (mode coverage) and, for
  conditional generators, the classifier's accuracy against the requested labels and the per-label
  pixel standard deviation of samples relative to real digits of that label (1.0 = as varied as
  real digits; a generator that draws one image per label scores near 0). It lives at
  ``models/mnist_classifier.h5``; ``pix2gan make-judge`` (:func:`make_judge`) trains it (about a
  minute on two CPU cores, > 99 % test accuracy); training an MNIST entry makes it on first use too.
- The EuroSAT judge (:class:`EurosatJudge`) gives the Frechet distance between sets of 64x64 RGB
  tiles. It lives at ``models/eurosat_classifier.h5``; ``pix2gan make-judge --dataset eurosat``
  (:func:`make_eurosat_judge`) trains it on the EuroSAT train split (a few minutes on two CPU
  cores, about 92 % test accuracy).

``evaluate`` only loads judges (:func:`load_classifier`, :func:`load_eurosat_judge`): it never
trains or writes one.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .data.common import batch_pipeline, scale_images
from .data.eurosat import CLASSES as EUROSAT_CLASSES
from .data.eurosat import TILE, load_eurosat
from .data.mnist import NUM_CLASSES, SYNTHETIC, mnist_dataset, read_mnist, scale_mnist
from .errors import Pix2GanError
from .imaging import check_output_file
from .metrics import feature_statistics, frechet_distance
from .modelcheck import inspect_model
from .predict import predict_in_batches
from .saving import load_model, save_model_files

logger = logging.getLogger("pix2gan")

FEATURES_LAYER = "features"

CLASSIFIER_PATH = os.path.join("models", "mnist_classifier.h5")
MNIST_SHAPE = (28, 28, 1)
MIN_ACCURACY = 0.99

EUROSAT_CLASSIFIER_PATH = os.path.join("models", "eurosat_classifier.h5")
EUROSAT_SHAPE = (TILE, TILE, 3)
EUROSAT_EPOCHS = 6
# the judge reaches about 0.92 on the test split (6 epochs); under this it is refused (nothing written)
EUROSAT_MIN_ACCURACY = 0.88
EUROSAT_MAKE_COMMAND = "pix2gan make-judge --dataset eurosat --data-dir DIR"


# ------------------------------------------------------------------------------- shared parts

def _conv_bn_relu(x, filters: int, strides: int, name: str, momentum: float = 0.99):
    """3x3 convolution (no bias) -> BatchNorm -> ReLU, the unit of every judge."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"conv{name}")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"norm{name}")(x)
    return layers.ReLU(name=f"act{name}")(x)


def train_classifier(model: keras.Model, dataset: tf.data.Dataset, steps: int, epochs: int,
                     learning_rate: float = 2e-3, alpha: float = 0.02, warmup_steps: int = 0,
                     weight_decay: float | None = None, verbose: int = 0) -> keras.Model:
    """Fit ``model`` (logits) on a repeating ``(images, labels)`` dataset: Adam with a cosine decay
    from ``learning_rate`` to ``alpha`` times it over ``epochs * steps`` steps (after a linear
    warm-up of ``warmup_steps`` from 0, if any), sparse cross-entropy. Returns ``model``."""
    total = max(1, epochs * steps - warmup_steps)
    if warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(0.0, total, alpha=alpha, warmup_target=learning_rate,
                                                          warmup_steps=warmup_steps)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, total, alpha=alpha)
    model.compile(keras.optimizers.Adam(schedule, weight_decay=weight_decay),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    # shuffle=False: the dataset shuffles itself (Keras only warns that it cannot)
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=verbose)
    return model


def _check_judge_path(path: str) -> str:
    """Refuse, before any training, an output the judge cannot be written to (judges are .h5)."""
    if os.path.isdir(path) or not path.lower().endswith(".h5"):
        problem = "is a folder" if os.path.isdir(path) else "is not an .h5 file"
        raise Pix2GanError(f"judge {path} {problem}: pass a file name ending in .h5 (e.g. models/judge.h5)",
                           argument="output")
    return check_output_file(path, "judge", argument="output", also=(".h5",))


def _save_judge(model: keras.Model, path: str, title: str, accuracy: float, min_accuracy: float, fix: str) -> str:
    """Save a freshly trained judge to ``path`` if it reached ``min_accuracy`` on its test set;
    otherwise raise :class:`Pix2GanError` ending in ``fix`` (nothing is written then)."""
    if accuracy < min_accuracy:
        raise Pix2GanError(f"the {title} judge reached only {accuracy:.4f} test accuracy (< {min_accuracy}): {fix}")
    folder, name = os.path.split(path)
    save_model_files(model, folder or ".", os.path.splitext(name)[0])
    logger.info("%s judge saved to %s (test accuracy %.4f)", title, path, accuracy)
    return path


def load_judge_model(path: str, shape: Sequence[int], num_classes: int, title: str, missing_fix: str) -> keras.Model:
    """Load the judge at ``path`` (never training one), checking it is a ``shape`` image ->
    ``num_classes``-logit classifier with a ``features`` layer. A missing file raises
    :class:`Pix2GanError` ending in ``missing_fix`` (how to make it); another model raises naming it."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"the {title} judge {path} does not exist, and evaluation never trains one: {missing_fix}")
    model = load_model(path)
    found = inspect_model(model)
    if found.kind != "classifier" or found.inputs[0] != tuple(shape) or found.outputs[0] != (num_classes,) \
            or FEATURES_LAYER not in [layer.name for layer in model.layers]:
        dims = "x".join(str(d) for d in shape)
        raise Pix2GanError(f"classifier={path!r} is {found.describe()}, not the {title} judge ({dims} image -> "
                           f"{num_classes} logits with a {FEATURES_LAYER!r} layer): pass the judge written by "
                           "`pix2gan make-judge`", argument="classifier")
    return model


class FeatureJudge:
    """A trained classifier used as a judge: the activations of its ``features`` layer (the
    penultimate representation) and its predicted classes for sets of images.

    ``images`` are float arrays in ``value_range`` (default [-1, 1]) shaped like the classifier's
    input, (n, H, W, C); uint8 arrays are read as [0, 255] whatever ``value_range`` says. They are
    run ``batch_size`` at a time (scaled batch by batch), in inference mode.
    """

    def __init__(self, classifier: keras.Model, batch_size: int = 1000):
        self.classifier = classifier
        self._features = keras.Model(classifier.inputs,
                                     [classifier.get_layer(FEATURES_LAYER).output, classifier.outputs[0]])
        self.batch_size = batch_size
        self.input_shape = tuple(classifier.inputs[0].shape[1:])

    def features_and_predictions(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)):
        """(penultimate features (n, d), predicted labels (n,)) of ``images``."""
        images = np.asarray(images)
        if images.shape[1:] != self.input_shape or len(images) == 0:
            dims = "x".join(str(d) for d in self.input_shape)
            raise Pix2GanError(f"the judge scores (n, {', '.join(map(str, self.input_shape))}) arrays of {dims} "
                               f"images, got shape {images.shape}")
        lo, hi = (0.0, 255.0) if images.dtype == np.uint8 else (float(value_range[0]), float(value_range[1]))
        feats, preds = [], []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size].astype(np.float32)
            if (lo, hi) != (-1.0, 1.0):
                x = (x - lo) * np.float32(2.0 / (hi - lo)) - 1.0
            f, logits = predict_in_batches(self._features, x, self.batch_size)
            feats.append(f)
            preds.append(logits.argmax(-1))
        return np.concatenate(feats), np.concatenate(preds)

    def features(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
        """Penultimate features (n, d) of ``images``."""
        return self.features_and_predictions(images, value_range)[0]

    def statistics(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> tuple:
        """Mean (d,) and covariance (d, d) of the features of ``images`` (at least two)."""
        return feature_statistics(self.features(images, value_range))

    def frechet(self, images_a: np.ndarray, images_b: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> float:
        """Frechet distance between the feature statistics of two sets of images (0 for a set
        against itself); both sets in ``value_range``."""
        return frechet_distance(*self.statistics(images_a, value_range), *self.statistics(images_b, value_range))

    def accuracy(self, images: np.ndarray, labels: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> float:
        """Fraction of ``images`` whose predicted class is ``labels``."""
        _, preds = self.features_and_predictions(images, value_range)
        return float(np.mean(preds == np.asarray(labels).reshape(-1)))


# ------------------------------------------------------------------------------- MNIST

def build_mnist_classifier(filters: int = 32, features: int = 128, name: str = "mnist_classifier") -> keras.Model:
    """CNN on [-1, 1] (28, 28, 1) images -> 10 logits; the ``features`` layer (ReLU, ``features``
    units) is the penultimate representation used for MNIST-FID."""
    inputs = keras.Input(MNIST_SHAPE, name="image")
    x = inputs
    for i, f in enumerate((filters, filters * 2)):
        x = _conv_bn_relu(x, f, 1, f"{i}a")
        x = _conv_bn_relu(x, f, 2, f"{i}b")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(features, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def train_mnist_classifier(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                           epochs: int = 2, batch_size: int = 128, seed: int = 0, verbose: int = 0,
                           **builder_kwargs) -> tuple[keras.Model, float]:
    """Train the judge on uint8 ``(images, labels)``; return it and its test accuracy."""
    keras.utils.set_random_seed(seed)
    model = build_mnist_classifier(**builder_kwargs)
    steps = max(1, len(train[0]) // batch_size)
    train_classifier(model, mnist_dataset(*train, batch_size=batch_size, training=True, seed=seed), steps, epochs,
                     learning_rate=2e-3, alpha=0.02, verbose=verbose)
    accuracy = float(np.mean(predict_labels(model, scale_mnist(test[0]).numpy()) == test[1]))
    return model, accuracy


def judge_path(source: str, path: str = CLASSIFIER_PATH) -> str:
    """Where the judge of MNIST ``source`` lives: ``path``, or ``<path stem>_synthetic.h5`` for the
    built-in synthetic digits (a judge of synthetic digits must never be taken for the MNIST one)."""
    return path.replace(".h5", "_synthetic.h5") if source == SYNTHETIC else path


def load_classifier(path: str, source: str = "") -> keras.Model:
    """Load the MNIST judge at ``path`` (never training one), checking it is a 28x28x1 -> 10-logit
    classifier with a ``features`` layer. A missing judge raises :class:`Pix2GanError` saying how
    to make it."""
    flags = " --synthetic" if source == SYNTHETIC else (f" --data-dir {source}" if source else "")
    return load_judge_model(path, MNIST_SHAPE, NUM_CLASSES, "MNIST",
                            f"make it once with `pix2gan make-judge{flags} --output {path}` (about a minute), "
                            "or pass --classifier")


def make_judge(source: str, path: str = CLASSIFIER_PATH, epochs: int = 2) -> str:
    """Train the judge on MNIST ``source`` and save it to ``path`` (the explicit step that
    ``pix2gan make-judge`` runs); returns ``path``. Raises :class:`Pix2GanError` if it stays under
    99 % test accuracy (nothing is written then)."""
    _check_judge_path(path)
    logger.info("training the MNIST judge on %s (%d epochs)", source, epochs)
    model, accuracy = train_mnist_classifier(read_mnist(source, "train"), read_mnist(source, "test"), epochs)
    return _save_judge(model, path, "MNIST", accuracy, MIN_ACCURACY,
                       f"train it longer (epochs > {epochs}) before trusting MNIST-FID")


def load_or_train_classifier(source: str, path: str = CLASSIFIER_PATH, epochs: int = 2) -> keras.Model:
    """Load the cached judge at ``path``, or train it on MNIST ``source`` and save it there first
    (training runs only; ``evaluate`` uses :func:`load_classifier`, which never trains).

    Raises :class:`Pix2GanError` if a freshly trained judge stays under 99 % test accuracy.
    """
    path = judge_path(source, path)
    if not os.path.isfile(path):
        logger.warning(f"note: no MNIST judge at {path}; training it now ({epochs} epochs, once)")
        make_judge(source, path, epochs)
    return load_classifier(path, source)


def predict_labels(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes of [-1, 1] images (n, 28, 28, 1)."""
    return predict_in_batches(model, np.asarray(images, np.float32), batch_size).argmax(axis=-1)


def per_label_pixel_std(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each label 0-9, the per-pixel standard deviation across its images, averaged over pixels
    (NaN for a label with fewer than two images)."""
    images = np.asarray(images, np.float64).reshape(len(images), -1)
    labels = np.asarray(labels).reshape(-1)
    return np.array([images[labels == k].std(axis=0).mean() if np.sum(labels == k) > 1 else np.nan
                     for k in range(NUM_CLASSES)])


class MnistJudge(FeatureJudge):
    """Scores generated MNIST digits with a trained classifier (see the module doc).

    ``images`` given to the judge are float arrays in ``value_range`` shaped (n, 28, 28, 1).
    """

    def __init__(self, classifier: keras.Model, test: tuple[np.ndarray, np.ndarray],
                 train: tuple[np.ndarray, np.ndarray] | None = None, batch_size: int = 1000):
        super().__init__(classifier, batch_size)
        self.test_images = scale_mnist(test[0]).numpy()
        self.test_labels = np.asarray(test[1])
        self.train = train
        self.test_features, _ = self.features_and_predictions(self.test_images)
        self.test_statistics = feature_statistics(self.test_features)
        self.real_std = per_label_pixel_std((self.test_images + 1) / 2, self.test_labels)

    @classmethod
    def from_source(cls, source: str, classifier_path: str = CLASSIFIER_PATH, train: bool = True) -> "MnistJudge":
        """The judge for MNIST ``source``: training and caching the classifier on first use, or
        with ``train=False`` only loading it (a missing one raises saying how to make it)."""
        classifier = (load_or_train_classifier(source, classifier_path) if train
                      else load_classifier(judge_path(source, classifier_path), source))
        return cls(classifier, read_mnist(source, "test"), read_mnist(source, "train"))

    def fid(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> float:
        """MNIST-FID of ``images`` against the test set."""
        return frechet_distance(*self.statistics(images, value_range), *self.test_statistics)

    def floor(self, n: int = 10000, seed: int = 0) -> float:
        """The real-vs-real MNIST-FID: ``n`` random train images against the test set."""
        if self.train is None:
            raise ValueError("this judge holds no training images; build it with train=...")
        idx = np.random.default_rng(seed).choice(len(self.train[0]), min(n, len(self.train[0])), replace=False)
        return self.fid(scale_mnist(self.train[0][idx]).numpy())

    def test_accuracy(self) -> float:
        """The classifier's accuracy on the test set."""
        return self.accuracy(self.test_images, self.test_labels)

    def score(self, images: np.ndarray, labels: np.ndarray | None = None,
              value_range: Sequence[float] = (-1.0, 1.0)) -> dict:
        """MNIST-FID and the class histogram (fractions) of ``images``; with the requested
        ``labels`` also ``label_accuracy`` and the per-label pixel-std ratio to real digits
        (``std_ratio_min`` over labels and ``std_ratio_mean``)."""
        feats, preds = self.features_and_predictions(images, value_range)
        hist = np.bincount(preds, minlength=NUM_CLASSES) / max(1, len(preds))
        scores = {"fid": frechet_distance(*feature_statistics(feats), *self.test_statistics),
                  "classes_covered": int(np.sum(hist >= 0.02)),
                  "class_histogram": [round(float(h), 4) for h in hist]}
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            lo, hi = value_range
            unit = (np.asarray(images, np.float64) - lo) / (hi - lo)
            ratio = per_label_pixel_std(unit, labels) / self.real_std
            scores.update(label_accuracy=float(np.mean(preds == labels)),
                          std_ratio_min=float(np.nanmin(ratio)), std_ratio_mean=float(np.nanmean(ratio)))
        return scores


# ------------------------------------------------------------------------------- EuroSAT

def build_eurosat_classifier(filters: int = 32, features: int = 128, name: str = "eurosat_classifier") -> keras.Model:
    """CNN on [-1, 1] (64, 64, 3) EuroSAT tiles -> 10 logits: four stages of two 3x3 conv / BatchNorm /
    ReLU units (``filters`` doubling per stage, the first unit of each stage with stride 2, so 32x32 ->
    4x4), global average pooling, then the ``features`` layer (ReLU, ``features`` units), the
    penultimate representation whose statistics give the Frechet distance."""
    inputs = keras.Input(EUROSAT_SHAPE, name="image")
    x = inputs
    for i in range(4):
        # BatchNorm momentum 0.9: the moving statistics keep up with a short training run
        x = _conv_bn_relu(x, filters * 2 ** i, 2, f"{i}a", momentum=0.9)
        x = _conv_bn_relu(x, filters * 2 ** i, 1, f"{i}b", momentum=0.9)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(features, activation="relu", name=FEATURES_LAYER)(x)
    outputs = layers.Dense(len(EUROSAT_CLASSES), name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def random_dihedral(images: tf.Tensor) -> tf.Tensor:
    """Each image of a (B, H, W, C) batch under one of the 8 flips / 90-degree rotations, at random
    (a random transpose, then random up-down and left-right flips). Square images only."""
    n = tf.shape(images)[0]

    def coin():
        return tf.random.uniform([n, 1, 1, 1]) < 0.5

    images = tf.where(coin(), tf.transpose(images, [0, 2, 1, 3]), images)
    images = tf.where(coin(), images[:, ::-1], images)
    return tf.where(coin(), images[:, :, ::-1], images)


def train_eurosat_classifier(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                             epochs: int = EUROSAT_EPOCHS, batch_size: int = 64, seed: int = 0, verbose: int = 0,
                             **builder_kwargs) -> tuple[keras.Model, float]:
    """Train the EuroSAT judge on uint8 ``(tiles (N, 64, 64, 3), labels)`` with random flips and
    rotations; return it and its accuracy on ``test``."""
    images, labels = train
    keras.utils.set_random_seed(seed)
    model = build_eurosat_classifier(**builder_kwargs)
    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int32)))
    ds = batch_pipeline(ds, batch_size, training=True, shuffle_buffer=len(images), seed=seed,
                        batch_map=lambda x, y: (random_dihedral(scale_images(x)), y))
    steps = max(1, len(images) // batch_size)
    train_classifier(model, ds, steps, epochs, learning_rate=3e-3, alpha=0.01, warmup_steps=steps // 2,
                     weight_decay=1e-4, verbose=verbose)
    return model, FeatureJudge(model).accuracy(*test)


def make_eurosat_judge(data_dir: str, path: str = EUROSAT_CLASSIFIER_PATH, epochs: int = EUROSAT_EPOCHS,
                       seed: int = 0, min_accuracy: float | None = None) -> str:
    """Train the EuroSAT judge and save it to ``path`` (the step ``pix2gan make-judge --dataset
    eurosat`` runs); returns ``path``.

    It trains on the **train split only** of ``load_eurosat(data_dir)`` with the default split
    (all ten classes, ``test_fraction=0.3``, split ``seed=0``: the split every EuroSAT entry
    scores on), and is measured on that split's test tiles; ``seed`` seeds the training only. A
    missing or incomplete ``data_dir`` raises the loader's error. Raises :class:`Pix2GanError`,
    writing nothing, if the test accuracy stays under ``min_accuracy`` (default
    :data:`EUROSAT_MIN_ACCURACY`).
    """
    _check_judge_path(path)
    split = load_eurosat(data_dir)
    logger.info("training the EuroSAT judge on %s (%d train / %d test tiles, %d epochs)", data_dir,
                len(split["train"][0]), len(split["test"][0]), epochs)
    model, accuracy = train_eurosat_classifier(split["train"], split["test"], epochs, seed=seed)
    return _save_judge(model, path, "EuroSAT", accuracy,
                       EUROSAT_MIN_ACCURACY if min_accuracy is None else min_accuracy,
                       f"train it longer (--epochs > {epochs}) before trusting its Frechet distances")


def load_eurosat_judge(path: str = EUROSAT_CLASSIFIER_PATH) -> keras.Model:
    """Load the EuroSAT judge (the classifier; wrap it in :class:`EurosatJudge`), never training
    one. A missing file raises :class:`Pix2GanError` with the command that makes it; any other
    model (e.g. the MNIST judge) raises naming what it is."""
    output = "" if path == EUROSAT_CLASSIFIER_PATH else f" --output {path}"
    return load_judge_model(path, EUROSAT_SHAPE, len(EUROSAT_CLASSES), "EuroSAT",
                            f"make it once with `{EUROSAT_MAKE_COMMAND}{output}` (DIR: the EuroSAT folder holding "
                            "AnnualCrop/ Forest/ ...; a few minutes)")


def load_or_make_eurosat_judge(data_dir: str, path: str = EUROSAT_CLASSIFIER_PATH,
                               epochs: int = EUROSAT_EPOCHS) -> keras.Model:
    """Load the EuroSAT judge at ``path``, or first train it on ``data_dir`` and save it there
    (training runs only, with a warning; ``evaluate`` uses :func:`load_eurosat_judge`)."""
    if not os.path.isfile(path):
        logger.warning(f"note: no EuroSAT judge at {path}; training it now on {data_dir} ({epochs} epochs, once, "
                       "a few minutes)")
        make_eurosat_judge(data_dir, path, epochs)
    return load_eurosat_judge(path)


class EurosatJudge(FeatureJudge):
    """Frechet distances between sets of 64x64 RGB tiles on the EuroSAT judge's features, and
    its accuracy (see :class:`FeatureJudge`; images in [-1, 1] unless ``value_range`` says
    otherwise, uint8 tiles as they are)."""

    def __init__(self, classifier: keras.Model, batch_size: int = 500):
        super().__init__(classifier, batch_size)


# ------------------------------------------------------------------------------- neighbours

def nearest_neighbours(queries: np.ndarray, references: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``queries`` (n, d), the index of the nearest row of ``references`` (m, d) by
    Euclidean distance, and that distance: ``(indices (n,), distances (n,))``. Run ``batch_size``
    queries at a time (the distance matrix of a batch is ``batch_size`` x m)."""
    queries = np.asarray(queries, np.float64)
    references = np.asarray(references, np.float64)
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1] or not len(references):
        raise Pix2GanError(f"nearest neighbours need (n, d) queries and (m >= 1, d) references of the same d, got "
                           f"{queries.shape} and {references.shape}")
    ref_sq = np.sum(references ** 2, axis=1)
    indices, distances = [], []
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size]
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, clipped at 0 against rounding
        squared = np.maximum(np.sum(q ** 2, axis=1, keepdims=True) - 2.0 * q @ references.T + ref_sq, 0.0)
        best = np.argmin(squared, axis=1)
        indices.append(best)
        distances.append(np.sqrt(squared[np.arange(len(q)), best]))
    if not indices:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(indices), np.concatenate(distances)
