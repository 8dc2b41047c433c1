"""The complete decision matrix of the shipped policies, snapshot-tested so any behaviour change is a reviewable diff.

One file per policy that decides orders: the base policy (orders of stores without an override) and each store
override in ``policies/``. One line per combination of the finite facts the policy reads (for the base policy,
order.status x has_shipment x sent_to_warehouse x store.manual_fulfillment x user.role = 312 rows)::

    status=Error has_shipment=no ... role=member | reprocess=enabled[retry_last_step] ... reset=disabled(order-already-has-...)[...]

``state(reason, ...)`` lists the reasons by a short slug (the legend at the top of the file gives each slug's full
text), ``[...]`` the effects: ``fact:=value`` assignments and operation names, ``+`` joining the parts of one
effect, ``, `` separating effects. Regenerate with ``pytest --snapshot-update`` and review the diff.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import BASE_STORE, POLICIES, build_inputs, fact_space, fact_space_size, needed_facts, store_ids, store_policy
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import policyengine


class TextSnapshot(SingleFileSnapshotExtension):
    """The matrix as a plain .txt file, so reviewers read it (and its diffs) as text."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


_STOP = {"the", "a", "an"}


def slug(text: str) -> str:
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower().replace("'", "")) if w not in _STOP]
    return "-".join(words[:5])


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return f'"{text}"' if " " in text else text


def show_effects(effects: tuple[policyengine.Effect, ...]) -> str:
    parts = []
    for effect in effects:
        bits = [f"{fact}:={value}" for fact, value in effect.set.items()]
        if effect.operation is not None:
            bits.append(effect.operation)
        parts.append("+".join(bits))
    return f"[{', '.join(parts)}]" if parts else ""


def render_matrix(engine: policyengine.Engine, store: str | None = None) -> str:
    """The matrix of the policy deciding orders of ``store`` (the base policy when None)."""
    policy = store_policy(engine, store)
    facts = needed_facts(policy)
    leaves = [f.name.split(".")[-1] for f in facts]
    short = dict(zip((f.name for f in facts), leaves, strict=True)) if len(set(leaves)) == len(leaves) else {
        f.name: f.name for f in facts}
    legend: dict[str, str] = {}
    labels: dict[str, tuple[str, str | None]] = {}
    rows = []
    for values in fact_space(policy):
        order, user = build_inputs(policy, values, store or BASE_STORE)
        decisions = engine.evaluate(order, user)
        assert decisions.errors == ()
        cells = []
        for action_id, decision in decisions.items():
            labels.setdefault(action_id, (decision.label, decision.confirm))
            slugs = []
            for reason in decision.reasons:
                key = slug(reason)
                assert legend.setdefault(key, reason) == reason, f"two reasons share the slug {key!r}"
                slugs.append(key)
            cell = f"{action_id}={decision.state}"
            if slugs:
                cell += f"({','.join(slugs)})"
            cell += show_effects(decision.effects)
            cells.append(cell)
        head = " ".join(f"{short[name]}={show_value(value)}" for name, value in values.items())
        rows.append(f"{head} | {' '.join(cells)}")
    title = f"store {store}: override {decisions.store_override} of" if store else "base policy"
    header = [
        f"# {title} {policy.name}@{policy.version}: {len(rows)} combinations of "
        + " x ".join(f"{f.name}({len(f.values) if f.type == 'enum' else 2})" for f in facts),
        "# actions (label; confirmation asked):",
        *(f"#   {a}: {label!r}; confirm: {confirm!r}" for a, (label, confirm) in labels.items()),
        "# reasons:",
        *(f"#   {key}: {text}" for key, text in sorted(legend.items())),
        "",
    ]
    return "\n".join(header + rows) + "\n"


STORES = store_ids(policyengine.load(POLICIES))


def test_decision_matrix(engine: policyengine.Engine, snapshot: Any) -> None:
    """The base policy: orders of every store without an override."""
    matrix = render_matrix(engine)
    rows = [line for line in matrix.splitlines() if line and not line.startswith("#")]
    assert len(rows) == fact_space_size(engine.policy) == 312
    assert len(set(rows)) == len(rows)
    assert matrix == snapshot(extension_class=TextSnapshot)


@pytest.mark.parametrize("store", STORES)
def test_store_decision_matrix(engine: policyengine.Engine, snapshot: Any, store: str) -> None:
    matrix = render_matrix(engine, store)
    rows = [line for line in matrix.splitlines() if line and not line.startswith("#")]
    assert len(rows) == fact_space_size(store_policy(engine, store)) >= 312
    assert matrix != render_matrix(engine)
    assert matrix == snapshot(extension_class=TextSnapshot)
