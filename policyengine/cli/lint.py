"""``policyengine lint [PATH] [--strict] [--disable RULE] [--format text|json]``: what the policies say that cannot
be what their authors meant (rules PE101...; see docs/lint.md)."""

from __future__ import annotations

import argparse
import json
import sys

from ..analysis.lint import RULES, LintReport, lint
from ..loader import load
from .common import EXIT_FACTS, EXIT_OK, UsageError, add_path

HELP = "find conditions that are always true/false, guards that never fire, unused declarations... (warnings)"
DOCS = "docs/lint.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when there is any finding, or anything could not be decided (skipped)")
    parser.add_argument("--disable", action="append", default=[], metavar="RULE",
                        help="do not report this rule (an id like PE301 or a name like unused-condition); repeatable")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _disabled(names: list[str]) -> set[str]:
    by_name = {r.name: r.id for r in RULES.values()}
    out = set()
    for name in names:
        for part in name.split(","):
            rule = part.strip()
            if rule.upper() in RULES:
                out.add(rule.upper())
            elif rule in by_name:
                out.add(by_name[rule])
            else:
                raise UsageError(f"--disable: unknown rule {rule!r} (rules: {', '.join(RULES)})")
    return out


def _docs(rule: str) -> str:
    return f"{DOCS}#{rule.lower()}-{RULES[rule].name}"


def format_text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        lines.append(f"{f.file}:{f.line}:{f.column}: {f.rule} {f.name}: {f.message}")
        if f.stores:
            lines.append(f"    only in: {', '.join('store ' + s for s in f.stores)}")
        if f.hint:
            lines.append(f"    hint: {f.hint}")
    for s in report.skipped:
        lines.append(f"{s.file}:{s.line}:{s.column}: skipped {s.what}: {s.reason}")
    counts = report.counts
    if counts:
        total = len(report.findings)
        by_rule = ", ".join(f"{rule} x{n}" for rule, n in counts.items())
        summary = f"{total} finding{'s' if total != 1 else ''} ({by_rule})"
    else:
        summary = "no findings"
    if report.skipped:
        summary += f", {len(report.skipped)} skipped (not decidable exactly)"
    lines.append(f"{summary}; checked {', '.join(report.policies)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    disabled = _disabled(args.disable)
    engine = load(args.path)
    report = lint(engine)
    if disabled:
        report = LintReport(tuple(f for f in report.findings if f.rule not in disabled), report.skipped,
                            report.policies)
    if args.format == "json":
        data = report.to_dict()
        for finding in data["findings"]:
            finding["docs"] = _docs(finding["rule"])
        print(json.dumps(data, indent=2))
    else:
        print(format_text(report))
    if args.strict and report.skipped:  # say why CI fails when the findings alone would not
        count = len(report.skipped)
        print(f"policyengine lint: --strict: {count} skipped item{'s' if count != 1 else ''} (not decidable exactly) "
              "fail the check", file=sys.stderr)
    return EXIT_FACTS if args.strict and (report.findings or report.skipped) else EXIT_OK
