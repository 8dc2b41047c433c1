"""The compiled cache (issue 16): ``load(path, cache=DIR)`` reuses what a load of the same set compiled, and ignores
(and replaces) any entry that is stale, damaged, foreign or not safely owned. Tested through ``policyengine.load``,
``LivePolicies`` and ``policyengine serve`` like a user would, with spies on the compilation stages."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from overrides_support import BASE, SHIPPED, SHIPPED_BASE, base_version, override, write_tree

import policyengine
import policyengine.cache as cache_module
import policyengine.loader as engine_module
import policyengine.locks as locks_module
import policyengine.proof.implication as implication_module
import policyengine.runtime.codestore as codestore
from policyengine.proof import smt

STATUSES = ("New", "Pending", "Open", "Partially Shipped", "Shipped", "Error", "Archived")
GUARD = """actions:
  edit:
    deny:
      - id: shipped
        when: order.status == 'Shipped'
        reason: Store STORE does not edit shipped orders.
"""
NEW_ACTION = """facts:
  order.channel:
    type: enum
    values: [shopify, amazon]
conditions:
  from_amazon: order.channel == 'amazon'
actions:
  request_cancellation:
    label: Request Cancellation
    visible: {when: order.sent_to_warehouse, reason: Only for orders the warehouse has.}
    allow: {when: can_act and not from_amazon, reason: Not for Amazon orders.}
    effects:
      - operation: request_warehouse_cancellation
"""


def policy_set(root: Path) -> Path:
    """Two base versions, the shipped stores, one pinned to version 1, and the four small override shapes."""
    files: dict[str, str | Path] = {
        "order-actions.yaml": BASE,
        "order-actions-v2.yaml": base_version(2, replace={"reason: The order is already archived.":
                                                          "reason: Already archived (version 2)."}),
        "stores/acme.yaml": override("acme", _body(SHIPPED / "stores" / "acme.yaml"), based_on=1, pin=1),
        "stores/globex.yaml": override("globex", _body(SHIPPED / "stores" / "globex.yaml"), based_on=1,
                                       compatible=(2,)),
        "stores/s1.yaml": override("s1", GUARD.replace("STORE", "s1"), based_on=2),
        "stores/s2.yaml": override("s2", "actions:\n  archive:\n    label: Archive for s2\n", based_on=2),
        "stores/s3.yaml": override("s3", "actions:\n  force_delete:\n    hidden: true\n"
                                         "    visible: {reason: s3 never force-deletes.}\n", based_on=2),
        "stores/s4.yaml": override("s4", NEW_ACTION, based_on=2),
    }
    return write_tree(root, files)


def _body(file: Path) -> str:
    text = file.read_text("utf-8")
    return text[text.index("\nfacts:") if "\nfacts:" in text else text.index("\nactions:"):]


def orders() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    stores: tuple[Any, ...] = ("acme", "globex", "s1", "s2", "s3", "s4", "nobody", 7, None)
    for status, shipment, sent, manual, role, store, channel in itertools.product(
            STATUSES, (False, True), (False, True), (False, True), ("admin", "member", "viewer"), stores,
            ("amazon", "shopify")):
        order = {"id": 1, "status": status, "has_shipment": shipment, "sent_to_warehouse": sent, "channel": channel,
                 "store": {"id": store, "manual_fulfillment": manual}}
        yield order, {"role": role}


def fingerprint(engine: policyengine.Engine, step: int = 7) -> dict[str, Any]:
    """Everything a user can read of an engine, decisions for many orders included (every ``step``-th of them)."""
    pairs = list(orders())[::step]
    return {
        "revision": engine.revision, "versions": engine.versions, "stores": engine.stores, "actions": engine.actions,
        "repr": repr(engine), "source": engine.generated_source, "specialised": engine.specialised,
        "decisions": [engine.evaluate(o, u).to_dict() for o, u in pairs],
        "many": [d.to_dict() for d in engine.evaluate_many(pairs)],
        "bulk": engine.bulk("edit", [o for o, _ in pairs[:200]], {"role": "admin"}).summary,
        "plans": [str(engine.plan(a, {"role": "member"}, store=s)) for a in ("edit", "reset", "force_delete")
                  for s in (None, "acme", "s3")],
        "where": [e.where for a in engine.store_policy("s4").actions for e in a.exprs()],
        "stores_pins": [(s, engine.store_override(s).base_version) for s in engine.stores],  # type: ignore[union-attr]
        "documents": [(d.file, d.data, d.marks, d.key_marks, d.text) for d in
                      (*(engine.store_override(s).override.doc for s in engine.stores),  # type: ignore[union-attr]
                       *(engine.version_policy(v).spec.doc for v in engine.versions))],
    }


class Spy:
    """Counts (or forbids) the stages a cold load runs: compile_policy, the lock proofs and compile()."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, forbid: bool = False) -> None:
        self.calls = {"compile_policy": 0, "check_locks": 0, "read": 0, "compile": 0}
        for name, module, attr in (("compile_policy", engine_module, "compile_policy"),
                                   ("check_locks", engine_module.StoreProofs, "check"),
                                   ("read", engine_module, "read_placed"),
                                   ("compile", codestore, "compile")):
            real = getattr(module, attr, None) or compile
            monkeypatch.setattr(module, attr, self._wrap(name, real, forbid), raising=False)

    def _wrap(self, name: str, real: Callable[..., Any], forbid: bool) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            if forbid:
                raise AssertionError(f"{name} ran on the warm path")
            self.calls[name] += 1
            return real(*args, **kwargs)
        return spy

    @property
    def compiled(self) -> bool:
        return self.calls["compile_policy"] > 0 and self.calls["read"] > 0


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pecache"))


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    policy_set(tmp_path / "p")
    return Path("p")


@pytest.fixture()
def cold(tree: Path) -> dict[str, Any]:
    return fingerprint(policyengine.load(tree))


def test_warm_load_decides_exactly_like_a_cold_load(tree: Path, tmp_path: Path, cold: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    writing = policyengine.load(tree, cache=directory)
    assert fingerprint(writing, 1) == fingerprint(policyengine.load(tree), 1)
    [entry] = entries(directory)
    assert entry.stat().st_mode & 0o777 == 0o600 and directory.stat().st_mode & 0o777 == 0o700
    Spy(monkeypatch, forbid=True)  # from here on, reading YAML, compiling or proving locks fails the test
    warm = policyengine.load(tree, cache=directory)
    assert fingerprint(warm, 1) == fingerprint(writing, 1) and fingerprint(warm) == cold
    assert entries(directory) == [entry]


def test_warm_rules_parse_on_demand_like_the_compilers(tree: Path, tmp_path: Path) -> None:
    """The rule-engine rules (the test oracle; analyses read their syntax trees) come back parsed alike."""
    cold = policyengine.load(tree)
    policyengine.load(tree, cache=tmp_path / "c")
    warm = policyengine.load(tree, cache=tmp_path / "c")
    for store in (None, "acme", "s4"):
        for a, b in zip(cold.store_policy(store).actions, warm.store_policy(store).actions, strict=True):
            for x, y in zip(a.exprs(), b.exprs(), strict=True):
                assert (x.text, x.python, x.where) == (y.text, y.python, y.where)
                assert repr(x.rule.statement.expression) == repr(y.rule.statement.expression)
                facts = {"order": {"status": "Open", "has_shipment": False, "sent_to_warehouse": True,
                                   "channel": "amazon"}, "store": {"id": "s4", "manual_fulfillment": False},
                         "user": {"role": "member"}}
                if not x.actions and not x.conditions:
                    assert x.rule.evaluate(facts) == y.rule.evaluate(facts)


def test_a_new_process_starts_warm(tree: Path, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    script = ("import sys, policyengine, policyengine.engine as e\n"
              "if sys.argv[2] == 'warm':\n"
              "    e.compile_policy = e.check_locks = e.read_placed = None  # any use raises\n"
              "print(policyengine.load(sys.argv[1], cache=sys.argv[3]).revision)\n")
    first = subprocess.run([sys.executable, "-c", script, str(tree), "cold", str(directory)], check=True,
                           capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", script, str(tree), "warm", str(directory)], check=True,
                            capture_output=True, text=True)
    assert first.stdout == second.stdout == policyengine.load(tree).revision + "\n"


# -- stale keys ------------------------------------------------------------------------------------------
def test_an_edited_file_is_compiled_again(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    before = policyengine.load(tree, cache=directory)
    (tree / "stores" / "s2.yaml").write_text(override("s2", "actions:\n  archive:\n    label: Archive (s2)\n",
                                                      based_on=2))
    spy = Spy(monkeypatch)
    after = policyengine.load(tree, cache=directory)
    assert spy.compiled and after.revision != before.revision
    assert after.evaluate({"status": "Open", "store": {"id": "s2"}}, {"role": "admin"})["archive"].label == \
        "Archive (s2)"
    assert fingerprint(after) == fingerprint(policyengine.load(tree)) and len(entries(directory)) == 2


def test_files_that_do_not_decide_keep_the_entry(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    write_tree(tree, {"tests/menu.yaml": "apiVersion: policyengine/v1\nkind: PolicyTestSuite\n"})
    Spy(monkeypatch, forbid=True)
    policyengine.load(tree, cache=directory)


@pytest.mark.parametrize("change", ["table_limit", "package", "python", "path", "adapter", "solver budget",
                                    "proof work", "solver version"])
def test_any_other_part_of_the_key_compiles_again(change: str, tree: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    kwargs: dict[str, Any] = {}
    path: Path = tree
    if change == "table_limit":
        kwargs["table_limit"] = 0
    elif change in ("package", "python"):
        fake = tuple((k, "another" if k == change else v) for k, v in cache_module._environment())
        monkeypatch.setattr(cache_module, "_environment", lambda: fake)
    elif change == "path":
        path = tree.resolve()  # the same files, named otherwise in diagnostics and positions
    elif change == "solver budget":  # a budget decides which proofs finish: another budget, another entry
        monkeypatch.setattr(locks_module, "SOLVER_BUDGET_MS", locks_module.SOLVER_BUDGET_MS + 1)
    elif change == "proof work":
        monkeypatch.setattr(implication_module, "MAX_PROOF_WORK", implication_module.MAX_PROOF_WORK - 1)
    elif change == "solver version":
        monkeypatch.setattr(cache_module, "_z3_version", lambda: "0.0.0")
    else:
        kwargs["adapter"] = type("MyAdapter", (policyengine.DefaultAdapter,), {})()
    spy = Spy(monkeypatch)
    engine = policyengine.load(path, cache=directory, **kwargs)
    assert spy.compiled and len(entries(directory)) == 2
    assert fingerprint(engine) == fingerprint(policyengine.load(path, **kwargs))
    spy.calls.update(compile_policy=0, read=0)
    policyengine.load(path, cache=directory, **kwargs)
    assert not spy.compiled  # and the new entry serves from then on


# -- damaged and foreign entries ------------------------------------------------------------------------------
def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _with_payload(data: bytes, shared: bytes, index: bytes | None = None) -> bytes:
    """A well-formed file (right key, matching checksum) around the pickle ``shared`` (what the base versions are
    read from) and the stores' ``index`` (a pickle of ``(store, version, action labels, its own pickle)``; none by
    default)."""
    import hashlib

    payload = len(shared).to_bytes(8, "big") + shared + (pickle.dumps(()) if index is None else index)
    size = int.from_bytes(data[10:14], "big")
    head = data[:14 + size]
    return head + hashlib.sha256(payload).digest() + len(payload).to_bytes(8, "big") + payload


def _parts(data: bytes) -> tuple[bytes, tuple[tuple[str, int, Any, bytes], ...]]:
    """The shared pickle and the stores' index of a well-formed entry."""
    size = int.from_bytes(data[10:14], "big")
    payload = data[14 + size + 40:]
    split = 8 + int.from_bytes(payload[:8], "big")
    return payload[8:split], pickle.loads(payload[split:])


class Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return os.mkdir, (self.marker,)


def _dotted_global(marker: str) -> bytes:
    """A protocol-4 pickle calling ``policyengine.cache`` + ``os.mkdir``: pickle resolves the dotted name attribute by
    attribute (``policyengine.cache.os.mkdir``), so an allowlist of module prefixes lets it run (issue 20)."""
    def text(value: str) -> bytes:
        raw = value.encode()
        return b"X" + len(raw).to_bytes(4, "little") + raw

    return b"\x80\x04" + text("policyengine.cache") + text("os.mkdir") + b"\x93" + text(marker) + b"\x85R."


def test_the_dotted_global_payload_is_live(tmp_path: Path) -> None:
    """The planted payload of the damage case below really runs code when unpickled without the allowlist."""
    pickle.loads(_dotted_global(str(tmp_path / "ran")))
    assert (tmp_path / "ran").is_dir()
    with pytest.raises(pickle.UnpicklingError, match="global policyengine.cache.os.mkdir is not allowed"):
        cache_module._Unpickler(__import__("io").BytesIO(_dotted_global(str(tmp_path / "not")))).load()
    assert not (tmp_path / "not").exists()


DAMAGE: dict[str, Callable[[bytes, Path], bytes]] = {
    "empty": lambda d, _: b"",
    "truncated": lambda d, _: d[:len(d) // 2],
    "one byte short": lambda d, _: d[:-1],
    "a byte longer": lambda d, _: d + b"\0",
    "flipped payload byte": lambda d, _: _flip(d, len(d) - 100),
    "flipped key byte": lambda d, _: _flip(d, 20),
    "garbage": lambda d, _: os.urandom(len(d)),
    "wrong magic": lambda d, _: b"XXCACHE\0" + d[8:],
    "another format": lambda d, _: d[:8] + (99).to_bytes(2, "big") + d[10:],
    "a pickle of another object": lambda d, _: _with_payload(d, pickle.dumps({"versions": {}})),
    "an entry for another key": lambda d, _: _with_payload(d, pickle.dumps(
        ("policyengine-compiled-cache", b"other", {}, "", {}))),
    "a store index that runs code": lambda d, tmp: _with_payload(d, _parts(d)[0], pickle.dumps(Boom(str(tmp / "pwned")))),
    "a store index of another shape": lambda d, _: _with_payload(d, _parts(d)[0], pickle.dumps((("s1", 1),))),
    "a pickle that runs code": lambda d, tmp: _with_payload(d, pickle.dumps(Boom(str(tmp / "pwned")))),
    "a torn pickle": lambda d, _: _with_payload(d, pickle.dumps(list(range(100)))[:-5]),
    "a dotted global that runs code": lambda d, tmp: _with_payload(d, _dotted_global(str(tmp / "pwned"))),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_ignored_and_rewritten(damage: str, tree: Path, tmp_path: Path, cold: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    [entry] = entries(directory)
    good = entry.read_bytes()
    entry.write_bytes(DAMAGE[damage](good, tmp_path))
    spy = Spy(monkeypatch)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        engine = policyengine.load(tree, cache=directory)
    assert spy.compiled and fingerprint(engine) == cold
    assert not (tmp_path / "pwned").exists()
    if damage != "empty":
        assert "damaged" in caplog.text
    assert entry.read_bytes()[:14 + 4] == good[:14 + 4] and len(entry.read_bytes()) == len(good)  # rewritten whole
    spy.calls.update(compile_policy=0, read=0)
    policyengine.load(tree, cache=directory)
    assert not spy.compiled


def test_a_store_part_is_read_through_the_allowlist_on_first_use(tree: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm start unpickles each store's own part when the store is first used, through the same allowlist: a
    part that names anything else (only an entry crafted inside the private cache directory: its checksum holds)
    runs nothing and fails that store's use; every other store decides as it did."""
    directory = tmp_path / "cache"
    order = {"status": "Open", "has_shipment": False, "sent_to_warehouse": True,
             "store": {"id": "s1", "manual_fulfillment": False}}
    cold = policyengine.load(tree)
    expected = cold.evaluate(order, {"role": "admin"})
    summary = cold.bulk("request_cancellation", [order], {"role": "admin"}).summary
    policyengine.load(tree, cache=directory)
    [entry] = entries(directory)
    shared, index = _parts(entry.read_bytes())
    crafted = tuple((s, v, labels, _dotted_global(str(tmp_path / "pwned")) if s == "s2" else blob)
                    for s, v, labels, blob in index)
    entry.write_bytes(_with_payload(entry.read_bytes(), shared, pickle.dumps(crafted)))
    Spy(monkeypatch, forbid=True)
    warm = policyengine.load(tree, cache=directory)
    # bulk names actions by every store's labels (s4's new action here), read from the index: no store restored
    assert warm.bulk("request_cancellation", [order], {"role": "admin"}).summary == summary
    with pytest.raises(pickle.UnpicklingError, match="global policyengine.cache.os.mkdir is not allowed"):
        warm.evaluate({"status": "Open", "store": {"id": "s2"}}, {"role": "admin"})
    assert not (tmp_path / "pwned").exists()
    assert warm.evaluate(order, {"role": "admin"}) == expected


# -- trust ---------------------------------------------------------------------------------------------------
def test_an_entry_others_may_write_is_not_trusted(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    [entry] = entries(directory)
    entry.chmod(0o666)
    spy = Spy(monkeypatch)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        policyengine.load(tree, cache=directory)
    assert spy.compiled and "group or others may write to it" in caplog.text
    assert entry.stat().st_mode & 0o777 == 0o600  # replaced by a file of our own


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners are POSIX")
def test_an_entry_owned_by_another_user_is_not_trusted(tree: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    [entry] = entries(directory)
    if os.getuid() == 0:
        os.chown(entry, 4242, -1)
    else:  # without root, be another user instead: then the directory is someone else's too
        uid = os.getuid()
        monkeypatch.setattr(cache_module.os, "getuid", lambda: uid + 1)
    spy = Spy(monkeypatch)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        engine = policyengine.load(tree, cache=directory)
    assert spy.compiled and engine.revision == policyengine.load(tree).revision
    assert "owned by another user" in caplog.text


def test_a_directory_others_may_write_is_not_used(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        engine = policyengine.load(tree, cache=directory)
    assert engine.revision == policyengine.load(tree).revision
    assert entries(directory) == [] and "group or others may write to it" in caplog.text


def test_a_symlinked_entry_is_not_followed(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    policyengine.load(tree, cache=directory)
    [entry] = entries(directory)
    elsewhere = tmp_path / "elsewhere.pecache"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    spy = Spy(monkeypatch)
    policyengine.load(tree, cache=directory)
    assert spy.compiled and not entry.is_symlink()


def test_an_unwritable_cache_is_no_failure(tree: Path, tmp_path: Path, cold: dict[str, Any],
                                           caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        assert fingerprint(policyengine.load(tree, cache=blocker / "cache")) == cold
    assert "compiled cache off" in caplog.text


def test_a_read_only_directory_is_no_failure(tree: Path, tmp_path: Path, cold: dict[str, Any],
                                             caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes to a 0o500 directory anyway: the write fails as it would for anyone else

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(cache_module.tempfile, "mkstemp", refused)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        assert fingerprint(policyengine.load(tree, cache=directory)) == cold
    assert "cannot write" in caplog.text and entries(directory) == []


# -- failures, concurrency, housekeeping ----------------------------------------------------------------------
def test_a_failed_load_writes_nothing(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    good = (tree / "stores" / "s1.yaml").read_text()
    (tree / "stores" / "s1.yaml").write_text(good.replace("order.status == 'Shipped'", "order.statuz == 1"))
    for _ in range(2):  # and a second try compiles again: no negative caching
        spy = Spy(monkeypatch)
        with pytest.raises(policyengine.PolicyError, match="statuz"):
            policyengine.load(tree, cache=directory)
        assert spy.compiled
        assert list(directory.iterdir()) == []
    # a lock the override breaks: the proofs refuse the set, and nothing is written either
    (tree / "stores" / "s1.yaml").write_text(override("s1", "actions:\n  reset:\n    replace_deny:\n"
                                                            "      has-shipment:\n        when: 'false'\n",
                                                      based_on=2))
    with pytest.raises(policyengine.PolicyError):
        policyengine.load(tree, cache=directory)
    assert list(directory.iterdir()) == []
    (tree / "stores" / "s1.yaml").write_text(good)
    policyengine.load(tree, cache=directory)
    assert len(entries(directory)) == 1


def test_files_changed_during_a_cold_load_are_not_cached(tree: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    real = engine_module._compile_set

    def edit_while_compiling(*args: Any) -> Any:
        result = real(*args)
        (tree / "stores" / "s2.yaml").write_text(override("s2", "actions:\n  archive:\n    label: Later\n",
                                                          based_on=2))
        return result

    monkeypatch.setattr(engine_module, "_compile_set", edit_while_compiling)
    policyengine.load(tree, cache=directory)
    assert entries(directory) == []


def test_concurrent_loads_share_one_whole_entry(tree: Path, tmp_path: Path, cold: dict[str, Any]) -> None:
    directory = tmp_path / "cache"
    results: list[policyengine.Engine] = []
    threads = [threading.Thread(target=lambda: results.append(policyengine.load(tree, cache=directory)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(fingerprint(e) == cold for e in results)
    assert len(entries(directory)) == 1 and [p.name for p in directory.iterdir() if p.name.startswith(".tmp")] == []
    assert fingerprint(policyengine.load(tree, cache=directory)) == cold


def test_old_entries_are_pruned(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_ENTRIES", 2)
    directory = tmp_path / "cache"
    for limit in (0, 1, 2, 3):
        policyengine.load(tree, cache=directory, table_limit=limit)
    assert len(entries(directory)) == 2


def test_the_default_directory(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache_module.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    policyengine.load(tree, cache=True)
    assert len(entries(tmp_path / "xdg" / "policyengine")) == 1
    monkeypatch.setenv(cache_module.ENV, str(tmp_path / "env"))
    policyengine.load(tree, cache=True)
    assert len(entries(tmp_path / "env")) == 1
    monkeypatch.chdir(tmp_path / "env")
    for off in (None, False, ""):  # "" (an empty setting) is off, not the working directory
        policyengine.load(tmp_path / "p", cache=off)
    assert len(entries(tmp_path / "env")) == 1 and len(entries(tmp_path / "xdg" / "policyengine")) == 1


def test_a_single_file_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, {"one.yaml": SHIPPED_BASE})
    cold = policyengine.load("one.yaml")
    policyengine.load("one.yaml", cache=tmp_path / "c")
    Spy(monkeypatch, forbid=True)
    warm = policyengine.load("one.yaml", cache=tmp_path / "c")
    assert warm.revision == cold.revision and warm.generated_source == cold.generated_source


# -- the service --------------------------------------------------------------------------------------------
def test_live_policies_restart_from_the_cache(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    with policyengine.LivePolicies(tree, watch=False, cache=directory) as first:
        revision = first.engine.revision
    assert len(entries(directory)) == 1
    Spy(monkeypatch, forbid=True)
    with policyengine.LivePolicies(tree, watch=False, cache=directory) as second:
        assert second.engine.revision == revision and second.reload() is second.status.serving


def test_serve_with_a_cache_dir(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    exe = Path(sys.executable).with_name("policyengine")
    revisions = []
    for _ in range(2):
        proc = subprocess.Popen([str(exe), "serve", str(SHIPPED), "--port", "0", "--no-watch", "--cache-dir",
                                 str(directory)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                match = re.search(r"serving revision (\w+)", line)
                if match:
                    revisions.append(match.group(1))
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        assert len(entries(directory)) == 1
    assert revisions == [policyengine.load(SHIPPED).revision] * 2


GOLDEN = Path(__file__).resolve().parent / "golden"


def loadable_sets() -> list[Path]:
    """Every golden policy set (lint, verify, overrides cases) that loads: regexes, numbers, sets, strings, stores."""
    candidates = sorted({*GOLDEN.glob("lint/*/policy.yaml"), *GOLDEN.glob("lint/*/policies"),
                         *(p for p in GOLDEN.glob("verify/*") if p.is_dir()), *GOLDEN.glob("overrides/*.yaml")})
    found = []
    for candidate in candidates:
        try:
            policyengine.load(candidate)
        except policyengine.PolicyError:
            continue
        found.append(candidate)
    return found


def test_every_golden_set_comes_back_warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """Whatever a policy holds (regexes, exact numbers, sets, constraints), its entry is read back: no global the
    unpickler refuses, no entry ignored as damaged."""
    sets = loadable_sets()
    assert len(sets) >= 10
    cold = {}
    for path in sets:
        cold[path] = policyengine.load(path, cache=tmp_path / "c")
    Spy(monkeypatch, forbid=True)
    with caplog.at_level(logging.WARNING, "policyengine.cache"):
        for path in sets:
            warm = policyengine.load(path, cache=tmp_path / "c")
            assert (warm.revision, warm.generated_source, warm.policy.constants.keys()) == \
                   (cold[path].revision, cold[path].generated_source, cold[path].policy.constants.keys())
    assert caplog.text == ""


# -- the solver: a warm load decides as a cold load in the same environment ------------------------------------------
NEEDS_SOLVER = override("acme", "facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' and "
                                "order.note != 'x'\n")


@pytest.mark.skipif(not smt.available(), reason="policyengine[smt] is installed by make test")
@pytest.mark.parametrize("first", ["with the solver", "without it"])
def test_an_entry_made_with_or_without_the_solver_is_not_used_by_the_other(first: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock over a string fact needs the solver: a cold load with it accepts the override, one without refuses
    it; whichever ran first, the other never takes its entry (nor its refusal: nothing is written then)."""
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path / "p", {"order-actions.yaml": BASE, "stores/acme.yaml": NEEDS_SOLVER})
    directory = tmp_path / "cache"
    solver = smt.z3

    def without() -> list[str]:
        monkeypatch.setattr(smt, "z3", None)
        try:
            with pytest.raises(policyengine.PolicyError) as caught:
                policyengine.load("p", cache=directory)
        finally:
            monkeypatch.setattr(smt, "z3", solver)
        return [d.message for d in caught.value.diagnostics]

    refusal = ["cannot prove this keeps the lock on the allow condition of action 'force_delete': install "
               "policyengine[smt] (the z3 solver) to analyse number, string and set facts",
               "cannot prove this keeps the lock on the visibility of action 'force_delete': install "
               "policyengine[smt] (the z3 solver) to analyse number, string and set facts"]
    if first == "without it":
        assert without() == refusal and entries(directory) == []
    engine = policyengine.load("p", cache=directory)
    assert engine.stores == ("acme",) and len(entries(directory)) == 1
    assert without() == refusal
    spy = Spy(monkeypatch)
    policyengine.load("p", cache=directory)
    assert not spy.compiled  # with the solver back, its own entry serves
