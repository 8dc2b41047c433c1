"""Signed policy bundles: one file a fleet of services polls instead of each replica holding the files on disk.

A bundle is a gzip-compressed tar of the files that decide (:func:`~policyengine.layout.deciding_files`) and a
``manifest.json`` (format, the set's revision, each file's SHA-256). A *signed* bundle is ``MAGIC``, an Ed25519
signature (64 bytes) of the rest, and the bundle itself: a truncated download or a changed byte fails the signature
before anything is unpacked. :func:`open_bundle` verifies, unpacks with bounds (regular files only, relative paths,
the same per-file limit as ``load``, at most :data:`MAX_FILES` files and :data:`MAX_BYTES` in all) into a fresh
directory, and checks every file against the manifest; the caller then loads that directory through the same
checks as any other, and the engine's revision must be the manifest's.

Keys are PEM files (``policyengine bundle keygen``). Needs ``cryptography`` (the ``serve`` extra).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from ..layout import deciding_files, read_bounded
from ..pipeline.yamlsource import MAX_FILE_BYTES

__all__ = ["MAGIC", "MAX_BYTES", "MAX_FILES", "BundleError", "BundleSource", "Fetched", "Unpacked", "build_bundle",
           "generate_key", "load_public_key", "open_bundle", "sign_bundle", "verify"]

MAGIC = b"policyengine-signed-bundle/1\n"
FORMAT = "policyengine-bundle/1"
MAX_FILES = 100_000
MAX_BYTES = 512 << 20
"""The most a bundle may unpack to (bytes): a bundle is refused past it, never unpacked to the end."""
_SIGNATURE = 64


class BundleError(Exception):
    """A bundle refused: a bad signature, a truncated or malformed archive, a file that does not match."""


@attrs.frozen
class Unpacked:
    directory: Path
    revision: str
    digest: str
    """SHA-256 of the signed bundle as received."""


def build_bundle(directory: Path, revision: str) -> bytes:
    """The bundle of the deciding files under ``directory`` (whose loaded set has ``revision``)."""
    files = {file.relative_to(directory).as_posix(): read_bounded(file) for file in deciding_files(directory)}
    manifest = {"format": FORMAT, "revision": revision,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=9) as tar:
        for name, data in [("manifest.json", json.dumps(manifest, indent=1).encode()), *sorted(files.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0  # mtime 0: the same files, the same bytes
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def generate_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as PEM: (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def sign_bundle(bundle: bytes, private_pem: bytes) -> bytes:
    """``bundle`` signed with the Ed25519 private key ``private_pem``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError("the signing key is not an Ed25519 private key")
    if bundle.startswith(MAGIC):
        raise BundleError("the bundle is signed already")
    return MAGIC + key.sign(bundle) + bundle


def load_public_key(public_pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(public_pem)
    except ValueError as err:
        raise BundleError(f"not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("the key is not an Ed25519 public key")
    return key


def verify(signed: bytes, public_key: Any) -> bytes:
    """The bundle inside ``signed`` once its signature checks; :class:`BundleError` otherwise."""
    from cryptography.exceptions import InvalidSignature

    if not signed.startswith(MAGIC):
        raise BundleError("not a signed policyengine bundle")
    signature, bundle = signed[len(MAGIC):len(MAGIC) + _SIGNATURE], signed[len(MAGIC) + _SIGNATURE:]
    try:
        public_key.verify(signature, bundle)
    except InvalidSignature:
        raise BundleError("the signature does not match (a changed or truncated bundle, or another key)") from None
    return bundle


def open_bundle(signed: bytes, public_key: Any, into: Path) -> Unpacked:
    """Verify ``signed`` and unpack its files into a new directory under ``into``."""
    bundle = verify(signed, public_key)
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            for member in tar:
                path = PurePosixPath(member.name)
                if not member.isfile() or path.is_absolute() or ".." in path.parts or member.name in files:
                    raise BundleError(f"refused member {member.name!r}: only files at relative paths")
                if member.size > MAX_FILE_BYTES or len(files) >= MAX_FILES or total + member.size > MAX_BYTES:
                    raise BundleError(f"refused member {member.name!r}: over the bundle's limits")
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file
                files[member.name] = extracted.read(member.size + 1)
                total += member.size
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BundleError(f"not a readable bundle ({err})") from None
    try:
        manifest = json.loads(files.pop("manifest.json"))
        assert manifest["format"] == FORMAT and isinstance(manifest["revision"], str)
        listed: dict[str, str] = manifest["files"]
    except (KeyError, ValueError, AssertionError, TypeError):
        raise BundleError("the bundle has no valid manifest.json") from None
    if set(listed) != set(files):
        raise BundleError("the bundle's files are not the ones its manifest lists")
    directory = Path(tempfile.mkdtemp(prefix="bundle-", dir=into))
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise BundleError(f"{name} does not match the manifest")
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return Unpacked(directory, manifest["revision"], hashlib.sha256(signed).hexdigest())


@attrs.frozen
class Fetched:
    """A new bundle: unpacked (``directory``, ``revision``) or refused (``error``); ``digest`` names its bytes."""

    digest: str
    directory: Path | None = None
    revision: str = ""
    error: str | None = None


class BundleSource:
    """Polls the URL of a signed bundle: ``If-None-Match`` with the last ETag, a doubling back-off (up to
    :data:`MAX_BACKOFF` seconds) while the server cannot be reached, and bundles already tried skipped by their
    digest. Each new bundle is verified and unpacked into a private directory; only the one serving is kept."""

    MAX_BACKOFF = 300.0

    def __init__(self, url: str, public_pem: bytes, poll_seconds: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise BundleError(f"a bundle URL is http:// or https://, got {url!r}")
        self.url = url
        self.key = load_public_key(public_pem)
        self.poll_seconds = poll_seconds
        self.root = Path(tempfile.mkdtemp(prefix="policyengine-bundles-"))
        self.etag: str | None = None
        self.seen: set[str] = set()
        self.failures = 0
        self.serving: Path | None = None

    def delay(self) -> float:
        return min(self.MAX_BACKOFF, self.poll_seconds * float(2 ** min(self.failures, 16)))

    def fetch(self) -> Fetched | None:
        """The bundle if it is new (verified and unpacked, or refused with why); None when nothing is new."""
        import logging
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url, headers={"If-None-Match": self.etag} if self.etag else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) only, checked
                signed = response.read(MAX_BYTES + 1)
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as err:
            if err.code == 304:
                self.failures = 0
                return None
            self._unreachable(f"HTTP {err.code}")
            return None
        except (OSError, ValueError) as err:  # refused, timed out, reset mid-body
            self._unreachable(str(getattr(err, "reason", None) or err))
            return None
        self.failures = 0
        digest = hashlib.sha256(signed).hexdigest()
        if digest in self.seen:
            self.etag = etag
            return None
        self.seen.add(digest)
        try:
            unpacked = open_bundle(signed, self.key, self.root)
        except BundleError as err:
            logging.getLogger("policyengine.live").warning("bundle %s refused: %s", self.url, err)
            return Fetched(digest, error=f"bundle refused: {err}")
        self.etag = etag
        return Fetched(digest, unpacked.directory, unpacked.revision)

    def _unreachable(self, why: str) -> None:
        import logging

        self.failures += 1
        logging.getLogger("policyengine.live").warning("bundle %s: %s; polling again in %.0f s", self.url, why,
                                                       self.delay())

    def settled(self, fetched: Fetched, serving: bool) -> None:
        """The load of ``fetched`` is done: keep its directory if it serves, and drop the one it replaced."""
        import shutil

        if fetched.directory is None:
            return
        drop = self.serving if serving else fetched.directory
        if serving:
            self.serving = fetched.directory
        if drop is not None:
            shutil.rmtree(drop, ignore_errors=True)
