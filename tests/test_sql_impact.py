"""The impact of a policy change (issue 26), counted by the database, is exact against ``evaluate``.

Every count (per transition and store), every example id (the smallest of each combination of the facts read)
and the decided -> undecided orders of
``policyengine.sql.impact`` equal what evaluating both engines on every row (``sql.fetch_orders`` +
``engine.evaluate``) gives, on SQLite and on the real PostgreSQL server: the shipped policies against a changed
copy (a widened guard, a new fact read with NULLs in it, a store override dropped and one added), and random pairs
of policies (hypothesis, from the plan tests' generators: every fact type, store overrides on either side) over
random rows with bad values. ``bulk_counts`` equals ``engine.bulk``'s counts and applicable ids.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sql_support import Database, _row_facts, db, postgres2_db, postgres_db, sqlite_db, state_of  # noqa: F401 - fixtures
from test_sql_plans import _USERS, EXAMPLES, PHASES, _policies, _shipped_rows

import policyengine
from policyengine import sql as psql
from policyengine.runtime.plan import build_reasons
from policyengine.sql.impact import Impact

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
PROFILES = {"admin": {"role": "admin"}, "member": {"role": "member"}, "viewer": {"role": "viewer"}}


def _facts_of(old: policyengine.Engine, new: policyengine.Engine) -> list[Any]:
    specs = {f.name: f for f in _row_facts(old)}
    for f in _row_facts(new):
        specs.setdefault(f.name, f)
    return list(specs.values())


def _read_facts(engines: Sequence[policyengine.Engine], action: str, user: Any) -> set[str]:
    """The row facts either side's answer reads: its bulk reasons' and its visible plan's."""
    out: set[str] = set()
    for engine in engines:
        try:
            engine.action_label(action)
        except KeyError:
            continue
        out |= {*build_reasons(engine, action, user).facts, *engine.plan(action, user, state="visible").facts}
    return out


def _same(value: Any) -> Any:
    """A raw database value as GROUP BY compares it (arrays by members in order, NaN equal to itself)."""
    if isinstance(value, list):
        return tuple(map(_same, value))
    if isinstance(value, (float, Decimal)) and value != value:
        return "NaN"
    return value


def reference(old: policyengine.Engine, new: policyengine.Engine, orders: Sequence[Mapping[str, Any]], user: Any,
              action: str, examples: int, decided: dict[Any, list[Any]],
              raw: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One action's impact, from evaluating both engines on every order (orders in id order; ``decided`` keeps
    each engine's decisions per user; ``raw`` the rows' stored values by fact). Examples: the smallest ids, one per
    combination of the values of the facts either side reads (and the store)."""
    read = sorted(_read_facts((old, new), action, user) | {"store.id"})
    seen: dict[Any, set[Any]] = {}

    def first(group: Any, index: int) -> bool:
        key = tuple(_same(raw[index].get(name)) for name in read)
        members = seen.setdefault(group, set())
        if key in members:
            return False
        members.add(key)
        return True

    transitions: dict[tuple[str, str], dict[str, Any]] = {}
    lost: dict[str, Any] = {"count": 0, "examples": []}
    # undecided: the order's bulk reason says it could not be decided (a bad store.id leaves even an action its
    # policy lacks undecided, as engine.bulk words it)
    lost_sets: list[set[int]] = []
    for engine in (old, new):
        try:
            result = engine.bulk(action, orders, user)
        except KeyError:  # neither the base nor a store of this side has the action: hidden everywhere
            lost_sets.append(set())
            continue
        lost_sets.append({i for g in result.skipped if g.reason.startswith("could not be decided: ") for i in g.indexes})
    for index, order in enumerate(orders):
        states = []
        for engine, undecided in zip((old, new), lost_sets, strict=True):
            key = (id(engine), repr(user))
            if key not in decided:
                decided[key] = [engine.evaluate(o, user) for o in orders]
            decision = decided[key][index].get(action)
            states.append((decision.state if decision is not None else "hidden", index in undecided))
        (so, uo), (sn, un) = states
        store = order.get("store", {}).get("id")
        shop = "" if store is None else str(store)
        if so != sn:
            t = transitions.setdefault((so, sn), {"from": so, "to": sn, "count": 0, "stores": {}, "examples": []})
            t["count"] += 1
            t["stores"][shop] = t["stores"].get(shop, 0) + 1
            if first((so, sn), index) and len(t["examples"]) < examples:
                t["examples"].append(str(order["id"]))
        if un and not uo:
            lost["count"] += 1
            if first("lost", index) and len(lost["examples"]) < examples:
                lost["examples"].append(str(order["id"]))
    ordered = sorted(transitions.values(), key=lambda t: (-t["count"], _STATES.index(t["from"]), _STATES.index(t["to"])))
    return {"transitions": ordered, "undecided": lost}


_STATES = ("enabled", "disabled", "hidden")


def check_impact(database: Database, old: policyengine.Engine, new: policyengine.Engine,
                 rows: Sequence[Mapping[str, Any]], users: Mapping[str, Any], *, examples: int = 3,
                 actions: Sequence[str] | None = None) -> Impact:
    table, twin, columns = database.table(_facts_of(old, new))
    database.insert(twin, columns, rows)
    with database.engine.connect() as conn:
        result = psql.impact(conn, old, new, table, columns, table.c.id, users=users, examples=examples,
                             actions=actions)
        orders = psql.fetch_orders(conn, new, table, columns, table.c.id)
        names = list(columns)
        raw = [dict(zip(names, row, strict=True)) for row in conn.execute(
            sa.select(*(sa.type_coerce(columns[n], sa.types.NullType()) for n in names)).order_by(table.c.id))]
    assert result.total == len(rows)
    data = result.to_dict()
    decided: dict[Any, list[Any]] = {}
    assert data["total"] == len(rows)
    for entry in data["actions"]:
        profiles = [users[entry["profile"]]] if entry["profile"] is not None else list(users.values()) or [{}]
        for user in profiles:  # an entry without a profile holds for every profile
            want = reference(old, new, orders, user, entry["action"], examples, decided, raw)
            got = {"transitions": entry["transitions"], "undecided": entry["undecided"]}
            assert got == want, (entry["action"], entry["profile"], user)
    return result


def _changed_copy(tmp_path: Path) -> Path:
    """The shipped policies, changed: Delete allowed for Error orders sent to the warehouse (wider), Archive hidden
    for Closed orders, Edit now reads has_shipment (NULLs there: undecided), globex's override dropped and a new
    store 'other' with one."""
    target = tmp_path / "changed"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("tests", "invariants"))
    base = target / "order-actions.yaml"
    text = base.read_text()
    text = text.replace("        when: order.sent_to_warehouse\n",
                        "        when: order.sent_to_warehouse and order.status != 'Error'\n", 1)
    text = text.replace("visible: {when: \"order.status != 'Archived'\"",
                        "visible: {when: \"order.status not in ['Archived', 'Closed']\"")
    text = text.replace("      - operation: open_edit_form\n", "      - operation: open_edit_form\n"
                        "    deny:\n      - id: shipped-edit\n        when: order.has_shipment\n"
                        "        reason: Shipped orders are not edited.\n", 1)
    base.write_text(text)
    (target / "stores" / "globex.yaml").unlink()
    (target / "stores" / "other.yaml").write_text(
        "apiVersion: policyengine/v1\nkind: StoreOverride\nstore: other\nversion: 1\n"
        "base: {policy: order-actions, version: 1}\nactions:\n  archive:\n    hidden: true\n"
        "    visible: {reason: Other never archives.}\n")
    return target


def test_shipped_policies_against_a_change(db: Database, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    old = policyengine.load(POLICIES)
    new = policyengine.load(_changed_copy(tmp_path))
    assert set(old.stores) == {"acme", "globex"} and set(new.stores) == {"acme", "other"}
    rows = _shipped_rows(db.dialect)
    result = check_impact(db, old, new, rows, PROFILES)
    assert result.widens()
    assert any(a.undecided.count for a in result.actions if a.action == "edit")
    by = {(a.action, a.profile): a for a in result.actions}
    assert {t.kind for t in by[("delete", "member")].transitions} == {"disabled->enabled"}
    assert result.matches("hidden->enabled") == [m for m in result.matches("widen") if "hidden->enabled" in m]
    # the same policies on both sides: nothing moves
    same = check_impact(db, old, old, rows[::5], {"member": {"role": "member"}})
    assert not same.widens() and all(not a.transitions and not a.undecided.count for a in same.actions)


def test_examples_and_selection(sqlite_db: Database, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """``examples`` bounds the ids per transition (0: none); a ``Select`` narrows the rows; JSON shape."""
    old = policyengine.load(POLICIES)
    new = policyengine.load(_changed_copy(tmp_path))
    rows = _shipped_rows("sqlite")
    check_impact(sqlite_db, old, new, rows, {"member": {"role": "member"}}, examples=0,
                 actions=["edit", "delete"])
    check_impact(sqlite_db, old, new, rows, {"member": {"role": "member"}}, examples=1,
                 actions=["edit", "archive", "request_cancellation"])
    table, twin, columns = sqlite_db.table(_facts_of(old, new))
    sqlite_db.insert(twin, columns, rows)
    with sqlite_db.engine.connect() as conn:
        picked = sa.select(table).where(table.c.id < 10)
        result = psql.impact(conn, old, new, picked, columns, table.c.id, users={}, actions=["delete"])
        assert result.total == 10 and [a.action for a in result.actions] == ["delete"]
        with pytest.raises(KeyError, match="nope"):
            psql.impact(conn, old, new, table, columns, table.c.id, users={}, actions=["nope"])
    entry = result.to_dict()["actions"][0]
    assert set(entry) == {"action", "label", "profile", "transitions", "undecided"}
    assert entry["profile"] is None and set(entry["undecided"]) == {"count", "examples"}


def _check_counts(database: Database, engine: policyengine.Engine, rows: Sequence[Mapping[str, Any]], user: Any) -> None:
    """``bulk_counts`` equals ``engine.bulk``'s counts and applicable ids, for every action."""
    table, twin, columns = database.table(_row_facts(engine))
    database.insert(twin, columns, rows)
    with database.engine.connect() as conn:
        orders = psql.fetch_orders(conn, engine, table, columns, table.c.id)
        for action in sorted({a.id for s in (None, *engine.stores) for a in engine.store_policy(s).actions}):
            counts = psql.bulk_counts(conn, engine, action, user, table, columns, table.c.id)
            got = {"total": counts.total, "applicable": sorted(map(str, counts.applicable_ids)),
                   "skipped": dict(counts.skipped)}
            assert got == _counts_of(engine.bulk(action, orders, user)), action


def _impact_property(dialect: str) -> Any:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
    @given(old=_policies(dialect), new=_policies(dialect), users=st.sampled_from([2, 3]))
    def check(database: Database, tmp_dir: Path, old: tuple[dict[str, str], list[dict[str, Any]]],
              new: tuple[dict[str, str], list[dict[str, Any]]], users: int) -> None:
        engines = []
        for files, _ in (old, new):
            directory = Path(tempfile.mkdtemp(prefix="p", dir=tmp_dir))
            for name, text in files.items():
                (directory / name).parent.mkdir(exist_ok=True)
                (directory / name).write_text(text)
            try:
                engines.append(policyengine.load(directory))
            except policyengine.PolicyError:
                return  # a random condition the language rejects: not an impact question
        profiles = {f"u{i}": u for i, u in enumerate(_USERS[:users])}
        check_impact(database, engines[0], engines[1], old[1] + new[1], profiles, examples=2)
        _check_counts(database, engines[1], old[1] + new[1], profiles["u0"])
    return check


def test_random_changes_sqlite(sqlite_db: Database, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    _impact_property("sqlite")(sqlite_db, tmp_path)


def test_random_changes_postgresql(postgres_db: Database, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    _impact_property("postgresql")(postgres_db, tmp_path)


def _counts_of(result: policyengine.BulkResult) -> dict[str, Any]:
    return {"total": result.total, "applicable": sorted(map(str, result.applicable_ids)),
            "skipped": {g.reason: len(g.indexes) for g in result.skipped}}


def test_bulk_counts_equal_engine_bulk(db: Database) -> None:  # noqa: F811 - the fixture
    """Counts per reason (bad values worded as bulk words them) and the applicable ids, for every action, role and
    store scope of the shipped policies over rows with bad values."""
    engine = policyengine.load(POLICIES)
    rows = _shipped_rows(db.dialect)
    table, twin, columns = db.table(_row_facts(engine))
    db.insert(twin, columns, rows)
    with db.engine.connect() as conn:
        orders = psql.fetch_orders(conn, engine, table, columns, table.c.id)
        for action in ("reset", "request_cancellation", "force_delete"):
            for user in ({"role": "admin"}, {"role": "nobody"}):
                for store in (None, "acme"):
                    counts = psql.bulk_counts(conn, engine, action, user, table, columns, table.c.id, store=store)
                    want = engine.bulk(action, orders, user, store=store)
                    skipped = dict(counts.skipped)
                    got = {"total": counts.total, "applicable": sorted(map(str, counts.applicable_ids)),
                           "skipped": skipped}
                    assert got == _counts_of(want), (action, user, store)
                    assert counts.skipped == tuple(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))
                    if len(set(skipped.values())) == len(skipped):  # no tie: the same summary
                        assert counts.summary == want.summary
    assert counts.to_dict()["applicable"]["count"] == counts.applicable
