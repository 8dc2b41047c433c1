"""Policy versions side by side, store pins, compatibility of overrides, and provenance (issue 3).

Every policy directory is built in ``tmp_path`` from the frozen copy of the base (tests/golden/overrides/
order-actions.yaml): version 1 as it is, version 2 with Reset relabelled "Reset order" and Archive's allow locked.
Diagnostics are asserted exactly, through ``policyengine.load`` and ``policyengine validate``. (An unknown
``apiVersion`` listing the supported ones is a golden case of tests/golden/bad/: ``unknown-api-version``.)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from cli_support import refused
from overrides_support import BASE_TEXT, base_version, make_order, override, policy_tree, where, write_tree

import policyengine
from policyengine import PolicyError
from policyengine.cli import main
from policyengine.runtime.decision import Source

V1 = base_version(1)
V2 = base_version(2, replace={
    "    label: Reset\n": "    label: Reset order\n",
    "  archive:\n    label: Archive\n": "  archive:\n    label: Archive\n    locked: [allow]\n",
})
MEMBER = {"role": "member"}



# -- versions side by side ------------------------------------------------------------------------------------


def test_two_versions_side_by_side_latest_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = policyengine.load(policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2}))
    assert engine.versions == (1, 2)
    assert engine.version == 2 and engine.policy.version == 2
    assert engine.version_policy(1).version == 1
    assert engine.stores == ()
    decisions = engine.evaluate(make_order(store="anyone"), MEMBER)
    assert decisions.policy == "order-actions@2"
    assert decisions.store_override is None
    assert decisions["reset"].label == "Reset order"
    assert repr(engine) == "<Engine order-actions@2: 8 actions>"


def test_file_order_does_not_pick_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = policyengine.load(policy_tree(tmp_path, monkeypatch, {"a-newest.yaml": V2, "z-oldest.yaml": V1}))
    assert engine.versions == (1, 2) and engine.version == 2


def test_a_pinned_store_is_decided_by_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {
        "v1.yaml": V1, "v2.yaml": V2,
        "stores/old.yaml": override("old", "actions:\n  edit: {label: Change}", pin=1),
        "stores/new.yaml": override("new", "actions:\n  edit: {label: Modify}", based_on=2, version=4),
    })
    engine = policyengine.load(path)
    assert engine.stores == ("new", "old")
    assert engine.store_override("old").base_version == 1
    assert engine.store_override("new").base_version == 2
    assert engine.store_policy("old").version == 1 and engine.store_policy("new").version == 2

    old = engine.evaluate(make_order(store="old"), MEMBER)
    assert (old.policy, old.store_override) == ("order-actions@1", "old@1")
    assert (old["reset"].label, old["edit"].label) == ("Reset", "Change")
    new = engine.evaluate(make_order(store="new"), MEMBER)
    assert (new.policy, new.store_override) == ("order-actions@2", "new@4")
    assert (new["reset"].label, new["edit"].label) == ("Reset order", "Modify")
    other = engine.evaluate(make_order(store="other"), MEMBER)
    assert (other.policy, other.store_override) == ("order-actions@2", None)
    assert (other["reset"].label, other["edit"].label) == ("Reset order", "Edit")

    # provenance: each decision's sources are in the version that decided it
    shipped = {"has_shipment": True, "sent_to_warehouse": True}
    old_reset = engine.evaluate(make_order("Open", store="old", **shipped), MEMBER)["reset"].source
    new_reset = engine.evaluate(make_order("Open", store="other", **shipped), MEMBER)["reset"].source
    at = where("p/v1.yaml", V1, "order.has_shipment", after="id: has-shipment")
    assert old_reset == (Source("guard", "has-shipment", at, "order.has_shipment"),)
    assert new_reset == (Source("guard", "has-shipment", at.replace("v1", "v2"), "order.has_shipment"),)

    out = json.loads(_ok(capsys, "validate", "--format", "json", path))
    assert (out["ok"], out["policy"], out["versions"], out["stores"]) == (True, "order-actions", [1, 2], ["new", "old"])


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``policyengine *argv``: exit 0, nothing on stderr; returns stdout."""
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_validate_lists_the_versions_each_store_runs_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {
        "v1.yaml": V1, "v2.yaml": V2,
        "stores/old.yaml": override("old", "actions:\n  edit: {label: Change}", pin=1, version=2),
    })
    assert _ok(capsys, "validate", path).splitlines() == [
        "ok: p: order-actions (versions: 1, 2; latest has 8 actions, 6 facts, 3 conditions)",
        "  store old: override old@2 on order-actions@1",
    ]


def test_an_override_for_version_1_applied_to_version_2_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2,
                                         "stores/acme.yaml": override("acme", "actions:\n  edit: {label: Change}")})
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", 7, 12, "override written for order-actions@1, but store 'acme' runs on order-actions@2",
         "review it against version 2 and add 2 to base.compatible, or pin: 1"),
    ]


def test_the_same_override_is_accepted_once_it_declares_compatible_2(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = policy_tree(tmp_path, monkeypatch, {
        "v1.yaml": V1, "v2.yaml": V2,
        "stores/acme.yaml": override("acme", "actions:\n  edit: {label: Change}", compatible=(2,)),
    })
    engine = policyengine.load(path)
    decisions = engine.evaluate(make_order(store="acme"), MEMBER)
    assert (decisions.policy, decisions.store_override) == ("order-actions@2", "acme@1")
    assert (decisions["reset"].label, decisions["edit"].label) == ("Reset order", "Change")


def test_an_override_is_accepted_alone_with_its_own_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written for version 1, with only version 1 loaded: no compatibility needed."""
    engine = policyengine.load(policy_tree(tmp_path, monkeypatch, {
        "v1.yaml": V1, "stores/acme.yaml": override("acme", "actions:\n  edit: {label: Change}")}))
    assert engine.evaluate(make_order(store="acme"), MEMBER).policy == "order-actions@1"


def test_pinning_a_version_the_override_was_not_written_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2,
                                         "stores/acme.yaml": override("acme", based_on=2, pin=1)})
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", 7, 12, "override written for order-actions@2, but store 'acme' runs on order-actions@1",
         "review it against version 1 and add 1 to base.compatible, or pin: 2"),
    ]


def test_pinning_a_version_that_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2,
                                         "stores/acme.yaml": override("acme", pin=3, compatible=(3,))})
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", 9, 8, "store 'acme' pins order-actions@3, which is not loaded (loaded versions: 1, 2)",
         None),
    ]


def test_locks_are_those_of_the_version_the_store_runs_on_and_the_latest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Version 2 locks Archive's allow; an override widening it is refused on version 2, and also when pinned to
    version 1 (issue 9, attack 2: a pin must not escape a newer lock)."""
    widen = "actions:\n  archive:\n    allow: \"true\""
    pinned = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2,
                                           "stores/acme.yaml": override("acme", widen, pin=1)})
    lock = where("p/v2.yaml", V2, "locked", after="  archive:\n")
    assert refused(pinned, capsys) == [
        ("p/stores/acme.yaml", 8, 8,
         "store override widens the locked allow condition of action 'archive': with user.role='viewer' the store "
         "would allow it, where order-actions@2 does not",
         f"order-actions@2 locks it at {lock}: a store keeps the latest version's locks, whatever version it pins"),
    ]
    # without version 2 loaded, version 1 has no such lock: the same override loads
    (tmp_path / "p" / "v2.yaml").unlink()
    engine = policyengine.load(pinned)
    assert engine.evaluate(make_order(store="acme"), {"role": "viewer"})["archive"].enabled

    shutil.rmtree(tmp_path / "p")
    path = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": V2,
                                         "stores/acme.yaml": override("acme", widen, compatible=(2,))})
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", 11, 12,
         "store override widens the locked allow condition of action 'archive': with user.role='viewer' the store "
         "would allow it, where order-actions@2 does not", f"the base policy locks it at {lock}"),
    ]


def test_the_same_name_and_version_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"a.yaml": V2, "b.yaml": V2.replace("label: Reset order", "label: Reset!"),
                                         "c.yaml": V1})
    assert refused(path, capsys) == [
        ("p/b.yaml", 10, 10, "order-actions@2 is defined twice (first in p/a.yaml)", "bump the version of the newer file"),
    ]


def test_two_policy_names_in_one_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    other = V1.replace("\nname: order-actions\n", "\nname: returns\n")
    path = policy_tree(tmp_path, monkeypatch, {"a.yaml": V1, "b.yaml": other})
    # no policy is chosen by file order: both files are flagged
    message = "one engine loads one policy; found order-actions (p/a.yaml), returns (p/b.yaml)"
    assert refused(path, capsys) == [
        ("p/a.yaml", 9, 7, message, "load each policy directory into its own engine"),
        ("p/b.yaml", 9, 7, message, "load each policy directory into its own engine"),
    ]


# -- provenance -----------------------------------------------------------------------------------------------

HEX64 = re.compile(r"[0-9a-f]{64}")
ACME = override("acme", "actions:\n  reset:\n    deny:\n      - {id: errors, when: \"order.status == 'Error'\", "
                        "reason: Fix the error first.}")


def _files(**extra: str) -> dict[str, str]:
    return {"order-actions.yaml": V1, "stores/acme.yaml": ACME, **extra}


def test_decisions_carry_policy_store_override_and_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = policyengine.load(policy_tree(tmp_path, monkeypatch, _files()))
    assert HEX64.fullmatch(engine.revision)
    acme = engine.evaluate(make_order(store="acme", has_shipment=True), MEMBER)
    other = engine.evaluate(make_order(store="other"), MEMBER)
    assert (acme.policy, acme.store_override, acme.revision) == ("order-actions@1", "acme@1", engine.revision)
    assert (other.policy, other.store_override, other.revision) == ("order-actions@1", None, engine.revision)
    data = acme.to_dict()
    assert list(data) == ["policy", "store_override", "revision", "actions", "errors"]
    assert (data["policy"], data["store_override"], data["revision"]) == ("order-actions@1", "acme@1", engine.revision)
    assert json.loads(json.dumps(data)) == data
    # a base guard's source is in the base, a guard the store added is in the override
    by_id = {entry["action"]: entry for entry in data["actions"]}
    reset = by_id["reset"]
    assert reset["reasons"] == [
        "The order already has a shipment; resetting would re-process an order the warehouse has already worked.",
        "Fix the error first."]
    assert reset["source"] == [
        {"kind": "guard", "id": "has-shipment", "where": where("p/order-actions.yaml", V1, "order.has_shipment",
                                                               after="id: has-shipment"),
         "condition": "order.has_shipment"},
        {"kind": "guard", "id": "errors", "where": where("p/stores/acme.yaml", ACME, "\"order.status"),
         "condition": "order.status == 'Error'"},
    ]
    enabled = by_id["edit"]["source"]
    assert enabled == [{"kind": "allow", "id": None, "condition": "can_act",
                        "where": where("p/order-actions.yaml", V1, "can_act", after="  edit:\n")}]
    hidden = by_id["force_delete"]["source"]
    assert hidden == [{"kind": "visible", "id": None, "condition": "is_admin",
                       "where": where("p/order-actions.yaml", V1, "is_admin", after="  force_delete:\n")}]
    assert other.to_dict()["store_override"] is None


def test_every_source_points_at_its_condition_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For every action and a spread of orders, each source's ``where`` is a position in that file where the
    condition's text is written."""
    engine = policyengine.load(policy_tree(tmp_path, monkeypatch, _files()))
    seen = set()
    for status in ("Error", "Open", "Archived", "Pending"):
        for shipment in (False, True):
            for role in ("admin", "member", "viewer"):
                for store in ("acme", "other"):
                    order = make_order(status, store=store, has_shipment=shipment, sent_to_warehouse=shipment)
                    for decision in engine.evaluate(order, {"role": role}).values():
                        assert decision.source, decision
                        for source in decision.source:
                            file, line, column = source.where.rsplit(":", 2)
                            text = (tmp_path / file).read_text("utf-8").splitlines()[int(line) - 1]
                            assert text[int(column) - 1:].lstrip("'\"").startswith(source.text), source
                            seen.add((source.kind, file))
    assert seen >= {("guard", "p/order-actions.yaml"), ("guard", "p/stores/acme.yaml"), ("allow", "p/order-actions.yaml"),
                    ("visible", "p/order-actions.yaml")}


def test_revision_is_stable_across_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = policy_tree(tmp_path, monkeypatch, _files())
    first, second = policyengine.load(path), policyengine.load(path)
    assert first.revision == second.revision
    assert policyengine.load(tmp_path / "p").revision == first.revision  # absolute or relative path, same cwd
    assert policyengine.load("./p/").revision == first.revision


@pytest.mark.parametrize("change", ["base", "override", "added-file", "whitespace"])
def test_revision_changes_when_any_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    path = policy_tree(tmp_path, monkeypatch, _files())
    before = policyengine.load(path).revision
    if change == "base":
        (tmp_path / "p/order-actions.yaml").write_text(V1.replace("label: Edit", "label: Edit order"), "utf-8")
    elif change == "override":
        (tmp_path / "p/stores/acme.yaml").write_text(ACME.replace("Fix the error first.", "Fix it."), "utf-8")
    elif change == "added-file":
        (tmp_path / "p/stores/globex.yaml").write_text(override("globex", "actions:\n  edit: {label: E}"), "utf-8")
    else:
        (tmp_path / "p/order-actions.yaml").write_text(V1 + "\n# a comment\n", "utf-8")
    after = policyengine.load(path).revision
    assert HEX64.fullmatch(after) and after != before


def test_revision_is_independent_of_where_the_directory_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "one" / "policies", _files())
    write_tree(tmp_path / "two" / "policies", _files())
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    revisions = {policyengine.load(tmp_path / "one" / "policies").revision,
                 policyengine.load(tmp_path / "two" / "policies").revision}
    monkeypatch.chdir(tmp_path / "one")
    revisions.add(policyengine.load("policies").revision)
    revisions.add(policyengine.load(tmp_path / "two" / "policies").revision)
    assert len(revisions) == 1


def test_the_frozen_base_is_version_1_of_the_shipped_policy() -> None:
    """The fixtures here derive versions from the frozen copy; it must be a policy of the same name."""
    assert "\nname: order-actions\nversion: 1\n" in BASE_TEXT


def test_an_override_for_a_version_not_loaded_does_not_suggest_pinning_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"v1.yaml": V1, "stores/acme.yaml": override("acme", based_on=5)})
    with pytest.raises(PolicyError) as info:
        policyengine.load(path)
    [diagnostic] = info.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.column) == ("p/stores/acme.yaml", 7, 12)
    assert "order-actions@5" in diagnostic.message
    assert "pin: 5" not in (diagnostic.hint or "")
