"""Built-in synthetic data so every command runs on a fresh machine without downloads."""
from __future__ import annotations

import numpy as np

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
    import cv2
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
