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
per-order call. All paths run each condition's IR as :mod:`policyengine.ir.python` emits it and share the decision
builder; the test suite checks them against each other and against rule-engine.

The source text is :mod:`.emit_evaluator`'s; this module builds everything it runs with, step by step (see
:func:`build_evaluator`), and the engine's store dispatch (:func:`build_dispatch`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any, cast

import attrs

from ..errors import FactError, FactProblem
from ..ir.python import SAFE_BUILTINS
from ..ir.values import MISSING, SEQUENCES, check_value
from ..pipeline.compiler import CompiledPolicy
from ..pipeline.model import FactSpec
from .adapters import Adapter, inline_path, read_failure
from .codestore import compile_source
from .decision import Decisions, DecisionsMeta
from .emit_evaluator import MAX_TABLE_BITS, PACK_BITS, ROOTS, SPLIT_LOCALS, BatchArgs, SourceGenerator, access
from .interpret import ActionShape, Interpreter, Unknown
from .tables import BuildCache, KeyIndex, Rows, table_rows, unique_decisions

__all__ = ["BuildCache", "Evaluator", "TableLookup", "build_dispatch", "build_evaluator", "fast_reader", "finish",
           "same_shape", "small_key", "CLASS_MEMO_LIMIT", "MAX_TABLE_BITS", "MEMO_LIMIT", "PACK_BITS", "RAW",
           "SLOW_MEMO_CELLS", "SPLIT_LOCALS", "TABLE_LIMIT"]

MEMO_LIMIT = 4096
"""How many outcomes one memo remembers (per action, or per policy for packed outcomes); past it, new ones are
built on each use and not kept, so memory stays bounded whatever the inputs."""

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


try:  # the optional C batch loop (policyengine/runtime/_batch.c), built when a C compiler was present at install
    from . import _batch
except ImportError:  # pragma: no cover - depends on the machine that installed the package
    _batch = None  # type: ignore[assignment]


def build_evaluator(policy: CompiledPolicy, adapter: Adapter, meta: DecisionsMeta | None = None, *,
                    table_limit: int = TABLE_LIMIT, cache: BuildCache | None = None) -> Evaluator:
    """Build every evaluation path of ``policy`` reading facts through ``adapter``. ``cache``: what the evaluators
    of one engine share (see :mod:`.tables`); without it, nothing is shared."""
    cache = cache if cache is not None else BuildCache()
    built = {a.id: cache.action(a, _action_entries) for a in policy.actions}
    interpreter = Interpreter(policy, meta, {name: shape for name, (shape, _) in built.items()})
    read_facts = {i: cache.fact(policy.facts[i], adapter) for i in policy.needed}
    getters = {i: getter for i, (getter, _) in read_facts.items()}
    is_expensive = getattr(adapter, "expensive", None)
    expensive = {i for i in policy.needed if is_expensive is not None and is_expensive(policy.facts[i])}
    table = not expensive and _table_size(policy, table_limit) <= table_limit

    namespace = _namespace(cache, [entries for _, entries in built.values()])
    namespace.update(_fact_entries(policy, read_facts, expensive))
    namespace.update(_closures(policy, getters, expensive, interpreter))
    generator, source, code = _generated(policy, interpreter.shapes, getters, expensive, table, cache)
    namespace.update(generator.constants)
    if generator.packed:  # the generator may be another policy's: the decisions are this one's own
        fields = [(interpreter.shapes[shape.action.spec.id], offset, width, always)
                  for shape, offset, width, always in generator.fields]
        namespace["WHOLE"], namespace["WHOLE_BUILD"] = _whole_memo(fields, namespace, interpreter.meta)
    keys, rows = _table(policy, generator, cache, interpreter.meta, namespace) if table else (None, None)
    exec(code, namespace)  # noqa: S102 - the source is generated from the compiled policy only
    namespace["FULL"] = namespace.get("evaluate_full")
    return _evaluator(policy, generator, source, namespace, keys, rows)


# -- the steps of build_evaluator -------------------------------------------------------------------------------------
def _table_size(policy: CompiledPolicy, table_limit: int) -> int:
    """How many combinations of its facts a whole-policy table would hold (past ``table_limit`` once a fact is not
    finite)."""
    size = 1
    for i in policy.needed:
        fact = policy.facts[i]
        size *= len(fact.domain) if fact.finite else table_limit + 1
    return size


def _namespace(cache: BuildCache, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The generated module's globals: the safe builtins (one dict per engine) and each action's decisions."""
    if cache.builtins is None:
        cache.builtins = dict(SAFE_BUILTINS)
    namespace: dict[str, Any] = {"__builtins__": cache.builtins}
    for each in entries:
        namespace.update(each)
    namespace.update(MISSING=MISSING, UNSET=UNSET, LazyBad=_LazyBad, DECISIONS=Decisions, NEW=object.__new__,
                     SEQUENCES=SEQUENCES, STR_ONLY=frozenset({str}).issuperset, type=type, map=map,
                     AttributeError=AttributeError, FINISH=finish)
    return namespace


def _fact_entries(policy: CompiledPolicy, read_facts: Mapping[int, tuple[Any, frozenset[Any]]],
                  expensive: set[int]) -> dict[str, Any]:
    """Per fact read: its getter ``G<i>``, declared values ``V<i>``, declared default ``D<i>`` (None: none) and, for
    an expensive fact, its lazy read ``L<i>``."""
    entries: dict[str, Any] = {}
    for i, (getter, values) in read_facts.items():
        fact = policy.facts[i]
        entries.update({f"G{i}": getter, f"V{i}": values, f"D{i}": fact.default})
        if i in expensive:
            entries[f"L{i}"] = _lazy_read(fact, i, getter)
    return entries


def _closures(policy: CompiledPolicy, getters: Mapping[int, Any], expensive: set[int],
              interpreter: Interpreter) -> dict[str, Any]:
    """The helpers the generated code calls: fact reads that fail, the plain-object test and the fail-closed path."""
    failed, read, suspect = _reads(policy.facts, getters)
    plain_classes, is_plain = _plain_objects()
    return {"failed": failed, "read": read, "suspect": suspect, "PLAIN": plain_classes, "is_plain": is_plain,
            "slow": _fail_closed(policy, interpreter, expensive, read), "META": interpreter.meta}


def _structure(policy: CompiledPolicy, getters: Mapping[int, Any], expensive: set[int], table: bool) -> tuple[Any, ...]:
    """Everything the generated source depends on (and nothing it does not: labels, reasons and the like live in
    the namespace): policies with equal structures share one generator, source and code object. Conditions are
    their IR: equal IR, equal source and constants."""
    facts = policy.facts
    return (table, tuple(sorted(expensive)), policy.order,
            tuple((i, facts[i].type, facts[i].has_default, inline_path(getters[i]) or id(getters[i]))
                  for i in policy.needed),
            tuple((name, expr.ir) for name, expr in policy.conditions.items()),
            tuple((a.id, tuple(e.ir for e in a.exprs()), tuple(e.when is None for e in a.effects))
                  for a in policy.actions))


def _generated(policy: CompiledPolicy, shapes: Mapping[str, ActionShape], getters: Mapping[int, Any],
               expensive: set[int], table: bool, cache: BuildCache) -> tuple[SourceGenerator, str, CodeType]:
    """The generator, source and compiled module of ``policy``'s evaluators: a policy shaped like one built before
    (most store overrides) reuses its code as it is."""
    structure = _structure(policy, getters, expensive, table)
    known = cache.code.get(structure)
    if known is None:
        filename = f"<policyengine:{policy.name}@{policy.version}>"
        generator = SourceGenerator(policy, shapes, getters, expensive, table)
        try:
            source = generator.source()
            code = compile_source(source, filename)
        except (RecursionError, SyntaxError, MemoryError):
            # chains of named conditions reading expensive facts, inlined into each other, nest past what Python
            # compiles: compute them where they are declared instead (same values, a little less laziness)
            generator = SourceGenerator(policy, shapes, getters, expensive, table, inline=False)
            source = generator.source()
            code = compile_source(source, filename)
        known = cache.code[structure] = (generator, source, code)
    return cast("tuple[SourceGenerator, str, CodeType]", known)


def _table(policy: CompiledPolicy, generator: SourceGenerator, cache: BuildCache, meta: DecisionsMeta,
           namespace: dict[str, Any]) -> tuple[KeyIndex, Rows]:
    """A tabled policy's key index (shared by the engine) and rows (built on first use), bound into ``namespace``."""
    keys = cache.key_index([policy.facts[i].domain for i in policy.needed])

    def compile_column(column: str) -> Any:
        found = cache.code.get(column)
        if found is None:
            code = compile_source(column, f"<policyengine-table:{policy.name}>")
            found = cache.code[column] = (None, column, code)
        return found[2]

    rows = table_rows(policy, keys, cache, meta, generator.column_source, compile_column, namespace)
    namespace.update(TABLE=rows.table, ROW=rows.build, KEYS=keys.index, KEYS_GET=keys.index.get)
    return keys, rows


def _evaluator(policy: CompiledPolicy, generator: SourceGenerator, source: str, namespace: Mapping[str, Any],
               keys: KeyIndex | None, rows: Rows | None) -> Evaluator:
    """The :class:`Evaluator` of the executed module: its batch through the C loop when the policy is tabled and
    read by paths (and the extension is built), else the generated loop."""
    evaluate, many = namespace["evaluate"], namespace["evaluate_many"]
    size = rows.size if rows is not None else 0
    lookup = None
    if rows is not None and keys is not None and generator.paths:
        roots = tuple(sorted({path[0] for path in generator.paths}))
        lookup = TableLookup(roots, tuple(f"f{i} = {access(path)}" for i, path in
                                          zip(policy.needed, generator.paths, strict=True)),
                             generator.exact_all(), generator.key(), keys, rows.table)
    if rows is not None and keys is not None and generator.paths is not None and _batch is not None:
        complete = rows.complete

        def batch_args() -> BatchArgs:  # on the first batch: the C loop reads every row, so all are built then
            args = generator.batch_args(complete(), keys)
            assert args is not None
            return args

        many_in_c, orders_in_c, store_loop = _batch_loops(batch_args, namespace["evaluate_missed"])
        own_shape = generator.batch_args((), keys)
        assert own_shape is not None
        entry = (_batch.shape(*own_shape[1:]), rows.table)
        return Evaluator(evaluate, many_in_c, orders_in_c, source, size, batch_in_c=True, lookup=lookup,
                         store_loop=store_loop, store_table=lambda: entry)

    def orders_in_python(orders: Any, user: Any) -> tuple[list[Any], list[int]]:
        return many(zip(orders, itertools.repeat(user)))  # type: ignore[no-any-return]

    return Evaluator(evaluate, many, orders_in_python, source, size, lookup=lookup)


# -- the closures the generated code calls -----------------------------------------------------------------------------
def _failed(bad: dict[int, str] | None, i: int, exc: Exception) -> dict[int, str]:
    """``bad`` with fact ``i``'s read failure recorded (created on the first problem)."""
    bad = bad or {}
    bad[i] = read_failure(exc)
    return bad


def _suspect(bad: dict[int, str] | None, i: int) -> dict[int, str]:
    """``bad`` with fact ``i`` marked for the complete check ("", unless a problem is recorded already)."""
    bad = bad or {}
    bad.setdefault(i, "")
    return bad


def _reads(facts: Sequence[FactSpec], getters: Mapping[int, Any]) -> tuple[
        Callable[..., dict[int, str]], Callable[..., tuple[Any, dict[int, str] | None]], Callable[..., dict[int, str]]]:
    """``failed``, ``read`` and ``suspect``: how the generated reads record a fact that could not be taken as-is."""

    def read(i: int, order: Any, user: Any, bad: dict[int, str] | None) -> tuple[Any, dict[int, str] | None]:
        try:
            return getters[i](order, user), bad
        except Exception as exc:
            if facts[i].has_default and read_failure(exc) == "missing":  # absent: the declared default
                return facts[i].default, bad
            return MISSING, _failed(bad, i, exc)

    return _failed, read, _suspect


def _lazy_read(fact: FactSpec, i: int, getter: Any) -> Callable[[Any, Any], Any]:
    """``L<i>``: expensive fact ``i`` read and checked at its first use; :class:`_LazyBad` when it is bad."""

    def fetch(order: Any, user: Any) -> Any:
        try:
            raw = getter(order, user)
        except Exception as exc:
            if fact.has_default and read_failure(exc) == "missing":  # absent: the declared default
                return fact.default
            raise _LazyBad(i, MISSING, read_failure(exc)) from None
        value, message = check_value(fact, raw)
        if message:
            raise _LazyBad(i, raw, message)
        return value

    return fetch


def _plain_objects() -> tuple[dict[type, bool], Callable[[Any], bool]]:
    """``PLAIN`` (class -> read by attribute, per engine, bounded: see CLASS_MEMO_LIMIT) and ``is_plain`` filling it."""
    plain_classes: dict[type, bool] = {}

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

    return plain_classes, is_plain


def _fail_closed(policy: CompiledPolicy, interpreter: Interpreter, expensive: set[int],
                 read: Callable[..., Any]) -> Callable[..., Any]:
    """``slow``: the fail-closed path, and the bounded memos that make repeated bad data cheap."""
    facts = policy.facts
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

    return slow


def _action_entries(shape: ActionShape) -> dict[str, Any]:
    """One action's names in the generated code's namespace: its decision table (or memo) and hidden decision."""
    name = shape.action.spec.id
    if shape.bits <= MAX_TABLE_BITS:  # equal decisions one object: table rows are then told apart by identity
        entries: dict[str, Any] = {f"T_{name}": unique_decisions([shape.from_key(k) for k in range(1 << shape.bits)])}
    else:
        entries = dict(zip((f"M_{name}", f"B_{name}"), _memo(shape), strict=True))
    entries[f"H_{name}"] = shape.hidden
    return entries


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
    if store_path[0] not in ROOTS:
        return None
    roots = sorted({*default.roots, store_path[0]})
    source = "\n".join([
        "def evaluate(order, user, strict=False, store=None):",
        f"    if store is None and {' and '.join(f'type({root}) is dict' for root in roots)}:",
        "        try:",
        f"            s = {access(store_path)}",
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
        f"            return {access(path)}",
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
