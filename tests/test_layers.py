"""The package's layering: imports point down only, and the bottom has no JAX."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "loi"

# Which sibling layers each layer may import (besides itself and loi.errors).
ALLOWED = {
    "tables": set(),
    "metrics": {"tables"},
    "allocation": {"tables", "metrics"},
    "envs": set(),
    "backends": set(),  # optional real simulators (loi.backends): numpy + their own package
    "agents": {"envs", "tables"},
    "training": {"envs", "agents", "tables"},
    "evaluation": {"envs", "agents", "training", "tables", "metrics"},
    "pipeline": {"tables", "metrics", "allocation", "envs", "agents", "training", "evaluation"},
    "report": {"tables", "metrics", "allocation", "envs", "agents", "training", "evaluation", "pipeline"},
    "cli": {"tables", "metrics", "allocation", "envs", "agents", "training", "evaluation", "pipeline", "report"},
}
NUMPY_ONLY = ("tables", "metrics", "allocation", "backends")
JAX_MODULES = ("jax", "jaxlib", "flax", "optax", "orbax", "chex")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # ``from loi import metrics`` imports the layer ``loi.metrics``.
            if node.module == "loi":
                names.update(f"loi.{alias.name}" for alias in node.names)
    return names


def _layer_files():
    for layer in ALLOWED:
        for path in sorted((SRC / layer).rglob("*.py")):
            yield layer, path


@pytest.mark.parametrize("layer,path", list(_layer_files()), ids=lambda v: getattr(v, "name", v))
def test_imports_point_down(layer: str, path: Path) -> None:
    for name in _imported_modules(path):
        parts = name.split(".")
        if parts[0] != "loi" or len(parts) < 2 or parts[1] in ("errors", layer, "__version__"):
            continue
        assert parts[1] in ALLOWED[layer], f"{path.relative_to(SRC)} (layer {layer}) imports {name}"
        if layer in NUMPY_ONLY:
            assert parts[0] not in JAX_MODULES


@pytest.mark.parametrize("layer", NUMPY_ONLY)
def test_bottom_layers_have_no_jax_imports(layer: str) -> None:
    for path in sorted((SRC / layer).rglob("*.py")):
        bad = {n for n in _imported_modules(path) if n.split(".")[0] in JAX_MODULES}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_bottom_layers_import_without_loading_jax() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {NUMPY_ONLY!r}: importlib.import_module('loi.' + m)\n"
        "import loi.pipeline\n"
        f"loaded = [m for m in {JAX_MODULES!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
