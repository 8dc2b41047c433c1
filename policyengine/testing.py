"""Helpers for a host application's own tests (pytest), and a pytest plugin.

Snapshot the whole decision table of your policies with `syrupy <https://github.com/syrupy-project/syrupy>`_, so
any behaviour change shows up as a reviewable diff::

    # conftest.py (the root one)
    pytest_plugins = ["policyengine.testing"]

    # test_policies.py
    def test_decision_matrix(policy_matrix, snapshot):
        assert policy_matrix() == snapshot

    @pytest.mark.parametrize("store", ["acme", "globex"])
    def test_store_matrix(policy_matrix, snapshot, store):
        assert policy_matrix(store=store) == snapshot

    def test_policy_suites(policy_tests):
        policy_tests()  # runs the YAML suites; fails with expected vs actual per action

    def test_shipped_order(policy_decisions, snapshot):
        assert policy_decisions(order, user) == snapshot  # Decisions.to_dict(provenance=False), as plain data

The plugin's fixtures load the directory named by the ``policyengine_policies`` ini option (default ``policies``,
relative to the pytest root). Without the plugin, call :func:`decision_matrix` and :func:`check_suites` directly.

:func:`decision_matrix` returns plain dicts and strings only, with keys that do not depend on dict or set order
or on hashing, so the snapshot is byte-for-byte stable across runs and machines. Its default shape has one entry per
action and combination of the facts that action reads (``"order.has_shipment=true, user.role=member | reset":
"disabled (reset.deny.has-shipment) [...]"``), so a snapshot diff names the combination and the action that changed.

:func:`decisions_snapshot` (and the ``policy_decisions`` fixture) give one result's snapshot form,
``to_dict(provenance=False)``: no revision and no ``file:line:col`` positions, which change with any edit of a
policy file (a comment) and with the directory the tests run from; the conditions' text and ids stay.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import pytest

from .engine import Engine
from .errors import PolicyError, format_diagnostics
from .loader import load
from .locks import STORE_FACT
from .pipeline.compiler import CompiledPolicy
from .pipeline.model import FactSpec
from .proof.space import assignments, depends_on, finite_needed, possible_assignments
from .runtime.bulk import BulkResult
from .runtime.decision import Decision, Decisions
from .toolkit.suites import TestRun, run_suites

__all__ = ["decision_matrix", "decisions_snapshot", "format_matrix", "check_suites", "matrix_changes", "policy_decisions",
           "policy_engine", "policy_matrix", "policy_tests"]

_NO_OVERRIDE = "(no store override)"
"""The store id given to orders of a base-policy matrix: one that has no override."""


def _engine(policies: str | Path | Engine) -> Engine:
    return policies if isinstance(policies, Engine) else load(policies)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (set, frozenset, list, tuple)):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    return str(value)


def _effects(decision: Decision) -> str:
    """`` [order.status := New + restart_processing]``, or nothing without effects."""
    if not decision.effects:
        return ""
    parts = []
    for effect in decision.effects:
        bits = [f"{fact} := {_show(value)}" for fact, value in effect.set.items()]
        bits += [effect.operation] if effect.operation else []
        parts.append(" + ".join(bits))
    return " [" + ", ".join(parts) + "]"


def _cell(decision: Decision) -> str:
    """``enabled [order.status := New + restart_processing]`` or ``disabled: reason | reason [...]`` (the reasons'
    text: the ``rows`` shape)."""
    text: str = decision.state
    if decision.reasons:
        text += ": " + " | ".join(decision.reasons)
    return text + _effects(decision)


def _id_cell(decision: Decision) -> str:
    """``enabled [effects]`` or ``disabled (reset.deny.has-shipment) [effects]``: reasons by their stable ids (the
    matrix's ``reasons`` legend gives each id's text)."""
    text: str = decision.state
    if decision.reasons:
        text += " (" + ", ".join(decision.reason_ids) + ")"
    return text + _effects(decision)


def _inputs(facts: Mapping[str, FactSpec], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain ``(order, user)`` dicts the default adapter reads ``values`` (fact name -> value) from."""
    roots: dict[str, dict[str, Any]] = {"order": {}, "user": {}}
    for name, value in values.items():
        root, *path = facts[name].source
        node = roots[root]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = sorted(value) if isinstance(value, (set, frozenset)) else value
    return roots["order"], roots["user"]


def decision_matrix(policies: str | Path | Engine, *, store: str | None = None,
                    facts: Mapping[str, Any] | None = None, all_combinations: bool = False,
                    shape: Literal["decisions", "rows"] = "decisions") -> dict[str, Any]:
    """The decisions of every action for every combination of the facts a policy reads, as plain data.

    ``policies`` is a policy directory (or file) or a loaded :class:`Engine`; ``store`` picks a store override's
    policy (default: the base policy). The combinations enumerate the finite facts (enums and booleans) the policy
    reads, leaving out those its ``constraints`` rule out (``all_combinations=True`` keeps them; a constraint that
    reads a fixed fact is not applied). ``facts`` fixes values: required for the facts that cannot be enumerated
    (numbers, strings, sets) unless they declare a ``default:`` (then fixed at it, and shown in ``fixed``), optional
    for the others (``facts={"user.role": "admin"}`` gives the admin's matrix
    only).

    The result (``shape="decisions"``, the snapshot shape): ``{"policy": "order-actions@1", "store": None, "axes":
    {fact: [values]}, "fixed": {fact: value}, "actions": {id: {"label", "confirm", "destructive", "reads"}},
    "reasons": {reason id: text}, "decisions": {"order.has_shipment=true, user.role=member | reset":
    "disabled (reset.deny.has-shipment) [order.status := New + restart_processing]", ...}}``. One entry per action
    and combination of the facts **that action** reads (its ``reads``; a fact at its declared ``default:`` is left
    out of the key, so a new fact with a default adds entries and renames none), grouped by action in menu order: a change
    of one decision changes exactly one entry, whose key names the combination and the action, and the matrix
    stays small (an action that reads two facts has a handful of entries, not one per combination of every fact).
    Reasons are given by their stable ids (:mod:`policyengine.runtime.reasons`), their text once in ``reasons``;
    nothing in it depends on file positions, the revision, dict or set order or hashing.

    ``shape="rows"`` gives the earlier shape instead: ``"rows": {"<every fact>=<value>, ...": {action:
    "enabled [effects]" | "disabled: reasons [effects]" | "hidden: reason"}}`` in place of ``reasons`` and
    ``decisions``.
    """
    if shape not in ("decisions", "rows"):
        raise ValueError(f"shape must be 'decisions' or 'rows', not {shape!r}")
    engine = _engine(policies)
    if store is not None and store not in engine.stores:
        raise ValueError(f"no store override for {store!r} (stores: {', '.join(engine.stores) or 'none'})")
    policy = engine.store_policy(store)
    declared = {f.name: f for f in policy.facts}
    fixed = dict(facts or {})
    unknown = sorted(set(fixed) - set(declared))
    if unknown:
        raise ValueError(f"not facts of {policy.spec.label}: {', '.join(unknown)}")
    needed = [policy.facts[i] for i in policy.needed]
    # a number, string or set fact with a declared default is fixed at it unless given: the matrix of orders that
    # do not send it, the common case a default exists for (pass facts= to preview another value)
    fixed.update({f.name: f.default for f in needed if not f.finite and f.name not in fixed and f.has_default})
    missing = [f.name for f in needed if not f.finite and f.name not in fixed]
    if missing:
        raise ValueError(f"give a value for each fact that cannot be enumerated: facts={{{', '.join(map(repr, missing))}: ...}}")
    axes = [f for f in finite_needed(policy) if f.name not in fixed]
    combos = assignments(axes) if all_combinations else possible_assignments(policy, axes)
    if STORE_FACT in declared and STORE_FACT not in fixed:
        fixed_inputs = {**fixed, STORE_FACT: store if store is not None else _NO_OVERRIDE}
    else:
        fixed_inputs = fixed
    table: list[tuple[dict[str, Any], Decisions]] = []
    labels: dict[str, dict[str, Any]] = {}
    for combo in combos:
        order, user = _inputs(declared, {**fixed_inputs, **combo})
        decisions = engine.evaluate(order, user, store=store, strict=True)
        table.append((combo, decisions))
        for action, d in decisions.items():
            labels.setdefault(action, {"label": d.label, "confirm": d.confirm, "destructive": d.destructive})
    override = engine.store_override(store) if store is not None else None
    out: dict[str, Any] = {
        "policy": policy.spec.label if override is None else
        f"{policy.spec.label} + store override {override.override.label}",
        "store": store,
        "axes": {f.name: [_show(v) for v in f.domain] for f in axes},
        "fixed": {name: _show(value) for name, value in sorted(fixed.items())},
        "actions": labels,
    }
    if shape == "rows":
        out["rows"] = {_key(combo): {action: _cell(d) for action, d in decisions.items()} for combo, decisions in table}
        return out
    reads = _reads(policy, [f.name for f in axes], table)
    for action, meta in labels.items():
        meta["reads"] = reads[action]
    legend: dict[str, str] = {}
    entries: dict[str, str] = {}
    for action in labels:
        for combo, decisions in table:
            decision = decisions[action]
            legend.update(zip(decision.reason_ids, decision.reasons, strict=True))
            entries.setdefault(f"{_key(_keyed(declared, combo, reads[action]))} | {action}", _id_cell(decision))
    out["reasons"] = dict(sorted(legend.items()))
    out["decisions"] = entries
    return out


def _keyed(declared: Mapping[str, FactSpec], combo: Mapping[str, Any], reads: list[str]) -> dict[str, Any]:
    """The part of ``combo`` that names an entry: the facts the action reads, less those at their declared
    ``default:``. So adding a fact with a default (as a fact added to a live policy should have) keeps every key
    of the orders that do not send it, and adds lines only for its other values."""
    out = {}
    for name in reads:
        spec = declared[name]
        if not (spec.has_default and combo[name] == spec.default):
            out[name] = combo[name]
    return out


def matrix_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per entry of two :func:`decision_matrix` results (``decisions`` shape) that differs, old and new
    state side by side: ``<key>: <old> -> <new>``, with ``(none)`` for an entry only one side has. The form to
    print when a snapshot test fails, or to review an intended change."""
    before, after = old["decisions"], new["decisions"]
    keys = [*before, *(k for k in after if k not in before)]
    return [f"{key}: {before.get(key, '(none)')} -> {after.get(key, '(none)')}" for key in keys
            if before.get(key) != after.get(key)]


def _key(combo: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={_show(value)}" for name, value in combo.items()) or "(any)"


def _reads(policy: CompiledPolicy, axes: list[str], table: list[tuple[dict[str, Any], Decisions]]) -> dict[str, list[str]]:
    """For each action, the enumerated facts its decision depends on (its conditions, the named conditions and
    the actions they refer to), in axis order. Checked against the decisions themselves: should two combinations
    that agree on those facts ever decide the action differently, the action is keyed by every axis instead."""
    out: dict[str, list[str]] = {}
    for action in policy.actions:
        read = depends_on(policy, action.exprs())
        names = [name for name in axes if name in read]
        seen: dict[tuple[Any, ...], Decision] = {}
        for combo, decisions in table:
            if seen.setdefault(tuple(combo[n] for n in names), decisions[action.id]) != decisions[action.id]:
                names = list(axes)
                break
        out[action.id] = names
    return out


def format_matrix(matrix: Mapping[str, Any]) -> str:
    """A :func:`decision_matrix` as text for a single-file text snapshot. The ``decisions`` shape gives one line per
    action and combination, ``<combination> | <action>: <decision>``, so a diff line names both; the ``rows`` shape
    one line per combination followed by one indented line per action."""
    lines = [f"# {matrix['policy']}" + (f" with {matrix['fixed']}" if matrix["fixed"] else "")]
    lines += [f"# {action}: {meta['label']!r}, confirm: {meta['confirm']!r}" for action, meta in matrix["actions"].items()]
    if "decisions" in matrix:
        lines += [f"# reason {ident}: {text}" for ident, text in matrix["reasons"].items()]
        lines += [f"{key}: {cell}" for key, cell in matrix["decisions"].items()]
        return "\n".join(lines) + "\n"
    for key, cells in matrix["rows"].items():
        lines.append(key)
        lines += [f"  {action}: {cell}" for action, cell in cells.items()]
    return "\n".join(lines) + "\n"


def decisions_snapshot(result: Decisions | BulkResult, *, provenance: bool = False) -> dict[str, Any]:
    """The snapshot form of an ``evaluate`` (or ``bulk(..., decisions=True)``) result: its ``to_dict`` without
    provenance (no revision, no ``source[].where``) by default, as plain, editable dicts and lists."""
    return copy.deepcopy(result.to_dict(provenance=provenance))


def check_suites(policies: str | Path | Engine = "policies", *, suites: str | Path | None = None,
                 filters: tuple[str, ...] = ()) -> TestRun:
    """Run the YAML test suites of ``policies`` (or those in ``suites``); raise :class:`AssertionError` listing,
    for each failed case, its ``file:line`` and expected vs actual per action (as ``policyengine test`` does)."""
    from .toolkit.report import failure_text  # the CLI's wording too
    from .toolkit.suites import load_suites

    where = suites if suites is not None else policies if not isinstance(policies, Engine) else None
    if where is None:
        raise ValueError("give suites= when passing a loaded Engine")
    try:
        engine = _engine(policies)
        loaded = load_suites(engine, where)
    except PolicyError as err:  # policies or suites that do not load fail the test with the CLI's report too
        raise AssertionError(_load_report(err)) from None
    run = run_suites(engine, loaded, filters)
    failed = [r for r in run.results if not r.passed]
    if failed:
        blocks = [f"FAIL {r.case.id}  [{r.case.where}]\n{failure_text(r)}" for r in failed]
        raise AssertionError(f"{len(failed)} of {len(run.results)} policy test cases failed\n" + "\n".join(blocks))
    return run


def _load_report(err: PolicyError) -> str:
    """The report ``policyengine test`` prints for policies or suites that do not load."""
    return "the policy test suites do not load\n" + format_diagnostics(err.diagnostics)


# -- the pytest plugin ------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("policyengine_policies", "the policy directory of the policyengine.testing fixtures",
                  default="policies")


@pytest.fixture(scope="session")
def policy_engine(pytestconfig: pytest.Config) -> Engine:
    """The engine of the ``policyengine_policies`` directory (relative to the pytest root), loaded once."""
    return load(pytestconfig.rootpath / str(pytestconfig.getini("policyengine_policies")))


@pytest.fixture
def policy_matrix(policy_engine: Engine) -> Callable[..., dict[str, Any]]:
    """``policy_matrix(store=None, facts=None, all_combinations=False, shape="decisions")``: :func:`decision_matrix`
    of the plugin's policies."""

    def matrix(*, store: str | None = None, facts: Mapping[str, Any] | None = None,
               all_combinations: bool = False, shape: Literal["decisions", "rows"] = "decisions") -> dict[str, Any]:
        return decision_matrix(policy_engine, store=store, facts=facts, all_combinations=all_combinations,
                               shape=shape)

    return matrix


@pytest.fixture
def policy_decisions(policy_engine: Engine) -> Callable[..., dict[str, Any]]:
    """``policy_decisions(order, user, store=None, provenance=False)``: :func:`decisions_snapshot` of the plugin's
    engine deciding ``order`` for ``user``."""

    def decide(order: Any, user: Any, *, store: str | None = None, provenance: bool = False) -> dict[str, Any]:
        return decisions_snapshot(policy_engine.evaluate(order, user, store=store), provenance=provenance)

    return decide


@pytest.fixture
def policy_tests(policy_engine: Engine, pytestconfig: pytest.Config) -> Callable[..., TestRun]:
    """``policy_tests(*filters, suites=None)``: :func:`check_suites` on the plugin's policies."""

    def run(*filters: str, suites: str | Path | None = None) -> TestRun:
        where = suites if suites is not None else pytestconfig.rootpath / str(pytestconfig.getini("policyengine_policies"))
        return check_suites(policy_engine, suites=where, filters=filters)

    return run
