"""No import cycles among the modules of ``loi.pipeline`` (module-level, function-level and
``TYPE_CHECKING`` imports all count: each is a dependency of one module on another)."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "src" / "loi" / "pipeline"
# Cycles known and owned elsewhere, each with why it is still here. Empty this when they are gone.
KNOWN: set[frozenset[str]] = set()


def module_imports(source: str, package: str, modules: set[str]) -> set[str]:
    """The modules of ``package`` (names in ``modules``) that ``source`` imports, anywhere in it."""
    found = set()
    prefix = package + "."
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names a module; `from package.module import x` the module.
            names = [f"{node.module}.{alias.name}" for alias in node.names] if node.module == package \
                else [node.module]
        else:
            continue
        for name in names:
            if name.startswith(prefix):
                head = name[len(prefix):].split(".")[0]
                if head in modules:
                    found.add(head)
    return found


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``__init__`` left out: its imports are lazy)."""
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    return {m: module_imports((folder / f"{m}.py").read_text(encoding="utf-8"), package, modules) - {m}
            for m in sorted(modules)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def test_the_checker_finds_direct_indirect_and_function_level_cycles(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.a import x\n")  # left out: a package's own lazy surface
    (pkg / "a.py").write_text("from pkg.b import y\nx = 1\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.c import z\n    return z\ny = 2\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\nz = 3\n")
    (pkg / "d.py").write_text("from pkg import e\nimport pkg.a as alias\n")
    (pkg / "e.py").write_text("import os\nfrom other.pkg import d\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e", "a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert cycles({"x": {"y"}, "y": {"x"}, "p": {"q"}, "q": {"p", "x"}}) == [["p", "q"], ["x", "y"]]


def test_loi_pipeline_has_no_import_cycles() -> None:
    found = [c for c in cycles(import_graph(PIPELINE, "loi.pipeline")) if frozenset(c) not in KNOWN]
    assert found == [], f"import cycles among loi.pipeline modules: {found}"


def test_the_executors_and_the_compilation_cache_import_downwards() -> None:
    graph = import_graph(PIPELINE, "loi.pipeline")
    assert not graph["compilation"] and not graph["job"]  # the bottom: nothing of the pipeline
    assert "run" not in graph["ray_executor"] and "executor" not in graph["ray_executor"]
    assert {"job", "ray_executor"} <= graph["executor"]
