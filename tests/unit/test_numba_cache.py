"""Alpha matting and mask post-processing with the numba cache on a read-only folder, as /opt is on Lambda.

The worker image builds pymatting's numba cache into NUMBA_CACHE_DIR=/opt/numba-cache. Here that folder is made from
this machine's build-time cache (the one `make install` compiled), and `cutout.refine` runs in a fresh process that sees
it, the installed packages (numba's in-tree fallback) and HOME (its user-wide fallback) on read-only mounts, as Lambda
does, in a mount namespace of its own (`unshare`), with only the temp folder writable.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "functions" / "image_worker" / "Dockerfile"

REFINE = """
import json, os, sys
import numpy as np
from PIL import Image
from imgapi.engine import cutout

yy, xx = np.mgrid[0:96, 0:96]
disc = ((yy - 48) ** 2 + (xx - 48) ** 2) < 30 ** 2
image = Image.fromarray(np.where(disc[..., None], [200, 60, 40], [30, 120, 220]).astype(np.uint8))
mask = np.where(disc, 255, 0).astype(np.uint8)
colours, alpha = cutout.refine(image, mask, True, True, (240, 10, 10))
print(json.dumps({"cache": os.environ["NUMBA_CACHE_DIR"], "shape": list(alpha.shape),
                  "partial": int(((alpha > 0) & (alpha < 255)).sum()), "numba": "numba" in sys.modules}))
"""


def _build_time_cache(into: Path) -> int:
    """pymatting's compiled functions, from the in-tree cache `make install` made, laid out as NUMBA_CACHE_DIR does."""
    import pymatting

    copied = 0
    for pycache in Path(pymatting.__file__).parent.rglob("__pycache__"):
        entries = [p for p in pycache.iterdir() if p.suffix in (".nbi", ".nbc")]
        if not entries:
            continue
        source_dir = str(pycache.parent.resolve())  # numba's subpath: parent name + sha1 of the source folder
        target = into / f"{pycache.parent.name}_{hashlib.sha1(source_dir.encode()).hexdigest()}"
        target.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            shutil.copy2(entry, target / entry.name)
            copied += 1
    return copied


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _run_on_read_only_mounts(script: str, env: dict, read_only: list[Path]) -> subprocess.CompletedProcess:
    mounts = " && ".join(f'mount --bind -o ro "{path}" "{path}"' for path in read_only)
    command = ["unshare", "--map-root-user", "--mount", "sh", "-c", f'{mounts} && exec "$0" -c "$1"',
               sys.executable, script]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_refine_runs_with_a_read_only_numba_cache(tmp_path):
    cache = tmp_path / "opt-numba-cache"
    assert _build_time_cache(cache) > 0, "make install should have compiled pymatting's numba cache"
    before = _files(cache)
    scratch, home = tmp_path / "tmp", tmp_path / "home"
    scratch.mkdir()
    home.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "TMPDIR": str(scratch), "HOME": str(home)}
    result = _run_on_read_only_mounts(REFINE, env, [cache, site_packages, home])
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["numba"] and answer["shape"] == [96, 96]
    assert answer["partial"] > 0, "alpha matting ran: the edge has partial alpha"
    copy = scratch / "numba-cache"
    assert answer["cache"] == str(copy)
    assert _files(cache) == before, "the read-only cache is untouched"
    # Every build-time entry came along and was used as it is: nothing was compiled anew into the copy.
    assert _files(copy) == before


def test_the_image_builds_its_numba_cache_under_opt_and_code_copies_it():
    text = DOCKERFILE.read_text()
    assert "NUMBA_CACHE_DIR=/opt/numba-cache" in text
    assert 'python3.11 -c "import rembg.bg"' in text, "the cache is compiled at build time"
    source = (ROOT / "layers" / "imgapi" / "imgapi" / "engine" / "cutout.py").read_text()
    refine = source[source.index("def refine("):]
    assert refine.index("ensure_writable_cache()") < refine.index("from rembg import bg")
