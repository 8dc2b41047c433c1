"""Thousands of stores at the cost of one (issue 16): what a store does not change is shared with its base (compiled
conditions and actions, decisions, code), overrides alike apart from their store share their code, and none of it
changes a decision: many-store engines decide as one-store engines, per-action decision tables and the store
dispatch as the interpreter. No timing here: bench/stores_bench.py measures."""

from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path
from typing import Any

import pytest

import policyengine
from policyengine.pipeline.compiler import compile_policy
from policyengine.pipeline.merge import merge_override
from policyengine.runtime.codegen import TABLE_LIMIT
from policyengine.runtime.interpret import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from stores_gen import override_text, write_tree  # noqa: E402

STATUSES = ("New", "Pending", "Queued", "Bundled", "Routed", "Open", "Partially Shipped", "Shipped", "Error",
            "Skipped", "Closed", "Abandoned", "Archived")


def project(result: Any) -> tuple[Any, ...]:
    """What a result decides, without where its files are (engines compared load different directories)."""
    return (result.store_override, tuple((d.action, d.label, d.state, d.reasons, d.confirm, d.effects, d.errors,
                                          d.destructive) for d in result.values()))


def every_order(store: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [({"status": status, "has_shipment": ship, "sent_to_warehouse": sent,
              "store": {"id": store, "manual_fulfillment": manual}}, {"role": role})
            for status, ship, sent, manual, role in itertools.product(STATUSES, (False, True), (False, True),
                                                                      (False, True), ("admin", "member", "viewer"))]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[policyengine.Engine, Path]:
    root = write_tree(tmp_path_factory.mktemp("fleet"), 40)
    return policyengine.load(root), root


def test_a_store_shares_what_its_override_does_not_touch(fleet: tuple[policyengine.Engine, Path]) -> None:
    engine, _ = fleet
    base = engine.policy
    for store in engine.stores:
        policy = engine.store_policy(store)
        override = engine.store_override(store)
        assert override is not None
        touched = {patch.id for patch in override.override.actions}
        mine = {a.id: a for a in policy.actions}
        for action in base.actions:
            if action.id not in touched:
                assert mine[action.id] is action  # the base's compiled action itself, not a copy
            else:  # a patched action keeps the base's compiled conditions it does not replace
                assert mine[action.id] is not action
                assert mine[action.id].allow is action.allow
        for name, condition in base.conditions.items():
            assert policy.conditions[name] is condition


def test_untouched_actions_decide_with_the_very_same_decisions(fleet: tuple[policyengine.Engine, Path]) -> None:
    engine, _ = fleet
    guarded = "s00000"  # a guard on `edit` (stores_gen: shape 0)
    for (order, user), (plain, _) in zip(every_order(guarded), every_order("no-override"), strict=True):
        mine, base = engine.evaluate(order, user), engine.evaluate(plain, user)
        assert mine.store_override == f"{guarded}@1" and base.store_override is None
        for action in ("reset", "delete", "force_delete", "archive"):
            assert mine[action] is base[action]


def test_overrides_of_the_same_shape_share_their_code(fleet: tuple[policyengine.Engine, Path]) -> None:
    engine, _ = fleet
    evaluators = {store: engine._by_store[store].evaluator for store in engine.stores}  # noqa: SLF001
    renamed = [s for s in engine.stores if int(s[1:]) % 4 == 1]  # only a label changes: the base's structure
    default = engine._default.evaluator.evaluate.__code__  # noqa: SLF001
    assert all(evaluators[s].evaluate.__code__ is default for s in renamed)
    # s00002, s00018 and s00034 hide the same action (each with its own reason naming the store): the same code,
    # each with its own decisions
    same = [s for s in engine.stores if int(s[1:]) % 4 == 2 and int(s[1:]) // 4 % 4 == 0]
    assert len(same) == 3
    assert len({evaluators[s].evaluate.__code__ for s in same}) == 1
    assert evaluators[same[0]].evaluate.__code__ is not default
    assert len({id(evaluators[s].lookup.rows) for s in same if evaluators[s].lookup is not None}) == len(same)


def test_identical_overrides_apart_from_the_store_share_code_but_not_labels(tmp_path: Path) -> None:
    root = write_tree(tmp_path, 0)
    for store in ("alpha", "beta"):
        (root / "stores" / f"{store}.yaml").write_text(override_text(0).replace("s00000", store))
    engine = policyengine.load(root)
    alpha, beta = (engine._by_store[s] for s in ("alpha", "beta"))  # noqa: SLF001
    assert alpha.evaluator.evaluate.__code__ is beta.evaluator.evaluate.__code__
    order, user = every_order("alpha")[0]
    assert engine.evaluate(order, user).store_override == "alpha@1"
    assert engine.evaluate({**order, "store": {**order["store"], "id": "beta"}}, user).store_override == "beta@1"


def test_many_stores_decide_as_one_store_engines(fleet: tuple[policyengine.Engine, Path], tmp_path: Path) -> None:
    engine, _ = fleet
    for store in engine.stores[:12]:
        alone = policyengine.load(write_tree(tmp_path / store, 0, only=int(store[1:])))
        for order, user in every_order(store):
            assert project(engine.evaluate(order, user)) == project(alone.evaluate(order, user))
            assert project(engine.evaluate(order, user, store=store)) == project(alone.evaluate(order, user))


def test_the_store_dispatch_decides_like_the_general_path_on_odd_inputs(fleet: tuple[policyengine.Engine, Path],
                                                                         tmp_path: Path) -> None:
    engine, root = fleet
    # a store of another shape: it reads a fact of its own, so its table has other keys
    other = write_tree(tmp_path / "other", 0)
    for path in (root / "stores").iterdir():
        (other / "stores" / path.name).write_text(path.read_text())
    (other / "stores" / "zz.yaml").write_text(
        "apiVersion: policyengine/v1\nkind: StoreOverride\nstore: zz\nversion: 1\nbase: {policy: order-actions, "
        "version: 1}\nfacts:\n  order.channel: {type: enum, values: [web, pos]}\nactions:\n  edit:\n    deny:\n"
        "      - {id: pos, when: \"order.channel == 'pos'\", reason: Not at the till.}\n")
    mixed = policyengine.load(other)
    rng = random.Random(16)
    stores: list[Any] = [*mixed.stores, "nobody", 7, None, "", True]
    for _ in range(1500):
        order, user = rng.choice(every_order("x"))
        order = {**order, "channel": rng.choice(["web", "pos", "tv", 3]), "store": {**order["store"]}}
        order["store"]["id"] = rng.choice(stores)
        if rng.random() < 0.1:
            order["status"] = rng.choice(["Nope", 3, None])
        if rng.random() < 0.05:
            del order["store"]
        fast = mixed.evaluate(order, user)
        store = order.get("store", {}).get("id")
        if type(store) is str:
            assert project(fast) == project(mixed.evaluate(order, user, store=store))
            assert fast.errors == mixed.evaluate(order, user, store=store).errors
        if store == "zz":
            assert fast.store_override == "zz@1"
        if type(store) is str and store in engine.stores and order.get("channel") in ("web", "pos"):
            assert project(fast) == project(engine.evaluate(order, user))


def test_a_merged_policy_compiled_with_its_base_decides_as_compiled_alone(fleet: tuple[policyengine.Engine, Path]) -> None:
    engine, _ = fleet
    base = engine.policy
    for store in engine.stores[:8]:
        override = engine.store_override(store)
        assert override is not None
        spec, refused = merge_override(base.spec, override.override)
        assert not refused
        shared, alone = compile_policy(spec, base), compile_policy(spec)
        assert [a.id for a in shared.actions] == [a.id for a in alone.actions]
        left, right = Interpreter(shared), Interpreter(alone)
        for order, user in every_order(store)[::7]:
            facts = {"order.status": order["status"], "order.has_shipment": order["has_shipment"],
                     "order.sent_to_warehouse": order["sent_to_warehouse"], "store.id": store,
                     "store.manual_fulfillment": order["store"]["manual_fulfillment"], "user.role": user["role"]}
            assert left.evaluate(facts)[0] == right.evaluate(facts)[0]


def test_every_override_is_still_checked_against_the_locks(tmp_path: Path) -> None:
    root = write_tree(tmp_path, 30)
    (root / "stores" / "bad.yaml").write_text(
        "apiVersion: policyengine/v1\nkind: StoreOverride\nstore: bad\nversion: 1\nbase: {policy: order-actions, "
        "version: 1}\nactions:\n  force_delete:\n    visible: {when: \"true\"}\n")
    with pytest.raises(policyengine.PolicyError) as err:
        policyengine.load(root)
    assert [Path(d.file).name for d in err.value.diagnostics] == ["bad.yaml"]
    assert "widens the locked visibility" in err.value.diagnostics[0].message


def _bools_policy(facts: int, actions: int, rng: random.Random) -> str:
    lines = ["apiVersion: policyengine/v1\nkind: ActionPolicy\nname: wide\nversion: 1\nfacts:\n"]
    lines += [f"  order.b{j}: {{type: bool}}\n" for j in range(facts)]
    lines.append("conditions:\n  both: order.b0 and order.b1\nactions:\n")
    for i in range(actions):
        a, b, c = (rng.randrange(facts) for _ in range(3))
        visible = f"    visible: {{when: \"not order.b{c}\", reason: hidden}}\n" if i % 3 == 0 else ""
        reads = f"actions.a{i - 1}.enabled" if i % 5 == 4 else "both"
        lines.append(f"  a{i}:\n    label: A{i}\n{visible}    allow: {{when: \"order.b{a} or {reads}\", "
                     f"reason: not allowed}}\n    deny:\n      - {{id: g, when: \"order.b{b}\", reason: guarded}}\n")
    return "".join(lines)


@pytest.mark.parametrize(("facts", "actions"), [(11, 100), (12, 60), (13, 1000), (16, 1000)])
def test_wide_policies_decide_as_the_interpreter(tmp_path: Path, facts: int, actions: int) -> None:
    rng = random.Random(facts * 1000 + actions)
    path = tmp_path / "wide.yaml"
    path.write_text(_bools_policy(facts, actions, rng))
    engine = policyengine.load(path)
    assert engine.specialised == (2 ** facts <= TABLE_LIMIT)  # both paths: tabled (11, 12 facts) and not
    interpreter = Interpreter(engine.policy)
    for _ in range(60):
        values = [rng.random() < 0.5 for _ in range(facts)]
        order = {f"b{j}": v for j, v in enumerate(values)}
        got = engine.evaluate(order, {})
        expected, _ = interpreter.evaluate({f"order.b{j}": v for j, v in enumerate(values)})
        assert tuple(got.values()) == tuple(expected.values())


def test_the_store_dispatch_answers_plain_dicts_from_the_stores_rows(fleet: tuple[policyengine.Engine, Path]) -> None:
    engine, _ = fleet
    scope = engine.evaluate.__globals__  # the generated dispatch (<policyengine-dispatch>)
    general = scope["SLOW"]
    calls: list[Any] = []
    scope["SLOW"] = lambda *args: calls.append(args) or general(*args)
    try:
        for store in engine.stores:
            for order, user in every_order(store)[::11]:
                first = engine.evaluate(order, user)  # builds the store's evaluator and row (the general way), once
                again = engine.evaluate(order, user)
                assert again is first  # the row itself: the dispatch answered from the store's rows
        built = len(calls)
        for store in engine.stores:
            for order, user in every_order(store)[::11]:
                engine.evaluate(order, user)
        assert len(calls) == built  # every store built: not one more call the general way
        assert built <= len(engine.stores) * len(every_order("x")[::11])  # at most once per store and row
    finally:
        scope["SLOW"] = general
