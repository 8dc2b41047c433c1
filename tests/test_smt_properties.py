"""The SMT translation (``policyengine.proof.smt``) against brute force, on random policies mixing every fact type.

* For random pairs of conditions over number, string, set, enum and bool facts (arithmetic that may fail,
  substrings, regexes, set membership and length), ``implies`` and ``equivalent`` on the actions' *enabled* states
  agree with a brute-force evaluation by ``engine.evaluate`` over values sampled around every literal (boundaries
  included); every counterexample, evaluated by ``engine.evaluate``, really shows the difference.
* Each regex form the translation accepts matches exactly the strings Python's ``re`` matches.
* Lint and verify decide the same by enumeration and by the solver where both apply.

``SMT_EXAMPLES=500 pytest tests/test_smt_properties.py`` runs the long profile (the default is short, for make test).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_FILE, POLICIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.analysis.diff import diff_policies
from policyengine.analysis.lint import lint
from policyengine.analysis.verify import find_invariant_files, load_invariants, verify
from policyengine.proof import smt, space

pytestmark = pytest.mark.skipif(not smt.available(), reason="policyengine[smt] is installed by make test")

EXAMPLES = int(os.environ.get("SMT_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

FACTS = """\
  order.total: {type: number}
  order.count: {type: number}
  order.channel: {type: string}
  order.tags: {type: set}
  order.kind: {type: enum, values: [p, q, r]}
  order.flag: {type: bool}
"""

NUMBER_LITERALS = ("0", "3", "10.5", "1000", "-2")
ATOMS = (
    *(f"order.total {op} {lit}" for op in ("<", "<=", ">", ">=", "==", "!=") for lit in NUMBER_LITERALS),
    "order.total + order.count > 10.5", "order.total * 2 >= 1000", "order.total - order.count == 3",
    "order.total / order.count > 3", "order.total // 3 == 3", "order.total % 2 == 1", "-order.total < -2",
    "order.total > order.count", "order.total ** 2 > 10",
    "order.channel == 'amz'", "order.channel != 'ebay'", "'am' in order.channel", "order.channel < 'm'",
    "order.channel =~ '^am[a-z]*$'", "order.channel =~~ 'zon'", "order.channel !~ 'a'", "order.channel.length > 2",
    "order.channel in ['amz', 'ebay']",
    "'vip' in order.tags", "'hold' in order.tags", "order.tags.length >= 2", "order.tags.length == 0",
    "order.channel in order.tags",
    "order.kind in ['p', 'q']", "order.kind == 'r'", "order.kind < 'q'", "order.flag",
    "(order.flag ? order.total : order.count) > 3",
)

SAMPLES: dict[str, tuple[Any, ...]] = {
    "order.total": (-3, -2, -1.99, 0, 0.01, 1, 1.5, 2.99, 3, 3.01, 5, 10.49, 10.5, 10.51, 999.99, 1000, 1000.01, 2000),
    "order.count": (0, 1, 2.5, 3, -1, 10),
    "order.channel": ("", "amz", "amazon", "ebay", "zon", "a", "m", "am", "vip", "zz"),
    "order.tags": ((), ("vip",), ("hold",), ("vip", "hold"), ("amz",), ("x", "y")),
    "order.kind": ("p", "q", "r"),
    "order.flag": (False, True),
}


def conditions() -> st.SearchStrategy[str]:
    atom = st.sampled_from(ATOMS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
                         st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
                         st.builds(lambda a: f"not ({a})", inner))

    return st.recursive(atom, extend, max_leaves=4)


def load_pair(tmp: Path, first: str, second: str) -> policyengine.Engine:
    text = textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: ActionPolicy
        name: random
        version: 1
        facts:
        {facts}actions:
          a:
            label: A
            allow: {{when: "{first}", reason: Not allowed.}}
          b:
            label: B
            allow: {{when: "{second}", reason: Not allowed.}}
        """).format(facts=FACTS, first=first.replace('"', '\\"'), second=second.replace('"', '\\"'))
    (tmp / "p.yaml").write_text(text)
    return policyengine.load(tmp / "p.yaml")


def order_of(values: dict[str, Any]) -> dict[str, Any]:
    order: dict[str, Any] = {}
    for name, value in values.items():
        order[name.split(".", 1)[1]] = list(value) if isinstance(value, (tuple, frozenset)) else value
    return order


def enabled(engine: policyengine.Engine, values: dict[str, Any]) -> tuple[bool, bool]:
    decisions = engine.evaluate(order_of(values), {})
    return decisions["a"].enabled, decisions["b"].enabled


def grid(names: list[str], seed: int) -> list[dict[str, Any]]:
    """Every combination of the sampled values of ``names`` (at most 3,000, chosen deterministically)."""
    combos = list(itertools.product(*(SAMPLES[n] for n in names)))
    if len(combos) > 3000:
        combos = random.Random(seed).sample(combos, 3000)
    return [dict(zip(names, c, strict=True)) for c in combos]


def reads(engine: policyengine.Engine) -> list[str]:
    policy = engine.policy
    return sorted(policy.facts[i].name for i in policy.needed)


@SETTINGS
@given(first=conditions(), second=conditions())
def test_implies_and_equivalent_agree_with_brute_force(tmp_path: Path, first: str, second: str) -> None:
    engine = load_pair(tmp_path, first, second)
    encoder = smt.Encoder()
    try:
        terms = encoder.policy(engine.policy)
        a, b = terms.action("a").enabled, terms.action("b").enabled
    except smt.Unsupported as err:  # refused by name while encoding (docs/semantics.md): never a wrong answer
        assert any(why in str(err) for why in OPEN), err
        return

    def shows(values: Any, want: tuple[bool, bool]) -> bool:
        return enabled(engine, dict(values)) == want

    implied = smt.implies(encoder, a, b, confirm=lambda v: shows(v, (True, False)))
    same = smt.equivalent(encoder, a, b, confirm=lambda v: enabled(engine, dict(v))[0] != enabled(engine, dict(v))[1])
    points = grid(reads(engine), hash((first, second)) & 0xFFFF)
    observed = [enabled(engine, p) for p in points]
    for verdict, breaks in ((implied, lambda x, y: x and not y), (same, lambda x, y: x != y)):
        if verdict.holds:
            assert not any(breaks(x, y) for x, y in observed), (first, second, verdict)
        elif verdict.fails:
            assert verdict.values is not None and breaks(*enabled(engine, dict(verdict.values))), (first, second, verdict)
        else:  # Decimal rounding, a value no fact can hold, or (on a loaded machine) the time budget
            assert any(why in (verdict.reason or "") for why in OPEN), verdict


OPEN = ("rounding", "would have to be", "gave up after its time budget", "two strings that both come from facts")
"""Why a question may stay open: never a wrong answer, and never a silent pass."""

PATTERNS = ("^am[a-z]*$", "zon", "a|b", "^(ab)+c?$", "x{2,3}", "[^a-c]", ".$", "^$", "a.*b", "^\\.", "[a-c]{2}z",
            "(?s)a.b", "(?a)\\d+", "(?a)^\\w+\\s?$", "(?a)\\s", "b+?a", "\\Aab\\Z", "a$")


@SETTINGS
@given(text=st.text(alphabet="abcxz.\n 1\x1c\u00e9", max_size=6), pattern=st.sampled_from(PATTERNS),
       search=st.booleans())
def test_regexes_match_as_python_re(text: str, pattern: str, search: bool) -> None:
    language = smt.regex_language(pattern, search=search)
    solver = smt.z3.Solver()
    solver.add(smt.z3.InRe(smt.z3.StringVal(text), language))
    expected = (re.search if search else re.match)(pattern, text) is not None
    assert (solver.check() == smt.z3.sat) == expected, (pattern, text, search)


@pytest.mark.parametrize("pattern, what", [("(a)\\1", "back-reference"), ("a(?=b)", "look-ahead"),
                                           ("(?i)a", "flags"), ("\\bx", "anchor or word boundary"),
                                           ("\\d", "\\d (a Unicode class")])
def test_regexes_the_solver_cannot_express_are_named(pattern: str, what: str) -> None:
    with pytest.raises(smt.Unsupported, match=re.escape(what)):
        smt.regex_language(pattern, search=False)


def test_a_counterexample_is_a_readable_value_a_fact_can_hold(tmp_path: Path) -> None:
    engine = load_pair(tmp_path, "order.total > 1000", "order.total >= 1000.01")
    encoder = smt.Encoder()
    terms = encoder.policy(engine.policy)
    verdict = smt.implies(encoder, terms.action("a").enabled, terms.action("b").enabled)
    assert verdict.fails and isinstance(verdict.values["order.total"], (int, float))
    assert 1000 < verdict.values["order.total"] < 1000.01
    assert verdict.describe().startswith("order.total = 1000.")
    assert smt.implies(encoder, terms.action("b").enabled, terms.action("a").enabled).holds


def test_a_value_no_fact_can_hold_is_not_a_counterexample(tmp_path: Path) -> None:
    """``order.total * 3 == 1`` needs a third: Decimal never gets there, so no counterexample is claimed."""
    engine = load_pair(tmp_path, "order.total * 3 == 1", "false")
    encoder = smt.Encoder()
    terms = encoder.policy(engine.policy)
    found = smt.satisfiable(encoder, terms.action("a").enabled)
    assert found.undecided and "1/3, which no decimal number is" in (found.reason or "")
    assert smt.ARITHMETIC_CAVEAT in found.caveats or found.caveats == ()


def test_the_solver_gives_up_with_a_clear_diagnostic(tmp_path: Path) -> None:
    engine = load_pair(tmp_path, "order.total ** 5 - order.count ** 3 * order.total == 7 and order.count > 1", "false")
    encoder = smt.Encoder()
    terms = encoder.policy(engine.policy)
    verdict = smt.satisfiable(encoder, terms.action("a").enabled, budget_ms=1)
    if verdict.undecided:  # 1 ms is too little for nonlinear arithmetic on most machines
        assert verdict.reason.startswith("could not decide: ")


def test_failing_computations_fail_closed_as_the_interpreter_decides(tmp_path: Path) -> None:
    """A zero divisor makes its comparison unknown; with `and`, a true other side cannot decide, so the allow is
    unknown and the action disabled, never enabled (with `or`, a true other side decides: Kleene's logic)."""
    engine = load_pair(tmp_path, "order.total / order.count > 3 and order.flag", "order.flag")
    encoder = smt.Encoder()
    terms = encoder.policy(engine.policy)
    a, b = terms.action("a").enabled, terms.action("b").enabled
    verdict = smt.implies(encoder, b, a, confirm=lambda v: enabled(engine, dict(v)) == (False, True))
    assert verdict.fails and enabled(engine, dict(verdict.values)) == (False, True)
    zero = smt.implies(encoder, smt.z3.And(b, encoder.fix({"order.count": 0})), a)
    assert zero.fails and enabled(engine, dict(zero.values)) == (False, True)  # the division fails: unknown
    (tmp_path / "or").mkdir()
    either = load_pair(tmp_path / "or", "order.total / order.count > 3 or order.flag", "order.flag")
    terms = encoder.policy(either.policy)
    assert smt.implies(encoder, terms.action("b").enabled, terms.action("a").enabled).holds


def test_bad_facts_can_be_modelled(tmp_path: Path) -> None:
    """With ``bad_facts``, a missing fact makes every condition reading it unknown: a guard over it counts as
    fired, so an action is never enabled while the fact is bad."""
    engine = load_pair(tmp_path, "not (order.total > 5)", "true")
    encoder = smt.Encoder(bad_facts=True)
    terms = encoder.policy(engine.policy)
    found = smt.satisfiable(encoder, smt.z3.And(terms.action("a").errors, smt.z3.Not(terms.action("a").enabled)))
    assert found.holds and "order.total" not in (found.values or {})  # left out: missing
    decisions = engine.evaluate({}, {})
    assert decisions["a"].state == "disabled" and decisions["a"].errors


# -- enumeration and the solver agree where both apply ----------------------------------------------------------------


def test_lint_and_verify_agree_by_enumeration_and_by_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    golden = Path(__file__).parent / "golden"
    linted = [policyengine.load(BASE_FILE)]
    linted += [policyengine.load(p) for p in sorted((golden / "lint").iterdir())
               if p.is_dir() and not (p / "stores").exists()]
    verified = [(policyengine.load(p), p) for p in (POLICIES, golden / "verify" / "violated")]

    def run() -> tuple[list[Any], list[Any]]:
        return ([[(f.rule, f.line, f.message) for f in lint(e).findings] for e in linted],
                [{(r.invariant.id, c.target): c for r in verify(e, load_invariants(e, find_invariant_files(p))).results
                  for c in r.checks} for e, p in verified])

    findings, checks = run()
    monkeypatch.setattr(space, "ENUMERATE_LIMIT", 0)  # every question to the solver
    solved_findings, solved_checks = run()
    assert solved_findings == findings
    assert any(findings) and any(c.status == "violated" for c in checks[1].values())
    for before, after in zip(checks, solved_checks, strict=True):
        assert {k: c.status for k, c in after.items()} == {k: c.status for k, c in before.items()}
        assert {c.method for c in after.values()} == {"solver"}
        for check in after.values():  # each solver counterexample was re-evaluated: it shows what broke
            assert check.counterexample is None or check.counterexample.failed


@SETTINGS
@given(first=conditions(), second=conditions())
def test_diff_widens_agrees_with_brute_force(tmp_path: Path, first: str, second: str) -> None:
    """OLD allows action ``a`` on ``first``, NEW on ``second``: ``diff`` says it widens exactly when some values
    enable it in NEW and not in OLD (each solver example really does), and a brute force over sampled values
    never finds a widening the diff missed."""
    (tmp_path / "old").mkdir(exist_ok=True)
    (tmp_path / "new").mkdir(exist_ok=True)
    old, new = load_pair(tmp_path / "old", first, "true"), load_pair(tmp_path / "new", second, "true")
    diff = diff_policies(old.policy, new.policy)
    action = next((a for a in diff.actions if a.action.id == "a"), None)
    if action is not None and action.undecided is not None:
        assert any(why in action.undecided for why in OPEN), action.undecided
        return
    solved = action.solved if action is not None else ()
    for change in solved:
        values = dict(change.example)
        states = (old.evaluate(order_of(values), {})["a"].state, new.evaluate(order_of(values), {})["a"].state)
        assert states == (change.old, change.new), (first, second, change)
    points = grid(sorted(set(reads(old)) | set(reads(new))), hash((second, first)) & 0xFFFF)
    widened = any(new.evaluate(order_of(p), {})["a"].enabled and not old.evaluate(order_of(p), {})["a"].enabled
                  for p in points)
    if widened:
        assert action is not None and action.widens, (first, second)
    if action is not None and any(c.widens for c in solved):
        assert any(c.new == "enabled" for c in solved)


# -- atoms decided as the runtime decides them (issue 22) ------------------------------------------------------------


def _unknown_when_missing(tmp_path: Path, condition: str, missing: str) -> tuple[smt.Verdict, Any]:
    """Whether the encoding can find valid values of the other facts under which ``condition`` stays known with
    ``missing`` bad; and the engine's decision on one such order (every other fact at a value that would not need
    ``missing`` if the atom were split)."""
    engine = load_pair(tmp_path, condition, "true")
    encoder = smt.Encoder(bad_facts=True)
    allow = encoder.policy(engine.policy).expr(next(a for a in engine.policy.actions if a.id == "a").allow)
    known = smt.satisfiable(encoder, smt.z3.And(encoder.bad[missing], smt.z3.Not(allow.unknown),
                                                *[smt.z3.Not(b) for n, b in encoder.bad.items() if n != missing]))
    return known, engine


@pytest.mark.parametrize(("condition", "missing", "order"), [
    ("(order.flag ? order.total : order.count) > 3", "order.count", {"order.flag": True, "order.total": 5}),
    ("order.flag == (false and order.kind == 'p')", "order.kind", {"order.flag": False}),
    ("order.flag != (true or order.channel == 'amz')", "order.channel", {"order.flag": False}),
])
def test_an_atom_is_unknown_when_any_fact_it_reads_is_bad(tmp_path: Path, condition: str, missing: str,
                                                          order: dict[str, Any]) -> None:
    """One atom to the runtime: a bad fact it reads makes it unknown, even where the ``?:``/``and``/``or`` inside
    it would not need that fact; the encoding finds no values under which it stays known."""
    known, engine = _unknown_when_missing(tmp_path, condition, missing)
    assert known.fails, (condition, known)
    decision = engine.evaluate(order_of(order), {})["a"]
    assert decision.state == "disabled" and decision.errors


def test_a_skeleton_operand_that_decides_still_decides(tmp_path: Path) -> None:
    """The contrast: ``false and <unknown>`` in the skeleton is known (Kleene), in the encoding as at runtime."""
    known, engine = _unknown_when_missing(tmp_path, "order.flag and order.kind == 'p'", "order.kind")
    assert known.holds and known.values == {"order.flag": False}
    decision = engine.evaluate(order_of(known.values or {}), {})["a"]
    assert decision.state == "disabled" and not decision.errors


def test_a_regex_subject_past_the_matched_length_is_unknown(tmp_path: Path) -> None:
    """The runtime does not try a match past 4,096 characters (the atom is unknown): neither does the encoding."""
    engine = load_pair(tmp_path, "order.channel =~~ 'zon'", "true")
    encoder = smt.Encoder()
    allow = encoder.policy(engine.policy).expr(next(a for a in engine.policy.actions if a.id == "a").allow)
    length = smt.z3.Length(encoder.vars["order.channel"])
    assert smt.implies(encoder, length <= 4096, smt.z3.Not(allow.unknown)).holds
    assert smt.implies(encoder, allow.unknown, length > 4096).holds
    for channel in ("zon" * 1365 + "z", "zon" * 1366):  # 4,096 and 4,098 characters
        pinned = encoder.fix({"order.channel": channel})
        unknown = smt.satisfiable(encoder, smt.z3.And(pinned, allow.unknown))
        decision = engine.evaluate(order_of({"order.channel": channel}), {})["a"]
        assert unknown.holds == bool(decision.errors) == (len(channel) > 4096), (len(channel), unknown, decision)


ACTION_STATES = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: states
version: 1
facts:
  order.c: {{type: bool}}
actions:
  a1:
    label: A1
    allow: {{when: "order.c", reason: Not allowed.}}
  a2:
    label: A2
    visible: "{spelling}"
    allow: "true"
"""


@pytest.mark.parametrize("spelling", ["not actions.a1.hidden", "actions.a1.hidden == false", "actions.a1.visible",
                                      "actions.a1.visible == true", "actions.a1.hidden != true"])
def test_the_visibility_of_an_action_shown_under_errors_is_trusted_however_spelled(tmp_path: Path,
                                                                                     spelling: str) -> None:
    """a1 is shown and disabled by errors when order.c is bad: its visibility stays known (issue 23), in the encoding
    as at runtime, whether the atom reads ``visible`` or ``hidden``."""
    (tmp_path / "p.yaml").write_text(ACTION_STATES.format(spelling=spelling))
    engine = policyengine.load(tmp_path / "p.yaml")
    encoder = smt.Encoder(bad_facts=True)
    a2 = encoder.policy(engine.policy).action("a2")
    assert smt.implies(encoder, encoder.bad["order.c"], smt.z3.And(a2.visible, smt.z3.Not(a2.errors))).holds
    assert engine.evaluate({}, {})["a2"].state == "enabled"


@pytest.mark.parametrize(("condition", "why"), [
    ("order.tags == order.tags", "comparing sets is not modelled by the solver"),
    ("'vip' in (order.flag ? order.tags : order.tags)", "a ?: choosing between sets is not modelled by the solver"),
    ("order.total ** order.count > 1", "the solver models ** only with a whole literal exponent from 0 to 64 (0 ** -n is infinite)"),
    ("order.total ** 0.5 > 1", "the solver models ** only with a whole literal exponent from 0 to 64 (0 ** -n is infinite)"),
])
def test_what_the_encoding_cannot_model_is_refused_by_name(tmp_path: Path, condition: str, why: str) -> None:
    engine = load_pair(tmp_path, condition, "true")
    with pytest.raises(smt.Unsupported, match=re.escape(why)):
        smt.Encoder().policy(engine.policy).action("a")
