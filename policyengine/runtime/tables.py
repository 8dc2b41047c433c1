"""Part of stage 3, compile: what the evaluators of one engine share, and the specialisation tables built from it.

An engine with thousands of store overrides builds one evaluator per store policy. Most of a store's policy is its
base's own compiled objects (:func:`~policyengine.pipeline.compiler.compile_policy` shares them), so most of its
evaluator can be too. A :class:`BuildCache`, one per engine (never global), remembers by those objects' identity:

* **generated code**: the compiled module of every distinct generated source (a store that renames an action runs
  the base's very code object, bound to its own decisions);
* **action decisions**: each compiled action's :class:`~.interpret.ActionShape` and its decision table (``T_<id>``)
  or memo, so an untouched action decides with the base's very ``Decision`` objects;
* **table columns**: for a tabled policy, each action's decision in every combination of the facts read (one
  *column*), keyed by the identity of everything the action depends on. A store computes only the columns of what
  it changed (and of what reads that), then assembles its rows: its whole work is proportional to its own lines.

Rows are kept as one tuple per policy in the product order of the facts' domains (the order the optional C batch
loop reads), and one shared dict maps a combination to its row number: a store's table costs one pointer per
combination, not one dict.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any

import attrs

from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .decision import Decision, Decisions, DecisionsMeta
from .interpret import ActionShape

__all__ = ["BuildCache", "Column", "KeyIndex", "Rows", "table_rows", "unique_decisions"]


@attrs.frozen(slots=True)
class KeyIndex:
    """The combinations of a tabled policy's facts, in product order: row number by combination (for ``evaluate``),
    the combinations themselves (to compute columns) and each fact's value -> position (for the C loop)."""

    index: dict[tuple[Any, ...], int]
    rows: tuple[tuple[Any, ...], ...]
    positions: tuple[dict[Any, int], ...]

    @classmethod
    def of(cls, domains: Sequence[Sequence[Any]]) -> KeyIndex:
        rows = tuple(itertools.product(*domains))
        return cls({row: at for at, row in enumerate(rows)}, rows,
                   tuple({value: at for at, value in enumerate(domain)} for domain in domains))


@attrs.define(slots=True)
class BuildCache:
    """What the evaluators of one engine share (see the module's docstring). Per engine: its memory goes with it.
    Entries keyed by ``id`` keep the objects they were computed from (``anchors``), so an id is never reused while
    its entry lives, and a hit is checked by identity."""

    code: dict[Any, tuple[Any, str, CodeType]] = attrs.field(factory=dict)
    """Structural key of a policy's evaluator -> (its generator, source, compiled module)."""
    actions: dict[int, tuple[CompiledAction, ActionShape, dict[str, Any]]] = attrs.field(factory=dict)
    """id of a compiled action -> (it, its shape, its namespace entries ``T_``/``M_``/``B_``/``H_``)."""
    keys: dict[tuple[Any, ...], KeyIndex] = attrs.field(factory=dict)
    columns: dict[tuple[int, ...], tuple[tuple[Any, ...], Column]] = attrs.field(factory=dict)
    """Fingerprint (ids) -> (the objects fingerprinted, the column of decisions)."""
    remember_columns: bool = True
    """Whether new columns are kept. An engine keeps its base versions' columns only: a column computed for a store
    depends on something of that store alone (else it would be the base's), so no other store could reuse it."""

    facts: dict[tuple[int, int], tuple[Any, Any, Any, frozenset[Any]]] = attrs.field(factory=dict)
    """(id of a fact, id of an adapter) -> (the fact, the adapter, its getter, its declared values)."""
    builtins: dict[str, Any] | None = None
    """The one ``__builtins__`` of every generated namespace of the engine (read only by generated code)."""

    def fact(self, fact: Any, adapter: Any) -> tuple[Any, frozenset[Any]]:
        """``fact``'s getter through ``adapter`` and its declared values, once per fact (stores share the base's)."""
        known = self.facts.get((id(fact), id(adapter)))
        if known is not None and known[0] is fact and known[1] is adapter:
            return known[2], known[3]
        getter, values = adapter.getter(fact), frozenset(fact.values)
        self.facts[(id(fact), id(adapter))] = (fact, adapter, getter, values)
        return getter, values

    def action(self, action: CompiledAction, build: Callable[[ActionShape], dict[str, Any]]) -> tuple[
            ActionShape, dict[str, Any]]:
        """``action``'s shape and namespace entries, built once per compiled action."""
        known = self.actions.get(id(action))
        if known is not None and known[0] is action:
            return known[1], known[2]
        shape = ActionShape.of(action)
        entries = build(shape)
        self.actions[id(action)] = (action, shape, entries)
        return shape, entries

    def key_index(self, domains: Sequence[Sequence[Any]]) -> KeyIndex:
        signature = tuple(map(tuple, domains))
        known = self.keys.get(signature)
        if known is None:
            known = self.keys[signature] = KeyIndex.of(signature)
        return known


def dependencies(policy: CompiledPolicy, action_id: str) -> list[tuple[str, str]]:
    """The nodes (conditions and actions) ``action_id``'s decision depends on, itself included, in the policy's
    dependency order."""
    actions = {a.id: a for a in policy.actions}
    seen: set[tuple[str, str]] = set()
    todo = [("action", action_id)]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        kind, name = node
        exprs: list[CompiledExpr] = [policy.conditions[name]] if kind == "condition" else list(actions[name].exprs())
        for expr in exprs:
            todo += [("condition", c) for c in expr.conditions] + [("action", a) for a in expr.actions]
    return [node for node in policy.order if node in seen]


@attrs.frozen(slots=True)
class Column:
    """One action's decision in every combination, as small codes into ``distinct`` (-1 where a condition raises):
    equal decisions are one object (see unique_decisions), so codes tell rows apart as well as decisions would."""

    codes: Sequence[int]
    """One small int per combination (an ``array``: a few bytes each, not a pointer and an int object)."""
    distinct: tuple[Any, ...]

    @classmethod
    def of(cls, decisions: Sequence[Any]) -> Column:
        numbers: dict[int, int] = {}
        distinct: list[Any] = []
        codes = []
        for decision in decisions:
            if decision is None:
                codes.append(-1)
                continue
            code = numbers.get(id(decision))
            if code is None:
                code = numbers[id(decision)] = len(distinct)
                distinct.append(decision)
            codes.append(code)
        return cls(array.array("i", codes), tuple(distinct))


class Rows:
    """A tabled policy's rows, built on first use: ``table[at]`` is the Decisions of combination ``at`` once some
    input has asked for it (None before, and always for a combination whose conditions raise). A store's rows are
    mostly never asked for: building them all at load was most of a store's memory. Identical rows are one object
    (remembered by their codes). A racing thread at worst builds an equal row twice; one is kept."""

    __slots__ = ("table", "_columns", "_meta", "_shared", "size")

    def __init__(self, columns: Sequence[Column], meta: DecisionsMeta, count: int) -> None:
        self.table: list[Any] = [None] * count
        self._columns = tuple(columns)
        self._meta = meta
        self._shared: dict[tuple[int, ...], Any] = {}
        raising: set[int] = set()
        for column in columns:
            if -1 in column.codes:  # rare: a condition that raises for some combination
                raising.update(at for at, code in enumerate(column.codes) if code == -1)
        self.size = count - len(raising)
        """Combinations whose conditions do not raise: those with a row."""

    def build(self, at: int) -> Any:
        """Combination ``at``'s Decisions, built now (None when a condition raises there)."""
        columns = self._columns
        codes = tuple([c.codes[at] for c in columns])
        if -1 in codes:
            return None
        decisions = self._shared.get(codes)
        if decisions is None:
            decisions = Decisions(tuple([c.distinct[k] for c, k in zip(columns, codes, strict=True)]), self._meta)
            decisions = self._shared.setdefault(codes, decisions)
        self.table[at] = decisions
        return decisions

    def complete(self) -> tuple[Any, ...]:
        """Every row, built (for the C batch loop, which reads them all as one tuple)."""
        table = self.table
        for at, row in enumerate(table):
            if row is None:
                self.build(at)
        return tuple(table)


def table_rows(policy: CompiledPolicy, keys: KeyIndex, cache: BuildCache, meta: DecisionsMeta,
               column_source: Callable[[list[tuple[str, str]], str], str],
               compile_code: Callable[[str], CodeType], namespace: Mapping[str, Any]) -> Rows:
    """Every combination's Decisions, in ``keys``' order, as :class:`Rows` built on first use. Columns come from
    ``cache`` where everything an action depends on is shared; the others are computed by their own generated
    function (``column_source(nodes, action_id)``), over every combination."""
    actions = {a.id: a for a in policy.actions}
    columns: list[Column] = []
    for action in policy.actions:
        nodes = dependencies(policy, action.id)
        anchors = (keys, *(actions[name] if kind == "action" else policy.conditions[name] for kind, name in nodes))
        fingerprint = tuple(map(id, anchors))
        known = cache.columns.get(fingerprint)
        if known is not None and all(a is b for a, b in zip(known[0], anchors, strict=True)):
            columns.append(known[1])
            continue
        scope = dict(namespace)
        exec(compile_code(column_source(nodes, action.id)), scope)  # noqa: S102 - generated from the policy only
        decide = scope["column"]
        decisions = []
        for values in keys.rows:
            try:
                decisions.append(decide(*values))
            except Exception:  # noqa: BLE001 - a condition that raises here (1 / 0) is left to the fail-closed path
                decisions.append(None)
        column = Column.of(decisions)
        if cache.remember_columns:
            cache.columns[fingerprint] = (anchors, column)
        columns.append(column)
    return Rows(columns, meta, len(keys.rows))


def unique_decisions(decisions: Sequence[Decision]) -> tuple[Decision, ...]:
    """``decisions`` with equal ones made one object (so rows of equal decisions are told apart by identity)."""
    shared: dict[Decision, Decision] = {}
    return tuple(shared.setdefault(d, d) for d in decisions)
