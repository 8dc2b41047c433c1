"""The ``policyengine`` command line. Presentation only: commands call the public API and format what comes back.

Each command is a module of this package exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; modules are discovered, so adding a command is adding a file. Exit codes (fixed by the
design): 0 success, 1 a bad fact with ``--strict`` (or a check that found problems), 2 bad usage (including
unreadable input), 3 the policies do not load, 4 policy tests failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import PolicyError
from .common import EXIT_FACTS, EXIT_LOAD, EXIT_OK, EXIT_TESTS, EXIT_USAGE, UsageError, print_diagnostics

__all__ = ["main", "EXIT_OK", "EXIT_FACTS", "EXIT_USAGE", "EXIT_LOAD", "EXIT_TESTS"]


def _commands() -> dict[str, ModuleType]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            found[getattr(module, "NAME", info.name)] = module
    return found


def _parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policyengine", description="Load, check, test and evaluate action policies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in commands.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    commands = _commands()
    args = _parser(commands).parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # text we did not write (an order id, a path) may not encode: escape it
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        return int(commands[args.command].run(args))
    except KeyboardInterrupt:
        return 130  # interrupted: the shell's convention, and no traceback
    except UsageError as err:
        print(f"policyengine {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `policyengine matrix | head`: the reader left; that is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush is quiet too
        return EXIT_OK
    except PolicyError as err:
        if getattr(args, "format", None) == "json":
            print(json.dumps({"ok": False, "diagnostics": [d.to_dict() for d in err.diagnostics]}, indent=2))
        print_diagnostics(err.diagnostics, sys.stderr)
        return EXIT_LOAD
