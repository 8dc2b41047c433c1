"""Exact numbers, one decimal context and one error semantics (issue 10; issue 9 item 6).

Each example of issue 10 is decided through ``load()`` on every evaluation path (see fuzz_support.all_paths) and
against rule-engine. The numbers are those where Python's int/float semantics differ from rule-engine's Decimal ones.
"""

from __future__ import annotations

import decimal
import threading
from typing import Any

import pytest
from fuzz_support import MISSING, check, engines, load_text

import policyengine
from policyengine.ir.numbers import CONTEXT, compare_literal, member_sets, to_decimal

POLICY = """
apiVersion: policyengine/v1
kind: ActionPolicy
name: exact
version: 1
facts:
  order.total: {{type: number}}
  order.other: {{type: number}}
  order.items: {{type: number}}
  order.flag: {{type: bool}}
actions:
  act:
    label: Act
    allow: {{when: "{allow}", reason: Not allowed.}}
"""


def policy(allow: str) -> str:
    return POLICY.format(allow=allow.replace('"', '\\"'))


def state(allow: str, **facts: Any) -> str:
    """``act``'s state for ``facts`` (order.<name>), after checking every path against rule-engine."""
    engs = engines(policy(allow))
    values = {f"order.{k}": v for k, v in {"total": 0, "other": 0, "items": 1, "flag": False, **facts}.items()}
    return str(check(engs, values)["act"].state)


# -- the examples: rule-engine's answer, on every path -------------------------------------------------------

def test_big_integer_literal_against_a_float_fact() -> None:
    # rule-engine: Decimal(repr(2.0**60)) is 1152921504606847000, not 2**60
    assert state("order.total == 1152921504606846976", total=float(2**60)) == "disabled"
    assert state("order.total == 1152921504606846976", total=2**60) == "enabled"
    assert state("order.total == 1152921504606847000", total=float(2**60)) == "enabled"


def test_list_membership_with_more_digits_than_a_float() -> None:
    assert state("order.total in [0.30000000000000000001]", total=0.3) == "disabled"
    assert state("order.total in [0.30000000000000000001, 0.3]", total=0.3) == "enabled"
    assert state("order.total in [1152921504606846976]", total=float(2**60)) == "disabled"
    assert state("order.total in [1152921504606846976]", total=2**60) == "enabled"
    assert state("order.total in [2, 0.5]", total=2.0) == "enabled"


def test_arithmetic_membership_is_decimal() -> None:
    assert state("order.total * 3 in [0.3]", total=0.1) == "enabled"
    assert state("order.total * 3 == 0.3", total=0.1) == "enabled"


def test_two_number_facts_an_int_and_a_float_beyond_2_53() -> None:
    big = 2**60
    assert state("order.total == order.other", total=big, other=float(big)) == "disabled"  # 2**60 vs ...847000
    assert state("order.total < order.other", total=big, other=float(big)) == "enabled"
    assert state("order.total == order.other", total=float(big), other=float(big)) == "enabled"
    assert state("order.total == order.other", total=big + 1, other=big + 1) == "enabled"


def test_unary_minus_rounds_past_28_digits_like_rule_engine() -> None:
    total = 10**30 + 1  # -total is rounded to 28 digits in Decimal: -1.000...000E+30
    assert state("-order.total == -1000000000000000000000000000000", total=total) == "enabled"
    assert state("-order.total < 0", total=total) == "enabled"


@pytest.mark.parametrize(("allow", "total", "expected"), [
    ("order.total < 0.1", 0.1, "disabled"),
    ("order.total <= 0.1", 0.1, "enabled"),
    ("order.total > 100000000000000000000000", 1e23, "disabled"),  # repr(1e23) is exactly 1E+23
    ("order.total >= 100000000000000000000000", 1e23, "enabled"),
    ("order.total >= 100000000000000000000000", 10**23 - 1, "disabled"),
    ("order.total > 99999999999999991611392", 1e23, "enabled"),  # the float's exact value: rule-engine says more
    ("order.total < 1e400", 1.7e308, "enabled"),
    ("order.total > 1e-400", 5e-324, "enabled"),
    ("order.total > 1e-400", 0.0, "disabled"),
    ("order.total == 0", -0.0, "enabled"),
    ("order.total != 2.5", 2.5, "disabled"),
    ("0.1 < order.total", 0.1, "disabled"),
])
def test_fact_against_literal_thresholds(allow: str, total: Any, expected: str) -> None:
    assert state(allow, total=total) == expected


def test_thresholds_agree_with_decimal_over_neighbours() -> None:
    """compare_literal against rule-engine's own rule over floats and ints next to each threshold."""
    import math

    literals = ["0.1", "0.3", "0.30000000000000000001", "1152921504606846976", "1e23", "2.5", "-7", "1e-400",
                "1e400", "9007199254740993", "-0", "123456789.123456789"]
    for text in literals:
        value = decimal.Decimal(text)
        g = float(value)
        floats = [g] if not math.isfinite(g) else [math.nextafter(g, -math.inf), g, math.nextafter(g, math.inf)]
        samples = [f for f in floats if math.isfinite(f)] + [0.0, -0.0, 1.5]
        if abs(value) < 10**30:
            k = int(value)
            samples += [k - 1, k, k + 1]
        for op in ("<", "<=", ">", ">=", "==", "!="):
            code = compare_literal("x", op, value)
            for x in samples:
                got = eval(code, {"x": x})  # noqa: S307 - our own generated comparison
                want = eval(f"a {op} b", {"a": to_decimal(x), "b": value})  # noqa: S307
                assert got == want, (text, op, x, code)
    floats, ints, single = member_sets([decimal.Decimal("2"), decimal.Decimal("0.5")])
    assert single and floats == {2.0, 0.5}


# -- one decimal context (issue 9, item 6) ------------------------------------------------------------------------

def test_a_host_thread_at_40_digits_changes_nothing() -> None:
    """Decided at rule-engine's 28 digits on every path (tables, closures, interpreter, lazy, C loop), whatever
    precision the calling thread runs at: at 40 digits, 10**30 + 2 would not round to 10**30."""
    allow = "order.total + 1 == 1000000000000000000000000000000"
    results: dict[int, Any] = {}

    def run(prec: int) -> None:
        with decimal.localcontext() as ctx:
            ctx.prec = prec
            results[prec] = state(allow, total=10**30 + 1)

    for prec in (40, 28, 12):
        thread = threading.Thread(target=run, args=(prec,))
        thread.start()
        thread.join()
    assert results == {40: "enabled", 28: "enabled", 12: "enabled"}


def test_loading_under_a_40_digit_context_folds_literals_at_28() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        engine = load_text(policy("order.total == 1 / 3 * 3"))  # folded by rule-engine's parser at load
    assert engine.evaluate({"total": 1, "other": 0, "items": 1, "flag": False}, {})["act"].state == "disabled"
    assert engine.evaluate({"total": 0.9999999999999999999999999999, "other": 0, "items": 1, "flag": False},
                           {})["act"].state == "disabled"


def test_the_private_context_is_rule_engines_default() -> None:
    default = decimal.Context()
    assert (CONTEXT.prec, CONTEXT.rounding, CONTEXT.Emax, CONTEXT.Emin) == \
        (28, default.rounding, 999999, -999999)
    engine = load_text(policy("order.total > 1"))
    assert engine.policy.context.decimal_context is CONTEXT  # the oracle's context too


# -- one error semantics for and/or, with and without expensive facts --------------------------------------------

def test_eager_and_lazy_agree_on_a_failing_operand() -> None:
    """The issue's example: three-valued `and`: false and <division by zero> is false, on every path, strict too."""
    allow = "order.total / order.items > 10 and order.flag"
    engs = engines(policy(allow))
    for flag, expected in ((False, ("disabled", False)), (True, ("disabled", True))):
        values = {"order.total": 5, "order.other": 0, "order.items": 0, "order.flag": flag}
        decisions = check(engs, values)
        assert (decisions["act"].state, bool(decisions["act"].errors)) == expected
    order = {"total": 5, "other": 0, "items": 0, "flag": False}
    for eng in engs.values():  # no fact is bad and no decision needed the failed division: strict does not raise
        assert eng.evaluate(order, {}, strict=True)["act"].state == "disabled"
    order["flag"] = True
    for eng in engs.values():
        with pytest.raises(policyengine.FactError, match="DivisionByZero"):
            eng.evaluate(order, {}, strict=True)


def test_or_overrules_an_unknown_operand_in_any_order() -> None:
    for allow in ("order.flag or order.total / order.items > 1", "order.total / order.items > 1 or order.flag"):
        engs = engines(policy(allow))
        values = {"order.total": 5, "order.other": 0, "order.items": 0, "order.flag": True}
        assert check(engs, values)["act"].state == "enabled"
        values["order.total"] = MISSING  # a bad fact is overruled the same way
        assert check(engs, values)["act"].state == "enabled"


def test_strict_reads_every_fact_even_an_expensive_one_no_decision_needed() -> None:
    engs = engines(policy("order.flag and order.total > 1"))
    values = {"order.total": "junk", "order.other": 0, "order.items": 1, "order.flag": False}
    decisions = check(engs, values)
    assert decisions["act"].state == "disabled" and not decisions.errors
    for eng in engs.values():
        with pytest.raises(policyengine.FactError, match="order.total"):
            eng.evaluate({"total": "junk", "other": 0, "items": 1, "flag": False}, {}, strict=True)


# -- a condition that raises for some combination of finite facts --------------------------------------------------

def test_a_table_cell_that_raises_fails_closed_like_evaluate() -> None:
    text = policy("1 / (order.flag ? 0 : 1) == 1")
    engine, untabled = load_text(text), load_text(text, table_limit=0)
    assert engine.specialised and not untabled.specialised
    for eng in (engine, untabled):
        ok = eng.evaluate({"flag": False}, {})
        assert ok["act"].state == "enabled"
        failed = eng.evaluate({"flag": True}, {})
        assert failed["act"].state == "disabled" and failed["act"].errors
        assert "DivisionByZero" in str(failed["act"].errors[0])
        assert eng.evaluate_many([({"flag": True}, {}), ({"flag": False}, {})]) == [failed, ok]
        with pytest.raises(policyengine.FactError):
            eng.evaluate({"flag": True}, {}, strict=True)


@pytest.mark.parametrize("allow", [
    "(order.flag ? 1e999 : 1) ** 10000 > 1",  # Overflow
    "(order.flag ? 0 : 1) % 0 == 1 or not order.flag",  # InvalidOperation (0 % 0) for one combination
    "1 // (order.flag ? 0 : 2) == 0",  # DivisionByZero
])
def test_table_build_survives_every_arithmetic_error(allow: str) -> None:
    text = policy(allow)
    for eng in (load_text(text), load_text(text, table_limit=0)):
        decisions = eng.evaluate({"flag": True}, {})
        assert decisions["act"].state == "disabled"


def test_a_policy_that_reads_no_fact() -> None:
    text = """
    apiVersion: policyengine/v1
    kind: ActionPolicy
    name: constant
    version: 1
    facts:
      order.flag: {type: bool}
    actions:
      start: {label: Start, allow: true}
      stop: {label: Stop, visible: false, allow: true}
    """
    for kwargs in ({}, {"table_limit": 0}):
        engine = load_text(text, **kwargs)
        assert [d.state for d in engine.evaluate({}, {}).values()] == ["enabled", "hidden"]
        assert [d.state for d in engine.evaluate_many([({}, {})])[0].values()] == ["enabled", "hidden"]


def test_a_lock_proved_at_28_digits_holds_in_a_40_digit_thread(tmp_path: Any) -> None:
    """A store rewrites the locked has-shipment guard as arithmetic that equals the base's guard at rule-engine's 28
    digits (so the lock check accepts it) but not at 40: a host thread at 40 digits must still see the guard fire."""
    from overrides_support import BASE, make_order, override, write_tree

    guard = "(order.has_shipment ? 10000000000000000000000000000001 : 0) + 1 == 10000000000000000000000000000000"
    store = override("acme", f"""
actions:
  reset:
    replace_deny:
      has-shipment:
        when: "{guard}"
""")
    root = write_tree(tmp_path / "policies", {"order-actions.yaml": BASE, "stores/acme.yaml": store})
    with decimal.localcontext() as ctx:
        ctx.prec = 40  # neither the lock proof at load nor evaluate may see this
        engine = policyengine.load(root)
        reset = engine.evaluate(make_order("Open", has_shipment=True), {"role": "member"})["reset"]
    assert reset.state == "disabled" and any("shipment" in reason for reason in reset.reasons)
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        seen: dict[str, str] = {}
        thread = threading.Thread(target=lambda: seen.update(
            state=engine.evaluate(make_order("Open", has_shipment=True), {"role": "member"})["reset"].state))
    thread.start()
    thread.join()
    assert seen == {"state": "disabled"}
