"""The package's layer order (docs/internals.md) and no import cycle, imports inside functions included.

errors < pipeline, ir < runtime < proof < engine (engine.py, loader.py, cache.py, layout.py, locks.py, perform.py) < analysis,
toolkit, testing.py < sql, service, studio < cli < the package's ``__init__``/``__main__``. Every module's imports are
read with ``ast`` (top level, inside functions, under ``TYPE_CHECKING``: all of them), and none may point up the order;
the graph of the imports that run (all but those under ``TYPE_CHECKING``, which only annotations read) has no cycle.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "policyengine"
LAYERS = [("errors",), ("pipeline", "ir", "_rule_engine_parsetab", "_parsetables"), ("runtime",), ("proof",),
          ("engine", "loader", "cache", "layout", "locks", "store_policy", "perform"), ("analysis", "toolkit", "testing"),
          ("sql", "service", "studio"),
          ("cli",), ("__init__", "__main__")]
"""Lowest first: a module may import its own layer and the ones before it."""

KNOWN: dict[str, str] = {}
"""Imports that break the rules, with the reason each is tolerated: none today. The test fails on any other, and
on an entry that no longer happens (remove it then)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, names in enumerate(LAYERS) if first in names)


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """Every policyengine module ``path`` imports (resolved, the deepest module that exists) with its line, and
    whether the import is for type checkers only (under ``if TYPE_CHECKING:``: never run)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for stmt in node.body for inner in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "policyengine":
                yield _existing(target), node.lineno, id(node) in typing_only


def _existing(module: str) -> str:
    """``module`` or its nearest parent that is a module of the package (``from .x import name``)."""
    parts = module.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    return module


@functools.cache
def graph(run_only: bool = False) -> dict[str, dict[str, int]]:
    """module -> the modules it imports, with a line; ``run_only``: leave out the imports for type checkers only."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        out[name] = {}
        for target, line, typing_only in imports(path):
            if target != name and target != "policyengine" and not (run_only and typing_only):
                out[name].setdefault(target, line)  # (the package itself: its lazy public names)
    return out


def test_every_module_has_a_layer() -> None:
    for name in graph():
        assert layer(name) >= 0, name


def test_no_import_points_up_the_layer_order() -> None:
    upward = {f"{module} -> {target}": f"layer {layer(module)} imports layer {layer(target)} at line {line}"
              for module, targets in graph().items() for target, line in targets.items()
              if layer(target) > layer(module)}
    _check(upward, cycles=False)


def _check(found: dict[str, str], cycles: bool) -> None:
    """Every rule broken is known; every known one (of this kind) still happens."""
    problems = [f"{edge}: {why}" for edge, why in found.items() if edge not in KNOWN]
    assert not problems, "\n".join(problems)
    gone = [edge for edge in KNOWN if (edge.count(" -> ") > 1) == cycles and edge not in found]
    assert not gone, f"no longer happens, remove it from KNOWN: {gone}"


def test_no_import_cycle() -> None:
    modules = graph(run_only=True)
    edges = {m: set(t) & set(modules) for m, t in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    found = {" -> ".join(c): "an import cycle" for c in cycles}
    _check(found, cycles=True)


def test_a_file_outside_the_layout_has_its_hint_as_a_hint(tmp_path: Path) -> None:
    """layout.py passed the hint as the diagnostic's ``path`` (issue 22): --format json showed it as a JSON path."""
    import json
    import shutil
    import subprocess
    import sys

    shutil.copy(PACKAGE.parent / "policies" / "order-actions.yaml", tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yaml").write_text("kind: Nope\nx: 1\n")
    run = subprocess.run([sys.executable, "-m", "policyengine", "validate", str(tmp_path), "--format", "json"],
                         capture_output=True, text=True, check=False)
    out = json.loads(run.stdout[:run.stdout.rindex("}") + 1])
    assert run.returncode == 3
    assert out["diagnostics"] == [{
        "file": str(tmp_path / "other" / "x.yaml"), "line": 1, "column": 1, "path": "$",
        "message": "a file outside the policy layout",
        "hint": "policy versions go at the top of the policy directory, store overrides under stores/, test suites "
                "under tests/, invariants under invariants/"}]
