"""Reading multipart, urlencoded and JSON bodies as API Gateway delivers them."""
from __future__ import annotations

import base64

import pytest
from urllib3.filepost import encode_multipart_formdata

from imgapi.core.errors import BadRequest
from imgapi.core.request_body import parse_form


def _event(body: bytes, ctype: str, b64: bool = True) -> dict:
    return {"headers": {"content-type": ctype}, "isBase64Encoded": b64,
            "body": base64.b64encode(body).decode() if b64 else body.decode()}


def test_multipart_with_file_and_fields():
    body, ctype = encode_multipart_formdata([("enhance_level", "light"), ("file", ("ф ото.jpg", b"\xff\xd8binary\x00", "image/jpeg"))])
    form = parse_form(_event(body, ctype))
    assert form.fields == {"enhance_level": "light"}
    upload = form.files["file"]
    assert upload.data == b"\xff\xd8binary\x00" and upload.content_type == "image/jpeg" and upload.filename == "ф ото.jpg"


def test_urlencoded_and_json():
    assert parse_form(_event(b"a=1&b=x+y", "application/x-www-form-urlencoded", False)).fields == {"a": "1", "b": "x y"}
    assert parse_form(_event(b'{"a": 1}', "application/json", False)).fields == {"a": 1}


@pytest.mark.parametrize("body,ctype", [
    (b"--x\r\nbroken", "multipart/form-data"),
    (b"--x\r\nbroken", "multipart/form-data; boundary=y"),
    (b"{", "application/json"),
    (b"[1]", "application/json"),
    (b"data", "text/plain"),
])
def test_unreadable_bodies_are_400(body, ctype):
    with pytest.raises(BadRequest):
        parse_form(_event(body, ctype))
