"""``policyengine test [PATH]``: run the YAML test suites (``kind: PolicyTestSuite``) of a policy directory.

Exit 0 when every case passes, 4 when one fails (or coverage is below ``--fail-under``: guards fired, actions
checked, policies with a test case), 3 when the policies
or the suites do not load (every diagnostic printed), 2 when ``--filter`` selects nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import attrs

from ..engine import Engine
from ..errors import PolicyError
from ..loader import load
from ..toolkit.report import failure_text, show_value
from ..toolkit.suites import (
    CaseResult,
    PolicyCoverage,
    TestRun,
    load_suites,
    matches,
    run_suites,
)
from ..toolkit.update import plan_updates
from .common import EXIT_LOAD, EXIT_OK, EXIT_TESTS, UsageError, add_path, print_diagnostics, write_output

HELP = "run the YAML test suites (kind: PolicyTestSuite) of a policy directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--suites", metavar="PATH", help="where the suites are (a directory or a file; default: PATH)")
    parser.add_argument("--filter", action="append", default=[], metavar="GLOB",
                        help="run only the cases whose suite/case id (or suite name) matches; repeatable")
    parser.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML to FILE")
    parser.add_argument("--coverage", action="store_true",
                        help="report which guards fired, which conditions were seen with each possible outcome, "
                             "which actions were checked")
    parser.add_argument("--fail-under", type=float, metavar="PCT",
                        help="exit 4 when less than PCT%% of the guards fired, of the actions were checked or of the "
                             "deciding policies (the base and each store override) have a test case; "
                             "--fail-under 100 fails a store override no case tests (implies --coverage)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every case, not only the failures")
    parser.add_argument("--update", action="store_true",
                        help="accept the actual results after an intended change: rewrite the failed expectations "
                             "in the suite files (printing the diff first), then run the suites again")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --update: print the diff only, write nothing (exit 4 when there is one)")


def summary(run: TestRun) -> str:
    counts = [f"{run.failed} failed"] if run.failed else []
    counts.append(f"{run.passed} passed")
    suites = len({r.case.suite for r in run.results})
    cases = len(run.results)
    return f"{', '.join(counts)} ({cases} case{'s' if cases != 1 else ''} in {suites} suite{'s' if suites != 1 else ''})"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def coverage_text(coverage: Sequence[PolicyCoverage]) -> list[str]:
    lines = ["coverage: guards that fired, conditions seen with every possible outcome, actions checked"]
    for cov in coverage:
        if not cov.cases:
            lines.append(f"  {cov.policy} (no cases): none of its {len(cov.guards)} guards and "
                         f"{len(cov.conditions)} conditions exercised")
            continue
        lines.append(f"  {cov.policy} ({cov.cases} case{'s' if cov.cases != 1 else ''}): "
                     f"guards {cov.guards_fired}/{len(cov.guards)} {percent(cov.guards_fired, len(cov.guards))}, "
                     f"conditions {cov.conditions_covered}/{len(cov.conditions)} "
                     f"{percent(cov.conditions_covered, len(cov.conditions))}, "
                     f"actions {cov.actions_checked}/{len(cov.actions)}")
        for guard in cov.guards:
            if not guard.fired:
                dead = "" if guard.can_fire else " (no possible order makes it fire)"
                lines.append(f"    never fired:      {guard.action}.deny.{guard.guard}  {guard.where}  "
                             f"`{guard.condition}`{dead}")
        unchecked = [a.action for a in cov.actions if not a.checked]
        listed = {f"{g.action}.deny.{g.guard}" for g in cov.guards if not g.fired}
        for cond in cov.conditions:
            # a guard that never fired is listed above; an action never checked is listed below
            if cond.covered or cond.name in listed or cond.name.split(".")[0] in unchecked:
                continue
            what = "never evaluated:" if not (cond.true or cond.false) else "never true:" if cond.false else "never false:"
            lines.append(f"    {what:<17} {cond.name}  {cond.where}  `{cond.condition}`")
        if unchecked:
            lines.append(f"    never checked:    {', '.join(unchecked)}")
    lines.append(f"  total: {', '.join(m.text() for m in measures(coverage))}")
    return lines


def guard_percent(coverage: Sequence[PolicyCoverage]) -> float:
    total = sum(len(c.guards) for c in coverage)
    return 100.0 * sum(c.guards_fired for c in coverage) / total if total else 100.0


@attrs.frozen(slots=True)
class Measure:
    """One coverage figure ``--fail-under`` checks: ``covered`` of ``total`` things, and the ones missed."""

    name: str
    covered: int
    total: int
    missed: tuple[str, ...] = ()

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def text(self) -> str:
        return f"{self.name} {self.covered}/{self.total} {percent(self.covered, self.total)}"


def _untested(cov: PolicyCoverage) -> str:
    return "the base policy" if cov.store is None else f"store {cov.store}"


def measures(coverage: Sequence[PolicyCoverage]) -> tuple[Measure, ...]:
    """The figures ``--fail-under`` applies to, over every deciding policy: guards that fired, actions checked
    (per policy: an action a store override adds or changes counts in that store's policy) and policies that
    decided at least one case (a store override with no case is a whole policy no test looks at)."""
    return (
        Measure("guards", sum(c.guards_fired for c in coverage), sum(len(c.guards) for c in coverage)),
        Measure("actions", sum(c.actions_checked for c in coverage), sum(len(c.actions) for c in coverage)),
        Measure("policies with a case", sum(1 for c in coverage if c.cases), len(coverage),
                tuple(_untested(c) for c in coverage if not c.cases)),
    )


def below_lines(coverage: Sequence[PolicyCoverage], fail_under: float) -> list[str]:
    """One line per figure under ``fail_under`` (empty when coverage is enough)."""
    lines = []
    for m in measures(coverage):
        if m.percent >= fail_under:
            continue
        if m.name == "guards":  # the wording scripts already match
            lines.append(f"guard coverage {m.percent:.0f}% is below --fail-under {fail_under:g}%")
        elif m.missed:
            lines.append(f"{m.name} {m.covered}/{m.total} ({m.percent:.0f}%) is below --fail-under {fail_under:g}%: "
                         f"no test case is decided by {', '.join(m.missed)}")
        else:
            lines.append(f"{m.name} checked {m.covered}/{m.total} ({m.percent:.0f}%) is below --fail-under "
                         f"{fail_under:g}%")
    return lines


# -- JSON and JUnit -----------------------------------------------------------------------------------------------


def _plain(check: str, value: Any) -> Any:
    if check == "effects":
        return [e.to_dict() for e in value]
    return list(value) if isinstance(value, tuple) else value


def result_dict(result: CaseResult) -> dict[str, Any]:
    case = result.case
    return {
        "id": case.id, "suite": case.suite, "case": case.name, "row": case.row, "file": case.file, "line": case.line,
        "policy": result.policy, "passed": result.passed,
        "mismatches": [{"action": m.action, "check": m.check, "expected": _plain(m.check, m.expected),
                        "actual": _plain(m.check, m.actual), "where": m.where, "default_rule": m.implicit}
                       for m in result.mismatches],
        "errors": [{"fact": p.fact, "message": p.message} for p in result.errors],
    }


def coverage_dict(cov: PolicyCoverage) -> dict[str, Any]:
    return {
        "policy": cov.policy, "store": cov.store, "cases": cov.cases,
        "guards": {"fired": cov.guards_fired, "total": len(cov.guards),
                   "items": [{"action": g.action, "guard": g.guard, "where": g.where, "condition": g.condition,
                              "fired": g.fired, "can_fire": g.can_fire} for g in cov.guards]},
        "conditions": {"covered": cov.conditions_covered, "total": len(cov.conditions),
                       "items": [{"name": c.name, "where": c.where, "condition": c.condition, "true": c.true,
                                  "false": c.false, "possible": list(c.possible), "covered": c.covered}
                                 for c in cov.conditions]},
        "actions": {"checked": cov.actions_checked, "total": len(cov.actions),
                    "items": [{"action": a.action, "checked": a.checked, "states": list(a.states)}
                              for a in cov.actions]},
    }


def junit_xml(run: TestRun) -> ET.ElementTree:
    """The results as JUnit XML: one ``testsuite`` per suite, one ``testcase`` per case (a failure per failed one)."""
    root = ET.Element("testsuites", name="policyengine test", tests=str(len(run.results)),
                      failures=str(sum(1 for r in run.results if r.mismatches)),
                      errors=str(sum(1 for r in run.results if r.errors and not r.mismatches)))
    for suite in run.suites:
        results = [r for r in run.results if r.case.suite == suite.name]
        if not results:
            continue
        element = ET.SubElement(root, "testsuite", name=suite.name, tests=str(len(results)),
                                failures=str(sum(1 for r in results if r.mismatches)),
                                errors=str(sum(1 for r in results if r.errors and not r.mismatches)),
                                file=suite.file)
        for result in results:
            case = result.case
            testcase = ET.SubElement(element, "testcase", classname=suite.name, name=case.title, file=case.file,
                                     line=str(case.line))
            if result.mismatches:
                first = result.mismatches[0]
                message = (f"{first.action}: {first.check}: expected {show_value(first.check, first.expected)}, "
                           f"got {show_value(first.check, first.actual, result, first.action)}")
                if len(result.mismatches) > 1:
                    message += f" (and {len(result.mismatches) - 1} more)"
                failure = ET.SubElement(testcase, "failure", message=message, type="PolicyTestFailure")
                failure.text = f"{case.id} ({case.where})\n{failure_text(result)}\n"
            elif result.errors:
                error = ET.SubElement(testcase, "error", message=str(result.errors[0]), type="FactError")
                error.text = failure_text(result) + "\n"
    ET.indent(root)
    return ET.ElementTree(root)


# -- the command --------------------------------------------------------------------------------------------------


def update(engine: Engine, where: str, result: TestRun, filters: Sequence[str], *,
           dry_run: bool) -> tuple[TestRun, bool]:
    """``--update``: print the diff of the suite files that accept the actual results, write them (unless
    ``dry_run``) and run the suites again. Returns the run to report and whether a change is left unwritten."""
    updates = plan_updates(result.results)
    for change in updates:
        sys.stdout.write(change.diff())
    count = sum(u.changes for u in updates)
    files = plural(len(updates), "file")
    if not updates:
        print("nothing to update" + ("" if result.ok else ": the failures left are fact errors (fix the order or "
                                                           "user of the cases)"))
        return result, False
    if dry_run:
        print(f"would update {plural(count, 'expectation')} in {files} (--dry-run: nothing written)")
        return result, True
    for change in updates:
        change.write()
    print(f"updated {plural(count, 'expectation')} in {files}")
    print()
    # accept: with --filter, cases left out may still expect what the policies no longer give
    return run_suites(engine, load_suites(engine, where, accept=True), filters), False


def _acceptable(engine: Engine, where: str) -> bool:
    """Whether the suites load once out-of-date reasons, guards and effects are allowed (``--update`` would fix
    them)."""
    try:
        load_suites(engine, where, accept=True)
    except PolicyError:
        return False
    return True


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def run(args: argparse.Namespace) -> int:
    if args.dry_run and not args.update:
        raise UsageError("--dry-run goes with --update")
    if args.update and args.format == "json":
        raise UsageError("--update prints a diff: use it with --format text")
    engine = load(args.path)
    where = args.suites if args.suites is not None else args.path
    try:
        suites = load_suites(engine, where, accept=args.update)
    except PolicyError as err:
        if args.format != "text" or not _acceptable(engine, where):
            raise
        print_diagnostics(err.diagnostics, sys.stderr)
        print("the suites expect reasons, guards or effects the policies no longer give: if the policies changed "
              "on purpose, `policyengine test --update` accepts what they give now (it shows the diff first)",
              file=sys.stderr)
        return EXIT_LOAD
    if args.filter and not any(matches(c, args.filter) for s in suites for c in s.cases):
        ids = ", ".join(args.filter)
        raise UsageError(f"no case matches --filter {ids} (case ids are suite/case; suites: "
                         f"{', '.join(s.name for s in suites)})")
    result = run_suites(engine, suites, args.filter)
    pending = False
    if args.update:
        result, pending = update(engine, where, result, args.filter, dry_run=args.dry_run)
    coverage = args.coverage or args.fail_under is not None
    below = below_lines(result.coverage, args.fail_under) if args.fail_under is not None else []
    if args.junit:
        xml = io.BytesIO()
        junit_xml(result).write(xml, encoding="utf-8", xml_declaration=True)
        write_output(args.junit, xml.getvalue(), "--junit")
    if args.format == "json":
        out: dict[str, Any] = {"ok": result.ok and not below, "passed": result.passed, "failed": result.failed,
                               "results": [result_dict(r) for r in result.results]}
        if coverage:
            out["coverage"] = [coverage_dict(c) for c in result.coverage]
            out["coverage_total"] = {m.name: {"covered": m.covered, "total": m.total, "percent": m.percent,
                                              **({"missed": list(m.missed)} if m.name.startswith("policies") else {})}
                                     for m in measures(result.coverage)}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print_text(result, verbose=args.verbose, coverage=coverage)
    for line in below:
        print(line, file=sys.stderr)
    return EXIT_OK if result.ok and not below and not pending else EXIT_TESTS


def print_text(result: TestRun, *, verbose: bool, coverage: bool) -> None:
    for suite in result.suites:
        ran = [r for r in result.results if r.case.suite == suite.name]
        if not ran:
            continue
        failed = sum(1 for r in ran if not r.passed)
        counts = f"{failed} failed, {len(ran) - failed} passed" if failed else f"{len(ran)} passed"
        print(f"{suite.name} ({suite.file}): {counts}")
        for r in ran:
            if not r.passed:
                print(f"FAIL {r.case.id}  [{r.case.where}]")
                print(failure_text(r))
            elif verbose:
                print(f"ok   {r.case.id}")
    if coverage:
        print()
        print("\n".join(coverage_text(result.coverage)))
    print()
    print(summary(result))
