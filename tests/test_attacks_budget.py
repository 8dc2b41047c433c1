"""A hostile store override of nearly 1 MiB whose lock proofs would take far too long (issues 9 and 10): it must be
refused with a located PolicyError (through ``load`` and ``policyengine validate``), not run for minutes. No timing
is asserted: the proofs pay every combination and evaluation from a fixed budget (``MAX_PROOF_WORK``), and the
refusal says so. bench/lockproof.py builds the file and times it (``make bench``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import policyengine
from policyengine import PolicyError
from policyengine.cli import main
from policyengine.proof import smt
from policyengine.proof.implication import MAX_PROOF_WORK

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import lockproof  # noqa: E402


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = lockproof.hostile_override()
    assert lockproof.LIMIT - 8192 < len(text.encode()) <= lockproof.LIMIT
    return lockproof.policy_dir(tmp_path_factory.mktemp("hostile"), text)


def test_a_hostile_override_is_refused_within_the_proof_budget(hostile: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PolicyError) as info:
        policyengine.load(hostile, table_limit=0)
    [diagnostic] = info.value.diagnostics
    assert (Path(diagnostic.file).relative_to(hostile), diagnostic.line, diagnostic.column) == (
        Path("stores/acme.yaml"), 3, 1)
    assert diagnostic.message == (f"proving that this override keeps the locks needs more than {MAX_PROOF_WORK} "
                                  "evaluations")
    assert main(["validate", str(hostile)]) == 3
    assert "stores/acme.yaml:3:1: proving that this override" in capsys.readouterr().err


def test_a_lock_over_many_facts_is_proved_on_decision_diagrams(tmp_path: Path) -> None:
    """17 store facts and user.role: 393,216 combinations, too many to try one by one, but the conditions are plain
    boolean structure, so the proof needs none of them; a widening over as many facts is found the same way."""
    narrowing = lockproof.wide_override(17)
    engine = policyengine.load(lockproof.policy_dir(tmp_path / "narrow", narrowing), table_limit=0)
    assert engine.stores == ("acme",)
    widening = narrowing.replace("user.role == 'admin' and (", "user.role != 'viewer' and (")
    with pytest.raises(PolicyError) as info:
        policyengine.load(lockproof.policy_dir(tmp_path / "wide", widening), table_limit=0)
    quiet = ", ".join(f"order.h{i}=false" for i in sorted(map(str, range(17))) if i != "9")
    assert (f"store override widens the locked visibility of action 'force_delete': with {quiet}, order.h9=true, "
            "user.role='member' the store would show it, where order-actions@1 hides it"
            ) in [d.message for d in info.value.diagnostics]  # the first counterexample, facts in name order


def test_one_claim_over_too_many_combinations_to_try_goes_to_the_solver(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with a regex (not modelled by decision diagrams): every combination would have to be tried, so the
    SMT solver decides it (the override narrows, so it loads); without the solver it is refused, never guessed."""
    text = lockproof.wide_override(17).replace("user.role == 'admin' and (", "user.role =~ '^admin$' and (")
    policyengine.load(lockproof.policy_dir(tmp_path / "solved", text), table_limit=0)
    monkeypatch.setattr(smt, "z3", None)
    with pytest.raises(PolicyError) as info:
        policyengine.load(lockproof.policy_dir(tmp_path / "unsolved", text), table_limit=0)
    assert "cannot prove this keeps the lock on the visibility of action 'force_delete': install policyengine[smt] " \
           "(the z3 solver) to analyse number, string and set facts" in [d.message for d in info.value.diagnostics]


def test_a_wide_but_narrowing_override_loads(tmp_path: Path) -> None:
    """The same shape over 6 facts narrows every lock: it loads, and members still cannot force-delete."""
    engine = policyengine.load(lockproof.policy_dir(tmp_path, lockproof.wide_override(6)), table_limit=0)
    order = {"status": "Open", "has_shipment": False, "sent_to_warehouse": False,
             "store": {"id": "acme", "manual_fulfillment": False}, **{f"h{i}": True for i in range(6)}}
    assert engine.evaluate(order, {"role": "member"})["force_delete"].state == "hidden"
    assert engine.evaluate(order, {"role": "admin"})["force_delete"].state == "enabled"
    assert engine.evaluate(order, {"role": "admin"})["delete"].state == "disabled"  # the store's stricter guard
