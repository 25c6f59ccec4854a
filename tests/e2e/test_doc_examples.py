"""Every example of README.md and docs/*.md, run as written against the local stack (`make dev`'s).

The rules (which blocks run, how a block is marked as not run, what a run must show) are in
tests/support/doc_examples.py. In short: ```bash and ```python blocks run, each in a fresh folder holding the images
the docs name; `http://127.0.0.1:8000` is the test's stack and `https://example.com/` a server of generated images;
TOKEN and TASK_ID are set as a reader who logged in and submitted has them; any other block is a sample
(```text, ```json, ...) or is marked `<!-- not-run: why -->`, and a block that is neither fails the suite.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.e2e.conftest import login, wait_for
from tests.support import doc_examples
from tests.support.doc_examples import PYTHON, SHELL, Block
from tests.support.http_server import ScriptedServer
from tests.support.images import encode, portrait_array, portrait_jpeg, portrait_png

BLOCKS = doc_examples.all_blocks()
RUN = [block for block in BLOCKS if block.runs]
DOC_NAMES = ("api.md", "operations.md", "configuration.md", "deploy.md", "local.md", "dashscope.md", "architecture.md")
README_MAX_LINES = 300
EXAMPLE_TIMEOUT_SECONDS = 120
VENV_BIN = Path(sys.executable).parent


# -- what the examples find: images, a token, a finished task ------------------------------------------------------

def _background(width: int = 320, height: int = 240) -> bytes:
    """A studio-like backdrop: a warm gradient with some texture (change_bg's reference image)."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    image = np.array([240, 220, 190], np.float32) * (1 - ramp) + np.array([200, 170, 140], np.float32) * ramp
    image = np.broadcast_to(image, (height, width, 3)) + rng.normal(0, 2, (height, width, 3))
    return encode(np.clip(image, 0, 255).astype(np.uint8), "JPEG")


def _cutout() -> bytes:
    """A portrait whose background is already transparent (what /remove_bg makes)."""
    from tests.support.images import subject_mask

    rgb = portrait_array(200, 260)
    alpha = np.where(subject_mask(200, 260), 255, 0).astype(np.uint8)
    return encode(np.dstack([rgb, alpha]), "PNG")


def _images() -> dict[str, bytes]:
    portrait = portrait_jpeg(240, 320)
    return {
        "portrait.jpg": portrait, "photo.jpg": portrait_jpeg(200, 260), "product.jpg": portrait_jpeg(180, 240),
        "image.jpg": portrait_jpeg(160, 200), "person.jpg": portrait, "top.jpg": portrait_jpeg(120, 160),
        "bottom.jpg": portrait_jpeg(120, 160), "studio.jpg": _background(), "beach.jpg": _background(),
        "cutout.png": _cutout(), "catalogue-photo.jpg": portrait_jpeg(320, 400),
        "catalogue/a.jpg": portrait_jpeg(160, 200), "catalogue/shoes/b.png": portrait_png(120, 160),
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("doc_images")
    for name, data in _images().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def image_server(images):
    """https://example.com/<name> of the docs: the same images over HTTP (the worker downloads URLs itself)."""
    with ScriptedServer() as server:
        for path in images.rglob("*"):
            if path.is_file():
                kind = "image/png" if path.suffix == ".png" else "image/jpeg"
                server.route("/" + path.relative_to(images).as_posix(), body=path.read_bytes(), content_type=kind)
        yield server


@pytest.fixture(scope="module")
def reader(local_stack, images) -> dict[str, str]:
    """What a reader who followed "Log in" and one submit has: a token and the task id of a finished job."""
    token = login(local_stack.url)
    with open(images / "portrait.jpg", "rb") as file:
        answer = requests.post(f"{local_stack.url}/api/v1/upscale/combo", params={"token": token},
                               files={"file": ("portrait.jpg", file, "image/jpeg")}, timeout=30)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    assert wait_for(local_stack.url, token, task_id)["status"] == "completed"
    return {"TOKEN": token, "TASK_ID": task_id}


def _environment(folder: Path, reader: dict[str, str], local_stack) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("IMGAPI_")}
    state = folder / ".imgapi-dev.json"  # what `make dev` writes for `imgapi users --local`
    state.write_text(json.dumps({"url": local_stack.url, "aws_url": local_stack.aws_url,
                                 "users_table": os.environ["USERS_TABLE"]}))
    environment.update(reader, HOME=str(folder), IMGAPI_DEV_STATE_FILE=str(state),
                       PATH=f"{VENV_BIN}{os.pathsep}{environment.get('PATH', '')}", PYTHONUNBUFFERED="1")
    return environment


def _check_image(path: Path, transparent: bool) -> None:
    assert path.is_file(), f"the example did not write {path.name}"
    image = Image.open(io.BytesIO(path.read_bytes()))
    image.load()
    assert image.format in ("PNG", "WEBP", "JPEG"), f"{path.name} is {image.format}"
    if transparent:
        assert image.mode == "RGBA", f"{path.name} has no alpha channel ({image.mode})"
        alpha = np.asarray(image.getchannel("A"))
        assert alpha.min() == 0 and alpha.max() == 255, f"{path.name}: no transparent background"


# -- the rules ------------------------------------------------------------------------------------------------------

def test_every_code_block_is_run_or_marked_as_not_run():
    problems = [problem for path in doc_examples.documents() for problem in doc_examples.parse(path).problems]
    assert not problems, "\n".join(problems)
    assert RUN, "no runnable examples found"


def test_readme_is_a_newcomers_page_that_links_the_reference():
    readme = (doc_examples.ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    for name in DOC_NAMES:
        assert (doc_examples.ROOT / "docs" / name).is_file(), name
        assert f"(docs/{name}" in readme, f"README does not link docs/{name}"
    assert "```mermaid" in readme, "the architecture picture"


def test_relative_links_resolve():
    problems = [problem for path in doc_examples.documents() for problem in doc_examples.broken_links(path)]
    assert not problems, "\n".join(problems)


def test_examples_that_submit_check_what_they_made():
    """A run example that starts jobs says what it must produce, so a broken job cannot pass unnoticed."""
    submits = ("/api/v1/upscale/combo", "/change_bg", "/change_cloth", "/expand", "/fix", "/remove_bg",
               "/api/v1/uploads", "imgapi client run", "imgapi process")
    unchecked = [block.name for block in RUN if any(s in block.code for s in submits)
                 and not block.values("expect-file") and not block.values("expect-output")]
    assert not unchecked, f"examples that submit but check nothing: {unchecked}"


# -- the examples ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[block.name for block in RUN])
def test_example(block: Block, local_stack, image_server, images, reader, tmp_path):
    shutil.copytree(images, tmp_path, dirs_exist_ok=True)
    code = doc_examples.prepared(block, local_stack.url, image_server.url("/"))
    if block.language in SHELL:
        prelude = doc_examples.SHELL_PRELUDE
        if not block.values("allow-http-errors"):
            prelude += doc_examples.FAIL_ON_HTTP_ERRORS
        script = tmp_path / "example.sh"
        script.write_text(prelude + code)
        command = ["bash", str(script)]
    else:
        assert block.language in PYTHON
        script = tmp_path / "example.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    done = subprocess.run(command, cwd=tmp_path, env=_environment(tmp_path, reader, local_stack),
                          capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_SECONDS)
    shown = f"--- {block.name} ---\n{code}\n--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    for text in block.values("expect-output"):
        assert text in done.stdout, f"expected {text!r} in the output\n{shown}"
    for value in block.values("expect-file"):
        name, *kind = value.split()
        _check_image(tmp_path / name, transparent=kind == ["transparent"])
