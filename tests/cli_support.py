"""Helpers shared by the CLI tests: plain-text and HTML single-file snapshots, running the CLI, and diagnostics as
rows and as the CLI prints them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from policyengine.cli import main


class TextSnapshot(SingleFileSnapshotExtension):
    """One readable .txt file per snapshot (a table or report, diffable as it is)."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


class HtmlSnapshot(TextSnapshot):
    file_extension = "html"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``policyengine ARGV...``; return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


Row = tuple[str, int, int, str, str | None]
"""A diagnostic as ``(file, line, column, message, hint)``."""


def rows(diagnostics: Iterable[Any]) -> list[Row]:
    return [(d.file, d.line, d.column, d.message, d.hint) for d in diagnostics]


def cli_blocks(stderr: str) -> list[tuple[str, str | None]]:
    """The CLI's stderr as (``file:line:col: message``, hint) pairs; ``at $.path`` lines are skipped."""
    blocks: list[list[Any]] = []
    for line in stderr.splitlines():
        if line.startswith("    hint: ") and blocks:
            blocks[-1][1] = line[len("    hint: "):]
        elif not line.startswith("    at $"):
            blocks.append([line, None])
    return [(text, hint) for text, hint in blocks]


def printed(expected: list[Row]) -> list[tuple[str, str | None]]:
    """What :func:`cli_blocks` finds in the stderr of ``policyengine validate`` refusing with ``expected``."""
    count = len(expected)
    return [*((f"{file}:{line}:{column}: {message}", hint) for file, line, column, message, hint in expected),
            (f"{count} problem{'s' if count != 1 else ''} found", None)]


def refused(path: str, capsys: pytest.CaptureFixture[str]) -> list[Row]:
    """The diagnostics of loading ``path``; ``policyengine validate`` must print the same and exit 3."""
    import policyengine  # here: the CLI tests import this module before the package is needed

    with pytest.raises(policyengine.PolicyError) as info:
        policyengine.load(path)
    found = rows(info.value.diagnostics)
    assert main(["validate", path]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert cli_blocks(err) == printed(found)
    return found
