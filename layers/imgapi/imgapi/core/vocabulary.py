"""The names and limits every layer shares: the operations, the engines, the image types, DashScope's ranges.

Plain values with no imports, so that any module may read them (the contract publishes them, the parsers check
against them, the engine and the workers run by them) without loading what declares them.
"""
from __future__ import annotations

LOCAL, DASHSCOPE = "local", "dashscope"
ENGINES = (LOCAL, DASHSCOPE)  # "local": our image worker; "dashscope": DashScope's models, through its own worker
UPLOAD_OPERATIONS = ("combo", "remove_bg")  # one uploaded image, run on the image worker
IMAGE_EDIT_OPERATIONS = ("change_bg", "change_cloth", "expand", "fix", "remove_bg")  # the first API's routes
OPERATIONS = tuple(dict.fromkeys(UPLOAD_OPERATIONS + IMAGE_EDIT_OPERATIONS))
# image_input.SUPPORTED_FORMATS' types (a test holds them equal): named here so that functions which never read an
# image do not import Pillow to publish them.
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/avif")

MAX_URL_CHARS = 2048
MAX_PROMPT_CHARS = 800  # DashScope's limit on prompts
SCALE_RANGE = (1.0, 2.0)  # DashScope's range for each side of an expansion; the local engine keeps to it too
EXPAND_DEFAULT_PROMPT = "按照原来图片背景来操作扩展"  # the first API's defaults
FIX_DEFAULT_PROMPT = "图像超分。"
