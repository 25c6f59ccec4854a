"""Build step of the image worker's image: bake in the deployer's inpainting model for expand, or nothing.

    python3.11 bake_expand_model.py URL SHA256 DESTINATION

With no URL (the default build), nothing is baked and the local expand runs the exemplar synthesis. With a URL, the
SHA256 is required: the file is downloaded, its digest compared, and it must load as an image + mask -> image ONNX
model; any failure fails the build (never an image that would silently run another fill). Standard library and
onnxruntime only: it runs before the project's package is in the image.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

CHUNK = 1 << 20
TIMEOUT_S = 60


class BakeError(RuntimeError):
    pass


def bake(url: str, sha256: str, destination: Path) -> bool:
    """True when a model was baked in; BakeError when the arguments or the file are wrong."""
    url, sha256 = url.strip(), sha256.strip().lower()
    if not url:
        if sha256:
            raise BakeError("EXPAND_MODEL_SHA256 is set but EXPAND_MODEL_URL is not")
        return False
    if not url.startswith(("https://", "http://")):
        raise BakeError("EXPAND_MODEL_URL must be an http(s) URL")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BakeError("EXPAND_MODEL_SHA256 must be the model file's SHA-256, 64 hex digits")
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (http(s) checked above)
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    part.write(chunk)
            part.close()
            if not hmac.compare_digest(digest.hexdigest(), sha256):
                raise BakeError(f"the downloaded model's SHA-256 is {digest.hexdigest()}, not EXPAND_MODEL_SHA256")
            _check_signature(part.name)
            os.replace(part.name, destination)
        finally:
            if os.path.exists(part.name):
                os.unlink(part.name)
    return True


def _check_signature(path: str) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    channels = sorted(arg.shape[1] if len(arg.shape) == 4 else None for arg in session.get_inputs())
    outputs = session.get_outputs()
    if channels != [1, 3] or not outputs or len(outputs[0].shape) != 4:
        raise BakeError("the model is not an inpainting model: its inputs must be an image [1, 3, H, W] and a mask "
                        "[1, 1, H, W], its output an image [1, 3, H, W]")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        baked = bake(argv[0], argv[1], Path(argv[2]))
    except (BakeError, OSError, ValueError) as exc:
        print(f"expand model: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # onnxruntime's own errors: the file does not load as a model
        print(f"expand model: the file does not load as an ONNX model ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(f"expand model: {'baked into ' + argv[2] if baked else 'none (the exemplar synthesis runs)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
