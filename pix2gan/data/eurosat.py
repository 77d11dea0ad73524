"""EuroSAT RGB: class folders of 64x64 Sentinel-2 tiles, a stratified split, download, h5 cache.

Layout: ``<data_dir>/<Class>/<Class>_N.jpg`` for the ten classes of :data:`CLASSES` (the
official zip holds them under ``2750/``). Tiles must be 64x64 RGB: other sizes are refused
unless ``resize=True`` (area/bilinear resize to 64x64); grayscale or 4-band files are refused.
The train/test split is stratified (the same fraction of every class) and deterministic: it
depends only on the file names, ``test_fraction`` and ``seed``, never on listing order.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Iterable, Sequence

import cv2
import h5py
import numpy as np

from ..errors import Pix2GanError
from ..imaging import read_image
from .common import CHECKSUM_DIR, download, require_dir, sha256_file, verify_checksums

EUROSAT_URL = "http://madm.dfki.de/files/sentinel/EuroSAT.zip"
CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
           "PermanentCrop", "Residential", "River", "SeaLake")
TILE = 64
DEFAULT_DIR = os.path.join("datasets", "eurosat")  # where the EuroSAT entries look by default
# sha256 of the `sha256sum` listing of every file (paths "eurosat/<Class>/<file>", LC_ALL=C order):
# one digest for the whole folder, every byte and name.
LISTING_SHA256 = "7316d988d72daf8b7de093971837ec539e52a5adfe3b8c825c8a63828384a8e1"
# Each tile's sha256 cut to its first 16 hex digits, a block per class (format: write_tile_digests),
# for naming a bad tile; the full-strength check is the listing against LISTING_SHA256.
TILE_DIGESTS = os.path.join(CHECKSUM_DIR, "eurosat.tiles")
DIGEST_DIGITS = 16
DATA_FIX = "pass --data-dir pointing at the folder holding AnnualCrop/ Forest/ ... (or --download)"
CLASS_FIX = f"{DATA_FIX}, or pick classes with --classes"


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def check_classes(classes: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a class filter (None = all ten classes)."""
    if not classes:
        return CLASSES
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise Pix2GanError(f"unknown EuroSAT class(es) {', '.join(unknown)}: use some of {', '.join(CLASSES)}")
    return tuple(dict.fromkeys(classes))


def eurosat_files(data_dir: str, classes: Sequence[str] | None = None, fix: str = DATA_FIX,
                  class_fix: str = CLASS_FIX, argument: str = "data_dir") -> dict[str, list[str]]:
    """The JPEG files of each class, in natural order. Raises naming a missing or empty class folder
    and ``fix`` (``class_fix`` for a missing class folder); ``argument`` names the argument that
    gave ``data_dir`` (a caller with its own flag passes its own fixes and argument)."""
    require_dir(data_dir, "EuroSAT data", fix, argument)
    out = {}
    for name in check_classes(classes):
        folder = os.path.join(data_dir, name)
        if not os.path.isdir(folder):
            raise Pix2GanError(f"EuroSAT class folder {folder} is missing: {class_fix}", argument=argument)
        files = sorted((f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png", ".tif"))),
                       key=_natural)
        if not files:
            raise Pix2GanError(f"EuroSAT class folder {folder} holds no images: {fix}", argument=argument)
        out[name] = [os.path.join(folder, f) for f in files]
    return out


def stratified_split(files: dict[str, list[str]], test_fraction: float = 0.3, seed: int = 0,
                     max_per_class: int | None = None) -> dict[str, list[tuple[str, int]]]:
    """Split every class alike into ``{"train": [(path, label)], "test": [...]}``.

    Each class's files are put in natural name order, shuffled by a generator seeded with
    (seed, class name), optionally cut to ``max_per_class`` files, and the first
    ``round(n * test_fraction)`` go to test: the split never depends on listing order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise Pix2GanError(f"test fraction {test_fraction} must be between 0 and 1 (e.g. 0.3)")
    split: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    for name, paths in files.items():
        label = CLASSES.index(name)
        paths = sorted(paths, key=lambda p: _natural(os.path.basename(p)))
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
        order = np.random.default_rng([seed, key]).permutation(len(paths))
        chosen = [paths[k] for k in order[:max_per_class]]
        n_test = int(round(len(chosen) * test_fraction))
        split["test"] += [(p, label) for p in chosen[:n_test]]
        split["train"] += [(p, label) for p in chosen[n_test:]]
    return split


def read_tiles(paths: Sequence[str], resize: bool = False) -> np.ndarray:
    """Decode tiles into a uint8 (N, 64, 64, 3) array; raises naming the first bad file."""
    out = np.empty((len(paths), TILE, TILE, 3), np.uint8)
    for n, path in enumerate(paths):
        image = read_image(path, channels=3)
        if image.dtype != np.uint8:
            raise Pix2GanError(f"image {path} is {image.dtype}, expected 8-bit RGB: convert it to 8-bit")
        if image.shape[:2] != (TILE, TILE):
            if not resize:
                raise Pix2GanError(f"image {path} is {image.shape[1]}x{image.shape[0]}, expected {TILE}x{TILE}: "
                                   "remove it, or pass --resize to resize tiles to 64x64")
            image = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
        out[n] = image
    return out


def _check_cached(images: np.ndarray, labels: np.ndarray, cache: str) -> tuple[np.ndarray, np.ndarray]:
    """A cached split as it was written (uint8 tiles, one label each in range), or refuse the cache."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (TILE, TILE, 3) \
            or labels.shape != (len(images),) or (labels.size and not 0 <= labels.min() <= labels.max() < len(CLASSES)):
        raise Pix2GanError(f"cache file {cache} holds damaged arrays: delete it so it is rebuilt")
    return images, labels


def load_eurosat(data_dir: str, classes: Sequence[str] | None = None, test_fraction: float = 0.3, seed: int = 0,
                 max_per_class: int | None = None, resize: bool = False,
                 cache: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images uint8 (N, 64, 64, 3), labels (N,)), "test": (...)}``.

    ``cache`` names an .h5 file: written on the first call, read back on later calls with the
    same file list (the cache records which files it holds and is rebuilt when they differ).
    """
    split = stratified_split(eurosat_files(data_dir, classes), test_fraction, seed, max_per_class)
    key = hashlib.sha256("\n".join(f"{s}:{os.path.relpath(p, data_dir)}" for s in ("train", "test")
                                   for p, _ in split[s]).encode()).hexdigest()
    if cache and os.path.isfile(cache):
        try:
            with h5py.File(cache, "r") as f:
                if f.attrs.get("key") == key:
                    cached = {s: (f[f"{s}/images"][()], f[f"{s}/labels"][()]) for s in ("train", "test")}
                    return {s: _check_cached(images, labels, cache) for s, (images, labels) in cached.items()}
        except Pix2GanError:
            raise
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... for a damaged file
            raise Pix2GanError(f"cache file {cache} is not a readable h5 file ({type(exc).__name__}): delete it so "
                               "it is rebuilt") from None
    out = {s: (read_tiles([p for p, _ in split[s]], resize), np.array([label for _, label in split[s]], np.int32))
           for s in ("train", "test")}
    if cache:
        os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
        tmp = cache + f".tmp{os.getpid()}"
        with h5py.File(tmp, "w") as f:
            f.attrs["key"] = key
            for s, (images, labels) in out.items():
                f.create_dataset(f"{s}/images", data=images, compression="gzip", compression_opts=1)
                f.create_dataset(f"{s}/labels", data=labels)
        os.replace(tmp, cache)
    return out


def _listing_digest(pairs: Iterable[tuple[str, str]], prefix: str) -> str:
    """sha256 of the ``sha256sum`` listing of ``(sha256, relative path)`` pairs, in C path order."""
    listing = "".join(f"{digest}  {prefix}/{rel}\n" for digest, rel in sorted(pairs, key=lambda p: p[1].encode()))
    return hashlib.sha256(listing.encode()).hexdigest()


def listing_sha256(data_dir: str, prefix: str = "eurosat") -> str:
    """sha256 of the ``sha256sum``-style listing of every file below ``data_dir`` (C-sorted paths
    written as ``<prefix>/<relative path>``), comparable with :data:`LISTING_SHA256`."""
    rel = [os.path.relpath(os.path.join(root, n), data_dir) for root, _, names in os.walk(data_dir) for n in names]
    return _listing_digest(((sha256_file(os.path.join(data_dir, p)), p) for p in rel), prefix)


def tile_digests(path: str = TILE_DIGESTS) -> list[tuple[str, str]]:
    """``(digest prefix, "<Class>/<Class>_<i>.jpg")`` for every tile in a list written by
    :func:`write_tile_digests`, in its order."""
    entries, name, left, index = [], "", 0, 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if left:
                index, left = index + 1, left - 1
                entries.append((line, f"{name}/{name}_{index}.jpg"))
                continue
            try:
                name, count = line.split()
                left, index = int(count), 0
            except ValueError:
                raise Pix2GanError(f"tile digest list {path} line {number} is not '<Class> <count>': "
                                   "restore it from the package") from None
    if left:
        raise Pix2GanError(f"tile digest list {path} ends {left} digest(s) short in {name}: restore it from the package")
    return entries


def write_tile_digests(data_dir: str, path: str, classes: Sequence[str] = CLASSES) -> int:
    """Write the compact per-tile list of ``data_dir`` (``<Class>/<Class>_<i>.jpg`` numbered from 1)
    to ``path`` atomically; returns how many tiles it holds."""
    lines = [f"# EuroSAT tiles: the first {DIGEST_DIGITS} hex digits of each tile's sha256, a block per class:",
             '# "<Class> <n>", then the digests of <Class>/<Class>_1.jpg ... <Class>/<Class>_<n>.jpg, one a line.']
    total = 0
    for name in classes:
        count = len(os.listdir(os.path.join(data_dir, name)))
        lines.append(f"{name} {count}")
        lines += [sha256_file(os.path.join(data_dir, name, f"{name}_{i}.jpg"))[:DIGEST_DIGITS]
                  for i in range(1, count + 1)]
        total += count
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return total


def verify_eurosat_files(data_dir: str, digests: str = TILE_DIGESTS, expected: str = LISTING_SHA256) -> int:
    """Check every EuroSAT tile below ``data_dir`` against the bundled per-tile list (the 27,000
    tiles), naming the first missing or damaged tile, then the listing of those tiles against
    ``expected`` (full sha256 strength); returns how many were checked. Other files are ignored."""
    entries = tile_digests(digests)
    found = verify_checksums(entries, data_dir)
    if _listing_digest(zip(found, (rel for _, rel in entries)), "eurosat") != expected:
        raise Pix2GanError(f"the EuroSAT tiles in {data_dir} pass their short digests but not the published "
                           "listing: re-download or re-copy them")
    return len(entries)


def verify_eurosat(data_dir: str, expected: str = LISTING_SHA256) -> None:
    """Check the whole EuroSAT folder (every file's bytes and name) against one listing hash; when
    the published listing does not match, the per-file list names the file at fault."""
    found = listing_sha256(data_dir)
    if found != expected:
        if expected == LISTING_SHA256:
            verify_eurosat_files(data_dir)  # raises naming a missing or changed tile
        raise Pix2GanError(f"EuroSAT folder {data_dir} does not match the published file listing "
                           f"(sha256 {found[:12]}..., expected {expected[:12]}...): re-download or re-copy it")


def download_eurosat(cache_dir: str = "datasets", archive_sha256: str | None = None) -> str:
    """Download and extract the official zip into ``cache_dir`` with ``keras.utils.get_file``; every
    tile is checked against the bundled per-tile list and the published listing (:func:`verify_eurosat_files`);
    returns the class folder.

    ``archive_sha256``, when given, is checked by ``get_file`` (``file_hash``).
    """
    path = download("EuroSAT.zip", EUROSAT_URL, cache_dir, extract=True, file_hash=archive_sha256)
    root = path if os.path.isdir(path) else os.path.splitext(path)[0] + "_extracted"
    for candidate in (os.path.join(root, "2750"), os.path.join(root, "EuroSAT", "2750"), root):
        if os.path.isdir(os.path.join(candidate, CLASSES[0])):
            verify_eurosat_files(candidate)
            return candidate
    raise Pix2GanError(f"the EuroSAT archive extracted to {root} has no {CLASSES[0]}/ folder: delete it and download again")
