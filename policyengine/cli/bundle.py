"""``policyengine bundle``: build, sign and verify the signed policy bundles a fleet of services polls
(``policyengine serve --bundle URL --bundle-key KEY``; see :mod:`policyengine.service.bundle`).

    policyengine bundle keygen -o KEY              # KEY (private, PEM) and KEY.pub
    policyengine bundle build policies -o set.bundle
    policyengine bundle sign set.bundle --key KEY -o set.signed
    policyengine bundle verify set.signed --key KEY.pub
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .common import EXIT_OK, UsageError

HELP = "build, sign and verify signed policy bundles for serve --bundle (needs policyengine[serve])"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = sub.add_parser("keygen", help="write a new Ed25519 key pair: FILE (private) and FILE.pub")
    keygen.add_argument("-o", "--output", required=True, metavar="FILE")
    build = sub.add_parser("build", help="a compressed archive of the files that decide, their revision and a "
                                         "manifest (the policies must load)")
    build.add_argument("path", help="the policy directory")
    build.add_argument("-o", "--output", required=True, metavar="FILE")
    sign = sub.add_parser("sign", help="sign a bundle with an Ed25519 private key")
    sign.add_argument("bundle", metavar="FILE")
    sign.add_argument("--key", required=True, metavar="PRIVATE_KEY")
    sign.add_argument("-o", "--output", required=True, metavar="FILE")
    verify = sub.add_parser("verify", help="check a signed bundle's signature, files and revision, and load it")
    verify.add_argument("bundle", metavar="FILE")
    verify.add_argument("--key", required=True, metavar="PUBLIC_KEY")


def _read(path: str, what: str, limit: int) -> bytes:
    from ..pipeline.yamlsource import NotReadable, read_regular_file

    try:
        return read_regular_file(path, limit)
    except NotReadable as err:
        raise UsageError(f"{what}: cannot read {path} ({err.reason})") from None


def _write(path: str, data: bytes, private: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except OSError as err:
        raise UsageError(f"cannot write {path} ({err.strerror})") from None


def run(args: argparse.Namespace) -> int:
    try:
        from ..service import bundle
    except ImportError as err:
        raise UsageError(f"needs the serve extra: pip install 'policyengine[serve]' ({err})") from None
    from ..loader import load

    try:
        if args.action == "keygen":
            private, public = bundle.generate_key()
            _write(args.output, private, private=True)
            _write(args.output + ".pub", public)
            print(f"wrote {args.output} (private: keep it secret) and {args.output}.pub", file=sys.stderr)
        elif args.action == "build":
            if not Path(args.path).is_dir():
                raise UsageError(f"{args.path}: not a policy directory")
            engine = load(args.path)  # a PolicyError exits 3 with every diagnostic, as validate does
            _write(args.output, bundle.build_bundle(Path(args.path), engine.revision))
            print(f"{args.output}: revision {engine.revision}", file=sys.stderr)
        elif args.action == "sign":
            signed = bundle.sign_bundle(_read(args.bundle, "bundle", bundle.MAX_BYTES),
                                        _read(args.key, "--key", 1 << 16))
            _write(args.output, signed)
        else:
            key = bundle.load_public_key(_read(args.key, "--key", 1 << 16))
            with tempfile.TemporaryDirectory() as directory:
                unpacked = bundle.open_bundle(_read(args.bundle, "bundle", bundle.MAX_BYTES + 4096), key,
                                              Path(directory))
                engine = load(unpacked.directory)
                if engine.revision != unpacked.revision:
                    raise bundle.BundleError("the files do not have the revision the manifest says")
            print(f"{args.bundle}: signature good, revision {engine.revision}")
    except bundle.BundleError as err:
        print(f"policyengine bundle: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # a key that is not PEM
        raise UsageError(f"--key: {err}") from None
    return EXIT_OK
