"""Checking an uploaded image from its header alone: format, dimensions and limits, before anything is stored."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .errors import BadRequest, PayloadTooLarge

# Formats we accept, with the content type and file extension we store them under.
SUPPORTED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    content_type: str
    extension: str
    size_bytes: int

    def describe(self) -> dict:
        """What a job records about its input."""
        return {"content_type": self.content_type, "width": self.width, "height": self.height, "size_bytes": self.size_bytes}


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Identify the image and enforce the size and pixel limits without decoding its pixels."""
    if not data:
        raise BadRequest("the file is empty", code="empty_file")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the file is {len(data)} bytes; the limit is {max_bytes} bytes ({max_bytes // (1024 * 1024)} MB)",
            code="file_too_large",
        )
    with warnings.catch_warnings():
        # Our own pixel limit below is the one that applies; Pillow's bomb check must not decide it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError as exc:
            raise BadRequest(f"the image has too many pixels; the limit is {max_pixels}", code="too_many_pixels") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise BadRequest(
                "the file is not an image we can read; send a JPEG, PNG or WebP", code="unsupported_image"
            ) from exc
    if fmt not in SUPPORTED_FORMATS:
        raise BadRequest(f"{fmt} images are not supported; send a JPEG, PNG or WebP", code="unsupported_image")
    if width < 1 or height < 1:
        raise BadRequest("the image has no pixels", code="unsupported_image")
    if width * height > max_pixels:
        raise BadRequest(
            f"the image is {width}x{height} ({width * height} pixels); the limit is {max_pixels} pixels",
            code="too_many_pixels",
        )
    content_type, extension = SUPPORTED_FORMATS[fmt]
    return ImageInfo(fmt, width, height, content_type, extension, len(data))
