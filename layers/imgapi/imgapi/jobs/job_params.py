"""What the jobs area accepts, declared once as data: each parameter's type, range, default and error code.

The parsers (operations, removal_configs, uploads, views) read requests with these declarations, and the API's
contract (api.contract) gathers them into routes and the OpenAPI document: the API reads the domain, never the
reverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgapi.jobs import lifecycle
from imgapi.engine.enhance_levels import DEFAULT_LEVEL, LEVELS, OUTPUT_FORMATS
from imgapi.core import output_spec
from imgapi.core.errors import BadRequest
from imgapi.core.parameters import BOOLEAN, INTEGER, NUMBER, OBJECT, STRING, URL_FORMAT, UUID_FORMAT, Param
from imgapi.core.request_body import MAX_IDEMPOTENCY_KEY
from imgapi.core.settings import get_settings
from imgapi.core.vocabulary import (
    ENGINES, EXPAND_DEFAULT_PROMPT, FIX_DEFAULT_PROMPT, IMAGE_CONTENT_TYPES, MAX_PROMPT_CHARS, MAX_URL_CHARS,
    OPERATIONS, SCALE_RANGE, UPLOAD_OPERATIONS,
)

JOB_STATUSES = (lifecycle.AWAITING_UPLOAD, lifecycle.PENDING, lifecycle.PROCESSING, lifecycle.COMPLETED, lifecycle.FAILED,
                lifecycle.CANCELLED)
MAX_WAIT_SECONDS = 25  # API Gateway gives up on a request after 30 s

# -- path parameters -----------------------------------------------------------------------------------------------

TASK_ID = Param("task_id", STRING, "The task's id, as its submit answered it.", format=UUID_FORMAT, code="bad_task_id")
CONFIG_ID_PATH = Param("config_id", STRING, "The configuration's id, as its creation answered it.",
                       format=UUID_FORMAT, code="bad_config_id")

# -- combo and remove_bg: the background-removal settings ----------------------------------------------------------

def _colour(value: Any) -> tuple[int, int, int, int]:
    """bgcolor: '#rrggbb', '#rrggbbaa' or [r, g, b(, a)], as RGBA."""
    if isinstance(value, str):
        rgba = output_spec.hex_colour(value, short=False)
        if rgba is not None:
            return rgba
    elif isinstance(value, list) and len(value) in (3, 4) and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value):
        return tuple(value) + ((255,) if len(value) == 3 else ())  # type: ignore[return-value]
    raise BGCOLOR.refuse(value)


BGCOLOR = Param(
    "bgcolor", STRING, "Fill the background with this colour: '#rrggbb', '#rrggbbaa' or [r, g, b(, a)] (0-255).",
    reader=_colour, expects="'#rrggbb', '#rrggbbaa' or [r, g, b(, a)] with values 0-255", example="#ffffff",
    schema_override={"oneOf": [
        {"type": "string", "pattern": "^#?[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"},
        {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}, "minItems": 3, "maxItems": 4},
    ]})

CONFIG_NAME = Param("name", STRING, "A name to recognise the configuration by.", default="", max_length=100)
REMOVAL_SETTINGS = (
    Param("model", STRING, "A rembg model this deployment has (stack parameter RembgModels).",
          default=lambda: get_settings().default_rembg_model, enum=lambda: get_settings().rembg_models,
          code="model_unavailable"),
    Param("alpha_matting", BOOLEAN, "Refine soft edges (hair) with alpha matting.", default=False),
    Param("alpha_matting_foreground_threshold", INTEGER, "Alpha matting: pixels above this are foreground.",
          default=240, minimum=0, maximum=255),
    Param("alpha_matting_background_threshold", INTEGER, "Alpha matting: pixels below this are background.",
          default=10, minimum=0, maximum=255),
    Param("alpha_matting_erode_size", INTEGER, "Alpha matting: erosion of the trimap, in pixels.",
          default=10, minimum=0, maximum=40),
    Param("post_process_mask", BOOLEAN, "Smooth the mask (morphological opening and blur).", default=False),
    BGCOLOR,
)
CONFIG = Param("config", OBJECT, "Background-removal settings for this job alone, instead of a saved config_id.",
               fields=REMOVAL_SETTINGS + (CONFIG_NAME,), closed=True)
CONFIG_ID = Param("config_id", STRING, "A saved background-removal configuration (POST /api/v1/configs); the "
                  "deployment's default model when left out.", format=UUID_FORMAT)
ENHANCE_LEVEL = Param("enhance_level", STRING, "How strongly to enlarge, denoise and sharpen the cut-out.",
                      enum=tuple(LEVELS), default=DEFAULT_LEVEL, code="bad_enhance_level")
FORMAT = Param("format", STRING, "The result's format; all but jpg keep transparency (WebP lossless).",
               enum=OUTPUT_FORMATS, default=OUTPUT_FORMATS[0], code="bad_format")

MAX_OPTION_CHARS = 100


def _output_option(name: str, description: str, parse, pattern: str | dict, example: str) -> Param:
    """A text output option that core/output_spec reads (the same reader as remove.bg's route's): kept as the text
    given, checked here, parsed again by the worker; a refusal is this API's (bad_parameter, naming it)."""
    def read(value: Any) -> str:
        if isinstance(value, str) and len(value) <= MAX_OPTION_CHARS:
            try:
                parse(value)
                return value
            except BadRequest as refused:
                raise param.refuse(value, f"{param.expectation()} ({refused.message})") from refused
        raise param.refuse(value)

    schema = {"type": STRING, "maxLength": MAX_OPTION_CHARS,
              **({"pattern": pattern} if isinstance(pattern, str) else pattern)}
    param = Param(name, STRING, description, reader=read, schema_override=schema, example=example,
                  max_length=MAX_OPTION_CHARS, pattern=pattern if isinstance(pattern, str) else None,
                  expects=f"a {name} as remove.bg spells it (docs/api.md)")
    return param


# The output options both APIs take (core/output_spec, rendered by engine/output_options), with remove.bg's meaning.
OUTPUT_OPTIONS = (
    Param("crop", BOOLEAN, "Crop the result to the subject (with crop_margin around it).", default=False),
    _output_option("crop_margin", "With crop: the margin kept around the subject, 1, 2 (top/bottom left/right) or 4 "
                   "(top right bottom left) values, each px or % of the subject (at most 500 px or 50%).",
                   output_spec.crop_margin, output_spec.CROP_MARGIN_PATTERN, "10px 5%"),
    Param("channels", STRING, "rgba, or alpha: the matte alone (a greyscale image).", enum=output_spec.CHANNELS,
          default="rgba"),
    _output_option("bg_color", "Fill the background: hex (fff, 81d4fa, 81d4fa77, # optional) or a CSS colour name.",
                   output_spec.colour, {"anyOf": [{"pattern": output_spec.HEX_COLOUR_PATTERN},
                                                  {"enum": list(output_spec.COLOUR_NAMES)}]}, "81d4fa"),
)
WEBHOOK_URL = Param("webhook_url", STRING, "POSTed when the job ends (completed, failed or cancelled): a Standard "
                    "Webhooks event signed with your webhook secret (docs/webhooks.md). Only public http(s) hosts.",
                    format=URL_FORMAT, max_length=MAX_URL_CHARS, code="bad_webhook_url",
                    example="https://example.com/hooks/imgapi")
COMBO_FIELDS = (ENHANCE_LEVEL, CONFIG_ID, FORMAT, WEBHOOK_URL, *OUTPUT_OPTIONS)
REMOVE_BG_FIELDS = (CONFIG_ID, CONFIG, FORMAT, *OUTPUT_OPTIONS)
UPLOAD_PARAMS = {"combo": (ENHANCE_LEVEL, CONFIG_ID, CONFIG, FORMAT, *OUTPUT_OPTIONS), "remove_bg": REMOVE_BG_FIELDS}

# -- the first API's image edits -----------------------------------------------------------------------------------


def image_url(name: str, what: str) -> Param:
    return Param(name, STRING, f"{what}: an http(s) URL, or the image uploaded as the multipart file "
                 f"{name.removesuffix('_url')}.", format=URL_FORMAT, max_length=MAX_URL_CHARS, code="bad_url",
                 example="https://example.com/image.jpg")


def prompt(name: str, default: str, what: str) -> Param:
    return Param(name, STRING, what, default=default, max_length=MAX_PROMPT_CHARS)


def images_wanted(default: int) -> Param:
    return Param("n", INTEGER, "How many images to make (the local engine makes one).", default=default,
                 minimum=1, maximum=4)


def scale(side: str) -> Param:
    return Param(f"{side}_scale", NUMBER, f"Extend the image towards the {side}: the extent from its centre to that "
                 "side is multiplied by this.", default=1.5, minimum=SCALE_RANGE[0], maximum=SCALE_RANGE[1])


ENGINE = Param("engine", STRING, "Where the job runs: our own image worker (local) or DashScope. Left out: DashScope "
               "where it is configured and can run the operation, else local.", enum=ENGINES, code="bad_engine")
WAIT = Param("wait", NUMBER, "Seconds to wait for the job to finish before answering (then 200 and the finished job; "
             "202 if it is still running).", default=0, minimum=0, maximum=MAX_WAIT_SECONDS)
BASE_IMAGE_URL = image_url("base_image_url", "The image to edit")


@dataclass(frozen=True)
class EditForm:
    """One image edit's body: its input images (URL fields, each one also a file), its other fields, and which
    inputs it needs (at least one of each group, counting a URL field and its file as the same)."""

    image_urls: tuple[Param, ...]
    fields: tuple[Param, ...]
    needs: tuple[tuple[str, ...], ...]

    @property
    def all_fields(self) -> tuple[Param, ...]:
        return self.image_urls + self.fields + (ENGINE, WAIT, WEBHOOK_URL)


EDIT_FORMS: dict[str, EditForm] = {
    "change_bg": EditForm(
        (BASE_IMAGE_URL, image_url("ref_image_url", "The new background")),
        (prompt("ref_prompt", "", "The new background in words (DashScope only)."), images_wanted(1)),
        (("base_image_url",), ("ref_image_url", "ref_prompt"))),
    "change_cloth": EditForm(
        (image_url("person_image_url", "The person to dress"), image_url("top_garment_url", "The top (or a dress)"),
         image_url("bottom_garment_url", "The bottom")),
        (), (("person_image_url",), ("top_garment_url", "bottom_garment_url"))),
    "expand": EditForm(
        (BASE_IMAGE_URL,),
        tuple(scale(side) for side in ("top", "bottom", "left", "right"))
        + (prompt("prompt", EXPAND_DEFAULT_PROMPT, "What to fill the new area with (DashScope only)."), images_wanted(2)),
        (("base_image_url",),)),
    "fix": EditForm(
        (BASE_IMAGE_URL,),
        (prompt("prompt", FIX_DEFAULT_PROMPT, "The instruction to DashScope's model (DashScope only)."),
         Param("upscale_factor", INTEGER, "Enlarge by this factor (1: sharpen without enlarging).", default=1,
               minimum=1, maximum=4)),
        (("base_image_url",),)),
    "remove_bg": EditForm((image_url("image_url", "The image to cut out"),), REMOVE_BG_FIELDS, (("image_url",),)),
}

# -- direct uploads -----------------------------------------------------------------------------------------------

UPLOAD_OPERATION = Param("operation", STRING, "What to do with the uploaded image.", enum=UPLOAD_OPERATIONS,
                         code="unknown_operation")
UPLOAD_FILENAME = Param("filename", STRING, "The file's name; a safe base name of it goes into the S3 key.",
                        max_length=1024, example="catalogue-photo.jpg")
UPLOAD_CONTENT_TYPE = Param("content_type", STRING, "The file's type (from the filename's extension when left out).",
                            enum=IMAGE_CONTENT_TYPES, code="bad_content_type")
UPLOAD_SIZE = Param("size", INTEGER, "The file's size in bytes: over MaxUploadBytes is refused at once (413).",
                    minimum=1)
UPLOAD_PARAMS_FIELD = Param("params", OBJECT, "The operation's parameters, as its own submit takes them.",
                            fields=UPLOAD_PARAMS["combo"])

# -- listing jobs --------------------------------------------------------------------------------------------------

LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 20, 100
LIST_LIMIT = Param("limit", INTEGER, "Jobs per page.", default=LIST_DEFAULT_LIMIT, minimum=1, maximum=LIST_MAX_LIMIT)
LIST_STATUS = Param("status", STRING, "Only jobs in this state.", enum=JOB_STATUSES)
LIST_OPERATION = Param("operation", STRING, "Only jobs of this operation.", enum=OPERATIONS)
LIST_NEXT_TOKEN = Param("next_token", STRING, "The previous page's next_token, for the next page.", max_length=1024,
                        pattern="^[A-Za-z0-9_-]+$", code="bad_next_token")

# -- headers ------------------------------------------------------------------------------------------------------

IDEMPOTENCY_KEY = Param("Idempotency-Key", STRING, "A retried request with the same key (same user and operation) "
                        "gets the first request's task instead of a new job: 1-255 printable characters.",
                        max_length=MAX_IDEMPOTENCY_KEY, code="bad_idempotency_key", extra_schema={"minLength": 1})
