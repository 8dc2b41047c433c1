"""The files of the directory the studio edits: listed in trust-layout order, read and saved only inside it.

Every path the browser names is relative to the directory, made of plain parts (no ``..``, no absolute path, no
hidden part), and checked again after resolving symlinks, so no request can reach a file outside it. Saving writes
a temporary file next to the target and renames it over the target: a reader sees the old text or the new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import attrs

from ..layout import PLACES, layout_parts
from ..pipeline.yamlsource import MAX_FILE_BYTES, NotReadable, read_regular_file

__all__ = ["FileEntry", "Workspace", "PathRefused", "TooLarge", "MAX_EDITS", "GROUPS"]

MAX_EDITS = 64
"""The most edited files one request may carry."""

GROUPS = (("", "Versions"), (PLACES["StoreOverride"], "Stores"), (PLACES["PolicyTestSuite"], "Tests"),
          (PLACES["PolicyInvariants"], "Invariants"))
"""The trust layout's places, in the order the studio lists them, with their titles."""


class PathRefused(ValueError):
    """A path the studio will not read or write: outside the directory, hidden, not a YAML file of the layout."""


class TooLarge(PathRefused):
    """An edit over the size limits (:data:`MAX_EDITS` files, each of at most ``MAX_FILE_BYTES``)."""


@attrs.frozen(slots=True)
class FileEntry:
    path: str
    """Relative to the directory, with ``/``."""
    group: str
    """The title of its place (:data:`GROUPS`), or ``Other`` for a file outside the layout."""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "group": self.group}


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


@attrs.frozen(slots=True)
class Workspace:
    """The policy directory ``root`` (resolved) the studio reads and writes."""

    root: Path = attrs.field(converter=_real)

    def files(self) -> tuple[FileEntry, ...]:
        """Every YAML file of the layout, grouped by place in :data:`GROUPS` order, sorted by path within each."""
        titles = dict(GROUPS)
        order = {place: i for i, (place, _) in enumerate(GROUPS)}
        entries = []
        for parts in layout_parts(self.root):
            place = "" if len(parts) == 1 else parts[0]
            entries.append((order.get(place, len(order)), parts, FileEntry("/".join(parts), titles.get(place, "Other"))))
        return tuple(e for _, _, e in sorted(entries, key=lambda t: (t[0], t[1])))

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        """Each file's path, size and modification time: what was loaded from the disk is stale when it changes."""
        out = []
        for entry in self.files():
            try:
                info = os.stat(self.root / entry.path)
            except OSError:
                continue
            out.append((entry.path, info.st_size, info.st_mtime_ns))
        return tuple(out)

    def resolve(self, relative: str) -> Path:
        """The file ``relative`` names inside the directory; raises :class:`PathRefused` for anything else."""
        if not relative or len(relative) > 1024 or "\\" in relative or "\0" in relative or relative.startswith("/"):
            raise PathRefused(f"not a path inside the policy directory: {relative[:100]!r}")
        parts = relative.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise PathRefused(f"not a path inside the policy directory: {relative[:100]!r}")
        if not relative.endswith((".yaml", ".yml")):
            raise PathRefused(f"not a YAML file: {relative[:100]!r}")
        target = Path(os.path.realpath(self.root.joinpath(*parts)))
        if not target.is_relative_to(self.root):
            raise PathRefused(f"{relative[:100]!r} leads outside the policy directory")
        return target

    def known(self, relative: str) -> Path:
        """:meth:`resolve`, for a file the directory lists (the studio edits existing files only)."""
        target = self.resolve(relative)
        if relative not in {e.path for e in self.files()}:
            raise PathRefused(f"no such policy file: {relative[:100]!r}")
        return target

    def read(self, relative: str) -> str:
        try:
            raw = read_regular_file(self.known(relative), MAX_FILE_BYTES)
        except NotReadable as err:
            raise PathRefused(f"{relative}: cannot read it ({err.reason})") from None
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PathRefused(f"{relative}: not UTF-8 text") from None

    def overlay(self, edits: Mapping[str, str]) -> dict[str | Path, str]:
        """The edited texts by their resolved paths, for :func:`policyengine.pipeline.yamlsource.overlay`."""
        if len(edits) > MAX_EDITS:
            raise TooLarge(f"{len(edits)} edited files; the limit is {MAX_EDITS}")
        out: dict[str | Path, str] = {}
        for relative, text in edits.items():
            if len(text.encode("utf-8")) > MAX_FILE_BYTES:
                raise TooLarge(f"{relative}: over {MAX_FILE_BYTES} bytes")
            out[self.known(relative)] = text
        return out

    def save(self, relative: str, text: str) -> None:
        """Write ``text`` to the file exactly as given, atomically (a temporary file renamed over it)."""
        target = self.known(relative)
        data = text.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise TooLarge(f"{relative}: over {MAX_FILE_BYTES} bytes")
        mode = target.stat().st_mode & 0o777
        fd, temporary = tempfile.mkstemp(prefix=".studio-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
