"""Photo-like benchmark images: smooth lighting, textured backgrounds, a shaded subject, sensor noise, JPEG."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def _texture(rng: np.random.Generator, width: int, height: int, cell: int) -> np.ndarray:
    low = rng.random((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """RGB uint8: a head-and-shoulders subject in front of a textured, softly lit background."""
    rng = np.random.default_rng(seed)
    background = 70 + 110 * _texture(rng, width, height, max(8, width // 20)) + 25 * _texture(rng, width, height, max(4, width // 200))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    head = ((xx - width * 0.5) / (width * 0.13)) ** 2 + ((yy - height * 0.33) / (height * 0.17)) ** 2 <= 1
    body = ((xx - width * 0.5) / (width * 0.32)) ** 2 + ((yy - height * 0.95) / (height * 0.45)) ** 2 <= 1
    subject = head | body
    light = 0.75 + 0.25 * np.cos((xx - width * 0.35) / width * np.pi)
    skin = np.dstack([205 * light, 150 * light, 120 * light])
    cloth = np.dstack([40 + 60 * light, 70 + 40 * light, 140 * light]) + 20 * _texture(rng, width, height, max(4, width // 100))
    subject_colour = np.where(head[..., None], skin, cloth)
    image = np.where(subject[..., None], subject_colour, background)
    image = cv2.GaussianBlur(image, (0, 0), 0.8) + rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def transparent_png(width: int, height: int, seed: int = 2) -> bytes:
    """An RGBA product shot: the subject already cut out (hidden pixels black), as shops upload them."""
    rgb = photo(width, height, seed)
    yy, xx = np.mgrid[0:height, 0:width]
    alpha = ((((xx - width / 2) / (width * 0.4)) ** 2 + ((yy - height / 2) / (height * 0.45)) ** 2) <= 1).astype(np.uint8) * 255
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    rgb[alpha == 0] = 0
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(buffer, "PNG")
    return buffer.getvalue()
