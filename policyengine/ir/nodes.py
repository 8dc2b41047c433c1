"""The condition IR: one typed node per construct of the policy language.

A condition is lowered once (:mod:`.lower`) into these nodes; every backend (the generated Python, the interpreter,
query plans and SQL, the SMT encoding, the decision diagrams) reads them and nothing else. Nodes are frozen and
compare by structure, so a shared sub-expression is one value however often it occurs.

Types are the policy language's: ``bool``, ``number``, ``string`` and ``set`` (of strings). A fact also keeps the
type it was declared with (``enum`` is a string whose values are declared).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal, TypeAlias

import attrs

__all__ = ["ACTION_STATES", "COMPARISONS", "ActionRef", "And", "Arith", "Compare", "ConditionRef", "Const",
           "Contains", "Fact", "If", "Length", "Match", "Members", "Neg", "Node", "Not", "Or", "Type"]

Type: TypeAlias = Literal["bool", "number", "string", "set"]

ACTION_STATES = ("visible", "hidden", "enabled", "disabled")
"""What a condition may ask of another action: ``actions.delete.enabled``."""

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

_DECLARED_TYPE: dict[str, Type] = {"bool": "bool", "enum": "string", "string": "string", "number": "number",
                                   "set": "set"}


def _exact(value: Any) -> tuple[str, str]:
    """What makes two literal values the same node: their type and exact spelling (``1`` and ``1.0`` are equal
    numbers but distinct literals, and ``True`` is not ``1``)."""
    return type(value).__name__, str(value)


def _exact_all(values: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(map(_exact, values))


@attrs.frozen(cache_hash=True)
class Fact:
    """The value of a declared fact: ``order.status``. ``index`` is its position among the policy's facts."""

    name: str
    index: int
    declared: str
    """The declared type: bool, enum, string, number or set."""

    @property
    def type(self) -> Type:
        return _DECLARED_TYPE[self.declared]


@attrs.frozen(cache_hash=True)
class Length:
    """``<fact>.length``: the number of characters of a string or members of a set (an int)."""

    operand: Node

    type: ClassVar[Type] = "number"


@attrs.frozen(cache_hash=True)
class ConditionRef:
    """A named condition's value."""

    name: str

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class ActionRef:
    """``actions.<action>.<state>``: whether another action is in a state (see :data:`ACTION_STATES`)."""

    action: str
    state: str

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class Const:
    """A literal: a bool, a string, or a number (an exact :class:`~decimal.Decimal`)."""

    value: bool | str | Decimal = attrs.field(eq=_exact)

    @property
    def type(self) -> Type:
        if isinstance(self.value, bool):
            return "bool"
        return "string" if isinstance(self.value, str) else "number"


@attrs.frozen(cache_hash=True)
class Members:
    """A list literal (``['A', 'B']``, ``[1, 2.5]``): its members in the order written, all of one type."""

    values: tuple[bool | str | Decimal, ...] = attrs.field(eq=_exact_all)
    member_type: Type

    type: ClassVar[Type] = "set"


@attrs.frozen(cache_hash=True)
class Compare:
    """``left <op> right`` over two operands of one type; ``<``, ``<=``, ``>``, ``>=`` only for numbers and strings."""

    op: str
    left: Node
    right: Node

    type: ClassVar[Type] = "bool"

    @property
    def operand_type(self) -> Type:
        return self.left.type


@attrs.frozen(cache_hash=True)
class Arith:
    """Exact decimal arithmetic under :data:`~policyengine.ir.numbers.CONTEXT`; ``op`` is rule-engine's name
    (add, sub, mul, tdiv, fdiv, mod, pow)."""

    op: str
    left: Node
    right: Node

    type: ClassVar[Type] = "number"


@attrs.frozen(cache_hash=True)
class Neg:
    """``-operand``, rounded as rule-engine rounds it (to 28 digits)."""

    operand: Node

    type: ClassVar[Type] = "number"


@attrs.frozen(cache_hash=True)
class Contains:
    """``member in container``: a list literal (:class:`Members`), a set-valued fact, or a string (a substring)."""

    member: Node
    container: Node

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class Match:
    """``operand =~ pattern`` (``=~~`` searches); ``negated`` for ``!~`` and ``!~~``. Past
    :data:`~policyengine.ir.regexes.MAX_MATCHED_LENGTH` characters the match is not tried: unknown."""

    operand: Node
    pattern: str
    search: bool
    negated: bool

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class And:
    """Kleene's ``and`` of two or more operands: false if any is, else unknown if any is, else true."""

    operands: tuple[Node, ...]

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class Or:
    """Kleene's ``or`` of two or more operands: true if any is, else unknown if any is, else false."""

    operands: tuple[Node, ...]

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class Not:
    """Kleene's ``not``: unknown stays unknown."""

    operand: Node

    type: ClassVar[Type] = "bool"


@attrs.frozen(cache_hash=True)
class If:
    """``test ? then : otherwise``: unknown when the test is; else the branch taken (only that one is read)."""

    test: Node
    then: Node
    otherwise: Node

    @property
    def type(self) -> Type:
        return self.then.type


Node: TypeAlias = (Fact | Length | ConditionRef | ActionRef | Const | Members | Compare | Arith | Neg | Contains | Match
                  | And | Or | Not | If)
"""Any condition or operand."""
