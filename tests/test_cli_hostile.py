"""Every CLI command, for every argument, answers with its documented exit code and a one-line message (issue 11):
bad JSON of every kind, special files, unwritable targets, a non-string ``kind``, output that cannot be encoded.

Everything runs in-process through :func:`run_cli`; the special files (a FIFO, ``/dev/zero``) under a deadline
(``SIGALRM``), so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from conftest import POLICIES

USER = '{"role": "admin"}'
ORDER = ('{"id": "o1", "status": "Error", "has_shipment": false, "sent_to_warehouse": false, '
         '"store": {"id": "x", "manual_fulfillment": true}}')


@pytest.fixture()
def bad(tmp_path: Path) -> dict[str, Path]:
    """One file of each kind of bad JSON input, and a FIFO."""
    files = {
        "not utf-8": b'{"role": "\xff\xfe"}',
        "deep": b"[" * 50_000 + b"]" * 50_000,
        "huge int": b'{"role": ' + b"9" * 5_000 + b"}",
        "broken": b"{oops}",
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / f"{name.replace(' ', '-')}.json"
        out[name].write_bytes(data)
    out["fifo"] = tmp_path / "fifo.json"
    os.mkfifo(out["fifo"])
    return out


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


JSON_PROBLEMS = {
    "not utf-8": "not UTF-8 text (byte 10, line 1)",
    "deep": "invalid JSON: nested too deeply",
    "huge int": "invalid JSON: a number with more than 4300 digits",
    "broken": "invalid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
}


@pytest.mark.parametrize("kind", sorted(JSON_PROBLEMS))
@pytest.mark.parametrize("option", ["--order", "--user"])
@pytest.mark.parametrize("command", ["evaluate", "explain"])
def test_bad_json_files_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], bad: dict[str, Path], kind: str,
                                             option: str, command: str) -> None:
    args = {"--order": ORDER, "--user": USER, option: str(bad[kind])}
    code, out, err = run_cli(capsys, command, str(POLICIES), "--order", args["--order"], "--user", args["--user"])
    assert (code, out) == (2, "")
    line = one_line(err)
    assert line.startswith(f"policyengine {command}: {option}: ")
    assert line.endswith(JSON_PROBLEMS[kind])


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, '{"role": ' + "9" * 5_000 + "}", '{"role": "\udcff"}'])
def test_bad_json_text_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], text: str) -> None:
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", ORDER, "--user", text)
    assert (code, out) == (2, "")
    assert one_line(err).startswith("policyengine evaluate: --user: ")


@pytest.mark.parametrize("kind", sorted(JSON_PROBLEMS))
def test_bad_orders_files_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], bad: dict[str, Path],
                                               kind: str) -> None:
    code, out, err = run_cli(capsys, "bulk", str(POLICIES), "--action", "reset", "--orders", str(bad[kind]),
                             "--user", USER)
    assert (code, out) == (2, "")
    line = one_line(err)
    assert line.startswith("policyengine bulk: --orders: ")
    assert line.endswith(JSON_PROBLEMS[kind].split(" at line")[0])


def test_a_directory_or_a_missing_file_as_json_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for target, why in ((tmp_path, "Is a directory"), (tmp_path / "nope.json", "No such file or directory")):
        code, _, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", str(target), "--user", USER)
        assert code == 2
        assert one_line(err) == f"policyengine evaluate: --order: not JSON and not a readable file: {target} ({why})"


def test_a_lone_surrogate_in_an_order_id_is_printed_escaped(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    orders = tmp_path / "orders.jsonl"
    orders.write_text(ORDER.replace('"o1"', '"o\\ud800"') + "\n", "utf-8")
    code, out, err = run_cli(capsys, "bulk", str(POLICIES), "--action", "reset", "--orders", str(orders),
                             "--user", USER)
    assert (code, err) == (0, "")
    assert "  applies to (1): o\\ud800\n" in out
    code, out, _ = run_cli(capsys, "bulk", str(POLICIES), "--action", "reset", "--orders", str(orders),
                           "--user", USER, "--format", "json")
    assert code == 0 and json.loads(out)["applicable"]["order_ids"] == ["o\ud800"]


@pytest.mark.parametrize("target", ["missing-dir/results.xml", "."])
def test_junit_into_a_missing_directory_or_onto_a_directory_exits_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    code, _, err = run_cli(capsys, "test", str(POLICIES), "--junit", str(path))
    assert code == 2
    why = "No such file or directory" if "missing" in target else "Is a directory"
    assert err.splitlines()[-1] == f"policyengine test: --junit: cannot write {path} ({why})"
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["matrix", "diff"])
def test_output_onto_a_directory_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    argv = [command, str(POLICIES)] + ([str(POLICIES)] if command == "diff" else []) + ["-o", str(tmp_path)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert one_line(err) == f"policyengine {command}: --output: cannot write {tmp_path} (Is a directory)"


def test_a_non_string_kind_is_a_diagnostic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: policyengine/v1\nkind: [x]\n", "utf-8")
    for argv in (["validate", str(policy)], ["test", str(POLICIES), "--suites", str(policy)],
                 ["verify", str(POLICIES), "--invariants", str(policy)]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 3, argv
        assert err.splitlines()[0] == f"{policy}:2:7: kind must be a string, got a list"


def test_a_huge_integer_in_a_policy_is_a_diagnostic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\nversion: " + "9" * 5000 + "\n", "utf-8")
    code, _, err = run_cli(capsys, "validate", str(policy))
    assert code == 3
    assert err.splitlines()[0] == f"{policy}:3:10: number too large (5000 characters)"


def test_diff_with_a_missing_path_exits_3_like_every_command(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    for argv in (["validate", missing], ["diff", missing, str(POLICIES)], ["diff", str(POLICIES), missing]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 3, argv
        assert "Traceback" not in err and f"{missing}:1:1: no such file or directory" in err


# -- special files: refused before a byte is read (under a deadline, so a regression cannot hang the suite) ---------


class Hung(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def expire(*_: Any) -> None:
        raise Hung(f"still running after {seconds} s: a blocking open or an endless read")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


SPECIAL = "not a regular file (a FIFO, device or socket)"


def test_special_files_are_refused_for_every_file_argument(capsys: pytest.CaptureFixture[str],
                                                          bad: dict[str, Path]) -> None:
    for special in (str(bad["fifo"]), "/dev/zero"):
        cases = [
            (["validate", special], 3, f"{special}:1:1: cannot read file: {SPECIAL}"),
            (["test", str(POLICIES), "--suites", special], 3, f"{special}:1:1: cannot read file: {SPECIAL}"),
            (["verify", str(POLICIES), "--invariants", special], 3, f"{special}:1:1: cannot read file: {SPECIAL}"),
            (["evaluate", str(POLICIES), "--order", special, "--user", USER], 2,
             f"policyengine evaluate: --order: not JSON and not a readable file: {special} ({SPECIAL})"),
            (["explain", str(POLICIES), "--order", ORDER, "--user", special], 2,
             f"policyengine explain: --user: not JSON and not a readable file: {special} ({SPECIAL})"),
            (["bulk", str(POLICIES), "--action", "reset", "--orders", special, "--user", USER], 2,
             f"policyengine bulk: --orders: cannot read {special} ({SPECIAL})"),
        ]
        for argv, code, first in cases:
            with deadline(30):
                returned, _, err = run_cli(capsys, *argv)
            assert (returned, err.splitlines()[0]) == (code, first), argv
            assert "Traceback" not in err


def test_a_fifo_nobody_reads_is_refused_as_an_output(capsys: pytest.CaptureFixture[str], bad: dict[str, Path]) -> None:
    with deadline(30):
        code, _, err = run_cli(capsys, "test", str(POLICIES), "--junit", str(bad["fifo"]))
    assert code == 2
    assert err.splitlines()[-1] == f"policyengine test: --junit: cannot write {bad['fifo']} (a FIFO with no reader)"


LONG = "a" * 5000  # a name the OS refuses to look up (ENAMETOOLONG)


@pytest.mark.parametrize(("argv", "code", "ends"), [
    (["validate", LONG], 3, f"{LONG}:1:1: File name too long"),
    (["lint", LONG], 3, f"{LONG}:1:1: File name too long"),
    (["test", str(POLICIES), "--suites", LONG], 3, f"{LONG}:1:1: File name too long"),
    (["verify", str(POLICIES), "--invariants", LONG], 3, f"{LONG}:1:1: cannot read file: File name too long"),
    (["diff", LONG, str(POLICIES)], 3, f"{LONG}:1:1: no such file or directory (nor a git revision)"),
    (["bulk", str(POLICIES), "--action", "reset", "--orders", LONG, "--user", USER], 2,
     f"policyengine bulk: --orders: cannot read {LONG} (File name too long)"),
], ids=["validate", "lint", "suites", "invariants", "diff", "orders"])
def test_a_name_too_long_to_look_up_is_answered(capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                                                ends: str) -> None:
    returned, _, err = run_cli(capsys, *argv)
    assert returned == code
    assert "Traceback" not in err
    assert ends in err.splitlines()


def test_load_names_a_path_it_cannot_look_up() -> None:
    import policyengine

    for path, why in ((LONG, "File name too long"), ("a\x00b", "embedded null byte")):
        with pytest.raises(policyengine.PolicyError) as raised:
            policyengine.load(path)
        assert [d.message for d in raised.value.diagnostics] == [why]
