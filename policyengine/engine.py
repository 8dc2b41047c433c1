"""The :class:`Engine`, whose :meth:`Engine.evaluate` decides every action of a policy for one order and user;
:func:`policyengine.load` (:mod:`policyengine.loader`) builds it from a directory.

An engine holds one policy name, possibly at several versions side by side, and the store overrides written
against it. Each order is decided by its store's policy: the store override (if any) applied to the base version
the store runs on (its pin, or the latest).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .errors import FactProblem, did_you_mean
from .ir.values import check_value, describe
from .locks import STORE_FACT
from .pipeline.compiler import CompiledPolicy
from .pipeline.model import FactSpec
from .runtime import codestore
from .runtime.adapters import Adapter, DefaultAdapter, inline_path, read_failure
from .runtime.bulk import BulkResult, order_ids, summarise, why_not
from .runtime.codegen import (
    RAW,
    SLOW_MEMO_CELLS,
    TABLE_LIMIT,
    BuildCache,
    Evaluator,
    TableLookup,
    build_dispatch,
    build_evaluator,
    fast_reader,
    finish,
    same_shape,
    small_key,
)
from .runtime.decision import Decision, Decisions, DecisionsMeta
from .runtime.reasons import not_offered_reason, store_mismatch_problem, store_mismatch_reason, store_reason
from .store_policy import StorePolicy  # its own module: the compiled cache reads it too

if TYPE_CHECKING:
    from .perform import ActionEffects
    from .runtime.plan import Plan, PlanCache

__all__ = ["Engine", "StorePolicy"]


class _Bound:
    """A policy bound to the engine: its evaluator (and Decisions meta), built on first use. A store's evaluator
    is built when its first order comes (about a millisecond), not at load: with thousands of stores, load costs
    what checking the overrides costs, and memory grows with the stores actually served. A racing thread at worst
    builds an equal evaluator twice (one is kept)."""

    __slots__ = ("_source", "_build", "_evaluator")

    def __init__(self, source: CompiledPolicy | StorePolicy, build: Callable[[], Evaluator]) -> None:
        # a store's policy is read from its StorePolicy when first needed: a warm start from the compiled cache
        # restores each store's policy on its first use (policyengine.cache)
        self._source, self._build = source, build
        self._evaluator: Evaluator | None = None

    @property
    def policy(self) -> CompiledPolicy:
        source = self._source
        return source.policy if isinstance(source, StorePolicy) else source

    @property
    def evaluator(self) -> Evaluator:
        evaluator = self._evaluator
        if evaluator is None:
            evaluator = self._evaluator = self._build()
        return evaluator


def store_mismatch(read: Callable[[Any, Any], Any] | None, fact: Any, order: Any, user: Any,
                   store: Any) -> FactProblem | None:
    """The problem when the host asks for ``store`` but the order's own ``store.id`` (read by ``read``; its default
    when missing) is another: a store's policy is proved for its own orders only (its conditions read
    ``store.id`` as that store's id), so the decision fails closed (reason ``store-mismatch``). None when no
    store is asked for, the order has no good store.id, or they agree (plans follow the same rule)."""
    if type(store) is not str or read is None:  # a store that is not a plain str fails closed in the dispatch
        return None
    try:
        own = read(order, user)
    except Exception as exc:  # noqa: BLE001 - a bad store.id fails closed where a condition reads it
        if read_failure(exc) != "missing" or fact is None or not fact.has_default:
            return None
        own = fact.default
    if fact is None:
        return None
    checked, problem = check_value(fact, own)
    # a bad store.id fails closed wherever a condition reads it; only a good one names a store (compared as plain
    # text: a host's str subclass never runs its own __eq__ here)
    if problem is not None or not isinstance(checked, str) or str.__eq__(checked, store):
        return None
    return store_mismatch_problem(store)


def _fail_closed(decisions: Decisions, problem: FactProblem) -> Decisions:
    """The store could not be determined, so no action's visibility is known: every action is hidden (the base
    policy's decisions are kept only for their labels), with the problem as the reason and error."""
    mismatch = problem.message.startswith("not the store asked for (")
    detail = (store_mismatch_reason(problem) if mismatch else store_reason(problem),)
    return Decisions(tuple(attrs.evolve(d, state="hidden", reasons=(detail[0].text,), reasons_detail=detail,
                                        effects=(), errors=(*d.errors, problem), source=())
                           for d in decisions.values()), decisions._meta)


class Engine:
    """Loaded, compiled policies ready to evaluate. Immutable and safe to share between threads."""

    __slots__ = ("_versions", "_stores", "_adapter", "_revision", "_default", "_by_store", "_store_of",
                 "_table_limit", "_plans", "_serving", "_code_store", "_rows", "_tables", "_store_path", "_missed",
                 "_labels", "evaluate")

    evaluate: Callable[..., Decisions]
    """``evaluate(order, user, strict=False, store=None) -> Decisions``: decide every action for one order
    (see the function's own docstring). An attribute, not a method, because it is the hot path: without store
    overrides it is the generated evaluator itself."""

    def __init__(self, versions: Mapping[int, CompiledPolicy], stores: Iterable[StorePolicy] = (),
                 adapter: Adapter | None = None, revision: str = "", *, table_limit: int = TABLE_LIMIT) -> None:
        self._versions = dict(sorted(versions.items()))
        self._stores = {s.store: s for s in sorted(stores, key=lambda s: s.store)}
        self._adapter = adapter or DefaultAdapter()
        self._revision = revision
        self._table_limit = table_limit
        latest = self._versions[max(self._versions)]
        # What the evaluators share (code, untouched actions' decisions, the base's table columns), so a store's
        # evaluator costs what its override changes. Kept by the stores' builders: they are built on first use.
        cache = BuildCache()
        # an engine built while a load cache collects code (policyengine.cache) keeps reading and filling that
        # code store when it builds a store's evaluator later, on the store's first order
        self._code_store = codestore.current()
        self._default = self._bind(latest, cache)
        self._default.evaluator  # noqa: B018 - the base's, now: its columns are the ones stores share
        cache.remember_columns = False
        self._by_store = {s.store: self._bind(s, cache) for s in self._stores.values()}
        store_fact = next((f for f in latest.facts if f.name == STORE_FACT), None)
        self._store_of = self._adapter.getter(store_fact) if store_fact is not None and self._stores else None
        self._rows: dict[str, Any] = {}  # the table dispatch's rows of each store (see _evaluator)
        self._tables: dict[str, Any] = dict.fromkeys(self._by_store)  # the C batch's table of each store (_install)
        self._store_path = _store_path(self._store_of)
        self._missed: dict[Any, Any] = {}  # the store batch's misses decided, by their key (see _by_stores)
        self._labels: dict[str, str] | None = None  # action id -> its bulk label (see action_label)
        self.evaluate = self._evaluator()
        # plans are pure functions of (action, state, store, user facts): kept, bounded; made on the first plan (the
        # loader has measured every action's plan against the budget, so this cache is all planning adds)
        self._plans: PlanCache | None = None

    def _bind(self, source: CompiledPolicy | StorePolicy, cache: BuildCache) -> _Bound:
        # one closure per store and nothing else: with thousands of stores (a warm start from the cache above all)
        # the meta, like the evaluator, is made on the store's first order, and the store's policy read then
        def build() -> Evaluator:
            policy, override = (source.policy, source.override) if isinstance(source, StorePolicy) else (source, None)
            meta = DecisionsMeta({a.id: i for i, a in enumerate(policy.actions)}, policy.spec.label,
                                 override.label if override else None, self._revision)
            return codestore.within(self._code_store, functools.partial(
                build_evaluator, policy, self._adapter, meta, table_limit=self._table_limit, cache=cache))

        return _Bound(source, build)

    def warm_up(self) -> Engine:
        """Build every store's evaluator now rather than on the store's first order (each costs about a
        millisecond): for a service that wants every first request as fast as the rest, and for the load cache,
        which saves their code. Returns the engine."""
        for store, bound in self._by_store.items():
            bound.evaluator  # noqa: B018 - built and kept by the property
            self._install(store)
        return self

    # -- what is loaded -----------------------------------------------------------------------------------
    @property
    def policy(self) -> CompiledPolicy:
        """The latest version of the base policy, compiled."""
        return self._default.policy

    @property
    def name(self) -> str:
        return self._default.policy.name

    @property
    def version(self) -> int:
        """The latest base version (the default for stores that pin none)."""
        return self._default.policy.version

    @property
    def versions(self) -> tuple[int, ...]:
        """Every loaded version of the base policy, ascending."""
        return tuple(self._versions)

    @property
    def stores(self) -> tuple[str, ...]:
        """The store ids that have an override, sorted."""
        return tuple(self._stores)

    @property
    def adapter(self) -> Adapter:
        """The adapter this engine reads facts through."""
        return self._adapter

    @property
    def revision(self) -> str:
        """A SHA-256 of the policy and store override files (paths relative to the loaded directory, contents):
        which policy set decided, for audit logs. Other files (test suites, invariants) do not count."""
        return self._revision

    @property
    def actions(self) -> tuple[str, ...]:
        """Action ids of the latest base policy, in menu order."""
        return tuple(a.id for a in self.policy.actions)

    @property
    def specialised(self) -> bool:
        """Whether the latest base policy is served from a precomputed table of every fact combination."""
        return self._default.evaluator.table_size > 0

    @property
    def batch_in_c(self) -> bool:
        """Whether ``evaluate_many`` of the latest base policy runs the optional C loop (``policyengine.runtime._batch``,
        built at install when a C compiler is present; it decides exactly like the generated Python loop)."""
        return self._default.evaluator.batch_in_c

    @property
    def generated_source(self) -> str:
        """The Python source of the latest base policy's generated fast evaluator."""
        return self._default.evaluator.source

    def version_policy(self, version: int) -> CompiledPolicy:
        """A loaded base version, compiled."""
        return self._versions[version]

    def store_policy(self, store: str | None) -> CompiledPolicy:
        """The policy that decides orders of ``store`` (the base's latest version for a store with no override)."""
        bound = self._by_store.get(store) if store is not None else None
        return (bound or self._default).policy

    def store_override(self, store: str) -> StorePolicy | None:
        return self._stores.get(store)

    def declared_facts(self) -> dict[str, FactSpec]:
        """Every fact the latest version or a store's policy declares, by name (the latest version's first): what an
        order of any store may carry."""
        facts: dict[str, FactSpec] = {}
        for policy in (self.policy, *(self.store_policy(s) for s in self.stores)):
            for fact in policy.facts:
                facts.setdefault(fact.name, fact)
        return facts

    # -- deciding ----------------------------------------------------------------------------------------
    def _evaluator(self) -> Callable[..., Decisions]:
        """The ``evaluate`` of this engine. Without store overrides it is the generated function itself, so a call
        costs one Python call and nothing more (it is the hot path of every order page); with them, a closure
        held in a slot reads the store id (inlined for dicts) and calls that store's generated function."""
        default = self._default.evaluator.evaluate
        if not self._stores:
            return _documented(default)
        # each store's generated evaluate once built; until then a stub that builds it (see _Bound)
        rows: dict[str, Any] = dict.fromkeys(self._by_store)  # the table dispatch's rows of each store built
        self._rows = rows
        default_lookup = self._default.evaluator.lookup
        by_store = {store: self._first_call(store, rows, default_lookup) for store in self._by_store}
        self._serving = by_store
        read_store = fast_reader(self._store_of) if self._store_of is not None else None
        store_unknown = self._store_unknown
        store_fact = next((f for f in self.policy.facts if f.name == STORE_FACT), None)

        def check_store(store: Any) -> tuple[Any, str | None]:
            if store_fact is None:
                return store, f"expected a string, got {type(store).__name__}"
            return check_value(store_fact, store)

        def evaluate(order: Any, user: Any, strict: bool = False, store: str | None = None) -> Decisions:
            if store is None:
                if read_store is None:
                    return default(order, user, strict)  # type: ignore[no-any-return]
                try:
                    store = read_store(order, user)
                except Exception as exc:  # the adapter's own failure: fail closed
                    if store_fact is None or not store_fact.has_default or read_failure(exc) != "missing":
                        return store_unknown(default(order, user, RAW), FactProblem(STORE_FACT, read_failure(exc)),
                                             strict)
                    store = store_fact.default  # absent, with a declared default (values.py: only when missing)
            elif read_store is not None and (clash := store_mismatch(read_store, store_fact, order, user, store)):
                return store_unknown(default(order, user, RAW), clash, strict)
            if type(store) is not str:  # read, or given: only a string names a store (values.py decides the rest)
                store, message = check_store(store)
                if message:
                    return store_unknown(default(order, user, RAW), FactProblem(STORE_FACT, message), strict)
            return by_store.get(store, default)(order, user, strict)  # type: ignore[no-any-return]

        return _documented(self._table_dispatch(evaluate, rows) or evaluate)

    def _first_call(self, store: str, rows: dict[str, Any], default: TableLookup | None) -> Callable[..., Any]:
        """The stub standing for ``store``'s evaluate until its first call: builds it, puts it (and its rows, for the
        table dispatch, when they share the base's key index) in place of the stub, and decides."""

        def first(order: Any, user: Any, strict: Any = False) -> Any:
            return self._install(store).evaluate(order, user, strict)

        return first

    def _install(self, store: str) -> Evaluator:
        """``store``'s evaluator, built, put in place of its first-call stub, and its rows (when they share the
        base's key index) given to the table dispatch and the batch loop."""
        evaluator = self._by_store[store].evaluator
        self._serving[store] = evaluator.evaluate
        default = self._default.evaluator.lookup
        if default is not None and same_shape(evaluator.lookup, default):
            self._rows[store] = self._tables[store] = evaluator.lookup.rows  # type: ignore[union-attr]
        elif evaluator.store_table is not None:  # read its own way: its own shape and rows, for the C batch only
            self._tables[store] = evaluator.store_table()
        return evaluator

    def _table_dispatch(self, general: Callable[..., Decisions],
                        rows: dict[str, Any]) -> Callable[..., Decisions] | None:
        """With tabled policies read from plain dicts, a dispatch that reads the store id and the facts once and
        looks the row up in the store's rows through the one key index they share, so a call touches little
        memory of its own store (among thousands of stores, memory is what a call costs). Anything else (a store
        whose evaluator is not built yet, among others): ``general``."""
        path = inline_path(self._store_of) if self._store_of is not None else None
        default = self._default.evaluator.lookup
        if path is None or default is None:
            return None
        return build_dispatch(path, default, rows, general)

    @staticmethod
    def _store_unknown(result: Any, problem: FactProblem, strict: bool) -> Decisions:
        """The base's result for an order whose store could not be read: every action hidden (see _fail_closed)."""
        decisions, problems = (result, ()) if result.__class__ is Decisions else result
        return finish((_fail_closed(decisions, problem), (problem, *problems)), strict)  # type: ignore[no-any-return]

    def evaluate_many(self, pairs: Iterable[tuple[Any, Any]], *, strict: bool = False,
                      store: str | None = None) -> list[Decisions]:
        """:meth:`evaluate` over many ``(order, user)`` pairs, possibly of different stores, in input order.

        The whole batch runs in one loop (in C where the optional extension is built and the policies are tabled):
        no per-order call, the store dispatch included, and orders with the same facts share one Decisions object.
        """
        if self._store_of is None:
            return self._finished(self._default.evaluator.evaluate_many(pairs, strict), strict)
        return self._finished(self._by_stores(list(pairs), None, store), strict)

    def _evaluate_orders(self, orders: list[Any], user: Any, store: str | None) -> list[Decisions]:
        """:meth:`evaluate_many` of ``orders``, all for ``user``."""
        if self._store_of is None:
            return self._finished(self._default.evaluator.evaluate_orders(orders, user), False)
        return self._finished(self._by_stores(orders, user, store), False)

    def _by_stores(self, items: list[Any], user: Any, store: Any) -> tuple[list[Any], list[int]]:
        """The batch of an engine with store overrides: ``items`` are pairs (``user`` None) or orders of ``user``.
        Returns the results (a fail-closed one unfinished, as ``evaluate(..., RAW)`` gives it) and the indexes of
        those. The C loop answers the pairs whose store and facts it can read from the stores' rows; every other
        pair (any doubt about its store included) is decided by ``evaluate`` itself, so the results are its own."""
        evaluate = self.evaluate
        loop = self._default.evaluator.store_loop
        lookup = self._default.evaluator.lookup
        if loop is None or lookup is None or self._store_path is None or (store is not None and type(store) is not str):
            results = [evaluate(*(_as_pair(item) if user is None else (item, user)), RAW, store) for item in items]
            return results, [i for i, r in enumerate(results) if r.__class__ is not Decisions]
        # a store without an override is decided by the base's rows, as the dispatch decides it
        results, misses, keys = loop(items, self._tables, lookup.rows, self._store_path, user, store)
        memo, slow = self._missed, []
        for i, key in zip(misses, keys, strict=True):
            result = memo.get(key) if key is not None else None
            if result is None:
                result = evaluate(*(_as_pair(items[i]) if user is None else (items[i], user)), RAW, store)
                if key is not None and small_key((key[0], *key[1])):
                    if len(memo) >= SLOW_MEMO_CELLS:
                        memo.clear()
                    memo[key] = result
            results[i] = result
            if result.__class__ is not Decisions:
                slow.append(i)
        return results, slow

    @staticmethod
    def _finished(batch: tuple[list[Any], list[int]], strict: bool) -> list[Decisions]:
        results, slow = batch
        for i in slow:
            results[i] = finish(results[i], strict)
        return results

    def bulk(self, action: str, orders: Sequence[Any], user: Any, *, store: str | None = None,
             decisions: bool = False) -> BulkResult:
        """The bulk menu entry for ``action`` over ``orders`` (one user): which orders it applies to, and the
        others grouped by reason, with a one-line summary. Orders with bad facts are skipped with their error;
        orders of a store whose policy has no such action are skipped as not offered. With ``decisions=True`` the
        result also carries each order's :class:`Decision` for ``action`` (its effects, its reasons), from the
        same evaluation: :attr:`BulkResult.decisions`, in input order."""
        label = self.action_label(action)
        orders = orders if type(orders) is list else list(orders)  # read once, whatever kind of iterable it is
        results = self._evaluate_orders(orders, user, store)
        # Results are shared Decisions objects (one per outcome): orders are grouped by result first, so each
        # outcome is judged once, not once per order. `results` keeps every result alive, so no id is reused.
        by_result: dict[int, list[int]] = {}
        for i, key in enumerate(map(id, results)):
            try:
                by_result[key].append(i)
            except KeyError:
                by_result[key] = [i]
        groups: dict[str | None, list[int]] = {}
        per_order: list[Any] | None = [None] * len(results) if decisions else None
        for indexes in by_result.values():
            decision = self._bulk_decision(results[indexes[0]], action, label)
            groups.setdefault(why_not(decision), []).extend(indexes)
            if per_order is not None:
                for i in indexes:
                    per_order[i] = decision
        for indexes in groups.values():
            indexes.sort()  # back to input order, as several outcomes may share a reason
        result = summarise(action, label, len(results), groups, order_ids(self._adapter, orders))
        return result if per_order is None else attrs.evolve(result, decisions=tuple(per_order))

    def action_label(self, action: str) -> str:
        """The label naming ``action`` in bulk summaries: the base's, or for a store-only action its (first)
        store's. Raises ``KeyError`` (with a suggestion) for an action no loaded policy has."""
        labels = self._labels
        if labels is None:  # once per engine: bulk asks on every call, and with thousands of stores it adds up
            labels = {}
            for each in self._stores.values():  # a store's labels without its policy (a warm start restores none)
                labels.update(each.action_labels)
            labels.update((a.id, a.spec.label) for a in self.policy.actions)
            self._labels = labels
        if type(action) is not str or action not in labels:
            hint = did_you_mean(action, sorted(labels)) if type(action) is str else None
            raise KeyError(f"unknown action {describe(action)}" + (f"; {hint}" if hint else ""))
        return labels[action]

    def plan(self, action: str, user: Any, *, store: str | None = None, state: str = "enabled") -> Plan:
        """Which orders ``action`` is in ``state`` (``enabled``, ``disabled``, ``hidden`` or ``visible``) for
        ``user``, as a condition over the order's and the store's facts (the user's are substituted): a
        :class:`~policyengine.runtime.plan.Plan` that :mod:`policyengine.sql` turns into a ``WHERE`` clause. Without
        ``store`` it covers every store, each by its own policy. Exact, bad facts included: a row is in the plan's
        set exactly when ``evaluate`` decides that state for it. Raises ``KeyError`` for an unknown action and
        :class:`~policyengine.runtime.plan.PlanError` for a condition no database can decide alike."""
        from .runtime.plan import PlanCache, build_plan

        if self._plans is None:
            self._plans = PlanCache()  # a racing thread at worst makes a second, empty cache
        return build_plan(self, action, user, store=store, state=state, cache=self._plans)

    @staticmethod
    def _bulk_decision(result: Decisions, action: str, label: str) -> Decision:
        decision: Decision | None = result.get(action)
        if decision is not None:
            return decision
        unknown = [p for p in result.errors if p.fact == STORE_FACT]
        if unknown:
            detail = (store_reason(unknown[0]),)
            return Decision(action, label, "hidden", (detail[0].text,), errors=tuple(unknown), reasons_detail=detail)
        store = result.store_override.split("@")[0] if result.store_override else None
        detail = (not_offered_reason(store, f"Not offered for {f'store {store}' if store else 'this store'}."),)
        return Decision(action, label, "hidden", (detail[0].text,), reasons_detail=detail)

    def perform(self, action: str, order: Any, user: Any, *, confirm: bool = False) -> ActionEffects:
        """Decide ``action`` again and return the effects to apply, or raise ``ActionRefused`` (see perform.py)."""
        from .perform import perform
        return perform(self, action, order, user, confirm=confirm)

    def store_known(self, order: Any, user: Any = None) -> bool:
        """Whether ``order``'s store id names one of :attr:`stores` (else the base policy decides it)."""
        from .perform import store_known
        return store_known(self, order, user)

    def __repr__(self) -> str:
        stores = f", {len(self._stores)} store override(s)" if self._stores else ""
        return f"<Engine {self.name}@{self.version}: {len(self.actions)} actions{stores}>"


_EVALUATE_DOC = """Decide every action for ``order`` and ``user``: ``evaluate(order, user, strict=False, store=None)``.

The store is read from the order (the ``store.id`` fact) unless ``store`` names it. Bad facts fail closed: no action
is enabled (or shown, when its visibility is unknown) because of an error, the affected decisions say why, and
``decision.errors`` lists the problems. With ``strict=True`` a bad fact raises :class:`FactError` instead.
"""


def _as_pair(item: Any) -> tuple[Any, Any]:
    """A batch item as ``(order, user)``; one that is not a pair has no facts, ``(None, None)``: it fails closed."""
    try:
        order, user = item
    except Exception:
        return None, None
    return order, user


def _store_path(getter: Any) -> tuple[Any, ...] | None:
    """The store id's path for the C loop, ``(root, key, ...)`` (root 0 the order, 1 the user), when the adapter
    reads it by a path from either; else None."""
    path = inline_path(getter) if getter is not None else None
    if path is None or path[0] not in ("order", "user"):
        return None
    return (("order", "user").index(path[0]), *path[1:])


def _documented(evaluate: Callable[..., Decisions]) -> Callable[..., Decisions]:
    evaluate.__doc__ = _EVALUATE_DOC
    evaluate.__name__ = evaluate.__qualname__ = "evaluate"
    return evaluate
