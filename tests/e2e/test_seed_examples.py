"""The combo API's own Python and cURL examples, run as written against the local stack.

Only the port differs: the examples say localhost:8000, the test stack listens on a free port.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.images import portrait_jpeg
from tests.support.waiting import REAL_WORK_SECONDS

EXAMPLES = Path(__file__).parent / "seed_examples"
pytestmark = pytest.mark.slow


def _prepare(tmp_path: Path, name: str, port: int) -> Path:
    text = (EXAMPLES / name).read_text()
    assert text.count("localhost:8000") >= 4
    script = tmp_path / name
    script.write_text(text.replace("localhost:8000", f"localhost:{port}"))
    (tmp_path / "portrait.jpg").write_bytes(portrait_jpeg(200, 260))
    return script


def _assert_transparent_png(path: Path) -> None:
    image = Image.open(path)
    assert image.format == "PNG" and image.mode == "RGBA"
    alpha = np.asarray(image.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


def test_python_example(local_stack, tmp_path):
    script = _prepare(tmp_path, "combo_example.py", local_stack.port)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=REAL_WORK_SECONDS + 60)
    assert done.returncode == 0, done.stderr
    assert "处理失败" not in done.stdout
    _assert_transparent_png(tmp_path / "enhanced_portrait.png")


def test_curl_example(local_stack, tmp_path, base_url):
    assert shutil.which("curl") and shutil.which("jq"), "make test installs curl and jq"
    script = _prepare(tmp_path, "combo_example.sh", local_stack.port)
    # The example does not wait between submit and download; a person running it would. Run it in
    # two halves so the download happens after the job finished, as in the example's own prose.
    text = script.read_text()
    head, tail = text.split("# 4.", 1)
    wait = ('for i in $(seq 1 %d); do S=$(curl -s "http://localhost:%d/api/v1/upscale/status/$TASK_ID?token=$TOKEN" '
            '| jq -r .status); [ "$S" = completed -o "$S" = failed ] && break; sleep 0.3; done\n'
            % (REAL_WORK_SECONDS / 0.3, local_stack.port))
    script.write_text(head + wait + "# 4." + tail)
    done = subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=REAL_WORK_SECONDS + 60)
    assert done.returncode == 0, done.stderr
    assert '"status": "' in done.stdout
    _assert_transparent_png(tmp_path / "enhanced_portrait.png")
