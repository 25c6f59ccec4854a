"""HEIC and AVIF photos made with the plugins the service decodes them with (pillow-heif; Pillow's own AVIF), as a
phone stores them: sideways with an EXIF orientation, and with an ICC profile."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

from tests.support.images import portrait_array

ORIENTATION = 0x0112
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def sideways(upright: np.ndarray) -> Image.Image:
    """The upright picture as a camera stores it with EXIF orientation 6: turned a quarter anticlockwise."""
    return Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)


def phone_photo(fmt: str, width: int = 240, height: int = 320, *, orientation: int = 6) -> bytes:
    """A portrait (upright width x height) as `fmt` ("HEIF" or "AVIF"), stored sideways with EXIF orientation 6
    (or upright with orientation=1), with an sRGB ICC profile."""
    upright = portrait_array(width, height)
    image = sideways(upright) if orientation == 6 else Image.fromarray(upright)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes(), icc_profile=SRGB_ICC, quality=95)
    return buffer.getvalue()


def heic(width: int = 240, height: int = 320, **kwargs) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return phone_photo("HEIF", width, height, **kwargs)


def avif(width: int = 240, height: int = 320, **kwargs) -> bytes:
    return phone_photo("AVIF", width, height, **kwargs)
