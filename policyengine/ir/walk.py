"""Generic traversals of the IR: a node's children, every node once, and what a condition reads."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .nodes import ActionRef, And, Arith, Compare, ConditionRef, Contains, Fact, If, Length, Match, Neg, Node, Not, Or

__all__ = ["Reads", "children", "nodes", "reads", "size"]


def children(node: Node) -> tuple[Node, ...]:
    """The operands of ``node``, in the order written."""
    if isinstance(node, (And, Or)):
        return node.operands
    if isinstance(node, (Compare, Arith)):
        return node.left, node.right
    if isinstance(node, Contains):
        return node.member, node.container
    if isinstance(node, If):
        return node.test, node.then, node.otherwise
    if isinstance(node, (Not, Neg, Length, Match)):
        return (node.operand,)
    return ()


def nodes(root: Node) -> Iterator[Node]:
    """Every distinct node under ``root`` (itself included) once, children before parents; iterative, so a deep
    condition never meets Python's recursion limit."""
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            yield node
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children(node)) if child not in seen)


def size(root: Node) -> int:
    """How many distinct nodes ``root`` has: what every backend's work on it is linear in."""
    return sum(1 for _ in nodes(root))


@attrs.frozen
class Reads:
    """What one condition reads directly: facts, named conditions and other actions' states."""

    facts: frozenset[str]
    conditions: frozenset[str]
    action_states: frozenset[tuple[str, str]]

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(action for action, _ in self.action_states)


def reads(root: Node) -> Reads:
    facts: set[str] = set()
    conditions: set[str] = set()
    states: set[tuple[str, str]] = set()
    for node in nodes(root):
        if isinstance(node, Fact):
            facts.add(node.name)
        elif isinstance(node, ConditionRef):
            conditions.add(node.name)
        elif isinstance(node, ActionRef):
            states.add((node.action, node.state))
    return Reads(frozenset(facts), frozenset(conditions), frozenset(states))
