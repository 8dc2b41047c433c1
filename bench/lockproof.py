"""Store overrides whose lock proofs are expensive, and how long loading them takes (issues 9 and 10).

* ``wide_override(n)``: a few KB; redefines ``is_admin`` and Delete's locked guard over ``n`` bool facts the store
  adds, and adds a new action performing ``delete_order`` over them: every lock proof reads ``n + 1`` facts.
* ``hostile_override()``: just under 1 MiB; hundreds of new actions performing ``delete_order``, each over 12 bool
  facts and a regex: each proof is allowed, together they are far more work than a load may spend, so the file is
  refused.

``measure()`` loads each next to the shipped base (``policies/order-actions.yaml``) with ``table_limit=0`` (so
only the proof, not the decision table, is timed) and returns the times; ``bench/bench.py`` prints them.
tests/test_attacks_budget.py loads the hostile one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "policies" / "order-actions.yaml"
LIMIT = 1 << 20
"""The largest policy file the YAML reader accepts (1 MiB)."""

HEAD = """\
apiVersion: policyengine/v1
kind: StoreOverride
store: acme
version: 1
base: {policy: order-actions, version: 1}
"""


def _facts(n: int) -> str:
    return "facts:\n" + "".join(f"  order.h{i}: {{type: bool}}\n" for i in range(n))


def wide_override(n: int = 13) -> str:
    """A small override whose every lock proof reads ``n`` bool facts and user.role or sent_to_warehouse."""
    anyone = " or ".join(f"order.h{i}" for i in range(n))
    return HEAD + _facts(n) + f"""\
conditions:
  is_admin: "user.role == 'admin' and ({anyone})"
actions:
  delete:
    replace_deny:
      sent-to-warehouse: {{when: "order.sent_to_warehouse or ({anyone})"}}
  purge:
    label: Purge
    allow: "is_admin and not ({anyone.replace(' or ', ' and ')})"
    effects: [{{operation: delete_order}}]
"""


def hostile_override(size: int = LIMIT - 4096) -> str:
    """About ``size`` bytes: new delete_order actions, each over 12 bool facts and a regex (which decision diagrams
    do not model, so every combination is tried), until the file is that large."""
    n = 12
    parts = [HEAD, _facts(n), "actions:\n"]
    total = sum(map(len, parts))
    pad = "x" * 1500
    i = 0
    while True:
        facts = " or ".join(f"order.h{(i + k) % n}" for k in range(n))
        action = (f"  purge_{i}:\n    label: Purge {i}\n    description: {pad}\n"
                  f"    allow: \"user.role =~ '^(admin|member)$' and ({facts})\"\n"
                  f"    effects: [{{operation: delete_order}}]\n")
        if total + len(action) > size:
            break
        parts.append(action)
        total += len(action)
        i += 1
    return "".join(parts)


def policy_dir(root: Path, override: str) -> Path:
    """``root`` as a policy directory: the shipped base and ``override`` as ``stores/acme.yaml``."""
    (root / "stores").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BASE, root / "order-actions.yaml")
    (root / "stores" / "acme.yaml").write_text(override, encoding="utf-8")
    return root


def load_cpu(path: Path, width: int = 80) -> tuple[float, str]:
    """CPU seconds to load ``path`` (tables off: proof time, not table building), and ``loaded`` or why it was
    refused (the first diagnostic, cut to ``width`` characters)."""
    import policyengine

    start = time.process_time()
    try:
        policyengine.load(path, table_limit=0)
        outcome = "loaded"
    except policyengine.PolicyError as err:
        outcome = f"refused: {err.diagnostics[0].message[:width]}"
    return time.process_time() - start, outcome


def _load_ms(path: Path) -> tuple[float, str]:
    seconds, outcome = load_cpu(path)
    return seconds * 1000, outcome


def measure() -> dict[str, Any]:
    """CPU ms to load the base alone, with the shipped overrides, and with each override above."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="policyengine-lockproof-") as tmp:
        base_only = Path(tmp) / "base"
        base_only.mkdir()
        shutil.copyfile(BASE, base_only / "order-actions.yaml")
        _load_ms(base_only)  # warm up: imports and caches are not proof time
        out["base_only_ms"], _ = _load_ms(base_only)
        shipped = Path(tmp) / "shipped"
        shutil.copytree(ROOT / "policies", shipped, ignore=shutil.ignore_patterns("tests", "invariants"))
        out["shipped_ms"], out["shipped"] = _load_ms(shipped)
        for name, text in (("wide_13", wide_override(13)), ("hostile_1mib", hostile_override())):
            out[f"{name}_bytes"] = len(text.encode())
            out[f"{name}_ms"], out[name] = _load_ms(policy_dir(Path(tmp) / name, text))
    return out


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value}")
