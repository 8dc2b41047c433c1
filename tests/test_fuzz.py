"""Differential and load fuzzers (issue 10).

* **Differential:** hypothesis draws a policy over every fact type and operator (numbers with the literals where
  Python and Decimal disagree, arithmetic, strings, regexes, enums, bools, sets, named conditions, action references,
  ternaries, three-valued ``and``/``or``), then valid and invalid facts; every evaluation path (``evaluate``,
  ``table_limit=0``, attribute objects, every fact expensive, ``strict``, ``evaluate_many``, ``bulk``) must agree
  with the others and with rule-engine (fuzz_support.check).
* **Load:** mutated copies of the shipped files must load or raise PolicyError, nothing else; in the long profile
  each load must also finish within :data:`LOAD_BOUND` seconds.

``make test`` runs a short profile (a few seconds); ``make fuzz`` (``POLICYENGINE_FUZZ=long``) the long one, which
prints its figures (cases run, time, largest hostile file and its load time).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import POLICIES
from fuzz_support import MISSING, check, engines
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import policyengine

LONG = os.environ.get("POLICYENGINE_FUZZ") == "long"
LONG_EXAMPLES = int(os.environ.get("POLICYENGINE_FUZZ_EXAMPLES", "2000"))
"""Examples per fuzzer in the long profile (``make fuzz FUZZ_EXAMPLES=...`` to change)."""
LOAD_BOUND = 2.0
"""CPU seconds one load of a hostile file may take (checked in the long profile only: no timing in the default
suite; CPU time, not wall time, so that other work on the machine does not count)."""

# No shrinking: each example loads engines, so shrinking takes minutes; the failing example is printed as drawn.
_COMMON: dict[str, Any] = {"deadline": None, "database": None, "phases": [Phase.explicit, Phase.generate],
                           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
DIFFERENTIAL = settings(max_examples=LONG_EXAMPLES if LONG else 10, **_COMMON)
LOADS = settings(max_examples=LONG_EXAMPLES if LONG else 6, **_COMMON)

FIGURES: dict[str, Any] = {"policies": 0, "policies refused": 0, "fact sets": 0, "loads": 0, "refused": 0, "largest": (0, 0.0, ""),
                           "slowest": (0.0, 0, "")}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    started = time.perf_counter()
    yield
    if LONG:
        size, seconds, what = FIGURES["largest"]
        slowest, slow_size, slow_what = FIGURES["slowest"]
        print(f"\nfuzz figures: {FIGURES['policies']} random policies ({FIGURES['policies refused']} more refused at "
              f"load), {FIGURES['fact sets']} fact sets in total; "
              f"{FIGURES['loads']} mutated loads ({FIGURES['refused']} refused with PolicyError); "
              f"{time.perf_counter() - started:.0f} s; largest hostile file {size} bytes ({what}) loaded in "
              f"{seconds:.2f} CPU s; slowest load {slowest:.2f} CPU s ({slow_size} bytes, {slow_what})")


# -- random policies ---------------------------------------------------------------------------------------------

FACTS = """
facts:
  order.n: {type: number}
  order.m: {type: number}
  order.s: {type: string}
  order.e: {type: enum, values: [a, b, c]}
  order.b: {type: bool}
  order.c: {type: bool}
  order.tags: {type: set}
  user.role: {type: enum, values: [admin, member]}
"""

LITERALS = ["0", "1", "2", "2.5", "0.1", "0.3", "0.30000000000000000001", "1152921504606846976", "1e23", "7",
            "1e-5", "9007199254740993", "123456789012345678901234567890", "1e300", "1e400", "0.5", "3"]
PATTERNS = ["a", "^a", "a+b", "[ab]*$", "x|y", "b$", "(ab)+", "[^a]"]


@st.composite
def numbers(draw: Any, finite: bool, depth: int) -> str:
    if finite:  # only literals: arithmetic over finite facts is decided in the table (and may fail there)
        lit = st.sampled_from(LITERALS)
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return draw(lit)
        cond = draw(booleans(True, 0))
        if choice == 1:
            return f"({cond} ? {draw(lit)} : {draw(lit)})"
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%"]))
        return f"(({cond} ? {draw(lit)} : 0) {op} {draw(lit)})"
    leaves = st.sampled_from(["order.n", "order.m", "order.n", "order.tags.length", "order.s.length",
                              *LITERALS])
    if depth <= 0 or draw(st.booleans()):
        leaf = draw(leaves)
        return f"-{leaf}" if leaf.startswith("order.") and draw(st.integers(0, 5)) == 0 else leaf
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f"-({draw(numbers(False, depth - 1))})"
    if kind == 1:
        return f"({draw(booleans(False, 0))} ? {draw(numbers(False, depth - 1))} : {draw(numbers(False, depth - 1))})"
    if kind == 2:
        return f"({draw(numbers(False, depth - 1))} ** 2)"
    op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%"]))
    return f"({draw(numbers(False, depth - 1))} {op} {draw(numbers(False, depth - 1))})"


@st.composite
def booleans(draw: Any, finite: bool, depth: int, refs: tuple[str, ...] = ()) -> str:
    finite_atoms = ["order.b", "order.c", "order.e == 'a'", "order.e in ['a', 'b']", "order.e != 'c'",
                    "user.role == 'admin'", "order.b == order.c", "order.e > 'a'", *refs,
                    # a short-circuit inside an atom, and action states compared (issue 23)
                    "order.b != (true or order.e == 'a')", "order.c == (order.b and order.e == 'b')",
                    *(f"{r} == false" for r in refs if r.startswith("actions."))]
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        kind = draw(st.integers(0, 5 if finite else 11))
        if kind <= 2:
            return draw(st.sampled_from(finite_atoms))
        if kind == 3 or (finite and kind <= 5):
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
            return f"{draw(numbers(finite, 1))} {op} {draw(st.sampled_from(LITERALS))}" if finite else \
                f"{draw(numbers(finite, 1))} {op} {draw(numbers(finite, 1))}"
        if kind == 4:
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
            return f"{draw(numbers(finite, 2))} {op} {draw(numbers(finite, 2))}"
        if kind == 5:
            members = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4))
            return f"{draw(numbers(finite, 1))} in [{', '.join(members)}]"
        if kind in (6, 7):
            op = draw(st.sampled_from(["=~", "=~~", "!~", "!~~"]))
            return f"order.s {op} '{draw(st.sampled_from(PATTERNS))}'"
        return draw(st.sampled_from(["order.s == 'ab'", "'a' in order.s", "'vip' in order.tags", "order.s < 'b'",
                                     "order.tags.length > 1", "order.n == order.m", "order.n < order.m"]))
    kind = draw(st.integers(0, 3))
    sub = booleans(finite, depth - 1, refs)
    if kind == 0:
        return f"not ({draw(sub)})"
    if kind == 1:
        return f"({draw(sub)} ? {draw(sub)} : {draw(sub)})"
    return "(" + f" {'and' if kind == 2 else 'or'} ".join(draw(st.lists(sub, min_size=2, max_size=3))) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def policies(draw: Any) -> str:
    finite = draw(st.booleans())
    expr = lambda refs=(): booleans(finite, 2, refs)  # noqa: E731
    c1 = draw(expr())
    a1 = {"visible": draw(expr(("c1",))), "allow": draw(expr(("c1",))), "guard": draw(expr()),
          "effect": draw(expr())}
    states = ("actions.a1.enabled", "actions.a1.visible", "actions.a1.hidden", "actions.a1.disabled", "c1")
    a2 = {"visible": draw(expr(states)), "allow": draw(expr(states)), "guard": draw(expr(states))}
    return f"""
apiVersion: policyengine/v1
kind: ActionPolicy
name: fuzz
version: 1
{FACTS}
conditions:
  c1: {_quote(c1)}
actions:
  a1:
    label: A1
    visible: {_quote(a1['visible'])}
    allow: {_quote(a1['allow'])}
    deny:
      - {{id: g1, when: {_quote(a1['guard'])}, reason: G1.}}
    effects:
      - {{when: {_quote(a1['effect'])}, operation: op1}}
  a2:
    label: A2
    visible: {_quote(a2['visible'])}
    allow: {_quote(a2['allow'])}
    deny:
      - {{id: g2, when: {_quote(a2['guard'])}, reason: G2.}}
"""


def _hostile_numbers() -> Any:
    return st.one_of(
        st.integers(-3, 3), st.integers(-10**6, 10**6), st.sampled_from([2**53 + 1, 2**60, 10**23, 10**30 + 1,
                                                                           -(10**30) - 1, 123456789012345678901234567890]),
        st.sampled_from([0.1, 0.3, 2.5, 0.5, -0.0, 1e23, float(2**60), 5e-324, 1.7e308, 1e-5, 9007199254740992.0,
                         1152921504606847000.0]),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def _invalid() -> Any:
    return st.sampled_from([None, MISSING, "1", float("nan"), float("inf"), True, [1], {"a": 1}])


FACT_VALUES: dict[str, Any] = {
    "order.n": _hostile_numbers(), "order.m": _hostile_numbers(),
    "order.s": st.one_of(st.text("abxy", max_size=8), st.sampled_from(["", "ab", "aab", "x" * 5000 + "a"])),
    "order.e": st.sampled_from(["a", "b", "c"]), "order.b": st.booleans(), "order.c": st.booleans(),
    "order.tags": st.lists(st.sampled_from(["vip", "a", ""]), max_size=3),
    "user.role": st.sampled_from(["admin", "member"]),
}


@st.composite
def fact_sets(draw: Any) -> dict[str, Any]:
    values = {}
    for name, valid in FACT_VALUES.items():
        values[name] = draw(_invalid()) if draw(st.integers(0, 7)) == 0 else draw(valid)
    return values


@DIFFERENTIAL
@given(text=policies(), facts=st.lists(fact_sets(), min_size=1, max_size=6))
def test_every_path_decides_like_rule_engine(text: str, facts: list[dict[str, Any]]) -> None:
    try:
        engs = engines(text)
    except policyengine.PolicyError as err:  # literal arithmetic rule-engine cannot fold (1e23 // 7), or folds past
        assert all(d.message.startswith(("invalid condition: arithmetic error", "number literal"))
                   for d in err.diagnostics), err  # the literal budget (1e400 ** 2)
        FIGURES["policies refused"] += 1
        return
    FIGURES["policies"] += 1
    for values in facts:
        check(engs, values)
        FIGURES["fact sets"] += 1


# -- regressions: cases the fuzzers (or users) found, run on every path ------------------------------------------

def _regression_policy(visible_a1: str, allow_a1: str, visible_a2: str) -> str:
    return f"""
apiVersion: policyengine/v1
kind: ActionPolicy
name: fuzz
version: 1
{FACTS}
actions:
  a1:
    label: A1
    visible: {_quote(visible_a1)}
    allow: {_quote(allow_a1)}
  a2:
    label: A2
    visible: {_quote(visible_a2)}
    allow: "true"
"""


REGRESSIONS: list[tuple[str, str, dict[str, Any]]] = [
    # issue 23: the lazy path short-circuited inside an atom and never read the missing fact the eager path saw
    ("lazy-short-circuit-inside-atom", _regression_policy("true", "true", "order.b != (true or order.e == 'a')"),
     {"order.b": False, "order.e": MISSING}),
    ("lazy-short-circuit-inside-atom-and", _regression_policy("true", "true", "order.b == (false and order.e == 'a')"),
     {"order.b": False, "order.e": "nope"}),
    # issue 23: a shown action disabled by errors: its visibility is known, however a condition spells it
    ("hidden-compared-with-false", _regression_policy("true", "order.c", "actions.a1.hidden == false"),
     {"order.c": MISSING}),
    ("not-hidden", _regression_policy("true", "order.c", "not actions.a1.hidden"), {"order.c": MISSING}),
    ("visible-compared-with-true", _regression_policy("true", "order.c", "actions.a1.visible == true"),
     {"order.c": "x"}),
    ("hidden-not-equal-true", _regression_policy("true", "order.c", "actions.a1.hidden != true and order.b"),
     {"order.c": MISSING, "order.b": True}),
    # issue 22: the interpreter finds what an atom reads in the IR; an atom reading visibility only stays trusted
    ("visible-inside-a-ternary", _regression_policy("true", "order.c", "(actions.a1.visible ? 1 : 2) == 1"),
     {"order.c": MISSING}),
    ("visible-compared-with-hidden", _regression_policy("true", "order.c", "actions.a1.visible != actions.a1.hidden"),
     {"order.c": MISSING}),
    ("hidden-compared-with-enabled", _regression_policy("true", "order.c", "actions.a1.hidden == actions.a1.enabled"),
     {"order.c": MISSING}),
    ("hidden-or-enabled", _regression_policy("true", "order.c", "actions.a1.hidden or actions.a1.enabled"),
     {"order.c": MISSING}),
    ("hidden-compared-with-a-bad-fact", _regression_policy("true", "order.c", "actions.a1.hidden == (order.n > 0)"),
     {"order.c": MISSING, "order.n": MISSING}),
]


@pytest.mark.parametrize(("text", "values"), [(t, v) for _, t, v in REGRESSIONS], ids=[n for n, _, _ in REGRESSIONS])
def test_regressions_decide_alike_on_every_path(text: str, values: dict[str, Any]) -> None:
    engs = engines(text)
    full = {name: values.get(name, draw) for name, draw in
            {"order.n": 1, "order.m": 2, "order.s": "ab", "order.e": "a", "order.b": True, "order.c": False,
             "order.tags": [], "user.role": "admin"}.items()}
    check(engs, full)


def test_two_spellings_of_an_action_state_decide_alike() -> None:
    values = {"order.c": MISSING, "order.b": True}
    menus = []
    for spelling in ("not actions.a1.hidden", "actions.a1.hidden == false", "actions.a1.hidden != true",
                     "actions.a1.visible", "actions.a1.visible == true"):
        engs = engines(_regression_policy("true", "order.c", spelling))
        menus.append(check(engs, values)["a2"].state)
    assert menus == ["enabled"] * 5


@pytest.mark.parametrize("condition", ["order.n in [order.m]", "order.n not in [1, order.m]",
                                       "order.n in {order.m}", "'a' in ['b', order.s]"])
def test_a_fact_inside_a_list_literal_is_a_located_policy_error(condition: str) -> None:
    with pytest.raises(policyengine.PolicyError) as raised:
        engines(_regression_policy("true", "true", condition))
    (diagnostic,) = raised.value.diagnostics
    member = condition.split("[")[-1].split("{")[-1].rstrip("]}").split(", ")[-1]
    assert diagnostic.message == f"list members must be literal values, not {member}"
    assert diagnostic.line == 24 and diagnostic.column == 15 + condition.rindex(member)


# -- mutated shipped files ---------------------------------------------------------------------------------------

SHIPPED = sorted(p for p in POLICIES.rglob("*.yaml") if "tests" not in p.parts and "invariants" not in p.parts)
HOSTILE = ["inf", "1e999999999", "2 ** 1000000", "(a+)+$", "not " * 600 + "true", " or ".join(["true"] * 300),
           "1 / 0 == 1", "order.status =~ '(a|a)*$'", "0.30000000000000000001", "'\\x00'", "[" * 300, "&.", "$now",
           "\t", "\n- x\n", "{", "*a", "&a x", "!!python/object:os.system", "~", "1e-400"]


@st.composite
def mutations(draw: Any) -> tuple[Path, str]:
    path = draw(st.sampled_from(SHIPPED))
    text = path.read_text()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 4))
        if kind == 0:  # delete a span
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == 1:  # insert something hostile
            text = text[:at] + draw(st.sampled_from(HOSTILE)) + text[at:]
        elif kind == 2:  # replace a condition's or a value's tail with something hostile
            end = text.find("\n", at)
            text = text[:at] + draw(st.sampled_from(HOSTILE)) + (text[end:] if end >= 0 else "")
        elif kind == 3:  # duplicate a line many times (big files, big enums, repeated keys)
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            line = text[start:end if end >= 0 else len(text)]
            text = text[:start] + (line + "\n") * draw(st.integers(2, 2000)) + text[start:]
        else:  # random bytes
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
    return path, text


@LOADS
@given(mutation=mutations())
def test_mutated_shipped_files_load_or_raise_policy_error(mutation: tuple[Path, str]) -> None:
    path, text = mutation
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "policies"
        shutil.copytree(POLICIES, root, ignore=shutil.ignore_patterns("tests", "invariants"))
        target = root / path.relative_to(POLICIES)
        target.write_text(text)
        started = time.process_time()
        try:
            policyengine.load(root)
        except policyengine.PolicyError as err:
            assert err.diagnostics, err
            FIGURES["refused"] += 1
        elapsed = time.process_time() - started
    FIGURES["loads"] += 1
    size = len(text.encode())
    if size > FIGURES["largest"][0]:
        FIGURES["largest"] = (size, elapsed, path.name)
    if elapsed > FIGURES["slowest"][0]:
        FIGURES["slowest"] = (elapsed, size, path.name)
    if LONG:
        assert elapsed < LOAD_BOUND, f"{path.name} ({size} bytes) took {elapsed:.2f} s to load"
