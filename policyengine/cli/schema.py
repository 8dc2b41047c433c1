"""``policyengine schema [DIR]``: write the JSON Schemas of the policy files into DIR, for editors and other tools.

The files are the package's own, byte for byte. Each schema's ``$id`` is its file name and the schemas refer to
each other by file name (``"$ref": "policy.schema.json#/$defs/fact"``): a relative ``$id`` resolves against the
place the schema was read from, so the ``$id``s and cross-file ``$ref``s of the written files resolve to the
written files, wherever DIR is (a VS Code ``# yaml-language-server: $schema=schemas/policy.schema.json`` line, or
``jsonschema`` with a ``referencing`` registry reading DIR). No network address is involved.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from .common import EXIT_OK, UsageError, write_output

HELP = "write the JSON Schemas of the policy files into a directory, for editors and other tools"

SUFFIX = ".schema.json"


EPILOG = ("Each schema's $id is its file name, so the files refer to each other wherever they are written. Point a "
          "policy file at its schema with a first line such as: # yaml-language-server: $schema=schemas/policy.schema.json "
          "(the path relative to the YAML file).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("dir", metavar="DIR", nargs="?", default=".",
                        help="where to write them (created if missing; default: the current directory)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def packaged() -> dict[str, bytes]:
    """The package's JSON Schemas, by file name (``policy.schema.json``, ...)."""
    folder = resources.files("policyengine").joinpath("schemas")
    return {entry.name: entry.read_bytes() for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(SUFFIX)}


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission, a read-only file system
        raise UsageError(f"cannot create directory {target} ({err.strerror or err})") from None
    written = []
    for name, data in packaged().items():
        path = target / name
        write_output(str(path), data, "DIR")
        schema = json.loads(data)
        written.append({"file": str(path), "kind": schema.get("properties", {}).get("kind", {}).get("const"),
                        "$id": schema.get("$id")})
    if args.format == "json":
        print(json.dumps({"ok": True, "schemas": written}, indent=2))
    else:
        for entry in written:
            print(f"wrote {entry['file']} ({entry['kind']})")
    return EXIT_OK
