"""Hints for the common mistakes of people writing policies by hand: each function looks at what was written and
returns the one-line fix to print under the diagnostic (or None when the mistake is not the one it knows).

* a bare enum value in a condition, ``order.status != Closed``: quote the value;
* a condition that starts with a quoted string, ``allow: 'hold' in order.tags``: YAML takes ``'hold'`` for the
  whole value and stumbles on the rest, so quote the whole condition;
* ``label: no``: YAML 1.1 reads ``no``/``yes``/``on``/``off`` as false/true, so quote it;
* ``&&``, ``||``, ``!`` from other languages: the policy language writes ``and``, ``or``, ``not``;
* a tab in the indentation: YAML indents with spaces only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["bare_value_hint", "bool_word_hint", "operator_hint", "yaml_syntax_hint"]


def _code(text: str) -> str:
    """``text`` as inline code, on one line."""
    return "`" + " ".join(text.split()) + "`"


def bare_value_hint(condition: str, name: str, values: Iterable[str] | None = None) -> str | None:
    """``order.status != Closed``: ``Closed`` is read as a name. When it is a value some enum fact declares (or, with
    ``values`` None, whatever it is), the fix is to quote it: the condition with the value quoted."""
    if values is not None and name not in set(values):
        return None
    pattern = re.compile(rf"(?<![\w.'\"$]){re.escape(name)}(?![\w'\"])")
    fixed, count = pattern.subn(f"'{name}'", condition, count=1)
    shown = _code(fixed) if count else f"'{name}'"
    return f"quote the value: {shown}" if values is not None else f"if you mean the text, quote it: {shown}"


_OPERATORS = (("&&", "and", re.compile(r"\s*&&\s*")), ("||", "or", re.compile(r"\s*\|\|\s*")),
              ("!", "not", re.compile(r"!(?!=)\s*")))


def operator_hint(condition: str) -> str | None:
    """``a && b``, ``a || b``, ``!a``: name the words to use instead, and show the condition rewritten."""
    found = [(op, word, pattern) for op, word, pattern in _OPERATORS if pattern.search(condition)]
    if not found:
        return None
    fixed = condition
    for _, word, pattern in found:
        fixed = pattern.sub(f" {word} " if word != "not" else "not ", fixed)
    fixed = fixed.replace("( not", "(not").strip()
    words = " / ".join(f"`{word}`" for _, word, _ in found)
    ops = " / ".join(f"`{op}`" for op, _, _ in found)
    return f"write {words} instead of {ops}: {_code(fixed)}"


_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false"})


def bool_word_hint(key: str | int | None, word: str) -> str | None:
    """``label: no`` arrived as false: YAML 1.1 reads yes/no/on/off (and true/false) as booleans."""
    if word.lower() not in _BOOL_WORDS:
        return None
    quoted = f'"{word}"'
    shown = f"{key}: {quoted}" if isinstance(key, str) else quoted
    meaning = "true" if word.lower() in ("yes", "on", "y", "true") else "false"
    return f"YAML reads an unquoted {word} as {meaning}; quote it: {shown}"


# `key: 'quoted' then more`: the value starts with a quoted scalar and something other than a comment follows it.
_QUOTED_THEN_MORE = re.compile(r"""(?P<key>[A-Za-z_][\w.-]*):[ \t]+(?P<value>(?P<q>['"])(?:(?!(?P=q)).)*(?P=q)"""
                               r"""[ \t]*[^\s,}\]#][^#]*?)[ \t]*(?:[,}]|[ \t]#|$)""")


def _quote_condition(value: str) -> str:
    if "\"" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def yaml_syntax_hint(text: str, line: int) -> str | None:
    """A hint for a YAML syntax error reported at ``line`` (1-based) of ``text``: a tab in the indentation, or a
    value that starts with a quoted string and goes on (``allow: 'hold' in order.tags``), on that line or the one
    before (the parser may notice only on the next line)."""
    lines = text.splitlines()
    for number in (line, line - 1):
        if not 1 <= number <= len(lines):
            continue
        source = lines[number - 1]
        indent = source[:len(source) - len(source.lstrip(" \t"))]
        if "\t" in indent:
            return f"YAML indentation must use spaces: replace the tab at the start of line {number} with spaces"
    for number in (line, line - 1):
        if not 1 <= number <= len(lines):
            continue
        match = _QUOTED_THEN_MORE.search(lines[number - 1])
        if match:
            value = match.group("value").rstrip()
            return f"quote the whole condition: {match.group('key')}: {_quote_condition(value)}"
    return None
