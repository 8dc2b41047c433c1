"""Accept the actual results of failed YAML test cases: ``policyengine test --update`` (syrupy's
``--snapshot-update`` for policy suites).

The suite files are edited as text, by position, never re-dumped: only the value of a failed check is replaced
(a state, the ``reasons``/``guards``/``effects`` list, ``confirm``, ``label``), so comments, key order, quoting
and layout of every other line stay as they were. Positions come from PyYAML's node marks over the very text that
was loaded. Where replacing in place would be wrong, a key is inserted instead:

* an action checked by the case's ``default:`` rule gets its own entry (``archive: disabled``) in the case's
  ``expect`` (or in the row, for a table row), since changing the rule would change every action it covers;
* an expectation shared by every row of a table (written in the case's ``expect``) is rewritten in place when
  every row now needs the same value, and otherwise overridden in each failing row (the rows that pass still agree
  with it).

Cases that failed because their order or user could not be read (fact errors) are not updated: there is no actual
result to accept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from ..pipeline.yamlsource import overlaid
from ..runtime.decision import Effect
from .suites import CaseResult, Mismatch

__all__ = ["SuiteUpdate", "plan_updates", "render_value"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@attrs.frozen(slots=True)
class SuiteUpdate:
    """The new text of one suite file, and how many expectations changed in it."""

    file: str
    before: str
    after: str
    changes: int

    def diff(self) -> str:
        """A unified diff of the file (``a/FILE`` to ``b/FILE``)."""
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            f"a/{self.file}", f"b/{self.file}"))

    def write(self) -> None:
        Path(self.file).write_text(self.after, "utf-8")


# -- rendering values as YAML -----------------------------------------------------------------------------------


def _effect(effect: Effect) -> Any:
    """An effect in the form suites write it: the operation alone, or ``{set: ..., operation: ...}``."""
    if not effect.set and effect.operation is not None:
        return effect.operation
    out: dict[str, Any] = {"set": dict(effect.set)}
    if effect.operation is not None:
        out["operation"] = effect.operation
    return out


def plain(check: str, value: Any, expected: Any = None) -> Any:
    """The actual value of ``check`` as plain YAML data (``expected``: what the suite said, for ``confirm``)."""
    if check == "effects":
        return [_effect(e) for e in value]
    if check in ("reasons", "guards"):
        return list(value)
    if check == "confirm":
        if value is None:
            return False
        return True if isinstance(expected, bool) else value  # `confirm: true` keeps meaning "asks something"
    return value


def render_value(value: Any) -> str:
    """``value`` as one line of YAML flow text (plain where YAML allows it, quoted where it must be)."""
    # dumped as the item of a flow list: what is plain there is plain in a flow mapping and in block context too
    text: str = yaml.safe_dump([value], default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False)
    return text.rstrip("\n")[1:-1]


# -- the YAML nodes of a file ---------------------------------------------------------------------------------------


def _node(root: yaml.Node | None, path: Sequence[str | int]) -> yaml.Node | None:
    node: yaml.Node | None = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def _column(text: str, index: int) -> int:
    return index - (text.rfind("\n", 0, index) + 1)


def _replace(text: str, node: yaml.Node, value: Any) -> tuple[int, int, str]:
    """An edit ``(start, end, new text)`` putting ``value`` where ``node`` is, in the node's own style: a block
    sequence stays a block sequence (one ``- item`` line per item, at its column), anything else is one line."""
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and isinstance(value, list) and value:
        indent = " " * _column(text, start)
        body = f"\n{indent}".join(f"- {render_value(item)}" for item in value)
        # a block node's end mark is at the start of the next token: keep what followed the last item
        end = _block_end(text, node)
        return start, end, body
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
        end = _block_end(text, node)
    return start, end, render_value(value)


def _block_end(text: str, node: yaml.Node) -> int:
    """Where a block collection's last value ends (its end mark may lie past trailing comments and blank lines)."""
    last = node.value[-1]
    inner = last[1] if isinstance(node, yaml.MappingNode) else last
    if isinstance(inner, (yaml.MappingNode, yaml.SequenceNode)) and not inner.flow_style and inner.value:
        return _block_end(text, inner)
    end: int = inner.end_mark.index
    return end


def _insert(text: str, mapping: yaml.MappingNode, key: str | int, value: Any) -> tuple[int, int, str]:
    """An edit adding ``key: value`` to ``mapping``: before the closing ``}`` of a flow mapping, or as a new line
    after the last entry of a block mapping, at the column of its keys."""
    entry = f"{key}: {render_value(value)}"
    if mapping.flow_style:
        close = mapping.end_mark.index - 1  # the `}`
        while close > mapping.start_mark.index and text[close] != "}":
            close -= 1
        before = text[:close].rstrip()
        at = len(before)
        return at, close, ("" if before.endswith("{") else ", ") + entry
    first_key = mapping.value[0][0]
    indent = " " * _column(text, first_key.start_mark.index)
    end = _block_end(text, mapping)
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return line_end, line_end, f"\n{indent}{entry}"


# -- planning ---------------------------------------------------------------------------------------------------


def _new_expectation(raw: Any, mismatches: Iterable[Mismatch]) -> Any:
    """The whole expectation rewritten with the actual values (for an entry inserted into a row)."""
    ms = list(mismatches)
    if not isinstance(raw, Mapping):
        state = next((m.actual for m in ms if m.check == "state"), raw)
        return state
    out = dict(raw)
    for m in ms:
        out[m.check] = plain(m.check, m.actual, raw.get(m.check))
    return out


def _data(node: yaml.Node) -> Any:
    return yaml.load(yaml.serialize(node), Loader=_Loader)  # noqa: S506 - the safe loader


def _own(path: Sequence[Any], case_path: Sequence[Any]) -> bool:
    """Whether the expectation at ``path`` belongs to the case (or row) at ``case_path``, not to a whole table."""
    return "table" not in case_path or tuple(path[:len(case_path)]) == tuple(case_path)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def plan_updates(results: Iterable[CaseResult]) -> list[SuiteUpdate]:
    """The suite files rewritten so that every failed check of ``results`` expects what actually happened."""
    by_file: dict[str, list[CaseResult]] = {}
    # per shared expectation (file, path): what each row using it needs; rewritten in place when all agree
    outcomes: dict[tuple[str, tuple[Any, ...]], set[tuple[Any, ...]]] = {}
    for result in results:
        if result.mismatches:
            by_file.setdefault(result.case.file, []).append(result)
        for expectation in result.case.expectations:
            if expectation.path and not _own(expectation.path, result.case.path):
                needs = tuple((m.check, _hashable(m.actual)) for m in result.mismatches
                              if m.path == expectation.path)
                outcomes.setdefault((result.case.file, expectation.path), set()).add(needs)
    updates = []
    for file, failed in by_file.items():
        text = overlaid(file)  # the studio accepts changes into the edited, unsaved text
        before = Path(file).read_text("utf-8") if text is None else text
        root = yaml.compose(before, Loader=_Loader)
        edits: dict[tuple[int, int], str] = {}
        inserts: dict[tuple[Any, ...], dict[str, Any]] = {}  # mapping path -> key -> value, in first-seen order
        changes = 0
        shared_done: set[tuple[Any, ...]] = set()
        for result in failed:
            case_path = result.case.path
            by_expectation: dict[tuple[str, tuple[Any, ...]], list[Mismatch]] = {}
            for m in result.mismatches:
                by_expectation.setdefault((m.action, m.path), []).append(m)
            for (action, path), ms in by_expectation.items():
                changes += 1
                if not path:  # by the default rule: the action gets an entry of its own
                    target = case_path if "table" in case_path else (*case_path, "expect")
                    inserts.setdefault(target, {})[action] = _new_expectation(None, ms)
                    continue
                node = _node(root, path)
                if node is None:
                    continue
                if not _own(path, case_path):  # written once for every row of a table
                    if len(outcomes[(file, path)]) > 1:  # the rows disagree: override it in this row only
                        inserts.setdefault(case_path, {})[action] = _new_expectation(_data(node), ms)
                        continue
                    if path in shared_done:
                        changes -= 1  # every row needs the same: rewritten once, for the first of them
                        continue
                    shared_done.add(path)
                if isinstance(node, yaml.ScalarNode):
                    state = next(m.actual for m in ms if m.check == "state")
                    edits[(node.start_mark.index, node.end_mark.index)] = render_value(state)
                    continue
                for m in ms:
                    value_node = _node(node, (m.check,))
                    if value_node is None:
                        continue
                    expected = _data(value_node)
                    start, end, new = _replace(before, value_node, plain(m.check, m.actual, expected))
                    edits[(start, end)] = new
        for target, entries in inserts.items():
            mapping = _node(root, target)
            if not isinstance(mapping, yaml.MappingNode):  # a case without `expect:`: add it to the case
                case_node = _node(root, target[:-1])
                if not isinstance(case_node, yaml.MappingNode):
                    continue
                start, end, new = _insert(before, case_node, target[-1], entries)
                edits[(start, end)] = new
                continue
            for key, value in entries.items():
                start, end, new = _insert(before, mapping, key, value)
                edits[(start, end)] = edits.get((start, end), "") + new
        after = before
        for (start, end), new in sorted(edits.items(), reverse=True):
            after = after[:start] + new + after[end:]
        if after != before:
            updates.append(SuiteUpdate(file, before, after, changes))
    return updates
