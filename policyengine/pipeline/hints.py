"""Hints for the common mistakes of people writing policies by hand: each function looks at what was written and
returns the one-line fix to print under the diagnostic (or None when the mistake is not the one it knows).

* a bare enum value in a condition, ``order.status != Closed``: quote the value;
* a condition that starts with a quoted string, ``allow: 'hold' in order.tags``: YAML takes ``'hold'`` for the
  whole value and stumbles on the rest, so quote the whole condition;
* ``label: no``: YAML 1.1 reads ``no``/``yes``/``on``/``off`` as false/true, so quote it;
* ``&&``, ``||``, ``!`` from other languages: the policy language writes ``and``, ``or``, ``not``;
* a tab in the indentation: YAML indents with spaces only;
* a plain value holding ``: `` (``label: Refund: request``): quote the value;
* a key indented one space off its siblings: line it up;
* a comma inside ``{...}`` or ``[...]`` that split a value in two: quote the value;
* a list written as a mapping (``deny:`` without ``- ``), a name that breaks its pattern (``retry-last-step``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

__all__ = ["SyntaxFix", "bare_value_hint", "bool_word_hint", "flow_comma_hint", "list_hint", "name_form",
           "operator_hint", "yaml_syntax_fix", "yaml_syntax_hint"]


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


@attrs.frozen(slots=True)
class SyntaxFix:
    """A hint for a YAML syntax error, and where the mistake is (the parser often notices a line later)."""

    hint: str
    line: int
    column: int


# `key: value: more`: a plain (unquoted) value holding `: `, which YAML reads as a second mapping key.
_COLON_VALUE = re.compile(r"^(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<key>[A-Za-z_][\w.-]*):[ \t]+"
                          r"(?P<value>[^'\"{\[\s#&*!|>%@`][^#]*?:[ \t][^#]*?)[ \t]*(?:[ \t]#.*)?$")
_KEY_LINE = re.compile(r"^(?P<indent> *)(?:- +)?(?P<key>[A-Za-z_][\w.-]*|'[^']*'|\"[^\"]*\"):(?:[ \t]|$)")


def _quote_value(value: str) -> str:
    return f'"{value}"' if '"' not in value else "'" + value.replace("'", "''") + "'"


def _colon_fix(lines: list[str], line: int, column: int) -> SyntaxFix | None:
    if not 1 <= line <= len(lines):
        return None
    match = _COLON_VALUE.match(lines[line - 1])
    if match is None:
        return None
    key, value = match.group("key"), match.group("value").rstrip()
    return SyntaxFix(f"the value holds `: `, which YAML reads as a new key: quote it: {key}: {_quote_value(value)}",
                     line, column)


def _key_lines(lines: list[str], around: int) -> list[int]:
    """The 1-based numbers of the key lines at ``around`` and just before it (blank and comment lines skipped)."""
    out: list[int] = []
    number = around
    while number >= 1 and len(out) < 2:
        text = lines[number - 1] if number <= len(lines) else ""
        if text.strip() and not text.lstrip().startswith("#"):
            if not _KEY_LINE.match(text):
                if number != around:
                    break
            else:
                out.append(number)
        number -= 1
    return out[::-1]


def _indent_fix(lines: list[str], line: int) -> SyntaxFix | None:
    """Two neighbouring keys one space apart: the one whose indentation is rarer in the file is the mistake."""
    pair = _key_lines(lines, line)
    if len(pair) != 2:
        return None
    first, second = (_KEY_LINE.match(lines[n - 1]) for n in pair)
    assert first is not None and second is not None
    widths = [len(first.group("indent")), len(second.group("indent"))]
    if abs(widths[0] - widths[1]) != 1 or lines[pair[0] - 1].rstrip().endswith(":"):
        return None
    counts = {w: sum(1 for text in lines if text.strip() and len(text) - len(text.lstrip(" ")) == w) for w in widths}
    off = 0 if counts[widths[0]] < counts[widths[1]] else 1
    number, match, other = pair[off], (first, second)[off], (first, second)[1 - off]
    right = widths[1 - off]
    direction = "more" if widths[off] > right else "less"
    return SyntaxFix(f"`{match.group('key')}:` is indented {widths[off]} spaces, one {direction} than "
                     f"`{other.group('key')}:` beside it: keys of one mapping line up; indent it with {right} spaces",
                     number, widths[off] + 1)


def yaml_syntax_fix(text: str, line: int, column: int, problem: str | None = None) -> SyntaxFix | None:
    """A hint for a YAML syntax error the parser reported at ``line``:``column`` (1-based), and where the mistake is:
    a tab in the indentation, a condition that starts with a quoted string, a plain value holding ``: ``, a key
    indented one space off its neighbour."""
    hint = yaml_syntax_hint(text, line)
    if hint is not None:
        return SyntaxFix(hint, line, column)
    lines = text.splitlines()
    if problem == "mapping values are not allowed in this context":
        fix = _colon_fix(lines, line, column)
        if fix is not None:
            return fix
    return _indent_fix(lines, line)


def flow_comma_hint(text: str, index: int) -> str | None:
    """An unknown key (or a split list item) at character ``index`` that follows a comma inside ``{...}`` or
    ``[...]``: the comma ended the value before it. The hint quotes the whole value, comma included."""
    start = text.rfind("\n", 0, index) + 1
    before = text[start:index].rstrip(" \t")
    if not before.endswith(","):
        return None
    end = index
    while end < len(text) and text[end] not in ",}]\n":
        end += 1
    rest = text[index:end].strip()
    opening = max(before.rfind("{"), before.rfind("["))
    if opening < 0:
        return None
    inside = before[opening + 1:-1]
    if before[opening] == "{":
        match = re.search(r"(?:^|,)\s*(?P<key>[A-Za-z_][\w.-]*):\s+(?P<value>[^,'\"]*)$", inside)
        if match is None:
            return None
        value = f"{match.group('value').strip()}, {rest}"
        return (f"a comma ends a value inside {{...}}: quote the value: "
                f"{match.group('key')}: {_quote_value(value)}")
    items = inside.split(",")
    value = f"{items[-1].strip()}, {rest}"
    if not items[-1].strip() or items[-1].strip()[0] in "'\"":
        return None
    return f"a comma ends an item inside [...]: quote the item: [{_quote_value(value)}]"


def list_hint(key: str | int | None, first_key: str | None) -> str | None:
    """``deny:`` written as a mapping: a list needs ``- `` before each entry's first key."""
    if not isinstance(key, str) or first_key is None:
        return None
    return f"`{key}:` takes a list: begin each entry with `- `, as in `- {first_key}: ...`"


# The name patterns of the schemas, in words (a raw regular expression helps nobody who writes YAML by hand).
_NAME_FORMS = {
    "^[a-z][a-z0-9_]*$": ("lowercase letters, digits and _, starting with a letter", "_"),
    "^[a-z][a-z0-9-]*$": ("lowercase letters, digits and -, starting with a letter", "-"),
    "^[a-z][a-z0-9_-]*$": ("lowercase letters, digits, _ and -, starting with a letter", "_"),
    "^[a-z0-9][a-z0-9_-]*$": ("lowercase letters, digits, _ and -", "_"),
}


def name_form(pattern: str, value: str) -> tuple[str, str | None] | None:
    """``pattern`` in words and the value rewritten to fit it (None when no rewrite fits), for the patterns of
    names; None for any other pattern."""
    form = _NAME_FORMS.get(pattern)
    if form is None:
        return None
    words, joiner = form
    fixed = re.sub(r"[^a-z0-9]+", joiner, value.strip().lower()).strip("_-")
    fits = bool(fixed) and re.fullmatch(pattern[:-1] + r"\Z", fixed) is not None and fixed != value
    return words, fixed if fits else None
