"""Layers only look down: the import graph of analyses/ and report/ has no cycle, and no project import hides
inside a function (where it would hide a cycle from readers and from this test's first half)."""

from __future__ import annotations

import ast
from pathlib import Path

import report.sections

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analyses", "report")



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _imports(modules: dict[str, Path]) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Each module's project imports (all of them), and those made inside a function."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {name: set() for name in modules}
    lazy: set[tuple[str, str]] = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function = {id(node) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for node in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            for target in filter(None, map(resolve, targets)):
                if target != name:
                    edges[name].add(target)
                    if id(node) in in_function:
                        lazy.add((name, target))
    if "report.sections" in edges:  # the registry imports its sections by name
        edges["report.sections"] |= {f"report.sections.{e.name}" for e in report.sections.REGISTRY}
    return edges, lazy


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles():
    edges, _ = _imports(_modules())
    assert _cycles(edges) == []


def test_no_project_import_inside_a_function():
    _, lazy = _imports(_modules())
    assert sorted(lazy) == [], "import these at the top of the module"


def test_no_module_reaches_for_a_private_name_of_another():
    for module, path in sorted(_modules().items()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                assert not private, f"{module} imports {private} from {node.module}"


def test_the_checks_see_cycles_and_lazy_imports(tmp_path):
    """Known answers on made-up modules, so the two tests above cannot pass by seeing nothing."""
    (tmp_path / "a.py").write_text("import os\n\n\ndef f():\n    from pkg.b import x\n    import json\n")
    (tmp_path / "b.py").write_text("from pkg import c\n")
    (tmp_path / "c.py").write_text("import pkg.a\n")
    edges, lazy = _imports({f"pkg.{m}": tmp_path / f"{m}.py" for m in "abc"})
    assert edges == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert lazy == {("pkg.a", "pkg.b")}
    assert _cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    edges, _ = _imports(_modules())
    assert {"report.run.section", "analyses.svd"} <= edges["report.sections.svd"]
