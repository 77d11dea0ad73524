"""EuroSAT loader: stratified stable split, class filter, bad tiles, h5 cache, listing checksum."""
import os

import cv2
import numpy as np
import pytest

from conftest import shared_path
from pix2gan.data.eurosat import (CLASSES, DIGEST_DIGITS, LISTING_SHA256, eurosat_files, listing_sha256,
                                  load_eurosat, stratified_split, tile_digests, verify_eurosat, verify_eurosat_files,
                                  write_tile_digests)
from pix2gan.errors import Pix2GanError


def _fake_eurosat(root, counts, size=64, channels=3):
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(1, n + 1):
            shape = (size, size) if channels == 1 else (size, size, channels)
            cv2.imwrite(os.path.join(root, name, f"{name}_{i}.png"), rng.integers(0, 256, shape, dtype=np.uint8))
    return str(root)


def test_split_is_stratified_disjoint_and_stable(tmp_path):
    root = _fake_eurosat(tmp_path, {"Forest": 20, "River": 10, "SeaLake": 7})
    files = eurosat_files(root, ["Forest", "River", "SeaLake"])
    a = stratified_split(files, 0.3, seed=0)
    # Listing order must not matter: reverse every class list.
    b = stratified_split({k: v[::-1] for k, v in files.items()}, 0.3, seed=0)
    assert a == b
    c = stratified_split(files, 0.3, seed=1)
    assert a["test"] != c["test"]
    counts = {CLASSES.index(k): (round(n * 0.3), n - round(n * 0.3)) for k, n in (("Forest", 20), ("River", 10), ("SeaLake", 7))}
    for label, (n_test, n_train) in counts.items():
        assert sum(lbl == label for _, lbl in a["test"]) == n_test
        assert sum(lbl == label for _, lbl in a["train"]) == n_train
    assert not {p for p, _ in a["test"]} & {p for p, _ in a["train"]}
    capped = stratified_split(files, 0.5, seed=0, max_per_class=4)
    assert len(capped["test"]) == 6 and len(capped["train"]) == 6


def test_load_cache_and_class_filter(tmp_path):
    root = _fake_eurosat(tmp_path / "d", {"Forest": 6, "River": 4})
    cache = str(tmp_path / "cache.h5")
    data = load_eurosat(root, ["River", "Forest"], 0.5, cache=cache)
    assert data["train"][0].shape == (5, 64, 64, 3) and data["train"][0].dtype == np.uint8
    assert set(data["test"][1]) == {CLASSES.index("Forest"), CLASSES.index("River")}
    again = load_eurosat(root, ["River", "Forest"], 0.5, cache=cache)
    np.testing.assert_array_equal(again["test"][0], data["test"][0])
    other = load_eurosat(root, ["River"], 0.5, cache=cache)  # a different split rebuilds the cache
    assert len(other["train"][0]) + len(other["test"][0]) == 4


def test_bad_inputs(tmp_path):
    root = _fake_eurosat(tmp_path / "a", {"Forest": 2})
    with pytest.raises(Pix2GanError, match="River"):
        eurosat_files(root, ["Forest", "River"])
    with pytest.raises(Pix2GanError, match="unknown EuroSAT class"):
        eurosat_files(root, ["Clouds"])
    with pytest.raises(Pix2GanError, match="does not exist"):
        eurosat_files(str(tmp_path / "nowhere"))
    with pytest.raises(Pix2GanError, match="test fraction"):
        stratified_split(eurosat_files(root, ["Forest"]), 1.5)
    big = _fake_eurosat(tmp_path / "b", {"Forest": 2}, size=32)
    with pytest.raises(Pix2GanError, match=r"Forest_\d\.png is 32x32, expected 64x64"):
        load_eurosat(big, ["Forest"], 0.5)
    assert load_eurosat(big, ["Forest"], 0.5, resize=True)["train"][0].shape == (1, 64, 64, 3)
    gray = _fake_eurosat(tmp_path / "c", {"Forest": 2}, channels=1)
    with pytest.raises(Pix2GanError, match=r"Forest_\d\.png has 1 channel"):
        load_eurosat(gray, ["Forest"], 0.5)
    four = _fake_eurosat(tmp_path / "e", {"Forest": 2}, channels=4)
    with pytest.raises(Pix2GanError, match="has 4 channel"):
        load_eurosat(four, ["Forest"], 0.5)
    empty = _fake_eurosat(tmp_path / "f", {"Forest": 2})
    open(os.path.join(empty, "Forest", "Forest_3.png"), "wb").close()
    with pytest.raises(Pix2GanError, match="Forest_3.png is empty"):
        load_eurosat(empty, ["Forest"], 0.5)


def test_listing_checksum_detects_changes(tmp_path):
    root = _fake_eurosat(tmp_path / "eurosat", {"Forest": 2})
    digest = listing_sha256(root)
    verify_eurosat(root, digest)
    with open(os.path.join(root, "Forest", "Forest_1.png"), "ab") as f:
        f.write(b"x")
    with pytest.raises(Pix2GanError, match="does not match"):
        verify_eurosat(root, digest)


def test_real_eurosat_split_and_listing():
    root = shared_path("eurosat")
    files = eurosat_files(root)
    assert {k: len(v) for k, v in files.items()}["Pasture"] == 2000
    split = stratified_split(files)
    assert len(split["test"]) == 8100 and len(split["train"]) == 18900
    assert split == stratified_split(files)
    assert listing_sha256(root) == LISTING_SHA256


def test_bundled_tile_list_names_every_tile_once():
    entries = tile_digests()
    names = [rel for _, rel in entries]
    assert len(names) == len(set(names)) == 27000
    counts = {c: sum(rel.startswith(f"{c}/") for rel in names) for c in CLASSES}
    assert counts["Pasture"] == 2000 and counts["Highway"] == 2500 and counts["SeaLake"] == 3000
    assert all(len(d) == DIGEST_DIGITS and int(d, 16) >= 0 for d, _ in entries)
    assert names[0] == "AnnualCrop/AnnualCrop_1.jpg" and names[-1] == "SeaLake/SeaLake_3000.jpg"


def test_real_eurosat_tiles_pass_the_bundled_list():
    assert verify_eurosat_files(shared_path("eurosat")) == 27000


def test_tile_list_round_trips_and_the_full_listing_backs_its_short_digests(tmp_path):
    root = tmp_path / "tiles"
    for name, n in (("Forest", 3), ("River", 2)):
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / name / f"{name}_{i}.jpg").write_bytes(f"{name} tile {i}".encode())
    digests = str(tmp_path / "tiles.list")
    assert write_tile_digests(str(root), digests, ("Forest", "River")) == 5
    assert [rel for _, rel in tile_digests(digests)] == ["Forest/Forest_1.jpg", "Forest/Forest_2.jpg",
                                                          "Forest/Forest_3.jpg", "River/River_1.jpg", "River/River_2.jpg"]
    full = listing_sha256(str(root))
    assert verify_eurosat_files(str(root), digests, full) == 5
    (root / "River" / "notes.txt").write_text("extra files are not tiles")
    assert verify_eurosat_files(str(root), digests, full) == 5 and listing_sha256(str(root)) != full
    # short digests that match but a listing that does not: the full-strength check refuses
    with pytest.raises(Pix2GanError, match="pass their short digests but not the published listing"):
        verify_eurosat_files(str(root), digests, "0" * 64)
    (root / "Forest" / "Forest_2.jpg").write_bytes(b"changed")
    with pytest.raises(Pix2GanError, match="Forest_2.jpg fails its sha256 check"):
        verify_eurosat_files(str(root), digests, full)
    lines = open(digests).read().splitlines()
    open(digests, "w").write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(Pix2GanError, match="ends 1 digest.s. short in River"):
        tile_digests(digests)
    open(digests, "w").write("\n".join(lines[:2] + ["Forest three"] + lines[3:]) + "\n")
    with pytest.raises(Pix2GanError, match="line 3 is not '<Class> <count>'"):
        tile_digests(digests)
