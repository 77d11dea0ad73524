"""Built-in synthetic data so every command runs on a fresh machine without downloads."""
from __future__ import annotations

import cv2
import numpy as np

from .eurosat import CLASSES

# Label colours in the spirit of the CMP facade label maps (class -> RGB), and the "material"
# each class is rendered with in the photo (base colour; texture amplitude).
FACADE_CLASSES = {
    "wall": ((0, 0, 170), (178, 160, 140), 18),
    "window": ((0, 85, 255), (40, 55, 70), 10),
    "door": ((170, 0, 0), (90, 55, 35), 12),
    "balcony": ((255, 170, 0), (120, 120, 125), 14),
    "cornice": ((0, 170, 255), (210, 200, 185), 8),
    "sill": ((85, 255, 170), (225, 220, 210), 6),
    "shop": ((255, 0, 0), (60, 90, 110), 16),
}


def synthetic_facades(n: int, size: int = 256, seed: int = 0, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic facade-like paired set: ``(photos, label_maps)``, uint8 of shape (n, size, width, 3).

    Each label map is a wall with floors of windows (with sills), cornices between floors, an
    optional balcony row and a ground floor of doors or shop fronts, all as coloured rectangles.
    Its "photo" renders every class with its own material colour, vertical lighting, texture
    noise and soft window reflections, so the mapping label -> photo is learnable but not trivial.
    """
    width = width or size
    rng = np.random.default_rng(seed)
    names = list(FACADE_CLASSES)
    labels_out = np.empty((n, size, width, 3), np.uint8)
    photos_out = np.empty((n, size, width, 3), np.uint8)
    for k in range(n):
        cls = np.zeros((size, width), np.int32)  # 0 = wall
        floors = int(rng.integers(3, 6))
        ground = int(size * rng.uniform(0.18, 0.28))
        floor_h = (size - ground) // floors
        cols = int(rng.integers(3, 7))
        col_w = width // cols
        win_w = int(col_w * rng.uniform(0.35, 0.6))
        for f in range(floors):
            top = f * floor_h
            cls[top:top + max(2, floor_h // 12), :] = names.index("cornice")
            win_top = top + int(floor_h * rng.uniform(0.2, 0.3))
            win_h = int(floor_h * rng.uniform(0.45, 0.6))
            for c in range(cols):
                x0 = c * col_w + (col_w - win_w) // 2
                cls[win_top:win_top + win_h, x0:x0 + win_w] = names.index("window")
                cls[win_top + win_h:win_top + win_h + max(2, floor_h // 16), x0 - 2:x0 + win_w + 2] = names.index("sill")
            if f == floors - 1 and rng.random() < 0.6:
                b_top = win_top + win_h - floor_h // 6
                cls[b_top:b_top + floor_h // 6, width // 8:width - width // 8] = names.index("balcony")
        g_top = size - ground
        if rng.random() < 0.5:
            cls[g_top + ground // 6:, width // 10:width - width // 10] = names.index("shop")
        for c in range(cols):
            if rng.random() < 0.4:
                x0 = c * col_w + col_w // 4
                cls[g_top + ground // 5:, x0:x0 + col_w // 2] = names.index("door")

        label = np.zeros((size, width, 3), np.float32)
        photo = np.zeros((size, width, 3), np.float32)
        tint = rng.uniform(-25, 25, 3)
        for i, name in enumerate(names):
            mask = cls == i
            label_rgb, base, amp = FACADE_CLASSES[name]
            label[mask] = label_rgb
            colour = np.array(base, np.float32) + (tint if name == "wall" else tint * 0.3)
            noise = rng.normal(0.0, amp, (size, width, 1)).astype(np.float32)
            photo[mask] = (colour + noise)[mask]
        light = np.linspace(1.1, 0.8, size, dtype=np.float32)[:, None, None]
        glint = (cls == names.index("window"))[..., None] * np.clip(
            np.sin(np.arange(width, dtype=np.float32)[None, :, None] / 7.0 + k), 0, 1) * 40
        photo = photo * light + glint
        labels_out[k] = label.astype(np.uint8)
        photos_out[k] = np.clip(photo, 0, 255).astype(np.uint8)
    return photos_out, labels_out


DIGIT_FONTS = (0, 2, 3, 4, 6, 7)  # Hershey fonts that OpenCV draws without files (simplex, duplex, ...)


def synthetic_digits(n: int, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic MNIST-like set: ``(images, labels)``, uint8 (n, size, size) white-on-black and 0-9.

    Each digit is drawn with one of OpenCV's built-in Hershey fonts at a random thickness, scale,
    slant and rotation, then fitted into a centred 20x20 box as MNIST's digits were, so classes vary
    in style as handwriting does.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.empty((n, size, size), np.uint8)
    big = 4 * size
    for i, digit in enumerate(labels):
        canvas = np.zeros((big, big), np.uint8)
        font = int(DIGIT_FONTS[rng.integers(len(DIGIT_FONTS))])
        scale = rng.uniform(2.4, 3.4)
        thickness = int(rng.integers(5, 11))
        (w, h), _ = cv2.getTextSize(str(digit), font, scale, thickness)
        cv2.putText(canvas, str(digit), ((big - w) // 2, (big + h) // 2), font, scale, 255, thickness, cv2.LINE_AA)
        shear = rng.uniform(-0.3, 0.3)
        matrix = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(-15, 15), rng.uniform(0.8, 1.05))
        matrix[0, 1] += shear
        canvas = cv2.warpAffine(canvas, matrix, (big, big))
        # As MNIST was made: fit the digit's box into 20x20 (of 28), keep the aspect, centre it.
        ys, xs = np.nonzero(canvas > 32)
        crop = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        box = size * 20 // 28
        f = box / max(crop.shape)
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                          interpolation=cv2.INTER_AREA)
        out = np.zeros((size, size), np.uint8)
        y0, x0 = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
        out[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        images[i] = out
    return images, labels




def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1]: a ``cells`` x ``cells`` random grid, bicubically enlarged."""
    grid = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)


def synthetic_satellite_tiles(per_class: int, seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic EuroSAT-like set: ``(tiles uint8 (N, size, size, 3), labels (N,))``, labels
    indexing :data:`pix2gan.data.eurosat.CLASSES`, ``per_class`` tiles each.

    Each class is drawn as its look from orbit: crop stripes, blotchy forest, grass, a road band,
    industrial roofs, pasture, orchard dots, dense small roofs, a winding river, open water; all
    with smooth colour noise, so cloud removal has textures and colours to recover.
    """
    rng = np.random.default_rng(seed)
    tiles, labels = [], []
    for label, name in enumerate(CLASSES):
        for _ in range(per_class):
            field = _smooth_noise(rng, size, int(rng.integers(3, 9)))[..., None]
            fine = rng.normal(0, 6, (size, size, 1)).astype(np.float32)
            green = np.array([70, 110, 60], np.float32) + rng.uniform(-15, 15, 3)
            img = green + (field - 0.5) * 50 + fine
            if name == "AnnualCrop":
                angle, period = rng.uniform(0, np.pi), rng.uniform(6, 14)
                yy, xx = np.mgrid[:size, :size]
                stripes = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0)[..., None]
                img = np.where(stripes, img, np.array([150, 130, 90], np.float32) + fine)
            elif name == "Forest":
                img = np.array([30, 60, 35], np.float32) + (field - 0.5) * 40 + fine * 2
            elif name == "Highway":
                p0 = (int(rng.integers(0, size)), 0)
                p1 = (int(rng.integers(0, size)), size - 1)
                img = img.copy()
                cv2.line(img, p0, p1, (150, 150, 155), int(rng.integers(3, 7)))
            elif name == "Industrial":
                img = np.array([120, 118, 115], np.float32) + (field - 0.5) * 30 + fine
                for _ in range(int(rng.integers(3, 7))):
                    x, y = rng.integers(0, size - 8, 2)
                    w, h = rng.integers(8, 24, 2)
                    cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), tuple(rng.uniform(150, 230, 3)), -1)
            elif name == "Pasture":
                img = np.array([110, 150, 80], np.float32) + (field - 0.5) * 25 + fine * 0.5
            elif name == "PermanentCrop":
                img = img.copy()
                step = int(rng.integers(5, 9))
                for y in range(2, size, step):
                    for x in range(2, size, step):
                        cv2.circle(img, (x, y), 2, (40, 80, 40), -1)
            elif name == "Residential":
                img = np.array([150, 140, 120], np.float32) + fine
                for _ in range(int(rng.integers(15, 30))):
                    x, y = rng.integers(0, size - 4, 2)
                    roof = (180, 80, 60) if rng.random() < 0.5 else (110, 110, 115)
                    cv2.rectangle(img, (int(x), int(y)), (int(x + 4), int(y + 4)), roof, -1)
            elif name == "River":
                img = img.copy()
                xs = (size / 2 + np.cumsum(rng.normal(0, 1.5, size))).astype(np.int32)
                pts = np.stack([np.clip(xs, 0, size - 1), np.arange(size)], 1).reshape(-1, 1, 2)
                cv2.polylines(img, [pts], False, (40, 70, 110), int(rng.integers(4, 10)))
            elif name == "SeaLake":
                img = np.array([25, 55, 90], np.float32) + (field - 0.5) * 20 + fine * 0.5
            tiles.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(tiles), np.array(labels, np.int32)
