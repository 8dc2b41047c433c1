"""The one three-valued evaluator: ``and``, ``or``, ``not`` and a boolean ``?:`` in Kleene's logic.

An operand that is unknown (it reads a bad fact, or its computation failed) is ignored when another operand decides:
``false and <unknown>`` is false, ``true or <unknown>`` true, whatever the operands' order. Every other node (a
comparison, arithmetic, ``in``, ``=~``, a reference) is an *atom*, valued by the caller: the interpreter runs its
Python (:mod:`.python`), a plan substitutes what is known. Evaluated operand by operand in any order this gives the
same value whenever no operand fails, so the generated fast path (plain Python ``and``/``or``) returns exactly this
whenever it does not raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import FactProblem
from .nodes import And, Const, If, Node, Not, Or

__all__ = ["Unknown", "evaluate", "is_connective", "problems_of"]


class Unknown:
    """The value of a condition that could not be evaluated, with the problems that prevented it."""

    __slots__ = ("problems",)

    def __init__(self, problems: tuple[FactProblem, ...]) -> None:
        self.problems = problems

    def __repr__(self) -> str:
        return f"Unknown({'; '.join(map(str, self.problems))})"


def problems_of(*values: Any) -> tuple[FactProblem, ...]:
    """The problems of every unknown among ``values``, each once, in order."""
    return tuple(dict.fromkeys(p for v in values if v.__class__ is Unknown for p in v.problems))


def is_connective(node: Node) -> bool:
    """Whether ``node`` is part of the three-valued skeleton (else it is an atom)."""
    return isinstance(node, (And, Or, Not)) or (isinstance(node, If) and node.type == "bool") or (
        isinstance(node, Const) and node.type == "bool")


Atom = Callable[[Node], Any]
"""An atom's value: True, False or :class:`Unknown`."""


def evaluate(node: Node, atom: Atom) -> Any:
    """``node``'s three-valued value (True, False or :class:`Unknown`), its atoms valued by ``atom``."""
    if isinstance(node, (And, Or)):
        decides = isinstance(node, Or)
        unknown = []
        for operand in node.operands:
            value = evaluate(operand, atom)
            if value.__class__ is Unknown:
                unknown.append(value)
            elif value is decides:
                return decides
        return Unknown(problems_of(*unknown)) if unknown else not decides
    if isinstance(node, Not):
        value = evaluate(node.operand, atom)
        return value if value.__class__ is Unknown else not value
    if isinstance(node, If) and node.type == "bool":
        test = evaluate(node.test, atom)
        if test.__class__ is Unknown:
            return test
        return evaluate(node.then if test else node.otherwise, atom)
    if isinstance(node, Const) and node.type == "bool":
        return node.value
    value = atom(node)
    return value if value.__class__ is Unknown else bool(value)
