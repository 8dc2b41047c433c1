"""The ``policyengine`` command line. Presentation only: commands call the public API and format what comes back.

Each command is a module of this package exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, listed in :data:`COMMANDS` with the same one-line help. Only the chosen command's module is
imported (``policyengine --help`` lists every command from the table alone), so that a quick command such as
``validate`` does not pay for the imports of the heavy ones (the SMT solver, SQLAlchemy, the HTTP service). Exit
codes (fixed by the design): 0 success, 1 a bad fact with ``--strict`` (or a check that found problems), 2 bad usage
(including unreadable input), 3 the policies do not load, 4 policy tests failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ..errors import PolicyError
from .common import (
    EXIT_FACTS,
    EXIT_LOAD,
    EXIT_OK,
    EXIT_TESTS,
    EXIT_USAGE,
    UsageError,
    check_one_stdin,
    policy_from_stdin,
    print_diagnostics,
)

__all__ = ["main", "COMMANDS", "EXIT_OK", "EXIT_FACTS", "EXIT_USAGE", "EXIT_LOAD", "EXIT_TESTS"]

PROG = "policyengine"

COMMANDS: dict[str, str] = {
    "bundle": "build, sign and verify signed policy bundles for serve --bundle (needs policyengine[serve])",
    "bulk": "one action over many orders: which it applies to, and why not for the rest",
    "diff": "list every decision that changes between two versions of the policies",
    "evaluate": "decide every action for one order and user",
    "explain": "show why each action is enabled, disabled or hidden for one order and user",
    "impact": "how many real orders a policy change moves, counted by the database or replayed from a decision log",
    "lint": "find conditions that are always true/false, guards that never fire, unused declarations... (warnings)",
    "matrix": "print the decision table of every combination of the finite facts",
    "plan": "which orders an action applies to: the policy as a condition over order facts, or a SQL WHERE clause",
    "schema": "write the JSON Schemas of the policy files into a directory, for editors and other tools",
    "serve": "serve decisions over HTTP (needs policyengine[serve])",
    "studio": "edit, try, test and review policies in the browser (needs policyengine[studio])",
    "test": "run the YAML test suites (kind: PolicyTestSuite) of a policy directory",
    "validate": "check that the policies load, and that their test suites and invariants are valid; print every problem",
    "verify": "prove the invariants (PolicyInvariants files) over every possible order, for every store",
}
"""Command name -> its one-line help. The command ``NAME`` is the module ``policyengine.cli.NAME``, imported only
when that command runs (a test checks that this table and the modules agree)."""


def command_module(name: str) -> ModuleType:
    """The module of the command ``name`` (one of :data:`COMMANDS`)."""
    return importlib.import_module(f"{__name__}.{name}")


def version() -> str:
    """This installation's version, from the package metadata (the source tree's own when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("policyengine")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from .. import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (the metadata lookup costs an import)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{PROG} {version()}")
        parser.exit()


def _chosen(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (the top level has no option that takes a
    value, so nothing else can come first)."""
    words = iter(argv)
    for word in words:
        if word == "--":  # everything after it is positional: the next word is the command
            word = next(words, "")
        elif word.startswith("-"):
            continue
        return word if word in COMMANDS else None
    return None


def _parser(chosen: str | None) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser | None]:
    """The whole parser, with the arguments of the ``chosen`` command only (the others are listed by their help,
    which is all ``policyengine --help`` shows of them); and the chosen command's own parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Load, check, test and evaluate action policies.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen_parser = None
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command_module(name).add_arguments(command)
            chosen_parser = command
    return parser, chosen_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, command_parser = _parser(_chosen(argv))
    args = parser.parse_args(argv)
    if command_parser is None:  # argparse found the command where _chosen did not look: parse again, knowing it
        parser, command_parser = _parser(args.command)
        args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # text we did not write (an order id, a path) may not encode: escape it
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        assert command_parser is not None  # _parser(args.command) built it
        check_one_stdin(command_parser, args)
        with policy_from_stdin(args):
            return int(command_module(args.command).run(args))
    except KeyboardInterrupt:
        return 130  # interrupted: the shell's convention, and no traceback
    except UsageError as err:
        print(f"{PROG} {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `policyengine matrix | head`: the reader left; that is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush is quiet too
        return EXIT_OK
    except PolicyError as err:
        if getattr(args, "format", None) == "json":
            print(json.dumps({"ok": False, "diagnostics": [d.to_dict() for d in err.diagnostics]}, indent=2))
        print_diagnostics(err.diagnostics, sys.stderr)
        return EXIT_LOAD
