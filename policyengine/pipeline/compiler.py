"""Stage 3, compile: turn a validated :class:`~policyengine.pipeline.model.PolicySpec` into a :class:`CompiledPolicy`.

Every condition is parsed by rule-engine under a typed context built from the declared facts, so unknown facts,
type mismatches and syntax errors are found at load time, with the column inside the expression. Named conditions
and action references form a graph that must be acyclic; the compiled policy lists its nodes in dependency order.
"""

from __future__ import annotations

import decimal
import difflib
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import rule_engine
from rule_engine import DataType
from rule_engine import errors as re_errors

from ..errors import Diagnostic, PolicyError, did_you_mean
from ..ir.lower import MAX_DEPTH, LoweringError, bad_literals, lower, non_literal_member, static_mismatch, type_name
from ..ir.nodes import ACTION_STATES, Node
from ..ir.numbers import CONTEXT
from ..ir.python import PythonSource
from ..ir.walk import reads
from .hints import bare_value_hint, operator_hint
from .literals import literal_hint
from .model import ActionSpec, EffectSpec, Expr, FactSpec, GuardSpec, PolicySpec
from .yamlsource import Document

__all__ = ["CompiledAction", "CompiledEffect", "CompiledExpr", "CompiledGuard", "CompiledPolicy", "compile_policy"]

_FACT_TYPES = {"bool": DataType.BOOLEAN, "enum": DataType.STRING, "string": DataType.STRING,
               "number": DataType.FLOAT, "set": DataType.SET(DataType.STRING)}
_RESERVED_ROOTS = {"actions", "true", "false", "null"}


@attrs.frozen(slots=True)
class CompiledExpr:
    """One condition: its text, its Python translation and what it reads (directly)."""

    text: str
    python: str
    facts: frozenset[str]
    conditions: frozenset[str]
    actions: frozenset[str]
    action_states: frozenset[tuple[str, str]]
    """Which state of which action it reads: ("delete", "enabled")."""
    where: str
    """``file:line:col`` of the condition in its policy file."""
    rule: rule_engine.Rule = attrs.field(eq=False, repr=False)
    """The rule-engine rule it was parsed into: the reference oracle for tests, never used to evaluate."""
    ir: Node = attrs.field(eq=False, repr=False)
    """The condition lowered into the IR: what every backend reads."""


@attrs.frozen(slots=True)
class CompiledGuard:
    spec: GuardSpec
    when: CompiledExpr


@attrs.frozen(slots=True)
class CompiledEffect:
    spec: EffectSpec
    when: CompiledExpr | None


@attrs.frozen(slots=True)
class CompiledAction:
    spec: ActionSpec
    visible: CompiledExpr
    allow: CompiledExpr
    guards: tuple[CompiledGuard, ...]
    effects: tuple[CompiledEffect, ...]

    @property
    def id(self) -> str:
        return self.spec.id

    def exprs(self) -> Iterable[CompiledExpr]:
        yield self.visible
        yield self.allow
        for guard in self.guards:
            yield guard.when
        for effect in self.effects:
            if effect.when is not None:
                yield effect.when


@attrs.frozen(slots=True)
class CompiledPolicy:
    """A policy ready to evaluate: facts in index order, named conditions and actions, and their dependency order."""

    spec: PolicySpec
    facts: tuple[FactSpec, ...]
    """Every declared fact; ``f<i>`` in translated code is ``facts[i]``."""
    needed: tuple[int, ...]
    """Indexes of the facts some condition reads: the only ones evaluate resolves."""
    conditions: Mapping[str, CompiledExpr]
    actions: tuple[CompiledAction, ...]
    order: tuple[tuple[str, str], ...]
    """Every condition and action as ("condition"|"action", name), each after everything it depends on."""
    constants: Mapping[str, Any] = attrs.field(repr=False)
    context: rule_engine.Context = attrs.field(eq=False, repr=False)
    constraints: Mapping[str, CompiledExpr] = attrs.field(factory=dict)
    """Which fact combinations are possible (for analysis; never used to decide)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version


def _object_type(name: str, members: Mapping[str, Any]) -> Any:
    attributes = {key: (_object_type(f"{name}.{key}", sub) if isinstance(sub, dict) else sub)
                  for key, sub in members.items()}
    return DataType.OBJECT(name, attributes=attributes, accessor=operator.getitem)


class _Compiler:
    def __init__(self, spec: PolicySpec, base: CompiledPolicy | None = None,
                 contexts: dict[Any, rule_engine.Context] | None = None) -> None:
        self.spec = spec
        self.base = base
        self.contexts = contexts
        """The policy ``spec`` was merged from (a store override's base): what ``spec`` shares with it unchanged
        (the very same spec objects, see :mod:`.merge`) is taken compiled from it, not parsed again."""
        self.diagnostics: list[Diagnostic] = []
        self.facts = {f.name: f for f in spec.facts}
        self.fact_index = {f.name: i for i, f in enumerate(spec.facts)}
        self.condition_names = {c.name for c in spec.conditions}
        self.action_ids = [a.id for a in spec.actions]
        self.constants: dict[str, Any] = {}
        self.counter = 0
        self.shared: _Shared | None = None

    def error(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    # -- the typed context ---------------------------------------------------------------------------------
    def check_facts(self) -> None:
        names = sorted(self.facts)
        for name in names:
            fact = self.facts[name]
            if fact.type == "enum" and len(fact.values) > MAX_ENUM_VALUES:
                self.error(fact.doc.diagnostic((*fact.path, "values"), f"enum {name} declares {len(fact.values)} "
                                               f"values (the limit is {MAX_ENUM_VALUES})"))
            root = name.split(".")[0]
            if root in _RESERVED_ROOTS:
                self.error(fact.doc.diagnostic(fact.path, f"fact root {root!r} is reserved", key=True,
                                          hint="'actions' is how conditions read other actions' states"))
            longer = [n for n in names if n.startswith(name + ".")]
            if longer:
                self.error(fact.doc.diagnostic(fact.path, f"fact {name!r} cannot also be a group of facts ({longer[0]})",
                                          key=True))
        roots = {n.split(".")[0] for n in names}
        for condition in self.spec.conditions:
            if condition.name in roots or condition.name in _RESERVED_ROOTS:
                self.error(condition.expr.doc.diagnostic(("conditions", condition.name),
                                          f"condition name {condition.name!r} clashes with a fact root", key=True))

    def context_of(self, contexts: dict[Any, rule_engine.Context] | None) -> rule_engine.Context:
        """:meth:`context`, shared through ``contexts`` by the specs that declare the same facts (names and types),
        named conditions and actions: what the typed context is made of (stores adding the same action share one)."""
        if contexts is None:
            return self.context()
        key = (tuple((f.name, f.type) for f in self.spec.facts), frozenset(self.condition_names),
               tuple(self.action_ids))
        known = contexts.get(key)
        if known is None:
            known = contexts[key] = self.context()
        return known

    def context(self) -> rule_engine.Context:
        tree: dict[str, Any] = {}
        for fact in self.spec.facts:
            *parents, leaf = fact.name.split(".")
            node = tree
            for part in parents:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):  # reported by check_facts
                    break
                node = child
            else:
                if not isinstance(node.get(leaf), dict):
                    node[leaf] = _FACT_TYPES[fact.type]
        types: dict[str, Any] = {root: _object_type(root, members) if isinstance(members, dict) else members
                                 for root, members in tree.items() if root not in _RESERVED_ROOTS}
        state = {s: DataType.BOOLEAN for s in ACTION_STATES}
        types["actions"] = _object_type("actions", {a: dict(state) for a in self.action_ids})
        for name in self.condition_names:
            types.setdefault(name, DataType.BOOLEAN)
        # rule-engine evaluates (as the test oracle) under the same fixed decimal context as the generated code
        return rule_engine.Context(type_resolver=types, mapping_attribute_lookup=False, decimal_context=CONTEXT)

    # -- conditions --------------------------------------------------------------------------------------
    def compile_expr(self, expr: Expr, ctx: rule_engine.Context) -> CompiledExpr | None:
        if self.shared is not None:  # a condition of the base a store kept (in an action it changed otherwise)
            known = self.shared.exprs.get(id(expr))
            if known is not None:
                return known
        self.counter += 1
        too_big = _too_big(expr.text)
        if too_big:
            self.error(expr.diagnostic(too_big, hint="split it into named conditions"))
            return None
        try:
            with decimal.localcontext(CONTEXT):  # rule-engine folds constant arithmetic while it parses
                rule = rule_engine.Rule(expr.text, context=ctx)
        except re_errors.EngineError as err:
            self.error(self.engine_error(expr, err))
            return None
        except RecursionError:  # a last resort: _too_big keeps conditions well below this
            self.error(expr.diagnostic(f"the condition nests too deeply to parse (the limit is {MAX_DEPTH} levels)",
                                       hint="split it into named conditions"))
            return None
        except Exception as err:  # noqa: BLE001 - whatever the parser raises, the author gets a located diagnostic
            self.error(expr.diagnostic(f"invalid condition: {err!r}"))
            return None
        member = non_literal_member(rule)
        if member is not None:  # checked here: the translation of number lists assumes literal members
            self.error(expr.diagnostic(f"list members must be literal values, not {member}",
                                       offset=_find(expr.text, member),
                                       hint="compare with each fact on its own: a == b or a == c"))
            return None
        try:
            ir = lower(rule, facts=self.facts, fact_index=self.fact_index, conditions=self.condition_names)
            python = PythonSource(str(self.counter), self.constants).expr(ir)
        except LoweringError as err:
            bad = bad_literals(rule, self.facts)
            if any(b.value == err.needle for b in bad):  # undeclared enum values: every one of them, at once
                in_override = expr.doc.data.get("kind") == "StoreOverride"
                for b in bad:
                    self.error(expr.diagnostic(b.message, offset=_find(expr.text, b.value),
                                               hint=literal_hint(b, in_override)))
                return None
            self.error(expr.diagnostic(err.message, offset=_find(expr.text, err.needle), hint=err.hint))
            return None
        except re.error as err:
            self.error(expr.diagnostic(f"invalid regular expression: {err}"))
            return None
        except (RecursionError, ArithmeticError, ValueError, MemoryError) as err:
            self.error(expr.diagnostic(f"invalid condition: {err!r}"))
            return None
        read = reads(ir)
        return CompiledExpr(expr.text, python, read.facts, read.conditions, read.actions, read.action_states,
                            expr.where, rule, ir)

    def engine_error(self, expr: Expr, err: re_errors.EngineError) -> Diagnostic:
        text = expr.text
        if isinstance(err, re_errors.RuleSyntaxError):
            token = err.token
            offset = token.lexpos if token is not None else len(text)
            if token is not None and "illegal character" in err.message:
                where, detail = f"near {token.value[0]!r}", f"illegal character {token.value[0]!r}"
            else:
                where = f"near {token.value!r}" if token is not None else "at the end of the condition"
                detail = "syntax error"
            return expr.diagnostic(f"condition syntax error {where}: {detail}", offset=offset,
                                   hint=operator_hint(text) or _SYNTAX_HINT)
        if isinstance(err, re_errors.RegexSyntaxError):
            return expr.diagnostic(f"invalid regular expression {err.value!r}: {err.error.msg} at position {err.error.pos}",
                                   offset=_find_literal(text, err.value))
        if isinstance(err, re_errors.SymbolResolutionError):
            name = err.symbol_name
            if err.symbol_scope == "built-in":
                return expr.diagnostic(f"built-in symbol ${name} is not supported",
                                       offset=_find(text, "$" + name),
                                       hint="decisions must depend on declared facts only (declare a fact instead)")
            known = sorted({f.split(".")[0] for f in self.facts} | self.condition_names | {"actions"})
            values = {v for f in self.facts.values() if f.type == "enum" for v in f.values}
            return expr.diagnostic(f"unknown name {name!r}: not a fact root, a condition or 'actions'",
                                   offset=_find(text, name),
                                   hint=bare_value_hint(text, name, values) or did_you_mean(name, known)
                                   or bare_value_hint(text, name))
        if isinstance(err, re_errors.AttributeResolutionError):
            return self.attribute_error(expr, err)
        mismatch = static_mismatch(text, self.facts, self.condition_names)
        if mismatch is not None:
            message, needle = mismatch
            return expr.diagnostic(message, offset=_find(text, needle))
        message = getattr(err, "message", "") or str(err)
        return expr.diagnostic(f"invalid condition: {message}")

    def attribute_error(self, expr: Expr, err: re_errors.AttributeResolutionError) -> Diagnostic:
        name = err.attribute_name
        if not DataType.is_type(err.object, DataType.OBJECT):  # e.g. order.status.foo: an attribute of a value
            message = (f".length needs a string or set, not a {type_name(err.object)}" if name == "length" else
                       f"attribute {name!r} is not supported on facts (only .length)")  # `.length` said "only .length"
            return expr.diagnostic(message, offset=_find(expr.text, name))
        owner = err.object.name
        if owner == "actions":
            message, choices = f"unknown action {name!r}", self.action_ids
        elif owner.startswith("actions."):
            message, choices = f"unknown action state {name!r}", list(ACTION_STATES)
        else:
            message = f"unknown fact '{owner}.{name}'"
            choices = [f.removeprefix(owner + ".") for f in self.facts if f.startswith(owner + ".")]
        # rule-engine suggests its nearest name however far; only a close one helps
        suggestion = (difflib.get_close_matches(name, choices, n=1, cutoff=0.6) or [None])[0]
        hint = None
        if suggestion:
            hint = f"did you mean {suggestion!r}?" if owner.startswith("actions") else f"did you mean '{owner}.{suggestion}'?"
        return expr.diagnostic(message, offset=_find(expr.text, name), hint=hint)

    # -- actions -------------------------------------------------------------------------------------------
    def compile_action(self, action: ActionSpec, ctx: rule_engine.Context) -> CompiledAction | None:
        seen: dict[str, GuardSpec] = {}
        for guard in action.deny:
            if guard.id in seen:
                first = seen[guard.id]
                at = (f"line {first.doc.mark((*first.path, 'id')).line}" if first.doc is guard.doc
                      else first.doc.where((*first.path, "id")))
                self.error(guard.doc.diagnostic((*guard.path, "id"),
                                                f"duplicate guard id {guard.id!r} in action {action.id!r} "
                                                f"(first defined at {at})"))
            seen.setdefault(guard.id, guard)
        for effect in action.effects:
            self.check_effect(effect, action.doc)
        visible = self.compile_expr(action.visible, ctx)
        allow = self.compile_expr(action.allow, ctx)
        guards = [(g, self.compile_expr(g.when, ctx)) for g in action.deny]
        effects = [(e, self.compile_expr(e.when, ctx) if e.when else None) for e in action.effects]
        if visible is None or allow is None or any(c is None for _, c in guards) or \
                any(e.when is not None and c is None for e, c in effects):
            return None
        return CompiledAction(action, visible, allow,
                              tuple(CompiledGuard(g, c) for g, c in guards if c is not None),
                              tuple(CompiledEffect(e, c) for e, c in effects))

    def check_effect(self, effect: EffectSpec, doc: Document) -> None:
        for name, value in effect.set:
            path = (*effect.path, "set", name)
            fact = self.facts.get(name)
            if fact is None:
                self.error(doc.diagnostic(path, f"effect sets undeclared fact {name!r}", key=True,
                                          hint=did_you_mean(name, list(self.facts))))
            elif fact.type == "enum" and value not in fact.values:
                self.error(doc.diagnostic(path, f"{name} is never {value!r}; its declared values are: "
                                                f"{', '.join(fact.values)}",
                                          hint=did_you_mean(str(value), list(fact.values))))
            elif not _value_fits(fact.type, value):
                self.error(doc.diagnostic(path, f"{name} is a {fact.type} fact; {value!r} does not fit"))

    # -- the graph ------------------------------------------------------------------------------------------
    def order(self, conditions: Mapping[str, CompiledExpr],
              actions: Mapping[str, CompiledAction]) -> tuple[tuple[str, str], ...]:
        deps: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for name, expr in conditions.items():
            deps[("condition", name)] = _edges([expr])
        for action_id, action in actions.items():
            deps[("action", action_id)] = _edges(action.exprs())
        order: list[tuple[str, str]] = []
        state: dict[tuple[str, str], int] = {}  # 1 = on the current path, 2 = done
        reported: set[frozenset[tuple[str, str]]] = set()

        def visit(node: tuple[str, str], path: list[tuple[str, str]]) -> None:
            if state.get(node) == 2 or node not in deps:
                return
            if state.get(node) == 1:
                cycle = path[path.index(node):] + [node]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    self.error(self.cycle_diagnostic(cycle))
                return
            state[node] = 1
            for dep in deps[node]:
                visit(dep, [*path, node])
            state[node] = 2
            order.append(node)

        for node in deps:
            visit(node, [])
        return tuple(order)

    def node_location(self, node: tuple[str, str]) -> tuple[Document, tuple[str, ...]]:
        kind, name = node
        if kind == "condition":
            return next(c.expr.doc for c in self.spec.conditions if c.name == name), ("conditions", name)
        return next(a.doc for a in self.spec.actions if a.id == name), ("actions", name)

    def cycle_diagnostic(self, cycle: list[tuple[str, str]]) -> Diagnostic:
        # Start the cycle at its first node in file order, so the message is the same whatever order we walked in.
        body = cycle[:-1]

        def position(i: int) -> tuple[str, int, int]:
            doc, path = self.node_location(body[i])
            return (doc.file, doc.mark(path, key=True).line, i)

        first = min(range(len(body)), key=position)
        body = body[first:] + body[:first]
        names = " -> ".join(f"{kind} {name!r}" for kind, name in [*body, body[0]])
        doc, path = self.node_location(body[0])
        return doc.diagnostic(path, f"cycle: {names}", key=True,
                              hint="a condition or action cannot depend on itself, directly or through others")

    def run(self) -> CompiledPolicy:
        self.check_facts()
        shared = _Shared.of(self.base, self.spec)
        if self.base is not None:
            self.shared = shared
            # the base's constants come along with its compiled conditions; ours are named after its (K_<n>_<i>)
            self.constants.update(self.base.constants)
            self.counter = shared.counter
        ctx = shared.context if shared.context is not None else self.context_of(self.contexts)
        conditions = {c.name: shared.conditions.get(id(c)) or self.compile_expr(c.expr, ctx)
                      for c in self.spec.conditions}
        actions = {a.id: shared.actions.get(id(a)) or self.compile_action(a, ctx) for a in self.spec.actions}
        constraints = {c.name: shared.constraints.get(id(c)) or self.compile_expr(c.expr, ctx)
                       for c in self.spec.constraints}
        for name, expr in constraints.items():
            if expr is not None and expr.actions:
                self.error(self.spec.doc.diagnostic(("constraints", name), "a constraint reads facts only, not actions",
                                                    key=True))
        ok_conditions = {k: v for k, v in conditions.items() if v is not None}
        ok_actions = {k: v for k, v in actions.items() if v is not None}
        order = self.order(ok_conditions, ok_actions)
        if self.diagnostics:
            raise PolicyError(self.diagnostics)
        exprs = [*ok_conditions.values(), *(e for a in ok_actions.values() for e in a.exprs())]
        needed = tuple(sorted({self.fact_index[f] for e in exprs for f in e.facts}))
        return CompiledPolicy(self.spec, self.spec.facts, needed, ok_conditions, tuple(ok_actions.values()), order,
                              dict(self.constants), ctx, {k: v for k, v in constraints.items() if v is not None})


@attrs.frozen(slots=True)
class _Shared:
    """What a merged spec takes compiled from its base: each condition, action and constraint whose spec object is
    the base's own (merge keeps untouched ones as they are), by ``id`` of that spec object (both specs are alive
    while compiling, so ids are not reused). Reusing is exact: a store keeps the base's facts (it may only add
    facts, conditions and actions), so the base's compiled conditions parse, type and translate the same under the
    store's context; a named condition the store replaces is still read as ``c_<name>``, its new value."""

    conditions: dict[int, CompiledExpr]
    actions: dict[int, CompiledAction]
    exprs: dict[int, CompiledExpr]
    """Every condition of the base's actions by its ``Expr``: an action the store patches (a new label, one more
    guard) keeps the base's parse of what it does not change."""
    constraints: dict[int, CompiledExpr]
    context: rule_engine.Context | None
    """The base's typed context, when the merged spec declares the same facts, conditions and actions."""
    counter: int
    """Past the base's constant prefixes: a condition compiled for the store names its constants apart."""

    @classmethod
    def of(cls, base: CompiledPolicy | None, spec: PolicySpec) -> _Shared:
        if base is None:
            return cls({}, {}, {}, {}, None, 0)
        old = base.spec
        conditions = {id(c): base.conditions[c.name] for c in old.conditions if c.name in base.conditions}
        actions = {id(a.spec): a for a in base.actions}
        exprs: dict[int, CompiledExpr] = {}
        for action in base.actions:
            exprs[id(action.spec.visible)] = action.visible
            exprs[id(action.spec.allow)] = action.allow
            exprs.update((id(g.spec.when), g.when) for g in action.guards)
            exprs.update((id(e.spec.when), e.when) for e in action.effects if e.when is not None)
        constraints = {id(c): base.constraints[c.name] for c in old.constraints if c.name in base.constraints}
        same = (spec.facts == old.facts and [c.name for c in spec.conditions] == [c.name for c in old.conditions]
                and [a.id for a in spec.actions] == [a.id for a in old.actions])
        counter = max((int(name.split("_")[1]) for name in base.constants if name.count("_") >= 2
                       and name.split("_")[1].isdigit()), default=0)
        return cls(conditions, actions, exprs, constraints, base.context if same else None, counter)


MAX_ENUM_VALUES = 10_000
"""The most values one enum fact may declare."""

MAX_CONDITION_LENGTH = 1_000_000
"""The longest condition text (characters)."""

MAX_OPERATORS = 256
"""The most operators one condition may have (``and``, ``+``, ``==``, ``?``...; list commas do not count)."""

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_OPERATOR = re.compile(r"\b(?:and|or|not|in)\b|[=!]~~?|[=!<>]=|\*\*|//|[-+*/%<>?]")


def _too_big(text: str) -> str | None:
    """Why a condition is over the load budget, found before it is parsed (rule-engine's parser recurses once per
    operator), or None."""
    if len(text) > MAX_CONDITION_LENGTH:
        return f"the condition is {len(text)} characters long (the limit is {MAX_CONDITION_LENGTH})"
    operators = len(_OPERATOR.findall(_STRING.sub("''", text)))
    if operators > MAX_OPERATORS:
        return f"the condition has {operators} operators (the limit is {MAX_OPERATORS})"
    return None


def _edges(exprs: Iterable[CompiledExpr]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for expr in exprs:
        out += [("condition", c) for c in sorted(expr.conditions)]
        out += [("action", a) for a in sorted(expr.actions)]
    return list(dict.fromkeys(out))


def _value_fits(fact_type: str, value: Any) -> bool:
    if fact_type == "bool":
        return isinstance(value, bool)
    if fact_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if fact_type in ("string", "enum"):
        return isinstance(value, str)
    return False  # sets are not assignable by effects


_SYNTAX_HINT = "conditions use rule-engine syntax: order.status == 'Error' and not order.has_shipment"


def _find_literal(text: str, value: str) -> int:
    """The offset of a string literal's first character inside its quotes."""
    for quote in ("'", '"'):
        at = text.find(quote + value + quote)
        if at >= 0:
            return at + 1
    return _find(text, value)


def _find(text: str, needle: str | None) -> int:
    """The offset of ``needle`` in ``text`` as a whole word (so the column points inside the expression), else 0."""
    if not needle:
        return 0
    match = re.search(r"(?<![\w.])" + re.escape(needle) + r"(?!\w)", text) or re.search(re.escape(needle), text)
    return match.start() if match else 0




@attrs.frozen(slots=True)
class ExtraConditions:
    """Conditions compiled against a policy without being part of it (an invariant's ``when``, say)."""

    exprs: tuple[CompiledExpr | None, ...]
    constants: Mapping[str, Any]
    """The constants their Python refers to, named apart from the policy's own."""
    diagnostics: tuple[Diagnostic, ...]


def compile_conditions(policy: CompiledPolicy, exprs: Iterable[Expr | None]) -> ExtraConditions:
    """Compile extra conditions under ``policy``'s typed context (its facts, named conditions and actions), with
    the same checks and diagnostics as the policy's own; None entries stay None."""
    compiler = _Compiler(policy.spec)
    compiler.counter = 1_000_000  # keeps the names of their constants apart from the policy's own
    compiled = tuple(compiler.compile_expr(e, policy.context) if e is not None else None for e in exprs)
    return ExtraConditions(compiled, dict(compiler.constants), tuple(compiler.diagnostics))


def compile_policy(spec: PolicySpec, base: CompiledPolicy | None = None, *,
                   contexts: dict[Any, rule_engine.Context] | None = None) -> CompiledPolicy:
    """Compile ``spec``; raise :class:`PolicyError` with every problem found.

    ``base``: the compiled policy ``spec`` was merged from (:func:`~.merge.merge_override`). What the merge left
    untouched (the same spec objects) is shared, compiled, with ``base`` instead of being parsed again, so a store
    override costs what it changes; the result is the same as compiling ``spec`` alone (constants aside, which are
    named apart). ``contexts``: typed contexts already built, shared by specs declaring the same names (a load
    passes one dict for all its store overrides)."""
    return _Compiler(spec, base, contexts).run()
