"""The service's fast paths agree with the slow ones they stand in for (issue 24): the hand-written body checks
accept only what the request schemas accept (and accept the usual valid bodies), and parsing with orjson reads every
body as the standard parser does (the same value, or an error)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.service.api import SCHEMAS
from policyengine.service.app import ApiError, _parse
from policyengine.service.checks import FAST_CHECKS, batch_ok, batch_pairs, evaluate_ok

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_KEYS = st.sampled_from(["order", "user", "store", "strict", "pairs", "stor", ""])
_OBJECT = st.dictionaries(st.text(max_size=4), _VALUES, max_size=3)
_PAIR = st.fixed_dictionaries({"order": _OBJECT, "user": _OBJECT}) | st.dictionaries(_KEYS, _VALUES, max_size=3)
_BODIES = st.dictionaries(_KEYS, _VALUES | _OBJECT | st.lists(_PAIR, max_size=3), max_size=5) | _VALUES
_OPTIONS = st.fixed_dictionaries({}, optional={"store": st.none() | st.text(max_size=5), "strict": st.booleans()})


@settings(max_examples=300, deadline=None)
@given(_BODIES)
def test_a_fast_check_accepts_only_what_the_schema_accepts(body: Any) -> None:
    for name, check in FAST_CHECKS.items():
        if check(body) is not None:
            jsonschema.validate(body, SCHEMAS[name])


@settings(max_examples=200, deadline=None)
@given(_OBJECT, _OBJECT, _OPTIONS, st.lists(st.fixed_dictionaries({"order": _OBJECT, "user": _OBJECT}), max_size=4))
def test_the_fast_checks_accept_valid_bodies(order: Any, user: Any, options: dict[str, Any],
                                             pairs: list[Any]) -> None:
    assert evaluate_ok({"order": order, "user": user, **options})
    assert batch_ok({"pairs": pairs, **options})
    # what the handler is handed: each pair's order and user, in order
    assert batch_pairs({"pairs": pairs, **options}) == [(p["order"], p["user"]) for p in pairs]


def _standard(body: bytes) -> Any:
    try:
        return ("ok", json.loads(body.decode("utf-8"), parse_constant=lambda c: 1 / 0,
                                 parse_float=lambda t: float(t) if abs(float(t)) != float("inf") else 1 / 0))
    except (ValueError, ZeroDivisionError, RecursionError):
        return ("error",)


def _ours(body: bytes) -> Any:
    try:
        return ("ok", _parse(body))
    except ApiError:
        return ("error",)


@settings(max_examples=200, deadline=None)
@given(_VALUES)
def test_parsing_reads_every_body_as_the_standard_parser(value: Any) -> None:
    body = json.dumps(value).encode()
    assert _ours(body) == _standard(body)


def test_parsing_keeps_what_orjson_reads_differently() -> None:
    big = b'{"id": 123456789012345678901234567890, "n": -9999999999999999999}'
    assert _parse(big) == {"id": 123456789012345678901234567890, "n": -9999999999999999999}
    for depth in (900, 1010, 1030, 5000):  # orjson nests to 1,024; the standard parser stops near 1,000
        body = b"[" * depth + b"]" * depth
        assert _ours(body) == _standard(body), depth
    for body in (b"NaN", b"1e999", b'"\\ud800"', b"\xff", b"{} x", b"\xef\xbb\xbf{}", b"-0", b"1.5E+2"):
        assert _ours(body) == _standard(body), body
