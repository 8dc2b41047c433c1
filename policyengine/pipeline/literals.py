"""Every undeclared enum literal of one condition, so that an author fixes them all in one pass.

The translator stops at the first problem it meets; when that problem is an undeclared enum value, the compiler asks
this module for all of them (``order.status in ['Shiped', 'Cancled']`` gets two diagnostics). In a store override
the hint also says what to do about a value the base does not declare: an override cannot add values to a base
fact, so the value must be declared in the base policy (or the condition must use one that is).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from rule_engine import ast

from .model import FactSpec

__all__ = ["BadLiteral", "bad_literals", "literal_hint"]


@attrs.frozen(slots=True)
class BadLiteral:
    fact: FactSpec
    value: str

    @property
    def message(self) -> str:
        return f"{self.fact.name} is never {self.value!r}; its declared values are: {', '.join(self.fact.values)}"


def _dotted(node: Any) -> str | None:
    names: list[str] = []
    while isinstance(node, ast.GetAttributeExpression):
        names.append(node.name)
        node = node.object
    if isinstance(node, ast.SymbolExpression):
        return ".".join([node.name, *names[::-1]])
    return None


def _children(node: Any) -> Iterator[Any]:
    for name in ("left", "right", "member", "container", "expression", "condition", "case_true", "case_false",
                 "object"):
        child = getattr(node, name, None)
        if isinstance(child, ast.ExpressionBase):
            yield child
    value = getattr(node, "value", None)
    if isinstance(value, (tuple, list)):
        yield from (item for item in value if isinstance(item, ast.ExpressionBase))


def _pairs(node: Any) -> Iterator[tuple[Any, Any]]:
    """(fact side, literal side) of each comparison and ``in`` list under ``node``, in reading order."""
    stack = [node]
    while stack:
        current = stack.pop()
        # `==`/`!=` only: a regex (`=~`) or an ordering compares no declared value
        if type(current) is ast.ComparisonExpression:
            yield current.left, current.right
            yield current.right, current.left
        elif isinstance(current, ast.ContainsExpression) and isinstance(current.container,
                                                                        (ast.ArrayExpression, ast.SetExpression)):
            for item in current.container.value:
                yield current.member, item
        stack.extend(reversed(list(_children(current))))


def bad_literals(statement: Any, facts: Mapping[str, FactSpec]) -> list[BadLiteral]:
    """Every string literal compared with (or listed for ``in``) an enum fact that does not declare it, in order."""
    found: list[BadLiteral] = []
    for fact_node, literal in _pairs(statement):
        name = _dotted(fact_node)
        spec = facts.get(name) if name is not None else None
        if spec is None or spec.type != "enum" or not isinstance(literal, ast.StringExpression):
            continue
        bad = BadLiteral(spec, literal.value)
        if literal.value not in spec.values and bad not in found:
            found.append(bad)
    return found


def literal_hint(bad: BadLiteral, in_override: bool) -> str | None:
    """Did you mean a close declared value; else, in a store override, that the base policy must declare it."""
    close = difflib.get_close_matches(bad.value, bad.fact.values, n=1, cutoff=0.6)
    mean = f"did you mean {close[0]!r}?" if close else None
    if mean is not None or not in_override:  # a close declared value: a typo, most likely
        return mean
    return (f"a store override cannot add values to {bad.fact.name}: to use {bad.value!r}, declare it in the base "
            f"policy's values of {bad.fact.name}")
