"""The plan fuzzer (issue 21), beside the differential fuzzer of tests/test_fuzz.py: random policies (every fact
type, named conditions, action references, ternaries nested three deep, a second version, a store override) and
hostile row data (driver placeholders, ``%``, quotes, backslashes, control characters, NUL where the database
holds it, bad types, huge and tiny numbers, 2-D arrays), on SQLite and on PostgreSQL: every row's state from
``where`` equals ``evaluate``'s, ``sql.bulk`` equals ``engine.bulk``, ``sql.reason`` gives bulk's reason.

``make test`` runs a short profile (a few examples); ``make fuzz`` (``POLICYENGINE_FUZZ=long``) the long one and
prints its figures.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sql_support import Database, check_exact, load_generated
from test_sql_plans import _USERS, _policies

pytest_plugins = ["sql_support"]  # the db fixtures
LONG = os.environ.get("POLICYENGINE_FUZZ") == "long"
EXAMPLES = int(os.environ.get("POLICYENGINE_FUZZ_EXAMPLES", "300")) if LONG else 2
HOSTILE = ["%(x)s", "%s", "50% off", "it's", "\\", "\\x00", "?", ":p", "$1", "%%", "'; --", "\x1b[0m", "a\x85b",
           "a\u2028b", "\ufeff", "\U000e0001x", "\u200b" * 30 + "'"]  # (escaped by repr above U+00FF too)


def _hostile(dialect: str) -> st.SearchStrategy[dict[str, Any]]:
    """Row overrides with hostile values for the string, enum, set and number facts."""
    sqlite = dialect == "sqlite"
    strings = st.sampled_from(HOSTILE + (["a\x00b", "x\x00"] if sqlite else []))
    sets: Any = st.lists(strings, max_size=3).map(lambda t: __import__("json").dumps(t)) if sqlite else \
        st.lists(strings, max_size=3) | st.just([["x", "y"], ["z", "w"]])
    numbers: Any = st.sampled_from([1e-320, 2**63 - 1, -(2**63), 1.7976931348623157e308]) if sqlite else \
        st.sampled_from([Decimal("1e-400"), Decimal("-5e-324"), Decimal(10) ** 300, Decimal("0.30000000000000004")])
    return st.fixed_dictionaries({}, optional={"order.s": strings, "order.e": strings, "order.t": sets,
                                               "order.n": numbers})


def _run(database: Database, tmp_path: Path, dialect: str) -> None:
    stats = {"cases": 0, "verdicts": 0, "started": time.monotonic()}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(case=_policies(dialect), overrides=st.lists(_hostile(dialect), min_size=1, max_size=8))
    def check(case: tuple[dict[str, str], list[dict[str, Any]]], overrides: list[dict[str, Any]]) -> None:
        files, rows = case
        rows = [*rows, *({**rows[i % len(rows)], **o} for i, o in enumerate(overrides))]
        engine = load_generated(files, tmp_path, "f")
        if engine is None:
            return
        stats["verdicts"] += check_exact(database, engine, rows, _USERS)
        stats["cases"] += 1

    check()
    if LONG:
        print(f"\nplan fuzzer ({dialect}): {stats['cases']} policies, {stats['verdicts']} row verdicts compared, "
              f"{time.monotonic() - stats['started']:.0f} s, nothing found")
    assert stats["verdicts"] >= stats["cases"]  # every loaded example compared its rows


def test_plan_fuzz_sqlite(sqlite_db: Database, tmp_path: Path) -> None:
    _run(sqlite_db, tmp_path, "sqlite")


def test_plan_fuzz_postgresql(postgres_db: Database, tmp_path: Path) -> None:
    _run(postgres_db, tmp_path, "postgresql")
