"""``policyengine diff OLD [NEW]``: every decision that changes between two versions of the policies.

OLD and NEW are directories (or files), or git revisions: ``REV:PATH`` (PATH at revision REV, relative to the
repository root, or to the current directory when it starts with ``./``), or a bare ``REV`` meaning the other
side's directory (or ``policies``) at that revision. NEW defaults to ``policies``. Exit codes: 0, or 1 with
``--fail-on-widen`` when some action becomes enabled or visible where it was not (or when that could not be
decided: facts with no finite set of values are compared by the SMT solver, ``policyengine[smt]``); 2 bad usage (a revision that does
not exist); 3 a side does not load (a missing path included).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..analysis.diff import ActionDiff, Change, Diff, MissingSource, SourceError, diff_engines, load_source
from ..analysis.matrix import MatrixTooLarge, describe_cubes, show_value
from ..engine import Engine
from ..errors import Diagnostic, PolicyError
from .common import DEFAULT_PATH, EXIT_LOAD, EXIT_OK, UsageError, print_diagnostics
from .matrix import add_impossible, add_output, emit, esc, md, outcome_html, outcome_text, page, when_html, when_lines

HELP = "list every decision that changes between two versions of the policies"
FORMATS = ("text", "markdown", "csv", "json", "html")
EXIT_WIDENS = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="directory or file, REV:PATH, or a git revision")
    parser.add_argument("new", metavar="NEW", nargs="?", default=DEFAULT_PATH,
                        help=f"directory or file, REV:PATH, or a git revision (default: {DEFAULT_PATH})")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--store", help="compare the policies deciding orders of this store (default: the base policy)")
    which.add_argument("--all-stores", action="store_true", help="compare the base policy and every store's policy")
    add_output(parser, FORMATS)
    parser.add_argument("--fail-on-widen", action="store_true",
                        help="exit 1 when an action becomes enabled or visible where it was not")
    parser.add_argument("--expand", action="store_true", help="also list every combination of each change")
    add_impossible(parser, "compare only combinations the constraints of at least one side allow (the default)",
                   "compare every combination, also those both sides' constraints rule out")


def _load(ref: str, other: str | None, side: str, fmt: str) -> tuple[Engine, str] | int:
    try:
        return load_source(ref, other=other, default_path=DEFAULT_PATH)
    except MissingSource as err:  # a missing path: the policies do not load, as for every other command
        diagnostics: Sequence[Diagnostic] = [Diagnostic(ref, 1, 1, str(err).removeprefix(f"{ref}: "))]
    except SourceError as err:
        raise UsageError(str(err)) from None
    except PolicyError as err:
        diagnostics = err.diagnostics
    if fmt == "json":
        print(json.dumps({"ok": False, "side": side, "source": ref,
                          "diagnostics": [d.to_dict() for d in diagnostics]}, indent=2))
    print(f"policyengine diff: {side.upper()} ({ref}) does not load:", file=sys.stderr)
    print_diagnostics(diagnostics, sys.stderr)
    return EXIT_LOAD


def run(args: argparse.Namespace) -> int:
    old = _load(args.old, args.new, "old", args.format)
    if isinstance(old, int):
        return old
    new = _load(args.new, args.old, "new", args.format)
    if isinstance(new, int):
        return new
    (old_engine, old_name), (new_engine, new_name) = old, new
    stores: list[str | None] = [args.store]
    if args.all_stores:
        stores = [None, *sorted(set(old_engine.stores) | set(new_engine.stores))]
    try:
        diffs = [diff_engines(old_engine, new_engine, store=s, old_source=old_name, new_source=new_name,
                              include_impossible=args.include_impossible) for s in stores]
    except MatrixTooLarge as err:
        raise UsageError(str(err)) from None
    emit(render(diffs, args.format, expand=args.expand, many=args.all_stores), args.output)
    skipped = sorted((set(old_engine.stores) | set(new_engine.stores)) - set(stores))
    if skipped and args.format in ("text", "markdown"):  # say what was not compared (stderr: the report stays clean)
        print(f"policyengine diff: compared {scope(diffs[0])} only; not compared: "
              f"{', '.join(f'store {s}' for s in skipped)} (--all-stores compares every store, --store ID one)",
              file=sys.stderr)
    wider = [f"{scope(d)}: {a.action.id}" if args.all_stores else a.action.id for d in diffs for a in d.actions if a.widens]
    undecided = [f"{scope(d)}: {a}" if args.all_stores else a for d in diffs for a, _ in d.undecided]
    if args.fail_on_widen and wider:
        print(f"policyengine diff: --fail-on-widen: more permissive: {', '.join(wider)}", file=sys.stderr)
        return EXIT_WIDENS
    if args.fail_on_widen and undecided:  # never a silent pass
        print(f"policyengine diff: --fail-on-widen: could not decide whether these widen: {', '.join(undecided)}",
              file=sys.stderr)
        return EXIT_WIDENS
    return EXIT_OK


# -- wording ---------------------------------------------------------------------------------------------------------


def scope(diff: Diff) -> str:
    return f"store {diff.store}" if diff.store is not None else "base policy"


def direction(action: ActionDiff) -> str:
    parts = (["more permissive"] if action.widens else []) + (["more restrictive"] if action.narrows else [])
    return " and ".join(parts)


def change_title(change: Change) -> str:
    tags = (["wider"] if change.widens else []) + (["narrower"] if change.narrows else [])
    n = change.count
    return f"{change.kind}: {n} combination{'s' if n != 1 else ''}" + (f" ({', '.join(tags)})" if tags else "")


def point(diff: Diff, values: Sequence[Any]) -> str:
    return ", ".join(f"{a.name} = {show_value(v)}" for a, v in zip(diff.axes, values, strict=True)) or "any combination"


def space_lines(diff: Diff) -> list[str]:
    out = [f"OLD  {diff.old}", f"NEW  {diff.new}"]
    out += [f"fact {f.description}" for f in diff.fact_changes]
    if diff.held_unknown:
        out.append(f"held unknown (not enumerable): {', '.join(diff.held_unknown)}")
    compared = len(diff.compared)
    if compared == diff.total:
        out.append(f"compared: all {diff.total} combinations of {len(diff.axes)} facts")
    else:
        out.append(f"compared: {compared} of {diff.total} combinations of {len(diff.axes)} facts (the others are ruled "
                   "out by the constraints of both sides: --include-impossible compares them too)")
    return out


def overall(diffs: Sequence[Diff]) -> str:
    changed = [d for d in diffs if d.actions]
    wider = sorted({scope(d) for d in diffs if d.widens})
    text = f"{len(changed)} of {len(diffs)} policies change"
    return text + (f"; more permissive: {', '.join(wider)}" if wider else "; none more permissive")


def render(diffs: Sequence[Diff], fmt: str, *, expand: bool = False, many: bool = False) -> str:
    if fmt == "json":
        data: Any = [d.to_dict() for d in diffs]
        if expand:
            for d, out in zip(diffs, data, strict=True):
                for a, action in zip(d.actions, out["actions"], strict=True):
                    for c, change in zip(a.changes, action["changes"], strict=True):
                        change["combinations"] = [{x.name: v for x, v in zip(d.axes, values, strict=True)}
                                                  for values in c.combinations]
        if many:
            data = {"summary": overall(diffs), "widens": any(d.widens for d in diffs), "diffs": data}
        else:
            data = data[0]
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "csv":
        return render_csv(diffs)
    if fmt == "html":
        return render_html(diffs, expand=expand, many=many)
    one = text_diff if fmt == "text" else markdown_diff
    parts = [one(d, expand, many) for d in diffs]
    if many:
        parts.append(f"overall: {overall(diffs)}" if fmt == "text" else f"**Overall:** {md(overall(diffs))}")
    return "\n\n".join(parts)


# -- text and markdown -------------------------------------------------------------------------------------------


def fresh_lines(diff: Diff) -> list[str]:
    """One line per value only NEW declares: the combinations that exist because of it, and what NEW decides
    there (OLD cannot decide them: it does not declare the value)."""
    out = []
    for (fact, value), count, states in diff.fresh_summary():
        decided = "; ".join(f"{state}: {', '.join(ids)}" for state, ids in states.items()) or "nothing"
        out.append(f"new {fact} = {show_value(value)}: {count} combination{'s' if count != 1 else ''} OLD could not "
                   f"decide; NEW decides {decided}")
    return out


def text_diff(diff: Diff, expand: bool, many: bool) -> str:
    out = [f"== {scope(diff)} =="] if many else []
    out += space_lines(diff)
    for action in diff.actions:
        if not action.shown:
            continue
        tag = direction(action.with_changes(action.existing))
        out += ["", f"{action.action.label} ({action.action.id})" + (f"  {tag}" if tag else "")]
        for change in action.existing:
            out.append(f"  {change_title(change)}")
            out += when_lines(change.when, diff.axes, "    ")
            out += [f"    old: {outcome_text(change.old)}", f"    new: {outcome_text(change.new)}"]
            if expand:
                out += [f"      - {point(diff, values)}" for values in change.combinations]
        out += solved_lines(action)
        for detail in action.details:
            out += [f"  {detail.field} changed", f"    old: {detail.old}", f"    new: {detail.new}"]
    fresh = fresh_lines(diff)
    if fresh:
        out += ["", "Combinations that exist only because of a new value (folded; --format json lists them):"]
        out += [f"  {line}" for line in fresh]
    out += ["", f"summary: {diff.summary}"]
    return "\n".join(out)


def markdown_diff(diff: Diff, expand: bool, many: bool) -> str:
    out = [f"# Policy diff: {md(scope(diff))}" if many else "# Policy diff", ""]
    out += [f"- {md(line)}" for line in space_lines(diff)]
    out += ["", f"**Summary:** {md(diff.summary)}"]
    for action in diff.actions:
        if not action.shown:
            continue
        tag = direction(action.with_changes(action.existing))
        out += ["", f"## {md(action.action.label)} (`{action.action.id}`)" + (f": {tag}" if tag else ""), ""]
        for change in action.existing:
            out += [f"- **{md(change_title(change))}** when {md(describe_cubes(change.when, diff.axes))}",
                    f"  - old: {md(outcome_text(change.old))}", f"  - new: {md(outcome_text(change.new))}"]
            if expand:
                out += [f"  - `{md(point(diff, values))}`" for values in change.combinations]
        out += [f"- {md(line.strip())}" for line in solved_lines(action) if not line.startswith("    ")]
        for detail in action.details:
            out += [f"- **{detail.field} changed**", f"  - old: {md(str(detail.old))}", f"  - new: {md(str(detail.new))}"]
    fresh = fresh_lines(diff)
    if fresh:
        out += ["", "## Combinations that exist only because of a new value", ""] + [f"- {md(line)}" for line in fresh]
    return "\n".join(out)


def solved_lines(action: ActionDiff) -> list[str]:
    """The state changes the SMT solver found (facts with no finite set of values), or why it could not decide."""
    out = []
    for change in action.solved:
        tags = (["wider"] if change.widens else []) + (["narrower"] if change.narrows else [])
        title = f"{change.kind} (decided by the SMT solver{''.join(', ' + t for t in tags)}): for example {change.describe()}"
        out.append(f"  {title}")
        out += [f"    note: {caveat}" for caveat in change.caveats]
    if action.undecided is not None:
        out.append(f"  {action.undecided}")
    return out


def render_csv(diffs: Sequence[Diff]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["scope", "action", "change", "widens", "narrows", "combinations", "when", "old state", "old",
                     "new state", "new"])
    for diff in diffs:
        for action in diff.actions:
            for c in action.changes:
                writer.writerow([scope(diff), action.action.id, c.kind, c.widens, c.narrows, c.count,
                                 describe_cubes(c.when, diff.axes), c.old.state, outcome_text(c.old), c.new.state,
                                 outcome_text(c.new)])
            for sc in action.solved:
                writer.writerow([scope(diff), action.action.id, sc.kind, sc.widens, sc.narrows, "",
                                 f"for example {sc.describe()} (SMT solver)", sc.old, sc.old, sc.new, sc.new])
            if action.undecided is not None:
                writer.writerow([scope(diff), action.action.id, "undecided", "", "", "", action.undecided, "", "", "",
                                 ""])
            for d in action.details:
                writer.writerow([scope(diff), action.action.id, f"{d.field} changed", False, False, "", "", "", d.old,
                                 "", d.new])
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------------------------------------


def render_html(diffs: Sequence[Diff], *, expand: bool, many: bool) -> str:
    body = ["<h1>Policy diff</h1>"]
    if many:
        body.append(f'<p class="meta">{esc(overall(diffs))}.</p>')
    for diff in diffs:
        if many:
            body.append(f"<h2>{esc(scope(diff))}</h2>")
        body += [f'<p class="meta">{esc(line)}</p>' for line in space_lines(diff)]
        body.append(f"<p><b>Summary:</b> {esc(diff.summary)}</p>")
        for action in diff.actions:
            tag = direction(action)
            body.append(f"<h3>{esc(action.action.label)} (<code>{esc(action.action.id)}</code>)"
                        + (f" &mdash; {esc(tag)}" if tag else "") + "</h3>")
            body.append("<table><tr><th>Change</th><th>When</th><th>Old</th><th>New</th></tr>")
            for c in action.changes:
                when = when_html(c.when, diff.axes)
                if expand:
                    when += "<details><summary>every combination</summary><ul>" + "".join(
                        f"<li>{esc(point(diff, values))}</li>" for values in c.combinations) + "</ul></details>"
                body.append(f"<tr><td>{esc(change_title(c))}</td><td>{when}</td><td>{outcome_html(c.old)}</td>"
                            f"<td>{outcome_html(c.new)}</td></tr>")
            body += [f"<tr><td>{esc(sc.kind)} (SMT solver)</td><td>for example {esc(sc.describe())}</td>"
                     f"<td>{esc(sc.old)}</td><td>{esc(sc.new)}</td></tr>" for sc in action.solved]
            if action.undecided is not None:
                body.append(f"<tr><td>undecided</td><td colspan=\"3\">{esc(action.undecided)}</td></tr>")
            body += [f"<tr><td>{esc(d.field)} changed</td><td>always</td><td>{esc(d.old)}</td><td>{esc(d.new)}</td></tr>"
                     for d in action.details]
            body.append("</table>")
    return page("Policy diff", body)



