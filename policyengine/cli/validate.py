"""``policyengine validate [PATH]``: check that the policies load; print every problem."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import PolicyError
from ..loader import load
from ..toolkit.companions import companion_diagnostics
from .common import EXIT_OK, add_path

HELP = "check that the policies load, and that their test suites and invariants are valid; print every problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    engine = load(args.path)
    root = Path(args.path)
    problems = companion_diagnostics(engine, root) if root.is_dir() else []  # tests/ and invariants/ too
    if problems:
        raise PolicyError(problems)
    unlocks = [(engine.version_policy(v).spec.label, u) for v in engine.versions for u in engine.version_policy(v).spec.unlocks]
    if args.format == "json":
        print(json.dumps({"ok": True, "policy": engine.name, "versions": list(engine.versions),
                          "stores": list(engine.stores), "revision": engine.revision, "diagnostics": [],
                          "unlocks": [{"version": label, "action": u.action, "part": u.part, "guard": u.guard,
                                       "reason": u.reason} for label, u in unlocks]}))
        return EXIT_OK
    policy = engine.policy
    versions = ", ".join(str(v) for v in engine.versions)
    print(f"ok: {args.path}: {engine.name} (versions: {versions}; latest has {len(policy.actions)} actions, "
          f"{len(policy.facts)} facts, {len(policy.conditions)} conditions)")
    for store in engine.stores:
        override = engine.store_override(store)
        assert override is not None
        print(f"  store {store}: override {override.override.label} on {engine.name}@{override.base_version}")
    for label, unlock in unlocks:
        print(f"  {label} unlocks {unlock.what}: {unlock.reason}")
    return EXIT_OK
