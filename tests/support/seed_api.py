"""The first API (seed 1): the request bodies its test client posted, as its README gives them."""
from __future__ import annotations

SEED_BODIES: dict[str, dict] = {
    "change_bg": {
        "base_image_url": "https://example.com/image.jpg",
        "ref_image_url": "https://example.com/background.jpg",
        "ref_prompt": "",
        "n": 1,
    },
    "change_cloth": {
        "top_garment_url": "https://example.com/top.jpg",
        "bottom_garment_url": "https://example.com/bottom.jpg",
        "person_image_url": "https://example.com/person.jpg",
    },
    "expand": {
        "base_image_url": "https://example.com/image.jpg",
        "top_scale": 2.0,
        "bottom_scale": 2.0,
        "left_scale": 2.0,
        "right_scale": 2.0,
        "prompt": "按照原来图片背景来操作扩展",
    },
    "fix": {
        "base_image_url": "https://example.com/image.jpg",
        "prompt": "图像超分。",
    },
    "remove_bg": {
        "image_url": "https://example.com/image.jpg",
    },
}
DASHSCOPE_OPERATIONS = ("change_bg", "change_cloth", "expand", "fix")
