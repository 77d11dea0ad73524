"""The MNIST judge: a small CNN classifier trained once by pix2gan, and the scores built on it.

``MnistJudge`` turns generated digits into numbers: MNIST-FID (Frechet distance between the
classifier's penultimate features of generated and test images), the real-vs-real floor (train
vs test), the class histogram of samples (mode coverage) and, for conditional generators, the
classifier's accuracy against the requested labels and the per-label pixel standard deviation of
samples relative to real digits of that label (1.0 = as varied as real digits; a generator that
draws one image per label scores near 0).

The classifier lives at ``models/mnist_classifier.h5``. ``pix2gan make-judge`` (:func:`make_judge`)
trains it (about a minute on two CPU cores, > 99 % test accuracy); training an MNIST entry makes it
on first use too. ``evaluate`` only loads it (:func:`load_classifier`): it never trains or writes.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import keras
import numpy as np
from keras import layers

from .data.mnist import NUM_CLASSES, SYNTHETIC, mnist_dataset, read_mnist, scale_mnist
from .errors import Pix2GanError
from .imaging import check_output_file
from .metrics import feature_statistics, frechet_distance
from .modelcheck import inspect_model
from .predict import predict_in_batches
from .saving import load_model, save_model_files

logger = logging.getLogger("pix2gan")

CLASSIFIER_PATH = os.path.join("models", "mnist_classifier.h5")
FEATURES_LAYER = "features"
MIN_ACCURACY = 0.99


def build_mnist_classifier(filters: int = 32, features: int = 128, name: str = "mnist_classifier") -> keras.Model:
    """CNN on [-1, 1] (28, 28, 1) images -> 10 logits; the ``features`` layer (ReLU, ``features``
    units) is the penultimate representation used for MNIST-FID."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for i, f in enumerate((filters, filters * 2)):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}a")(x)
        x = layers.BatchNormalization(name=f"norm{i}a")(x)
        x = layers.ReLU(name=f"act{i}a")(x)
        x = layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False, name=f"conv{i}b")(x)
        x = layers.BatchNormalization(name=f"norm{i}b")(x)
        x = layers.ReLU(name=f"act{i}b")(x)
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
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=epochs * steps, alpha=0.02)
    model.compile(keras.optimizers.Adam(schedule),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(mnist_dataset(*train, batch_size=batch_size, training=True, seed=seed), epochs=epochs,
              steps_per_epoch=steps, verbose=verbose)
    accuracy = float(np.mean(predict_labels(model, scale_mnist(test[0]).numpy()) == test[1]))
    return model, accuracy


def judge_path(source: str, path: str = CLASSIFIER_PATH) -> str:
    """Where the judge of MNIST ``source`` lives: ``path``, or ``<path stem>_synthetic.h5`` for the
    built-in synthetic digits (a judge of synthetic digits must never be taken for the MNIST one)."""
    return path.replace(".h5", "_synthetic.h5") if source == SYNTHETIC else path


def load_classifier(path: str, source: str = "") -> keras.Model:
    """Load the judge at ``path`` (never training one), checking it is a 28x28x1 -> 10-logit
    classifier with a ``features`` layer. A missing judge raises :class:`Pix2GanError` saying how
    to make it."""
    if not os.path.isfile(path):
        flags = " --synthetic" if source == SYNTHETIC else (f" --data-dir {source}" if source else "")
        raise Pix2GanError(f"the MNIST judge {path} does not exist, and evaluation never trains one: make it once "
                           f"with `pix2gan make-judge{flags} --output {path}` (about a minute), or pass --classifier")
    model = load_model(path)
    found = inspect_model(model)
    if found.kind != "classifier" or found.inputs[0] != (28, 28, 1) or found.outputs[0] != (NUM_CLASSES,) \
            or FEATURES_LAYER not in [layer.name for layer in model.layers]:
        raise Pix2GanError(f"classifier={path!r} is {found.describe()}, not the MNIST judge (28x28x1 image -> "
                           f"{NUM_CLASSES} logits with a {FEATURES_LAYER!r} layer): pass the judge written by "
                           "`pix2gan make-judge`", argument="classifier")
    return model


def make_judge(source: str, path: str = CLASSIFIER_PATH, epochs: int = 2) -> str:
    """Train the judge on MNIST ``source`` and save it to ``path`` (the explicit step that
    ``pix2gan make-judge`` runs); returns ``path``. Raises :class:`Pix2GanError` if it stays under
    99 % test accuracy (nothing is written then)."""
    check_output_file(path, "judge", argument="output", also=(".h5", ".keras"))
    logger.info("training the MNIST judge on %s (%d epochs)", source, epochs)
    model, accuracy = train_mnist_classifier(read_mnist(source, "train"), read_mnist(source, "test"), epochs)
    if accuracy < MIN_ACCURACY:
        raise Pix2GanError(f"the MNIST judge reached only {accuracy:.4f} test accuracy (< {MIN_ACCURACY}): "
                           f"train it longer (epochs > {epochs}) before trusting MNIST-FID")
    folder, name = os.path.split(path)
    save_model_files(model, folder or ".", os.path.splitext(name)[0])
    logger.info("MNIST judge saved to %s (test accuracy %.4f)", path, accuracy)
    return path


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


class MnistJudge:
    """Scores generated MNIST digits with a trained classifier (see the module doc).

    ``images`` given to the judge are float arrays in ``value_range`` shaped (n, 28, 28, 1).
    """

    def __init__(self, classifier: keras.Model, test: tuple[np.ndarray, np.ndarray],
                 train: tuple[np.ndarray, np.ndarray] | None = None, batch_size: int = 1000):
        self.classifier = classifier
        self._features = keras.Model(classifier.inputs,
                                     [classifier.get_layer(FEATURES_LAYER).output, classifier.outputs[0]])
        self.batch_size = batch_size
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

    def features_and_predictions(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)):
        """(penultimate features, predicted labels) of images in ``value_range``."""
        lo, hi = value_range
        x = np.asarray(images, np.float32)
        if (lo, hi) != (-1.0, 1.0):
            x = (x - lo) / (hi - lo) * 2.0 - 1.0
        feats, logits = predict_in_batches(self._features, x, self.batch_size)
        return feats, logits.argmax(-1)

    def fid(self, images: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> float:
        """MNIST-FID of ``images`` against the test set."""
        feats, _ = self.features_and_predictions(images, value_range)
        return frechet_distance(*feature_statistics(feats), *self.test_statistics)

    def floor(self, n: int = 10000, seed: int = 0) -> float:
        """The real-vs-real MNIST-FID: ``n`` random train images against the test set."""
        if self.train is None:
            raise ValueError("this judge holds no training images; build it with train=...")
        idx = np.random.default_rng(seed).choice(len(self.train[0]), min(n, len(self.train[0])), replace=False)
        return self.fid(scale_mnist(self.train[0][idx]).numpy())

    def test_accuracy(self) -> float:
        """The classifier's accuracy on the test set."""
        _, preds = self.features_and_predictions(self.test_images)
        return float(np.mean(preds == self.test_labels))

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
