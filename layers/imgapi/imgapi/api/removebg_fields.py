"""The remove.bg compatible route's parameters, declared once for the contract, the OpenAPI document (api/contract.py)
and the route's reading of them (api/removebg.py): each with remove.bg's error code, and the readers of
core/output_spec, the native API's too. Light: the contract is loaded by every API function.
"""
from __future__ import annotations

from imgapi.core import output_spec
from imgapi.core.parameters import BOOLEAN, STRING, URL_FORMAT, Param

TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation")
MAX_URL_CHARS = 2048


def _text(name: str, description: str, reader, pattern: str | dict, example: str, **kwargs) -> Param:
    """A text parameter core/output_spec reads (its value is the reader's parse); its published pattern is what
    the reader accepts."""
    schema = {"type": STRING, **({"pattern": pattern} if isinstance(pattern, str) else pattern)}
    return Param(name, STRING, description, reader=reader, schema_override=schema, code=f"invalid_{name}",
                 example=example, pattern=pattern if isinstance(pattern, str) else None, **kwargs)


IMAGE_URL = Param("image_url", STRING, "The image's URL (exactly one of image_url, image_file, image_file_b64).",
                  format=URL_FORMAT, max_length=MAX_URL_CHARS, code="invalid_image_url")
IMAGE_FILE_B64 = Param("image_file_b64", STRING, "The image, base64-encoded (a data: URL prefix is allowed).",
                       code="failed_to_read_image")
IMAGE_BASE64 = Param("image_base64", STRING, "Another name of image_file_b64 (the removebgplus client sends it).",
                     code="failed_to_read_image")
SIZE = Param("size", STRING, "preview/small/regular = 0.25 MP, medium = 1.5 MP, hd = 4 MP, full/4k/50MP/auto = the "
             "input's size (up to MaxInputPixels).", enum=tuple(output_spec.SIZES), default="preview",
             code="invalid_size")
TYPE = Param("type", STRING, "person picks a human-segmentation model where the deployment has one; the others use "
             "the default model. X-Type echoes it (auto: other).", enum=TYPES, default="auto", code="invalid_type")
TYPE_LEVEL = Param("type_level", STRING, "none: no X-Type header.", enum=("none", "1", "2", "latest"), default="1",
                   code="invalid_type_level")
FORMAT = Param("format", STRING, "auto = png if anything is transparent, else jpg; zip = color.jpg + alpha.png.",
               enum=("auto", *output_spec.FORMATS), default="auto", code="invalid_format")
ROI = _text("roi", "x1 y1 x2 y2 (px or %): only this region may be foreground.", output_spec.roi,
            output_spec.ROI_PATTERN, "0% 0% 100% 100%")
CROP = Param("crop", BOOLEAN, "Crop to the subject.", default=False, code="invalid_crop")
CROP_MARGIN = _text("crop_margin", "With crop: 1, 2 or 4 values, px or % of the subject (at most 500 px / 50%).",
                    output_spec.crop_margin, output_spec.CROP_MARGIN_PATTERN, "10px 5%", default="0")
SCALE = _text("scale", "10%-100% of the canvas, or original.", output_spec.scale, output_spec.SCALE_PATTERN, "80%",
              default="original")
POSITION = _text("position", "original, center, N% or H% V% (0-100%).", output_spec.position,
                 output_spec.POSITION_PATTERN, "center", default="original")
CHANNELS = Param("channels", STRING, "rgba, or alpha: the matte alone.", enum=output_spec.CHANNELS, default="rgba",
                 code="invalid_channels")
BG_COLOR = _text("bg_color", "Hex (fff, 81d4fa, 81d4fa77) or a CSS colour name.", output_spec.colour,
                 {"anyOf": [{"pattern": output_spec.HEX_COLOUR_PATTERN}, {"enum": list(output_spec.COLOUR_NAMES)}]},
                 "81d4fa")
BG_IMAGE_URL = Param("bg_image_url", STRING, "A background image's URL, scaled to cover the canvas.",
                     format=URL_FORMAT, max_length=MAX_URL_CHARS, code="invalid_bg_image_url")
SEMITRANSPARENCY = Param("semitransparency", BOOLEAN, "Accepted; no effect here (rembg's matte is already soft).",
                         default=True, code="invalid_semitransparency")
ADD_SHADOW = Param("add_shadow", BOOLEAN, "Accepted; no effect here (no shadows are drawn); so are shadow_type and "
                   "shadow_opacity.", default=False, code="invalid_add_shadow")

OPTIONS = (SIZE, FORMAT, ROI, CROP, CROP_MARGIN, SCALE, POSITION, CHANNELS, BG_COLOR)  # core/output_spec's
FIELDS = (IMAGE_URL, IMAGE_FILE_B64, IMAGE_BASE64, SIZE, TYPE, TYPE_LEVEL, FORMAT, ROI, CROP, CROP_MARGIN, SCALE,
          POSITION, CHANNELS, BG_COLOR, BG_IMAGE_URL, SEMITRANSPARENCY, ADD_SHADOW)
