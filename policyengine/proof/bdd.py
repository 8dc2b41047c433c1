"""Decision diagrams for the conditions whose meaning is plain boolean structure, so a lock over many facts is
proved without trying every combination.

A condition is *symbolic* when it is built with ``and``, ``or``, ``not``, ``? :`` and named conditions from leaves
of one kind only: a bool fact, or ``==``/``!=``/``in`` between an enum or bool fact and string or boolean literals
(every backend reads these nodes of the IR, :mod:`policyengine.ir`, as plain equality and membership). Its meaning
is then a reduced, ordered multi-valued decision diagram (:class:`Diagrams`) over the facts, one level per fact in
name order, one child per value. Such a condition can never fail to evaluate, so it is two-valued, like the
Python it compiles to. Anything else (numbers, regexes, action references, ...) is not symbolic, and
:mod:`.implication` enumerates it instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..ir.nodes import And, Compare, ConditionRef, Const, Contains, Fact, If, Members, Node, Not, Or
from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec

__all__ = ["FALSE", "TRUE", "Diagrams", "Symbolic"]

FALSE, TRUE = 0, 1


class Diagrams:
    """Hash-consed decision diagrams over ``facts`` (a fact's level is its place in name order). Node ids are
    ints: 0 and 1 are the constants; every other node is ``(level, children)``, one child per domain value.
    ``spend`` is called once per node or operation built, so a diagram that grows too large runs out of budget."""

    def __init__(self, facts: Sequence[FactSpec], spend: Callable[[int], None]) -> None:
        self.facts = sorted(facts, key=lambda f: f.name)
        self.level = {f.name: i for i, f in enumerate(self.facts)}
        self.spend = spend
        self._nodes: list[tuple[int, tuple[int, ...]]] = [(len(self.facts), ()), (len(self.facts), ())]
        self._unique: dict[tuple[int, tuple[int, ...]], int] = {}
        self._ops: dict[tuple[str, int, int], int] = {}

    def node(self, level: int, children: tuple[int, ...]) -> int:
        if all(c == children[0] for c in children):
            return children[0]
        key = (level, children)
        found = self._unique.get(key)
        if found is None:
            self.spend(1)
            found = self._unique[key] = len(self._nodes)
            self._nodes.append(key)
        return found

    def fact(self, name: str, accept: Callable[[Any], bool]) -> int:
        """The condition "fact ``name``'s value passes ``accept``"."""
        level = self.level[name]
        return self.node(level, tuple(TRUE if accept(v) else FALSE for v in self.facts[level].domain))

    def negate(self, u: int) -> int:
        return self.apply("xor", u, TRUE)

    def apply(self, op: str, u: int, v: int) -> int:
        """``u op v`` for op in and, or, xor."""
        if u <= TRUE and v <= TRUE:
            a, b = u == TRUE, v == TRUE
            return TRUE if (a and b if op == "and" else a or b if op == "or" else a != b) else FALSE
        key = (op, u, v)
        found = self._ops.get(key)
        if found is not None:
            return found
        self.spend(1)
        (lu, cu), (lv, cv) = self._nodes[u], self._nodes[v]
        level = min(lu, lv)
        width = len(self.facts[level].domain)
        left = cu if lu == level else (u,) * width
        right = cv if lv == level else (v,) * width
        found = self._ops[key] = self.node(level, tuple(self.apply(op, a, b) for a, b in zip(left, right, strict=True)))
        return found

    def first(self, u: int, names: Sequence[str]) -> dict[str, Any] | None:
        """The first assignment of ``names`` (every fact ``u`` reads among them) where ``u`` holds, in the order of
        :func:`itertools.product` over the facts in name order with their values in declaration order; None if
        there is none."""
        if u == FALSE:
            return None
        out: dict[str, Any] = {}
        for name in sorted(names):
            fact = self.facts[self.level[name]]
            level, children = self._nodes[u]
            if level != self.level[name]:
                out[name] = fact.domain[0]
                continue
            index = next(i for i, c in enumerate(children) if c != FALSE)
            out[name], u = fact.domain[index], children[index]
        return out


class Symbolic:
    """The diagrams of one policy's symbolic conditions (None for a condition that is not symbolic), read from
    their IR (:attr:`~policyengine.pipeline.compiler.CompiledExpr.ir`). A node this does not model is not
    symbolic: the caller enumerates it instead, never an approximation of it."""

    def __init__(self, policy: CompiledPolicy, diagrams: Diagrams) -> None:
        self.policy, self.d = policy, diagrams
        self.facts: Mapping[str, FactSpec] = {f.name: f for f in policy.facts}
        self._named: dict[str, int | None] = {}
        self._nodes: dict[Node, int | None] = {}  # IR nodes compare by structure: a shared part is built once

    def expr(self, expr: CompiledExpr) -> int | None:
        return None if expr.actions else self._node(expr.ir)

    def enabled(self, action_id: str) -> int | None:
        """An action is enabled: shown, allowed and no guard fires (its effects' conditions cannot fail here)."""
        action = next(a for a in self.policy.actions if a.id == action_id)
        shown, allowed = self.expr(action.visible), self.expr(action.allow)
        guards = [self.expr(g.when) for g in action.guards]
        effects = [self.expr(e.when) for e in action.effects if e.when is not None]
        if shown is None or allowed is None or None in guards or None in effects:
            return None
        out = self.d.apply("and", shown, allowed)
        for guard in guards:
            out = self.d.apply("and", out, self.d.negate(guard))  # type: ignore[arg-type]  # None ruled out above
        return out

    def _named_condition(self, name: str) -> int | None:
        if name not in self._named:
            self._named[name] = None  # a cycle cannot happen (the compiler refuses them); this only guards recursion
            self._named[name] = self.expr(self.policy.conditions[name])
        return self._named[name]

    def _node(self, node: Node) -> int | None:
        if node not in self._nodes:
            self._nodes[node] = self._build(node)
        return self._nodes[node]

    def _build(self, node: Node) -> int | None:  # noqa: PLR0911 - one branch per construct modelled
        d = self.d
        if isinstance(node, Const):
            return (TRUE if node.value else FALSE) if node.type == "bool" else None
        if isinstance(node, (And, Or)):
            parts = [self._node(operand) for operand in node.operands]
            if None in parts:
                return None
            op = "and" if isinstance(node, And) else "or"
            return functools.reduce(lambda u, v: d.apply(op, u, v), parts)  # type: ignore[arg-type]  # None ruled out above
        if isinstance(node, Not):
            inner = self._node(node.operand)
            return None if inner is None else d.negate(inner)
        if isinstance(node, If) and node.type == "bool":
            c, t, e = (self._node(n) for n in (node.test, node.then, node.otherwise))
            if c is None or t is None or e is None:
                return None
            return d.apply("or", d.apply("and", c, t), d.apply("and", d.negate(c), e))
        if isinstance(node, ConditionRef):
            return self._named_condition(node.name)
        if isinstance(node, Fact):
            return d.fact(node.name, lambda v: v is True) if node.declared == "bool" else None
        if isinstance(node, Compare) and node.op in ("==", "!="):
            return self._compare(node.left, node.right, node.op == "!=")
        if isinstance(node, Contains):
            return self._contains(node.member, node.container)
        return None  # numbers, strings, regexes, sets, lengths, action references: enumerated instead

    def _compare(self, left: Node, right: Node, negated: bool) -> int | None:
        fact, literal = self._fact(left), _literal(right)
        if fact is None:
            fact, literal = self._fact(right), _literal(left)
        if fact is None or literal is None:
            return None
        same = self.d.fact(fact.name, lambda v: _same(v, literal[0]))
        return self.d.negate(same) if negated else same

    def _contains(self, member: Node, container: Node) -> int | None:
        fact = self._fact(member)
        if fact is None or not isinstance(container, Members) or \
                not all(isinstance(v, (str, bool)) for v in container.values):
            return None
        values = container.values
        return self.d.fact(fact.name, lambda v: any(_same(v, x) for x in values))

    def _fact(self, node: Node) -> FactSpec | None:
        """The declared finite fact ``node`` reads (``order.status``), or None."""
        if not isinstance(node, Fact):
            return None
        fact = self.facts.get(node.name)
        return fact if fact is not None and fact.finite else None


def _same(value: Any, literal: Any) -> bool:
    """Equality as both evaluators have it for strings and booleans: no ``True == 1`` across types."""
    return type(value) is type(literal) and value == literal


def _literal(node: Node) -> tuple[Any] | None:
    """A string or boolean literal's value, or None (a number never equals a finite fact's value)."""
    return (node.value,) if isinstance(node, Const) and node.type in ("string", "bool") else None
