"""Query plans without a database (issue 12): ``Engine.plan``'s kinds, states, JSON form, errors, the CLI, and plans
through store overrides, pins and versions.

Exactness is checked here with :func:`policyengine.runtime.plan.holds`, a reference evaluator of plan conditions
with SQL's NULL logic, against ``engine.evaluate`` over fact combinations including bad values (the database
versions of the same checks are in test_sql_plans.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

import policyengine
from policyengine import Plan, PlanError
from policyengine.runtime.plan import FALSE, holds

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
MEMBER, ADMIN, VIEWER = {"role": "member"}, {"role": "admin"}, {"role": "viewer"}
STATES = ("enabled", "disabled", "hidden", "visible")


@pytest.fixture(scope="module")
def shipped() -> policyengine.Engine:
    return policyengine.load(POLICIES)


def _order(engine: policyengine.Engine, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Nested order dict of flat ``facts`` (absent = missing), following each fact's source."""
    specs = {f.name: f for s in (None, *engine.stores) for f in engine.store_policy(s).facts}
    order: dict[str, Any] = {}
    for name, value in facts.items():
        node = order
        *parents, leaf = specs[name].source[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return order


def _state(decisions: policyengine.Decisions, action: str) -> str:
    decision = decisions.get(action)
    return decision.state if decision is not None else "hidden"


def assert_exact(engine: policyengine.Engine, domains: Mapping[str, Sequence[Any]], users: Sequence[Any],
                 stores: Sequence[str | None] = (None,)) -> int:
    """For every combination of ``domains`` (fact -> values; ``...`` = missing), every action, state, user and
    store: ``holds(plan.condition)`` is true exactly when ``evaluate`` decides that state, and never unknown."""
    names = list(domains)
    combos = [dict((n, v) for n, v in zip(names, values, strict=True) if v is not ...)
              for values in itertools.product(*domains.values())]
    actions = sorted({a.id for s in (None, *engine.stores) for a in engine.store_policy(s).actions})
    checked = 0
    for user, store in itertools.product(users, stores):
        decided = [engine.evaluate(_order(engine, facts), user, store=store) for facts in combos]
        for action, target in itertools.product(actions, STATES):
            plan = engine.plan(action, user, store=store, state=target)
            for facts, decisions in zip(combos, decided, strict=True):
                state = _state(decisions, action)
                want = state != "hidden" if target == "visible" else state == target
                got = holds(plan.condition, facts)
                assert got is want, (plan.action, target, user, store, facts, state, decisions.get(action))
                checked += 1
    return checked


def test_shipped_policies_exact_over_every_combination(shipped: policyengine.Engine) -> None:
    """The decisive statuses (every status is covered in the database test), bad values of every fact."""
    statuses = ["New", "Pending", "Open", "Partially Shipped", "Shipped", "Error", "Archived", "Abandoned"]
    domains = {"order.status": [*statuses, None, "Shiped", 3, ...], "order.has_shipment": [True, False, None, 1],
               "order.sent_to_warehouse": [True, False, "yes"], "store.id": ["acme", "globex", "other", None, 5, ...],
               "store.manual_fulfillment": [True, False, None], "order.channel": ["amazon", "shopify", "fax", ...]}
    some = {k: v[::3] if k in ("order.status", "store.id") else v[:2] for k, v in domains.items()}
    assert assert_exact(shipped, some, [ADMIN, MEMBER, VIEWER, {"role": "root"}, None]) > 10_000
    bad = {**domains, "order.status": ["Open", "Shipped", None, "Shiped"], "store.id": ["acme", "globex", None, 5, ...],
           "store.manual_fulfillment": [True, None], "order.channel": ["amazon", "shopify", ...]}
    assert assert_exact(shipped, bad, [MEMBER], stores=(None, "acme", "nowhere")) > 100_000


def test_kinds_and_shortcuts(shipped: policyengine.Engine) -> None:
    never = shipped.plan("force_delete", MEMBER)
    assert (never.kind, never.condition, never.facts) == ("never", FALSE, ())
    always = shipped.plan("force_delete", ADMIN, store="acme", state="visible")  # but for another store's rows
    assert (always.kind, always.facts) == ("conditional", ("store.id",))
    assert holds(always.condition, {"store.id": "acme"}) and not holds(always.condition, {"store.id": "globex"})
    hidden = shipped.plan("force_delete", ADMIN, store="globex", state="hidden")  # globex hides it, and another
    assert all(holds(hidden.condition, {"store.id": s}) for s in ("globex", "acme"))  # store's row fails closed
    assert shipped.plan("reset", VIEWER, state="enabled").kind == "never"
    assert shipped.plan("reset", {"role": "root"}, store="acme", state="hidden").facts == ("store.id",)  # bad user fact:
    assert shipped.plan("reset", {"role": "root"}, state="hidden").facts == ("store.id",)  # shown, disabled
    assert shipped.plan("reset", {"role": "root"}, store="acme", state="disabled").facts == ("store.id",)  # or mismatch
    every = shipped.plan("force_delete", ADMIN, state="visible")
    assert every.kind == "conditional" and every.facts == ("store.id",)  # globex hides it; a bad store.id too
    reset = shipped.plan("reset", MEMBER)
    assert reset.kind == "conditional" and reset.facts == ("order.has_shipment", "store.id")
    assert isinstance(reset, Plan) and (reset.action, reset.state, reset.store) == ("reset", "enabled", None)


def test_to_dict_is_json_ready(shipped: policyengine.Engine, tmp_path: Path) -> None:
    data = shipped.plan("edit", MEMBER, store="acme").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "action": "edit", "state": "enabled", "store": "acme", "kind": "conditional",
        "facts": ["order.status", "store.id"], "policies": ["acme: order-actions@1 + acme@1"],
        "condition": {"op": "and", "args": [
            {"op": "not", "args": [{"op": "and", "args": [  # a row of another store fails closed (store-mismatch)
                {"op": "valid", "fact": {"op": "fact", "name": "store.id", "type": "string"}},
                {"op": "not", "args": [{"op": "==", "args": [{"op": "fact", "name": "store.id", "type": "string"},
                                                               {"op": "value", "type": "string", "value": "acme"}]}]}]}]},
            {"op": "valid", "fact": {"op": "fact", "name": "order.status", "type": "enum",
                                     "values": list(shipped.policy.facts[0].values)}},
            {"op": "not", "args": [{"op": "in", "args": [
                {"op": "fact", "name": "order.status", "type": "enum", "values": list(shipped.policy.facts[0].values)},
                {"op": "value", "type": "list", "value": ["Partially Shipped", "Shipped"]}]}]}]}}
    (tmp_path / "n.yaml").write_text(_policy({"order.n": "number"}, {"big": "order.n * 2 > 0.1 + user.n"},
                                             extra_facts={"user.n": "number"}))
    number = policyengine.load(tmp_path / "n.yaml").plan("big", {"n": 1}).to_dict()["condition"]
    assert {"op": "value", "type": "number", "value": "1.1"} in number["args"][-1]["args"]  # exact, as text


def test_errors(shipped: policyengine.Engine, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown action 'reste'; did you mean 'reset'"):
        shipped.plan("reste", MEMBER)
    with pytest.raises(ValueError, match="unknown state 'shown'"):
        shipped.plan("reset", MEMBER, state="shown")
    assert isinstance(PlanError("x"), policyengine.PolicyError)
    (tmp_path / "n.yaml").write_text(_policy({"order.n": "number"}, {"nested": "(order.n / 2 > 1 or true) == true"}))
    with pytest.raises(PlanError, match=r"a computation that can fail \(/\) inside `or` nested in a comparison"):
        policyengine.load(tmp_path / "n.yaml").plan("nested", {})


def test_computations_that_fail(tmp_path: Path) -> None:
    """Division, ``//``, ``%``, ``**`` over order facts and regexes over order strings: where evaluate's computation
    fails (a division by zero, a quotient past 28 digits, a subject past 4,096 characters) the condition is unknown
    and the plan fails closed alike; a failure among the user's facts alone is reached only where the order's facts
    are good."""
    actions = {"div": "order.n / order.m > 1", "fdiv": "order.n // order.m == -3", "mod": "order.n % order.m < 0",
               "pow": "order.m ** order.n > 1", "mixed": "order.n > user.n / 0", "ok": "user.n / 0 > 1",
               "rx": "order.s =~ 'a+b' or order.n > 1", "rxs": "order.s =~~ '[0-9]$' and order.m / order.n >= 0",
               "neg": "-order.n * 3 == -0.3"}
    (tmp_path / "d.yaml").write_text(_policy({"order.n": "number", "order.m": "number", "order.s": "string"}, actions,
                                             extra_facts={"user.n": "number"}))
    engine = policyengine.load(tmp_path / "d.yaml")
    domains = {"order.n": [0, -7, 2, 0.1, 10**40, None], "order.m": [0, 2, -0.5, 1e-30, "x"],
               "order.s": ["aab", "x1", "a" * 5000, "ab\n", None]}
    assert assert_exact(engine, domains, [{"n": 1}, {"n": "bad"}]) > 10_000
    assert engine.evaluate({"n": 5}, {"n": 1})["ok"].state == "disabled"
    assert engine.plan("ok", {"n": 1}, state="disabled").kind == "always"
    skipped = engine.bulk("div", [{"n": 1, "m": 0}, {"n": 0, "m": 0}], {}).skipped
    assert [g.reason.split(" failed: ")[1] for g in skipped] == [  # type: ignore[union-attr]
        "DivisionByZero([<class 'decimal.DivisionByZero'>])", "InvalidOperation([<class 'decimal.DivisionUndefined'>])"]
    assert skipped[0].reason.startswith("could not be decided: order.m, order.n: `order.n / order.m > 1` (")  # type: ignore[union-attr]


def test_an_action_read_for_its_visibility_alone_is_trusted_however_spelled(tmp_path: Path) -> None:
    """Under another action's errors, an atom that reads only its visibility is known, however it is spelled
    (``actions.a.hidden == false`` as ``not actions.a.hidden``), as evaluate decides; one reading its enabled state
    is unknown. (Plans trusted only a bare ``actions.a.visible``/``hidden``.)"""
    actions = {"a": "order.y > 0", "b": "actions.a.hidden == false", "c": "not actions.a.hidden",
               "d": "actions.a.enabled == false", "e": "actions.a.visible == actions.a.hidden or order.y > 5"}
    (tmp_path / "t.yaml").write_text(_policy({"order.y": "number"}, actions))
    engine = policyengine.load(tmp_path / "t.yaml")
    assert assert_exact(engine, {"order.y": [1, 0, 9, None, "x", ...]}, [{}]) == 5 * 4 * 6
    assert [engine.plan(a, {}).kind for a in "bcd"] == ["always", "always", "conditional"]


def _policy(facts: Mapping[str, str], actions: Mapping[str, str], *, extra_facts: Mapping[str, str] | None = None,
            version: int = 1, guards: Mapping[str, str] | None = None) -> str:
    lines = ["apiVersion: policyengine/v1", "kind: ActionPolicy", "name: p", f"version: {version}", "facts:"]
    for name, kind in {**facts, **(extra_facts or {}), "store.id": "string"}.items():
        lines.append(f"  {name}: {{type: {kind}}}" if kind != "enum" else f"  {name}: {{type: enum, values: [a, b]}}")
    lines.append("actions:")
    for action, allow in actions.items():
        lines += [f"  {action}:", f"    label: {action.title()}", f'    allow: "{allow}"']
        if guards and action in guards:
            lines += ["    deny:", "      - id: g", f'        when: "{guards[action]}"', "        reason: No."]
    return "\n".join(lines) + "\n"


def _override(store: str, base_version: int, extra: str) -> str:
    return (f"apiVersion: policyengine/v1\nkind: StoreOverride\nstore: {store}\nversion: 1\n"
            f"base:\n  policy: p\n  version: {base_version}\n{extra}")


def test_overrides_pins_and_versions(tmp_path: Path) -> None:
    """s1 pins version 1 and adds a guard; s2 runs on the latest (2) and hides `go`; other stores get version 2."""
    facts = {"order.e": "enum", "order.b": "bool", "order.n": "number"}
    (tmp_path / "v1.yaml").write_text(_policy(facts, {"go": "order.e == 'a'", "stop": "true"}))
    (tmp_path / "v2.yaml").write_text(_policy(facts, {"go": "order.e == 'a'", "stop": "true"}, version=2,
                                              guards={"go": "order.n > 2"}))
    (tmp_path / "stores").mkdir()  # store overrides live under stores/ (the trusted layout)
    (tmp_path / "stores" / "s1.yaml").write_text(_override("s1", 1, "  pin: 1\nactions:\n  go:\n    deny:\n      - id: s1\n"
                                                         "        when: order.b\n        reason: Not in s1.\n"))
    (tmp_path / "stores" / "s2.yaml").write_text(_override("s2", 2, "actions:\n  go:\n    hidden: true\n"))
    engine = policyengine.load(tmp_path)
    plan = engine.plan("go", {})
    assert plan.policies == ("s1: p@1 + s1@1", "s2: p@2 + s2@1", "*: p@2")
    assert plan.facts == ("order.b", "order.e", "order.n", "store.id")
    assert engine.plan("go", {}, store="s1").facts == ("order.b", "order.e", "store.id")  # v1: no order.n guard;
    # store.id: a row of another store fails closed (store-mismatch)
    assert engine.plan("go", {}, store="s2").kind == "never"
    assert engine.plan("go", {}, store="s3").policies == ("s3: p@2",)
    domains = {"order.e": ["a", "b", "z", None], "order.b": [True, False, None], "order.n": [0, 2.5, 3, "x", None],
               "store.id": ["s1", "s2", "s3", None, 1]}
    assert_exact(engine, domains, [{}], stores=(None, "s1", "s2", "s3"))


def test_every_fact_type_and_construct(tmp_path: Path) -> None:
    """Strings, numbers, sets, arithmetic, ternaries, named conditions and action references, with user facts."""
    text = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: p
version: 1
facts:
  order.s: {type: string}
  order.n: {type: number}
  order.t: {type: set}
  order.e: {type: enum, values: [a, b]}
  user.n: {type: number}
  user.tag: {type: string}
conditions:
  tagged: "user.tag in order.t or order.t.length > 2"
actions:
  first:
    label: First
    visible: "order.s.length >= 1 ? order.s < 'n' : order.e == 'a'"
    allow: "tagged and order.n * 2 >= user.n"
    deny:
      - {id: neg, when: "-order.n > 5", reason: Negative.}
    effects:
      - {when: "'x' in order.s", operation: note}
  second:
    label: Second
    visible: actions.first.visible
    allow: "actions.first.enabled or order.n in [1, 2.5]"
"""
    (tmp_path / "p.yaml").write_text(text)
    engine = policyengine.load(tmp_path / "p.yaml")
    domains = {"order.s": ["", "abc", "xyz", None], "order.n": [-10, 1, 2.5, None, float("inf")],
               "order.t": [["v"], ["a", "b", "c"], ["a", "a", "a"], ["v", 1], "v"], "order.e": ["a", "c", None]}
    assert_exact(engine, domains, [{"n": 2, "tag": "v"}, {"n": 0.2, "tag": "w"}, {"tag": "v"}, {"n": 1, "tag": 3}])


# -- the CLI -----------------------------------------------------------------------------------------------------
def test_cli_text_json_sql(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "plan", str(POLICIES), "edit", "--user", '{"role": "member"}', "--store", "acme")
    assert code == 0
    assert out == ("edit is enabled for this user (store acme): conditional\n"
                   "  policy acme: order-actions@1 + acme@1\n"
                   "  when (not (valid(store.id) and (not (store.id == 'acme')))) and valid(order.status) and "
                   "(not (order.status in ['Partially Shipped', 'Shipped']))\n")
    code, out, _ = run_cli(capsys, "plan", str(POLICIES), "force_delete", "--user", '{"role": "viewer"}')
    assert code == 0 and out.splitlines()[0] == "force_delete is enabled for this user (every store): never"
    _, out, _ = run_cli(capsys, "plan", str(POLICIES), "reset", "--user", '{"role": "member"}', "--format", "json")
    data = json.loads(out)
    assert data["kind"] == "conditional" and data["facts"] == ["order.has_shipment", "store.id"]
    _, out, _ = run_cli(capsys, "plan", str(POLICIES), "reset", "--user", '{"role": "member"}', "--store", "acme",
                        "--format", "sql")
    assert out == ("WHERE NOT ((typeof(orders.store_id) = 'text') = 1 AND ((orders.store_id) COLLATE BINARY) != ('acme')) "
                   "AND (typeof(orders.has_shipment) = 'integer' AND orders.has_shipment IN (0, 1)) = 1 "
                   "AND ((orders.has_shipment) = 1) = 0\n")
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"order.has_shipment": "o.shipped", "store.id": "o.store"}))
    _, out, _ = run_cli(capsys, "plan", str(POLICIES), "reset", "--user", '{"role": "member"}', "--store", "acme",
                        "--format", "sql", "--dialect", "postgresql", "--columns", str(columns))
    assert out == ("-- string literals assume standard_conforming_strings = on\n"
                   "WHERE NOT ((o.store IS NOT NULL) AND ((o.store) COLLATE \"C\") != ('acme')) "
                   "AND (o.shipped IS NOT NULL) AND NOT ((o.shipped) IS TRUE)\n")


def test_cli_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "plan", str(POLICIES), "reste", "--user", "{}")
    assert code == 2 and "unknown action 'reste'; did you mean 'reset'?" in err
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"order.status": "status"}))
    code, _, err = run_cli(capsys, "plan", str(POLICIES), "reset", "--user", '{"role": "admin"}', "--format", "sql",
                           "--columns", str(columns))
    assert code == 2 and "no column given for facts order.has_shipment, store.id" in err
    (tmp_path / "d.yaml").write_text(_policy({"order.n": "number"}, {"div": "(order.n // 2 > 1 or true) == true",
                                                                  "ok": "order.n // 2 > 1"}))
    code, _, err = run_cli(capsys, "plan", str(tmp_path / "d.yaml"), "div", "--user", "{}")
    assert code == 1 and err.startswith("cannot plan: cannot plan `(order.n // 2 > 1 or true) == true`")
    code, out, _ = run_cli(capsys, "plan", str(tmp_path / "d.yaml"), "ok", "--user", "{}")
    assert code == 0 and "valid(order.n) and succeeds(order.n // 2) and ((order.n // 2) > 1)" in out


def test_plans_are_cached_per_user_facts(shipped: policyengine.Engine) -> None:
    """A plan is a pure function of (action, state, store, the user's facts as read): the engine keeps it, and a
    user whose facts read differently (another role, a bad value, 1 against True) gets its own."""
    first = shipped.plan("reset", {"role": "member", "name": "x"})
    assert shipped.plan("reset", {"role": "member", "name": "y"}) is first  # facts the policy does not read
    assert shipped.plan("reset", {"role": "admin"}) is not first
    assert shipped.plan("reset", {"role": "member"}, state="hidden") != first
    assert shipped.plan("reset", {"role": ["member"]}).condition != first.condition  # a bad role: unhashable, built
    assert shipped.plan("reset", {"role": ["member"]}) == shipped.plan("reset", {"role": ["member"]})


def _wide(n: int) -> str:
    """A policy over ``n`` bool facts: ``go`` is visible to admins or where one holds, ``stop`` allowed where every
    one does (a named condition)."""
    anyone = " or ".join(f"order.h{i}" for i in range(n))
    every = " and ".join(f"order.h{i}" for i in range(n))
    facts = "".join(f"  order.h{i}: {{type: bool}}\n" for i in range(n))
    return (f"apiVersion: policyengine/v1\nkind: ActionPolicy\nname: p\nversion: 1\nfacts:\n{facts}"
            f"  user.role: {{type: enum, values: [admin, member]}}\nconditions:\n  every: \"{every}\"\n"
            f"actions:\n  go:\n    label: Go\n    visible: \"user.role == 'admin' or ({anyone})\"\n    allow: \"true\"\n"
            f"  stop:\n    label: Stop\n    allow: \"every\"\n")


def _reason(plan: Any, facts: Mapping[str, Any]) -> str | None:
    """The reason of the first branch of a reasons plan that holds over ``facts`` (None: the action applies)."""
    from policyengine.runtime.plan import Failure, Problem, problem_text

    for node, reason in plan.branches:
        if holds(node, facts):
            if isinstance(reason, Problem):
                return problem_text(reason, facts.get(reason.fact.name))
            return reason.text(facts) if isinstance(reason, Failure) else reason
    return None


def test_reasons_of_a_wide_and_or_are_linear_and_exact(tmp_path: Path) -> None:
    """Issue 21: the reasons plan of an ``or`` (and an ``and``) of n facts grows by the same nodes for every fact
    added (each problem is not gated by every other operand), and gives, row by row, the reason bulk gives."""
    from policyengine.runtime.plan import build_reasons, tree_size

    for action in ("go", "stop"):
        sizes = []
        for n in (10, 20, 40):
            (tmp_path / "p.yaml").write_text(_wide(n))
            plan = build_reasons(policyengine.load(tmp_path / "p.yaml"), action, {"role": "member"})
            sizes.append(tree_size(plan.branches))
        assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0]), (action, sizes)
    (tmp_path / "p.yaml").write_text(_wide(3))
    engine = policyengine.load(tmp_path / "p.yaml")
    combos = [{f"order.h{i}": v for i, v in enumerate(values)} for values in itertools.product((True, False, None, "x"),
                                                                                                repeat=3)]
    for user, action in itertools.product(({"role": "admin"}, {"role": "member"}, {}), ("go", "stop")):
        plan = build_reasons(engine, action, user)
        result = engine.bulk(action, [_order(engine, facts) for facts in combos], user)
        want: dict[int, str | None] = {i: None for i in result.applicable}
        want.update({i: group.reason for group in result.skipped for i in group.indexes})
        assert [_reason(plan, facts) for facts in combos] == [want[i] for i in range(len(combos))], (user, action)
