"""Helpers shared by the command modules: JSON input, diagnostics output, exit codes, usage errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..errors import Diagnostic

__all__ = ["EXIT_OK", "EXIT_FACTS", "EXIT_USAGE", "EXIT_LOAD", "EXIT_TESTS", "DEFAULT_PATH", "UsageError",
           "json_arg", "read_jsonl", "print_diagnostics", "add_path"]

EXIT_OK, EXIT_FACTS, EXIT_USAGE, EXIT_LOAD, EXIT_TESTS = 0, 1, 2, 3, 4
DEFAULT_PATH = "policies"


class UsageError(Exception):
    """Bad command-line input; exits 2."""


def add_path(parser: Any) -> None:
    """The optional PATH argument every command takes."""
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH, help="policy directory or file (default: policies)")


def add_order_and_user(parser: Any) -> None:
    """The one order and user a command decides (``--order``, ``--user``), and the store it decides them as."""
    parser.add_argument("--order", required=True, help="the order as JSON text or a JSON file")
    parser.add_argument("--user", required=True, help="the user as JSON text or a JSON file")
    parser.add_argument("--store", help="decide as this store (default: the order's store.id)")


def order_and_user(args: Any) -> tuple[Any, Any]:
    """The parsed ``--order`` and ``--user`` of :func:`add_order_and_user`."""
    return json_arg(args.order, "order"), json_arg(args.user, "user")


def json_arg(value: str, name: str) -> Any:
    """``--order``/``--user`` take JSON text, or the path of a JSON file."""
    text = value
    if not value.lstrip().startswith(("{", "[")):
        try:
            text = Path(value).read_text("utf-8")
        except OSError as err:
            raise UsageError(f"--{name}: not JSON and not a readable file: {value} ({err.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--{name}: invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None


def read_jsonl(path: str, name: str = "orders") -> list[tuple[int, Any]]:
    """A JSON Lines file: ``(line number, value)`` for each non-blank line."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as err:
        raise UsageError(f"--{name}: cannot read {path} ({err.strerror})") from None
    out = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise UsageError(f"--{name}: {path}:{number}: invalid JSON: {err.msg}") from None
    return out


def print_diagnostics(diagnostics: Sequence[Diagnostic], out: TextIO = sys.stderr) -> None:
    """Each diagnostic as ``file:line:col: message``, then its JSON path and hint, then a count."""
    for d in diagnostics:
        print(f"{d.file}:{d.line}:{d.column}: {d.message}", file=out)
        if d.path:
            print(f"    at {d.json_path}", file=out)
        if d.hint:
            print(f"    hint: {d.hint}", file=out)
    print(f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} found", file=out)
