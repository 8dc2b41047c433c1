"""What the studio computes for the browser, each from the policy set *as edited*: the edited texts are read in
place of the saved files (:func:`policyengine.pipeline.yamlsource.overlay`), so nothing is saved to check, try,
test or review a change. Every function returns plain JSON data; file names in it are relative to the directory.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ..engine import Engine
from ..errors import Diagnostic, PolicyError
from ..loader import load
from ..locks import STORE_FACT
from ..pipeline.model import FactSpec
from ..pipeline.yamlsource import overlay
from .workspace import Workspace

__all__ = ["Loaded", "Session", "counterexample", "inputs_of"]

_PAIR = re.compile(r"((?:order|user|store)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|"
                   r"true|false|-?\d+(?:\.\d+)?)")
_CACHED = 4  # edited sets kept loaded: the one being typed, and the few a reviewer switches between
# Sets are loaded without decision tables (table_limit=0): they decide the same, and a set loaded for a few
# evaluations would spend more building its tables than evaluating.


def counterexample(message: str) -> dict[str, Any] | None:
    """The facts of a lock failure's counterexample (``with order.status='Open', user.role='member' ...``), or None
    for a diagnostic that has none."""
    if "lock" not in message or " with " not in message:
        return None
    tail = message.split(" with ", 1)[1]
    facts: dict[str, Any] = {}
    position = 0
    while (found := _PAIR.match(tail, position)) is not None:
        name, raw = found.groups()
        facts[name] = raw == "true" if raw in ("true", "false") else ast.literal_eval(raw)
        position = found.end()
        if not tail.startswith(", ", position):
            break
        position += 2
    return facts or None


def inputs_of(facts: Mapping[str, FactSpec], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(order, user)`` carrying ``values`` (fact name -> value) where the default adapter reads each fact."""
    roots: dict[str, dict[str, Any]] = {"order": {}, "user": {}}
    for name, value in values.items():
        spec = facts.get(name)
        if spec is None or not spec.source or spec.source[0] not in roots:
            continue
        node = roots[spec.source[0]]
        for part in spec.source[1:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[spec.source[-1]] = sorted(value) if spec.type == "set" and isinstance(value, list) else value
    return roots["order"], roots["user"]


@attrs.frozen(slots=True)
class Loaded:
    """One edited set, loaded: its engine (None when it does not load) and every diagnostic, as JSON data."""

    engine: Engine | None
    diagnostics: tuple[dict[str, Any], ...]


class Session:
    """The studio's work on one directory. Keeps the last few edited sets loaded (by content), and the last set that
    loaded, which "Try it" falls back to while the edit does not load."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._companions: OrderedDict[str, tuple[dict[str, Any], ...]] = OrderedDict()
        self._lock = threading.Lock()  # requests run in worker threads: the caches are changed whole
        self.last_good: Engine | None = None

    # -- reading the edited set -------------------------------------------------------------------------------------
    @contextmanager
    def edited(self, edits: Mapping[str, str]) -> Iterator[None]:
        with overlay(self.workspace.overlay(edits)):
            yield

    def relative(self, file: str) -> str:
        """A diagnostic's file name as a path relative to the directory (as given when it is outside it)."""
        real = Path(os.path.realpath(file))
        return real.relative_to(self.workspace.root).as_posix() if real.is_relative_to(self.workspace.root) else file

    def diagnostic(self, d: Diagnostic) -> dict[str, Any]:
        out = {**d.to_dict(), "file": self.relative(d.file)}
        out["counterexample"] = counterexample(d.message)
        return out

    def load(self, edits: Mapping[str, str]) -> Loaded:
        """The edited set loaded (its policy versions and store overrides), with their diagnostics."""
        key = _key({**edits, "": repr(self.workspace.signature())})  # the saved files count too
        with self._lock:  # held for the caches only: a slow request never holds up the next pause's check
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        with self.edited(edits):
            try:
                engine: Engine | None = load(self.workspace.root, table_limit=0)
                problems: list[Diagnostic] = []
            except PolicyError as err:
                engine, problems = None, list(err.diagnostics)
        loaded = Loaded(engine, tuple(self.diagnostic(d) for d in problems))
        with self._lock:
            if engine is not None:
                self.last_good = engine
            _remember(self._loaded, key, loaded)
        return loaded

    def companions(self, edits: Mapping[str, str]) -> list[dict[str, Any]]:
        """The diagnostics of the edited set's test suites and invariants (none while the set does not load). Kept
        apart from :meth:`load`: validating every suite costs more than loading the set, and typing in a policy
        should show the menu first."""
        from ..toolkit.companions import companion_diagnostics

        loaded = self.load(edits)
        if loaded.engine is None:
            return []
        key = _key({**edits, "": loaded.engine.revision + repr(self.workspace.signature())})
        with self._lock:
            if key in self._companions:
                return list(self._companions[key])
        with self.edited(edits):
            found = tuple(self.diagnostic(d) for d in companion_diagnostics(loaded.engine, self.workspace.root))
        with self._lock:
            _remember(self._companions, key, found)
        return list(found)

    def saved(self) -> Engine:
        """The set as saved on disk (raises :class:`PolicyError` when it does not load)."""
        return load(self.workspace.root, table_limit=0)

    # -- answers ------------------------------------------------------------------------------------------------
    def check(self, edits: Mapping[str, str]) -> dict[str, Any]:
        loaded = self.load(edits)
        out: dict[str, Any] = {"ok": loaded.engine is not None, "diagnostics": list(loaded.diagnostics)}
        engine = loaded.engine or self.last_good
        out["form"] = form(engine) if engine is not None else None
        return out

    def engine_for(self, edits: Mapping[str, str]) -> tuple[Engine, bool]:
        """The edited set's engine, or the last one that loaded (False: the edit does not load)."""
        loaded = self.load(edits)
        if loaded.engine is not None:
            return loaded.engine, True
        if self.last_good is None:
            self.last_good = self.saved()
        return self.last_good, False

    def try_it(self, edits: Mapping[str, str], values: Mapping[str, Any], store: str | None) -> dict[str, Any]:
        engine, current = self.engine_for(edits)
        order, user = inputs_of(engine.declared_facts(), _with_store(values, store))
        decisions = engine.evaluate(order, user, store=store or None)
        data = decisions.to_dict()
        actions = [{k: a[k] for k in ("action", "label", "state", "reasons", "confirm", "destructive", "effects",
                                      "errors", "source")} for a in data["actions"]]
        return {"current": current, "policy": data["policy"], "store_override": data["store_override"],
                "actions": self.located(actions), "errors": data["errors"], "order": order, "user": user}

    def located(self, data: Any) -> Any:
        """A copy of ``data`` with every ``where`` (``file:line:col``) naming its file relative to the directory."""
        if isinstance(data, Mapping):
            return {k: self.where(v) if k == "where" and isinstance(v, str) else self.located(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.located(v) for v in data]
        return data

    def explain(self, edits: Mapping[str, str], values: Mapping[str, Any], store: str | None,
                action: str) -> dict[str, Any]:
        from ..analysis.explain import explain

        engine, _ = self.engine_for(edits)
        order, user = inputs_of(engine.declared_facts(), _with_store(values, store))
        return dict(self.located(explain(engine, order, user, store=store or None, actions=[action]).to_dict()))

    def tests(self, edits: Mapping[str, str], *, accept: bool = False) -> dict[str, Any]:
        from ..toolkit.suites import load_suites, run_suites
        from ..toolkit.update import plan_updates

        loaded = self.load(edits)
        if loaded.engine is None:
            return {"ok": False, "loads": False, "diagnostics": list(loaded.diagnostics)}
        with self.edited(edits):
            try:
                # as `test --update` loads them: an expected reason the edit no longer gives is a failure to accept
                suites = load_suites(loaded.engine, self.workspace.root / "tests", accept=True)
            except PolicyError as err:
                return {"ok": False, "loads": False, "diagnostics": [self.diagnostic(d) for d in err.diagnostics]}
            run = run_suites(loaded.engine, suites)
            if accept:
                updates = plan_updates(run.results)
                return {"files": {self.relative(u.file): u.after for u in updates},
                        "changes": sum(u.changes for u in updates)}
        failures = [{"case": r.case.id, "where": self.where(r.case.where), "policy": r.policy,
                     "errors": [str(e) for e in r.errors],
                     "mismatches": [{"action": m.action, "check": m.check, "expected": _show(m.expected),
                                     "actual": _show(m.actual), "where": self.where(m.where)} for m in r.mismatches]}
                    for r in run.results if not r.passed]
        return {"ok": run.ok, "loads": True, "passed": run.passed, "failed": run.failed, "failures": failures}

    def where(self, where: str) -> str:
        file, sep, rest = where.partition(":")
        return self.relative(file) + sep + rest

    def matrix(self, edits: Mapping[str, str], action: str, store: str | None) -> dict[str, Any]:
        from ..analysis.matrix import MatrixTooLarge, build_matrix

        engine, current = self.engine_for(edits)
        policy = engine.store_policy(store or None)
        if action not in {a.id for a in policy.actions}:
            raise KeyError(action)
        override = engine.store_override(store) if store else None
        try:
            matrix = build_matrix(policy, store=store or None,
                                  store_override=override.override.label if override is not None else None)
        except MatrixTooLarge as err:
            return {"current": current, "error": str(err)}
        data = matrix.to_dict()
        return {"current": current, "policy": data["policy"], "store_override": data["store_override"],
                "combinations": data["possible"], "groups": data["by_action"][action]}

    def diff(self, edits: Mapping[str, str], against: str, store: str | None) -> dict[str, Any]:
        from ..analysis.diff import diff_engines, load_source

        loaded = self.load(edits)
        if loaded.engine is None:
            return {"error": "the edited set does not load: fix its problems to compare it"}
        if against == "saved":
            old, name = self.saved(), "saved"
        else:
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._/~^@{}-]{0,99}", against):
                return {"error": f"not a git revision: {against[:100]!r}"}
            old, name = load_source(f"{against}:./", cwd=self.workspace.root)
        if store and (store not in old.stores or store not in loaded.engine.stores):
            store = None
        return diff_engines(old, loaded.engine, store=store or None, old_source=name, new_source="edited").to_dict()


def _key(edits: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(edits.items())).encode()).hexdigest()


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    cache[key] = value
    while len(cache) > _CACHED:
        cache.popitem(last=False)


def _with_store(values: Mapping[str, Any], store: str | None) -> dict[str, Any]:
    """The form's values with the chosen store as the order's ``store.id`` (the base policy's when none is)."""
    return {**values, STORE_FACT: store or "(no store override)"}


def _show(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_show(v) for v in value]
    to_dict: Callable[[], Any] | None = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


def form(engine: Engine) -> dict[str, Any]:
    """What "Try it" asks: each declared fact with its type, values, default and description; the stores."""
    facts = [{"name": f.name, "type": f.type, "values": list(f.values), "default": _show_default(f.default),
              "description": f.description} for f in engine.declared_facts().values() if f.name != STORE_FACT]
    actions = [{"id": a.id, "label": a.spec.label} for a in engine.policy.actions]
    return {"facts": facts, "stores": list(engine.stores), "actions": actions, "store_fact": STORE_FACT}


def _show_default(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value
