"""The remove.bg compatible route's parameters, declared for the contract and the OpenAPI document (api/contract.py);
api/removebg.py reads them (with remove.bg's spellings, core/output_spec). Light: the contract is loaded by every
API function.
"""
from __future__ import annotations

from imgapi.core.parameters import BOOLEAN, STRING, Param
from imgapi.core import output_spec

TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation")

FIELDS = (
    Param("image_url", STRING, "The image's URL (exactly one of image_url, image_file, image_file_b64)."),
    Param("image_file_b64", STRING, "The image, base64-encoded."),
    Param("size", STRING, "preview/small/regular = 0.25 MP, medium = 1.5 MP, hd = 4 MP, full/4k/50MP/auto = the "
          "input's size (up to MaxInputPixels).", enum=tuple(output_spec.SIZES), default="preview"),
    Param("type", STRING, "person picks a human-segmentation model where the deployment has one; the others use the "
          "default model. X-Type echoes it (auto: other).", enum=TYPES, default="auto"),
    Param("type_level", STRING, "none: no X-Type header.", enum=("none", "1", "2", "latest"), default="1"),
    Param("format", STRING, "auto = png if anything is transparent, else jpg; zip = color.jpg + alpha.png.",
          enum=(*output_spec.FORMATS, "auto"), default="auto"),
    Param("roi", STRING, "x1 y1 x2 y2 (px or %): only this region may be foreground.", default="0% 0% 100% 100%"),
    Param("crop", BOOLEAN, "Crop to the subject.", default=False),
    Param("crop_margin", STRING, "With crop: 1, 2 or 4 values, px or % of the subject (at most 500 px / 50%).",
          default="0"),
    Param("scale", STRING, "10%-100% of the canvas, or original.", default="original"),
    Param("position", STRING, "original, center, N% or H% V%.", default="original"),
    Param("channels", STRING, "rgba, or alpha: the matte alone.", enum=output_spec.CHANNELS, default="rgba"),
    Param("bg_color", STRING, "Hex (fff, 81d4fa, 81d4fa77) or a CSS colour name."),
    Param("bg_image_url", STRING, "A background image's URL, scaled to cover the canvas."),
    Param("semitransparency", BOOLEAN, "Accepted; no effect here (rembg's matte is already soft).", default=True),
    Param("add_shadow", BOOLEAN, "Accepted; no effect here (no shadows are drawn); so are shadow_type and "
          "shadow_opacity.", default=False),
)


