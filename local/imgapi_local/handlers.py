"""Importing each function's handler from its folder, as Lambda would, under a unique module name.

Every function's module is called app.py; importing them by path under distinct names keeps
them from colliding in one process (the local stack, or a pytest run).
"""
from __future__ import annotations

import importlib.util
import queue
import sys
import threading
from typing import Any, Callable

from .template import FunctionSpec


_import_lock = threading.Lock()
_modules: dict[str, Any] = {}


def _load_module(path: str, name: str):
    with _import_lock:  # one import per name, even when several threads cold-start at once
        if name not in _modules:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            _modules[name] = module
        return _modules[name]


def load_handler(spec: FunctionSpec, instance: int = 0, namespace: str = "") -> Callable[[dict, Any], Any]:
    """The function's handler. Each `instance` is a separate import, like a separate Lambda container:
    module-level state (the event resolver, the batch processor, boto3 clients) is never shared between
    concurrent calls. A `namespace` (one per local stack) keeps stacks from sharing containers."""
    module_name, _, attribute = spec.handler.rpartition(".")
    path = spec.code_dir / (module_name.replace(".", "/") + ".py")
    module = _load_module(str(path), f"imgapi_fn{namespace}_{spec.logical_id}_{module_name.replace('.', '_')}_{instance}")
    return getattr(module, attribute)


class HandlerPool:
    """Up to `size` concurrent "containers" of one function; a call waits when all are busy."""

    def __init__(self, spec: FunctionSpec, size: int = 4, namespace: str = ""):
        self.spec = spec
        self.namespace = namespace
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._size = size
        self._lock = threading.Lock()

    def __call__(self, event: dict, context: Any) -> Any:
        with self._lock:
            if self._free.empty() and self._created < self._size:
                self._free.put(self._created)
                self._created += 1
        instance = self._free.get()
        try:
            return load_handler(self.spec, instance, self.namespace)(event, context)
        finally:
            self._free.put(instance)
