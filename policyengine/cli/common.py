"""Helpers shared by the command modules: JSON input, diagnostics output, exit codes, usage errors."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

import attrs

from ..errors import Diagnostic, PolicyError, format_diagnostics
from ..pipeline.yamlsource import MAX_FILE_BYTES, NotReadable, read_regular_file

__all__ = ["EXIT_OK", "EXIT_FACTS", "EXIT_USAGE", "EXIT_LOAD", "EXIT_TESTS", "DEFAULT_PATH", "STDIN", "STDIN_NAME",
           "UsageError", "json_arg", "read_jsonl", "read_input", "parse_json", "write_output", "print_diagnostics",
           "add_path", "check_one_stdin", "policy_from_stdin", "warn_store_mismatch"]

EXIT_OK, EXIT_FACTS, EXIT_USAGE, EXIT_LOAD, EXIT_TESTS = 0, 1, 2, 3, 4
DEFAULT_PATH = "policies"
STDIN = "-"
"""The argument that means standard input, wherever a command reads a file (``--order -``, ``--orders -``, ...)."""
STDIN_NAME = "<stdin>"
"""How messages name standard input."""
STDIN_JSON = ("order", "user", "orders", "columns")
"""The JSON arguments (by ``dest``) that read standard input when given ``-``."""
STDIN_FILES = ("path", "old", "new", "suites", "invariants")
"""The policy, suite and invariants files (by ``dest``) that read standard input when given ``-``: one YAML file."""


class UsageError(Exception):
    """Bad command-line input; exits 2."""


def add_path(parser: Any) -> None:
    """The optional PATH argument every command takes."""
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH,
                        help="policy directory or file, or - to read one policy file from standard input (default: policies)")


STDIN_FILE = "stdin.yaml"
"""The name under which a YAML file read from standard input is loaded (in a private temporary directory)."""


def _stdin_dests(args: argparse.Namespace, dests: Sequence[str]) -> list[str]:
    """Which of ``dests`` are ``-`` in ``args`` (once per ``-``: an option given many times counts each)."""
    found = []
    for dest in dests:
        value = getattr(args, dest, None)
        found += [dest] * (value.count(STDIN) if isinstance(value, list) else value == STDIN)
    return found


@contextmanager
def policy_from_stdin(args: argparse.Namespace) -> Iterator[None]:
    """When a policy, suite or invariants file (:data:`STDIN_FILES`) is ``-``: the YAML file on standard input,
    loaded from a private temporary copy for the duration of the command (the argument names the copy); the
    diagnostics of a file that does not load, and what the command prints, name it ``<stdin>``."""
    dests = _stdin_dests(args, STDIN_FILES)
    if not dests:
        yield
        return
    (dest,) = dests  # check_one_stdin refused more
    text = read_input(STDIN, "PATH" if dest == "path" else f"--{dest}" if dest in ("suites", "invariants")
                      else dest.upper(), MAX_FILE_BYTES)
    with tempfile.TemporaryDirectory(prefix="policyengine-stdin-") as folder:
        copy = Path(folder) / STDIN_FILE
        copy.write_text(text, "utf-8")
        value = getattr(args, dest)
        setattr(args, dest, [str(copy) if v == STDIN else v for v in value] if isinstance(value, list) else str(copy))
        names = sorted({str(copy.resolve()), str(copy)}, key=len, reverse=True)
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (cast(TextIO, _Renamed(stream, names)) for stream in streams)
        try:
            yield
        except PolicyError as err:
            raise PolicyError([attrs.evolve(d, file=STDIN_NAME) if d.file in names else d
                               for d in err.diagnostics]) from None
        finally:
            sys.stdout, sys.stderr = streams


class _Renamed:
    """A text stream that writes the private copy of standard input's file (``names``) as ``<stdin>``: the
    commands print the paths they loaded (``test``'s suite headers, ``diff``'s OLD and NEW, source positions)."""

    def __init__(self, stream: TextIO, names: Sequence[str]) -> None:
        self._stream, self._names = stream, names

    def write(self, text: str) -> int:
        for name in self._names:
            text = text.replace(name, STDIN_NAME)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, isatty...: the stream's own
        return getattr(self._stream, name)


def add_order_and_user(parser: Any) -> None:
    """The one order and user a command decides (``--order``, ``--user``), and the store it decides them as."""
    parser.add_argument("--order", required=True, help="the order as JSON text, a JSON file, or - (standard input)")
    parser.add_argument("--user", required=True, help="the user as JSON text, a JSON file, or - (standard input)")
    parser.add_argument("--store", help="decide as this store (default: the order's store.id)")


def order_and_user(args: Any) -> tuple[Any, Any]:
    """The parsed ``--order`` and ``--user`` of :func:`add_order_and_user`."""
    return json_arg(args.order, "order"), json_arg(args.user, "user")


MAX_JSON_BYTES = 1024 * 1024
"""``--order``/``--user`` (text or file) larger than this are refused: an order is a few hundred bytes."""

MAX_JSONL_BYTES = 256 * 1024 * 1024
"""``--orders`` files larger than this are refused (about a million orders)."""


def check_one_stdin(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (a :class:`UsageError`) more than one argument of ``args`` reading standard input: it can be read once."""
    named = []
    for action in parser._actions:  # argparse has no public list of a parser's arguments; in their order of the usage
        if action.dest in STDIN_FILES or action.dest in STDIN_JSON:
            name = action.option_strings[0] if action.option_strings else str(action.metavar or action.dest.upper())
            named += [name] * len(_stdin_dests(args, (action.dest,)))
    if len(named) > 1:
        raise UsageError(f"only one argument can be - (standard input), not {' and '.join(named)}")


def _read_stdin(option: str, limit: int) -> bytes:
    """At most ``limit`` bytes of standard input (a :class:`UsageError` when there are more, or none to read)."""
    stream = sys.stdin
    if stream is None:  # a GUI process, or a daemon that closed it
        raise UsageError(f"{option}: there is no standard input to read")
    try:
        binary = getattr(stream, "buffer", None)
        raw = binary.read(limit + 1) if binary is not None else stream.read(limit + 1).encode("utf-8", "surrogateescape")
    except (OSError, ValueError) as err:  # closed, or not readable (a test harness's stand-in)
        raise UsageError(f"{option}: cannot read {STDIN_NAME} ({err})") from None
    if len(raw) > limit:
        raise UsageError(f"{option}: cannot read {STDIN_NAME} (too large: more than {limit} bytes)")
    return bytes(raw)


def read_input(path: str, option: str, limit: int, *, unreadable: str = "cannot read") -> str:
    """The UTF-8 text of the regular file ``path`` (standard input for ``-``) given to ``option``; anything else is a
    :class:`UsageError` (a FIFO or device is refused before a byte is read, and no more than ``limit`` bytes are ever
    read)."""
    if path == STDIN:
        raw, path = _read_stdin(option, limit), STDIN_NAME
    else:
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
    """``--order``/``--user`` take JSON text, the path of a JSON file, or ``-`` for standard input."""
    option = f"--{name}"
    if value == STDIN:
        return parse_json(read_input(STDIN, option, MAX_JSON_BYTES), f"{option}: {STDIN_NAME}")
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
    """A JSON Lines file (standard input for ``-``): ``(line number, value)`` for each non-blank line."""
    option = f"--{name}"
    shown = STDIN_NAME if path == STDIN else path
    out = []
    for number, line in enumerate(read_input(path, option, MAX_JSONL_BYTES).split("\n"), 1):
        if line.strip():
            out.append((number, parse_json(line, f"{option}: {shown}:{number}", position=False)))
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
    print(format_diagnostics(diagnostics), file=out)


def warn_store_mismatch(command: str, engine: Any, store: str | None, orders: Sequence[Any], user: Any,
                        names: Sequence[str] = ()) -> None:
    """``--store`` that differs from the ``store.id`` of an order that has one: the engine fails that order closed
    (every action hidden, reason ``store-mismatch``); say so on standard error (the exit code stays). ``names``
    names the orders (bulk's ids or lines); without it the order is "the order"."""
    if store is None:
        return
    from ..runtime.adapters import DefaultAdapter  # the CLI reads orders with the default adapter

    fact = next((f for f in engine.policy.facts if f.name == "store.id"), None)
    if fact is None:
        return
    read = DefaultAdapter().getter(fact)
    differ = []
    for index, order in enumerate(orders):
        try:
            own = read(order, user)
        except Exception:  # no store.id to disagree with (or one the decision reports as a bad fact)
            continue
        if isinstance(own, str) and own != store:
            differ.append((names[index] if index < len(names) else "the order", own))
    if not differ:
        return
    if len(orders) == 1 and not names:
        print(f"policyengine {command}: --store {store} is not the order's store.id "
              f"{json.dumps(differ[0][1], default=str)}: every action fails closed (store-mismatch)", file=sys.stderr)
        return
    shown = ", ".join(f"{name} ({json.dumps(own, default=str)})" for name, own in differ[:5])
    more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
    print(f"policyengine {command}: --store {store} is not the store.id of {len(differ)} "
          f"order{'s' if len(differ) != 1 else ''}: {shown}{more}; they fail closed (store-mismatch)", file=sys.stderr)
