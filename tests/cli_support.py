"""Helpers shared by the toolkit's CLI tests: plain-text and HTML single-file snapshots, and running the CLI."""

from __future__ import annotations

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
