"""Query plans that no tenant can turn against the database (issue 21), on SQLite and on the real PostgreSQL
through psycopg 3 and psycopg2: a store override's hostile values never reach the SQL text, one store's policy
never breaks or changes another's rows, a bad row fails closed alone, and plans stay linear in the policy.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sql_support import Database, check_exact, db, postgres2_db, postgres_db, sqlite_db  # noqa: F401 - fixtures

import policyengine
from policyengine import PlanError
from policyengine import sql as psql

HOSTILE = ["%(x)s", "%s", "50% off", "it's", 'say "hi"', "back\\slash", "%%", "?", ":x", "$1", "'; DROP TABLE t; --"]


def _q(text: str) -> str:
    return json.dumps(text)  # a YAML double-quoted scalar is a JSON string


def _base(values: list[str], extra: str = "") -> str:
    return ("apiVersion: policyengine/v1\nkind: ActionPolicy\nname: p\nversion: 1\nfacts:\n"
            "  store.id: {type: string}\n  order.n: {type: number}\n  order.e: {type: enum, values: [a, b]}\n"
            f"  order.t: {{type: set}}\n{extra}"
            "actions:\n  go:\n    label: Go\n    allow: \"order.e == 'a' and order.n > 1\"\n"
            "    deny:\n      - id: g\n        when: \"'x' in order.t\"\n        reason: Tagged.\n")


def _override(store: str, facts: str, when: str) -> str:
    return (f"apiVersion: policyengine/v1\nkind: StoreOverride\nstore: {store}\nversion: 1\n"
            f"base:\n  policy: p\n  version: 1\nfacts:\n{facts}"
            f"actions:\n  go:\n    deny:\n      - id: {store}\n        when: {_q(when)}\n        reason: {_q('No ' + store)}\n")


def _hostile_engine(tmp_path: Path) -> policyengine.Engine:
    (tmp_path / "p.yaml").write_text(_base(HOSTILE))
    (tmp_path / "stores").mkdir()
    values = ", ".join(_q(v) for v in HOSTILE)
    literal = "order.h == '50% off' or order.h == '%(x)s' or order.note == \"it's %s\" or order.note =~ 'a%b'"
    (tmp_path / "stores" / "evil.yaml").write_text(_override(
        "evil", f"  order.h: {{type: enum, values: [{values}]}}\n  order.note: {{type: string}}\n", literal))
    return policyengine.load(tmp_path)


def test_policy_values_are_bound_never_spliced(db: Database, tmp_path: Path) -> None:
    """Enum values shaped like driver placeholders, `50% off`, quotes and backslashes, in an override's declared
    values, string literals and regexes, and in the rows: where, reason and bulk agree with evaluate on every
    driver (before: psycopg2 ran the placeholder, psycopg 3 failed on `50% off`)."""
    engine = _hostile_engine(tmp_path)
    tags: Any = [[], ["x"], ["%s", "x"]]
    if db.dialect == "sqlite":
        tags = [json.dumps(t) for t in tags]
    rows = [{"store.id": store, "order.n": n, "order.e": e, "order.t": tags[i % 3], "order.h": h,
             "order.note": note}
            for i, (store, n, e, h, note) in enumerate(
                (s, n, e, h, note) for s in ("evil", "other") for n in (0, 2) for e in ("a", "%s")
                for h in (*HOSTILE[:4], "nope%", None) for note in ("it's %s", "a%b", "\\"))]
    assert check_exact(db, engine, rows, [{}]) >= 4 * len(rows)


def test_reason_text_quotes_a_hostile_value_exactly(db: Database, tmp_path: Path) -> None:
    """A bad value shaped like a placeholder is quoted in the reason as bulk words it, on every driver."""
    engine = _hostile_engine(tmp_path)
    table, twin, columns = db.table([f for f in engine.store_policy("evil").facts])
    db.insert(twin, columns, [{"store.id": "evil", "order.n": 2, "order.e": "a", "order.t": "[]" if db.dialect == "sqlite"
                               else [], "order.h": "%(x)s)s", "order.note": "n"}])
    with db.engine.connect() as conn:
        text = conn.execute(sa.select(psql.reason(engine, "go", {}, columns)).select_from(table)).scalar()
    assert text == ("could not be decided: order.h: '%(x)s)s' is not a declared value (expected one of: "
                    + ", ".join(HOSTILE) + ")")
