"""Importing each function's handler from its folder, as Lambda would, under a unique module name.

Every function's module is called app.py; importing them by path under distinct names keeps
them from colliding in one process (the local stack, or a pytest run).
"""
from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from typing import Any, Callable

from .template import FunctionSpec


@lru_cache(maxsize=None)
def _load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(spec: FunctionSpec) -> Callable[[dict, Any], Any]:
    module_name, _, attribute = spec.handler.rpartition(".")
    path = spec.code_dir / (module_name.replace(".", "/") + ".py")
    module = _load_module(str(path), f"imgapi_fn_{spec.logical_id}_{module_name.replace('.', '_')}")
    return getattr(module, attribute)
