"""Golden diagnostics: every kind of bad policy input, and the exact diagnostic it must produce.

Cerbos-style, data-driven: each case is a small bad policy file ``tests/golden/bad/<case>.yaml`` (otherwise valid,
so only the intended problem shows) plus an entry in ``tests/golden/bad/expected.yaml`` listing the diagnostics it
must produce, in order: ``{line, column, message, hint?, file?}`` (``file`` defaults to the path loaded). Adding a
case is adding a file and an entry. Inputs that cannot live in the repository as a file (binary junk, invalid
UTF-8, a >1 MiB file, an alias bomb, directories) are built in ``tmp_path`` by the generators below, registered
under their case name, and expected in the same ``expected.yaml``.

Every case runs through the Python API (``policyengine.load`` raising ``PolicyError``) and through the CLI
(``policyengine validate`` exits 3 and prints ``file:line:col: message`` to stderr), the exact list each time:
file, line, column, message and hint, complete (no extra diagnostic) and sorted.

A case listed in ``KNOWN_DEFECTS`` holds the diagnostic the engine SHOULD produce and is a strict xfail until the
engine is fixed; fixing it turns the xfail into an XPASS failure, and the entry is then deleted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import Row, cli_blocks, printed, rows

import policyengine
from policyengine import Diagnostic, PolicyError
from policyengine.cli import EXIT_LOAD, main

GOLDEN = Path(__file__).parent / "golden" / "bad"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load((GOLDEN / "expected.yaml").read_text("utf-8"))
FIELDS = {"file", "line", "column", "message", "hint"}

# Cases whose current diagnostic is wrong or poor. The golden holds what it should be; see each reason.
KNOWN_DEFECTS: dict[str, str] = {}

# -- generated cases ------------------------------------------------------------------------------------------

VALID = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: golden
version: 1
facts:
  order.status:
    type: enum
    values: [New, Open, Error, Shipped, Archived]
  order.has_shipment:
    type: bool
actions:
  reset:
    label: Reset
    allow: order.status == 'Error'
"""

Generator = Callable[[Path], str]
GENERATED: dict[str, Generator] = {}


def generated(name: str) -> Callable[[Generator], Generator]:
    """Register a generator: it writes the case under ``tmp`` (the cwd) and returns the path to load."""

    def register(fn: Generator) -> Generator:
        GENERATED[name] = fn
        return fn

    return register


@generated("alias-bomb")
def _alias_bomb(tmp: Path) -> str:
    # "Billion laughs": nine levels of nine aliases each. Must be refused at the first anchor, before any expansion.
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    (tmp / "bomb.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return "bomb.yaml"


@generated("binary-nul-bytes")
def _binary_nul(tmp: Path) -> str:
    (tmp / "junk.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00" + bytes(range(1, 32)) * 4)
    return "junk.yaml"


@generated("binary-not-utf8")
def _binary_png(tmp: Path) -> str:
    (tmp / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    return "image.yaml"


@generated("non-utf8")
def _latin1(tmp: Path) -> str:
    # A text file saved as Latin-1: the "é" of line 13 is byte 0xe9.
    text = VALID.replace("label: Reset", "label: R\u00e9initialiser")
    (tmp / "latin1.yaml").write_bytes(text.encode("latin-1"))
    return "latin1.yaml"


@generated("control-character")
def _control(tmp: Path) -> str:
    (tmp / "bell.yaml").write_text(VALID.replace("label: Reset", "label: Re\x07set"), encoding="utf-8")
    return "bell.yaml"


@generated("too-large")
def _too_large(tmp: Path) -> str:
    # A valid policy padded with comments to one byte over the limit (1 MiB).
    limit = 1024 * 1024
    padding = "# padding\n" * ((limit + 1 - len(VALID)) // 10 + 1)
    data = (VALID + padding).encode("utf-8")[: limit + 1]
    assert len(data) == limit + 1
    (tmp / "huge.yaml").write_bytes(data)
    return "huge.yaml"


@generated("deep-nesting-beyond-limit")
def _deep_beyond(tmp: Path) -> str:
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("the golden message is libyaml's nesting limit")
    (tmp / "deep.yaml").write_text(VALID + "description: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    return "deep.yaml"


@generated("deep-nesting-within-limit")
def _deep_within(tmp: Path) -> str:
    # 600 nested flow mappings: valid YAML (libyaml allows 1000 levels), so the only problem is the unknown key.
    (tmp / "deep.yaml").write_text(VALID + "descripton: " + "{a: " * 600 + "1" + "}" * 600 + "\n", encoding="utf-8")
    return "deep.yaml"


@generated("two-bad-files-in-directory")
def _two_bad(tmp: Path) -> str:
    (tmp / "policies").mkdir()
    (tmp / "policies" / "a.yaml").write_bytes((GOLDEN / "duplicate-key.yaml").read_bytes())
    (tmp / "policies" / "b.yml").write_bytes((GOLDEN / "unknown-kind.yaml").read_bytes())
    return "policies"


@generated("two-policies-with-compile-errors")
def _two_policies(tmp: Path) -> str:
    (tmp / "policies").mkdir()
    (tmp / "policies" / "a.yaml").write_bytes((GOLDEN / "unknown-fact.yaml").read_bytes())
    (tmp / "policies" / "b.yaml").write_bytes((GOLDEN / "enum-undeclared-value.yaml").read_bytes())
    return "policies"


@generated("override-undeclared-enum-value")
def _override_value(tmp: Path) -> str:
    # A store override uses a role the base does not declare: an override cannot add values; the base must.
    (tmp / "policies" / "stores").mkdir(parents=True)
    base = VALID.replace("actions:\n", "  store.id: {type: string}\n  user.role: {type: enum, values: [admin, member]}\nactions:\n")
    (tmp / "policies" / "golden.yaml").write_text(base, encoding="utf-8")
    (tmp / "policies" / "stores" / "acme.yaml").write_text(
        "apiVersion: policyengine/v1\nkind: StoreOverride\nstore: acme\nversion: 1\nbase: {policy: golden, version: 1}\n"
        "actions:\n  reset:\n    allow: \"user.role in ['admin', 'agent', 'membr']\"\n", encoding="utf-8")
    return "policies"


@generated("directory-without-yaml")
def _no_yaml(tmp: Path) -> str:
    (tmp / "policies").mkdir()
    (tmp / "policies" / "README.md").write_text("Policies go here.\n", encoding="utf-8")
    return "policies"


@generated("nonexistent-path")
def _missing(tmp: Path) -> str:
    return "missing.yaml"


# -- harness --------------------------------------------------------------------------------------------------

def _case_params() -> list[Any]:
    return [pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[case]))
            if case in KNOWN_DEFECTS else case for case in EXPECTED]


def _prepare(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the case's input and chdir next to it; return the path to load (as diagnostics name it)."""
    if case in GENERATED:
        monkeypatch.chdir(tmp_path)
        return GENERATED[case](tmp_path)
    monkeypatch.chdir(GOLDEN)
    return f"{case}.yaml"




def _expected(case: str, target: str) -> list[Row]:
    return [(e.get("file", target), e["line"], e["column"], e["message"], e.get("hint")) for e in EXPECTED[case]]


def _sorted(rows: list[Row]) -> bool:
    keys = [(file, line, column) for file, line, column, _, _ in rows]
    return keys == sorted(keys)


@pytest.mark.parametrize("case", _case_params())
def test_api(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    with pytest.raises(PolicyError) as info:
        policyengine.load(target)
    diagnostics = info.value.diagnostics
    assert all(type(d) is Diagnostic for d in diagnostics)
    got = rows(diagnostics)
    assert got == _expected(case, target)
    assert _sorted(got)


@pytest.mark.parametrize("case", _case_params())
def test_cli(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    code = main(["validate", target])
    out, err = capsys.readouterr()
    assert code == EXIT_LOAD == 3
    assert out == ""
    assert "Traceback" not in err
    assert cli_blocks(err) == printed(_expected(case, target))


@pytest.mark.parametrize("case", _case_params())
def test_cli_json(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    code = main(["validate", "--format", "json", target])
    out, _ = capsys.readouterr()
    assert code == 3
    report = json.loads(out)
    assert report["ok"] is False
    got = [(d["file"], d["line"], d["column"], d["message"], d["hint"]) for d in report["diagnostics"]]
    assert got == _expected(case, target)


def test_every_case_is_complete() -> None:
    """Each golden file has an expectation and each expectation a file or generator; expectations are sorted."""
    files = {p.stem for p in GOLDEN.glob("*.yaml")} - {"expected"}
    assert not files & GENERATED.keys(), "a case is either a file or generated, not both"
    assert sorted(files - EXPECTED.keys()) == [], "golden files without an entry in expected.yaml"
    assert sorted(EXPECTED.keys() - files - GENERATED.keys()) == [], "entries without a golden file or generator"
    assert sorted(GENERATED.keys() - EXPECTED.keys()) == [], "generators without an entry in expected.yaml"
    assert sorted(KNOWN_DEFECTS.keys() - EXPECTED.keys()) == [], "known defects for unknown cases"
    for case, entries in EXPECTED.items():
        assert isinstance(entries, list) and entries, case
        for entry in entries:
            assert {"line", "column", "message"} <= entry.keys() <= FIELDS, (case, entry)
        assert _sorted(_expected(case, "")), f"{case}: expected diagnostics are not in file/line/column order"


def test_console_script_reports_without_traceback() -> None:
    """The installed ``policyengine`` console script (and ``python -m policyengine.cli``) exit 3 on a bad policy."""
    script = Path(sys.executable).with_name("policyengine")
    commands = [[sys.executable, "-m", "policyengine.cli"]]
    if script.exists():
        commands.insert(0, [str(script)])
    for command in commands:
        run = subprocess.run([*command, "validate", "duplicate-key.yaml"], cwd=GOLDEN, capture_output=True,
                             text=True, check=False)
        assert run.returncode == 3, (command, run.stderr)
        assert run.stdout == ""
        assert "Traceback" not in run.stderr
        assert run.stderr.splitlines() == [
            "duplicate-key.yaml:18:5: duplicate key 'label' (first defined at line 16)",
            "    hint: each key may appear once in a mapping",
            "1 problem found",
        ]
