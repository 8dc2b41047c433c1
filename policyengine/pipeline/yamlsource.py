"""Stage 1, load: read one YAML file into plain data while keeping the position of every key and value.

We build the document from PyYAML's event stream rather than from ``yaml.safe_load`` because the events carry exact
marks, and because it lets us refuse, at the first offending event, what a policy file must never contain: anchors
and aliases (an alias bomb is refused before anything is expanded), explicit tags, duplicate keys, non-string keys,
implicit timestamps and multiple documents. The builder is iterative, so nesting depth is bounded by the parser
(libyaml stops at 1,000 levels), never by Python's recursion limit. PyYAML's C parser is used when it is installed.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import attrs
import yaml

from ..errors import Diagnostic, PolicyError
from .hints import yaml_syntax_fix

__all__ = ["Mark", "Document", "display_name", "read_document", "read_regular_file", "NotReadable", "missing", "is_directory",
           "parse_document", "MAX_FILE_BYTES", "overlay", "overlaid"]

MAX_FILE_BYTES = 1024 * 1024
"""Policy files are small; anything larger is refused before parsing (a cheap guard against hostile input)."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_SCALARS = yaml.constructor.SafeConstructor()
# The constructor's scalar methods, called directly: they keep no state. (Its construct_object remembers every node
# it ever built in `constructed_objects`, so one shared constructor kept every scalar of every load alive.)
_CORE_TAGS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:str": _SCALARS.construct_yaml_str,
    "tag:yaml.org,2002:int": _SCALARS.construct_yaml_int,
    "tag:yaml.org,2002:float": _SCALARS.construct_yaml_float,
    "tag:yaml.org,2002:bool": _SCALARS.construct_yaml_bool,
    "tag:yaml.org,2002:null": _SCALARS.construct_yaml_null,
}
_NODE_EVENTS = frozenset({yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent})
"""The events that may carry an anchor."""
_EMPTY_HINT = "a policy file is a YAML mapping with apiVersion and kind"

Path_ = tuple[str | int, ...]


@attrs.frozen(slots=True)
class Mark:
    """A 1-based source position; ``index`` is the 0-based character offset of the node in the file."""

    line: int
    column: int
    index: int = 0


@attrs.frozen(slots=True)
class Document:
    """A loaded YAML file: its plain data, and where each value (``marks``) and mapping key (``key_marks``) stands.

    Both maps are keyed by the JSON path of the value, e.g. ``("actions", "reset", "deny", 0, "when")``.
    """

    file: str
    data: Any
    marks: dict[Path_, Mark] = attrs.field(eq=False, repr=False)
    key_marks: dict[Path_, Mark] = attrs.field(eq=False, repr=False)
    text: str = attrs.field(default="", eq=False, repr=False)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """The position of ``path`` (of its key with ``key=True``), or of its nearest located ancestor."""
        table = self.key_marks if key else self.marks
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.key_marks:
                return self.key_marks[probe]
            probe = probe[:-1]
        return self.marks.get((), Mark(1, 1))

    def where(self, path: Path_, *, key: bool = False) -> str:
        """``file:line:col`` of ``path``."""
        mark = self.mark(path, key=key)
        return f"{self.file}:{mark.line}:{mark.column}"

    def diagnostic(self, path: Path_, message: str, *, hint: str | None = None, key: bool = False,
                   offset: int = 0) -> Diagnostic:
        """A diagnostic at ``path``; ``offset`` is a character offset into the scalar's value (a condition)."""
        mark = self.mark(path, key=key)
        line, column = (mark.line, mark.column)
        if offset and not key and tuple(path) in self.marks:
            line, column = self._locate(mark, path, offset)
        return Diagnostic(self.file, line, column, message, tuple(path), hint)

    def _locate(self, mark: Mark, path: Path_, offset: int) -> tuple[int, int]:
        """Map an offset in a scalar's value to its line and column in the file, through quotes, escapes and
        line folding: walk the source and the value together, matching characters."""
        value = self._value_at(path)
        if not isinstance(value, str) or offset > len(value):
            return mark.line, mark.column
        text, j = self.text, mark.index
        if j < len(text) and text[j] in "'\"":
            j += 1
        for ch in value[:offset]:
            if ch.isspace():
                while j < len(text) and text[j] in " \t\r\n" and not (ch == "\n" and text[j] == "\n" and False):
                    j += 1
                    if j < len(text) and not text[j].isspace():
                        break
            else:
                while j < len(text) and text[j] != ch:
                    j += 1
                j += 1
        target = value[offset] if offset < len(value) else None
        while target is not None and j < len(text) and text[j] != target:
            j += 1
        line = text.count("\n", 0, j) + 1
        return line, j - (text.rfind("\n", 0, j) + 1) + 1

    def source(self, path: Path_) -> str:
        """The text a plain scalar at ``path`` was written as (``no`` for a value YAML read as false), up to the next
        separator; empty when ``path`` has no position of its own."""
        mark = self.marks.get(tuple(path))
        if mark is None:
            return ""
        end = mark.index
        while end < len(self.text) and self.text[end] not in ",]}#\r\n":
            end += 1
        return self.text[mark.index:end].strip()

    def _value_at(self, path: Path_) -> Any:
        node = self.data
        for part in path:
            node = node[part]
        return node


class _Reject(Exception):
    def __init__(self, mark: Any, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.mark, self.message, self.hint = mark, message, hint


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


class _Builder:
    """Turns the event stream of a single document into plain data plus position tables, without recursion."""

    def __init__(self, events: Iterator[Any]) -> None:
        self.events = events
        self.marks: dict[Path_, Mark] = {}
        self.key_marks: dict[Path_, Mark] = {}

    def next(self) -> Any:
        event = next(self.events)
        kind = type(event)
        if kind is yaml.AliasEvent or (kind in _NODE_EVENTS and event.anchor is not None):
            self._refuse(event)
        return event

    @staticmethod
    def _refuse(event: Any) -> None:
        if type(event) is yaml.AliasEvent:
            raise _Reject(event.start_mark, "YAML aliases are not allowed in policy files",
                          "write the value out; aliases make policies hard to read and can explode in size")
        raise _Reject(event.start_mark, f"YAML anchors are not allowed in policy files (&{event.anchor})",
                      "write the value out instead of anchoring it")

    def document(self) -> Any:
        """Build the value whose first event comes next."""
        # Each frame: [container, its path, the pending key of a mapping (None: a key is expected next), whether
        # it is a mapping]. Events are told apart by their exact class (the parser makes no subclasses).
        stack: list[list[Any]] = []
        marks, events = self.marks, self.events
        while True:
            event = next(events)  # self.next, inline: this loop runs once per event of every file
            kind = type(event)
            if kind is yaml.AliasEvent or (kind in _NODE_EVENTS and event.anchor is not None):
                self._refuse(event)
            top = stack[-1] if stack else None
            if top is not None and top[3] and top[2] is None:
                if kind is yaml.MappingEndEvent:
                    value = stack.pop()[0]
                else:
                    top[2] = self.key(event, top)
                    continue
            elif kind is yaml.SequenceEndEvent:
                value = stack.pop()[0]
            else:
                path: Path_ = () if top is None else (*top[1], top[2] if top[3] else len(top[0]))
                start = event.start_mark
                marks[path] = Mark(start.line + 1, start.column + 1, start.index)
                if kind is yaml.ScalarEvent:
                    value = self.scalar(event)
                elif kind is yaml.MappingStartEvent:
                    self._check_tag(event, "tag:yaml.org,2002:map")
                    stack.append([{}, path, None, True])
                    continue
                elif kind is yaml.SequenceStartEvent:
                    self._check_tag(event, "tag:yaml.org,2002:seq")
                    stack.append([[], path, None, False])
                    continue
                else:
                    raise _Reject(event.start_mark, f"unexpected YAML event {kind.__name__}")
            if not stack:
                return value
            parent = stack[-1]
            if parent[3]:
                parent[0][parent[2]] = value
                parent[2] = None
            else:
                parent[0].append(value)

    def key(self, event: Any, frame: list[Any]) -> str:
        if type(event) is not yaml.ScalarEvent:
            raise _Reject(event.start_mark, "mapping keys must be plain strings, not collections")
        key = self.scalar(event)
        if type(key) is not str:
            got = _kind_of(key) if key is None else f"{_kind_of(key)} ({event.value})"
            raise _Reject(event.start_mark, f"mapping keys must be strings, got {got}",
                          f'quote the key: "{event.value}"')
        key_path = (*frame[1], key)
        if key in frame[0]:
            first = self.key_marks[key_path]
            raise _Reject(event.start_mark, f"duplicate key {key!r} (first defined at line {first.line})",
                          "each key may appear once in a mapping")
        start: Any = event.start_mark
        self.key_marks[key_path] = Mark(start.line + 1, start.column + 1, start.index)
        return key

    def scalar(self, event: Any) -> Any:
        plain = event.implicit[0]
        if event.tag not in (None, "!") and not plain:
            if event.tag != "tag:yaml.org,2002:str":
                raise _Reject(event.start_mark, f"explicit YAML tags are not allowed ({event.tag})")
            return event.value
        if event.style is not None and event.style != "":
            return event.value  # quoted or block scalars are always strings
        tag, value = _plain(event.value)
        if value is not _REFUSED:
            return value
        if tag == "tag:yaml.org,2002:timestamp":
            raise _Reject(event.start_mark, f"unquoted date/time {event.value!r} is ambiguous",
                          f'quote it if you mean the text: "{event.value}"')
        if tag in _CORE_TAGS:  # an integer of thousands of digits: Python refuses to convert it
            raise _Reject(event.start_mark, f"number too large ({len(event.value)} characters)",
                          "policy numbers are small; quote it if you mean the text")
        raise _Reject(event.start_mark, f"unsupported YAML value {event.value!r:.80} ({tag})")

    @staticmethod
    def _check_tag(event: Any, expected: str) -> None:
        if event.tag not in (None, "!", expected):
            raise _Reject(event.start_mark, f"explicit YAML tags are not allowed ({event.tag})")


_REFUSED = object()


@functools.lru_cache(maxsize=4096)
def _plain(text: str) -> tuple[str, Any]:
    """A plain scalar's tag and value (``_REFUSED``: a timestamp, another tag, a number Python will not convert),
    a pure function of its text: keys and values repeat across thousands of store files, and resolving each one
    through the resolver's patterns was a third of building a document."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    construct = _CORE_TAGS.get(tag) if tag != "tag:yaml.org,2002:timestamp" else None
    if construct is None:
        return tag, _REFUSED
    try:
        return tag, construct(yaml.ScalarNode(tag, text))
    except ValueError:
        return tag, _REFUSED


def _position(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _syntax_error(file: str, err: yaml.MarkedYAMLError, text: str = "") -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"YAML syntax error: {err.problem or 'invalid YAML'}"
    if err.context:
        context = err.context
        start = err.context_mark
        if start is not None and (start.line, start.column) != (mark.line if mark else -1, mark.column if mark else -1):
            context += f" started at line {start.line + 1}, column {start.column + 1}"
        message += f" ({context})"
    fix = yaml_syntax_fix(text, line, col, err.problem)
    if fix is None:
        return Diagnostic(file, line, col, message)
    return Diagnostic(file, fix.line, fix.column, message, hint=fix.hint)


def parse_document(text: str, file: str) -> Document:
    """Parse YAML ``text`` (named ``file`` in diagnostics) into a :class:`Document`; raise :class:`PolicyError`."""
    if "\x00" in text:
        raise PolicyError([Diagnostic(file, 1, 1, "file looks binary (contains NUL bytes), not YAML")])
    parser = _Loader(text)
    # the parser's own get_event, called until the stream ends (no generator between: a tenth of parsing a file)
    builder = _Builder(iter(parser.get_event, None))
    try:
        builder.next()  # StreamStart
        start = builder.next()
        if isinstance(start, yaml.StreamEndEvent):
            raise PolicyError([Diagnostic(file, 1, 1, "file is empty", hint=_EMPTY_HINT)])
        data = builder.document()
        builder.next()  # DocumentEnd
        end = builder.next()
        if not isinstance(end, yaml.StreamEndEvent):
            raise _Reject(end.start_mark, "only one YAML document per file is allowed",
                          "split the documents into separate files")
    except _Reject as err:
        line, col = (err.mark.line + 1, err.mark.column + 1) if err.mark else (1, 1)
        raise PolicyError([Diagnostic(file, line, col, err.message, hint=err.hint)]) from None
    except yaml.MarkedYAMLError as err:
        raise PolicyError([_syntax_error(file, err, text)]) from None
    except yaml.reader.ReaderError as err:  # a control character, say
        line, col = _position(text, err.position)
        raise PolicyError([Diagnostic(file, line, col, f"invalid YAML: unacceptable character #x{err.character:04x}: "
                                                       "control characters are not allowed")]) from None
    except yaml.YAMLError as err:
        raise PolicyError([Diagnostic(file, 1, 1, f"invalid YAML: {str(err).splitlines()[0]}")]) from None
    finally:
        parser.dispose()
    if data is None:
        raise PolicyError([Diagnostic(file, 1, 1, "file is empty", hint=_EMPTY_HINT)])
    if not isinstance(data, dict):
        mark = builder.marks[()]
        raise PolicyError([Diagnostic(file, mark.line, mark.column,
                                      f"the top level of a policy file must be a mapping, not {_kind_of(data)}")])
    return Document(file, data, builder.marks, builder.key_marks, text)


def display_name(path: Path) -> str:
    """How diagnostics name a file: relative to the working directory when it is under it, else as given."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class NotReadable(Exception):
    """:func:`read_regular_file` refused a path; ``reason`` says why in a few words (``No such file or directory``,
    ``not a regular file (a FIFO, device or socket)``, ``too large: ...``), for each caller's own message."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.too_large = reason, too_large


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; raise :class:`NotReadable` otherwise.

    The file is opened without blocking and checked with ``fstat`` on the open descriptor (no race with a rename):
    a FIFO, a device (``/dev/zero`` never ends), a socket or a directory is refused before a byte is read. The read
    itself stops past ``limit``, so a file that grows (or lies about its size, as ``/proc`` files do) cannot
    exhaust memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise NotReadable(err.strerror or str(err)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotReadable(os.strerror(errno.EISDIR))
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable("not a regular file (a FIFO, device or socket)")
        if info.st_size > limit:
            raise NotReadable(f"{info.st_size} bytes; the limit is {limit}", too_large=True)
        chunks, size = [], 0
        # the first read asks for the size fstat gave and one byte more, so a policy file takes one read, never a
        # megabyte buffer per read (thousands of store files are read on every load)
        want = min(info.st_size + 1, limit + 1) if info.st_size > 0 else 1 << 16
        while size <= limit:
            asked = min(want, limit + 1 - size)
            chunk = os.read(fd, asked)
            want = 1 << 20
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size == info.st_size and len(chunk) < asked:  # short of what was asked, at the size fstat gave:
                break  # the end (a file whose size lies, as /proc's say 0, is read until a read returns nothing)
        if size > limit:
            raise NotReadable(f"over {limit} bytes; the limit is {limit}", too_large=True)
        return b"".join(chunks)
    except OSError as err:
        raise NotReadable(err.strerror or str(err)) from None
    finally:
        os.close(fd)


def missing(path: str | Path) -> str | None:
    """Why ``path`` names nothing that can be read (``no such file or directory``, ``File name too long``, ...), or
    None when something is there. Never raises: a name too long, or holding a NUL, is an answer too."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return "no such file or directory"
    except (OSError, ValueError) as err:
        return getattr(err, "strerror", None) or str(err)
    return None


def is_directory(path: Path) -> bool:
    """``path.is_dir()``, false for a name that cannot even be looked up (too long, a NUL): reading it says why."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


_OVERLAY: ContextVar[Mapping[str, str] | None] = ContextVar("policyengine_overlay", default=None)


@contextmanager
def overlay(files: Mapping[str | Path, str]) -> Iterator[None]:
    """Within this block (this thread or task only), :func:`read_document` reads each of ``files`` (path -> text)
    from the given text instead of the disk: the studio loads a set as edited, before anything is saved. The paths
    are compared resolved (symlinks followed); which files exist is still the directory's listing."""
    token = _OVERLAY.set({os.path.realpath(path): text for path, text in files.items()})
    try:
        yield
    finally:
        _OVERLAY.reset(token)


def overlaid(path: str | Path) -> str | None:
    """The text :func:`overlay` gives ``path`` in this context, or None when it is read from the disk."""
    files = _OVERLAY.get()
    return None if files is None else files.get(os.path.realpath(path))


def read_document(path: Path, display: str | None = None) -> Document:
    """Read and parse the YAML file at ``path``; diagnostics name it ``display`` (default: :func:`display_name`)."""
    name = display or display_name(path)
    text = overlaid(path)
    if text is not None:
        return parse_document(text, name)
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except NotReadable as err:
        message = f"file is too large ({err.reason})" if err.too_large else f"cannot read file: {err.reason}"
        raise PolicyError([Diagnostic(name, 1, 1, message)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = len(raw[raw.rfind(b"\n", 0, err.start) + 1:err.start].decode("utf-8", "replace")) + 1
        raise PolicyError([Diagnostic(name, line, column, f"file is not UTF-8 text (byte {err.start}); is it binary?")]) from None
    return parse_document(text, name)
