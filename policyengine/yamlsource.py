"""Stage 1, load: read one YAML file into plain data while keeping the position of every key and value.

We build the document from PyYAML's event stream rather than from ``yaml.safe_load`` because the events carry exact
marks, and because it lets us refuse, at the first offending event, what a policy file must never contain: anchors
and aliases (an alias bomb is refused before anything is expanded), explicit tags, duplicate keys, non-string keys,
implicit timestamps and multiple documents. PyYAML's C parser is used when it is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import yaml

from .errors import Diagnostic, PolicyError

__all__ = ["MAX_FILE_BYTES", "Document", "Mark", "parse_document", "read_document"]

MAX_FILE_BYTES = 1024 * 1024
"""Policy files are small; anything larger is refused before parsing (a cheap guard against hostile input)."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}

Path_ = tuple[str | int, ...]


@attrs.frozen(slots=True)
class Mark:
    """A 1-based source position. ``quoted`` says the scalar's text starts one column after ``column``."""

    line: int
    column: int
    quoted: bool = False
    single_line: bool = True


@attrs.frozen(slots=True)
class Document:
    """A loaded YAML file: its plain data, and where each value (``marks``) and mapping key (``key_marks``) stands.

    Both maps are keyed by the JSON path of the value, e.g. ``("actions", "reset", "deny", 0, "when")``.
    """

    file: str
    data: Any
    marks: dict[Path_, Mark] = attrs.field(eq=False, repr=False)
    key_marks: dict[Path_, Mark] = attrs.field(eq=False, repr=False)

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

    def diagnostic(self, path: Path_, message: str, *, hint: str | None = None, key: bool = False,
                   offset: int = 0) -> Diagnostic:
        """A diagnostic at ``path``; ``offset`` moves the column into a single-line scalar's text."""
        mark = self.mark(path, key=key)
        column = mark.column
        if offset and mark.single_line:
            column += offset + (1 if mark.quoted else 0)
        return Diagnostic(self.file, mark.line, column, message, tuple(path), hint)


class _Reject(Exception):
    def __init__(self, mark: Any, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.mark, self.message, self.hint = mark, message, hint


def _mark(event: Any, *, quoted: bool = False, single_line: bool = True) -> Mark:
    start = event.start_mark
    return Mark(start.line + 1, start.column + 1, quoted, single_line)


class _Builder:
    """Turns the event stream of a single document into plain data plus position tables."""

    def __init__(self, events: Iterator[Any]) -> None:
        self.events = events
        self.marks: dict[Path_, Mark] = {}
        self.key_marks: dict[Path_, Mark] = {}

    def next(self) -> Any:
        event = next(self.events)
        if isinstance(event, yaml.AliasEvent):
            raise _Reject(event.start_mark, "YAML aliases are not allowed in policy files",
                          "write the value out; aliases make policies hard to read and can explode in size")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Reject(event.start_mark, f"YAML anchors are not allowed in policy files (&{anchor})",
                          "write the value out instead of anchoring it")
        return event

    def value(self, event: Any, path: Path_) -> Any:
        if isinstance(event, yaml.ScalarEvent):
            start, end = event.start_mark, event.end_mark
            self.marks[path] = _mark(event, quoted=event.style in ("'", '"'),
                                     single_line=start is None or end is None or start.line == end.line)
            return self.scalar(event)
        if isinstance(event, yaml.SequenceStartEvent):
            self._check_tag(event, "tag:yaml.org,2002:seq")
            self.marks[path] = _mark(event)
            items: list[Any] = []
            while not isinstance(event := self.next(), yaml.SequenceEndEvent):
                items.append(self.value(event, (*path, len(items))))
            return items
        if isinstance(event, yaml.MappingStartEvent):
            self._check_tag(event, "tag:yaml.org,2002:map")
            self.marks[path] = _mark(event)
            return self.mapping(path)
        raise _Reject(event.start_mark, f"unexpected YAML event {type(event).__name__}")

    def mapping(self, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while not isinstance(event := self.next(), yaml.MappingEndEvent):
            if not isinstance(event, yaml.ScalarEvent):
                raise _Reject(event.start_mark, "mapping keys must be plain strings, not collections")
            key = self.scalar(event)
            if not isinstance(key, str):
                raise _Reject(event.start_mark, f"mapping keys must be strings, got {type(key).__name__} {key!r}",
                              f'quote the key: "{event.value}"')
            key_path = (*path, key)
            if key in out:
                first = self.key_marks[key_path]
                raise _Reject(event.start_mark, f"duplicate key {key!r} (first defined at line {first.line})",
                              "each key may appear once in a mapping")
            self.key_marks[key_path] = _mark(event)
            out[key] = self.value(self.next(), key_path)
        return out

    def scalar(self, event: Any) -> Any:
        plain = event.implicit[0]
        if event.tag not in (None, "!") and not plain:
            if event.tag != "tag:yaml.org,2002:str":
                raise _Reject(event.start_mark, f"explicit YAML tags are not allowed ({event.tag})")
            return event.value
        if event.style is not None and event.style != "":
            return event.value  # quoted or block scalars are always strings
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False))  # type: ignore[no-untyped-call]
        if tag == "tag:yaml.org,2002:timestamp":
            raise _Reject(event.start_mark, f"unquoted date/time {event.value!r} is ambiguous",
                          f'quote it if you mean the text: "{event.value}"')
        if tag not in _CORE_TAGS:
            raise _Reject(event.start_mark, f"unsupported YAML value {event.value!r} ({tag})")
        node = yaml.ScalarNode(tag, event.value)
        return _CONSTRUCTOR.construct_object(node)

    @staticmethod
    def _check_tag(event: Any, expected: str) -> None:
        if event.tag not in (None, "!", expected):
            raise _Reject(event.start_mark, f"explicit YAML tags are not allowed ({event.tag})")


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def parse_document(text: str, file: str) -> Document:
    """Parse YAML ``text`` (named ``file`` in diagnostics) into a :class:`Document`; raise :class:`PolicyError`."""
    if "\x00" in text:
        raise PolicyError([Diagnostic(file, 1, 1, "file looks binary (contains NUL bytes), not YAML")])
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise PolicyError([Diagnostic(file, 1, 1, "file is empty", hint="a policy file is a YAML mapping with apiVersion and kind")])
    builder = _Builder(iter(yaml.parse(text, Loader=_Loader)))
    try:
        builder.next()  # StreamStart
        start = builder.next()
        if not isinstance(start, yaml.DocumentStartEvent):
            raise _Reject(start.start_mark, "file contains no YAML document")
        data = builder.value(builder.next(), ())
        builder.next()  # DocumentEnd
        end = builder.next()
        if not isinstance(end, yaml.StreamEndEvent):
            raise _Reject(end.start_mark, "only one YAML document per file is allowed",
                          "split the documents into separate files")
    except _Reject as err:
        line, col = (err.mark.line + 1, err.mark.column + 1) if err.mark else (1, 1)
        raise PolicyError([Diagnostic(file, line, col, err.message, hint=err.hint)]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = err.problem or "invalid YAML"
        message = f"YAML syntax error: {problem}"
        if err.context:
            message += f" ({err.context})"
        raise PolicyError([Diagnostic(file, line, col, message)]) from None
    except yaml.YAMLError as err:  # e.g. reader errors on control characters
        raise PolicyError([Diagnostic(file, 1, 1, f"invalid YAML: {err}")]) from None
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        raise PolicyError([Diagnostic(file, builder.marks[()].line, builder.marks[()].column,
                                      f"the top level of a policy file must be a mapping, not {kind}")])
    return Document(file, data, builder.marks, builder.key_marks)


def read_document(path: Path, display: str | None = None) -> Document:
    """Read and parse the YAML file at ``path``; diagnostics name it ``display`` (default: the path as given)."""
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PolicyError([Diagnostic(name, 1, 1, f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")])
        raw = path.read_bytes()
    except OSError as err:
        raise PolicyError([Diagnostic(name, 1, 1, f"cannot read file: {err.strerror or err}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PolicyError([Diagnostic(name, 1, 1, f"file is not UTF-8 text (byte {err.start}); is it binary?")]) from None
    return parse_document(text, name)
