"""``policyengine matrix [PATH]``: the exhaustive decision table over the finite facts, grouped for people.

Formats: ``text`` (a table with numbered reason/effect notes), ``markdown``, ``csv``, ``json`` and ``html`` (one
self-contained page: inline styles, no scripts, no external assets). ``--by action`` lists each action's outcomes
instead of the table; ``--expand`` gives one line per combination instead of collapsing identical rows.
The helpers here are shared with ``policyengine diff``.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from ..analysis.matrix import (
    Axis,
    Combination,
    Cube,
    Matrix,
    MatrixTooLarge,
    Outcome,
    build_matrix,
    describe_cubes,
    effect_text,
    show_value,
)
from ..engine import Engine
from ..errors import did_you_mean
from ..loader import load
from ..pipeline.compiler import CompiledPolicy
from ..pipeline.model import FactSpec
from .common import EXIT_OK, UsageError, add_path, write_output

HELP = "print the decision table of every combination of the finite facts"
FORMATS = ("text", "markdown", "csv", "json", "html")


def add_impossible(parser: argparse.ArgumentParser,
                   exclude: str = "leave out combinations the policy's constraints rule out (the default)",
                   include: str = "show every combination, also those the constraints rule out") -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--exclude-impossible", dest="include_impossible", action="store_false", default=False,
                       help=exclude)
    group.add_argument("--include-impossible", dest="include_impossible", action="store_true", help=include)


def add_output(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    parser.add_argument("--format", choices=formats, default="text")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--store", help="the policy deciding orders of this store (default: the base policy)")
    parser.add_argument("--version", type=int, help="a loaded version of the base policy (default: the latest)")
    add_output(parser, FORMATS)
    parser.add_argument("--by", choices=("rows", "action"), default="rows",
                        help="rows: the decision table (default); action: each action's outcomes and where")
    parser.add_argument("--expand", action="store_true", help="one line per combination (no collapsing)")
    parser.add_argument("--fact", action="append", default=[], metavar="NAME=VALUE",
                        help="fix a fact to one value, typed by its declaration (order.total=1500, user.role=admin, "
                             "order.sent_to_warehouse=true, order.tags=[hold, vip]); repeatable. A fixed number, "
                             "string or set fact is no longer held unknown: what depends on it is decided")
    add_impossible(parser)


def emit(text: str, output: str | None) -> None:
    """Print ``text``, or write it to ``output``."""
    if output:
        write_output(output, (text if text.endswith("\n") else text + "\n").encode("utf-8", "backslashreplace"),
                     "--output")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def run(args: argparse.Namespace) -> int:
    engine = load(args.path)
    matrix = engine_matrix(engine, args.store, args.version, args.include_impossible, args.fact)
    emit(render(matrix, args.format, by=args.by, expand=args.expand), args.output)
    return EXIT_OK


def _value_error(option: str, fact: FactSpec, text: str, why: str) -> UsageError:
    return UsageError(f"{option}: {fact.name} is a {fact.type} fact; {text!r} {why}")


def parse_fact_value(fact: FactSpec, text: str, option: str = "--fact") -> Any:
    """The value ``text`` gives ``fact``, typed by its declaration: ``true``/``false`` for a bool, a finite number,
    the text itself for an enum or a string (quotes, YAML's or JSON's, may surround it: ``'no'``), a YAML/JSON
    list of strings for a set (``[hold, vip]``, ``[]``). A :class:`UsageError` when it is not one."""
    stripped = text.strip()
    if fact.type == "bool":
        flag = {"true": True, "false": False}.get(stripped.lower())
        if flag is None:
            raise _value_error(option, fact, text, "is not true or false")
        return flag
    if fact.type == "number":
        try:
            number: int | float = int(stripped)
        except ValueError:
            try:
                number = float(stripped)
            except ValueError:
                raise _value_error(option, fact, text, "is not a number") from None
        if not math.isfinite(number):
            raise _value_error(option, fact, text, "is not a finite number")
        return number
    if fact.type in ("enum", "string"):
        value: Any = stripped
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise _value_error(option, fact, text, "is not a quoted string") from None
        if fact.type == "enum" and value not in fact.values:
            close = did_you_mean(str(value), fact.values)
            raise UsageError(f"{option}: {value!r} is not a value of {fact.name} (values: {', '.join(fact.values)})"
                             + (f"; {close}" if close else ""))
        return value
    try:  # a set
        members = yaml.safe_load(stripped) if stripped else []
    except yaml.YAMLError:
        members = None
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise _value_error(option, fact, text, "is not a list of strings (write [hold, vip], or [] for none; "
                                               "quote members YAML reads as something else: ['no'])")
    return frozenset(members)


def parse_facts(policy: CompiledPolicy, pairs: Sequence[str]) -> dict[str, Any]:
    """``--fact NAME=VALUE`` options as fact name -> typed value, for ``policy``'s declared facts."""
    declared = {f.name: f for f in policy.facts}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--fact {pair!r}: expected NAME=VALUE, for example --fact order.total=1500")
        fact = declared.get(name)
        if fact is None:
            close = did_you_mean(name, declared)
            raise UsageError(f"--fact {name}: {policy.spec.label} has no such fact"
                             + (f"; {close}" if close else f" (facts: {', '.join(declared)})"))
        if name in out:
            raise UsageError(f"--fact {name}: given twice")
        out[name] = parse_fact_value(fact, text, f"--fact {name}")
    return out


def engine_matrix(engine: Engine, store: str | None, version: int | None, include_impossible: bool,
                  facts: Sequence[str] = ()) -> Matrix:
    if version is not None and store is not None:
        raise UsageError("--version and --store: a store runs on its own version; give one of them")
    if version is not None:
        if version not in engine.versions:
            raise UsageError(f"--version {version}: not loaded (loaded versions: {', '.join(map(str, engine.versions))})")
        policy = engine.version_policy(version)
    else:
        policy = engine.store_policy(store)
    override = engine.store_override(store) if store is not None else None
    fixed = parse_facts(policy, facts)
    try:
        return build_matrix(policy, store=store, store_override=override.override.label if override else None,
                            include_impossible=include_impossible, facts=fixed)
    except MatrixTooLarge as err:
        raise UsageError(str(err)) from None


def render(matrix: Matrix, fmt: str, *, by: str = "rows", expand: bool = False) -> str:
    if fmt == "json":
        data = matrix.to_dict()
        if matrix.fixed:  # only then: the JSON of a matrix without --fact stays as it was
            data["fixed"] = {name: sorted(v) if isinstance(v, frozenset) else v for name, v in matrix.fixed}
        if expand:
            data["combinations_list"] = [{"facts": {a.name: v for a, v in zip(matrix.axes, c.values, strict=True)},
                                          "possible": c.possible, "broken": list(c.broken),
                                          "decisions": {a.id: o.to_dict() for a, o in zip(matrix.actions, c.outcomes,
                                                                                         strict=True)}}
                                         for c in matrix.combinations]
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "html":
        return render_html(matrix, expand=expand)
    if by == "action":
        return {"text": action_text, "markdown": action_markdown, "csv": action_csv}[fmt](matrix)
    lines = table_lines(matrix, expand)
    return {"text": table_text, "markdown": table_markdown, "csv": table_csv}[fmt](matrix, lines)


# -- shared wording --------------------------------------------------------------------------------------------------


def title(matrix: Matrix) -> str:
    if matrix.store_override:
        return f"{matrix.policy} + store override {matrix.store_override}"
    if matrix.store:
        return f"{matrix.policy} (store {matrix.store} has no override: the base policy decides)"
    return f"{matrix.policy} (base policy)"


def counts(matrix: Matrix) -> str:
    """``189 possible combinations of 5 facts (312 in all; ...)``."""
    facts = plural(len(matrix.axes), "fact")
    total, possible = matrix.total, matrix.possible
    applied = plural(sum(1 for c in matrix.constraints if c.applied), "constraint")
    if not matrix.constraints:
        return f"{plural(total, 'combination')} of {facts} (no constraints declared)"
    impossible = total - possible
    if matrix.include_impossible:
        return f"{plural(total, 'combination')} of {facts}, all shown; {impossible} of them ruled out by {applied}"
    return (f"{possible} possible {'combination' if possible == 1 else 'combinations'} of {facts} ({total} in all; "
            f"{impossible} ruled out by {applied} left out: --include-impossible shows them)")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def left_out(matrix: Matrix) -> list[str]:
    """What the table does not enumerate, one sentence each."""
    out = []
    if matrix.fixed:
        out.append("fixed (--fact): " + ", ".join(f"{n} = {fixed_text(v)}" for n, v in matrix.fixed))
    if matrix.held_unknown:
        facts = ", ".join(f"{n} ({t})" for n, t in matrix.held_unknown)
        out.append(f"held unknown (not enumerable): {facts}; decisions that depend on them are undecided")
    if matrix.not_read:
        facts = ", ".join(f"{n} ({t})" for n, t in matrix.not_read)
        out.append(f"not read by any condition: {facts}")
    return out


def fixed_text(value: Any) -> str:
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(value)) + "]"
    return show_value(value)


def domain_text(axis: Axis) -> str:
    return ", ".join(map(show_value, axis.values))


def sentences(texts: Iterable[str]) -> str:
    """Reasons as one line of sentences (a reason without final punctuation gets a full stop)."""
    return " ".join(t if t.endswith((".", "!", "?")) else t + "." for t in texts)


def short_names(axes: Sequence[Axis]) -> list[str]:
    """Column headers: the last part of each fact name when those are distinct, else full names."""
    leaves = [a.name.rsplit(".", 1)[-1] for a in axes]
    return leaves if len(set(leaves)) == len(leaves) else [a.name for a in axes]


def fact_cell(axis: Axis, cube: Cube) -> str:
    """One fact's part of a table line: ``*``, ``Error``, ``New, Pending`` or ``not Pending, Error``."""
    values = dict(cube.terms).get(axis.name)
    if values is None or len(values) == len(axis.values):
        return "*"
    others = [v for v in axis.values if v not in values]
    if len(others) < len(values):
        return "not " + ", ".join(map(show_value, others))
    return ", ".join(map(show_value, values))


def outcome_text(outcome: Outcome) -> str:
    """An outcome in one line: ``disabled: reason; reason``, ``enabled: does x := y, op()``."""
    if outcome.state == "enabled":
        return "enabled" + (f": does {'; '.join(map(effect_text, outcome.effects))}" if outcome.effects else "")
    depends = ", ".join(outcome.depends_on)
    if outcome.state == "undecided":
        if outcome.conditions:
            return f"undecided: {outcome.described}"
        return f"undecided, may be {' or '.join(outcome.may_be)}: depends on {depends}"
    if outcome.depends_on:
        return f"{outcome.state} (more reasons may apply, depending on {depends}): {sentences(outcome.reasons)}"
    return f"{outcome.state}: {sentences(outcome.reasons)}" if outcome.reasons else outcome.state


class Notes:
    """Numbered reasons ([1], [2], ...) and lettered effects ((a), (b), ...) in order of first use."""

    def __init__(self) -> None:
        self.reasons: dict[str, int] = {}
        self.effects: dict[str, str] = {}

    def reason(self, text: str) -> int:
        return self.reasons.setdefault(text, len(self.reasons) + 1)

    def effect(self, text: str) -> str:
        if text not in self.effects:
            n, letters = len(self.effects), ""
            while True:
                letters = chr(ord("a") + n % 26) + letters
                n = n // 26 - 1
                if n < 0:
                    break
            self.effects[text] = letters
        return self.effects[text]

    def cell(self, outcome: Outcome) -> str:
        """``enabled (a)``, ``disabled [1,2]``, ``hidden [3]``, ``undecided [4]``, ``-`` (absent)."""
        if outcome.state == "absent":
            return "-"
        if outcome.state == "enabled":
            return "enabled" + (f" ({self.effect('; '.join(map(effect_text, outcome.effects)))})" if outcome.effects else "")
        texts = list(outcome.reasons)
        if outcome.state == "undecided":
            texts.insert(0, outcome.described or
                         f"may be {' or '.join(outcome.may_be)}: depends on {', '.join(outcome.depends_on)}")
        elif outcome.depends_on:
            texts.append(f"more reasons may apply, depending on {', '.join(outcome.depends_on)}")
        refs = ",".join(str(self.reason(t)) for t in texts)
        return f"{outcome.state} [{refs}]" if refs else outcome.state

    def legend(self) -> list[str]:
        out = [f"[{n}] {text}" for text, n in self.reasons.items()]
        out += [f"({letter}) {text}" for text, letter in self.effects.items()]
        return out


# -- the table -------------------------------------------------------------------------------------------------------


def table_lines(matrix: Matrix, expand: bool) -> list[tuple[int, Cube, tuple[Outcome, ...]]]:
    """``(row number, cube, outcomes)`` per line: a row's cubes (or, with ``expand``, every combination shown)."""
    if expand:
        return [(k, point_cube(matrix.axes, c), c.outcomes) for k, c in enumerate(matrix.shown, 1)]
    return [(k, cube, row.outcomes) for k, row in enumerate(matrix.rows, 1) for cube in row.when]


def point_cube(axes: Sequence[Axis], combination: Combination) -> Cube:
    return Cube(tuple((a.name, (v,)) for a, v in zip(axes, combination.values, strict=True)))


def grid(matrix: Matrix, lines: Sequence[tuple[int, Cube, tuple[Outcome, ...]]],
         notes: Notes) -> tuple[list[str], list[list[str]]]:
    header = ["#", *short_names(matrix.axes), *(a.id for a in matrix.actions)]
    body = [[str(k), *(fact_cell(a, cube) for a in matrix.axes), *(notes.cell(o) for o in outcomes)]
            for k, cube, outcomes in lines]
    return header, body


def aligned(header: Sequence[str], body: Sequence[Sequence[str]], split: int) -> list[str]:
    """Columns padded to width, `` | `` between the facts (the first ``split`` columns) and the actions."""
    rows = [list(header), *map(list, body)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        left = "  ".join(c.ljust(w) for c, w in zip(cells[:split], widths[:split], strict=True))
        right = "  ".join(c.ljust(w) for c, w in zip(cells[split:], widths[split:], strict=True))
        return f"{left} | {right}".rstrip()

    lines = [line(r) for r in rows]
    return [lines[0], "-" * max(map(len, lines)), *lines[1:]]


def heading_lines(matrix: Matrix) -> list[str]:
    out = [title(matrix), counts(matrix)]
    width = max((len(a.name) for a in matrix.axes), default=0)
    out += [f"  {a.name.ljust(width)}  {a.type:<4}  {domain_text(a)}" for a in matrix.axes]
    out += left_out(matrix)
    return out


def table_text(matrix: Matrix, lines: Sequence[tuple[int, Cube, tuple[Outcome, ...]]]) -> str:
    notes = Notes()
    header, body = grid(matrix, lines, notes)
    rows = len({k for k, _, _ in lines})
    out = heading_lines(matrix)
    out += ["", f"{rows} distinct row{'s' if rows != 1 else ''} in {len(lines)} lines ('*': any value; "
                "a row with several lines holds wherever any of them does)", ""]
    out += aligned(header, body, 1 + len(matrix.axes))
    out += ["", *notes.legend()]
    return "\n".join(out)


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(matrix: Matrix, lines: Sequence[tuple[int, Cube, tuple[Outcome, ...]]]) -> str:
    notes = Notes()
    header, body = grid(matrix, lines, notes)
    out = [f"# Decision matrix: {md(title(matrix))}", "", md(counts(matrix)) + ".", ""]
    out += ["| Fact | Type | Values |", "| --- | --- | --- |"]
    out += [f"| `{a.name}` | {a.type} | {md(domain_text(a))} |" for a in matrix.axes]
    out += ["", *(f"- {md(line)}" for line in left_out(matrix))]
    out += ["", "`*`: any value. Lines with the same `#` share their decisions.", ""]
    out += ["| " + " | ".join(md(h) for h in header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(md(c) for c in row) + " |" for row in body]
    out += ["", *(f"- {md(line)}" for line in notes.legend())]
    return "\n".join(out)


def table_csv(matrix: Matrix, lines: Sequence[tuple[int, Cube, tuple[Outcome, ...]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", *(a.name for a in matrix.axes), *(f"{a.id}{part}" for a in matrix.actions
                                                              for part in ("", " details"))])
    for k, cube, outcomes in lines:
        cells = [str(k), *(fact_cell(a, cube) for a in matrix.axes)]
        for outcome in outcomes:
            full = outcome_text(outcome)
            cells += [outcome.state, full.split(": ", 1)[1] if ": " in full else ""]
        writer.writerow(cells)
    return buffer.getvalue()


# -- by action -------------------------------------------------------------------------------------------------------


def action_heading(matrix: Matrix, k: int) -> str:
    info = matrix.actions[k]
    extra = [] if not info.destructive else ["destructive"]
    if info.confirm:
        extra.append(f"asks: {info.confirm}")
    return f"{info.label} ({info.id})" + (f" - {'; '.join(extra)}" if extra else "")


def action_text(matrix: Matrix) -> str:
    out = [*heading_lines(matrix), ""]
    for k, summary in enumerate(matrix.by_action):
        out.append(action_heading(matrix, k))
        for g in sorted(summary.groups, key=state_order):
            out.append(f"  {outcome_text(g.outcome)}")
            out += when_lines(g.when, matrix.axes, "    ", g.count)
        out.append("")
    return "\n".join(out).rstrip("\n")


def when_lines(cubes: Sequence[Cube], axes: Sequence[Axis], indent: str, count: int | None = None) -> list[str]:
    """``when: a = x, b = y`` then ``  or: ...`` lines, the first with the number of combinations."""
    suffix = f"  ({count} combination{'s' if count != 1 else ''})" if count is not None else ""
    if not cubes:
        return [f"{indent}when: no combination{suffix}"]
    lines = [f"{indent}when: {cubes[0].describe(axes)}{suffix}"]
    lines += [f"{indent}  or: {c.describe(axes)}" for c in cubes[1:]]
    return lines


_STATE_ORDER = {"enabled": 0, "disabled": 1, "hidden": 2, "undecided": 3, "absent": 4}


def state_order(group: object) -> int:
    outcome: Outcome = getattr(group, "outcome")  # noqa: B009 - ActionGroup, typed loosely for sorting
    return _STATE_ORDER.get(outcome.state, 5)


def action_markdown(matrix: Matrix) -> str:
    out = [f"# Decisions by action: {md(title(matrix))}", "", md(counts(matrix)) + ".", ""]
    out += [f"- {md(line)}" for line in left_out(matrix)]
    for k, summary in enumerate(matrix.by_action):
        out += ["", f"## {md(action_heading(matrix, k))}", "", "| Outcome | When | Combinations |", "| --- | --- | --- |"]
        for g in sorted(summary.groups, key=state_order):
            out.append(f"| {md(outcome_text(g.outcome))} | {md(describe_cubes(g.when, matrix.axes))} | {g.count} |")
    return "\n".join(out)


def action_csv(matrix: Matrix) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["action", "state", "when", "combinations", "details"])
    for summary in matrix.by_action:
        for g in sorted(summary.groups, key=state_order):
            full = outcome_text(g.outcome)
            writer.writerow([summary.action.id, g.outcome.state, describe_cubes(g.when, matrix.axes), g.count,
                             full.split(": ", 1)[1] if ": " in full else ""])
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:2rem auto;max-width:1400px;
padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d8dde6}
h3{font-size:1rem;margin:1.25rem 0 .25rem}
p.meta{color:#52607a;margin:.25rem 0}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #d8dde6;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f9;position:sticky;top:0}
td.any{color:#9aa5b8}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f5f9;padding:0 .2rem}
.enabled{background:#e3f5e8;color:#14602c}.disabled{background:#fdf1dc;color:#7a4a00}
.hidden{background:#eef0f4;color:#5d6778}.undecided{background:#fde8e8;color:#8a1c1c}.absent{background:#fff;color:#9aa5b8}
.badge{display:inline-block;border-radius:3px;padding:0 .35rem;font-weight:600}
sup{font-size:.75em}
.fact{font-weight:600}
ol.notes li,ul.notes li{margin:.15rem 0}
.wide{overflow-x:auto}
@media print{th{position:static}}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title_text: str, body: Iterable[str]) -> str:
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{esc(title_text)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", *body,
                      "</body>", "</html>"])


def badge(outcome: Outcome) -> str:
    label = outcome.label if outcome.state != "absent" else "absent"
    return f'<span class="badge {outcome.state}">{esc(label)}</span>'


def outcome_html(outcome: Outcome) -> str:
    parts = [badge(outcome)]
    if outcome.state == "enabled" and outcome.effects:
        parts.append(" does " + "; ".join(f"<code>{esc(effect_text(e))}</code>" for e in outcome.effects))
    if outcome.state == "undecided":
        parts.append(f" {esc(outcome.described)}" if outcome.conditions else
                     f" depends on {esc(', '.join(outcome.depends_on))}")
    elif outcome.depends_on:
        parts.append(f" (more reasons may apply, depending on {esc(', '.join(outcome.depends_on))})")
    if outcome.reasons:
        parts.append(": " + esc(sentences(outcome.reasons)))
    return "".join(parts)


def when_html(cubes: Sequence[Cube], axes: Sequence[Axis]) -> str:
    if not cubes:
        return "no combination"
    return "<br>or ".join(esc(c.describe(axes)) for c in cubes)


def render_html(matrix: Matrix, *, expand: bool = False) -> str:
    notes = Notes()
    body = [f"<h1>Decision matrix: {esc(title(matrix))}</h1>", f'<p class="meta">{esc(counts(matrix))}.</p>']
    body += [f'<p class="meta">{esc(line)}.</p>' for line in left_out(matrix)]
    body += ["<h2>Facts</h2>", "<table><tr><th>Fact</th><th>Type</th><th>Values</th><th>Meaning</th></tr>"]
    body += [f"<tr><td><code>{esc(a.name)}</code></td><td>{esc(a.type)}</td><td>{esc(domain_text(a))}</td>"
             f"<td>{esc(a.description or '')}</td></tr>" for a in matrix.axes]
    body.append("</table>")
    if matrix.constraints:
        state = "shown, marked impossible" if matrix.include_impossible else "left out"
        body += [f"<h2>Constraints</h2><p>Combinations these rule out are {state}; they never change a decision.</p>",
                 '<ul class="notes">']
        body += [f"<li><b>{esc(c.id)}</b>: <code>{esc(c.condition)}</code>"
                 + (f" &mdash; {esc(c.description)}" if c.description else "")
                 + ("" if c.applied else " (not applied: it reads a fact no decision reads)") + "</li>"
                 for c in matrix.constraints]
        body.append("</ul>")
    body.append("<h2>By action</h2>")
    for k, summary in enumerate(matrix.by_action):
        body += [f"<h3>{esc(action_heading(matrix, k))}</h3>",
                 "<table><tr><th>Outcome</th><th>When</th><th>Combinations</th></tr>"]
        body += [f"<tr><td>{outcome_html(g.outcome)}</td><td>{when_html(g.when, matrix.axes)}</td><td>{g.count}</td></tr>"
                 for g in sorted(summary.groups, key=state_order)]
        body.append("</table>")
    lines = table_lines(matrix, expand)
    rows = len({k for k, _, _ in lines})
    body += ["<h2>Decision table</h2>",
             f"<p>{rows} distinct rows in {len(lines)} lines. <code>*</code> means any value; lines with the same "
             "number share their decisions. Numbers in brackets refer to the reasons, letters to the effects, listed "
             "below the table.</p>", '<div class="wide"><table>']
    names = short_names(matrix.axes)
    body.append("<tr><th>#</th>" + "".join(f'<th title="{esc(a.name)}">{esc(n)}</th>' for a, n in zip(matrix.axes, names,
                                                                                                      strict=True))
                + "".join(f'<th title="{esc(a.id)}">{esc(a.label)}</th>' for a in matrix.actions) + "</tr>")
    for k, cube, outcomes in lines:
        cells = [f"<td>{k}</td>"]
        for axis in matrix.axes:
            value = fact_cell(axis, cube)
            cells.append('<td class="any">*</td>' if value == "*" else f"<td>{esc(value)}</td>")
        for outcome in outcomes:
            tip = outcome_text(outcome)
            cells.append(f'<td class="{outcome.state}" title="{esc(tip)}">{esc(notes.cell(outcome))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    body += ["</table></div>", "<h2>Notes</h2>", '<ul class="notes">']
    body += [f"<li>{esc(line)}</li>" for line in notes.legend()]
    body.append("</ul>")
    return page(f"Decision matrix: {title(matrix)}", body)
