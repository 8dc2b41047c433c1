"""Part of stage 3, compile: generate the plain-Python evaluators of a compiled policy.

From one compiled policy and one adapter, built once per engine:

* **the table** (specialisation): when every fact the policy reads is finite (enum or bool), none is expensive
  and the combinations are few enough (``table_limit``), the complete Decisions of every combination are computed
  here, once, and ``evaluate`` is a read of the facts plus one dict lookup. Identical Decisions are shared.
* **the fast path** otherwise: one generated function that reads the facts (inlined for the default adapter:
  ``order["status"]`` or ``order.status``), checks their types inline, computes each named condition once and packs
  every action's outcome into one int naming a shared Decisions in a bounded memo (past :data:`PACK_BITS`, it picks
  each action's Decision from a per-action table and assembles the result). Expensive facts are read lazily, and
  ``and``/``or`` operands that read them are moved after the cheap ones.
* **the fail-closed path**, taken only when a fact is bad or a condition raises: the :class:`~.interpret.Interpreter`
  evaluates each condition separately and never lets an unknown condition enable or show an action.

The generated ``evaluate`` is what :class:`~.engine.Engine` hands out as ``engine.evaluate`` when no store has to be
chosen, so its signature is the public one. ``evaluate_many`` is the same body in a loop, so a batch pays no
per-order call. All paths use the same Python translation of each condition and the same decision builder; the test
suite checks them against each other and against rule-engine.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs

from ..errors import FactError, FactProblem
from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from .adapters import Adapter, inline_path, read_failure
from .codestore import compile_source
from .decision import Decisions, DecisionsMeta
from .interpret import ActionShape, Interpreter, Unknown, namespace_for
from .tables import BuildCache, KeyIndex, Rows, table_rows, unique_decisions
from .values import EXACT, MISSING, SEQUENCES, check_value, exact_test

__all__ = ["BuildCache", "Evaluator", "TableLookup", "build_dispatch", "build_evaluator", "fast_reader", "finish",
           "same_shape", "small_key", "CLASS_MEMO_LIMIT", "MAX_TABLE_BITS", "MEMO_LIMIT", "PACK_BITS", "RAW", "SLOW_MEMO_CELLS",
           "SPLIT_LOCALS", "TABLE_LIMIT"]

MAX_TABLE_BITS = 6
"""Up to this many allow/guard/effect bits, an action's Decisions are all built at load time; past it they are built
on first use and remembered (up to :data:`MEMO_LIMIT` per action), so load time stays flat for big actions."""

MEMO_LIMIT = 4096
"""How many outcomes one memo remembers (per action, or per policy for packed outcomes); past it, new ones are
built on each use and not kept, so memory stays bounded whatever the inputs."""

PACK_BITS = 60
"""Up to this many bits of packed outcome key (see ``_Generator._fields``), the fast path names the whole outcome with
one int and shares one Decisions per outcome; past it (hundreds of actions) each result is assembled per call."""

SPLIT_LOCALS = 24
"""Past this many actions and named conditions (each a local of the generated ``evaluate``), a tabled policy's
plain-dict table hit gets a function of its own (see ``_Generator.source``)."""

TABLE_LIMIT = 4096
"""The default bound on whole-policy tables (fact combinations); past it the fast path computes conditions."""

SLOW_MEMO_CELLS = 32768
"""The fail-closed path remembers its results by their inputs (each bad fact's problem, each good fact's value), so a
batch of orders that all lack a fact costs about what good ones cost. It keeps at most this many decisions (a policy
of 8 actions: 4,096 results; of 2,000 actions: 16), and starts afresh when full, so memory stays bounded and the
memo follows whatever the bad inputs currently are."""

CLASS_MEMO_LIMIT = 1024
"""How many classes of order/user objects an evaluator remembers as Mapping-or-not; past it, it starts afresh (every
``unittest.mock.Mock`` is a class of its own: an unbounded memo grew without end)."""


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<not read yet>"


UNSET: Any = _Unset()


class _Raw:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RAW"


RAW: Any = _Raw()
"""Passed as ``strict``, makes the generated ``evaluate`` return the fail-closed path's ``(Decisions, problems)``
unfinished, for a caller that adds problems of its own (the store dispatch)."""


def finish(result: tuple[Decisions, tuple[FactProblem, ...]], strict: Any) -> Any:
    """The fail-closed path's ``(Decisions, problems)`` as ``evaluate`` returns it: the Decisions, or
    :class:`FactError` when ``strict``; unchanged when ``strict`` is :data:`RAW`."""
    if strict is RAW:
        return result
    decisions, problems = result
    if strict and problems:
        raise FactError(problems)
    return decisions


class _LazyBad(Exception):
    """An expensive fact read lazily turned out bad: carries its index, raw value and what is wrong."""

    def __init__(self, index: int, raw: Any, message: str) -> None:
        super().__init__(message)
        self.index, self.raw, self.message = index, raw, message


@attrs.frozen(slots=True)
class Evaluator:
    """The generated evaluators of one policy bound to one adapter.

    ``evaluate(order, user, strict=False, store=None)`` is :meth:`Engine.evaluate` itself for an engine without
    store overrides (``store`` then changes nothing); with ``strict=RAW`` the fail-closed path's result comes back as
    ``(Decisions, problems)``. ``evaluate_many(pairs)`` returns ``(results, indexes of results that are
    (Decisions, problems) pairs)``, and ``evaluate_orders(orders, user)`` the same for many orders of one user.
    """

    evaluate: Callable[..., Any]
    evaluate_many: Callable[..., tuple[list[Any], list[int]]]
    evaluate_orders: Callable[[Any, Any], tuple[list[Any], list[int]]]
    source: str = attrs.field(repr=False)
    """The generated Python source (for the curious and for debugging)."""
    table_size: int = 0
    """Fact combinations precomputed (0 when the policy is not specialised into one table)."""
    batch_in_c: bool = False
    """Whether ``evaluate_many`` runs the C loop of :mod:`policyengine.runtime._batch` (a tabled policy whose facts are all
    read by path, with the extension built)."""
    lookup: TableLookup | None = None
    """How a plain-dict input finds its row (a tabled policy whose facts are all read by path), for the engine's
    store dispatch: stores of one shape share the reads and the key index, and differ in their rows only."""
    store_loop: Callable[..., tuple[list[Any], list[int], list[Any]]] | None = None
    """With the C loop, ``store_loop(items, tables, fallback, store_path, user, store)``: the engine's batch over
    stores of this policy's shape (see ``lookup_stores`` in ``_batch.c``), reading the facts as this policy does."""
    store_table: Callable[[], Any] | None = None
    """With the C loop, this policy's entry in another policy's ``store_loop`` tables: ``(shape, rows)``, for a
    store that reads other facts than the base."""


@attrs.frozen(slots=True)
class TableLookup:
    """A tabled policy's shortcut for plain dicts: ``rows[keys.index[key]]`` after ``reads`` when ``exact`` holds."""

    roots: tuple[str, ...]
    """The roots read (``order``, ``user``): each must be a plain dict."""
    reads: tuple[str, ...]
    """Lines reading each table-key fact into ``f<i>`` (raise on anything unusual: the full path then decides)."""
    exact: str
    """The test that every fact read holds an exact value."""
    key: str
    """The key tuple's expression."""
    keys: KeyIndex
    rows: Sequence[Any] = attrs.field(repr=False, eq=False)
    """The rows (built on first use: None until asked for, see :class:`.tables.Rows`)."""


def _fast_check(fact: FactSpec, var: str, i: int) -> str:
    """A Python test that ``var`` is valid as-is (strict: anything unusual takes the complete slow check). The class
    tests are :func:`~.values.exact_test`'s: the one definition of what is taken as-is."""
    test = exact_test(fact.type, var)
    if fact.type == "enum":
        return f"({test} and {var} in V{i})"
    if fact.type == "number":  # x - x == 0.0 is false for NaN and the infinities; both tests are specialised
        return f"(type({var}) is int or (type({var}) is float and {var} - {var} == 0.0))"
    return test

_ROOTS = ("order", "user")

BatchArgs = tuple[tuple[Any, ...], tuple[tuple[Any, ...], ...], tuple[dict[Any, int], ...], tuple[type, ...]]
"""The C batch loop's arguments after the inputs: flat table, paths, domain positions, the exact class of each fact."""

try:  # the optional C batch loop (policyengine/runtime/_batch.c), built when a C compiler was present at install
    from . import _batch
except ImportError:  # pragma: no cover - depends on the machine that installed the package
    _batch = None  # type: ignore[assignment]


def _access(path: tuple[str, ...], style: str = "dict") -> str:
    """The Python read of a getter's path: ``order['store']['id']`` (dicts) or ``order.store.id`` (objects)."""
    root, *keys = path
    return root + "".join(f"[{k!r}]" if style == "dict" else f".{k}" for k in keys)


class _Rewriter:
    """Makes expensive facts lazy (read at first use, once) and evaluates cheap ``and``/``or`` operands first.

    Only the operands of a condition's boolean skeleton (its ``and``/``or``/``not``/``?:``, see
    :class:`~.interpret.Interpreter`) are reordered: there the three-valued semantics makes the order irrelevant. An
    ``and`` inside a comparison (``order.flag == (a and b)``) keeps its order, like the atom it belongs to."""

    def __init__(self, lazy: set[str], inline_conditions: Mapping[str, ast.expr]) -> None:
        self.lazy = lazy
        self.inline_conditions = inline_conditions

    def costly(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and (n.id in self.lazy or n.id in self.inline_conditions)
                   for n in ast.walk(node))

    def atom(self, node: ast.AST) -> ast.AST:
        """An atom reads every lazy fact it names before it is evaluated: a short-circuit inside it (``order.flag
        != (true or order.status == 'A')``) must not skip a bad fact that the eager path sees (issue 23)."""
        lazy = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in self.lazy})
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [self.rewrite(v, False) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self.rewrite(value, False))
        if not lazy or len(lazy) == 1 and not any(isinstance(n, (ast.BoolOp, ast.IfExp)) for n in ast.walk(node)):
            return node  # nothing inside can skip a read
        reads = ", ".join(f"({n} if {n} is not UNSET else ({n} := L{n[1:]}(order, user)))" for n in lazy)
        return ast.parse(f"({reads}, {ast.unparse(node)})[-1]", mode="eval").body

    def rewrite(self, node: ast.AST, skeleton: bool = True) -> ast.AST:
        if isinstance(node, ast.Name):
            if node.id in self.inline_conditions:  # a condition of its own: its own skeleton
                return self.rewrite(ast.parse(ast.unparse(self.inline_conditions[node.id]), mode="eval").body)
            if node.id in self.lazy:
                i = node.id[1:]
                return ast.parse(f"({node.id} if {node.id} is not UNSET else ({node.id} := L{i}(order, user)))",
                                 mode="eval").body
            return node
        if isinstance(node, ast.BoolOp) and skeleton:
            cheap = [v for v in node.values if not self.costly(v)]
            node.values = cheap + [v for v in node.values if self.costly(v)]  # stable: order kept within each
        inner = skeleton and (isinstance(node, (ast.BoolOp, ast.IfExp))
                              or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
        if skeleton and not inner:
            return self.atom(node)
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [self.rewrite(v, inner) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self.rewrite(value, inner))
        return node


class _Generator:
    def __init__(self, policy: CompiledPolicy, shapes: Mapping[str, ActionShape], getters: Mapping[int, Any],
                 expensive: set[int], table: bool, inline: bool = True) -> None:
        self.policy = policy
        self.shapes = shapes
        self.getters = getters
        self.expensive = expensive
        self.table = table
        self.eager = [i for i in policy.needed if i not in expensive]
        self.membership_only = _membership_only(policy)
        lazy_conditions = {name for name, expr in policy.conditions.items() if inline and self._reads_expensive(expr)}
        self.lazy_conditions = lazy_conditions
        """Named conditions reading expensive facts, inlined where they are used (so a short-circuit skips them)."""
        inlined = {name: ast.parse(policy.conditions[name].python, mode="eval").body for name in lazy_conditions}
        self.rewriter = _Rewriter({f"f{i}" for i in expensive}, {f"c_{n}": e for n, e in inlined.items()})
        paths = [inline_path(getters[i]) for i in policy.needed]
        self.paths: list[tuple[str, ...]] | None = None
        """Each table-key fact's path, when the policy is tabled and every fact is read by a path from the order or
        the user (so plain-dict inputs can be read directly, in the generated code or in C); else None."""
        if table and all(path is not None and path[0] in _ROOTS for path in paths):
            self.paths = [path for path in paths if path is not None]
        self.fields = self._fields()
        self.packed = not table and sum(width for _, _, width, _ in self.fields) <= PACK_BITS
        """Whether one int can name the whole outcome, so equal outcomes share one memoised Decisions."""

    def _reads_expensive(self, expr: CompiledExpr) -> bool:
        index = {f.name: i for i, f in enumerate(self.policy.facts)}
        seen: set[str] = set()
        todo = [expr]
        while todo:
            current = todo.pop()
            if any(index[f] in self.expensive for f in current.facts):
                return True
            for name in current.conditions - seen:
                seen.add(name)
                todo.append(self.policy.conditions[name])
        return False

    def code(self, expr: CompiledExpr) -> str:
        if not self.expensive:
            return expr.python
        return ast.unparse(self.rewriter.rewrite(ast.parse(expr.python, mode="eval").body))

    # -- reading facts -----------------------------------------------------------------------------------------
    def reads(self) -> list[str]:
        lines = [f"f{i} = UNSET" for i in sorted(self.expensive)]
        by_root: dict[str, list[int]] = {}
        plain = []
        for i in self.eager:
            path = inline_path(self.getters[i])
            if path is None:
                plain.append(i)
            else:
                by_root.setdefault(path[0], []).append(i)
        for root, indexes in by_root.items():
            lines.append(f"if type({root}) is dict:")
            for i in indexes:
                lines += ["    " + line for line in self.inline_read(i, "dict")]
            # Attribute reads only for plain objects: on a Mapping, `m.items` is a method, not the fact.
            lines.append(f"elif PLAIN.get(type({root})) or is_plain({root}):")
            for i in indexes:
                lines += ["    " + line for line in self.inline_read(i, "attr")]
            lines.append("else:")
            for i in indexes:
                lines += ["    " + line for line in self.getter_read(i)]
        for i in plain:
            lines += self.getter_read(i)
        return lines

    def getter_read(self, i: int) -> list[str]:
        if self.policy.facts[i].has_default:  # read() fills in the default for a missing fact
            return [f"f{i}, bad = read({i}, order, user, bad)"]
        return ["try:", f"    f{i} = G{i}(order, user)", "except Exception as exc:", f"    f{i} = MISSING",
                f"    bad = failed(bad, {i}, exc)"]

    def missing(self, i: int, pad: str) -> list[str]:
        """Generated lines for fact ``i`` found missing: its declared default (``D<i>``, already a valid value),
        or ``missing`` recorded as its problem."""
        if self.policy.facts[i].has_default:
            return [f"{pad}f{i} = D{i}"]
        return [f"{pad}f{i} = MISSING", *_mark(i, "missing", pad)]

    def inline_read(self, i: int, style: str) -> list[str]:
        if style == "dict" and self.paths is not None:
            return self.dict_read(i)
        access = _access(inline_path(self.getters[i]) or (), style)
        # A shape the inline read does not expect (a nested object in a dict, a Mapping that is not a dict)
        # goes through the adapter's own getter, which handles any mix. A key missing from the dicts read, or an
        # attribute missing from the plain object itself, is the fact missing: said here, without a second failing
        # read through the getter (bad data costs little). (Deeper attribute reads may meet a dict: the getter's.)
        path = inline_path(self.getters[i]) or ()
        lookup = "KeyError" if style == "dict" else "AttributeError" if len(path) == 2 else None
        missing = [] if lookup is None else [f"except {lookup}:", *self.missing(i, "    ")]
        return ["try:", f"    f{i} = {access}", *missing, "except Exception:",
                f"    f{i}, bad = read({i}, order, user, bad)"]

    def dict_read(self, i: int) -> list[str]:
        """A read of a plain dict that raises nothing for a missing key (``dict.get`` at each step): for tabled
        policies, whose plain-dict inputs reach these reads only when :meth:`all_dicts` failed (or the C loop
        missed). A good read is already done by then; a bad one raises no second exception here, which is most of
        what bad data would cost. A nested value that is not a plain dict goes through the adapter's getter."""
        root, *keys = inline_path(self.getters[i]) or ()
        var = f"f{i}"
        lines = [f"{var} = {root}.get({keys[0]!r}, MISSING)"]
        indent = ""
        for key in keys[1:]:
            lines += [f"{indent}if type({var}) is dict:", f"{indent}    {var} = {var}.get({key!r}, MISSING)"]
            indent += "    "
        lines += [f"{indent}if {var} is MISSING:", *self.missing(i, indent + "    ")]
        for depth in range(len(keys) - 1, 0, -1):  # each step whose value was not a dict: missing, or the getter's
            pad = "    " * (depth - 1)
            lines += [f"{pad}elif {var} is MISSING:", *self.missing(i, pad + "    "), f"{pad}else:",
                      f"{pad}    {var}, bad = read({i}, order, user, bad)"]
        # a key that collides with ours and raises from __eq__ (host code) is the getter's to report
        return ["try:", *("    " + line for line in lines), "except Exception:",
                f"    {var}, bad = read({i}, order, user, bad)"]

    # -- deciding ----------------------------------------------------------------------------------------------
    def _fields(self) -> list[tuple[ActionShape, int, int, bool]]:
        """Each action's slice of the packed outcome key: ``(shape, offset, width, always visible)``. The field
        holds the action's table key; an action that can be hidden has one more, lowest bit, set when visible (a
        hidden action's field is 0)."""
        out, offset = [], 0
        for action in self.policy.actions:
            shape = self.shapes[action.id]
            always = action.visible.python == "True"
            width = shape.bits + (0 if always else 1)
            out.append((shape, offset, width, always))
            offset += width
        return out

    def decide(self, packed: bool = False, only: list[tuple[str, str]] | None = None) -> list[str]:
        """Conditions in dependency order, then each action's decision: ``a_<id>`` each, or (``packed``) ``k``,
        the outcome key of :meth:`_fields`. ``only``: just these nodes (in dependency order), for a table column."""
        lines = ["k = 0"] if packed else []
        fields = {shape.action.spec.id: (offset, always) for shape, offset, _, always in self.fields}
        for kind, name in (self.policy.order if only is None else only):
            if kind == "condition":
                if name not in self.lazy_conditions:
                    lines.append(f"c_{name} = {self.code(self.policy.conditions[name])}")
                continue
            shape = self.shapes[name]
            action = shape.action
            conditional = [e.when for e in action.effects if e.when is not None]
            terms = [self.code(e) for e in (action.allow, *(g.when for g in action.guards), *conditional)]
            if packed:  # the table key's bits shifted into the field (above its visible bit, if it has one)
                at, always = fields[name]
                at += 0 if always else 1
                field = " | ".join([*([] if always else [str(1 << (at - 1))]),
                                    *(f"({t}) << {at + i}" if at + i else f"({t})" for i, t in enumerate(terms))])
                lines += [f"if {self.code(action.visible)}:", f"    k |= {field}"]
                continue
            bits = " | ".join(f"({t}) << {i}" if i else f"({t})" for i, t in enumerate(terms))
            pick = f"T_{name}[{bits}]" if shape.bits <= MAX_TABLE_BITS else f"(M_{name}.get({bits}) or B_{name}({bits}))"
            lines += [f"if {self.code(action.visible)}:", f"    a_{name} = {pick}", "else:", f"    a_{name} = H_{name}"]
        return lines

    def all_dicts(self, ret: Callable[[str], list[str]]) -> list[str]:
        """The shortest way through a tabled policy whose facts are all read by path, taken when the inputs are
        plain dicts: read, check every value is exact and look up, in one try block. Anything unusual (a missing key, a nested
        object, a wrong type, an undeclared value) falls through to the general reads, which read those dicts again
        (a plain dict read has no side effects) and say what is wrong."""
        if not self.paths:  # None, or a policy that reads no fact at all (its one table row is read below)
            return []
        needed = self.policy.needed
        roots = sorted({path[0] for path in self.paths})
        # TABLE[KEYS[...]]: KEYS (shared by every store of the engine) numbers the combination, TABLE (this
        # policy's rows) holds its Decisions, or None for a combination whose conditions raise
        return [f"if {' and '.join(f'type({root}) is dict' for root in roots)}:", "    try:",
                *(f"        f{i} = {self.shortcut_read(i, path)}" for i, path in zip(needed, self.paths, strict=True)),
                f"        if {self.exact_all()}:", f"            hit = TABLE[KEYS[{self.key()}]]",
                "            if hit is not None:",
                *("                " + line for line in ret("hit")),
                "    except Exception:", "        pass"]

    def shortcut_read(self, i: int, path: tuple[str, ...]) -> str:
        """:meth:`all_dicts`' read of fact ``i``: a missing key of a root (a plain dict there) is the fact's default
        when it declares one; anything else absent raises, and the general reads say what it means."""
        if self.policy.facts[i].has_default and len(path) == 2:
            return f"{path[0]}.get({path[1]!r}, D{i})"
        return _access(path)

    def exact_all(self) -> str:
        """The test that every table-key fact holds an exact value (:mod:`.values`): only those are looked up, so a
        look-alike that hashes and compares equal to a declared value never finds its row."""
        return " and ".join(exact_test(self.policy.facts[i].type, f"f{i}") for i in self.policy.needed) or "True"

    def key(self) -> str:
        return "(" + "".join(f"f{i}, " for i in self.policy.needed) + ")"

    def batch_args(self, table: tuple[Any, ...], keys: Any) -> BatchArgs | None:
        """The arguments of the C batch loop after the pairs (see policyengine/runtime/_batch.c): the table flattened in
        product order, each fact's path as ``(root, key, ...)`` (root 0 the order, 1 the user), each fact's value ->
        position in its domain, and the exact class its value must have (:data:`.values.EXACT`). None when the
        policy has no such table."""
        if self.paths is None or keys is None:
            return None
        # the rows are in product order already; a combination whose conditions raise is None: the C loop leaves
        # it to evaluate
        positions = tuple(_with_default(at, self.policy.facts[i]) for at, i in zip(keys.positions, self.policy.needed,
                                                                                    strict=True))
        return (table, tuple((_ROOTS.index(path[0]), *path[1:]) for path in self.paths), positions,
                tuple(_one_class(self.policy.facts[i].type) for i in self.policy.needed))

    def column_source(self, nodes: list[tuple[str, str]], action_id: str) -> str:
        """A function of the table-key facts computing one action's decision (``nodes``: what it depends on)."""
        params = ", ".join(f"f{i}" for i in self.policy.needed)
        return "\n".join([f"def column({params}):", "    order = user = None",
                          *("    " + line for line in self.decide(only=nodes)), f"    return a_{action_id}"]) + "\n"

    def body(self, ret: Callable[[str], list[str]], shortcut: bool = True) -> list[str]:
        """The evaluation of one (order, user); ``ret(expr)`` renders how a result leaves it. Without ``shortcut``,
        no :meth:`all_dicts` (for inputs the C loop has already found are not all plain dicts with exact values)."""
        policy = self.policy
        values = self.key()
        lines = [*(self.all_dicts(ret) if shortcut else []), "bad = None", *self.reads()]
        if self.table:  # anything but exact declared values (undeclared, a look-alike, a subclass) is checked below
            # .get, not [] in a try: exact values hash safely, and an undeclared one raises no exception (which
            # would cost more than everything else the fail-closed path does)
            lines += [f"if bad is None and {self.exact_all()}:", f"    at = KEYS_GET({values})",
                      "    if at is not None:", "        hit = TABLE[at]",
                      "        if hit is None:",  # not built yet (rows are built on first use), or raising
                      "            hit = ROW(at)",
                      "        if hit is not None:", *("            " + line for line in ret("hit"))]
        for i in self.eager:
            if policy.facts[i].type == "set":
                # exact containers of exact strings (STR_ONLY iterates in C); a set fact used only with `in` stays
                # as given. Anything else (a str subclass member, a host container) takes the complete check.
                keep = i in self.membership_only
                lines += [f"if type(f{i}) in SEQUENCES and STR_ONLY(map(type, f{i})):",
                          f"    {'pass' if keep else f'f{i} = frozenset(f{i})'}",
                          f"elif f{i} is not MISSING:", f"    bad = suspect(bad, {i})"]
            else:  # "" = re-check with the complete checker (unless a read failed already and said why)
                lines += [f"if not {_fast_check(policy.facts[i], f'f{i}', i)}:", *_mark(i, "", "    ", keep=True)]
        lines += ["if bad is not None:", *("    " + line for line in ret(f"slow({values}, bad, order, user)"))]
        packed = self.packed
        lines += ["try:", *("    " + line for line in self.decide(packed))]
        if self.expensive:
            # strict checks every fact, needed by a decision or not: the answer must not depend on which facts the
            # adapter marks expensive
            lines += ["    if strict:", *(f"        if f{i} is UNSET: f{i} = L{i}(order, user)" for i in sorted(self.expensive))]
            lines += ["except LazyBad as exc:",
                      *("    " + line for line in ret(f"slow({values}, {{exc.index: exc.message}}, order, user, exc)"))]
        # A condition that raises (a division by zero, say) is re-run by the fail-closed path, which knows which
        # conditions it makes unknown.
        lines += ["except Exception:", *("    " + line for line in ret(f"slow({values}, {{}}, order, user)"))]
        if packed:  # an outcome seen before is one dict read, and its Decisions is shared
            lines += ["try:", *("    " + line for line in ret("WHOLE[k]")),
                      "except KeyError:", *("    " + line for line in ret("WHOLE_BUILD(k)"))]
            return lines
        # Decisions built without __init__ (its slots set directly): the one allocation of a fast-path result
        lines += ["decisions = NEW(DECISIONS)",
                  f"decisions._decisions = ({''.join(f'a_{a.id}, ' for a in policy.actions)})",
                  "decisions._meta = META", *ret("decisions")]
        return lines

    def source(self) -> str:
        # No constants bound as parameter defaults: every keyword-only default costs a dict lookup per call, while
        # a global read is cached by the interpreter (3.11+). strict and store are plain positional defaults.
        def give(expr: str) -> list[str]:
            return [f"return FINISH({expr}, strict)" if expr.startswith("slow(") else f"return {expr}"]

        single = ["def evaluate(order, user, strict=False, store=None):",
                  *("    " + line for line in self.body(give))]
        shortcut = self.all_dicts(give)
        if shortcut and len(self.policy.actions) + len(self.policy.conditions) > SPLIT_LOCALS:
            # The table hit in a function of its own, with only the facts as locals: a call costs the same whatever
            # the number of actions (CPython sets up and clears every local of a frame on every call). Everything
            # else is the complete evaluation, FULL: one more call for inputs that are not plain dicts, which is
            # why a small policy keeps one function.
            single = ["def evaluate(order, user, strict=False, store=None):", *("    " + line for line in shortcut),
                      "    return FULL(order, user, strict)", "", "",
                      "def evaluate_full(order, user, strict=False):",
                      *("    " + line for line in self.body(give, shortcut=False))]

        def collect(expr: str) -> list[str]:
            if expr.startswith("slow("):
                return ["slow_at(len(out))", f"append({expr})", "continue"]
            return [f"append({expr})", "continue"]

        many = ["def evaluate_many(pairs, strict=False):", "    out = []", "    append = out.append",
                "    slow_indexes = []", "    slow_at = slow_indexes.append", "    for pair in pairs:",
                "        try:", "            order, user = pair",
                "        except Exception:  # not an (order, user) pair: no facts at all, so it fails closed",
                "            order = user = None",
                *("        " + line for line in self.body(collect)), "    return out, slow_indexes"]
        missed = []
        if self.paths is not None:  # what the C loop leaves to Python: evaluate's body, less its dict shortcut
            missed = ["", "", "def evaluate_missed(order, user):",
                      *("    " + line for line in self.body(lambda expr: [f"return {expr}"], shortcut=False))]
        return "\n".join(single) + "\n\n\n" + "\n".join(many) + "\n".join(missed) + "\n"


def _action_entries(shape: ActionShape) -> dict[str, Any]:
    """One action's names in the generated code's namespace: its decision table (or memo) and hidden decision."""
    name = shape.action.spec.id
    if shape.bits <= MAX_TABLE_BITS:  # equal decisions one object: table rows are then told apart by identity
        entries: dict[str, Any] = {f"T_{name}": unique_decisions([shape.from_key(k) for k in range(1 << shape.bits)])}
    else:
        entries = dict(zip((f"M_{name}", f"B_{name}"), _memo(shape), strict=True))
    entries[f"H_{name}"] = shape.hidden
    return entries


def _structure(policy: CompiledPolicy, getters: Mapping[int, Any], expensive: set[int], table: bool) -> tuple[Any, ...]:
    """Everything the generated source depends on (and nothing it does not: labels, reasons and the like live in
    the namespace): policies with equal structures share one generator, source and code object."""
    facts = policy.facts
    return (table, tuple(sorted(expensive)), policy.order,
            tuple((i, facts[i].type, facts[i].has_default, inline_path(getters[i]) or id(getters[i]))
                  for i in policy.needed),
            tuple((name, expr.python) for name, expr in policy.conditions.items()),
            tuple((a.id, tuple(e.python for e in a.exprs()), tuple(e.when is None for e in a.effects))
                  for a in policy.actions))


def build_evaluator(policy: CompiledPolicy, adapter: Adapter, meta: DecisionsMeta | None = None, *,
                    table_limit: int = TABLE_LIMIT, cache: BuildCache | None = None) -> Evaluator:
    """Build every evaluation path of ``policy`` reading facts through ``adapter``. ``cache``: what the evaluators
    of one engine share (see :mod:`.tables`); without it, nothing is shared."""
    cache = cache if cache is not None else BuildCache()
    facts = policy.facts
    built = {a.id: cache.action(a, _action_entries) for a in policy.actions}
    interpreter = Interpreter(policy, meta, {name: shape for name, (shape, _) in built.items()})
    shapes = interpreter.shapes
    read_facts = {i: cache.fact(facts[i], adapter) for i in policy.needed}
    getters = {i: getter for i, (getter, _) in read_facts.items()}
    is_expensive = getattr(adapter, "expensive", None)
    expensive = {i for i in policy.needed if is_expensive is not None and is_expensive(facts[i])}
    size = 1
    for i in policy.needed:
        size *= len(facts[i].domain) if facts[i].finite else table_limit + 1
    table = not expensive and size <= table_limit

    def failed(bad: dict[int, str] | None, i: int, exc: Exception) -> dict[int, str]:
        bad = bad or {}
        bad[i] = read_failure(exc)
        return bad

    def read(i: int, order: Any, user: Any, bad: dict[int, str] | None) -> tuple[Any, dict[int, str] | None]:
        try:
            return getters[i](order, user), bad
        except Exception as exc:
            if facts[i].has_default and read_failure(exc) == "missing":  # absent: the declared default
                return facts[i].default, bad
            return MISSING, failed(bad, i, exc)

    def suspect(bad: dict[int, str] | None, i: int) -> dict[int, str]:
        bad = bad or {}
        bad.setdefault(i, "")  # "" = re-check with the complete checker
        return bad

    plain_classes: dict[type, bool] = {}  # per engine, bounded: see CLASS_MEMO_LIMIT

    def is_plain(obj: Any) -> bool:
        """Whether facts are read from ``obj`` as attributes (it is not a Mapping); remembered per class."""
        cls = type(obj)
        try:
            result = not issubclass(cls, Mapping)
        except Exception:  # a class whose subclass check raises: read through the getters, which fail closed
            return False
        if len(plain_classes) >= CLASS_MEMO_LIMIT:
            plain_classes.clear()
        plain_classes[cls] = result
        return result

    def lazy(i: int) -> Callable[[Any, Any], Any]:
        def fetch(order: Any, user: Any) -> Any:
            try:
                raw = getters[i](order, user)
            except Exception as exc:
                if facts[i].has_default and read_failure(exc) == "missing":  # absent: the declared default
                    return facts[i].default
                raise _LazyBad(i, MISSING, read_failure(exc)) from None
            value, message = check_value(facts[i], raw)
            if message:
                raise _LazyBad(i, raw, message)
            return value
        return fetch

    position = {i: at for at, i in enumerate(policy.needed)}
    unchecked = [at for at, i in enumerate(policy.needed) if facts[i].type == "set" or i in expensive]
    numbers = [at for at, i in enumerate(policy.needed) if facts[i].type == "number"]
    slow_memo: dict[Any, tuple[Decisions, tuple[FactProblem, ...]]] = {}
    slow_capacity = max(16, SLOW_MEMO_CELLS // max(1, len(policy.actions)))

    checked: dict[tuple[int, type, Any], Any] = {}  # bounded like slow_memo; plain values only (hashing is safe)

    def problem_or_value(i: int, raw: Any, message: str | None) -> Any:
        """The checked value of fact ``i``, or ``(i, message)`` saying what is wrong (a tuple: no good value is one,
        and it hashes and compares in C, which matters on this path)."""
        if message:
            return i, message
        cls = type(raw)
        plain = cls in _PLAIN_VALUES
        if plain:
            known = checked.get((i, cls, raw), checked)
            if known is not checked:
                return known
        value, message = check_value(facts[i], raw)
        result = (i, message) if message else value
        if plain and _small((raw,)):
            if len(checked) >= SLOW_MEMO_CELLS:
                checked.clear()
            checked[(i, cls, raw)] = result
        return result

    def slow(values: tuple[Any, ...], bad: dict[int, str], order: Any, user: Any,
             lazy_bad: _LazyBad | None = None) -> tuple[Decisions, tuple[FactProblem, ...]]:
        """The fail-closed path. Facts not in ``bad`` passed the fast checks (exact values), so only the bad ones,
        expensive ones not read yet and set facts (normalised) are looked at; the result is remembered by those
        inputs (each bad fact as its problem), since the interpreter decides from nothing else."""
        key = list(values)
        for i, message in bad.items():
            if message == "missing" and facts[i].has_default:  # absent: the declared default (a valid value)
                key[position[i]] = facts[i].default
            elif message:  # a read failed: its message says all
                key[position[i]] = (i, message)
            else:
                raw = lazy_bad.raw if lazy_bad is not None and i == lazy_bad.index else key[position[i]]
                key[position[i]] = problem_or_value(i, raw, None)
        for at in unchecked:
            raw, i = key[at], policy.needed[at]
            if i in bad:
                continue  # checked above
            if raw is UNSET:  # an expensive fact not read yet: the fail-closed path reads everything
                raw, failure = read(i, order, user, None)
                key[at] = problem_or_value(i, raw, failure[i] if failure else None)
            elif type(raw) in SEQUENCES and type(raw) is not frozenset:  # passed the fast check: exact strings
                key[at] = frozenset(raw)
        memo_key: Any = tuple(key)
        if numbers:  # 1 and 1.0 are equal keys, not equal facts (their arithmetic differs past 2**53)
            memo_key = (memo_key, tuple([type(key[at]) for at in numbers]))
        result = slow_memo.get(memo_key)
        if result is not None:
            return result
        env: dict[Any, Any] = {}
        problems = []
        for i, value in zip(policy.needed, key, strict=True):
            if type(value) is tuple:
                problem = FactProblem(facts[i].name, value[1])
                problems.append(problem)
                env[f"f{i}"] = Unknown((problem,))
            else:
                env[f"f{i}"] = value
        decisions = interpreter.run(env)
        result = decisions, tuple(dict.fromkeys([*problems, *decisions.errors]))
        if _small(key):
            if len(slow_memo) >= slow_capacity:
                slow_memo.clear()
            slow_memo[memo_key] = result
        return result

    namespace = namespace_for(policy)
    if cache.builtins is None:
        cache.builtins = namespace["__builtins__"]
    namespace["__builtins__"] = cache.builtins  # the same for every policy: one per engine
    for _, entries in built.values():
        namespace.update(entries)
    for i in policy.needed:
        namespace[f"G{i}"] = getters[i]
        namespace[f"V{i}"] = read_facts[i][1]
        namespace[f"D{i}"] = facts[i].default  # the declared default of a missing fact (None: none)
        if i in expensive:
            namespace[f"L{i}"] = lazy(i)
    namespace.update(PLAIN=plain_classes, is_plain=is_plain)
    namespace.update(MISSING=MISSING, UNSET=UNSET, LazyBad=_LazyBad, failed=failed, read=read, suspect=suspect,
                     slow=slow, DECISIONS=Decisions, NEW=object.__new__, META=interpreter.meta)
    namespace.update(SEQUENCES=SEQUENCES, STR_ONLY=frozenset({str}).issuperset, type=type, map=map,
                     AttributeError=AttributeError)
    filename = f"<policyengine:{policy.name}@{policy.version}>"
    structure = _structure(policy, getters, expensive, table)
    known = cache.code.get(structure)
    if known is None:  # a policy shaped like one built before (most store overrides) reuses its code as it is
        generator = _Generator(policy, shapes, getters, expensive, table)
        try:
            source = generator.source()
            code = compile_source(source, filename)
        except (RecursionError, SyntaxError, MemoryError):
            # chains of named conditions reading expensive facts, inlined into each other, nest past what Python
            # compiles: compute them where they are declared instead (same values, a little less laziness)
            generator = _Generator(policy, shapes, getters, expensive, table, inline=False)
            source = generator.source()
            code = compile_source(source, filename)
        known = cache.code[structure] = (generator, source, code)
    generator, source, code = known
    if generator.packed:  # the generator may be another policy's: the decisions are this one's own
        fields = [(shapes[shape.action.spec.id], *rest) for shape, *rest in generator.fields]
        namespace["WHOLE"], namespace["WHOLE_BUILD"] = _whole_memo(fields, namespace, interpreter.meta)
    namespace["FINISH"] = finish
    keys = None
    rows: Rows | None = None
    if table:
        keys = cache.key_index([facts[i].domain for i in policy.needed])

        def compile_column(column: str) -> Any:
            found = cache.code.get(column)
            if found is None:
                code = compile_source(column, f"<policyengine-table:{policy.name}>")
                found = cache.code[column] = (None, column, code)
            return found[2]

        rows = table_rows(policy, keys, cache, interpreter.meta, generator.column_source, compile_column, namespace)
        namespace.update(TABLE=rows.table, ROW=rows.build, KEYS=keys.index, KEYS_GET=keys.index.get)
    exec(code, namespace)  # noqa: S102 - the source is generated from the compiled policy only
    namespace["FULL"] = namespace.get("evaluate_full")
    evaluate, many = namespace["evaluate"], namespace["evaluate_many"]

    def orders_in_python(orders: Any, user: Any) -> tuple[list[Any], list[int]]:
        return many(zip(orders, itertools.repeat(user)))  # type: ignore[no-any-return]

    size = rows.size if rows is not None else 0
    lookup = None
    if rows is not None and keys is not None and generator.paths:
        roots = tuple(sorted({path[0] for path in generator.paths}))
        lookup = TableLookup(roots, tuple(f"f{i} = {_access(path)}" for i, path in
                                          zip(policy.needed, generator.paths, strict=True)),
                             generator.exact_all(), generator.key(), keys, rows.table)
    if rows is not None and generator.paths is not None and _batch is not None:
        complete, batch_keys = rows.complete, keys

        def batch_args() -> BatchArgs:  # on the first batch: the C loop reads every row, so all are built then
            args = generator.batch_args(complete(), batch_keys)
            assert args is not None
            return args

        many_in_c, orders_in_c, store_loop = _batch_loops(batch_args, namespace["evaluate_missed"])
        own_shape = generator.batch_args((), keys)
        assert own_shape is not None
        entry = (_batch.shape(*own_shape[1:]), rows.table)
        return Evaluator(evaluate, many_in_c, orders_in_c, source, size, batch_in_c=True, lookup=lookup,
                         store_loop=store_loop, store_table=lambda: entry)
    return Evaluator(evaluate, many, orders_in_python, source, size, lookup=lookup)


def same_shape(lookup: TableLookup | None, default: TableLookup) -> bool:
    """Whether ``lookup``'s policy reads the same facts the same way as ``default``'s, into the same key index: then
    its row for a plain-dict input is ``lookup.rows[default.keys.index[key]]``."""
    return lookup is not None and lookup.keys is default.keys and \
        (lookup.roots, lookup.reads, lookup.exact, lookup.key) == (default.roots, default.reads, default.exact, default.key)


def build_dispatch(store_path: tuple[str, ...], default: TableLookup, rows: dict[str, Any],
                   slow: Callable[..., Any]) -> Callable[..., Any] | None:
    """The store dispatch of an engine whose policies are tabled alike: ``evaluate`` reading the store id and the
    facts of plain dicts once, then ``ROWS.get(store, DEFAULT)[KEYS[key]]``: one shared key index, and per store
    nothing but its rows (``rows``: store -> its rows, or None for a store not built yet or of another shape; the
    engine fills it in as stores are built). Whatever it does not answer (not plain dicts, a bad value, such a
    store, a combination whose conditions raise, an explicit ``store``) goes to ``slow``, the general dispatch.
    None when the store id is not read from the order or the user by a path."""
    if store_path[0] not in _ROOTS:
        return None
    roots = sorted({*default.roots, store_path[0]})
    source = "\n".join([
        "def evaluate(order, user, strict=False, store=None):",
        f"    if store is None and {' and '.join(f'type({root}) is dict' for root in roots)}:",
        "        try:",
        f"            s = {_access(store_path)}",
        *(f"            {line}" for line in default.reads),
        f"            if type(s) is str and {default.exact}:",
        "                rows = ROWS.get(s, DEFAULT)",
        "                if rows is not None:",
        f"                    hit = rows[KEYS[{default.key}]]",
        "                    if hit is not None:",
        "                        return hit",
        "        except Exception:",
        "            pass",
        "    return SLOW(order, user, strict, store)"]) + "\n"
    scope: dict[str, Any] = {"ROWS": rows, "DEFAULT": default.rows, "KEYS": default.keys.index, "SLOW": slow,
                             # what the exact tests name (values.exact_test): a missing name would raise, silently
                             # sending every call the general way
                             "__builtins__": {"type": type, "str": str, "bool": bool, "int": int, "float": float,
                                              "dict": dict, "frozenset": frozenset, "Exception": Exception}}
    exec(compile_source(source, "<policyengine-dispatch>"), scope)  # noqa: S102 - generated from the policies only
    return cast(Callable[..., Any], scope["evaluate"])


def _batch_loops(spec_of: Callable[[], BatchArgs], missed: Callable[[Any, Any], Any]) -> tuple[
        Callable[..., tuple[list[Any], list[int]]], Callable[[Any, Any], tuple[list[Any], list[int]]],
        Callable[..., tuple[list[Any], list[int], list[Any]]]]:
    """``evaluate_many`` and ``evaluate_orders`` of a tabled policy through the C loop (``spec``: its arguments after
    the pairs): it answers every plain-dict input with valid facts from the table, and leaves the others (None) to the
    generated ``evaluate``, which is the one to judge them."""
    assert _batch is not None
    lookup_all = _batch.lookup_all
    specs: list[BatchArgs] = []  # built on the first batch (a racing thread at worst builds an equal one)

    def spec() -> BatchArgs:
        if not specs:
            specs.append(spec_of())
        return specs[0]

    by_key: dict[tuple[Any, ...], Any] = {}  # bounded like the slow memo, whose results it shares

    def complete(results: list[Any], misses: list[int], keys: list[Any],
                 pair: Callable[[int], tuple[Any, Any]]) -> list[int]:
        """Decide the misses in Python; those with a key (see _batch.c) once per key."""
        slow = []
        for i, key in zip(misses, keys, strict=True):
            result = by_key.get(key) if key is not None else None
            if result is None:
                order, user = _as_pair(pair, i)
                result = missed(order, user)
                if key is not None and _small(key):
                    if len(by_key) >= SLOW_MEMO_CELLS:
                        by_key.clear()
                    by_key[key] = result
            results[i] = result
            if result.__class__ is not Decisions:
                slow.append(i)
        return slow

    def evaluate_many(pairs: Any, strict: bool = False) -> tuple[list[Any], list[int]]:
        pairs = list(pairs)  # our own list: nothing the host runs during the loop can change it
        results, misses, keys = lookup_all(pairs, *spec())
        return results, complete(results, misses, keys, pairs.__getitem__)

    def evaluate_orders(orders: Any, user: Any) -> tuple[list[Any], list[int]]:
        orders = list(orders)  # no (order, user) tuple per order: a bulk of 100,000 orders makes no garbage
        results, misses, keys = lookup_all(orders, *spec(), user)
        return results, complete(results, misses, keys, lambda i: (orders[i], user))

    lookup_stores = _batch.lookup_stores

    def store_loop(items: list[Any], tables: dict[str, Any], fallback: Any, store_path: tuple[Any, ...], user: Any,
                   store: str | None) -> tuple[list[Any], list[int], list[Any]]:
        _, paths, positions, classes = spec()
        return lookup_stores(items, tables, fallback, store_path, paths, positions, classes, user, store)

    return evaluate_many, evaluate_orders, store_loop


_PLAIN_VALUES = frozenset({str, int, bool, type(None)})
"""Classes whose hashing and comparison are their own (no host code runs) and exact (not float: 0.0 == -0.0, yet
they are told apart in messages): safe as memo keys, whatever the value."""

_MEMO_VALUE_CHARS = 1024


def small_key(values: Any) -> bool:
    """Whether a miss's key (see _batch.c) is small enough to remember (:func:`_small`)."""
    return _small(values)


def _small(values: Any) -> bool:
    """Whether a memo key made of ``values`` is small: a memo bounded by its count of entries must not keep a host's
    megabyte strings or integers alive (those inputs are decided afresh each time instead). A problem, a tuple, is
    ours: its message is bounded by the policy (however many values an enum declares)."""
    for value in values:
        cls = type(value)
        if (cls is str and len(value) > _MEMO_VALUE_CHARS) or (cls is int and value.bit_length() > 4 * _MEMO_VALUE_CHARS):
            return False
        if cls is frozenset and (len(value) > 64 or not _small(value)):  # a set fact's value
            return False
    return True


def _mark(i: int, message: str, pad: str, *, keep: bool = False) -> list[str]:
    """Generated lines recording ``message`` for fact ``i`` in ``bad`` (created on the first problem; ``keep``: not
    over a message already there). Inlined: this is most of what a bad fact costs on the fast path."""
    return [f"{pad}if bad is None:", f"{pad}    bad = {{{i}: {message!r}}}",
            f"{pad}elif {i} not in bad:" if keep else f"{pad}else:", f"{pad}    bad[{i}] = {message!r}"]


def _with_default(index: dict[Any, int], fact: FactSpec) -> dict[Any, int]:
    """A table-key fact's value -> position in its domain (shared by every store), for the C loop; with a declared
    default, also Ellipsis -> the default's position (a missing key reads as the default there, see _batch.c)."""
    return {**index, ...: index[fact.default]} if fact.has_default else index


def _one_class(kind: str) -> type:
    """The one exact class a table-key fact's value must have, for the C loop (table facts are enums and bools)."""
    (cls,) = EXACT[kind]
    return cls


def _as_pair(pair: Callable[[int], Any], i: int) -> tuple[Any, Any]:
    """Item ``i`` of a batch as ``(order, user)``; an item that is not a pair has no facts: ``(None, None)``, which
    fails closed (as the generated loop does)."""
    try:
        order, user = pair(i)
    except Exception:
        return None, None
    return order, user


def _memo(shape: ActionShape) -> tuple[dict[int, Any], Callable[[int], Any]]:
    """A remembered builder of one action's decisions by key: each outcome is built once and shared."""
    memo: dict[int, Any] = {}  # per engine; a racing thread at worst builds an equal Decision twice

    def build(key: int) -> Any:
        decision = shape.from_key(key)
        if len(memo) < MEMO_LIMIT:
            memo[key] = decision
        return decision

    return memo, build


def fast_reader(getter: Any) -> Callable[[Any, Any], Any]:
    """``getter`` with its path inlined for dict inputs (``order["store"]["id"]``), as the evaluators read facts; any
    other shape, and a getter of the host's own, go through ``getter`` itself."""
    path = inline_path(getter)
    if path is None:
        return cast(Callable[[Any, Any], Any], getter)
    source = "\n".join([
        "def read(order, user):",
        f"    if type({path[0]}) is dict:",
        "        try:",
        f"            return {_access(path)}",
        "        except Exception:",
        "            pass  # a nested object, or missing: the getter decides what that means",
        "    return GETTER(order, user)",
    ])
    scope: dict[str, Any] = {"GETTER": getter}
    exec(compile_source(source + "\n", f"<policyengine-read:{'.'.join(path)}>"), scope)  # noqa: S102
    return cast(Callable[[Any, Any], Any], scope["read"])


def _whole_memo(fields: list[tuple[ActionShape, int, int, bool]], namespace: Mapping[str, Any],
                meta: DecisionsMeta) -> tuple[dict[int, Decisions], Callable[[int], Decisions]]:
    """A remembered builder of whole results by packed outcome key: each outcome's Decisions is built once and
    shared, like a table row, however many different fact values lead to it."""
    memo: dict[int, Decisions] = {}  # per engine; a racing thread at worst builds an equal Decisions twice
    picks = []
    for shape, offset, width, always in fields:
        name = shape.action.spec.id
        table = namespace.get(f"T_{name}")
        decision_of = table.__getitem__ if table is not None else namespace[f"B_{name}"]
        picks.append((offset, (1 << width) - 1, always, shape.hidden, decision_of))

    def build(key: int) -> Decisions:
        decisions = []
        for offset, mask, always, hidden, decision_of in picks:
            field = key >> offset & mask
            decisions.append(decision_of(field) if always else decision_of(field >> 1) if field & 1 else hidden)
        result = Decisions(tuple(decisions), meta)
        if len(memo) < MEMO_LIMIT:
            memo[key] = result
        return result

    return memo, build


def _membership_only(policy: CompiledPolicy) -> set[int]:
    """Set facts every condition uses only as the right side of ``in``."""
    codes = [e.python for e in (*policy.conditions.values(), *(x for a in policy.actions for x in a.exprs()))]
    out = set()
    for i in policy.needed:
        if policy.facts[i].type == "set":
            uses = [m.group(1) for code in codes for m in re.finditer(rf"(\bin )?\bf{i}\b", code)]
            if all(uses):
                out.add(i)
    return out
