"""The load budget (issue 10): every hostile condition is a located PolicyError naming its limit, never a crash.

Each crash class of the issue (literals Python cannot hold, conditions Python or rule-engine cannot parse, a policy
reading no fact, catastrophic regexes, quadratic enums) through ``load()`` and ``policyengine validate``; the regex
rules also with hypothesis, in work terms: a step-counting backtracking matcher shows that every accepted pattern
does work linear in the string it matches.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from fuzz_support import load_text
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import policies

import policyengine
from policyengine.ir.lower import MAX_DEPTH, MAX_LIST_ITEMS
from policyengine.ir.regexes import MAX_MATCHED_LENGTH, unsafe_reason
from policyengine.pipeline.compiler import MAX_ENUM_VALUES, MAX_OPERATORS

POLICY = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: budget
version: 1
facts:
  order.total: {{type: number}}
  order.flag: {{type: bool}}
  order.note: {{type: string}}
  order.kind: {{type: enum, values: [{values}]}}
actions:
  act:
    label: Act
    allow: "{allow}"
"""


def text(allow: str, values: str = "a, b, c") -> str:
    return POLICY.format(allow=allow.replace('"', '\\"'), values=values)


def refused(allow: str, words: str, tmp_path: Path, values: str = "a, b, c") -> policyengine.Diagnostic:
    """Load ``allow`` and expect exactly one diagnostic, on the allow line, containing ``words``."""
    path = tmp_path / "budget.yaml"
    path.write_text(text(allow, values))
    with pytest.raises(policyengine.PolicyError) as raised:
        policyengine.load(path)
    [diagnostic] = raised.value.diagnostics
    assert words in diagnostic.message, diagnostic
    assert diagnostic.file == str(path) and diagnostic.line >= 9 and diagnostic.column >= 1
    return diagnostic


# -- number literals -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("allow", "words"), [
    ("order.total > inf", "is not finite"),
    ("order.total < -inf", "is not finite"),
    ("order.total > 1e5000", "the limit is 1e-1000 to 1e1000"),
    ("order.total > 2 ** 1000000", "the limit is 1e-1000 to 1e1000"),  # folded by rule-engine's parser
    ("order.total > 1e999999999", "the limit is 1e-1000 to 1e1000"),  # never a billion-digit integer
    ("order.total in [1, 1e-5000]", "the limit is 1e-1000 to 1e1000"),
    ("order.total == " + "1" * 101, "101 significant digits (the limit is 100)"),
    ("order.total > 9 ** 999999999", "invalid condition: arithmetic error"),  # Overflow while rule-engine folds it
])
def test_number_literals_outside_the_budget(allow: str, words: str, tmp_path: Path) -> None:
    diagnostic = refused(allow, words, tmp_path)
    assert diagnostic.line == 13


def test_the_largest_literals_inside_the_budget_load(tmp_path: Path) -> None:
    engine = load_text(text("order.total < 1e1000 and order.total > -1e1000 and order.total != 1e-1000"))
    assert engine.evaluate({"total": 10**400, "flag": True, "note": "", "kind": "a"}, {})["act"].state == "enabled"
    assert engine.evaluate({"total": 10**1000, "flag": True, "note": "", "kind": "a"}, {})["act"].state == "disabled"


# -- condition size and depth --------------------------------------------------------------------------------------

@pytest.mark.parametrize("operator", ["or", "and"])
def test_two_hundred_operands_of_and_or_load_and_decide(operator: str) -> None:
    allow = f" {operator} ".join(["order.flag"] * 199)  # Python refused this as "too many nested parentheses"
    engine = load_text(text(allow))
    for flag in (True, False):
        order = {"total": 1, "flag": flag, "note": "", "kind": "a"}
        assert engine.evaluate(order, {})["act"].enabled is flag


@pytest.mark.parametrize(("allow", "words"), [
    (" + ".join(["order.total"] * 199) + " > 0", f"more than {MAX_DEPTH} levels deep (the limit)"),
    ("(" * 40 + "order.total" + " + 1)" * 40 + " > 0", f"more than {MAX_DEPTH} levels deep (the limit)"),
    ("".join("(order.flag ? order.flag : " for _ in range(120)) + "order.flag" + ")" * 120,
     f"more than {MAX_DEPTH} levels deep (the limit)"),
    (" or ".join(["order.flag"] * 1000), f"(the limit is {MAX_OPERATORS})"),  # rule-engine: RecursionError
    ("not " * 1000 + "order.flag", f"1000 operators (the limit is {MAX_OPERATORS})"),
    (" + ".join(["order.total"] * 1000) + " > 0", f"(the limit is {MAX_OPERATORS})"),
])
def test_long_and_deep_conditions_are_refused(allow: str, words: str, tmp_path: Path) -> None:
    refused(allow, words, tmp_path)


def test_list_and_enum_sizes(tmp_path: Path) -> None:
    many = ", ".join(f"v{i}" for i in range(MAX_ENUM_VALUES + 1))
    diagnostic = refused("order.kind == 'v1'", f"declares {MAX_ENUM_VALUES + 1} values (the limit is "
                         f"{MAX_ENUM_VALUES})", tmp_path, values=many)
    assert diagnostic.line == 9
    literals = ", ".join(str(i) for i in range(MAX_LIST_ITEMS + 1))
    refused(f"order.total in [{literals}]", f"(the limit is {MAX_LIST_ITEMS})", tmp_path)


def test_a_full_enum_with_a_full_list_loads() -> None:
    """The largest enum with a list of all its values (the issue's 40,000 x 40,000 cost quadratic time: the checks
    are now linear, and the sizes bounded)."""
    values = [f"v{i}" for i in range(MAX_ENUM_VALUES)]
    engine = load_text(text("order.kind in [" + ", ".join(repr(v) for v in values) + "]", values=", ".join(values)))
    assert engine.evaluate({"total": 1, "flag": True, "note": "", "kind": values[-1]}, {})["act"].enabled


# -- regexes -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "words"), [
    ("(a+)+$", "nests a quantifier inside another quantifier"),
    ("(a|ab)*c", "a repeated alternation has branches that can match the same text"),
    ("(x|)+", "can match the empty string"),
    ("(?P<x>a)(?P=x)", "backreference"),
    ("(?=a)a", "lookahead or lookbehind"),
    ("a.*b.*c", "two unbounded quantifiers can match the same characters"),
    ("[0-9]+[a-z0-9]+$", "two unbounded quantifiers can match the same characters"),
])
def test_catastrophic_regexes_are_refused(pattern: str, words: str, tmp_path: Path) -> None:
    diagnostic = refused(f"order.note =~ '{pattern}'", words, tmp_path)
    assert "could take exponential or polynomial time" in diagnostic.message and diagnostic.hint


def test_a_catastrophic_pattern_against_an_enum_no_longer_hangs_the_table(tmp_path: Path) -> None:
    refused("order.kind =~ '(a+)+$'", "nests a quantifier", tmp_path, values="a" * 40 + "b, c")


def test_long_strings_are_not_matched(tmp_path: Path) -> None:
    engine = load_text(text("order.note =~~ 'urgent' or order.flag"))
    order = {"total": 1, "flag": False, "note": "x" * MAX_MATCHED_LENGTH + "urgent", "kind": "a"}
    act = engine.evaluate(order, {})["act"]
    assert act.state == "disabled" and "longer than 4096" in str(act.errors[0])
    assert engine.evaluate({**order, "flag": True}, {})["act"].enabled  # overruled: three-valued `or`
    order["note"] = "x" * (MAX_MATCHED_LENGTH - 6) + "urgent"
    assert engine.evaluate(order, {})["act"].enabled


def test_validate_prints_diagnostics_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for allow in ("order.total > 2 ** 1000000", "not " * 1000 + "order.flag", "order.note =~ '(a+)+$'"):
        (tmp_path / "budget.yaml").write_text(text(allow))
        code, out, err = run_cli(capsys, "validate", str(tmp_path / "budget.yaml"))
        assert code == 3 and "Traceback" not in out + err and "budget.yaml:13:" in err, (allow, out, err)


# -- accepted regexes do linear work (hypothesis; work counted, not timed) ----------------------------------------

class _Steps:
    """A backtracking matcher over ``re``'s parse tree, for the constructs :func:`unsafe_reason` accepts, that
    counts the character tests it makes, as a backtracking engine such as Python's ``re`` does them."""

    def __init__(self, pattern: str) -> None:
        from re import _parser  # type: ignore[attr-defined]

        self.tree = _parser.parse(pattern)
        self.steps = 0

    def match(self, text: str) -> bool:
        self.text = text
        return self.seq(list(self.tree), 0, lambda at: True)

    def seq(self, items: list[Any], at: int, then: Any) -> bool:
        if not items:
            return bool(then(at))
        (op, av), rest = items[0], items[1:]
        return self.item(op, av, at, lambda after: self.seq(rest, after, then))

    def item(self, op: Any, av: Any, at: int, then: Any) -> bool:
        from re import _constants as c  # type: ignore[attr-defined]

        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            self.steps += 1
            if at < len(self.text) and re.fullmatch(_unparse_single(op, av), self.text[at], re.S):
                return bool(then(at + 1))
            return False
        if name == "SUBPATTERN":
            return self.seq(list(av[-1]), at, then)
        if name == "BRANCH":
            return any(self.seq(list(branch), at, then) for branch in av[1])
        if name == "AT":
            return bool(then(at)) if (av is not c.AT_END or at == len(self.text)) else False
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, body = av
            greedy = name == "MAX_REPEAT"

            def repeat(count: int, here: int) -> bool:
                self.steps += 1
                more = count < high and (lambda: self.seq(list(body), here,
                                                          lambda after: after != here and repeat(count + 1, after)))
                stop = count >= low and (lambda: then(here))
                first, second = (more, stop) if greedy else (stop, more)
                return bool((first and first()) or (second and second()))
            return repeat(0, at)
        raise AssertionError(f"unexpected {name}")


def _unparse_single(op: Any, av: Any) -> str:
    """One character item of the parse tree as a pattern of its own."""
    name = str(op)
    if name == "LITERAL":
        return re.escape(chr(av))
    if name == "NOT_LITERAL":
        return f"[^{re.escape(chr(av))}]"
    if name == "ANY":
        return "."
    parts = []
    for kind, value in av:
        if str(kind) == "LITERAL":
            parts.append(re.escape(chr(value)))
        elif str(kind) == "RANGE":
            parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
        elif str(kind) == "NEGATE":
            parts.append("^")
        else:
            parts.append({"CATEGORY_DIGIT": r"\d", "CATEGORY_WORD": r"\w", "CATEGORY_SPACE": r"\s",
                          "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_NOT_WORD": r"\W",
                          "CATEGORY_NOT_SPACE": r"\S"}[str(value)])
    return "[" + "".join(parts) + "]"


atoms = st.sampled_from(["a", "b", "[ab]", ".", "x", "[^a]", "\\d"])
quantifiers = st.sampled_from(["", "", "*", "+", "?", "{2}", "{0,3}", "*?"])


@st.composite
def patterns(draw: Any, depth: int = 2) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth and draw(st.booleans()):
            inner = draw(st.lists(patterns(depth - 1), min_size=1, max_size=3))
            parts.append("(" + "|".join(inner) + ")" + draw(quantifiers))
        else:
            parts.append(draw(atoms) + draw(quantifiers))
    return "".join(parts)


@settings(max_examples=60, deadline=None)
@given(pattern=patterns(), pump=st.sampled_from(["a", "b", "ab", "x", "1", "aab"]), tail=st.sampled_from(["", "!", "c"]))
def test_accepted_patterns_do_linear_work(pattern: str, pump: str, tail: str) -> None:
    if unsafe_reason(pattern) is not None:
        return
    work = []
    for n in (16, 32, 64):
        matcher = _Steps(pattern)
        subject = pump * n + tail
        assert matcher.match(subject) == (re.match(pattern, subject) is not None), (pattern, subject)
        work.append(matcher.steps)
    # linear: doubling the string at most doubles the work, plus what the pattern itself costs
    assert work[2] <= 2 * work[1] + 40 * len(pattern) and work[1] <= 2 * work[0] + 40 * len(pattern), (pattern, work)


def test_the_step_counter_sees_catastrophic_patterns() -> None:
    """The work measure is not vacuous: a refused pattern's work explodes with the length of the string."""
    work = []
    for n in (6, 8, 10):
        matcher = _Steps("(a+)+b")
        matcher.match("a" * n)
        work.append(matcher.steps)
    assert work[2] > 3 * work[1] > 9 * work[0]  # about 4x for every 2 more characters: exponential
    assert unsafe_reason("(a+)+b") is not None


def test_chains_of_expensive_named_conditions_load() -> None:
    """Each condition within the depth limit, but inlined into each other (the lazy path inlines named conditions
    reading expensive facts) they nest past what Python compiles: the engine computes them in place instead."""
    from fuzz_support import Expensive, engines

    conditions = "\n".join(f"  c{k}: \"{'not ' * 30}{f'c{k - 1}' if k else 'order.total > 1'}\"" for k in range(12))
    policy = f"""
apiVersion: policyengine/v1
kind: ActionPolicy
name: deep
version: 1
facts:
  order.total: {{type: number}}
conditions:
{conditions}
actions:
  act:
    label: Act
    allow: c11
"""
    engs = engines(policy, {"eager": {}, "lazy": {"adapter": Expensive()}})
    for engine in engs.values():
        assert [engine.evaluate({"total": t}, {})["act"].state for t in (5, 0)] == ["enabled", "disabled"]


# -- the plan budget, checked at load (issue 21) -------------------------------------------------------------------

PLANNED = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: planned
version: 1
facts:
  order.n: {{type: number}}
  order.m: {{type: number}}
  order.k: {{type: number}}
  user.role: {{type: enum, values: [admin, member]}}
actions:
  go:
    label: Go
    allow: "user.role == 'admin' or order.n > 0"
    deny:
      - id: deep
        when: "{guard}"
        reason: No.
"""


def _nested(depth: int) -> str:
    """An and/or guard nested ``depth`` levels: each level adds a few nodes to its plan (never doubles it)."""
    condition = "order.n > 0"
    for i in range(depth):
        condition = f"({condition} and order.m > {i}) or order.k < {i}"
    return condition


def _deepest_planned(tmp_path: Path) -> int:
    """The deepest nested guard that loads (its plan within PLAN_BUDGET for every user)."""
    for depth in range(1, 40):
        (tmp_path / "planned.yaml").write_text(PLANNED.format(guard=_nested(depth)))
        try:
            policyengine.load(tmp_path / "planned.yaml")
        except policyengine.PolicyError:
            return depth - 1
    raise AssertionError("no guard was over the plan budget")


def test_a_policy_whose_plan_is_over_the_budget_is_a_located_load_error(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A plan over the budget for some user is refused when the policy loads, at the condition that makes it
    large, not when a query is planned; one level shallower loads, and plans for every user."""
    from policyengine.runtime.plan import PLAN_BUDGET, build_reasons, tree_size

    depth = _deepest_planned(tmp_path)
    assert depth >= 5
    (tmp_path / "planned.yaml").write_text(PLANNED.format(guard=_nested(depth)))
    engine = policyengine.load(tmp_path / "planned.yaml")
    for user in ({"role": "admin"}, {"role": "member"}, {}, {"role": "boss"}):
        for state in ("enabled", "disabled", "hidden", "visible"):
            assert engine.plan("go", user, state=state).kind in ("always", "never", "conditional")
        assert tree_size(build_reasons(engine, "go", user).branches) <= PLAN_BUDGET
    (tmp_path / "planned.yaml").write_text(PLANNED.format(guard=_nested(depth + 1)))
    with pytest.raises(policyengine.PolicyError) as raised:
        policyengine.load(tmp_path / "planned.yaml")
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.file == str(tmp_path / "planned.yaml") and diagnostic.line == 16, diagnostic
    assert f"over the plan budget of {PLAN_BUDGET} (about 1 MB of SQL)" in diagnostic.message
    assert diagnostic.message.startswith("action 'go' would have a query plan of ")
    assert diagnostic.hint == "split its conditions into fewer, flatter ones"
    code, out, err = run_cli(capsys, "validate", str(tmp_path / "planned.yaml"))
    assert code == 3 and "Traceback" not in out + err and "planned.yaml:16:" in err and "over the plan budget" in err


def test_a_store_whose_plan_is_over_the_budget_is_a_located_load_error(tmp_path: Path) -> None:
    """One store's override that would plan over the budget is refused at load, in its own file (it can no longer
    stall or fail the every-store plan at query time); the same base with a small override loads."""
    depth = _deepest_planned(tmp_path)
    (tmp_path / "planned.yaml").write_text(PLANNED.format(guard="order.n < 0").replace(
        "facts:\n", "facts:\n  store.id: {type: string}\n"))
    (tmp_path / "stores").mkdir()
    store = ("apiVersion: policyengine/v1\nkind: StoreOverride\nstore: big\nversion: 1\nbase:\n  policy: planned\n"
             "  version: 1\nactions:\n  go:\n    deny:\n      - id: big\n        when: \"{guard}\"\n        reason: Big.\n")
    (tmp_path / "stores" / "big.yaml").write_text(store.format(guard=_nested(depth // 2)))  # plans grow linearly
    assert policyengine.load(tmp_path).stores == ("big",)
    (tmp_path / "stores" / "big.yaml").write_text(store.format(guard=_nested(depth + 1)))
    with pytest.raises(policyengine.PolicyError) as raised:
        policyengine.load(tmp_path)
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.file == str(tmp_path / "stores" / "big.yaml") and diagnostic.line == 12, diagnostic
    assert "action 'go' would have a query plan of " in diagnostic.message


@settings(max_examples=40, deadline=None, database=None)
@given(text=policies())
def test_a_policy_that_loads_plans_within_the_budget_for_every_user(text: str, tmp_path_factory: Any) -> None:
    """The load-time measure bounds every user's plan: for random policies (named conditions, action references,
    ternaries, arithmetic), once loaded, no user (good, bad or missing role) meets the budget at plan time."""
    from policyengine.runtime.plan import PlanError, build_reasons

    path = tmp_path_factory.mktemp("p") / "policy.yaml"
    path.write_text(text)
    try:
        engine = policyengine.load(path)
    except policyengine.PolicyError:
        return  # refused at load (the plan budget among others): nothing to plan
    for user in ({"role": "admin"}, {"role": "member"}, {}, {"role": 3}):
        for action in engine.policy.actions:
            try:
                engine.plan(action.id, user)
                build_reasons(engine, action.id, user)
            except PlanError as err:
                assert "over the plan budget" not in str(err), err
