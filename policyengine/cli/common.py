"""Helpers shared by the command modules: JSON input, diagnostics output, exit codes, usage errors."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO, TextIO

from ..errors import Diagnostic
from ..pipeline.yamlsource import NotReadable, read_regular_file

__all__ = ["EXIT_OK", "EXIT_FACTS", "EXIT_USAGE", "EXIT_LOAD", "EXIT_TESTS", "DEFAULT_PATH", "UsageError",
           "json_arg", "read_jsonl", "read_input", "parse_json", "write_output", "print_diagnostics",
           "add_path"]

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


MAX_JSON_BYTES = 1024 * 1024
"""``--order``/``--user`` (text or file) larger than this are refused: an order is a few hundred bytes."""

MAX_JSONL_BYTES = 256 * 1024 * 1024
"""``--orders`` files larger than this are refused (about a million orders)."""


def read_input(path: str, option: str, limit: int, *, unreadable: str = "cannot read") -> str:
    """The UTF-8 text of the regular file ``path`` given to ``option``; anything else is a :class:`UsageError`
    (a FIFO or device is refused before a byte is read, and no more than ``limit`` bytes are ever read)."""
    try:
        raw = read_regular_file(path, limit)
    except NotReadable as err:
        raise UsageError(f"{option}: {unreadable} {path} ({'too large: ' if err.too_large else ''}{err.reason})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise UsageError(f"{option}: {path}: not UTF-8 text (byte {err.start}, line {line})") from None


def parse_json(text: str, what: str, *, position: bool = True) -> Any:
    """``json.loads`` with every failure a one-line :class:`UsageError` starting with ``what``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f" at line {err.lineno} column {err.colno}" if position else ""
        raise UsageError(f"{what}: invalid JSON: {err.msg}{where}") from None
    except RecursionError:
        raise UsageError(f"{what}: invalid JSON: nested too deeply") from None
    except ValueError:  # only an integer past Python's int/str conversion limit gets here
        limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
        raise UsageError(f"{what}: invalid JSON: a number with more than {limit} digits") from None


def json_arg(value: str, name: str) -> Any:
    """``--order``/``--user`` take JSON text, or the path of a JSON file."""
    option = f"--{name}"
    if not value.lstrip().startswith(("{", "[")):
        return parse_json(read_input(value, option, MAX_JSON_BYTES, unreadable="not JSON and not a readable file:"),
                          option)
    try:  # text from the command line: undecodable bytes arrive as lone surrogates
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise UsageError(f"{option}: not UTF-8 text (character {err.start})") from None
    if size > MAX_JSON_BYTES:
        raise UsageError(f"{option}: too large ({size} bytes; the limit is {MAX_JSON_BYTES})")
    return parse_json(value, option)


def read_jsonl(path: str, name: str = "orders") -> list[tuple[int, Any]]:
    """A JSON Lines file: ``(line number, value)`` for each non-blank line."""
    option = f"--{name}"
    out = []
    for number, line in enumerate(read_input(path, option, MAX_JSONL_BYTES).split("\n"), 1):
        if line.strip():
            out.append((number, parse_json(line, f"{option}: {path}:{number}", position=False)))
    return out


def open_output(path: str, option: str) -> BinaryIO:
    """``path`` opened for writing (created or truncated), for ``option``; a :class:`UsageError` when it cannot be:
    a missing directory, a directory, no permission, or a FIFO nobody reads (refused at once, never waited on)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as err:
        reason = "a FIFO with no reader" if err.errno == errno.ENXIO else err.strerror or str(err)
        raise UsageError(f"{option}: cannot write {path} ({reason})") from None
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)  # opened without blocking only so that a reader-less FIFO fails instead of hangs
    return os.fdopen(fd, "wb")


def write_output(path: str, data: bytes, option: str) -> None:
    """Write ``data`` to ``path`` (see :func:`open_output`); every failure is a one-line :class:`UsageError`."""
    with open_output(path, option) as out:
        try:
            out.write(data)
            out.flush()
        except OSError as err:
            raise UsageError(f"{option}: cannot write {path} ({err.strerror or err})") from None


def print_diagnostics(diagnostics: Sequence[Diagnostic], out: TextIO = sys.stderr) -> None:
    """Each diagnostic as ``file:line:col: message``, then its JSON path and hint, then a count."""
    for d in diagnostics:
        print(f"{d.file}:{d.line}:{d.column}: {d.message}", file=out)
        if d.path:
            print(f"    at {d.json_path}", file=out)
        if d.hint:
            print(f"    hint: {d.hint}", file=out)
    print(f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} found", file=out)
