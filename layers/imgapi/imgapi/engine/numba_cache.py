"""A writable numba cache for pymatting on Lambda, where the image's /opt is read-only.

The worker image compiles pymatting's numba functions at build time into NUMBA_CACHE_DIR under /opt, so that no cold
start pays ~30 s of compilation. But numba uses a cache folder only if it can create a file in it, and with no
writable locator it refuses to run a cached function at all ("cannot cache function ... no locator available").
So before rembg.bg is first imported, a read-only cache is copied once to /tmp and numba pointed at the copy: the
build-time entries stay valid there, because numba keys them by the source file's path and hash, not the cache's.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from threading import Lock

_lock = Lock()
_checked = False


def _is_writable(path: str) -> bool:
    """numba's own test: can a file be created there?"""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def ensure_writable_cache() -> str | None:
    """Make NUMBA_CACHE_DIR writable for this process, copying a read-only one to the temp folder; returns it."""
    global _checked
    with _lock:
        source = os.environ.get("NUMBA_CACHE_DIR")
        if _checked or not source or _is_writable(source):
            _checked = True
            return source
        target = os.path.join(tempfile.gettempdir(), "numba-cache")
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = target
        if "numba" in sys.modules:  # numba reads its settings once, at import
            from numba.core import config

            config.reload_config()
        _checked = True
        return target
