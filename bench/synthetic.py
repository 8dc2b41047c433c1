"""A generator for the large synthetic policy of the benchmark, and the subprocess that times loading it.

The policy (deterministic for a seed) has, by default, 34 facts (12 enums, 12 bools, 9 numbers and a set, under the
roots ``order``, ``store`` and ``user``), 80 named conditions that reference facts and earlier conditions, and
220 actions with 2,200 deny guards (5 to 15 per action), conditional and unconditional effects, and a visibility
condition on about half of them. Guards and conditions mix enum equality and membership, bools, numeric comparisons
with constants and between two number facts, tag membership, ``not``, ``and``/``or`` and condition references.

Usage::

    .venv/bin/python bench/synthetic.py --out /tmp/synthetic.yaml       # write the policy and print its size
    .venv/bin/python bench/synthetic.py --measure-load /tmp/synthetic.yaml --rounds 5
        # in this (fresh) process: time ``policyengine.load`` several times and print JSON with the load times
        # (wall and CPU), the peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and whether the engine specialised it

``bench/bench.py`` runs the second form in a subprocess, first thing, so the RSS is that of a process that did
nothing else. (On Linux a child's ``ru_maxrss`` starts at its parent's RSS at the time of the fork/exec, so it is
started before the parent builds its inputs; ``vm_hwm_mb``, the child's own ``VmHWM``, is reported alongside.)
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent

TAGS = tuple(f"t{i}" for i in range(8))


@attrs.frozen
class Fact:
    name: str
    type: str
    values: tuple[str, ...] = ()


@attrs.frozen
class Synthetic:
    """One generated policy: its YAML text and what the benchmark needs to build inputs for it."""

    text: str
    facts: tuple[Fact, ...]
    conditions: int
    actions: int
    guards: int
    effects: int


def _facts(rng: random.Random) -> list[Fact]:
    facts = []
    for root, n_enum, n_bool, n_num in (("order", 8, 8, 6), ("store", 2, 3, 1), ("user", 2, 1, 2)):
        for i in range(n_enum):
            size = rng.randint(3, 8)
            facts.append(Fact(f"{root}.kind_{i:02d}", "enum", tuple(f"v{j}" for j in range(size))))
        for i in range(n_bool):
            facts.append(Fact(f"{root}.flag_{i:02d}", "bool"))
        for i in range(n_num):
            facts.append(Fact(f"{root}.amount_{i:02d}", "number"))
    facts.append(Fact("order.tags", "set"))
    return facts


class _Exprs:
    """Random conditions over the facts and the named conditions defined so far."""

    def __init__(self, rng: random.Random, facts: list[Fact]) -> None:
        self.rng = rng
        self.enums = [f for f in facts if f.type == "enum"]
        self.bools = [f for f in facts if f.type == "bool"]
        self.numbers = [f for f in facts if f.type == "number"]
        self.conditions: list[str] = []

    def atom(self, allow_refs: bool = True) -> str:
        rng = self.rng
        kind = rng.choices(("enum", "bool", "number", "tag", "ref"),
                           weights=(35, 20, 25, 8, 12 if allow_refs and self.conditions else 0))[0]
        if kind == "enum":
            fact = rng.choice(self.enums)
            pick = rng.random()
            if pick < 0.4:
                return f"{fact.name} == '{rng.choice(fact.values)}'"
            if pick < 0.6:
                return f"{fact.name} != '{rng.choice(fact.values)}'"
            members = rng.sample(fact.values, rng.randint(2, max(2, len(fact.values) - 1)))
            op = "in" if pick < 0.9 else "not in"
            return f"{fact.name} {op} [{', '.join(repr(m) for m in members)}]"
        if kind == "bool":
            fact = rng.choice(self.bools)
            return fact.name if rng.random() < 0.6 else f"not {fact.name}"
        if kind == "number":
            fact = rng.choice(self.numbers)
            op = rng.choice((">", ">=", "<", "<="))
            if rng.random() < 0.2:
                other = rng.choice([f for f in self.numbers if f is not fact])
                return f"{fact.name} {op} {other.name}"
            bound = rng.choice((0, 10, 50, 100, 250, 500, 999.5, 1000, 2500))
            return f"{fact.name} {op} {bound}"
        if kind == "tag":
            return f"'{rng.choice(TAGS)}' in order.tags"
        ref = rng.choice(self.conditions)
        return ref if rng.random() < 0.7 else f"not {ref}"

    def expr(self, max_atoms: int = 3) -> str:
        rng = self.rng
        atoms = [self.atom() for _ in range(rng.randint(1, max_atoms))]
        if len(atoms) == 1:
            return atoms[0]
        if len(atoms) == 3 and rng.random() < 0.5:
            inner = rng.choice((" and ", " or "))
            outer = " or " if inner == " and " else " and "
            return f"({atoms[0]}{inner}{atoms[1]}){outer}{atoms[2]}"
        return rng.choice((" and ", " or ")).join(atoms)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def generate(*, actions: int = 220, guards: int = 2200, conditions: int = 80, seed: int = 20240602) -> Synthetic:
    """A synthetic policy with ``actions`` actions, exactly ``guards`` deny guards, ``conditions`` named conditions."""
    if guards < actions * 5 or guards > actions * 15:
        raise ValueError("guards must be between 5 and 15 per action")
    rng = random.Random(seed)
    facts = _facts(rng)
    exprs = _Exprs(rng, facts)
    lines = ["# Generated by bench/synthetic.py: a large synthetic policy for the benchmark. Do not edit.",
             "apiVersion: policyengine/v1", "kind: ActionPolicy", "name: synthetic", "version: 1",
             "description: A large synthetic policy (benchmark of load and compile time).", "", "facts:"]
    for fact in facts:
        lines.append(f"  {fact.name}:")
        lines.append(f"    type: {fact.type}")
        if fact.type == "enum":
            lines.append(f"    values: [{', '.join(fact.values)}]")
    lines += ["", "conditions:"]
    for i in range(conditions):
        text = exprs.expr()
        lines.append(f"  cond_{i:03d}: {_q(text)}")
        exprs.conditions.append(f"cond_{i:03d}")

    # 5..15 guards per action, summing exactly to `guards`
    per_action = [5] * actions
    extra = guards - 5 * actions
    while extra:
        i = rng.randrange(actions)
        if per_action[i] < 15:
            per_action[i] += 1
            extra -= 1
    total_effects = 0
    lines += ["", "actions:"]
    for a in range(actions):
        lines.append(f"  action_{a:03d}:")
        lines.append(f"    label: Action {a:03d}")
        if rng.random() < 0.5:
            lines.append(f"    visible: {{when: {_q(exprs.expr(2))}, reason: Not shown for this order.}}")
        lines.append(f"    allow: {{when: {_q(exprs.expr(2))}, reason: \"Not allowed: action {a:03d}.\"}}")
        lines.append("    deny:")
        for g in range(per_action[a]):
            lines.append(f"      - id: g{g:02d}")
            lines.append(f"        when: {_q(exprs.expr())}")
            lines.append(f"        reason: Guard {g:02d} of action {a:03d} applies.")
        if rng.random() < 0.3:
            lines.append(f"    confirm: Really run action {a:03d}?")
        lines.append("    effects:")
        n_effects = rng.randint(1, 3)
        total_effects += n_effects
        for e in range(n_effects):
            lines.append(f"      - operation: op_{a:03d}_{e}")
            if e > 0:
                lines.append(f"        when: {_q(exprs.atom())}")
    return Synthetic("\n".join(lines) + "\n", tuple(facts), conditions, actions, guards, total_effects)


def random_pairs(synthetic: Synthetic, n: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` random (order, user) dicts with every fact of ``synthetic`` (``store.*`` under ``order["store"]``)."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        order: dict[str, Any] = {"id": i, "store": {}}
        user: dict[str, Any] = {}
        for fact in synthetic.facts:
            root, key = fact.name.split(".")
            target = user if root == "user" else order["store"] if root == "store" else order
            if fact.type == "enum":
                target[key] = rng.choice(fact.values)
            elif fact.type == "bool":
                target[key] = rng.random() < 0.5
            elif fact.type == "number":
                target[key] = rng.choice((0, 10, 50, 100, 250, 500, 999.5, 1000, 2500, rng.randint(0, 3000),
                                          round(rng.uniform(0, 3000), 2)))
            else:
                target[key] = rng.sample(TAGS, rng.randint(0, 3))
        pairs.append((order, user))
    return pairs


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (``VmHWM``, Linux), which unlike ``ru_maxrss`` is not inherited through exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure_load(path: Path, rounds: int) -> dict[str, Any]:
    """Time ``policyengine.load(path)`` ``rounds`` times in this process; peak RSS and what was built."""
    sys.path.insert(0, str(ROOT))
    import policyengine  # noqa: PLC0415 - imported here so that the import is not part of the RSS baseline's cost

    rss_after_import_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times_ms = []
    cpu_ms = []
    engine = None
    for _ in range(rounds):
        engine = None
        gc.collect()
        start, cpu = time.perf_counter_ns(), time.process_time_ns()
        engine = policyengine.load(path)
        cpu_ms.append((time.process_time_ns() - cpu) / 1e6)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)
    assert engine is not None
    policy = engine.policy
    return {
        "times_ms": [round(t, 1) for t in times_ms],
        "cpu_ms": [round(t, 1) for t in cpu_ms],
        "rss_after_import_mb": rss_after_import_kb / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: ru_maxrss is in KiB
        "vm_hwm_mb": vm_hwm_mb(),
        "specialised": engine.specialised,
        "actions": len(policy.actions),
        "guards": sum(len(a.guards) for a in policy.actions),
        "facts": len(policy.facts),
        "conditions": len(policy.conditions),
        "generated_source_lines": engine.generated_source.count("\n"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the generated policy to this file")
    parser.add_argument("--measure-load", type=Path, metavar="PATH", help="time policyengine.load(PATH); print JSON")
    parser.add_argument("--rounds", type=int, default=5, help="load rounds for --measure-load (default 5)")
    parser.add_argument("--actions", type=int, default=220)
    parser.add_argument("--guards", type=int, default=2200)
    parser.add_argument("--conditions", type=int, default=80)
    parser.add_argument("--seed", type=int, default=20240602)
    args = parser.parse_args(argv)
    if args.measure_load:
        print(json.dumps(measure_load(args.measure_load, args.rounds)))
        return 0
    synthetic = generate(actions=args.actions, guards=args.guards, conditions=args.conditions, seed=args.seed)
    if args.out:
        args.out.write_text(synthetic.text, encoding="utf-8")
    kinds = {t: sum(1 for f in synthetic.facts if f.type == t) for t in ("enum", "bool", "number", "set")}
    print(f"synthetic policy: {len(synthetic.facts)} facts {kinds}, {synthetic.conditions} conditions, "
          f"{synthetic.actions} actions, {synthetic.guards} guards, {synthetic.effects} effects, "
          f"{len(synthetic.text.splitlines())} lines" + (f" -> {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
