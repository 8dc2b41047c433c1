"""Part of stage 3, compile: the source text of a policy's generated evaluators, emitted from the condition IR.

:class:`Conditions` renders each condition's IR as the fast path runs it (through :class:`~policyengine.ir.python.
PythonSource`: the one executable meaning of every atom), with expensive facts read lazily and the named conditions
that read them inlined. :class:`SourceGenerator` writes the functions around them: fact reads, inline checks, the
table lookup, each action's decision, ``evaluate``, ``evaluate_many``, ``evaluate_missed`` (what the C loop leaves to
Python) and one table column. :mod:`.codegen` compiles this text and binds it to each policy's decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..ir.nodes import And, ConditionRef, Const, Contains, Fact, If, Node, Not, Or
from ..ir.python import PythonSource
from ..ir.values import EXACT, exact_test
from ..ir.walk import children, nodes
from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from .adapters import inline_path
from .interpret import ActionShape

__all__ = ["MAX_TABLE_BITS", "PACK_BITS", "ROOTS", "SPLIT_LOCALS", "BatchArgs", "Conditions", "SourceGenerator",
           "access"]

MAX_TABLE_BITS = 6
"""Up to this many allow/guard/effect bits, an action's Decisions are all built at load time; past it they are built
on first use and remembered (up to :data:`~.codegen.MEMO_LIMIT` per action), so load time stays flat for big
actions."""

PACK_BITS = 60
"""Up to this many bits of packed outcome key (see ``SourceGenerator.fields``), the fast path names the whole
outcome with one int and shares one Decisions per outcome; past it (hundreds of actions) each result is assembled
per call."""

SPLIT_LOCALS = 24
"""Past this many actions and named conditions (each a local of the generated ``evaluate``), a tabled policy's
plain-dict table hit gets a function of its own (see :meth:`SourceGenerator.source`)."""

ROOTS = ("order", "user")

BatchArgs = tuple[tuple[Any, ...], tuple[tuple[Any, ...], ...], tuple[dict[Any, int], ...], tuple[type, ...]]
"""The C batch loop's arguments after the inputs: flat table, paths, domain positions, the exact class of each fact."""

_PREFIX = "e"
"""The prefix of the constants the generated evaluators name (``K_e_<n>``): never a compiled policy's (``K_<n>_<m>``)."""


def access(path: tuple[str, ...], style: str = "dict") -> str:
    """The Python read of a getter's path: ``order['store']['id']`` (dicts) or ``order.store.id`` (objects)."""
    root, *keys = path
    return root + "".join(f"[{k!r}]" if style == "dict" else f".{k}" for k in keys)


def _lazy_read(i: int) -> str:
    """An expensive fact read at its first use, once: ``f<i>`` starts as ``UNSET``, ``L<i>`` reads and checks it."""
    return f"(f{i} if f{i} is not UNSET else (f{i} := L{i}(order, user)))"


class Conditions:
    """Each condition's IR as the fast path's Python source, registering its constants in ``constants``.

    Without expensive facts, a condition is :class:`PythonSource`'s text. With them (``lazy``: their indexes), an
    expensive fact is read at first use; a named condition that reads one (``inline``: name -> its IR) is emitted in
    place of each reference, so a short-circuit skips it; and the operands of the condition's boolean skeleton
    (``and``/``or``/``not``/boolean ``?:``, where three-valued logic makes their order irrelevant) that read
    expensive facts are moved after the cheap ones. An atom (anything else) keeps its order and reads every
    expensive fact it names before it runs: a short-circuit inside it (``order.flag != (true or order.status ==
    'A')``) must not skip a bad fact that the eager path sees (issue 23)."""

    def __init__(self, constants: dict[str, Any], lazy: frozenset[int] = frozenset(),
                 inline: Mapping[str, Node] | None = None) -> None:
        self.lazy = lazy
        self.inline = dict(inline or {})
        self.source = PythonSource(_PREFIX, constants, reference=self._reference)
        self._plain = False
        """Whether expensive facts are rendered as plain names (inside an atom that has read them already)."""
        self._code: dict[Node, str] = {}  # each node emitted once: its text and constants serve every use
        self._costly: dict[Node, bool] = {}

    def code(self, expr: CompiledExpr) -> str:
        return self.condition(expr.ir)

    def condition(self, node: Node) -> str:
        """``node`` (a boolean) as source, its skeleton reordered (cheap operands first)."""
        known = self._code.get(node)
        if known is None:
            known = self._code[node] = self._condition(node)
        return known

    def _condition(self, node: Node) -> str:
        if not self.lazy:  # nothing to read lazily, nothing inlined: the IR's own source
            return self.source.expr(node)
        if isinstance(node, (And, Or)):
            operands = sorted(node.operands, key=self.costly)  # stable: the order is kept within each kind
            word = " and " if isinstance(node, And) else " or "
            return "(" + word.join(map(self.condition, operands)) + ")"
        if isinstance(node, Not):
            return f"(not {self.condition(node.operand)})"
        if isinstance(node, If) and node.type == "bool":
            return f"({self.condition(node.then)} if {self.condition(node.test)} else {self.condition(node.otherwise)})"
        if isinstance(node, Const) and node.type == "bool":
            return "True" if node.value else "False"
        return self._atom(node)

    def _atom(self, node: Node) -> str:
        inside = list(nodes(node))
        lazy = sorted({n.index for n in inside if isinstance(n, Fact) and n.index in self.lazy})
        if not lazy or len(lazy) == 1 and not any(isinstance(n, (And, Or, If)) for n in inside):
            return self._emit(node, plain=False)  # nothing inside can skip the read: it happens at first use
        body = self._emit(node, plain=True)
        return f"({', '.join(map(_lazy_read, lazy))}, {body})[-1]"

    def _emit(self, node: Node, *, plain: bool) -> str:
        saved, self._plain = self._plain, plain
        try:
            return self.source.expr(node)
        finally:
            self._plain = saved

    def _reference(self, node: Node) -> str | None:
        if isinstance(node, Fact) and node.index in self.lazy and not self._plain:
            return _lazy_read(node.index)
        if isinstance(node, ConditionRef) and node.name in self.inline:  # a condition of its own: its own skeleton
            return self.condition(self.inline[node.name])
        return None  # the default: f<i>, c_<name>, a_<id>

    def costly(self, node: Node) -> bool:
        """Whether ``node`` reads an expensive fact or an inlined condition (children first: linear in its size)."""
        known = self._costly.get(node)
        if known is not None:
            return known
        for each in nodes(node):
            if each not in self._costly:
                self._costly[each] = (isinstance(each, Fact) and each.index in self.lazy) or (
                    isinstance(each, ConditionRef) and each.name in self.inline) or any(
                    self._costly[child] for child in children(each))
        return self._costly[node]


def _fast_check(fact: FactSpec, var: str, i: int) -> str:
    """A Python test that ``var`` is valid as-is (strict: anything unusual takes the complete slow check). The class
    tests are :func:`~.values.exact_test`'s: the one definition of what is taken as-is."""
    test = exact_test(fact.type, var)
    if fact.type == "enum":
        return f"({test} and {var} in V{i})"
    if fact.type == "number":  # x - x == 0.0 is false for NaN and the infinities; both tests are specialised
        return f"(type({var}) is int or (type({var}) is float and {var} - {var} == 0.0))"
    return test


def _mark(i: int, message: str, pad: str, *, keep: bool = False) -> list[str]:
    """Generated lines recording ``message`` for fact ``i`` in ``bad`` (created on the first problem; ``keep``: not
    over a message already there). Inlined: this is most of what a bad fact costs on the fast path."""
    return [f"{pad}if bad is None:", f"{pad}    bad = {{{i}: {message!r}}}",
            f"{pad}elif {i} not in bad:" if keep else f"{pad}else:", f"{pad}    bad[{i}] = {message!r}"]


def _with_default(index: dict[Any, int], fact: FactSpec) -> dict[Any, int]:
    """A table-key fact's value -> position in its domain (shared by every store), for the C loop; with a declared
    default, also Ellipsis -> the default's position (a missing key reads as the default there, see _batch.c)."""
    return {**index, ...: index[fact.default]} if fact.has_default else index


def _one_class(kind: str) -> type:
    """The one exact class a table-key fact's value must have, for the C loop (table facts are enums and bools)."""
    (cls,) = EXACT[kind]
    return cls


def _membership_only(policy: CompiledPolicy) -> set[int]:
    """Set facts every condition uses only as the container of ``in`` (so they may stay as given, unfrozen)."""
    sets = {i for i in policy.needed if policy.facts[i].type == "set"}
    if not sets:
        return sets
    todo: list[Node] = [e.ir for e in (*policy.conditions.values(), *(x for a in policy.actions for x in a.exprs()))]
    seen: set[Node] = set()  # shared by every condition: a sub-expression many actions share is looked at once
    while todo and sets:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        operands = children(node)
        todo.extend(operands)
        if isinstance(node, Contains):
            operands = (node.member,)  # all but the container
        sets.difference_update(operand.index for operand in operands if isinstance(operand, Fact))
    return sets


def _reads_expensive(policy: CompiledPolicy, expensive: set[int], expr: CompiledExpr) -> bool:
    """Whether ``expr`` reads an expensive fact, itself or through the named conditions it reads."""
    index = {f.name: i for i, f in enumerate(policy.facts)}
    seen: set[str] = set()
    todo = [expr]
    while todo:
        current = todo.pop()
        if any(index[f] in expensive for f in current.facts):
            return True
        for name in current.conditions - seen:
            seen.add(name)
            todo.append(policy.conditions[name])
    return False


class SourceGenerator:
    """The generated evaluators' source for one policy shape (see :func:`~.codegen.build_evaluator`). ``constants``
    holds what the source names beyond the policy's own entries: the namespace the source runs in needs them."""

    def __init__(self, policy: CompiledPolicy, shapes: Mapping[str, ActionShape], getters: Mapping[int, Any],
                 expensive: set[int], table: bool, inline: bool = True) -> None:
        self.policy = policy
        self.shapes = shapes
        self.getters = getters
        self.expensive = expensive
        self.table = table
        self.eager = [i for i in policy.needed if i not in expensive]
        self.membership_only = _membership_only(policy)
        self.lazy_conditions = {name for name, expr in policy.conditions.items()
                                if inline and _reads_expensive(policy, expensive, expr)}
        """Named conditions reading expensive facts, inlined where they are used (so a short-circuit skips them)."""
        self.constants: dict[str, Any] = {}
        self.conditions = Conditions(self.constants, frozenset(expensive),
                                     {name: policy.conditions[name].ir for name in self.lazy_conditions})
        paths = [inline_path(getters[i]) for i in policy.needed]
        self.paths: list[tuple[str, ...]] | None = None
        """Each table-key fact's path, when the policy is tabled and every fact is read by a path from the order or
        the user (so plain-dict inputs can be read directly, in the generated code or in C); else None."""
        if table and all(path is not None and path[0] in ROOTS for path in paths):
            self.paths = [path for path in paths if path is not None]
        self.fields = self._fields()
        self.packed = not table and sum(width for _, _, width, _ in self.fields) <= PACK_BITS
        """Whether one int can name the whole outcome, so equal outcomes share one memoised Decisions."""

    def code(self, expr: CompiledExpr) -> str:
        return self.conditions.code(expr)

    # -- reading facts -----------------------------------------------------------------------------------------
    def reads(self) -> list[str]:
        lines = [f"f{i} = UNSET" for i in sorted(self.expensive)]
        by_root: dict[str, list[int]] = {}
        plain = []
        for i in self.eager:
            path = inline_path(self.getters[i])
            if path is None:
                plain.append(i)
            else:
                by_root.setdefault(path[0], []).append(i)
        for root, indexes in by_root.items():
            lines.append(f"if type({root}) is dict:")
            for i in indexes:
                lines += ["    " + line for line in self.inline_read(i, "dict")]
            # Attribute reads only for plain objects: on a Mapping, `m.items` is a method, not the fact.
            lines.append(f"elif PLAIN.get(type({root})) or is_plain({root}):")
            for i in indexes:
                lines += ["    " + line for line in self.inline_read(i, "attr")]
            lines.append("else:")
            for i in indexes:
                lines += ["    " + line for line in self.getter_read(i)]
        for i in plain:
            lines += self.getter_read(i)
        return lines

    def getter_read(self, i: int) -> list[str]:
        if self.policy.facts[i].has_default:  # read() fills in the default for a missing fact
            return [f"f{i}, bad = read({i}, order, user, bad)"]
        return ["try:", f"    f{i} = G{i}(order, user)", "except Exception as exc:", f"    f{i} = MISSING",
                f"    bad = failed(bad, {i}, exc)"]

    def missing(self, i: int, pad: str) -> list[str]:
        """Generated lines for fact ``i`` found missing: its declared default (``D<i>``, already a valid value),
        or ``missing`` recorded as its problem."""
        if self.policy.facts[i].has_default:
            return [f"{pad}f{i} = D{i}"]
        return [f"{pad}f{i} = MISSING", *_mark(i, "missing", pad)]

    def inline_read(self, i: int, style: str) -> list[str]:
        if style == "dict" and self.paths is not None:
            return self.dict_read(i)
        path = inline_path(self.getters[i]) or ()
        # A shape the inline read does not expect (a nested object in a dict, a Mapping that is not a dict)
        # goes through the adapter's own getter, which handles any mix. A key missing from the dicts read, or an
        # attribute missing from the plain object itself, is the fact missing: said here, without a second failing
        # read through the getter (bad data costs little). (Deeper attribute reads may meet a dict: the getter's.)
        lookup = "KeyError" if style == "dict" else "AttributeError" if len(path) == 2 else None
        missing = [] if lookup is None else [f"except {lookup}:", *self.missing(i, "    ")]
        return ["try:", f"    f{i} = {access(path, style)}", *missing, "except Exception:",
                f"    f{i}, bad = read({i}, order, user, bad)"]

    def dict_read(self, i: int) -> list[str]:
        """A read of a plain dict that raises nothing for a missing key (``dict.get`` at each step): for tabled
        policies, whose plain-dict inputs reach these reads only when :meth:`all_dicts` failed (or the C loop
        missed). A good read is already done by then; a bad one raises no second exception here, which is most of
        what bad data would cost. A nested value that is not a plain dict goes through the adapter's getter."""
        root, *keys = inline_path(self.getters[i]) or ()
        var = f"f{i}"
        lines = [f"{var} = {root}.get({keys[0]!r}, MISSING)"]
        indent = ""
        for key in keys[1:]:
            lines += [f"{indent}if type({var}) is dict:", f"{indent}    {var} = {var}.get({key!r}, MISSING)"]
            indent += "    "
        lines += [f"{indent}if {var} is MISSING:", *self.missing(i, indent + "    ")]
        for depth in range(len(keys) - 1, 0, -1):  # each step whose value was not a dict: missing, or the getter's
            pad = "    " * (depth - 1)
            lines += [f"{pad}elif {var} is MISSING:", *self.missing(i, pad + "    "), f"{pad}else:",
                      f"{pad}    {var}, bad = read({i}, order, user, bad)"]
        # a key that collides with ours and raises from __eq__ (host code) is the getter's to report
        return ["try:", *("    " + line for line in lines), "except Exception:",
                f"    {var}, bad = read({i}, order, user, bad)"]

    def checks(self) -> list[str]:
        """The inline checks of the eagerly read facts; a fact that fails one is marked for the complete check."""
        lines = []
        for i in self.eager:
            if self.policy.facts[i].type == "set":
                # exact containers of exact strings (STR_ONLY iterates in C); a set fact used only with `in` stays
                # as given. Anything else (a str subclass member, a host container) takes the complete check.
                keep = i in self.membership_only
                lines += [f"if type(f{i}) in SEQUENCES and STR_ONLY(map(type, f{i})):",
                          f"    {'pass' if keep else f'f{i} = frozenset(f{i})'}",
                          f"elif f{i} is not MISSING:", f"    bad = suspect(bad, {i})"]
            else:  # "" = re-check with the complete checker (unless a read failed already and said why)
                lines += [f"if not {_fast_check(self.policy.facts[i], f'f{i}', i)}:", *_mark(i, "", "    ", keep=True)]
        return lines

    # -- deciding ----------------------------------------------------------------------------------------------
    def _fields(self) -> list[tuple[ActionShape, int, int, bool]]:
        """Each action's slice of the packed outcome key: ``(shape, offset, width, always visible)``. The field
        holds the action's table key; an action that can be hidden has one more, lowest bit, set when visible (a
        hidden action's field is 0)."""
        out, offset = [], 0
        for action in self.policy.actions:
            shape = self.shapes[action.id]
            always = action.visible.ir == Const(True)
            width = shape.bits + (0 if always else 1)
            out.append((shape, offset, width, always))
            offset += width
        return out

    def decide(self, packed: bool = False, only: list[tuple[str, str]] | None = None) -> list[str]:
        """Conditions in dependency order, then each action's decision: ``a_<id>`` each, or (``packed``) ``k``,
        the outcome key of :meth:`_fields`. ``only``: just these nodes (in dependency order), for a table column."""
        lines = ["k = 0"] if packed else []
        fields = {shape.action.spec.id: (offset, always) for shape, offset, _, always in self.fields}
        for kind, name in (self.policy.order if only is None else only):
            if kind == "condition":
                if name not in self.lazy_conditions:
                    lines.append(f"c_{name} = {self.code(self.policy.conditions[name])}")
                continue
            shape = self.shapes[name]
            action = shape.action
            conditional = [e.when for e in action.effects if e.when is not None]
            terms = [self.code(e) for e in (action.allow, *(g.when for g in action.guards), *conditional)]
            if packed:  # the table key's bits shifted into the field (above its visible bit, if it has one)
                at, always = fields[name]
                at += 0 if always else 1
                field = " | ".join([*([] if always else [str(1 << (at - 1))]),
                                    *(f"({t}) << {at + i}" if at + i else f"({t})" for i, t in enumerate(terms))])
                lines += [f"if {self.code(action.visible)}:", f"    k |= {field}"]
                continue
            bits = " | ".join(f"({t}) << {i}" if i else f"({t})" for i, t in enumerate(terms))
            pick = f"T_{name}[{bits}]" if shape.bits <= MAX_TABLE_BITS else f"(M_{name}.get({bits}) or B_{name}({bits}))"
            lines += [f"if {self.code(action.visible)}:", f"    a_{name} = {pick}", "else:", f"    a_{name} = H_{name}"]
        return lines

    # -- the table ---------------------------------------------------------------------------------------------
    def all_dicts(self, ret: Callable[[str], list[str]]) -> list[str]:
        """The shortest way through a tabled policy whose facts are all read by path, taken when the inputs are
        plain dicts: read, check every value is exact and look up, in one try block. Anything unusual (a missing key, a nested
        object, a wrong type, an undeclared value) falls through to the general reads, which read those dicts again
        (a plain dict read has no side effects) and say what is wrong."""
        if not self.paths:  # None, or a policy that reads no fact at all (its one table row is read below)
            return []
        needed = self.policy.needed
        roots = sorted({path[0] for path in self.paths})
        # TABLE[KEYS[...]]: KEYS (shared by every store of the engine) numbers the combination, TABLE (this
        # policy's rows) holds its Decisions, or None for a combination whose conditions raise
        return [f"if {' and '.join(f'type({root}) is dict' for root in roots)}:", "    try:",
                *(f"        f{i} = {self.shortcut_read(i, path)}" for i, path in zip(needed, self.paths, strict=True)),
                f"        if {self.exact_all()}:", f"            hit = TABLE[KEYS[{self.key()}]]",
                "            if hit is not None:",
                *("                " + line for line in ret("hit")),
                "    except Exception:", "        pass"]

    def shortcut_read(self, i: int, path: tuple[str, ...]) -> str:
        """:meth:`all_dicts`' read of fact ``i``: a missing key of a root (a plain dict there) is the fact's default
        when it declares one; anything else absent raises, and the general reads say what it means."""
        if self.policy.facts[i].has_default and len(path) == 2:
            return f"{path[0]}.get({path[1]!r}, D{i})"
        return access(path)

    def exact_all(self) -> str:
        """The test that every table-key fact holds an exact value (:mod:`.values`): only those are looked up, so a
        look-alike that hashes and compares equal to a declared value never finds its row."""
        return " and ".join(exact_test(self.policy.facts[i].type, f"f{i}") for i in self.policy.needed) or "True"

    def key(self) -> str:
        return "(" + "".join(f"f{i}, " for i in self.policy.needed) + ")"

    def table_hit(self, ret: Callable[[str], list[str]]) -> list[str]:
        """The table lookup of checked facts; anything but exact declared values (undeclared, a look-alike, a
        subclass) is left to the checks that follow. ``.get``, not ``[]`` in a try: exact values hash safely, and an
        undeclared one raises no exception (which would cost more than everything else the fail-closed path does)."""
        return [f"if bad is None and {self.exact_all()}:", f"    at = KEYS_GET({self.key()})",
                "    if at is not None:", "        hit = TABLE[at]",
                "        if hit is None:",  # not built yet (rows are built on first use), or raising
                "            hit = ROW(at)",
                "        if hit is not None:", *("            " + line for line in ret("hit"))]

    def column_source(self, nodes: list[tuple[str, str]], action_id: str) -> str:
        """A function of the table-key facts computing one action's decision (``nodes``: what it depends on)."""
        params = ", ".join(f"f{i}" for i in self.policy.needed)
        return "\n".join([f"def column({params}):", "    order = user = None",
                          *("    " + line for line in self.decide(only=nodes)), f"    return a_{action_id}"]) + "\n"

    # -- the C loop's inputs -------------------------------------------------------------------------------------
    def batch_args(self, table: tuple[Any, ...], keys: Any) -> BatchArgs | None:
        """The arguments of the C batch loop after the pairs (see policyengine/runtime/_batch.c): the table flattened in
        product order, each fact's path as ``(root, key, ...)`` (root 0 the order, 1 the user), each fact's value ->
        position in its domain, and the exact class its value must have (:data:`.values.EXACT`). None when the
        policy has no such table."""
        if self.paths is None or keys is None:
            return None
        # the rows are in product order already; a combination whose conditions raise is None: the C loop leaves
        # it to evaluate
        positions = tuple(_with_default(at, self.policy.facts[i]) for at, i in zip(keys.positions, self.policy.needed,
                                                                                    strict=True))
        return (table, tuple((ROOTS.index(path[0]), *path[1:]) for path in self.paths), positions,
                tuple(_one_class(self.policy.facts[i].type) for i in self.policy.needed))

    # -- the functions -----------------------------------------------------------------------------------------
    def body(self, ret: Callable[[str], list[str]], shortcut: bool = True) -> list[str]:
        """The evaluation of one (order, user); ``ret(expr)`` renders how a result leaves it. Without ``shortcut``,
        no :meth:`all_dicts` (for inputs the C loop has already found are not all plain dicts with exact values)."""
        values = self.key()
        lines = [*(self.all_dicts(ret) if shortcut else []), "bad = None", *self.reads()]
        if self.table:
            lines += self.table_hit(ret)
        lines += self.checks()
        lines += ["if bad is not None:", *("    " + line for line in ret(f"slow({values}, bad, order, user)"))]
        packed = self.packed
        lines += ["try:", *("    " + line for line in self.decide(packed))]
        if self.expensive:
            # strict checks every fact, needed by a decision or not: the answer must not depend on which facts the
            # adapter marks expensive
            lines += ["    if strict:", *(f"        if f{i} is UNSET: f{i} = L{i}(order, user)" for i in sorted(self.expensive))]
            lines += ["except LazyBad as exc:",
                      *("    " + line for line in ret(f"slow({values}, {{exc.index: exc.message}}, order, user, exc)"))]
        # A condition that raises (a division by zero, say) is re-run by the fail-closed path, which knows which
        # conditions it makes unknown.
        lines += ["except Exception:", *("    " + line for line in ret(f"slow({values}, {{}}, order, user)"))]
        if packed:  # an outcome seen before is one dict read, and its Decisions is shared
            lines += ["try:", *("    " + line for line in ret("WHOLE[k]")),
                      "except KeyError:", *("    " + line for line in ret("WHOLE_BUILD(k)"))]
            return lines
        # Decisions built without __init__ (its slots set directly): the one allocation of a fast-path result
        lines += ["decisions = NEW(DECISIONS)",
                  f"decisions._decisions = ({''.join(f'a_{a.id}, ' for a in self.policy.actions)})",
                  "decisions._meta = META", *ret("decisions")]
        return lines

    def source(self) -> str:
        # No constants bound as parameter defaults: every keyword-only default costs a dict lookup per call, while
        # a global read is cached by the interpreter (3.11+). strict and store are plain positional defaults.
        def give(expr: str) -> list[str]:
            return [f"return FINISH({expr}, strict)" if expr.startswith("slow(") else f"return {expr}"]

        single = ["def evaluate(order, user, strict=False, store=None):",
                  *("    " + line for line in self.body(give))]
        shortcut = self.all_dicts(give)
        if shortcut and len(self.policy.actions) + len(self.policy.conditions) > SPLIT_LOCALS:
            # The table hit in a function of its own, with only the facts as locals: a call costs the same whatever
            # the number of actions (CPython sets up and clears every local of a frame on every call). Everything
            # else is the complete evaluation, FULL: one more call for inputs that are not plain dicts, which is
            # why a small policy keeps one function.
            single = ["def evaluate(order, user, strict=False, store=None):", *("    " + line for line in shortcut),
                      "    return FULL(order, user, strict)", "", "",
                      "def evaluate_full(order, user, strict=False):",
                      *("    " + line for line in self.body(give, shortcut=False))]

        def collect(expr: str) -> list[str]:
            if expr.startswith("slow("):
                return ["slow_at(len(out))", f"append({expr})", "continue"]
            return [f"append({expr})", "continue"]

        many = ["def evaluate_many(pairs, strict=False):", "    out = []", "    append = out.append",
                "    slow_indexes = []", "    slow_at = slow_indexes.append", "    for pair in pairs:",
                "        try:", "            order, user = pair",
                "        except Exception:  # not an (order, user) pair: no facts at all, so it fails closed",
                "            order = user = None",
                *("        " + line for line in self.body(collect)), "    return out, slow_indexes"]
        missed = []
        if self.paths is not None:  # what the C loop leaves to Python: evaluate's body, less its dict shortcut
            missed = ["", "", "def evaluate_missed(order, user):",
                      *("    " + line for line in self.body(lambda expr: [f"return {expr}"], shortcut=False))]
        return "\n".join(single) + "\n\n\n" + "\n".join(many) + "\n".join(missed) + "\n"
