"""One meaning (issue 22): the package's source is read for the copies the IR replaced. rule-engine's tree is read
by one module; no backend parses translated source back or builds functions from it but ``ir/python.py``; the
three-valued connectives are evaluated in ``ir/kleene.py``; the store fact is named once. These are structural
rules: the conformance corpus checks that the backends agree, this checks that they read one definition."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "policyengine"


def _modules() -> dict[str, ast.Module]:
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py")) if not path.name.startswith("_rule_engine")}


MODULES = _modules()


def _imports(tree: ast.Module) -> set[str]:
    """Every module name ``tree`` imports, and ``module.name`` for each ``from module import name``."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _calls(tree: ast.Module, name: str) -> list[int]:
    """Lines calling the builtin or attribute ``name``."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == name)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == name and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "ast"))]


def test_rule_engines_tree_is_read_by_lowering_alone() -> None:
    readers = sorted(path for path, tree in MODULES.items() if "rule_engine.ast" in _imports(tree))
    assert readers == ["ir/lower.py"]


def test_no_backend_parses_translated_source_back() -> None:
    parsing = sorted(path for path, tree in MODULES.items() if _calls(tree, "parse") and "ast" in _imports(tree)
                     and path not in ("studio/session.py",))  # the studio parses a typed-in literal, not a condition
    assert parsing == []


def test_functions_are_built_from_emitted_source_in_one_place() -> None:
    building = sorted(path for path, tree in MODULES.items() if _calls(tree, "eval"))
    assert building == ["ir/python.py"]


def test_three_valued_connectives_are_evaluated_in_one_module() -> None:
    """Only ir/kleene.py defines the evaluator of and/or/not over unknowns; the others import it."""
    defining = sorted(path for path, tree in MODULES.items() for node in ast.walk(tree)
                      if isinstance(node, ast.ClassDef) and node.name == "Unknown")
    assert defining == ["ir/kleene.py"]
    for user in ("runtime/interpret.py", "runtime/plan.py", "proof/smt.py"):  # relative imports: `..ir` + kleene
        assert any(name.endswith("ir.kleene") for name in _imports(MODULES[user])), user


def test_the_store_fact_is_named_once() -> None:
    defining = sorted(path for path, tree in MODULES.items() for node in ast.walk(tree)
                      if isinstance(node, (ast.Assign, ast.AnnAssign))
                      and any(isinstance(t, ast.Name) and t.id == "STORE_FACT"
                              for t in (node.targets if isinstance(node, ast.Assign) else [node.target])))
    assert defining == ["pipeline/model.py"]
