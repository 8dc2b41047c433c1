"""Property test of the lock proof (issue 9): random redefinitions of named conditions, visibility, allow and guard
conditions (with list, regex and decimal literals) against random locked bases. The lock check (``load``) must
refuse exactly the overrides that a brute-force comparison finds widening, where the comparison knows nothing of
locks: it loads the base and the store's effective policy (written out as a plain policy) as two engines and
compares their decisions over every order and user.

LOCK_EXAMPLES sets the number of examples (default 25; ``LOCK_EXAMPLES=2000`` for a long run).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from overrides_support import write_tree

import policyengine
from policyengine import PolicyError
from policyengine.proof import implication

STATUSES = ("New", "Open", "Shipped")
ROLES = ("admin", "member", "viewer")
DECIMALS = ("0.5", "1.25", "1.250000000000000000000001", "2.0")


def _pick(values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True)


ATOMS = st.one_of(
    st.sampled_from(STATUSES).map(lambda s: f"order.status == '{s}'"),
    _pick(STATUSES).map(lambda v: f"order.status in [{', '.join(repr(s) for s in v)}]"),
    _pick(ROLES).map(lambda v: f"user.role in [{', '.join(repr(s) for s in v)}]"),
    _pick(ROLES).map(lambda v: f"user.role =~ '^({'|'.join(v)})$'"),
    st.just("order.flag"),
    st.tuples(st.sampled_from(DECIMALS), st.sampled_from(DECIMALS), st.sampled_from(DECIMALS)).map(
        lambda d: f"(order.flag ? {d[0]} : {d[1]}) > {d[2]}"),
)


def _conditions(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    leaves = st.one_of(ATOMS, st.sampled_from(names)) if names else ATOMS
    return st.recursive(leaves, lambda inner: st.one_of(
        inner.map(lambda a: f"not ({a})"),
        st.tuples(inner, st.sampled_from(("and", "or")), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})")),
        max_leaves=4)


PLAIN = _conditions(())
WITH_NAMES = _conditions(("c1", "c2"))
PARTS = ("c1", "c2", "visible", "allow", "guard")


def _policy(parts: dict[str, str]) -> str:
    q = {k: v.replace('"', '\\"') for k, v in parts.items()}
    return f"""\
apiVersion: policyengine/v1
kind: ActionPolicy
name: prop
version: 1
facts:
  order.status: {{type: enum, values: [{', '.join(STATUSES)}]}}
  order.flag: {{type: bool}}
  store.id: {{type: string}}
  user.role: {{type: enum, values: [{', '.join(ROLES)}]}}
conditions:
  c1: "{q['c1']}"
  c2: "{q['c2']}"
actions:
  shown:
    label: Shown
    locked: [visible]
    visible: "{q['visible']}"
    allow: "true"
  guarded:
    label: Guarded
    locked: [allow]
    allow: {{when: "{q['allow']}", reason: ALLOW}}
    deny:
      - {{id: g, when: "{q['guard']}", reason: GUARD, locked: true}}
"""


def _override(changes: dict[str, str]) -> str:
    q = {k: v.replace('"', '\\"') for k, v in changes.items()}
    lines = ["apiVersion: policyengine/v1", "kind: StoreOverride", "store: s", "version: 1",
             "base: {policy: prop, version: 1}"]
    named = [f'  {k}: "{q[k]}"' for k in ("c1", "c2") if k in q]
    if named:
        lines += ["conditions:", *named]
    actions = []
    if "visible" in q:
        actions += ["  shown:", f'    visible: "{q["visible"]}"']
    if "allow" in q or "guard" in q:
        actions.append("  guarded:")
        if "allow" in q:
            actions.append(f'    allow: "{q["allow"]}"')
        if "guard" in q:
            actions += ["    replace_deny:", f'      g: {{when: "{q["guard"]}"}}']
    if actions:
        lines += ["actions:", *actions]
    return "\n".join(lines) + "\n"


def _observed(engine: policyengine.Engine, status: str, flag: bool, role: str) -> tuple[bool, bool, bool]:
    """(shown is visible, guarded's allow holds, guarded's guard fires), read off the decisions."""
    decisions = engine.evaluate({"status": status, "flag": flag, "store": {"id": "s"}}, {"role": role})
    guarded = decisions["guarded"]
    return decisions["shown"].state != "hidden", "ALLOW" not in guarded.reasons, "GUARD" in guarded.reasons


def _widens(base: policyengine.Engine, store: policyengine.Engine) -> bool:
    for status, flag, role in itertools.product(STATUSES, (False, True), ROLES):
        (bv, ba, bg), (sv, sa, sg) = _observed(base, status, flag, role), _observed(store, status, flag, role)
        if (sv and not bv) or (sa and not ba) or (bg and not sg):
            return True
    return False


BASES = st.fixed_dictionaries({"c1": PLAIN, "c2": PLAIN, "visible": WITH_NAMES, "allow": WITH_NAMES,
                               "guard": WITH_NAMES})
CHANGES = st.dictionaries(st.sampled_from(PARTS), PLAIN, min_size=1)


@settings(max_examples=int(os.environ.get("LOCK_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(base=BASES, changes=CHANGES)
def test_the_lock_check_agrees_with_brute_force(tmp_path_factory: object, base: dict[str, str],
                                                changes: dict[str, str]) -> None:
    root = Path(tmp_path_factory.mktemp("locks"))  # type: ignore[attr-defined]
    effective = {**base, **changes}
    base_engine = policyengine.load(write_tree(root / "base", {"prop.yaml": _policy(base)}))
    store_engine = policyengine.load(write_tree(root / "effective", {"prop.yaml": _policy(effective)}))
    expected = _widens(base_engine, store_engine)
    event(f"widens: {expected}")
    try:
        policyengine.load(write_tree(root / "with-store", {"prop.yaml": _policy(base),
                                                           "stores/s.yaml": _override(changes)}))
        refused = []
    except PolicyError as err:
        refused = err.diagnostics
    assert all(("widens" in d.message or "weakens" in d.message) and "with " in d.message for d in refused), refused
    assert bool(refused) == expected, (base, changes, refused)


def _diagnostics(path: Path) -> list[tuple[str, int, int, str]]:
    try:
        policyengine.load(path)
    except PolicyError as err:
        return [(d.file, d.line, d.column, d.message) for d in err.diagnostics]
    return []


@settings(max_examples=int(os.environ.get("LOCK_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(base=BASES, changes=CHANGES)
def test_decision_diagrams_and_enumeration_give_the_same_diagnostics(tmp_path_factory: object, base: dict[str, str],
                                                                     changes: dict[str, str]) -> None:
    """The same refusals, at the same places, with the same first counterexample, whether a claim is decided on
    decision diagrams or by trying every combination (proof/implication.py falls back to the latter)."""
    root = write_tree(Path(tmp_path_factory.mktemp("same")),  # type: ignore[attr-defined]
                      {"prop.yaml": _policy(base), "stores/s.yaml": _override(changes)})
    symbolic = _diagnostics(root)
    original = implication._symbolically
    implication._symbolically = lambda *args: None  # type: ignore[assignment]  # nothing symbolic: enumerate
    try:
        enumerated = _diagnostics(root)
    finally:
        implication._symbolically = original  # type: ignore[assignment]
    assert symbolic == enumerated
