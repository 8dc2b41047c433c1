"""Regular expressions on PostgreSQL (issue 21): every pattern the translation accepts near its limits compiles and
runs on the real server and matches exactly the strings Python's ``re`` matches; patterns past the limits (too many
copies of their pieces, too many optional pieces: what makes PostgreSQL "too complex" or seconds slow to compile)
are refused when the SQL is built, naming the pattern and the count. SQLite runs Python's ``re`` itself: the same
patterns are exact there too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sql_support import Database

import policyengine
from policyengine import PlanError
from policyengine import sql as psql

pytest_plugins = ["sql_support"]  # the db fixtures

_CLASS = "[" + "".join(chr(0x100 + 3 * i) for i in range(100)) + "]"
NEAR_LIMIT = [  # each loads (policyengine.ir.regexes: no nested or overlapping quantifiers)
    "[a-m]{0,255}[n-z]{0,255}[0-4]{0,255}[5-9]{0,235}",  # 1,000 copies, 4 optional pieces
    "(?:x[a-c]{3}){250}",                                # 1,000 copies of fixed pieces
    "(?:a|b|c|d){0,250}",
    f"(?:{_CLASS}){{0,250}}",                            # a 100-character class, copied 250 times
    "a?" * 64,                                           # 64 optional pieces in a row
    "(?:ab?)?" * 32,                                     # 32 optional copies of a body with one: 64
    "(?:" + "|".join(chr(0x100 + i) + "bc" for i in range(100)) + "){1,3}",  # 100 branches, 3 times
    "[a-z0-9._%+-]{1,64}@[A-Z]{2,8}$",
]
PAST_LIMIT = {  # each loads too; before, PostgreSQL took up to a second to compile them (or refused them)
    "(?:[a-z]{5}){255}": "repeats expanding to 1275 copies of its pieces (the limit is 1000)",
    "a?" * 65: "65 optional pieces",
    "(?:ab?)?" * 33: "66 optional pieces",
    "a?b?" * 128: "256 optional pieces",
    "a?" * 499: "499 optional pieces",
}
SUBJECTS = ["", "x" * 4096, "ab" * 2048, "abcd" * 1024, "a" * 4095 + "\n", "ab", "a.b@CD", "xabc" * 250,
            "".join(chr(0x100 + 3 * (i % 100)) for i in range(4096)), "\u0105bc" * 3, "m" * 255 + "z" * 10 + "7",
            "ab" * 32 + "\n"]


def _policy(tmp_path: Path, patterns: list[str]) -> policyengine.Engine:
    facts = "".join(f"  order.s{i}: {{type: string}}\n" for i in range(len(patterns)))
    actions = "".join(f"  m{i}:\n    label: M{i}\n    allow: {_yaml(f'order.s{i} =~ {_literal(p)}')}\n"
                      f"  s{i}:\n    label: S{i}\n    allow: {_yaml(f'order.s{i} =~~ {_literal(p)}')}\n"
                      for i, p in enumerate(patterns))
    (tmp_path / "p.yaml").write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\nname: p\nversion: 1\n"
                                     f"facts:\n{facts}actions:\n{actions}")
    return policyengine.load(tmp_path / "p.yaml")


def _yaml(text: str) -> str:
    return json.dumps(text)  # a YAML double-quoted scalar is a JSON string


def _literal(pattern: str) -> str:
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_near_limit_patterns_run_exactly(db: Database, tmp_path: Path) -> None:
    """Each accepted pattern near the limits, as `=~` and `=~~`, over subjects up to 4,096 characters: the rows
    `where` selects are those Python's re matches."""
    engine = _policy(tmp_path, NEAR_LIMIT)
    table, twin, columns = db.table(list(engine.policy.facts))
    db.insert(twin, columns, [{f"order.s{i}": s for i in range(len(NEAR_LIMIT))} for s in SUBJECTS])
    with db.engine.connect() as conn:
        for i, pattern in enumerate(NEAR_LIMIT):
            for action, find in ((f"m{i}", re.match), (f"s{i}", re.search)):
                got = {r[0] for r in conn.execute(sa.select(table.c.id).where(
                    psql.where(engine.plan(action, {}), columns)))}
                assert got == {n for n, s in enumerate(SUBJECTS) if find(pattern, s)}, (action, pattern)


def test_past_limit_patterns_are_refused_when_the_sql_is_built(db: Database, tmp_path: Path) -> None:
    """Patterns past the limits: PostgreSQL refuses them by name when the SQL is compiled (before the query
    runs), naming the pattern and what is over; SQLite runs them (Python's re) exactly."""
    patterns = list(PAST_LIMIT)
    engine = _policy(tmp_path, patterns)
    table, twin, columns = db.table(list(engine.policy.facts))
    db.insert(twin, columns, [{f"order.s{i}": s for i in range(len(patterns))} for s in SUBJECTS[:4]])
    with db.engine.connect() as conn:
        for i, pattern in enumerate(patterns):
            query = sa.select(table.c.id).where(psql.where(engine.plan(f"s{i}", {}), columns))
            if db.dialect == "postgresql":
                with pytest.raises(PlanError) as caught:
                    conn.execute(query)
                assert f"regular expression {pattern!r}" in str(caught.value)
                assert PAST_LIMIT[pattern] in str(caught.value)
            else:
                got = {r[0] for r in conn.execute(query)}
                assert got == {n for n, s in enumerate(SUBJECTS[:4]) if re.search(pattern, s)}
