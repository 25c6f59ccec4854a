"""Generated test images: a red subject on a blue-grey background (what the test model segments)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

SUBJECT = (215, 45, 40)
BACKGROUND = (175, 195, 225)


def subject_mask(width: int, height: int) -> np.ndarray:
    """True inside the subject: an upright ellipse, as a head-and-shoulders portrait would be."""
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy, rx, ry = width / 2, height * 0.55, width * 0.28, height * 0.36
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def portrait_array(width: int = 240, height: int = 320, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(-12, 12, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(np.array(BACKGROUND, np.float32), (height, width, 3)) + gradient
    img = np.where(subject_mask(width, height)[..., None], np.array(SUBJECT, np.float32), img)
    img = img + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(array: np.ndarray, fmt: str = "JPEG", **save_args) -> bytes:
    buffer = io.BytesIO()
    mode = "RGBA" if array.ndim == 3 and array.shape[2] == 4 else None
    Image.fromarray(array, mode).save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}) | save_args)
    return buffer.getvalue()


def portrait_jpeg(width: int = 240, height: int = 320) -> bytes:
    return encode(portrait_array(width, height), "JPEG")


def portrait_png(width: int = 240, height: int = 320) -> bytes:
    return encode(portrait_array(width, height), "PNG")
