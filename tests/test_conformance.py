"""The conformance corpus (tests/conformance/*.yaml) on every backend (issue 22).

Each backend of tests/conformance_support.py decides every row of every case; a verdict that differs from the
case's ``expect`` fails, unless tests/conformance/exceptions.yaml lists the (backend, case) with its reason, and an
exception that no longer differs fails too (so the file stays short and true). A backend that refuses a case by name
(it cannot model a construct) is counted, and each backend must decide its share of the corpus. Load-error cases
must be refused by ``load()`` with their message.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from conformance_support import BACKENDS, Case, Loaded, Refused, load_all, load_case, read_corpus, read_exceptions, sql
from sql_support import postgres_db, sqlite_db  # noqa: F401 - fixtures

import policyengine

# rule-engine decodes a string literal with Python's unicode-escape codec, which warns about `'\S'` (an unknown
# escape it keeps as it is): the regex cases write patterns that way on purpose, as policies do.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")

CASES = read_corpus()
EXCEPTIONS = read_exceptions()
MINIMUM = {"table": 0.1, "bdd": 0.1, "smt": 0.7, "plan": 0.95, "sqlite": 0.95, "postgresql": 0.93}
"""The share of each shard's cases each backend must decide (the rest it refuses by name); others: all. PostgreSQL
refuses by name what it cannot reproduce exactly (``**``, Python's regex classes and inline flags, a NUL in a literal),
about 5% of a shard since tests/conformance/ir.yaml."""


SHARDS = 4
"""The corpus is decided in shards, each shard's backends in one xdist group (``make test`` runs
``--dist loadgroup``), so each shard's policies are loaded once, by one worker."""


@functools.lru_cache(maxsize=SHARDS)
def shard(index: int) -> list[Loaded]:
    return load_all(CASES[index::SHARDS])


def _params(backends: Iterable[str]) -> list[Any]:
    return [pytest.param(b, i, id=f"{b}-{i}", marks=pytest.mark.xdist_group(f"conformance-{i}"))
            for i in range(SHARDS) for b in backends]


def test_corpus_shape() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert len(CASES) >= 500
    assert all(c.rows or c.error is not None for c in CASES), [c.name for c in CASES if not c.rows and c.error is None]
    known = set(names)
    for backend, entries in EXCEPTIONS.items():
        assert backend in {*BACKENDS, "sqlite", "postgresql"}, backend
        assert all(any(fnmatch.fnmatchcase(n, e) for n in known) for e in entries), (backend, entries)
        assert all(isinstance(reason, str) and len(reason) > 20 for reason in entries.values()), backend


@pytest.mark.parametrize("case", [c for c in CASES if c.error is not None], ids=lambda c: c.name)
def test_load_error_is_refused(case: Case) -> None:
    with pytest.raises(policyengine.PolicyError) as caught:
        load_case(case)
    assert case.error is not None and case.error in str(caught.value)


def _listed(backend: str, name: str) -> str | None:
    """The exceptions.yaml entry (a case name or a glob such as ``regex-*``) that covers ``name`` on ``backend``."""
    return next((key for key in EXCEPTIONS.get(backend, {}) if fnmatch.fnmatchcase(name, key)), None)


def _compare(backend: str, results: dict[str, Any], loaded: list[Loaded]) -> Iterator[str]:
    """Each disagreement not listed, each listed exception that no longer covers a disagreement; counts refusals."""
    used: set[str] = set()
    refused = 0
    for item in loaded:
        got = results[item.case.name]
        if isinstance(got, Refused):
            refused += 1
            continue
        wrong = [(dict(row.given), row.expect, verdict) for row, verdict in zip(item.case.rows, got, strict=True)
                 if verdict is not None and verdict != row.expect]
        entry = _listed(backend, item.case.name)
        if wrong and entry is None:
            yield f"{item.case.name} ({item.case.file}): `{item.case.when}`: " + "; ".join(
                f"given {g!r:.80} expected {e}, {backend} says {v}" for g, e, v in wrong[:3])
        if wrong and entry is not None:
            used.add(entry)
    matched = {e for e in EXCEPTIONS.get(backend, {}) for item in loaded if fnmatch.fnmatchcase(item.case.name, e)}
    for entry in sorted(matched - used):
        yield f"exceptions.yaml lists {entry!r} for {backend}, but no such case disagrees now: remove the entry"
    decided = 1 - refused / len(loaded)
    if decided < MINIMUM.get(backend, 1.0):
        yield f"{backend} decided only {decided:.0%} of the cases (refused {refused})"


@pytest.mark.parametrize(("backend", "index"), _params(BACKENDS))
def test_backend(backend: str, index: int) -> None:
    loaded = shard(index)
    problems = list(_compare(backend, BACKENDS[backend](loaded), loaded))
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems)


@pytest.mark.parametrize(("backend", "index"), _params(["sqlite", "postgresql"]))
def test_sql(backend: str, index: int, request: pytest.FixtureRequest) -> None:
    """Plans in the database: one table per shard holds its cases' rows (SQLite in memory, the real PostgreSQL)."""
    db = request.getfixturevalue("sqlite_db" if backend == "sqlite" else "postgres_db")
    loaded = shard(index)
    problems = list(_compare(backend, sql(db, loaded), loaded))
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems)
