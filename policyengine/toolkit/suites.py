"""YAML policy tests: load ``kind: PolicyTestSuite`` files, check them against a loaded engine, run them.

A suite names orders and users (fixtures), and lists cases: an order, a user and, per action, the state it must be
in (optionally its reasons, the guards that fired, its effects and its confirmation). Everything a suite says is
checked against the engine before anything runs, the way policies are: an unknown fixture, action, guard, store,
order field or a fact value the policy does not declare is a :class:`~policyengine.errors.PolicyError` with a
``file:line:col`` diagnostic. Running returns plain, frozen result objects; presentation (text, JUnit XML, JSON)
is the caller's business (see :mod:`policyengine.cli.test`).

Coverage is measured with the :class:`~policyengine.runtime.interpret.Interpreter`, which records the value of every
condition: which deny guards fired in some case, which conditions were seen both true and false. A case exercises
an action's conditions only if it checks that action (lists it, or its ``default`` is not ``ignore``).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..engine import Engine
from ..errors import Diagnostic, FactProblem, PolicyError, did_you_mean
from ..loader import load, policy_files
from ..locks import STORE_FACT
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from ..pipeline.validate import SCHEMAS, validate_document
from ..pipeline.yamlsource import Document, missing, read_document
from ..proof.space import possible_assignments
from ..runtime.decision import Decision, Decisions, Effect, FrozenMap
from ..runtime.interpret import MISSING, Interpreter, check_value
from .scope import override_scope

__all__ = [
    "SUITE_KIND", "STATE_GROUPS", "Expectation", "Case", "Suite", "Mismatch", "CaseResult", "GuardCoverage",
    "ConditionCoverage", "ActionCoverage", "PolicyCoverage", "TestRun", "load_suites", "run_suites", "run_tests",
    "policy_title", "matches",
]

SUITE_KIND = "PolicyTestSuite"
"""The ``kind`` of a test suite file."""

STATE_GROUPS: Mapping[str, frozenset[str]] = {
    "enabled": frozenset({"enabled"}),
    "disabled": frozenset({"disabled"}),
    "hidden": frozenset({"hidden"}),
    "visible": frozenset({"enabled", "disabled"}),
    "unavailable": frozenset({"disabled", "hidden"}),
}
"""What each expected state accepts: the three states, ``visible`` (in the menu) and ``unavailable`` (not usable)."""

_ROW_INPUTS = ("name", "order", "user", "store")
Path_ = tuple[str | int, ...]


# -- what a suite says ------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Expectation:
    """What one action must be in one case. ``None`` fields are not checked.

    ``implicit`` expectations come from the ``default:`` rule for actions the case does not list; ``where`` is then
    the location of that rule.
    """

    action: str
    state: str | None
    """As written: enabled, disabled, hidden, visible or unavailable (see :data:`STATE_GROUPS`)."""
    reasons: tuple[str, ...] | None = None
    guards: tuple[str, ...] | None = None
    effects: tuple[Effect, ...] | None = None
    confirm: bool | str | None = None
    label: str | None = None
    where: str = ""
    implicit: bool = False
    path: tuple[str | int, ...] = attrs.field(default=(), eq=False)
    """The JSON path of the expectation in its suite file (``()`` for an implicit one): what ``test --update``
    rewrites."""

    @property
    def states(self) -> frozenset[str] | None:
        return STATE_GROUPS[self.state] if self.state is not None else None


@attrs.frozen(slots=True)
class Case:
    """One case to run (a table row is a case of its own)."""

    suite: str
    name: str
    row: str | None
    file: str
    line: int
    column: int
    order: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    """The order exactly as it is passed to ``engine.evaluate``."""
    user: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    store: str | None
    """The store named by the case or suite (passed as ``evaluate(..., store=)``), or None: the order's store.id."""
    policy_store: str | None
    """The store override that decides the case (None: the base policy)."""
    expectations: tuple[Expectation, ...]
    description: str | None = None
    path: tuple[str | int, ...] = attrs.field(default=(), eq=False)
    """The JSON path of the case (of the row, for a table row) in its suite file."""

    @property
    def id(self) -> str:
        """``suite/case``, or ``suite/case/row`` for a table row: what ``--filter`` matches."""
        return f"{self.suite}/{self.name}" + (f"/{self.row}" if self.row is not None else "")

    @property
    def title(self) -> str:
        return self.name + (f" [{self.row}]" if self.row is not None else "")

    @property
    def where(self) -> str:
        """``file:line`` of the case (of the row, for a table row)."""
        return f"{self.file}:{self.line}"


@attrs.frozen(slots=True)
class Suite:
    name: str
    file: str
    description: str | None
    cases: tuple[Case, ...]


# -- what running says ----------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Mismatch:
    """One check that failed: ``check`` is state, reasons, guards, effects, confirm or label; ``expected`` and ``actual``
    are plain values (a state name, a tuple of reasons or guard ids, a tuple of :class:`Effect`, a confirm)."""

    action: str
    check: str
    expected: Any
    actual: Any
    where: str
    implicit: bool = False
    path: tuple[str | int, ...] = attrs.field(default=(), eq=False)
    """The expectation's JSON path in the suite file (``()`` for one by the default rule)."""


@attrs.frozen(slots=True)
class CaseResult:
    case: Case
    policy: str
    """Which policy decided: ``order-actions@1``, or ``order-actions@1 + store override acme@1``."""
    decisions: Decisions = attrs.field(eq=False, repr=False)
    mismatches: tuple[Mismatch, ...]
    errors: tuple[FactProblem, ...] = ()
    """Fact problems met while deciding (the case's order or user could not be read): the case fails."""

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.errors


@attrs.frozen(slots=True)
class GuardCoverage:
    action: str
    guard: str
    where: str
    condition: str
    fired: int
    """In how many cases (checking the action) the guard fired."""
    can_fire: bool = True
    """False when no possible order (under the policy's constraints) makes it fire: a dead guard."""


@attrs.frozen(slots=True)
class ConditionCoverage:
    """A condition's outcomes over the cases run: ``conditions.can_act``, ``reset.allow``, ``reset.deny.has-shipment``,
    ``reprocess.effects[0].when``, ``archive.visible``."""

    name: str
    where: str
    condition: str
    true: int
    false: int
    possible: tuple[bool, ...] = (False, True)
    """The outcomes some possible order produces (both, when the policy reads facts that cannot be enumerated):
    ``force_delete.allow`` is only ever evaluated when the action is visible, i.e. for admins, so it is never false."""

    @property
    def covered(self) -> bool:
        """Every possible outcome was seen."""
        return (self.true > 0 or True not in self.possible) and (self.false > 0 or False not in self.possible)


@attrs.frozen(slots=True)
class ActionCoverage:
    action: str
    checked: int
    """How many cases checked the action."""
    states: tuple[str, ...]
    """The states it was seen in, in those cases (enabled, disabled, hidden order)."""


@attrs.frozen(slots=True)
class PolicyCoverage:
    """Coverage of one deciding policy: the base policy, or a store's (its override applied to the base)."""

    policy: str
    store: str | None
    cases: int
    actions: tuple[ActionCoverage, ...]
    guards: tuple[GuardCoverage, ...]
    conditions: tuple[ConditionCoverage, ...]

    @property
    def guards_fired(self) -> int:
        return sum(1 for g in self.guards if g.fired)

    @property
    def conditions_covered(self) -> int:
        return sum(1 for c in self.conditions if c.covered)

    @property
    def actions_checked(self) -> int:
        return sum(1 for a in self.actions if a.checked)


@attrs.frozen(slots=True)
class TestRun:
    """Everything one run found: the suites loaded, each case's result (in file order) and coverage per policy."""

    __test__ = False  # not a pytest test class

    suites: tuple[Suite, ...]
    results: tuple[CaseResult, ...]
    coverage: tuple[PolicyCoverage, ...]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0


def policy_title(engine: Engine, store: str | None) -> str:
    """``order-actions@1`` or ``order-actions@1 + store override acme@1``."""
    override = engine.store_override(store) if store is not None else None
    if override is None:
        return engine.policy.spec.label
    return f"{override.policy.name}@{override.base_version} + store override {override.override.label}"


def matches(case: Case, patterns: Sequence[str]) -> bool:
    """Whether ``case`` is selected by any of the glob ``patterns`` (all cases when there are none): a pattern
    matches the case's ``suite/case`` id, its ``suite/case/row`` id, or its suite's name."""
    if not patterns:
        return True
    names = {case.id, f"{case.suite}/{case.name}", case.suite}
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


# -- loading ------------------------------------------------------------------------------------------------------






class _Leaf:
    """A field value of an order or user, and where it was written."""

    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: Path_) -> None:
        self.value, self.path = value, path


class _Branch:
    """A nested mapping of fields (``store: {id: acme}``), and where it was written."""

    __slots__ = ("children", "path")

    def __init__(self, children: dict[str, _Leaf | _Branch], path: Path_) -> None:
        self.children, self.path = children, path


def _tree(data: Mapping[str, Any], path: Path_, *, top: bool = True) -> _Branch:
    children: dict[str, _Leaf | _Branch] = {}
    for key, value in data.items():
        if top and key == "fixture":
            continue
        children[key] = _tree(value, (*path, key), top=False) if isinstance(value, dict) else _Leaf(value, (*path, key))
    return _Branch(children, path)


def _merge(base: _Branch, over: _Branch) -> _Branch:
    """``over`` on top of ``base``: nested mappings merge, values replace, ``null`` drops a field."""
    children = dict(base.children)
    for key, node in over.children.items():
        if isinstance(node, _Leaf) and node.value is None:
            children.pop(key, None)
        elif isinstance(node, _Branch):
            below = children.get(key)
            children[key] = _merge(below if isinstance(below, _Branch) else _Branch({}, node.path), node)
        else:
            children[key] = node
    return _Branch(children, over.path)


def _plain(branch: _Branch) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, _Branch) else v.value for k, v in branch.children.items()}


def _find(branch: _Branch, keys: Sequence[str]) -> _Leaf | _Branch | None:
    node: _Leaf | _Branch = branch
    for key in keys:
        if not isinstance(node, _Branch) or key not in node.children:
            return None
        node = node.children[key]
    return node


class _Input:
    """An order or user being built for a case: its fields, and where the case (or row) gives it."""

    __slots__ = ("tree", "path")

    def __init__(self, tree: _Branch | None, path: Path_) -> None:
        self.tree, self.path = tree, path


_FAILED = _Input(None, ())
"""An input whose fixture could not be resolved (already diagnosed)."""


class _SuiteLoader:
    """Builds the cases of one suite document against an engine, collecting every diagnostic."""

    def __init__(self, engine: Engine, doc: Document, diagnostics: list[Diagnostic], *, accept: bool = False) -> None:
        self.engine = engine
        self.doc = doc
        self.diagnostics = diagnostics
        self.accept = accept  # loading for `test --update`: expected reasons, guards, effects may be out of date
        data = doc.data
        self.name: str = data["name"]
        fixtures = data.get("fixtures", {})
        self.fixtures: dict[str, dict[str, Any]] = {"orders": fixtures.get("orders", {}),
                                                    "users": fixtures.get("users", {})}
        self.resolved: dict[tuple[str, str], _Branch | None] = {}
        policies = [engine.policy, *(engine.store_policy(s) for s in engine.stores)]
        self.policies = policies
        self.facts: dict[tuple[str, ...], FactSpec] = {}
        for policy in policies:
            for fact in policy.facts:
                self.facts.setdefault(fact.source, fact)
        self.prefixes = {fact.source[:i] for fact in self.facts.values() for i in range(1, len(fact.source))}
        self.store_fact = next((f for f in engine.policy.facts if f.name == STORE_FACT), None)

    def error(self, path: Path_, message: str, *, hint: str | None = None, key: bool = False) -> None:
        self.diagnostics.append(self.doc.diagnostic(path, message, hint=hint, key=key))

    def where(self, path: Path_, *, key: bool = False) -> str:
        return self.doc.where(path, key=key)

    # -- fixtures -------------------------------------------------------------------------------------------
    def fixture(self, kind: str, name: str, ref: Path_, stack: tuple[str, ...]) -> _Branch | None:
        table = self.fixtures[kind]
        noun = kind[:-1]
        if name not in table:
            defined = ", ".join(table) or "none"
            self.error(ref, f"unknown {noun} fixture {name!r}",
                       hint=did_you_mean(name, table) or f"{noun} fixtures of this suite: {defined}")
            return None
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            self.error(ref, f"{noun} fixtures refer to each other in a cycle: {cycle}")
            return None
        if (kind, name) not in self.resolved:
            self.resolved[kind, name] = self.compose(kind, table[name], ("fixtures", kind, name), (*stack, name))
        return self.resolved[kind, name]

    def compose(self, kind: str, spec: Any, path: Path_, stack: tuple[str, ...] = (),
                under: _Branch | None = None) -> _Branch | None:
        """The fields ``spec`` describes: a fixture's name, or a mapping on top of its ``fixture:``s (or, with no
        ``fixture:``, on top of ``under``: a table row's order on top of its case's)."""
        if isinstance(spec, str):
            return self.fixture(kind, spec, path, stack)
        refs = spec.get("fixture")
        tree = under if refs is None and under is not None else _Branch({}, path)
        names = [(refs, (*path, "fixture"))] if isinstance(refs, str) else \
            [(n, (*path, "fixture", i)) for i, n in enumerate(refs or [])]
        ok = True
        for name, ref in names:
            found = self.fixture(kind, name, ref, stack)
            if found is None:
                ok = False
            else:
                tree = _merge(tree, found)
        return _merge(tree, _tree(spec, path)) if ok else None

    def input(self, kind: str, data: Mapping[str, Any], path: Path_, under: _Input | None = None) -> _Input | None:
        key = kind[:-1]
        if key not in data:
            return under
        spec = data[key]
        if under is _FAILED and isinstance(spec, dict) and "fixture" not in spec:
            return _FAILED  # on top of the case's, which could not be built
        tree = self.compose(kind, spec, (*path, key), under=under.tree if under is not None else None)
        return _Input(tree, (*path, key)) if tree is not None else _FAILED

    # -- cases ----------------------------------------------------------------------------------------------
    def suite(self) -> Suite:
        data = self.doc.data
        suite_store = (data["store"], ("store",)) if "store" in data else None
        suite_default = (data.get("default", "ignore"), ("default",))
        cases: list[Case] = []
        names: dict[str, int] = {}
        for i, case in enumerate(data["cases"]):
            path: Path_ = ("cases", i)
            name = case["name"]
            if name in names:
                self.error((*path, "name"), f"duplicate case name {name!r} (first at line "
                                            f"{self.doc.mark(('cases', names[name])).line})")
            names.setdefault(name, i)
            store = (case["store"], (*path, "store")) if "store" in case else suite_store
            default = (case["default"], (*path, "default")) if "default" in case else suite_default
            order, user = self.input("orders", case, path), self.input("users", case, path)
            expect = {a: (v, (*path, "expect", a)) for a, v in case.get("expect", {}).items()}
            if "table" not in case:
                built = self.case(name, None, path, store, order, user, expect, default, case.get("description"))
                cases += [built] if built is not None else []
                continue
            rows: dict[str, int] = {}
            for j, row in enumerate(case["table"]):
                row_path: Path_ = (*path, "table", j)
                label = row.get("name", f"row {j + 1}")
                if label in rows:
                    self.error((*row_path, "name"), f"duplicate row name {label!r} in case {name!r} (first at line "
                                                    f"{self.doc.mark((*path, 'table', rows[label])).line})")
                rows.setdefault(label, j)
                row_store = (row["store"], (*row_path, "store")) if "store" in row else store
                row_expect = dict(expect)
                row_expect.update({a: (v, (*row_path, a)) for a, v in row.items() if a not in _ROW_INPUTS})
                built = self.case(name, label, row_path, row_store, self.input("orders", row, row_path, order),
                                  self.input("users", row, row_path, user), row_expect, default,
                                  case.get("description"))
                cases += [built] if built is not None else []
        return Suite(self.name, self.doc.file, data.get("description"), tuple(cases))

    def case(self, name: str, row: str | None, path: Path_, store: tuple[str, Path_] | None, order: _Input | None,
             user: _Input | None, expect: dict[str, tuple[Any, Path_]], default: tuple[str, Path_],
             description: str | None) -> Case | None:
        ok = True
        for noun, given in (("order", order), ("user", user)):
            if given is None:
                self.error(path, f"{'case' if row is None else 'row'} has no {noun}",
                           hint=f"add `{noun}:` (a fixture name or a mapping of fields)")
                ok = False
        if order is None or user is None or order.tree is None or user.tree is None or not ok:
            return None
        store_id = None
        if store is not None:
            store_id, store_path = store
            if store_id not in self.engine.stores:
                loaded = ", ".join(self.engine.stores) or "none"
                self.error(store_path, f"unknown store {store_id!r}: no store override is loaded for it",
                           hint=did_you_mean(store_id, self.engine.stores) or f"stores with an override: {loaded}")
                return None
        order_tree = order.tree
        policy_store = self.store_of(order, store_id, name if row is None else f"{name}/{row}")
        if store_id is not None and self.store_fact is not None and policy_store == store_id:
            order_tree = self.with_store(order_tree, store_id)
        policy = self.engine.store_policy(policy_store)
        ok = self.check_fields(order, "order") & self.check_fields(user, "user")
        ok &= self.check_needed(policy, policy_store, order, user, need_store=store_id is None and bool(self.engine.stores))
        expectations = self.expectations(policy, policy_store, expect, default)
        if not ok or expectations is None:
            return None
        mark = self.doc.mark(path)
        return Case(self.name, name, row, self.doc.file, mark.line, mark.column, _plain(order_tree), _plain(user.tree),
                    store_id, policy_store, expectations, description, tuple(path))

    def store_of(self, order: _Input, store_id: str | None, case: str) -> str | None:
        """The store whose policy decides: the case's, else the order's store.id when it has an override."""
        if self.store_fact is None or order.tree is None:
            return store_id
        leaf = _find(order.tree, self.store_fact.source[1:])
        given = leaf.value if isinstance(leaf, _Leaf) else None
        if store_id is not None:
            if isinstance(given, str) and given != store_id and isinstance(leaf, _Leaf):
                self.error(leaf.path, f"the order's {STORE_FACT} is {given!r}, but case {case!r} is decided as store "
                                      f"{store_id!r}", hint=f"drop it from the order, or make it {store_id!r}")
            return store_id
        return given if isinstance(given, str) and given in self.engine.stores else None

    def with_store(self, tree: _Branch, store_id: str) -> _Branch:
        """The order with its store.id set to the case's store when it has none."""
        assert self.store_fact is not None
        if _find(tree, self.store_fact.source[1:]) is not None:
            return tree
        node = _Branch({self.store_fact.source[-1]: _Leaf(store_id, tree.path)}, tree.path)
        for key in reversed(self.store_fact.source[1:-1]):
            node = _Branch({key: node}, tree.path)
        return _merge(node, tree)

    # -- facts ----------------------------------------------------------------------------------------------
    def check_fields(self, given: _Input, root: str) -> bool:
        """Every field is read by some declared fact, with a value that fact accepts."""
        assert given.tree is not None
        before = len(self.diagnostics)
        self.check_branch(given.tree, (root,))
        return len(self.diagnostics) == before

    def check_branch(self, branch: _Branch, at: tuple[str, ...]) -> None:
        for key, node in branch.children.items():
            here = (*at, key)
            fact = self.facts.get(here)
            if fact is not None:
                if isinstance(node, _Branch):
                    self.error(node.path, f"{fact.name} is a {fact.type} fact; got a mapping", key=True)
                else:
                    self.check_value(fact, node)
            elif here in self.prefixes:
                if isinstance(node, _Branch):
                    self.check_branch(node, here)
                else:
                    reads = ", ".join(f.name for s, f in self.facts.items() if s[:len(here)] == here)
                    self.error(node.path, f"{'.'.join(here)} must be a mapping (the facts {reads} are read from it)")
            else:
                expected = sorted({s[len(at)] for s in (*self.facts, *self.prefixes) if len(s) > len(at) and s[:len(at)] == at})
                self.error(node.path, f"unknown {at[0]} field {'.'.join(here[1:])!r}: no declared fact reads "
                                      f"{'.'.join(here)}",
                           hint=did_you_mean(key, expected) or (f"fields read here: {', '.join(expected)}" if expected else None),
                           key=True)

    def check_value(self, fact: FactSpec, leaf: _Leaf) -> None:
        _, message = check_value(fact, leaf.value)
        if message is not None:
            hint = did_you_mean(leaf.value, fact.values) if fact.type == "enum" and isinstance(leaf.value, str) else None
            self.error(leaf.path, f"invalid value for {fact.name}: {message}", hint=hint)

    def check_needed(self, policy: CompiledPolicy, store: str | None, order: _Input, user: _Input, *,
                     need_store: bool) -> bool:
        """Every fact the deciding policy reads is given (and store.id, when it picks the store's policy)."""
        read = [policy.facts[i] for i in policy.needed]
        needed = list(read)
        if need_store and self.store_fact is not None and self.store_fact not in needed:
            needed.append(self.store_fact)
        ok = True
        title = policy_title(self.engine, store)
        for fact in needed:
            root, *keys = fact.source
            given = order if root == "order" else user
            assert given.tree is not None
            if _find(given.tree, keys) is None and not fact.has_default:  # a default fills in an absent fact
                ok = False
                why = "which picks the store's policy" if fact is self.store_fact and fact not in read \
                    else f"which {title} reads"
                hint = f"add `{_nested(keys)}` to the {root} or its fixture"
                if fact.name == STORE_FACT:
                    hint += ", or set `store:` on the case or the suite"
                self.error(given.path, f"the {root} has no field {'.'.join(keys)} (fact {fact.name}), {why}", hint=hint)
        return ok

    # -- expectations ---------------------------------------------------------------------------------------
    def expectations(self, policy: CompiledPolicy, store: str | None, expect: dict[str, tuple[Any, Path_]],
                     default: tuple[str, Path_]) -> tuple[Expectation, ...] | None:
        actions = {a.id: a for a in policy.actions}
        out: dict[str, Expectation] = {}
        ok = True
        for action_id, (raw, path) in expect.items():
            action = actions.get(action_id)
            if action is None:
                self.unknown_action(action_id, path, policy, store)
                ok = False
                continue
            built = self.expectation(action, raw, path)
            if built is None:
                ok = False
            else:
                out[action_id] = built
        rule, rule_path = default
        if rule != "ignore":
            where = self.where(rule_path)
            for action in policy.actions:
                if action.id not in out:
                    out[action.id] = Expectation(action.id, rule, where=where, implicit=True)
        if not ok:
            return None
        return tuple(out[a.id] for a in policy.actions if a.id in out)

    def unknown_action(self, action_id: str, path: Path_, policy: CompiledPolicy, store: str | None) -> None:
        whose = f"store {store}'s policy" if store is not None else policy.spec.label
        elsewhere = [s for s in self.engine.stores if any(a.id == action_id for a in self.engine.store_policy(s).actions)]
        hint = did_you_mean(action_id, [a.id for a in policy.actions])
        if hint is None and elsewhere:
            hint = f"it is an action of store {elsewhere[0]}'s policy: set `store: {elsewhere[0]}`"
        self.error(path, f"unknown action {action_id!r}: {whose} has no such action", key=True,
                   hint=hint or f"its actions: {', '.join(a.id for a in policy.actions)}")

    def expectation(self, action: CompiledAction, raw: Any, path: Path_) -> Expectation | None:
        where = self.where(path)
        if isinstance(raw, str):
            return Expectation(action.id, raw, where=where, path=tuple(path))
        before = len(self.diagnostics)
        reasons = raw.get("reasons")
        if reasons is not None and self.split_reasons(action, reasons, path):
            reasons = None  # reported once, as the YAML mistake it is (not as reasons the policy never gives)
        elif reasons is not None and not self.accept:
            possible = _possible_reasons(action)
            for i, reason in enumerate(reasons):
                if reason not in possible:
                    self.error((*path, "reasons", i), f"action {action.id!r} never gives this reason",
                               hint=did_you_mean(reason, possible, 0.5) or "its reasons: " + ", ".join(f'"{r}"' for r in possible))
        guards = raw.get("guards")
        if guards is not None and not self.accept:
            ids = [g.spec.id for g in action.guards]
            for i, guard in enumerate(guards):
                if guard not in ids:
                    self.error((*path, "guards", i), f"action {action.id!r} has no deny guard {guard!r}",
                               hint=did_you_mean(guard, ids) or (f"its guards: {', '.join(ids)}" if ids
                                                                  else "it has no deny guards"))
        effects = raw.get("effects")
        parsed: list[Effect] = []
        for i, effect in enumerate(effects or []):
            built = self.effect(action, effect, (*path, "effects", i))
            if built is not None:
                parsed.append(built)
        if len(self.diagnostics) != before:
            return None
        return Expectation(action.id, raw.get("state"), tuple(reasons) if reasons is not None else None,
                           tuple(guards) if guards is not None else None,
                           tuple(parsed) if effects is not None else None, raw.get("confirm"), raw.get("label"), where,
                           path=tuple(path))

    def split_reasons(self, action: CompiledAction, reasons: Sequence[Any], path: Path_) -> bool:
        """``reasons: [Orders over 1,000 can only ...]``: YAML ended the item at the comma. Report each reason that
        consecutive items make once joined back at their commas, with the quoted list to write; True when any."""
        possible = set(_possible_reasons(action))
        found = False
        i = 0
        while i < len(reasons):
            for j in range(len(reasons), i + 1, -1):
                parts = reasons[i:j]
                if not all(isinstance(part, str) for part in parts):
                    continue
                joined = next((sep.join(parts) for sep in (", ", ",") if sep.join(parts) in possible), None)
                if joined is not None:
                    quoted = '"' + joined.replace('"', '\\"') + '"'
                    self.error((*path, "reasons", i), f"this reason was split at its commas into {len(parts)} items "
                                                      "(a comma ends an item inside [...])",
                               hint=f"quote it: reasons: [{quoted}]")
                    found, i = True, j - 1
                    break
            i += 1
        return found

    def effect(self, action: CompiledAction, raw: Any, path: Path_) -> Effect | None:
        spec: Mapping[str, Any] = {"operation": raw} if isinstance(raw, str) else raw
        operation = spec.get("operation")
        operations = sorted({e.spec.operation for e in action.effects if e.spec.operation})
        ok = True
        if operation is not None and operation not in operations and not self.accept:
            ok = False
            self.error((*path, "operation") if not isinstance(raw, str) else path,
                       f"action {action.id!r} has no effect with operation {operation!r}",
                       hint=did_you_mean(operation, operations) or (f"its operations: {', '.join(operations)}"
                                                                     if operations else "it has no operations"))
        assigned = {pair for e in action.effects for pair in e.spec.set}
        facts = {f.name: f for f in self.policies[0].facts} | {f.name: f for p in self.policies for f in p.facts}
        for name, value in spec.get("set", {}).items():
            at = (*path, "set", name)
            fact = facts.get(name)
            if fact is None:
                ok = False
                self.error(at, f"undeclared fact {name!r}", key=True, hint=did_you_mean(name, facts))
                continue
            _, message = check_value(fact, value)
            if message is not None:
                ok = False
                hint = did_you_mean(value, fact.values) if fact.type == "enum" and isinstance(value, str) else None
                self.error(at, f"invalid value for {name}: {message}", hint=hint)
            elif (name, value) not in assigned and not self.accept:
                ok = False
                sets = ", ".join(f"{n}: {v}" for n, v in sorted(assigned, key=str)) or "nothing"
                self.error(at, f"action {action.id!r} never sets {name} to {value!r}", hint=f"it sets {sets}")
        return Effect(FrozenMap(spec.get("set", {})), operation) if ok else None


def _nested(keys: Sequence[str]) -> str:
    """How to write a field at ``keys`` in YAML: ``status: ...``, ``store: {manual_fulfillment: ...}``."""
    text = f"{keys[-1]}: ..."
    for key in reversed(keys[:-1]):
        text = f"{key}: {{{text}}}"
    return text


def _possible_reasons(action: CompiledAction) -> list[str]:
    """Every reason ``action`` can give for a valid order (fact errors aside)."""
    spec = action.spec
    reasons = []
    if spec.visible.text != "true":
        reasons.append(spec.hidden_reason or f"not shown: `{spec.visible.text}` is false")
    if spec.allow.text != "true":
        reasons.append(spec.allow_reason or f"not allowed: `{spec.allow.text}` is false")
    reasons += [g.spec.reason for g in action.guards]
    return list(dict.fromkeys(reasons))


def _suite_documents(path: Path, diagnostics: list[Diagnostic]) -> list[Document]:
    files = policy_files(path)
    docs = []
    for file in files:
        try:
            doc = read_document(file)
        except PolicyError as err:
            diagnostics += err.diagnostics
            continue
        kind = doc.data.get("kind")
        if kind != SUITE_KIND and isinstance(kind, str) and kind in SCHEMAS:  # a policy or an override: not ours
            if not path.is_dir():
                diagnostics.append(doc.diagnostic(("kind",) if kind is not None else (),
                                                  f"not a test suite (kind {kind!r}); expected kind {SUITE_KIND}"))
            continue
        problems = validate_document(doc)
        diagnostics += problems
        if not problems:
            docs.append(doc)
    return docs


def load_suites(engine: Engine, path: str | Path, *, accept: bool = False) -> tuple[Suite, ...]:
    """The test suites in ``path`` (a directory, searched recursively, or one file), checked against ``engine``.

    Raises :class:`PolicyError` with every problem found: YAML and schema errors, unknown fixtures, actions,
    guards, stores, order and user fields, fact values the policy does not accept, duplicate names. With
    ``accept`` (``test --update``), expected reasons, guard ids and effects the policy no longer gives are not
    refused: they are about to be replaced by what the policy does, so they load and fail as mismatches.
    """
    root = Path(path)
    diagnostics: list[Diagnostic] = []
    absent = missing(root)
    if absent is not None:
        raise PolicyError([Diagnostic(str(path), 1, 1, absent)])
    docs = _suite_documents(root, diagnostics)
    if not docs and not diagnostics:
        diagnostics.append(Diagnostic(str(path), 1, 1, f"no test suites (kind: {SUITE_KIND}) found"))
    suites: list[Suite] = []
    first: dict[str, Document] = {}
    for doc in docs:
        name = doc.data["name"]
        if name in first:
            diagnostics.append(doc.diagnostic(("name",), f"a second suite named {name!r} (first in {first[name].file})",
                                              hint="suite names are unique: they prefix the case ids"))
            continue
        first[name] = doc
        suites.append(_SuiteLoader(engine, doc, diagnostics, accept=accept).suite())
    if diagnostics:
        raise PolicyError(diagnostics)
    return tuple(suites)


# -- running ------------------------------------------------------------------------------------------------------


def _compare(expectation: Expectation, decision: Decision) -> list[Mismatch]:
    out = []

    def miss(check: str, expected: Any, actual: Any) -> None:
        out.append(Mismatch(expectation.action, check, expected, actual, expectation.where, expectation.implicit,
                            expectation.path))

    states = expectation.states
    if states is not None and decision.state not in states:
        miss("state", expectation.state, decision.state)
    if expectation.reasons is not None and Counter(expectation.reasons) != Counter(decision.reasons):
        miss("reasons", expectation.reasons, decision.reasons)
    if expectation.guards is not None:
        fired = tuple(s.id for s in decision.source if s.kind == "guard" and s.id is not None)
        if set(expectation.guards) != set(fired):
            miss("guards", expectation.guards, fired)
    if expectation.effects is not None and Counter(expectation.effects) != Counter(decision.effects):
        miss("effects", expectation.effects, decision.effects)
    confirm = expectation.confirm
    if confirm is not None:
        wrong = (decision.confirm is None) if confirm is True else (decision.confirm is not None) if confirm is False \
            else decision.confirm != confirm
        if wrong:
            miss("confirm", confirm, decision.confirm)
    if expectation.label is not None and decision.label != expectation.label:
        miss("label", expectation.label, decision.label)
    return out


class _Tally:
    """Coverage counts for one deciding policy."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.interpreter = Interpreter(policy)
        self.cases = 0
        self.checked: Counter[str] = Counter()
        self.states: dict[str, set[str]] = {a.id: set() for a in policy.actions}
        self.outcomes: dict[int, Counter[bool]] = {}
        self.possible = _possible_outcomes(policy, self.interpreter)

    def record(self, case: Case) -> None:
        self.cases += 1
        values = {}
        for i in self.policy.needed:
            fact = self.policy.facts[i]
            root, *keys = fact.source
            node: Any = case.order if root == "order" else case.user
            for key in keys:
                node = node.get(key, MISSING) if isinstance(node, Mapping) else MISSING
            values[fact.name] = node
        decisions, env = self.interpreter.evaluate(values)
        checked = {e.action for e in case.expectations}
        for expr in self.policy.conditions.values():
            self.outcome(expr, env)
        for action in self.policy.actions:
            if action.id not in checked:
                continue
            self.checked[action.id] += 1
            self.states[action.id].add(decisions[action.id].state)
            for expr in action.exprs():
                self.outcome(expr, env)

    def outcome(self, expr: CompiledExpr, env: Mapping[Any, Any]) -> None:
        value = env.get(id(expr))
        if isinstance(value, bool):
            self.outcomes.setdefault(id(expr), Counter())[value] += 1

    def count(self, expr: CompiledExpr, value: bool) -> int:
        return self.outcomes.get(id(expr), Counter())[value]

    def outcomes_of(self, expr: CompiledExpr) -> tuple[bool, ...]:
        if self.possible is None:
            return (False, True)
        return tuple(sorted(self.possible.get(id(expr), set())))

    def result(self, title: str, store: str | None) -> PolicyCoverage:
        policy = self.policy
        actions = tuple(ActionCoverage(a.id, self.checked[a.id],
                                       tuple(s for s in ("enabled", "disabled", "hidden") if s in self.states[a.id]))
                        for a in policy.actions)
        guards = tuple(GuardCoverage(a.id, g.spec.id, g.when.where, g.when.text, self.count(g.when, True),
                                     True in self.outcomes_of(g.when))
                       for a in policy.actions for g in a.guards)
        named: list[tuple[str, CompiledExpr]] = [(f"conditions.{n}", e) for n, e in policy.conditions.items()]
        for a in policy.actions:
            named += [(f"{a.id}.visible", a.visible), (f"{a.id}.allow", a.allow)]
            named += [(f"{a.id}.deny.{g.spec.id}", g.when) for g in a.guards]
            named += [(f"{a.id}.effects[{i}].when", e.when) for i, e in enumerate(a.effects) if e.when is not None]
        conditions = tuple(ConditionCoverage(name, e.where, e.text, self.count(e, True), self.count(e, False),
                                             self.outcomes_of(e))
                           for name, e in named if _reads_anything(e))
        return PolicyCoverage(title, store, self.cases, actions, guards, conditions)


def _possible_outcomes(policy: CompiledPolicy, interpreter: Interpreter) -> dict[int, set[bool]] | None:
    """Each condition's outcomes over every possible combination of the facts the policy reads (None when one of
    them is not finite: a number, a string). Conditions of a hidden action are not evaluated, as when deciding."""
    if any(not policy.facts[i].finite for i in policy.needed):
        return None
    seen: dict[int, set[bool]] = {}
    for values in possible_assignments(policy):
        _, env = interpreter.evaluate(values)
        for key, value in env.items():
            if isinstance(key, int) and isinstance(value, bool):
                seen.setdefault(key, set()).add(value)
    return seen


def _reads_anything(expr: CompiledExpr) -> bool:
    """Constant conditions (``visible`` left at its default ``true``) have no outcomes to cover."""
    return bool(expr.facts or expr.conditions or expr.actions)


def run_suites(engine: Engine, suites: Sequence[Suite], filters: Sequence[str] = ()) -> TestRun:
    """Run the cases of ``suites`` selected by ``filters`` (globs, see :func:`matches`) against ``engine``."""
    keys: list[str | None] = [None, *engine.stores]
    tallies = {key: _Tally(engine.store_policy(key)) for key in keys}
    results = []
    for suite in suites:
        for case in suite.cases:
            if not matches(case, filters):
                continue
            decisions = engine.evaluate(case.order, case.user, store=case.store)
            mismatches = [m for e in case.expectations for m in _compare(e, decisions[e.action])]
            results.append(CaseResult(case, policy_title(engine, case.policy_store), decisions, tuple(mismatches),
                                      decisions.errors))
            tallies[case.policy_store].record(case)
    coverage = tuple(_scoped(engine, key, tallies[key].result(policy_title(engine, key), key)) for key in keys)
    return TestRun(tuple(suites), tuple(results), coverage)


def _scoped(engine: Engine, store: str | None, coverage: PolicyCoverage) -> PolicyCoverage:
    """A store's coverage counts what its override changes (see :mod:`.scope`); the base's suite covers the base."""
    override = engine.store_override(store) if store is not None else None
    if override is None:
        return coverage
    scope = override_scope(override.policy, override.override)
    return attrs.evolve(coverage, actions=tuple(a for a in coverage.actions if a.action in scope.actions),
                        guards=tuple(g for g in coverage.guards if (g.action, g.guard) in scope.guards),
                        conditions=tuple(c for c in coverage.conditions if c.name in scope.conditions))


def run_tests(path: str | Path = "policies", *, suites: str | Path | None = None,
              filters: Sequence[str] = ()) -> TestRun:
    """Load the policies at ``path`` and run the test suites found there (or in ``suites``)."""
    engine = load(path)
    return run_suites(engine, load_suites(engine, suites if suites is not None else path), filters)
