"""Input images: what we accept, checked before anything is stored, and decoded upright for processing.

One set of rules for every way an image comes in (multipart submits, direct uploads, the batch inbox, URLs) and
for the worker reading what is in the bucket, so an object placed there by other means meets the same checks:

- JPEG, PNG, WebP, HEIC/HEIF or AVIF, recognised from the bytes (never from the file name or the declared content
  type). HEIC needs pillow-heif, which the container worker has and Lambda's zip runtime cannot carry: there a HEIC
  is checked from its header (heif_header.py: brand, dimensions, the limits) and decoded by the worker;
- at most max_bytes, and at most max_pixels read from the header before any pixel is decoded;
- one frame: animated WebP and PNG (APNG) are refused, not cut down to their first frame;
- every pixel decodes: a truncated or corrupt file is refused at submit, not found out by the worker. A PNG's
  compressed data must inflate to exactly what its header declares (more is a decompression bomb, less is
  truncation) and must end with IEND;
- the EXIF orientation is applied (a phone's portrait is stored sideways with a flag), and any colour mode
  (CMYK, 16-bit, palette, grey, with or without alpha) becomes 8-bit RGB or RGBA.

Pillow only (no numpy): the API's zip functions import this module.

Why it is long: every accepted format's checks before decoding (sizes, pixel limits, bombs, the PNG stream, HEIF
headers) share one reading of the bytes; apart they would each re-read them.
"""
from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, replace

from PIL import Image, ImageFile, UnidentifiedImageError

from imgapi.core.errors import BadRequest, PayloadTooLarge
from imgapi.imagefiles import heif_header


def _register_heif() -> bool:
    """pillow-heif's opener, where it is installed (the container worker, tests, `make dev`)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


# Whether HEIC/HEIF is decoded here (else only its header is checked); tests switch it off to be a zip function.
HEIF_DECODER = _register_heif()

# Formats we accept, with the content type and file extension we store them under.
SUPPORTED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "HEIF": ("image/heic", "heic"),  # pillow-heif's name for HEIC and HEIF alike
    "AVIF": ("image/avif", "avif"),
}
ACCEPTED = "send a JPEG, PNG, WebP, HEIC/HEIF or AVIF"
# What each accepted format's bytes start with: a file that starts like one but cannot be read is damaged.
_SIGNATURES = {"JPEG": (b"\xff\xd8\xff",), "PNG": (b"\x89PNG\r\n\x1a\n",)}
# Text formats people send as images; named in the refusal so the sender knows what happened.
_TEXT_KINDS = ((b"<svg", "an SVG drawing"), (b"<?xml", "an XML document (SVG?)"), (b"<!doctype html", "an HTML page"),
               (b"<html", "an HTML page"), (b"<!doctype svg", "an SVG drawing"))
# EXIF orientation -> the transposition that makes the image upright (as Pillow's ImageOps.exif_transpose).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_EXIF_ORIENTATION = 0x0112
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int  # upright: after the EXIF orientation is applied
    height: int
    content_type: str
    extension: str
    size_bytes: int

    def describe(self) -> dict:
        """What a job records about its input."""
        return {"content_type": self.content_type, "width": self.width, "height": self.height, "size_bytes": self.size_bytes}


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an image completely (see the module's rules) and say what it is; BadRequest / PayloadTooLarge if refused.

    A JPEG is decoded at 1/8 scale: libjpeg still reads every coefficient (so truncation and corruption show), at
    a 64th of the memory. PNG and WebP are decoded in full (at most 4 bytes per pixel of max_pixels). A HEIC where
    pillow-heif is missing is checked from its header only (the worker decodes it)."""
    if not HEIF_DECODER and heif_header.kind(data) == "HEIF":
        return _heif_from_header(data, max_bytes=max_bytes, max_pixels=max_pixels)
    img, info = _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    with img:
        if info.format == "JPEG":
            img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
        _load(img)
        return _upright_info(info, _orientation(img))


def decode_upright(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    """The same checks as inspect_image, and the pixels: upright, 8-bit "RGB", or "RGBA" when the image has any
    alpha or transparency (an alpha channel, a palette or colour-key transparency). The ICC profile, if any, is
    kept in the image's info["icc_profile"]."""
    if not HEIF_DECODER and heif_header.kind(data) == "HEIF":
        raise BadRequest("HEIC/HEIF images are decoded by the image worker, which has pillow-heif; this function "
                         "only checks their header", code="unsupported_image")
    img, info = _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    normalised = None
    try:
        _load(img)
        orientation = _orientation(img)  # after load: a PNG's eXIf chunk may follow its image data
        normalised = _normalise(img)
        if img.info.get("icc_profile"):
            normalised.info["icc_profile"] = img.info["icc_profile"]
    finally:
        if normalised is not img:
            img.close()  # frees the decoded pixels now, not when garbage-collected
    if orientation in _UPRIGHT:
        normalised = normalised.transpose(_UPRIGHT[orientation])
    return normalised, _upright_info(info, orientation)


def _check_size(data: bytes, max_bytes: int) -> None:
    if not data:
        raise BadRequest("the file is empty", code="empty_file")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the file is {len(data)} bytes; the limit is {max_bytes} bytes ({max_bytes // (1024 * 1024)} MB)",
            code="file_too_large",
        )


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise _refused("the image has no pixels")
    if width * height > max_pixels:
        raise BadRequest(
            f"the image is {width}x{height} ({width * height} pixels); the limit is {max_pixels} pixels",
            code="too_many_pixels",
        )


def _heif_from_header(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """A HEIC checked as far as its header goes: size, brand, the largest image's pixels (dimensions as stored,
    encoder padding included). The worker decodes it, every pixel, under the same limits."""
    _check_size(data, max_bytes)
    try:
        width, height = heif_header.dimensions(data)
    except (ValueError, struct.error) as exc:
        raise _corrupt(f"it starts like a HEIF file but its header cannot be read ({exc})") from exc
    _check_pixels(width, height, max_pixels)
    content_type, extension = SUPPORTED_FORMATS["HEIF"]
    return ImageInfo("HEIF", width, height, content_type, extension, len(data))


def _upright_info(info: ImageInfo, orientation: int) -> ImageInfo:
    """Stored sideways (EXIF orientation 5-8): described as it is processed, upright."""
    return replace(info, width=info.height, height=info.width) if orientation in (5, 6, 7, 8) else info


def _refused(reason: str) -> BadRequest:
    return BadRequest(f"{reason}; {ACCEPTED}", code="unsupported_image")


def _corrupt(detail: str) -> BadRequest:
    return BadRequest(f"the image is damaged or incomplete (truncated?) and cannot be decoded: {detail}; send the "
                      "whole file again", code="corrupt_image")


def _sniffed_format(data: bytes) -> str | None:
    """The accepted format the bytes claim to be (by their magic number), whether or not they are valid."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return heif_header.kind(data) or next(
        (fmt for fmt, magics in _SIGNATURES.items() if data.startswith(magics)), None)


def _text_kind(data: bytes) -> str | None:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return next((kind for prefix, kind in _TEXT_KINDS if head.startswith(prefix)), None)


def _open_checked(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    """The image opened (header read, no pixels decoded) once size, format, pixel count, frames and, for PNG, the
    compressed stream are acceptable. The caller closes it."""
    _check_size(data, max_bytes)
    kind = _text_kind(data)
    if kind:
        raise _refused(f"the file is {kind}, not an image we can process")
    with warnings.catch_warnings():
        # Our own pixel limit below is the one that applies; Pillow's bomb warning must not decide it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": metadata we do without (see _orientation)
        try:
            img = Image.open(io.BytesIO(data))  # reads the header only
        except Image.DecompressionBombError as exc:
            raise BadRequest(f"the image has too many pixels; the limit is {max_pixels}", code="too_many_pixels") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
            sniffed = _sniffed_format(data)
            if sniffed:
                raise _corrupt(f"it starts like a {sniffed} file but its header cannot be read") from exc
            raise _refused("the file is not an image we can read") from exc
    try:
        info = _check_opened(img, data, max_pixels)
    except BaseException:
        img.close()
        raise
    return img, info


def _check_opened(img: Image.Image, data: bytes, max_pixels: int) -> ImageInfo:
    fmt, (width, height) = img.format, img.size
    if fmt not in SUPPORTED_FORMATS:
        raise _refused(f"{fmt} images are not supported")
    _check_pixels(width, height, max_pixels)
    if getattr(img, "n_frames", 1) > 1:
        raise BadRequest(f"the image is animated ({img.n_frames} frames); send a still image (e.g. its first frame "
                         f"exported as a JPEG, PNG, WebP, HEIC or AVIF)", code="animated_image")
    if fmt == "PNG":
        _check_png_stream(data)
    content_type, extension = SUPPORTED_FORMATS[fmt]
    return ImageInfo(fmt, width, height, content_type, extension, len(data))


def _load(img: Image.Image) -> None:
    """Decode every pixel, refusing a file that ends early or whose data is corrupt."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a library that turned this on would let truncated files through
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, zlib.error) as exc:
        raise _corrupt(str(exc) or type(exc).__name__) from exc


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8; 1 when there is none or the EXIF block is unreadable: nothing to correct)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of corrupt EXIF data, which we then ignore
            value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block is not worth refusing a photo for
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _normalise(img: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when the image has alpha or transparency (the image itself when it is one already: on a
    12 MP photo a copy is 36 MB more at the peak)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit grey: keep the top 8 bits (Pillow's own conversion to L would clip at 255).
        return img.point(lambda value: value / 256).convert("L").convert("RGB")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return img if img.mode == "RGBA" else img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


# -- PNG: the compressed stream must be exactly what the header declares ---------------------------------------

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20


def _png_expected_bytes(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes the IDAT stream inflates to: each row's filter byte and its packed samples (per Adam7 pass)."""
    bits = depth * _PNG_CHANNELS.get(colour, 4)
    if not interlaced:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        pass_w, pass_h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if pass_w > 0 and pass_h > 0:
            total += pass_h * (1 + (pass_w * bits + 7) // 8)
    return total


def _check_png_stream(data: bytes) -> None:
    """Walk the chunks: each complete with a matching CRC, IDAT inflating to exactly the declared size (never
    inflating more than one step past it), and IEND at the end. Memory stays at one step whatever the file says."""
    pos, expected, produced, inflater, ended = 8, None, 0, zlib.decompressobj(), False
    while True:
        if pos + 12 > len(data):
            raise _corrupt("the PNG ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise _corrupt(f"the PNG ends inside its {kind.decode('latin-1')!r} chunk")
        payload = data[pos + 8:end - 4]
        if zlib.crc32(kind + payload) != struct.unpack(">I", data[end - 4:end])[0]:
            raise _corrupt(f"the PNG's {kind.decode('latin-1')!r} chunk fails its checksum")
        pos = end
        if kind == b"IHDR" and length == 13:
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", payload)
            expected = _png_expected_bytes(width, height, depth, colour, interlace == 1)
        elif kind == b"IDAT":
            if expected is None:
                raise _corrupt("the PNG has image data before its header")
            try:
                chunk = payload
                while not ended:
                    out = inflater.decompress(chunk, _INFLATE_STEP)
                    produced += len(out)
                    if produced > expected:
                        raise BadRequest(
                            f"the PNG's image data inflates to more than the {expected} bytes its header declares "
                            "(a decompression bomb?); send an ordinary PNG", code="corrupt_image")
                    chunk, ended = inflater.unconsumed_tail, inflater.eof
                    if not chunk and len(out) < _INFLATE_STEP:
                        break  # this chunk is used up; the stream goes on in the next IDAT
            except zlib.error as exc:
                raise _corrupt(f"the PNG's image data is not valid: {exc}") from exc
        elif kind == b"IEND":
            break
    if expected is None or not ended or produced != expected:
        raise _corrupt(f"the PNG's image data is incomplete ({produced} of {expected} bytes)")
