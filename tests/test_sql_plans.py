"""Query plans in the database (issue 12): ``policyengine.sql`` is exact against ``evaluate``, on SQLite and on a
real PostgreSQL server.

* The shipped policies (base, acme, globex): every combination of their finite facts plus bad values (NULL,
  undeclared enum values, and in SQLite wrong types), every action, state and role (and a user whose role is
  bad): ``where(plan)`` selects exactly the rows ``evaluate`` puts in that state; ``sql.bulk`` equals
  ``engine.bulk`` (counts, groups, reasons, indexes, ids); ``sql.reason`` gives bulk's reason row by row.
* A hypothesis property over random policies (every fact type, named conditions, action references, ternaries,
  store overrides with a second base version) and random rows, bad values included.

The number of property examples is modest by default; ``POLICYENGINE_PLAN_EXAMPLES=500`` runs more.
"""

from __future__ import annotations

import itertools
import os
import textwrap
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sql_support import Database, check_exact, load_generated
from sqlalchemy.dialects import postgresql, sqlite

import policyengine
from policyengine import PlanError
from policyengine import sql as psql
from policyengine.runtime.plan import holds

pytest_plugins = ["sql_support"]  # the db fixtures
ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLES = int(os.environ.get("POLICYENGINE_PLAN_EXAMPLES", "5"))
# Shrinking a failure over a real database takes minutes: on demand only (the failing example is printed anyway).
PHASES = list(Phase) if os.environ.get("POLICYENGINE_PLAN_SHRINK") else [Phase.explicit, Phase.reuse, Phase.generate]
USERS = ({"role": "admin"}, {"role": "member"}, {"role": "viewer"}, {"role": "nobody"})


def _shipped_rows(dialect: str) -> list[dict[str, Any]]:
    statuses = [*policyengine.load(POLICIES / "order-actions.yaml").policy.facts[0].values, None, "Shiped", "it's \"x\""]
    bools: list[Any] = [True, False, None] + ([2] if dialect == "sqlite" else [])
    stores: list[Any] = ["acme", "globex", "other", None] + ([7] if dialect == "sqlite" else [])
    channels: list[Any] = ["shopify", "amazon", None, "ebay"]
    rows = []
    for status, shipment, sent in itertools.product(statuses, bools, bools):
        # the other facts vary with the row number: every value of each still meets every value of the others above
        n = len(rows)
        rows.append({"order.status": status, "order.has_shipment": shipment, "order.sent_to_warehouse": sent,
                     "store.id": stores[n % len(stores)], "store.manual_fulfillment": bools[(n // 5) % len(bools)],
                     "order.channel": channels[(n // 3) % len(channels)]})
    return rows


def test_shipped_policies_every_combination(db: Database) -> None:
    """Every action, state and user of the shipped policies, over the finite fact space plus bad values."""
    engine = policyengine.load(POLICIES)
    rows = _shipped_rows(db.dialect)
    # every combination of the finite facts the base reads, for one store of each kind
    for store, manual in itertools.product(["acme", "globex", "other"], [True, False]):
        for status, shipment, sent in itertools.product(engine.policy.facts[0].values, [True, False], [True, False]):
            rows.append({"order.status": status, "order.has_shipment": shipment, "order.sent_to_warehouse": sent,
                         "store.id": store, "store.manual_fulfillment": manual,
                         "order.channel": ("shopify", "amazon")[len(rows) % 2]})  # acme's channel: both, each status
    assert check_exact(db, engine, rows, USERS) > 50_000


def test_shipped_policies_as_one_store(db: Database) -> None:
    """``store=`` decides every row as that store, whatever its store.id (as ``evaluate(..., store=)``)."""
    engine = policyengine.load(POLICIES)
    rows = _shipped_rows(db.dialect)[::7]
    check_exact(db, engine, rows, ({"role": "member"}, {}), stores=("acme", "globex", "nowhere"))


def test_joined_tables_and_bulk_summary(sqlite_db: Database) -> None:
    """Facts may live in joined tables; the bulk summary is the issue's example, computed by the database."""
    engine = policyengine.load(POLICIES)
    md = sa.MetaData()
    stores = sa.Table("stores", md, sa.Column("id", sa.Text, primary_key=True), sa.Column("manual", sa.Boolean))
    orders = sa.Table("orders", md, sa.Column("id", sa.Text, primary_key=True), sa.Column("store_id", sa.Text),
                      sa.Column("status", sa.Text), sa.Column("has_shipment", sa.Boolean),
                      sa.Column("sent", sa.Boolean), sa.Column("channel", sa.Text))
    columns = {"order.status": orders.c.status, "order.has_shipment": orders.c.has_shipment,
               "order.sent_to_warehouse": orders.c.sent, "order.channel": orders.c.channel,
               "store.id": stores.c.id, "store.manual_fulfillment": stores.c.manual}
    joined = orders.join(stores, orders.c.store_id == stores.c.id)
    with sqlite_db.engine.begin() as conn:
        md.create_all(conn)
        conn.execute(sa.insert(stores), [{"id": "globex", "manual": False}, {"id": "other", "manual": True}])
        conn.execute(sa.insert(orders), [
            {"id": f"SO-{i:02}", "store_id": "other" if i % 2 else "globex", "status": "Error",
             "has_shipment": i < 3, "sent": True, "channel": "shopify"} for i in range(50)])
        result = psql.bulk(conn, engine, "reset", {"role": "member"}, joined, columns, orders.c.id)
        assert result.summary == ("Reset 47 of 50 orders; 3 skipped: the order already has a shipment; resetting "
                                  "would re-process an order the warehouse has already worked")
        assert result.skipped[0].order_ids == ("SO-00", "SO-01", "SO-02")
        assert result == engine.bulk("reset", psql.fetch_orders(conn, engine, joined, columns, orders.c.id),
                                     {"role": "member"})
        errors = sa.select(orders).select_from(joined).where(orders.c.store_id == "other")  # a page's selection
        picked = psql.bulk(conn, engine, "revalidate", {"role": "member"}, errors, columns, orders.c.id)
        assert picked.summary == "Revalidate 25 of 25 orders"
        assert picked == engine.bulk("revalidate", psql.fetch_orders(conn, engine, errors, columns, orders.c.id),
                                     {"role": "member"})
        plan = engine.plan("revalidate", {"role": "member"})
        ids = [r[0] for r in conn.execute(sa.select(orders.c.id).select_from(joined)
                                          .where(psql.where(plan, columns)).order_by(orders.c.id))]
        assert ids == [f"SO-{i:02}" for i in range(1, 50, 2)]  # manual store, Error: shown and allowed


def test_missing_column_and_untranslatable_conditions(sqlite_db: Database, tmp_path: Path) -> None:
    engine = policyengine.load(POLICIES)
    plan = engine.plan("reset", {"role": "member"})
    with pytest.raises(KeyError, match="no column given for fact order.has_shipment"):
        psql.where(plan, {"store.id": sa.column("store_id")})
    (tmp_path / "p.yaml").write_text(_policy_text(
        {"order.n": "number", "order.s": "string"},
        {"pow": "order.n ** 2 > 1", "digit": "order.s =~ '\\\\d'", "flag": "order.s =~ '(?i)a'",
         "wide": "order.n == 0.100000000000000000001"}))
    other = policyengine.load(tmp_path / "p.yaml")
    columns = {"order.n": sa.column("n"), "order.s": sa.column("s")}
    postgres = sa.dialects.postgresql.dialect()
    for action, message in (("pow", "PostgreSQL cannot compute `\\*\\*` exactly"),
                            ("digit", "a class such as \\\\d, \\\\w or \\\\s has no exact equivalent"),
                            ("flag", "an inline flag such as \\(\\?i\\)")):
        with pytest.raises(PlanError, match=message):
            str(psql.where(other.plan(action, {}), columns).compile(dialect=postgres))
        str(psql.where(other.plan(action, {}), columns).compile(dialect=sa.dialects.sqlite.dialect()))  # exact there
    str(psql.where(other.plan("wide", {}), columns).compile(dialect=sa.dialects.sqlite.dialect()))


def test_three_valued_conditions(db: Database, tmp_path: Path) -> None:
    """Kleene's and/or/not/?: over atoms, as evaluate decides: an operand that decides wins whatever the other
    reads, a bulk reason is the first problem in operand order, a failing computation over the user's facts only
    (a division by zero, a regex subject past the length limit) is one unknown atom."""
    (tmp_path / "p.yaml").write_text(_policy_text(FACTS, {
        "either": "order.b or order.n > 2",
        "both": {"allow": "order.b and order.e == 'a'", "deny": ["order.b == false"]},
        "pick": "order.b ? order.n > 1 : not (order.e == 'c')", "div": "order.b and user.n / 0 > 1 or order.n > 1",
        "rx": "user.tag =~ 'x.*' or order.b"}))
    engine = policyengine.load(tmp_path / "p.yaml")
    rows = [{"order.b": b, "order.n": n, "order.e": e}
            for b in (True, False, None) for n in (0, 3, None) for e in ("a", "c", "zz", None)]
    users = [{"role": "admin", "n": 1, "tag": "x" * 5000}, {"role": "member", "n": 1, "tag": "xy"}, {"n": "q"}]
    assert check_exact(db, engine, rows, users) > 0
    assert holds(engine.plan("either", users[0]).condition, {"order.b": None, "order.n": 3}) is True
    assert holds(engine.plan("div", users[0]).condition, {"order.b": True, "order.n": 3}) is True
    skipped = engine.bulk("both", [{"b": None, "n": 1}], users[0]).skipped  # operand order, not the facts' order
    assert skipped[0].reason == "could not be decided: order.b: missing (null)"


# -- random policies ---------------------------------------------------------------------------------------------
FACTS = {"order.e": "enum", "order.b": "bool", "order.s": "string", "order.n": "number", "order.t": "set",
         "order.u": "set",
         "store.id": "string", "user.role": "enum", "user.n": "number", "user.tag": "string"}
ENUM_VALUES = {"order.e": ["a", "b", "c"], "user.role": ["admin", "member"]}


def test_a_lone_surrogate_in_a_policy_is_refused_by_name(tmp_path: Path) -> None:
    """A string literal, list member or regex holding a lone surrogate: no database text holds one and no driver
    can send it, so the plan is refused by name when its SQL is built, on both databases (before, the driver raised
    UnicodeEncodeError in the middle of the query)."""
    (tmp_path / "p.yaml").write_text(_policy_text(
        {"order.s": "string"},
        {"literal": "order.s == '\\ud800'", "member": "order.s in ['\\ud800', 'b']",
         "regex": "order.s =~ '.\\udc00'", "fine": "order.s == '\\u00e9'"}))
    engine = policyengine.load(tmp_path / "p.yaml")
    columns = {"order.s": sa.column("s")}
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        for action, what in (("literal", "the string literal"), ("member", "the list literal"),
                             ("regex", "the regular expression")):
            with pytest.raises(PlanError, match=f"{what} .* holds a lone surrogate \\(U\\+D[8C]00\\)"):
                str(psql.where(engine.plan(action, {}), columns).compile(dialect=dialect))
        str(psql.where(engine.plan("fine", {}), columns).compile(dialect=dialect))  # any other character is sent


def _policy_text(facts: dict[str, str], actions: dict[str, Any], conditions: dict[str, str] | None = None,
                 version: int = 1) -> str:
    lines = ["apiVersion: policyengine/v1", "kind: ActionPolicy", "name: p", f"version: {version}", "facts:"]
    for name, kind in facts.items():
        values = f", values: {ENUM_VALUES[name]}" if name in ENUM_VALUES else ""
        lines.append(f"  {name}: {{type: {kind}{values}}}")
    if conditions:
        lines.append("conditions:")
        lines += [f"  {name}: {_q(text)}" for name, text in conditions.items()]
    lines.append("actions:")
    for action_id, spec in actions.items():
        spec = {"allow": spec} if isinstance(spec, str) else spec
        lines.append(f"  {action_id}:")
        lines.append(f"    label: {action_id.title()}")
        lines.append(f"    allow: {_q(spec['allow'])}")
        if "visible" in spec:
            lines.append(f"    visible: {_q(spec['visible'])}")
        if spec.get("deny"):
            lines.append("    deny:")
            for i, when in enumerate(spec["deny"]):
                lines += [f"      - id: g{i}", f"        when: {_q(when)}", f"        reason: Guard {i} of {action_id}."]
        if spec.get("effect"):
            lines += ["    effects:", f"      - when: {_q(spec['effect'])}", "        operation: op"]
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _atoms(dialect: str) -> st.SearchStrategy[str]:
    numbers = st.sampled_from(["0", "1", "2.5", "-1", "10", "0.1"])
    atoms = [
        st.sampled_from(["order.e == 'a'", "order.e != 'b'", "order.e in ['a', 'c']", "order.e < 'b'"]),
        st.sampled_from(["order.b", "not order.b", "order.b == true"]),
        st.sampled_from(["order.s == 'x'", "order.s < 'm'", "'x' in order.s", "order.s.length > 1",
                         "order.s in ['x', 'y\\'z']", "order.s == user.tag", "user.tag in order.s"]),
        numbers.flatmap(lambda n: st.sampled_from([f"order.n > {n}", f"order.n <= {n}", f"order.n == {n}",
                                                   f"order.n in [{n}, 3]", "order.n >= user.n", f"-order.n < {n}"])),
        st.sampled_from(["'x' in order.t", "order.t.length >= 2", "user.tag in order.t", "order.t.length == 0",
                         "order.t == order.u", "order.u != order.t", "order.u == ['x', 'y']"]),
        st.sampled_from(["order.s =~ 'x.*'", "order.s =~~ 'y\\'?z$'", "order.s =~ '[^a-m]'", "order.s =~~ '^x.?$'",
                         "order.s =~ '(xy|Ω)+'", "order.s =~~ 'x\\n'", "user.tag =~ 'x' ? order.s =~ 'x$' : false"]),
        st.sampled_from(["user.role == 'admin'", "user.n > 1", "store.id == 's1'", "store.id != 's2'"]),
    ]
    arithmetic = ["order.n * 3 + user.n > {n}", "order.n / user.n > {n}", "order.n // 3 == {n}",
                  "order.n % 3 < {n}", "order.n / order.n == 1", "-order.n * 0.1 <= {n}",
                  "order.n * 1.0000000000000000000000000001 > {n}", "order.n / 3 * 3 == order.n",
                  "order.n == 0.1000000000000000000001", "(order.b ? order.n : 2) / (order.n - 1) >= {n}",
                  "order.n * 3 in [{n}, 0.3]", "order.n // 0.0000000000000000000000000001 > 1"]
    if dialect == "sqlite":  # ** only there: PostgreSQL refuses it (see docs/plans.md)
        arithmetic.append("order.n ** 2 >= {n}")
    atoms.append(st.tuples(numbers, st.sampled_from(arithmetic)).map(lambda t: t[1].format(n=t[0])))
    return st.one_of(atoms)


def _conditions(dialect: str, refs: Sequence[str], depth: int = 2) -> st.SearchStrategy[str]:
    """Conditions nesting and/or/not/ternaries ``depth`` deep over the atoms, named conditions and action refs."""
    leaves = _atoms(dialect) | (st.sampled_from(list(refs)) if refs else _atoms(dialect))
    if depth == 0:
        return leaves
    inner = _conditions(dialect, refs, depth - 1)
    return st.one_of(
        leaves,
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"))


@st.composite
def _policies(draw: Any, dialect: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Files of a random policy directory (a base, maybe a second version and a store override), and rows."""
    named = {"cond_a": draw(_conditions(dialect, []))}
    actions: dict[str, Any] = {}
    refs = ["cond_a"]
    for i in range(draw(st.integers(1, 3))):
        cond = _conditions(dialect, refs)
        spec: dict[str, Any] = {"allow": draw(cond)}
        if draw(st.booleans()):
            spec["visible"] = draw(cond)
        spec["deny"] = draw(st.lists(cond, max_size=2))
        if draw(st.booleans()):
            spec["effect"] = draw(cond)
        actions[f"act{i}"] = spec
        refs.append(f"actions.act{i}.{draw(st.sampled_from(['enabled', 'visible', 'hidden', 'disabled']))}")
    files = {"base.yaml": _policy_text(FACTS, actions, named)}
    if draw(st.booleans()):  # a second version: the latest, for stores without a pin
        v2 = {k: dict(v, deny=[*v["deny"], draw(_conditions(dialect, ["cond_a"]))]) for k, v in actions.items()}
        files["base-v2.yaml"] = _policy_text(FACTS, v2, named, version=2)
    if draw(st.booleans()):
        pin = "  pin: 1\n" if "base-v2.yaml" in files and draw(st.booleans()) else (
            "  compatible: [2]\n" if "base-v2.yaml" in files else "")
        guard = draw(_conditions(dialect, ["cond_a"]))
        files["stores/s1.yaml"] = textwrap.dedent("""\
            apiVersion: policyengine/v1
            kind: StoreOverride
            store: s1
            version: 1
            base:
              policy: p
              version: 1
            """) + pin + textwrap.dedent(f"""\
            conditions:
              cond_a: {_q(draw(_conditions(dialect, [])))}
            actions:
              act0:
                deny:
                  - id: s1-guard
                    when: {_q(guard)}
                    reason: The store says no.
              extra:
                label: Extra
                allow: {_q(draw(_conditions(dialect, ['cond_a'])))}
            """)
    return files, draw(st.lists(_rows(dialect), min_size=1, max_size=25))


def _rows(dialect: str) -> st.SearchStrategy[dict[str, Any]]:
    sqlite = dialect == "sqlite"
    bad: list[Any] = [None] + ([3, 2.5, b"x", "[1]"] if sqlite else [])
    numbers = st.sampled_from([0, 1, -1, 2.5, 3, 10, 0.1, 0.30000000000000004, 100000, 9 * 10**18 + 1, -(10**18) - 7,
                               1e-30, 1.5e300]).map(
        lambda n: Decimal(repr(n)) if not sqlite else n)
    tags = st.lists(st.sampled_from(["x", "y", "xy", "", "y'z"]), max_size=3)
    return st.fixed_dictionaries({
        "order.e": st.sampled_from(["a", "b", "c", "zz", None, "a\x01\x7f", "\x85é\xa0", "q" * 70, "it's \"x\"",
                                    "\t" * 20 + "'" + "z" * 40] + ([1, 2.5, -0.0, 1e300, b"\x00b"] if sqlite else [])),
        "order.b": st.sampled_from([True, False, None] + ([2, "yes", 0.5, "x\x02"] if sqlite else [])),
        "order.s": st.sampled_from(["x", "xyz", "", "m", "y'z", "it\"s", "x\\y", None, "Ω", "x\n", "yz\n", "xyΩxy",
                                    "x" * 4097] + ([5] if sqlite else [])),
        "order.n": numbers | st.sampled_from(bad + ([float("inf"), "7"] if sqlite else [
            Decimal("NaN"), Decimal("Infinity"), Decimal("0.1000000000000000000001"), Decimal(10**400),
            Decimal(10**400) + Decimal("0.5"), Decimal("-123456789012345678901234567890.5")])),
        "order.t": (tags.map(lambda t: __import__("json").dumps(t)) if sqlite else tags)
        | st.sampled_from([None] + (["notjson", '"x"', '["x", 1]', 1.5, '["a\\u0001", 2.5, null]'] if sqlite else
                                   [["x", None], ["a", "b", "c", "d", "e", "f", None, "g"], [None, "\x03" * 30]])),
        "order.u": (tags.map(lambda t: __import__("json").dumps(t)) if sqlite else tags)
        | st.sampled_from([None] + (['["x", 1]'] if sqlite else [["y", None]])),
        "store.id": st.sampled_from(["s1", "s2", None] + ([4] if sqlite else [])),
    })


_USERS = [{"role": "admin", "n": 2, "tag": "x"}, {"role": "member", "n": 0.5, "tag": "y'z"},
          {"role": "boss", "n": "2", "tag": "xy"}]


def _property(dialect: str) -> Any:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
    @given(case=_policies(dialect))
    def check(database: Database, tmp_dir: Path, case: tuple[dict[str, str], list[dict[str, Any]]]) -> None:
        files, rows = case
        engine = load_generated(files, tmp_dir, "p")
        if engine is None:
            return
        check_exact(database, engine, rows, _USERS)
    return check


def test_random_policies_sqlite(sqlite_db: Database, tmp_path: Path) -> None:
    _property("sqlite")(sqlite_db, tmp_path)


def test_random_policies_postgresql(postgres_db: Database, tmp_path: Path) -> None:
    _property("postgresql")(postgres_db, tmp_path)


def test_arithmetic_regexes_and_sets_exact(db: Database, tmp_path: Path) -> None:
    """Decimal arithmetic as rule-engine computes it (28 digits, half-even ties, truncating ``//`` and ``%``, the
    failures of a zero divisor and of a quotient past 28 digits), regexes with Python's meaning of ``.``, ``$`` and
    ranges, and set-vs-set equality: selected rows, bulk results and reason texts equal evaluate's, row by row."""
    actions = {
        "tie": "order.n * 0.5 == 1234567890123456789012345678",  # an exact tie at 28 digits: rounds to even
        "third": "order.n / 3 * 3 == order.n", "big": "order.n * 1.0000000000000000000000000001 > order.n",
        "fdiv": "order.n // -2 == -3", "mod": "order.n % -4 == order.n - -4 * (order.n // -4)",
        "neg": "-order.n * 0.1 < -1", "zero": "order.n / (order.n - 7) > 0",
        "huge": "order.n // 0.0000000000000000000000001 > 0", "cut": "order.n % 0.0000000000000000000000001 == 0",
        "dot": "order.s =~ 'x.y'", "end": "order.s =~~ 'y$'", "range": "order.s =~ '[a-zé-ü]+'",
        "lazy": "order.s =~ 'x+?y'", "alt": "order.s =~~ '(a|ab)(c|bcd)'", "start": "order.s =~~ '^y'",
        "sets": "order.t == order.u",
    }
    (tmp_path / "p.yaml").write_text(_policy_text({"order.n": "number", "order.s": "string", "order.t": "set",
                                                   "order.u": "set"}, actions))
    engine = policyengine.load(tmp_path / "p.yaml")
    numbers: list[Any] = [2469135780246913578024691357, 2469135780246913578024691359, 7, 6, -7, 0, 1, 10**20 + 3,
                          0.1, -2.5, 1e-300, 12345678901234567]
    if db.dialect == "postgresql":
        numbers = [Decimal(repr(n)) if isinstance(n, float) else Decimal(n) for n in numbers]
        numbers.append(Decimal("99999999999999999999999999999999.5"))
    else:
        numbers = [n for n in numbers if not isinstance(n, int) or abs(n) < 2**63]
    strings = ["xay", "x\ny", "y\n", "y\n\n", "xxxy", "éü", "ab", "abcd", "ay", "\ny", "x" * 5000 + "y", "Ω"]
    sets: list[Any] = [[], ["a"], ["a", "b"], ["b", "a", "a"]]
    if db.dialect == "sqlite":
        sets = [__import__("json").dumps(s) for s in sets]
    rows = [{"order.n": numbers[i % len(numbers)], "order.s": strings[i % len(strings)],
             "order.t": sets[i % len(sets)], "order.u": sets[(i // len(sets)) % len(sets)]}
            for i in range(max(len(numbers), len(strings), len(sets) ** 2) * 2)]
    rows.append({})  # every fact NULL
    assert check_exact(db, engine, rows, [{"role": "admin"}]) > 1000


def test_plain_sqlite_engine_needs_no_install(tmp_path: Path) -> None:
    """A plain ``create_engine("sqlite://")`` runs plans that compute (decimal arithmetic, regexes) and reason texts
    through the registered functions, without calling ``install``; the answers are evaluate's."""
    (tmp_path / "p.yaml").write_text(_policy_text({"order.n": "number", "order.s": "string"},
                                                  {"a": "order.n / 3 * 3 == order.n and order.s =~ 'x.'"}))
    engine = policyengine.load(tmp_path / "p.yaml")
    database = sa.create_engine("sqlite://")
    md = sa.MetaData()
    table = sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Numeric),
                     sa.Column("s", sa.Text))
    columns = {"order.n": table.c.n, "order.s": table.c.s}
    with database.begin() as conn:
        md.create_all(conn)
        conn.execute(sa.insert(table), [{"id": 1, "n": 3, "s": "xy"}, {"id": 2, "n": 1, "s": "xy"},
                                        {"id": 3, "n": 0, "s": None}])
        assert conn.execute(sa.select(table.c.id).where(psql.where(engine.plan("a", {}), columns))).all() == [(1,)]
        reasons = dict(conn.execute(sa.select(table.c.id, psql.reason(engine, "a", {}, columns))).all())
    assert reasons[1] is None and reasons[3] == "could not be decided: order.s: missing (null)"
    assert reasons[2] == engine.bulk("a", [{"n": 1, "s": "xy"}], {}).skipped[0].reason  # 1 / 3 * 3 is not 1


def test_defaulted_facts_without_a_column(db: Database, tmp_path: Path) -> None:
    """A fact with a declared ``default:`` that the table does not have reads as its default, as ``evaluate``
    reads an order that does not send it; a column that is there is read (its NULL fails closed, never the
    default); a fact with neither column nor default is still a KeyError."""
    (tmp_path / "p.yaml").write_text(textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: ActionPolicy
        name: p
        version: 1
        facts:
          order.b: {type: bool}
          order.hold: {type: bool, default: false}
          order.total: {type: number, default: 10}
          order.note: {type: string, default: ''}
          order.tier: {type: enum, values: [basic, gold], default: basic}
          order.tags: {type: set, default: [vip]}
          user.role: {type: enum, values: [admin, member]}
        actions:
          release:
            label: Release
            allow: "order.b and not order.hold"
          refund:
            label: Refund
            allow: "order.total < 1000 or user.role == 'admin'"
            deny:
              - {id: noted, when: "order.note != ''", reason: The order has a note.}
          upgrade:
            label: Upgrade
            allow: "order.tier == 'basic' and 'vip' in order.tags"
        """))
    engine = policyengine.load(tmp_path / "p.yaml")
    facts = [f for f in engine.policy.facts if f.name in ("order.b", "order.total")]
    table, twin, columns = db.table(facts)  # no column for hold, note, tier, tags
    rows = [{"order.b": b, "order.total": t} for b in (True, False, None) for t in (5, 1500, None)]
    db.insert(twin, columns, rows)
    users = [{"role": "admin"}, {"role": "member"}]
    with db.engine.connect() as conn:
        orders = psql.fetch_orders(conn, engine, table, columns, table.c.id)
        assert all("hold" not in o and "tags" not in o for o in orders)  # the defaulted facts are not sent
        for user in users:
            decisions = [engine.evaluate(order, user) for order in orders]
            for action in ("release", "refund", "upgrade"):
                for target in ("enabled", "disabled", "visible"):
                    plan = engine.plan(action, user, state=target)
                    want = {i for i, d in enumerate(decisions) if
                            (d[action].state != "hidden" if target == "visible" else d[action].state == target)}
                    assert {r[0] for r in conn.execute(sa.select(table.c.id).where(psql.where(plan, columns)))} \
                        == want, (action, target, user)
                assert psql.bulk(conn, engine, action, user, table, columns, table.c.id) == \
                    engine.bulk(action, orders, user)
    # upgrade reads only defaulted facts: every row applies
    assert engine.bulk("upgrade", orders, users[1]).summary.startswith("Upgrade")
    with pytest.raises(KeyError, match="order.b"):
        psql.where(engine.plan("release", users[1]), {})
