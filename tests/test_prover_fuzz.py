"""The prover fuzzer (issue 20): hostile store overrides against random locked bases; every override that LOADS is
searched for a runtime counterexample, and a loaded override the runtime shows widening a lock is a failure.

The material is what the solver once read otherwise than the runtime: escape sequences (``\\u{41}``, ``\\x41``),
code points beyond z3's alphabet (U+2FFFF, U+30000, U+10FFFF), regex ranges and classes, ``default:`` values, enum
values and set members, and numbers at the edges. A base locks Delete's guard over ``order.sent_to_warehouse`` and
a random condition on string, set, enum and number facts, and Force Delete's visibility and allow (``is_admin``);
an override redefines ``is_admin`` or the locked guard with random conditions made of the same material.

For each override that loads, the witnesses are orders built from the literals of the base and the override and
their neighbours (one character more or less, the next code point, the empty string, the code points around the
solver's alphabet, a missing fact that takes its default), plus the solver's own models of "the store enables it"
decoded as the runtime reads them; ``evaluate`` of the store's policy must enable Delete and Force Delete (and
show Force Delete) only where the base does. ``make test`` runs a short profile (a few seconds);
``POLICYENGINE_FUZZ=long`` (``make fuzz``) runs ``POLICYENGINE_FUZZ_EXAMPLES`` overrides. Each run prints how many
overrides it tried, loaded and refused, and how many witnesses it evaluated.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from overrides_support import BASE_TEXT
from rule_engine import Rule

import policyengine
from policyengine.proof import smt

pytestmark = pytest.mark.skipif(not smt.available(), reason="policyengine[smt] is installed by make test")

LONG = os.environ.get("POLICYENGINE_FUZZ") == "long"
EXAMPLES = int(os.environ.get("POLICYENGINE_FUZZ_EXAMPLES", "2000")) if LONG else 6
ROLES = ("viewer", "member", "admin")
EDGE_CHARS = ("\U0002fffe", "\U0002ffff", "\U00030000", "\U00030001", "\U0010ffff", "\ud7ff", "\ue000", "\x00", "\n")

# Pieces of a rule-engine string literal as a policy writes it (source text, between the quotes).
PIECES = ("a", "A", "z", "\\\\u{41}", "\\\\x41", "\\x41", "\\u0041", "\\U00030000", "\\U0002ffff", "\\U0010ffff",
          "\U00030000", "\U0002ffff", "\\\\", "\\n", "\\'", "{", "}", "u", "é", "\\U0002fffe")
REGEXES = ("^a", "a$", "^[\\x00-\\U0002ffff]*$", "(?s)^[\\x00-\\U0010ffff]*$", "^[^a]$", "^.$", "(?s)^.$",
           "^[a-c]+$", "^\\U00030000", "[\\U00030000-\\U00030005]", "^[\\U0002fffe-\\U0010ffff]$", "\\\\u\\{41\\}",
           "^A$", "^\\x41$", "^$", "(?s).", "[^\\U0002ffff]")
NUMBERS = ("0", "-0", "1e-1000", "1e1000", "0.1", "0.30000000000000004", "9999999999999999999999999999",
           "10000000000000000000000000000", "-1", "1000", "1000.01")

_counts: Counter[str] = Counter()


def literal(pieces: list[str]) -> str:
    return "'" + "".join(pieces) + "'"


@st.composite
def atoms(draw: Any) -> str:
    """One comparison over the fuzzed facts, written as a policy writes it."""
    lit = literal(draw(st.lists(st.sampled_from(PIECES), max_size=3)))
    other = literal(draw(st.lists(st.sampled_from(PIECES), max_size=3)))
    kind = draw(st.sampled_from(["eq", "ne", "lt", "gt", "in", "contains", "regex", "search", "set", "enum", "len",
                                 "num", "eqne", "facts", "tern"]))
    number = draw(st.sampled_from(NUMBERS))
    return {
        "eq": f"order.note == {lit}", "ne": f"order.note != {lit}", "lt": f"order.note < {lit}",
        "gt": f"order.note > {lit}", "in": f"order.note in [{lit}, {other}]", "contains": f"{lit} in order.note",
        "regex": f"order.note =~ '{draw(st.sampled_from(REGEXES))}'",
        "search": f"order.note =~~ '{draw(st.sampled_from(REGEXES))}'",
        "set": f"{lit} in order.tags", "enum": "order.kind == order.note", "len": f"order.note.length == {len(lit)}",
        "num": f"order.total > {number}", "eqne": f"order.note == {lit} and order.note != {other}",
        "facts": "order.note == order.other", "tern": f"(order.flag ? order.note : {lit}) == {other}",
    }[kind]


SPELLINGS = (("'A'", "'\\x41'", "'\\u0041'", "'\\\\u{41}'", "'\\\\x41'", "'\\101'"),
             ("'\U00030000'", "'\\U00030000'", "'\\U0002ffff'", "'\U0002ffff'", "'\\U00030001'"),
             ("'a\\n'", "'a\n'", "'a\\\\n'"))
"""Spellings of a few values (and of values that differ by one code point): the same text for the runtime, or not."""


@st.composite
def near_contradictions(draw: Any) -> str:
    """A condition that is a contradiction when two spellings mean one value, and satisfiable otherwise."""
    group = draw(st.sampled_from(SPELLINGS))
    one, two = draw(st.sampled_from(group)), draw(st.sampled_from(group))
    full = "(?s)^[\\x00-\\U0010ffff]*$"
    return draw(st.sampled_from([
        f"order.note == {one} and order.note != {two}", f"{one} in order.tags and not {two} in order.tags",
        f"order.note in [{one}] and not order.note in [{two}]", f"{one} in order.note and not {two} in order.note",
        f"order.kind == {one} and order.note != {two} and order.note == order.kind",
        f"not order.note =~ '{full}'", f"not order.note =~ '{draw(st.sampled_from(REGEXES))}' and order.note == {one}",
        f"order.note > {one} and order.note < {two}"]))


@st.composite
def conditions(draw: Any) -> str:
    if draw(st.integers(0, 2)) == 0:
        return str(draw(near_contradictions()))
    parts = draw(st.lists(atoms(), min_size=1, max_size=3))
    joiner = draw(st.sampled_from([" and ", " or "]))
    negate = draw(st.booleans())
    text = joiner.join(f"({p})" for p in parts)
    return f"not ({text})" if negate else text


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    enum_values = sorted({"B", *draw(st.lists(st.sampled_from(["\\u{41}", "A", "\U00030000", "x\\x41", "é"]),
                                              max_size=2))})
    default = draw(st.one_of(st.none(), st.sampled_from(["", "a", "\U00030000", "\\u{41}", "\U0010ffff"])))
    return {"base": draw(conditions()), "override": draw(conditions()), "target": draw(st.sampled_from(
        ["is_admin", "guard"])), "enum": enum_values, "default": default}


def _files(scenario: dict[str, Any]) -> tuple[str, str]:
    base = yaml.safe_load(BASE_TEXT)
    note: dict[str, Any] = {"type": "string"}
    if scenario["default"] is not None:
        note["default"] = scenario["default"]
    base["facts"].update({"order.note": note, "order.other": {"type": "string"}, "order.tags": {"type": "set"},
                          "order.kind": {"type": "enum", "values": scenario["enum"]},
                          "order.total": {"type": "number"}, "order.flag": {"type": "bool"}})
    guard = next(g for g in base["actions"]["delete"]["deny"] if g["id"] == "sent-to-warehouse")
    guard["when"] = f"order.sent_to_warehouse or ({scenario['base']})"
    override: dict[str, Any] = {"apiVersion": "policyengine/v1", "kind": "StoreOverride", "store": "acme",
                                "version": 1, "base": {"policy": "order-actions", "version": 1}}
    if scenario["target"] == "is_admin":
        override["conditions"] = {"is_admin": f"user.role == 'admin' or ({scenario['override']})"}
    else:
        override["actions"] = {"delete": {"replace_deny": {"sent-to-warehouse": {
            "when": f"order.sent_to_warehouse or ({scenario['base']}) and not ({scenario['override']})"}}}}
    dump = {"allow_unicode": True, "sort_keys": False, "width": 10 ** 6}
    return yaml.safe_dump(base, **dump), yaml.safe_dump(override, **dump)


def _literals(text: str) -> set[str]:
    """Every string literal in ``text`` (conditions), as the runtime reads it."""
    found: set[str] = set()
    for source in _quoted(text):
        try:
            value = Rule(source).evaluate({})
        except Exception:  # noqa: BLE001 - not a literal on its own (a regex, a broken piece): skipped
            continue
        if isinstance(value, str):
            found.add(value)
    return found


def _quoted(text: str) -> Iterator[str]:
    start = None
    i = 0
    while i < len(text):
        char = text[i]
        if start is None and char == "'":
            start = i
        elif start is not None and char == "\\":
            i += 1
        elif start is not None and char == "'":
            yield text[start:i + 1]
            start = None
        i += 1


def _neighbours(value: str) -> set[str]:
    out = {value, value + "a", value[:-1], "x" + value, value + "\U00030000"}
    if value:
        last = ord(value[-1])
        out |= {value[:-1] + chr(c) for c in (last - 1, last + 1) if 0 <= c <= 0x10FFFF and not 0xD800 <= c < 0xE000}
    return out


def _witnesses(pool: list[str], models: list[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
    for values in models:
        yield values
    for _ in range(60 if LONG else 25):
        values: dict[str, Any] = {"order.sent_to_warehouse": rng.random() < 0.5, "order.flag": rng.random() < 0.5,
                                  "order.total": float(rng.choice(NUMBERS)) if rng.random() < 0.8 else 1000}
        for name in ("order.note", "order.other"):
            if name == "order.other" and rng.random() < 0.3:
                values[name] = values["order.note"] if "order.note" in values else ""
            elif rng.random() < 0.9 or name == "order.other":
                values[name] = rng.choice(pool)
        values["order.tags"] = sorted(set(rng.sample(pool, k=min(len(pool), rng.randint(0, 3)))))
        yield values


def _order(values: dict[str, Any], enum: list[str], rng: random.Random) -> dict[str, Any]:
    order: dict[str, Any] = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
                             "store": {"id": "acme", "manual_fulfillment": True}, "kind": rng.choice(enum)}
    for name, value in values.items():
        field = name.split(".", 1)[1]
        if name.startswith("order."):
            order[field] = sorted(value) if isinstance(value, frozenset) else value
    return order


def _models(engine: policyengine.Engine) -> list[dict[str, Any]]:
    """The solver's examples of the store enabling each locked action, decoded as the runtime reads them."""
    out: list[dict[str, Any]] = []
    policy = engine.store_policy("acme")
    for action in ("delete", "force_delete"):
        try:
            encoder = smt.Encoder()
            found = smt.satisfiable(encoder, encoder.policy(policy).action(action).enabled, budget_ms=500)
        except smt.Unsupported:
            continue
        if found.holds and found.values:
            out.append(dict(found.values))
    return out


def _check(scenario: dict[str, Any]) -> None:
    base_text, override_text = _files(scenario)
    with tempfile.TemporaryDirectory(prefix="pe-prover-fuzz-") as tmp:
        root = Path(tmp)
        (root / "stores").mkdir()
        (root / "order-actions.yaml").write_text(base_text, encoding="utf-8")
        try:
            base = policyengine.load(root)
        except policyengine.PolicyError:
            _counts["bases refused"] += 1  # a base the compiler refuses (a regex it does not accept, say)
            return
        (root / "stores" / "acme.yaml").write_text(override_text, encoding="utf-8")
        _counts["overrides"] += 1
        try:
            store = policyengine.load(root)
        except policyengine.PolicyError:
            _counts["refused"] += 1
            return
    _counts["loaded"] += 1
    rng = random.Random(hash((base_text, override_text)))
    pool = sorted(set().union(*(_neighbours(v) for v in _literals(base_text + override_text) |
                                {"", "A", "\\u{41}", *EDGE_CHARS, *scenario["enum"]})))
    for values in _witnesses(pool, _models(store), rng):
        order = _order(values, scenario["enum"], rng)
        for role in ROLES:
            _counts["witnesses"] += 1
            user = {"role": role}
            mine, theirs = store.evaluate(order, user), base.evaluate(order, user, store="acme")
            if theirs.errors and not mine.errors or any(theirs[a].errors for a in ("delete", "force_delete")):
                # The lock proofs cover valid facts (docs/stores.md); where the base fails closed on a missing fact
                # and the store's condition decides around it (Kleene's short circuit), that is counted and
                # reported, not failed: a known gap (issue 20's report), outside what the proofs claim.
                if any(mine[a].enabled and not theirs[a].enabled for a in ("delete", "force_delete")):
                    _counts["bad-fact divergences"] += 1
                continue
            for action in ("delete", "force_delete"):
                assert not (mine[action].enabled and not theirs[action].enabled), (
                    f"loaded override widens {action}: {ascii(order)} {role}\n{override_text}\n{scenario['base']}")
            assert not (mine["force_delete"].visible and not theirs["force_delete"].visible), (ascii(order), role)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=list(HealthCheck))
@given(scenario=scenarios())
def test_no_loaded_override_has_a_runtime_counterexample(scenario: dict[str, Any]) -> None:
    _check(scenario)


def test_report_the_figures() -> None:
    """Runs after the fuzzer (file order): what it tried, printed (``make fuzz`` shows it with ``-s``)."""
    print(f"\nprover fuzz ({'long' if LONG else 'short'} profile): {_counts['overrides']} overrides tried, "
          f"{_counts['loaded']} loaded, {_counts['refused']} refused; {_counts['witnesses']} witnesses evaluated; "
          f"{_counts['bases refused']} bases refused; {_counts['bad-fact divergences']} divergences where the base "
          "fails closed on a bad fact (outside the proofs' domain, reported)")
    assert _counts["overrides"] > 0 or _counts["bases refused"] > 0
