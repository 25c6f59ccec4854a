"""Generated test images: a red subject on a blue-grey background (what the test model segments)."""
from __future__ import annotations

import io
import struct
import zlib

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


# -- hostile and unusual inputs (tests/functional/test_hostile_input.py, tests/unit/test_image_input.py) -----------

def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, rows: bytes, *, depth: int = 8, colour: int = 2, idat_split: int = 0) -> bytes:
    """A PNG written by hand from its inflated rows (filter byte + samples each), whatever the header says."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    compressed = zlib.compress(rows, 9)
    parts = [compressed[i:i + idat_split] for i in range(0, len(compressed), idat_split)] if idat_split else [compressed]
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(png_chunk(b"IDAT", p) for p in parts)
            + png_chunk(b"IEND", b""))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """Huge dimensions in the header, a few hundred bytes of file (the data would inflate to width*height*3)."""
    return raw_png(width, height, b"\0" * 100_000)


def png_inflating_past_its_header(width: int = 64, height: int = 64, factor: int = 2000) -> bytes:
    """A small image by its header whose data inflates to `factor` times what the header allows (~25 MB here)."""
    return raw_png(width, height, b"\0" * ((1 + width * 3) * height * factor))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims another size (a bomb by header: nothing behind it)."""
    data = bytearray(portrait_jpeg(64, 48))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming_16383_square() -> bytes:
    """A lossless WebP whose header claims 16383x16383 (268 MP)."""
    data = bytearray(encode(portrait_array(64, 48), "WEBP", lossless=True))
    bits = int.from_bytes(data[21:25], "little")
    data[21:25] = ((bits & ~((1 << 28) - 1)) | 16382 | (16382 << 14)).to_bytes(4, "little")
    return bytes(data)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def png_without_iend() -> bytes:
    return portrait_png(120, 160)[:-12]


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (48, 64)) -> bytes:
    images = [Image.fromarray(portrait_array(*size, seed=i)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<script>alert(document.cookie)</script><rect width="64" height="64" fill="red"/></svg>')
BARE_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)" width="8" height="8"/>'
HTML = b"<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)><p>not a picture</p></body></html>"


# -- colour modes and orientations every path must accept and process correctly ------------------------------------

def save(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def cmyk_jpeg(width: int = 60, height: int = 80) -> bytes:
    return save(Image.fromarray(portrait_array(width, height)).convert("CMYK"), "JPEG", quality=95)


def grey_png(width: int = 60, height: int = 80) -> bytes:
    return save(Image.fromarray(portrait_array(width, height)).convert("L"), "PNG")


def grey_16bit_png(width: int = 60, height: int = 80) -> bytes:
    """16 bits per sample, values v * 257 (so the top 8 bits are v): Pillow's own conversion would clip it white."""
    grey = np.asarray(Image.fromarray(portrait_array(width, height)).convert("L")).astype(np.uint16) * 257
    rows = b"".join(b"\0" + grey[y].astype(">u2").tobytes() for y in range(height))
    return raw_png(width, height, rows, depth=16, colour=0)


def rgba_16bit_png(width: int = 60, height: int = 80) -> bytes:
    rgba = np.dstack([portrait_array(width, height), np.full((height, width), 255, np.uint8)]).astype(np.uint16) * 257
    rgba[: height // 4, :, 3] = 0  # the top quarter transparent
    rows = b"".join(b"\0" + rgba[y].astype(">u2").tobytes() for y in range(height))
    return raw_png(width, height, rows, depth=16, colour=6)


def grey_alpha_png(width: int = 60, height: int = 80) -> bytes:
    grey = Image.fromarray(portrait_array(width, height)).convert("L")
    alpha = np.full((height, width), 255, np.uint8)
    alpha[: height // 4] = 0
    return save(Image.merge("LA", (grey, Image.fromarray(alpha))), "PNG")


def palette_png(width: int = 60, height: int = 80, *, transparent: bool = False) -> bytes:
    """A palette (mode P) PNG; with `transparent`, the top quarter uses a palette entry marked transparent (tRNS)."""
    image = Image.fromarray(portrait_array(width, height)).quantize(colors=63)
    if not transparent:
        return save(image, "PNG")
    pixels = np.asarray(image).copy()
    pixels[: height // 4] = 63  # an entry of its own, beyond the 63 the picture uses
    see_through = Image.fromarray(pixels, "P")
    see_through.putpalette(image.getpalette()[: 63 * 3] + [0, 0, 0])
    return save(see_through, "PNG", transparency=63)


def upright_test_card(width: int = 60, height: int = 80) -> np.ndarray:
    """The portrait with its top eighth painted pure red and its bottom eighth pure green: which way is up is
    measurable after any rotation."""
    card = portrait_array(width, height).copy()
    card[: height // 8] = (255, 0, 0)
    card[-(height // 8):] = (0, 255, 0)
    return card


def exif_rotated_jpeg(orientation: int, width: int = 60, height: int = 80) -> bytes:
    """The upright card (width x height) stored sideways with the EXIF orientation that puts it upright again:
    6 = turn 90° clockwise to view, 8 = turn 90° counter-clockwise; the stored pixels are height x width."""
    stored = Image.fromarray(upright_test_card(width, height)).transpose(
        {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(stored, "JPEG", quality=95, exif=exif)


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def interlaced_png(array: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG (Pillow cannot write one): each pass's pixels, row by row."""
    height, width = array.shape[:2]
    rows = b""
    for x0, y0, dx, dy in _ADAM7:
        sub = array[y0::dy, x0::dx]
        if sub.size:
            rows += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))
