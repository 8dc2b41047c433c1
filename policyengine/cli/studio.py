"""``policyengine studio [DIR]``: the policy studio, a local web app to edit, try, test and review a policy change
(Starlette on uvicorn, the ``studio`` extra). It prints its address and serves until interrupted.

It listens on 127.0.0.1 unless ``--host`` says otherwise; any other address needs a token (``--token-file``, or one
made up and printed in the address). ``--db URL`` (with ``--table``, ``--id-column``, ``--column``, ``--user``)
turns on the Impact panel: the change's effect on the orders of that table. See ``docs/studio.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .common import EXIT_OK, UsageError
from .serve import _bind, _loopback, _token

HELP = "edit, try, test and review policies in the browser (needs policyengine[studio])"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default="policies", metavar="DIR",
                        help="the policy directory to edit (default: policies)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only; "
                                                              "any other needs a token)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default: 8765; 0 picks a free one)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a host name browsers reach the studio by, besides the address it listens on (needed "
                             "with a wildcard address such as 0.0.0.0); repeatable")
    parser.add_argument("--token-file", metavar="F", help="require the token in F (made up when another address than "
                                                          "loopback is given without one)")
    parser.add_argument("--db", metavar="URL", help="a SQLAlchemy database URL: show the change's impact on its orders")
    parser.add_argument("--table", default="orders", help="with --db: the orders table (default: orders)")
    parser.add_argument("--id-column", default="id", help="with --db: the column of the order id (default: id)")
    parser.add_argument("--column", action="append", default=[], metavar="FACT=COLUMN",
                        help="with --db: the column holding a fact (default: order.status -> status, store.id -> "
                             "store_id); repeatable")
    parser.add_argument("--user", action="append", default=[], metavar="PROFILE=JSON",
                        help='with --db: a user profile to decide for, e.g. admin=\'{"role": "admin"}\'; repeatable')


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{option}: expected NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def _column_of(fact: str) -> str:
    """A fact's default column: ``order.status`` -> ``status``, ``store.id`` -> ``store_id``."""
    root, _, rest = fact.partition(".")
    return rest.replace(".", "_") if root == "order" else fact.replace(".", "_")


def _impact_function() -> Any:
    """``policyengine.sql.impact``, imported when first asked for; ImportError when this installation lacks it."""
    try:
        found: Any = importlib.import_module("policyengine.sql.impact")
    except ImportError:
        found = getattr(importlib.import_module("policyengine.sql"), "impact", None)
    function = getattr(found, "impact", found)  # the module holds the function of the same name
    if not callable(function):
        raise ImportError("policyengine.sql.impact is not in this installation")
    return function


def _impact(args: argparse.Namespace) -> Any:
    """The Impact panel's source over ``--db`` (None without it). ``policyengine.sql.impact`` is imported when the
    panel first asks, so the studio starts without it."""
    if args.db is None:
        return None
    try:
        import sqlalchemy as sa
    except ImportError as err:
        raise UsageError(f"--db needs the sql extra: pip install 'policyengine[sql]' ({err})") from None
    from ..studio.app import Impact

    users: dict[str, Any] = {}
    for name, raw in _pairs(args.user, "--user").items():
        try:
            users[name] = json.loads(raw)
        except ValueError:
            raise UsageError(f"--user {name}: not JSON: {raw!r}") from None
    chosen = _pairs(args.column, "--column")
    db = sa.create_engine(args.db)
    table = sa.Table(args.table, sa.MetaData(), autoload_with=db)

    def columns(engine: Any) -> dict[str, Any]:
        out = {}
        for fact in engine.declared_facts():
            name = chosen.get(fact, _column_of(fact))
            if name in table.c:
                out[fact] = table.c[name]
        return out

    def run(old: Any, new: Any) -> Mapping[str, Any]:
        impact = _impact_function()
        with db.connect() as connection:
            result = impact(connection, old, new, table, columns(new), table.c[args.id_column],
                            users=users or {"anyone": {}})
        data: Mapping[str, Any] = result.to_dict()
        return data

    def example(order_id: str, facts: Sequence[str]) -> Mapping[str, Any]:
        with db.connect() as connection:
            row = connection.execute(sa.select(table).where(sa.cast(table.c[args.id_column], sa.String) == order_id)
                                     ).mappings().first()
        if row is None:
            raise LookupError(f"no order {order_id!r} in {args.table}")
        values = {fact: row[column] for fact in facts if (column := chosen.get(fact, _column_of(fact))) in row}
        store = values.pop("store.id", None)
        return {"facts": values, "store": store}

    return Impact(run, db.url.render_as_string(hide_password=True), example)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..studio.app import create_app
    except ImportError as err:
        raise UsageError(f"needs the studio extra: pip install 'policyengine[studio]' ({err})") from None
    if not Path(args.path).is_dir():
        raise UsageError(f"{args.path}: not a policy directory")
    token = _token(args.token_file)
    loopback = _loopback(args.host)
    if args.host in ("0.0.0.0", "::", "") and not args.allow_host:
        raise UsageError(f"--host {args.host or repr('')} listens on every address: name the host names browsers use "
                         "to reach it with --allow-host (any other is refused, against DNS rebinding)")
    if not loopback and token is None:
        token = secrets.token_urlsafe(24)
    impact = _impact(args)
    sock = _bind(args.host, args.port)
    try:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{port}/" + (f"#token={token}" if token else "")
        hosts = frozenset({args.host, host, *args.allow_host} | ({"127.0.0.1", "localhost", "::1"} if loopback else set()))
        app = create_app(args.path, token=token, hosts=hosts, impact=impact)
        print(f"policyengine studio: open {address} (policies: {args.path}; Ctrl-C stops it)", flush=True)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("policyengine studio: stopped", file=sys.stderr)
    return EXIT_OK
