"""Per-analysis time (issue 15): load with lock proofs, lint, verify, matrix and diff, on the shipped policies, on
the shipped policies with an ``order.total`` lock (proved by the SMT solver), on the non-finite benchmark policy and
on the large synthetic policy; and the time of one lock proof by the solver.

Targets: under 100 ms per lock proof; under 5 s for ``make check`` on the shipped policies (its four commands, each
a fresh process, are timed too). Times are wall-clock medians of ``--rounds`` runs (each analysis builds its own
translation: nothing is cached across rounds). Run alone with ``.venv/bin/python bench/analysis_bench.py``;
``bench.py`` runs it after its own scenarios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import policyengine  # noqa: E402
from policyengine.analysis.diff import diff_engines  # noqa: E402
from policyengine.analysis.lint import lint  # noqa: E402
from policyengine.analysis.matrix import build_matrix  # noqa: E402
from policyengine.analysis.verify import find_invariant_files, load_invariants, verify  # noqa: E402
from policyengine.proof import smt  # noqa: E402
from policyengine.proof.implication import Claim, Term  # noqa: E402
from policyengine.proof.smt_locks import solve_claim  # noqa: E402

POLICIES = ROOT / "policies"
NONFINITE = Path(__file__).resolve().parent / "policies" / "nonfinite.yaml"
GUARD = ("      - id: large-order\n        when: order.total > 1000 and not is_admin\n"
         "        reason: Orders over 1,000 are deleted by an admin.\n        locked: true\n")


def with_total_lock(root: Path) -> Path:
    """The shipped policies with a locked ``order.total`` guard on Delete, which ACME strengthens (> 500)."""
    target = root / "policies"
    shutil.copytree(POLICIES, target)
    base = target / "order-actions.yaml"
    text = base.read_text().replace("  user.role:\n", "  order.total:\n    type: number\n  user.role:\n", 1)
    anchor = "        reason: The order was already sent to the warehouse; archive it first.\n        locked: true\n"
    base.write_text(text.replace(anchor, anchor + GUARD))
    store = target / "stores" / "acme.yaml"
    store.write_text(store.read_text().replace(
        "  delete:\n    deny:\n",
        "  delete:\n    replace_deny:\n      large-order:\n        when: order.total > 500 and not is_admin\n    deny:\n"))
    return target


def timed(fn: Callable[[], Any], rounds: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def analyses(path: Path, rounds: int, *, invariants: bool = True, matrix: bool = True) -> dict[str, float]:
    engine = policyengine.load(path)
    out = {"load (with lock proofs)": timed(lambda: policyengine.load(path), rounds),
           "lint": timed(lambda: lint(engine), rounds)}
    if invariants and find_invariant_files(path):
        loaded = load_invariants(engine, find_invariant_files(path))
        out["verify"] = timed(lambda: verify(engine, loaded), rounds)
    if matrix:
        out["matrix"] = timed(lambda: build_matrix(engine.policy), rounds)
        out["diff (against itself)"] = timed(lambda: diff_engines(engine, engine), rounds)
    return out


def lock_proof(path: Path, rounds: int) -> float:
    """One lock proof by the solver: ACME's replaced ``large-order`` guard against the base's."""
    engine = policyengine.load(path)
    base, merged = engine.version_policy(1), engine.store_policy("acme")
    guard = next(g for a in base.actions for g in a.guards if g.spec.id == "large-order")
    mine = next(g for a in merged.actions for g in a.guards if g.spec.id == "large-order")

    def prove() -> None:
        claim = Claim(Term("base", guard.when), (Term("other", mine.when),))  # the base's guard fires: so does mine
        assert solve_claim(claim, {"base": base, "other": merged}, confirm=lambda values: True) is None

    return timed(prove, rounds)


def make_check(rounds: int) -> dict[str, float]:
    """The four commands of ``make check`` on the shipped policies, each a fresh process (import included)."""
    cli = [sys.executable, "-m", "policyengine.cli"]
    commands = {"validate": ["validate", "policies"], "test --coverage": ["test", "policies", "--coverage"],
                "lint --strict": ["lint", "policies", "--strict"], "verify --strict": ["verify", "policies", "--strict"]}
    out = {}
    for name, args in commands.items():
        def run(args: list[str] = args) -> None:
            subprocess.run([*cli, *args], cwd=ROOT, check=True, capture_output=True)

        out[name] = timed(run, rounds)
    out["total"] = sum(out.values())
    return out


def run(*, quick: bool = False, synthetic_policy: bool = True) -> dict[str, Any]:
    rounds = 1 if quick else 3
    results: dict[str, Any] = {"solver": smt.available()}
    print(f"\nanalysis times (issue 15; SMT solver {'installed' if smt.available() else 'NOT installed'}), "
          f"median of {rounds} round{'s' if rounds > 1 else ''}:", flush=True)
    with tempfile.TemporaryDirectory(prefix="policyengine-analysis-bench-") as tmp:
        total_lock = with_total_lock(Path(tmp))
        results["shipped"] = analyses(POLICIES, rounds)
        results["shipped + order.total lock"] = analyses(total_lock, rounds)
        results["lock proof by the solver (ms)"] = lock_proof(total_lock, max(rounds, 5))
    results["non-finite bench policy"] = analyses(NONFINITE, rounds)
    if synthetic_policy:
        import synthetic

        with tempfile.TemporaryDirectory(prefix="policyengine-analysis-bench-") as tmp:
            path = Path(tmp) / "synthetic.yaml"
            path.write_text(synthetic.generate().text, encoding="utf-8")
            results["synthetic policy (220 actions)"] = analyses(path, 1, matrix=False)
    results["make check (fresh processes)"] = make_check(rounds)
    for scenario, figures in results.items():
        if isinstance(figures, dict):
            print(f"  {scenario}")
            for name, ms in figures.items():
                print(f"    {name:<28}{ms:>10.1f} ms")
        elif scenario != "solver":
            print(f"  {scenario:<30}{figures:>10.1f} ms  (target < 100 ms)")
    check = results["make check (fresh processes)"]["total"]
    print(f"  make check total {check / 1000:.2f} s (target < 5 s)")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round per analysis")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the large synthetic policy")
    args = parser.parse_args(argv)
    run(quick=args.quick, synthetic_policy=not args.no_synthetic)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
