"""``policyengine verify [PATH] [--invariants FILE|DIR]... [--strict] [--format text|json]``: prove the declared
invariants over every possible order and user, for the base policy and every store override.

Exit 0 when every invariant holds (vacuous or skipped ones are warnings), 1 when one is violated (or, with
``--strict``, vacuous or skipped: could not be decided, for example without the SMT solver), 2 when there is no
invariant to check, 3 when the policies or the invariants do not load. Invariants over number, string and set
facts are decided by the SMT solver (``policyengine[smt]``); such checks say so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..analysis.verify import Check, VerifyReport, find_invariant_files, load_invariants, verify
from ..loader import load
from .common import EXIT_FACTS, EXIT_OK, EXIT_USAGE, add_path

HELP = "prove the invariants (PolicyInvariants files) over every possible order, for every store"

_LABELS = {"holds": "ok", "violated": "FAIL", "vacuous": "VACUOUS", "skipped": "SKIPPED"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--invariants", action="append", default=[], metavar="FILE|DIR",
                        help="PolicyInvariants file(s) to check (default: those under PATH); repeatable")
    parser.add_argument("--strict", action="store_true",
                        help="also exit 1 when an invariant is vacuous or skipped (could not be decided)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _facts(pairs: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join(f"{name}={show(value)}" for name, value in pairs) or "any order and user"


def _check_lines(check: Check, where: str) -> list[str]:
    notes = [f"      {where}: note ({check.target}): {caveat}" for caveat in check.caveats]
    if check.status == "holds":
        return notes
    if check.status == "skipped":
        return [f"      {where}: skipped in {check.target}: {check.reason}"]
    if check.status == "vacuous":
        how = "decided by the SMT solver" if check.method == "solver" else f"{check.combinations} combinations"
        return [f"      {where}: vacuous in {check.target}: no possible order and user matches when/unless "
                f"({how})", *notes]
    example = check.counterexample
    assert example is not None
    how = " (decided by the SMT solver)" if check.method == "solver" else ""
    lines = [f"      {where}: violated in {check.target}{how}",
             f"        counterexample: {_facts(example.facts)}", *notes]
    if len(example.facts) < len(example.witness):
        lines.append(f"        for example: {_facts(example.witness)}")
    for expected, states in example.failed:
        lines.append(f"        expected: {expected}")
        got = []
        for state in states:
            text = f"{state.action} is {state.state}"
            if state.reasons:
                text += f" ({'; '.join(state.reasons)})"
            got.append(text)
        lines.append(f"        got: {', '.join(got)}")
    return lines


def format_text(report: VerifyReport) -> str:
    lines = [f"verify: {len(report.results)} invariant{'s' if len(report.results) != 1 else ''} "
             f"({', '.join(report.files)}) against {', '.join(report.policies)}"]
    for result in report.results:
        inv = result.invariant
        title = f"{inv.id}: {inv.description}" if inv.description else inv.id
        lines.append(f"  {_LABELS[result.status]:<7} {title}")
        for check in result.checks:
            lines += _check_lines(check, inv.where)
    counts = report.counts
    parts = [f"{counts['holds']} hold"] + [f"{n} {status}" for status, n in counts.items() if n and status != "holds"]
    lines.append(f"{', '.join(parts)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    engine = load(args.path)
    if args.invariants:  # a file of another kind, or none at all, is reported by load_invariants
        files = [f for target in args.invariants for f in (find_invariant_files(target) or [Path(target)])]
    else:
        files = find_invariant_files(args.path)
    if not files:
        print(f"policyengine verify: no PolicyInvariants file under {args.path} (add one, or pass --invariants)",
              file=sys.stderr)
        return EXIT_USAGE
    report = verify(engine, load_invariants(engine, files))
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(format_text(report))
    counts = report.counts
    unchecked = counts["vacuous"] + counts["skipped"]
    if args.strict and unchecked and not counts["violated"]:  # say why a run with nothing violated fails CI
        why = {"vacuous": "proving nothing", "skipped": "not decided"}
        parts = [f"{counts[s]} {s} ({why[s]})" for s in ("vacuous", "skipped") if counts[s]]
        print(f"policyengine verify: --strict: invariants {' and '.join(parts)} fail the check", file=sys.stderr)
    failed = counts["violated"] or (args.strict and unchecked)
    return EXIT_FACTS if failed else EXIT_OK
