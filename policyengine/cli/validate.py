"""``policyengine validate [PATH]``: check that the policies load; print every problem."""

from __future__ import annotations

import argparse
import json

from ..engine import load
from .common import EXIT_OK, add_path

HELP = "check that the policies load; print every problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    engine = load(args.path)
    if args.format == "json":
        print(json.dumps({"ok": True, "policy": engine.name, "versions": list(engine.versions),
                          "stores": list(engine.stores), "revision": engine.revision, "diagnostics": []}))
        return EXIT_OK
    policy = engine.policy
    versions = ", ".join(str(v) for v in engine.versions)
    print(f"ok: {args.path}: {engine.name} (versions: {versions}; latest has {len(policy.actions)} actions, "
          f"{len(policy.facts)} facts, {len(policy.conditions)} conditions)")
    for store in engine.stores:
        override = engine.store_override(store)
        assert override is not None
        print(f"  store {store}: override {override.override.label} on {engine.name}@{override.base_version}")
    return EXIT_OK
