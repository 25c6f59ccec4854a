"""The layout's rules, enforced: the layers (import-linter, .importlinter), handlers that import only each area's
public entry points, and modules small enough to read."""
from __future__ import annotations

import ast
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "imgapi" / "imgapi"
AREAS = ("api", "auth", "core", "dashscope", "engine", "imagefiles", "jobs")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_layers_hold():
    result = _lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, upward", [
    ("engine/enhance.py", "from imgapi.jobs import lifecycle"),
    ("dashscope/client.py", "from imgapi.api import contract"),
    ("jobs/quotas.py", "from imgapi.auth import users"),
    ("core/settings.py", "from imgapi.engine import pipeline"),
])
def test_an_upward_import_breaks_the_layers(tmp_path, module, upward):
    copy = tmp_path / "imgapi"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{upward}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def _imgapi_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every import of imgapi in a file: `from imgapi.a.b import c` gives ("imgapi.a.b", "c")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "imgapi":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "imgapi"]
    return found


# Every Lambda entry module: app.py, and the image worker's second handler (removebg_app.py).
HANDLERS = sorted(ROOT.glob("functions/*/*app.py"))


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_handlers_import_only_public_entry_points(handler):
    for module, name in _imgapi_imports(handler):
        parts = module.split(".")
        assert len(parts) >= 2 and parts[1] in AREAS, f"{handler}: imports {module}; import from an area's module"
        area = importlib.import_module(f"imgapi.{parts[1]}")
        entry = parts[2] if len(parts) > 2 else name
        assert entry in area.__all__, (f"{handler.parent.name} imports imgapi.{parts[1]}.{entry}, which is not one of "
                                       f"that area's entry points ({', '.join(area.__all__) or 'none'})")


def test_every_area_says_what_it_owns_and_may_import():
    for area in AREAS:
        doc = importlib.import_module(f"imgapi.{area}").__doc__ or ""
        assert 2 <= len([line for line in doc.strip().splitlines() if line.strip()]) <= 5, area
        assert "import" in doc.lower(), f"imgapi.{area}: say what it may import"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(AREAS)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"], "every module lives in an area"


def test_modules_stay_readable():
    for area in AREAS:
        modules = [p for p in (PACKAGE / area).glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 15, f"{area} has {len(modules)} modules: split it by concept"
        for module in modules:
            text = module.read_text()
            lines = text.count("\n")
            if lines > 300:
                assert "Why it is long:" in (ast.get_docstring(ast.parse(text)) or ""), (
                    f"{module} has {lines} lines and no reason in its docstring")
