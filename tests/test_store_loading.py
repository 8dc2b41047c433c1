"""Loading many stores (issue 24): what makes it fast never changes what it finds.

A load proves each shape of store override once (policyengine.locks.StoreProofs) and shows most documents valid
with a compiled check before the generic validator (policyengine.pipeline.quickcheck): a fleet's diagnostics are
exactly those of each store loaded alone, and a document's schema diagnostics are exactly the generic validator's.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from overrides_support import BASE, GOLDEN

import policyengine
from policyengine import PolicyError
from policyengine.pipeline import validate
from policyengine.pipeline.yamlsource import Document

CASES = GOLDEN / "cases"
EXPECTED: dict[str, Any] = yaml.safe_load((GOLDEN / "expected.yaml").read_text("utf-8"))
SINGLE = sorted(c for c in EXPECTED if (CASES / f"{c}.yaml").is_file())


def _rows(path: Path) -> list[tuple[Any, ...]]:
    try:
        policyengine.load(path)
    except PolicyError as err:
        return sorted((d.file, d.line, d.column, d.message, d.hint) for d in err.diagnostics)
    return []


def _reworded(text: str, store: str) -> str:
    """The override with its words changed (what the lock proofs never read) and its store renamed."""
    out = text.replace("store: s1", f"store: {store}")
    for word in ("label: ", "reason: "):
        out = out.replace(word, word + "Reworded ")
    return out


def _fleet() -> dict[str, str]:
    """Every single-file golden override case as its own store, and twice more reworded (the same shape: proved
    again, as refused results are never remembered), then clean stores of the bench's four shapes, ten each (each
    shape proved once, the rest remembered)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from stores_gen import override_text

    files: dict[str, str] = {f"s{i:05d}": override_text(i) for i in range(40)}
    for i, case in enumerate(SINGLE):
        text = (CASES / f"{case}.yaml").read_text("utf-8")
        if "store: s1" not in text:
            continue
        for j in range(3):
            store = f"c{i:03d}-{j}"
            files[store] = _reworded(text, store) if j else text.replace("store: s1", f"store: {store}")
    return files


def test_a_fleet_finds_exactly_what_each_store_finds_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _fleet()
    assert len(files) > 100  # the golden cases are there: this compares something
    fleet = tmp_path / "fleet"
    (fleet / "p" / "stores").mkdir(parents=True)
    (fleet / "p" / BASE.name).write_bytes(BASE.read_bytes())
    for store, text in files.items():
        (fleet / "p" / "stores" / f"{store}.yaml").write_text(text, "utf-8")
    monkeypatch.chdir(fleet)
    together = _rows(Path("p"))
    alone: list[tuple[Any, ...]] = []
    for store, text in files.items():
        single = tmp_path / f"alone-{store}"
        (single / "p" / "stores").mkdir(parents=True)
        (single / "p" / BASE.name).write_bytes(BASE.read_bytes())
        (single / "p" / "stores" / f"{store}.yaml").write_text(text, "utf-8")
        monkeypatch.chdir(single)
        alone += [r for r in _rows(Path("p")) if r[0] != os.path.join("p", BASE.name)]
    monkeypatch.chdir(fleet)
    assert together == sorted(alone)
    assert len({r[0] for r in together}) > 40  # most cases are refused: the comparison covers refusals


# -- the compiled schema check ----------------------------------------------------------------------------------

_VALUES: list[Any] = ["", "x", "s1", "order.status == 'Open'", "Open", "a\n", "BAD id", "order.x", "user.role",
                      0, 1, -1, 2, 1.0, 1.5, True, False, None, [], ["a"], ["a", "a"], [1, True], {}, {"when": "true"},
                      {"id": "g", "when": "true", "reason": "r"}, {"type": "enum", "values": ["A"]}, {"type": "bool"},
                      {"set": {"order.x": 1}}, {"operation": "notify"}, "policyengine/v1", "StoreOverride"]
_KEYS = ["label", "reason", "when", "hidden", "visible", "allow", "deny", "drop_deny", "replace_deny", "confirm",
         "destructive", "effects", "id", "locked", "type", "values", "default", "from", "pin", "compatible", "set",
         "operation", "description", "extra", "Order.X", "order.new", "new_action"]


def _seeds() -> list[dict[str, Any]]:
    out = [yaml.safe_load(BASE.read_text("utf-8"))]
    for case in SINGLE:
        data = yaml.safe_load((CASES / f"{case}.yaml").read_text("utf-8"))
        if isinstance(data, dict):
            out.append(data)
    return out


SEEDS = _seeds()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


@st.composite
def _mutants(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(data))))
        if not path:
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        how = draw(st.sampled_from(("replace", "delete", "add")))
        if how == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(_VALUES)))
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(_KEYS))] = copy.deepcopy(draw(st.sampled_from(_VALUES)))
        elif isinstance(parent[path[-1]], list):
            parent[path[-1]].append(copy.deepcopy(draw(st.sampled_from(_VALUES))))
    return data


@settings(max_examples=400, deadline=None)
@given(_mutants())
def test_the_compiled_check_shows_valid_only_what_the_generic_validator_finds_valid(data: dict[str, Any]) -> None:
    """Soundness, which makes every diagnostic the generic validator's: a document the compiled check shows valid
    has no schema problem (one it cannot show valid goes to the generic validator, which words them)."""
    kind = data.get("kind")
    known = isinstance(kind, str) and kind in validate.SCHEMAS
    shown = known and validate._surely_valid(kind)(data)
    errors = list(validate._validator(kind).iter_errors(data)) if known else ["no schema"]
    assert not (shown and errors), errors[:3]


def test_the_compiled_check_shows_the_usual_documents_valid() -> None:
    """The fast path is taken: the shipped base and overrides of the bench's four shapes are shown valid."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from stores_gen import override_text

    assert validate._surely_valid("ActionPolicy")(yaml.safe_load(BASE.read_text("utf-8")))
    for i in range(8):
        data = yaml.safe_load(override_text(i))
        assert validate._surely_valid("StoreOverride")(data), override_text(i)
        assert validate.validate_document(Document("s.yaml", data, {}, {}, "")) == []
