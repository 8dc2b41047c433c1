"""The condition IR (issue 22): what lowering builds for each construct, that equal sub-expressions are one value,
what a condition reads, and the one three-valued evaluator. Conditions are loaded through ``policyengine.load``
(lowering happens at load); their meaning on every backend is the conformance corpus's job."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policyengine
from policyengine.errors import FactProblem
from policyengine.ir import kleene
from policyengine.ir.nodes import (
    ActionRef,
    And,
    Arith,
    Compare,
    ConditionRef,
    Const,
    Contains,
    Fact,
    If,
    Length,
    Match,
    Members,
    Neg,
    Not,
    Or,
)
from policyengine.ir.python import PythonSource, function, namespace_for
from policyengine.ir.walk import children, nodes, reads, size

FACTS = {"order.status": {"type": "enum", "values": ["New", "Error", "Shipped"]},
         "order.total": {"type": "number"}, "order.note": {"type": "string"},
         "order.tags": {"type": "set"}, "order.flag": {"type": "bool"}, "user.role": {"type": "string"}}


def _engine(tmp_path: Path, when: str, conditions: dict[str, str] | None = None) -> Any:
    document = {"apiVersion": "policyengine/v1", "kind": "ActionPolicy", "name": "ir", "version": 1, "facts": FACTS,
                "conditions": conditions or {"named": "order.flag"},
                "actions": {"go": {"label": "Go", "visible": {"when": when}, "allow": {"when": "true", "reason": "No."}},
                            "other": {"label": "Other", "visible": {"when": "true"},
                                      "allow": {"when": "order.flag", "reason": "No."}}}}
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(document))
    return policyengine.load(path)


def _ir(tmp_path: Path, when: str) -> Any:
    return _engine(tmp_path, when).policy.actions[0].visible.ir


STATUS, TOTAL, NOTE, TAGS, FLAG = (Fact("order.status", 0, "enum"), Fact("order.total", 1, "number"),
                                   Fact("order.note", 2, "string"), Fact("order.tags", 3, "set"),
                                   Fact("order.flag", 4, "bool"))

LOWERED = [
    ("order.status == 'Error'", Compare("==", STATUS, Const("Error"))),
    ("order.total >= 10.5", Compare(">=", TOTAL, Const(Decimal("10.5")))),
    ("order.note.length < 3", Compare("<", Length(NOTE), Const(Decimal(3)))),
    ("order.tags.length == 0", Compare("==", Length(TAGS), Const(Decimal(0)))),
    ("order.status in ['New', 'Error']", Contains(STATUS, Members(("New", "Error"), "string"))),
    ("order.total in [1, 2.5]", Contains(TOTAL, Members((Decimal(1), Decimal("2.5")), "number"))),
    ("'vip' in order.tags", Contains(Const("vip"), TAGS)),
    ("'x' in order.note", Contains(Const("x"), NOTE)),
    ("order.note =~ 'a+b'", Match(NOTE, "a+b", search=False, negated=False)),
    ("order.note !~~ 'z'", Match(NOTE, "z", search=True, negated=True)),
    ("order.total * 2 - 1 > 0", Compare(">", Arith("sub", Arith("mul", TOTAL, Const(Decimal(2))), Const(Decimal(1))),
                                        Const(Decimal(0)))),
    ("-order.total < 0", Compare("<", Neg(TOTAL), Const(Decimal(0)))),
    ("order.flag and named and not actions.other.enabled",
     And((FLAG, ConditionRef("named"), Not(ActionRef("other", "enabled"))))),
    ("order.flag or order.total > 1 or named", Or((FLAG, Compare(">", TOTAL, Const(Decimal(1))), ConditionRef("named")))),
    ("(order.flag ? order.total : 0) > 1", Compare(">", If(FLAG, TOTAL, Const(Decimal(0))), Const(Decimal(1)))),
]


@pytest.mark.parametrize(("when", "expected"), LOWERED, ids=[w for w, _ in LOWERED])
def test_each_construct_lowers_to_its_node(tmp_path: Path, when: str, expected: Any) -> None:
    assert _ir(tmp_path, when) == expected


def test_a_chain_of_one_operator_is_one_flat_node(tmp_path: Path) -> None:
    ir = _ir(tmp_path, " and ".join(f"order.total > {n}" for n in range(20)))
    assert isinstance(ir, And) and len(ir.operands) == 20


def test_equal_sub_expressions_are_one_value(tmp_path: Path) -> None:
    ir = _ir(tmp_path, "(order.total > 1 and order.flag) or (order.total > 1 and not order.flag)")
    first, second = (operand.operands[0] for operand in ir.operands)
    assert first == second and hash(first) == hash(second)
    # the DAG: the shared comparison, the total, the literal and the flag each counted once
    assert size(ir) == len(set(nodes(ir))) == 8


def test_literals_are_equal_only_when_spelled_alike() -> None:
    assert Const(Decimal("1")) != Const(Decimal("1.0"))
    assert Const(True) != Const(Decimal(1)) and Const(True).type == "bool"
    assert Const(Decimal("-0")) != Const(Decimal("0"))
    assert Members(("a", "b"), "string") == Members(("a", "b"), "string")


def test_nodes_lists_children_before_parents(tmp_path: Path) -> None:
    ir = _ir(tmp_path, "order.flag and (order.total + 1 > 2 or order.note =~ 'x')")
    order = list(nodes(ir))
    assert order[-1] == ir
    for position, node in enumerate(order):
        assert all(order.index(child) < position for child in children(node))


def test_reads_lists_facts_conditions_and_action_states(tmp_path: Path) -> None:
    ir = _ir(tmp_path, "named and order.total > 1 and actions.other.disabled and not actions.other.visible")
    read = reads(ir)
    assert read.facts == {"order.total"} and read.conditions == {"named"}
    assert read.action_states == {("other", "disabled"), ("other", "visible")} and read.actions == {"other"}


def test_compiled_conditions_carry_their_ir(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "order.status == 'Error' and named")
    expr = engine.policy.actions[0].visible
    assert expr.facts == reads(expr.ir).facts and expr.conditions == reads(expr.ir).conditions
    assert engine.policy.conditions["named"].ir == FLAG


def test_a_condition_nesting_past_the_limit_is_refused_at_lowering(tmp_path: Path) -> None:
    with pytest.raises(policyengine.PolicyError, match="nests more than 32 levels deep"):
        _engine(tmp_path, "(" * 40 + "order.total" + " + 1)" * 40 + " > 0")


def _problem(name: str) -> kleene.Unknown:
    return kleene.Unknown((FactProblem(name, "missing"),))


@pytest.mark.parametrize("operands", [(False, "u"), ("u", False)])
def test_kleene_and_is_decided_by_any_false_operand(operands: tuple[Any, ...]) -> None:
    atoms = {Fact(f"f{i}", i, "bool"): (_problem("x") if v == "u" else v) for i, v in enumerate(operands)}
    assert kleene.evaluate(And(tuple(atoms)), atoms.__getitem__) is False
    assert isinstance(kleene.evaluate(Or(tuple(atoms)), atoms.__getitem__), kleene.Unknown)


def test_kleene_unknowns_keep_every_problem_once() -> None:
    a, b, c = (Fact(n, i, "bool") for i, n in enumerate("abc"))
    values = {a: _problem("a"), b: _problem("b"), c: True}
    result = kleene.evaluate(And((a, b, c, Not(a))), values.__getitem__)
    assert isinstance(result, kleene.Unknown) and [p.fact for p in result.problems] == ["a", "b"]


def test_kleene_ternary_reads_only_the_branch_taken() -> None:
    test, then, otherwise = (Fact(n, i, "bool") for i, n in enumerate(("t", "y", "n")))
    values = {test: True, then: False, otherwise: _problem("n")}
    assert kleene.evaluate(If(test, then, otherwise), values.__getitem__) is False
    values[test] = _problem("t")
    assert isinstance(kleene.evaluate(If(test, then, otherwise), values.__getitem__), kleene.Unknown)


@pytest.mark.parametrize(("node", "args", "expected"), [
    (Compare(">", TOTAL, Const(Decimal("0.1"))), {"f1": 0.1}, False),  # 0.1 is exactly the literal 0.1
    (Compare("==", Arith("add", Const(Decimal("0.1")), Const(Decimal("0.2"))), Const(Decimal("0.3"))), {}, True),
    (Contains(TOTAL, Members((Decimal("1.0"),), "number")), {"f1": 1}, True),
    (Match(NOTE, "ab", search=True, negated=False), {"f2": "xaby"}, True),
])
def test_emitted_python_decides_as_rule_engine(node: Any, args: dict[str, Any], expected: bool) -> None:
    constants: dict[str, Any] = {}
    source = PythonSource("t", constants).expr(node)
    assert function(tuple(args), source, namespace_for(constants))(*args.values()) is expected
