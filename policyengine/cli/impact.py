"""``policyengine impact [PATH] --against REV_OR_DIR (--db URL | --log FILE)``: how many real orders a policy change
moves, by action, transition and store, counted by the database (``policyengine[sql]``) or replayed from a
decision log. PATH is the NEW side (default ``policies``); ``--against`` the OLD one, a directory or a git revision
as ``policyengine diff`` takes them. Exit codes: 0, 1 when ``--fail-on`` matches, 2 bad usage (a revision that
does not exist, an unreachable database, a fact with no column), 3 a side does not load.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .common import (
    EXIT_LOAD,
    EXIT_OK,
    MAX_JSON_BYTES,
    STDIN,
    STDIN_NAME,
    UsageError,
    add_path,
    json_arg,
    parse_json,
    print_diagnostics,
    read_input,
)

HELP = "how many real orders a policy change moves, counted by the database or replayed from a decision log"
EXIT_MATCHED = 1
ARROW = "\u2192"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--against", required=True, metavar="REV_OR_DIR",
                        help="the OLD policies: a directory or file, REV:PATH, or a git revision (PATH at it)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (sqlite:///orders.db, postgresql+psycopg://...)")
    source.add_argument("--log", metavar="FILE", help="a decision log (JSON lines) to replay instead of a database")
    parser.add_argument("--table", default="orders", help="the orders table (default: orders)")
    parser.add_argument("--id-column", default=None, help="the order id column (default: TABLE.id)")
    parser.add_argument("--columns", help="JSON file (- for standard input) mapping facts to columns:"
                                          " {\"order.status\": \"orders.status\", \"store.id\": \"stores.id\"}"
                                          " (default: the table's columns named after the facts: status, store_id)")
    parser.add_argument("--from", dest="from_", metavar="SQL",
                        help="the FROM clause, to join tables: \"orders JOIN stores ON stores.id = orders.store_id\"")
    parser.add_argument("--user", action="append", default=[], metavar="NAME=JSON",
                        help="a user profile (repeatable), e.g. admin='{\"role\": \"admin\"}' (default: one profile per"
                             " value of the policies' enum user fact, e.g. each role)")
    parser.add_argument("--action", action="append", default=[], help="only this action (repeatable)")
    parser.add_argument("--examples", type=int, default=3, help="example order ids per change (default: 3)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("--fail-on", action="append", default=[], metavar="CHANGE",
                        help="exit 1 when this change happens: widen (anything newly enabled), undecided, or FROM->TO"
                             " such as hidden->enabled (repeatable)")


def run(args: argparse.Namespace) -> int:
    from ..sql.impact import parse_change

    for change in args.fail_on:
        if change not in ("widen", "undecided"):
            try:
                parse_change(change)
            except ValueError as err:
                raise UsageError(f"--fail-on: {err}") from None
    if args.examples < 0:
        raise UsageError("--examples: must be 0 or more")
    sides = _sides(args)
    if isinstance(sides, int):
        return sides
    (old, old_name), (new, new_name) = sides
    actions = args.action or None
    heading = {"old": old_name, "new": new_name}
    if args.log is not None:
        from ..sql.replay import replay_log

        text = read_input(args.log, "--log", 1 << 30)
        try:
            replay = replay_log(text.splitlines(), old, new, actions=actions, examples=args.examples)
        except (ValueError, KeyError) as err:
            raise UsageError(f"--log: {err}") from None
        result, extra = replay.impact, replay.to_dict()["not_replayable"]
        heading["source"] = f"decision log {args.log}"
    else:
        result = _query(args, old, new, actions)
        extra = None
        heading["source"] = _shown_url(args.db)
    print(render(result, args.format, heading, extra), end="")
    matched = [line for change in args.fail_on for line in result.matches(change)]
    if matched:
        sys.stdout.flush()  # the report first, then why the exit code
        print(f"policyengine impact: --fail-on {', '.join(args.fail_on)}: {'; '.join(matched)}", file=sys.stderr)
        return EXIT_MATCHED
    return EXIT_OK


def _sides(args: argparse.Namespace) -> tuple[tuple[Any, str], tuple[Any, str]] | int:
    from ..analysis.diff import MissingSource, SourceError, load_source
    from ..errors import Diagnostic, PolicyError
    from ..loader import load

    out = []
    for side, ref, other in (("old", args.against, args.path), ("new", args.path, args.against)):
        try:
            out.append(load_source(ref, other=other) if side == "old" else (load(args.path), args.path))
            continue
        except MissingSource as err:
            diagnostics: Sequence[Any] = [Diagnostic(ref, 1, 1, str(err).removeprefix(f"{ref}: "))]
        except SourceError as err:
            raise UsageError(f"--against: {err}") from None
        except PolicyError as err:
            diagnostics = err.diagnostics
        print(f"policyengine impact: {side.upper()} ({ref}) does not load:", file=sys.stderr)
        print_diagnostics(diagnostics, sys.stderr)
        return EXIT_LOAD
    return out[0], out[1]


def _profiles(args: argparse.Namespace, engines: Sequence[Any]) -> dict[str, Any]:
    if args.user:
        profiles = {}
        for item in args.user:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(f"--user: expected NAME=JSON, got {item!r}")
            profiles[name] = json_arg(value, "user")
        return profiles
    enums: dict[str, list[Any]] = {}
    for engine in engines:
        for fact in engine.policy.facts:
            if fact.source[0] == "user" and fact.type == "enum" and len(fact.source) == 2:
                enums.setdefault(fact.source[1], list(fact.values))
    if len(enums) != 1:
        return {"user": {}}
    (key, values), = enums.items()
    return {str(v): {key: v} for v in values}


def _query(args: argparse.Namespace, old: Any, new: Any, actions: list[str] | None) -> Any:
    try:
        import sqlalchemy as sa

        from ..sql import impact
    except ImportError as err:
        raise UsageError(f"--db needs policyengine[sql] ({err})") from None
    try:
        database = sa.create_engine(args.db)
    except Exception as err:  # noqa: BLE001 - a malformed URL or a missing driver: usage
        raise UsageError(f"--db: {err}") from None
    try:
        with database.connect() as conn:
            columns, selection, id_column = _mapping(args, conn, (old, new))
            return impact(conn, old, new, selection, columns, id_column, users=_profiles(args, (old, new)),
                          actions=actions, examples=args.examples)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    except sa.exc.SQLAlchemyError as err:
        raise UsageError(f"--db: cannot query the database: {str(err).splitlines()[0]}") from None
    finally:
        database.dispose()


def _mapping(args: argparse.Namespace, conn: Any, engines: Sequence[Any]) -> tuple[dict[str, Any], Any, Any]:
    """Fact -> column, the FROM clause and the id column, from the options (or the table's own columns)."""
    import sqlalchemy as sa

    facts = {f.name for e in engines for s in (None, *e.stores) for f in e.store_policy(s).facts if f.source[0] != "user"}
    selection: Any = sa.text(args.from_) if args.from_ else sa.table(args.table)
    id_column: Any = sa.literal_column(args.id_column or f"{args.table}.id")
    if args.columns is not None:
        shown = STDIN_NAME if args.columns == STDIN else args.columns
        mapping = parse_json(read_input(args.columns, "--columns", MAX_JSON_BYTES), f"--columns: {shown}")
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise UsageError("--columns: expected a JSON object mapping fact names to \"table.column\" strings")
        return {f: sa.literal_column(c) for f, c in mapping.items()}, selection, id_column
    present = {c["name"] for c in sa.inspect(conn).get_columns(args.table)}
    columns: dict[str, Any] = {}
    for fact in sorted(facts):
        name = fact.removeprefix("order.").replace(".", "_")
        if name in present:
            columns[fact] = sa.literal_column(f"{args.table}.{name}")
    return columns, selection, id_column


def _shown_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return str(sa.engine.make_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - shown as given when it does not parse (the query reports it)
        return url


# -- rendering -------------------------------------------------------------------------------------------------------


def render(result: Any, fmt: str, heading: Mapping[str, str], extra: Mapping[str, Any] | None = None) -> str:
    if fmt == "json":
        data = result.to_dict()
        if extra is not None:
            data["not_replayable"] = extra
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return (_markdown if fmt == "markdown" else _text)(result, heading, extra)


def _merged(result: Any) -> list[tuple[str, Any]]:
    """(name, entry) per action answer, profiles with the same answer for an action shown once: "Edit (admin, member)"."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for entry in result.actions:
        groups.setdefault((entry.action, entry.transitions, entry.undecided), []).append(entry)
    out = []
    for entries in groups.values():
        profiles = [e.profile for e in entries if e.profile is not None]
        out.append((entries[0].label + (f" ({', '.join(profiles)})" if profiles else ""), entries[0]))
    return out


def _stores(stores: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{s or '(no store)'} {n}" for s, n in stores)


def _headline(result: Any) -> str:
    moved = sum(1 for a in result.actions if a.transitions or a.undecided.count)
    wider = " (wider: something is newly enabled)" if result.widens() else ""
    orders = "order" if result.total == 1 else "orders"
    return f"{moved} of {len(result.actions)} action answers change over {result.total} {orders}{wider}"


def _text(result: Any, heading: Mapping[str, str], extra: Mapping[str, Any] | None) -> str:
    lines = [f"OLD  {heading['old']}", f"NEW  {heading['new']}", f"over {heading['source']}", _headline(result)]
    if extra is not None and extra["count"]:
        lines.append(f"not replayable: {extra['count']} ({'; '.join(f'{w}: {n}' for w, n in extra['why'].items())})")
    for name, entry in _merged(result):
        if not entry.transitions and not entry.undecided.count:
            continue
        lines.append(f"{name}:")
        for t in entry.transitions:
            tag = "  [wider]" if t.widens else ""
            lines.append(f"  {t.old} -> {t.new}: {t.count}{tag}  stores: {_stores(t.stores)}"
                         + (f"  e.g. {', '.join(t.examples)}" if t.examples else ""))
        if entry.undecided.count:
            u = entry.undecided
            lines.append(f"  decided -> undecided: {u.count}" + (f"  e.g. {', '.join(u.examples)}" if u.examples else ""))
    unchanged = [name for name, a in _merged(result) if not a.transitions and not a.undecided.count]
    if unchanged:
        lines.append(f"unchanged: {', '.join(unchanged)}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(result: Any, heading: Mapping[str, str], extra: Mapping[str, Any] | None) -> str:
    lines = [f"### Policy impact: {_headline(result)}", "",
             f"`{_cell(heading['old'])}` {ARROW} `{_cell(heading['new'])}`, over {_cell(heading['source'])}", ""]
    if extra is not None and extra["count"]:
        lines += [f"Not replayable: {extra['count']} decisions ("
                  + "; ".join(f"{_cell(w)}: {n}" for w, n in extra["why"].items()) + ")", ""]
    rows = []
    for name, entry in _merged(result):
        for t in entry.transitions:
            flag = " **wider**" if t.widens else ""
            rows.append(f"| {_cell(name)} | {t.old} {ARROW} {t.new}{flag} | {t.count} | {_cell(_stores(t.stores))} "
                        f"| {_cell(', '.join(t.examples))} |")
        if entry.undecided.count:
            u = entry.undecided
            rows.append(f"| {_cell(name)} | decided {ARROW} undecided | {u.count} | | {_cell(', '.join(u.examples))} |")
    if rows:
        lines += ["| Action | Change | Orders | Stores | Examples |", "| --- | --- | ---: | --- | --- |", *rows]
    else:
        lines.append("No order changes state.")
    unchanged = [name for name, a in _merged(result) if not a.transitions and not a.undecided.count]
    if unchanged and rows:
        lines += ["", f"Unchanged: {_cell(', '.join(unchanged))}"]
    return "\n".join(lines) + "\n"
