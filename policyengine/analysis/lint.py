"""Static analysis of loaded policies (``policyengine lint``): what a policy says that cannot be what its author meant.

Every rule is decided exactly, not guessed: small spaces of finite facts (enum, bool) are enumerated over every
combination the policy's declared constraints allow, each condition evaluated by the same :class:`Interpreter`
that decides orders; conditions over number, string or set facts, and large spaces, are decided by the SMT solver
(:mod:`.decide` asks both the same questions). What neither can decide is listed as *skipped*, with the reason,
never reported on a guess. The base policy (every loaded version) and every store override's merged policy are
analysed; a finding that only shows in a store says so.

Rules (ids are stable; ``docs/lint.md`` explains each with an example and the fix):

* PE101 always-true-condition, PE102 always-false-condition: a named condition, a visibility or allow condition,
  or an effect's ``when`` that has the same value for every possible combination of facts;
* PE103 guard-never-fires, PE104 guard-shadowed-by-allow: a deny guard that never fires while its action is
  visible, or only ever fires when the allow condition has already disabled the action;
* PE201 never-enabled, PE202 always-hidden: an action enabled for nobody, or hidden from everybody;
* PE301 unused-condition, PE302 unused-fact: declarations nothing reads;
* PE401 disabled-without-reason: an allow condition that can disable the action but gives people no reason;
* PE501 override-changes-nothing: a store override (or one of its changes) that changes no decision.

This module also holds the exact-enumeration core (:class:`Analysis`, with its translation for the solver) that
``verify`` builds on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ..engine import Engine
from ..ir.python import function
from ..locks import STORE_FACT
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import ConditionSpec, FactSpec, OverrideSpec
from ..pipeline.yamlsource import Document
from ..proof import smt
from ..proof.space import assignments, depends_on
from ..runtime.decision import Decision
from ..runtime.interpret import Interpreter, Unknown, namespace_for
from .decide import MAX_SPACE, Query, Undecided, enabled, enumerate_limit, false, query, true
from .lint_text import TEXT_RULES, text_findings

__all__ = ["MAX_SPACE", "RULES", "Analysis", "Finding", "LintReport", "Rule", "Skipped", "Space", "lint"]


# -- the rules ---------------------------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Rule:
    id: str
    name: str
    summary: str


RULES: Mapping[str, Rule] = {r.id: r for r in (
    Rule("PE101", "always-true-condition", "a condition is true for every possible combination of facts"),
    Rule("PE102", "always-false-condition", "a condition is false for every possible combination of facts"),
    Rule("PE103", "guard-never-fires", "a deny guard never fires while its action is visible"),
    Rule("PE104", "guard-shadowed-by-allow", "whenever a deny guard fires, the allow condition already disabled the action"),
    Rule("PE201", "never-enabled", "an action is enabled for nobody"),
    Rule("PE202", "always-hidden", "an action is hidden from everybody"),
    Rule("PE301", "unused-condition", "a named condition nothing reads"),
    Rule("PE302", "unused-fact", "a declared fact no condition reads"),
    Rule("PE401", "disabled-without-reason", "an allow condition can disable the action but has no reason text"),
    Rule("PE501", "override-changes-nothing", "a store override, or one of its changes, changes no decision"),
    *(Rule(*rule) for rule in TEXT_RULES),
)}
"""Every lint rule by id, in id order."""


@attrs.frozen(slots=True)
class Finding:
    """One lint finding, located in its source file."""

    rule: str
    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    stores: tuple[str, ...] = ()
    """The stores whose policy alone shows it (empty when the base policy does, or when it is in the store's own
    override file)."""

    @property
    def name(self) -> str:
        return RULES[self.rule].name

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.rule, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "name": self.name, "file": self.file, "line": self.line, "column": self.column,
                "message": self.message, "hint": self.hint, "stores": list(self.stores)}


@attrs.frozen(slots=True)
class Skipped:
    """Something that could not be analysed exactly, and why (a fact with no finite set of values, say)."""

    file: str
    line: int
    column: int
    what: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "what": self.what, "reason": self.reason}


@attrs.frozen(slots=True)
class LintReport:
    findings: tuple[Finding, ...]
    """Sorted by file, line, column."""
    skipped: tuple[Skipped, ...]
    policies: tuple[str, ...]
    """What was analysed: ``order-actions@1``, ``store acme (acme@1)``..."""

    @property
    def counts(self) -> dict[str, int]:
        """Findings per rule id (only rules with findings), in id order."""
        out: dict[str, int] = {}
        for rule in sorted(f.rule for f in self.findings):
            out[rule] = out.get(rule, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.findings, "policies": list(self.policies),
                "findings": [f.to_dict() for f in self.findings], "counts": self.counts,
                "skipped": [s.to_dict() for s in self.skipped]}


# -- exact enumeration ---------------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Row:
    """One possible combination of facts, and the environment the interpreter computed for it."""

    values: Mapping[str, Any]
    env: dict[Any, Any] = attrs.field(eq=False, repr=False)


@attrs.frozen(slots=True)
class Space:
    """The possible combinations of the facts some conditions depend on, or why they cannot be enumerated."""

    facts: tuple[str, ...]
    """The facts the conditions depend on (directly, through named conditions and action references), in
    declaration order. Rows may assign more: the facts the declared constraints tie to these."""
    rows: tuple[Row, ...]
    skipped: str | None = None

    def project(self, row: Row) -> tuple[Any, ...]:
        return tuple(row.values[name] for name in self.facts)


def _is_literal(expr: CompiledExpr, value: str) -> bool:
    return expr.text.strip().lower() == value


class Analysis:
    """Evaluates one compiled policy over every possible combination of the finite facts some conditions read.

    A space covers the facts the conditions depend on plus the facts the declared constraints tie to them
    (transitively), so the constraints are applied exactly; rows are computed once per such set of facts.
    """

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.interpreter = Interpreter(policy)
        self.facts = {f.name: f for f in policy.facts}
        self.actions = {a.id: a for a in policy.actions}
        self.index = {f.name: i for i, f in enumerate(policy.facts)}
        self._constraints = [frozenset(depends_on(policy, [e])) for e in policy.constraints.values()]
        self._rows: dict[frozenset[str], tuple[Row, ...]] = {}
        self._envs: dict[tuple[tuple[str, Any], ...], dict[Any, Any]] = {}
        self._solver: tuple[smt.Encoder, smt.PolicyTerms, Any] | None = None

    def solver(self) -> tuple[smt.Encoder, smt.PolicyTerms, Any]:
        """The policy in z3, shared by every question asked of this analysis: ``(encoder, terms, possible)``, where
        ``possible`` is its constraints. Raises :class:`~policyengine.proof.smt.Unsupported` (z3 missing too)."""
        if self._solver is None:
            encoder = smt.Encoder()
            terms = encoder.policy(self.policy)
            self._solver = (encoder, terms, terms.possible())
        return self._solver

    def space(self, exprs: Iterable[CompiledExpr], facts: Iterable[str] = (), limit: int = MAX_SPACE) -> Space:
        names = depends_on(self.policy, exprs) | set(facts)
        relevant = tuple(f.name for f in self.policy.facts if f.name in names)
        open_facts = [self.facts[n] for n in relevant if not self.facts[n].finite]
        if open_facts:
            listed = ", ".join(f"{f.name} ({f.type})" for f in open_facts)
            return Space(relevant, (), f"reads {listed}, which {'has' if len(open_facts) == 1 else 'have'} "
                                       "no finite set of values")
        closure = self._closure(set(relevant))
        size = math.prod(len(self.facts[n].domain) for n in closure)
        if size > limit:
            return Space(relevant, (), f"{size} combinations of {len(closure)} facts (the limit is {limit})")
        key = frozenset(closure)
        rows = self._rows.get(key)
        if rows is None:
            rows = self._rows[key] = tuple(self._possible(key))
        return Space(relevant, rows)

    def _possible(self, names: frozenset[str]) -> Iterator[Row]:
        """Every combination of ``names`` that breaks no declared constraint reading only them (as
        :func:`~policyengine.proof.space.possible_assignments`, which fails on a constraint reading a fact that no
        condition reads: the interpreter does not resolve such a fact, so it is bound here)."""
        chosen = [f for f in self.policy.facts if f.name in names]
        applicable = [e for e, facts in zip(self.policy.constraints.values(), self._constraints, strict=True)
                      if facts <= names]
        needed = {self.policy.facts[i].name for i in self.policy.needed}
        for values in assignments(chosen):
            env = self.env(values)
            for name in names - needed:
                env[f"f{self.index[name]}"] = values[name]
            if all(self.interpreter.value(e, env) is not False for e in applicable):
                yield Row(values, env)

    def _closure(self, names: set[str]) -> set[str]:
        out = set(names)
        changed = True
        while changed:
            changed = False
            for facts in self._constraints:
                if facts & out and not facts <= out and all(self.facts[n].finite for n in facts):
                    out |= facts
                    changed = True
        return out

    def env(self, values: Mapping[str, Any]) -> dict[Any, Any]:
        """The interpreter's environment for ``values`` (facts it does not assign are missing)."""
        key = tuple(sorted(values.items()))
        env = self._envs.get(key)
        if env is None:
            env, _ = self.interpreter.resolve(values, defaults=False)
            self.interpreter.run(env)
            self._envs[key] = env
        return env

    def solver_row(self, values: Mapping[str, Any], exprs: Iterable[CompiledExpr] | None = None,
                   actions: Iterable[str] = ()) -> Row:
        """The row of any valid values (a solver's counterexample: numbers, strings and sets too), facts that no
        decision reads included, so that it can be re-checked by the interpreter. With ``exprs`` (and
        ``actions``), only what they depend on is evaluated (a large policy is not run whole to re-check one
        condition)."""
        if exprs is None:
            env = dict(self.env(values))
        else:
            env, _ = self.interpreter.resolve(values, defaults=False)
            decided = [self.actions[a] for a in actions]
            nodes = _closure_nodes(self.policy, [*exprs, *(e for a in decided for e in a.exprs())])
            nodes |= {("action", a) for a in actions}
            for kind, name in self.policy.order:
                if (kind, name) not in nodes:
                    continue
                if kind == "condition":
                    env[f"c_{name}"] = self.interpreter.value(self.policy.conditions[name], env)
                else:  # as Interpreter.run decides an action
                    env[f"a_{name}"] = self.interpreter._action(self.interpreter.shapes[name], env)
        needed = set(self.policy.needed)
        for name, value in values.items():
            if self.index[name] not in needed:
                env[f"f{self.index[name]}"] = value
        return Row(values, env)

    def value(self, expr: CompiledExpr, row: Row) -> bool | None:
        """``expr``'s value in ``row`` (None if it could not be decided), evaluating it if the run did not (the
        allow condition of a hidden action, say)."""
        env = row.env
        result = env[id(expr)] if id(expr) in env else self.interpreter.value(expr, env)
        return None if isinstance(result, Unknown) else bool(result)

    def decision(self, action: str, row: Row) -> Decision:
        decision: Decision = row.env[f"a_{action}"]
        return decision

    def bind(self, expr: CompiledExpr, constants: Mapping[str, Any]) -> Callable[[Row], bool | None]:
        """An evaluator for a condition compiled against this policy's context but not part of it (an
        invariant's ``when``): its value in a row, None if it could not be decided."""
        index = {f.name: i for i, f in enumerate(self.policy.facts)}
        params = tuple(sorted({f"f{index[f]}" for f in expr.facts} | {f"c_{c}" for c in expr.conditions}
                              | {f"a_{a}" for a in expr.actions}))
        namespace = namespace_for(self.policy)
        namespace.update(constants)
        fn = function(params, expr.python, namespace)

        def evaluate(row: Row) -> bool | None:
            args = [row.env[p] for p in params]
            if any(isinstance(a, Unknown) for a in args):
                return None
            try:
                return bool(fn(*args))
            except Exception:  # noqa: BLE001 - as the interpreter: an error is "could not be decided"
                return None

        return evaluate


# -- locations -------------------------------------------------------------------------------------------------

def _split(where: str) -> tuple[str, int, int]:
    file, line, column = where.rsplit(":", 2)
    return file, int(line), int(column)


@attrs.frozen(slots=True)
class _Raw:
    rule: str
    where: str
    message: str
    hint: str | None = None


def _at(doc: Document, path: tuple[str | int, ...]) -> str:
    """``file:line:col`` of the key at ``path``."""
    return doc.where(path, key=True)


# -- the linter --------------------------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class _Target:
    label: str
    policy: CompiledPolicy
    store: str | None = None
    override: OverrideSpec | None = None
    base: CompiledPolicy | None = None


class _Linter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.targets = [_Target(engine.version_policy(v).spec.label, engine.version_policy(v)) for v in engine.versions]
        for store in engine.stores:
            sp = engine.store_override(store)
            assert sp is not None
            self.targets.append(_Target(f"store {store} ({sp.override.label})", sp.policy, store, sp.override,
                                        engine.version_policy(sp.base_version)))
        self.analyses = {id(t.policy): Analysis(t.policy) for t in self.targets}
        self.analyses.update({id(t.base): Analysis(t.base) for t in self.targets if t.base is not None
                              and id(t.base) not in self.analyses})
        self.skipped: dict[tuple[str, str], Skipped] = {}

    def skip(self, where: str, what: str, reason: str) -> None:
        file, line, column = _split(where)
        self.skipped.setdefault((where, what), Skipped(file, line, column, what, reason))

    def run(self) -> LintReport:
        found: dict[tuple[str, str, str], tuple[_Raw, list[str], bool]] = {}
        for target in self.targets:
            raws = self.policy(target)
            if target.override is not None and target.base is not None:
                raws += self.override(target)
            for raw in raws:
                key = (raw.rule, raw.where, raw.message)
                entry = found.setdefault(key, (raw, [], False))
                if target.store is None:
                    found[key] = (entry[0], entry[1], True)
                elif target.override is not None and not raw.where.startswith(target.override.doc.file + ":"):
                    entry[1].append(target.store)
        for raw in self.unused():
            found.setdefault((raw.rule, raw.where, raw.message), (raw, [], True))
        findings = []
        for raw, stores, in_base in found.values():
            file, line, column = _split(raw.where)
            findings.append(Finding(raw.rule, file, line, column, raw.message, raw.hint,
                                    () if in_base else tuple(sorted(set(stores)))))
        findings.sort(key=lambda f: f.sort_key)
        skipped = sorted(self.skipped.values(), key=lambda s: (s.file, s.line, s.column, s.what))
        return LintReport(tuple(findings), tuple(skipped), tuple(t.label for t in self.targets))

    # -- per policy ----------------------------------------------------------------------------------------
    def policy(self, target: _Target) -> list[_Raw]:
        policy = target.policy
        analysis = self.analyses[id(policy)]
        out: list[_Raw] = []
        for name, expr in policy.conditions.items():
            if _is_literal(expr, "true") or _is_literal(expr, "false"):
                continue
            q = query(analysis, [expr])
            try:
                constant = _constant(q, expr)
            except Undecided as err:
                self.skip(expr.where, f"condition {name!r}", str(err))
                continue
            if constant is True:
                out.append(_Raw("PE101", expr.where, f"condition {name!r} is always true",
                                "fix the condition, or replace it with `true`; only combinations the policy's "
                                "constraints allow are considered"))
            elif constant is False:
                out.append(_Raw("PE102", expr.where, f"condition {name!r} is never true",
                                "fix the condition; only combinations the policy's constraints allow are considered"))
        for action in policy.actions:
            q = query(analysis, action.exprs())
            try:
                out += self.action(q, action)
            except Undecided as err:
                spec = action.spec
                self.skip(spec.doc.where(spec.path, key=True), f"action {spec.id!r}", str(err))
        return out

    def action(self, q: Query, action: CompiledAction) -> list[_Raw]:
        spec = action.spec
        name = spec.id
        if _is_literal(action.visible, "false"):
            return []  # switched off on purpose (`visible: false`, or `hidden: true` in a store override)
        if not q.exists():
            return []
        out: list[_Raw] = []
        visible = true(action.visible)
        if not q.exists(visible):
            return [_Raw("PE202", action.visible.where, f"action {name!r} is hidden from everybody: its visibility "
                                                         f"`{action.visible.text}` is never true",
                         "fix the condition; to switch an action off on purpose write `visible: false` "
                         "(`hidden: true` in a store override)")]
        if not _is_literal(action.visible, "true") and q.forall(visible):
            out.append(_Raw("PE101", action.visible.where,
                            f"the visibility of action {name!r} is always true: it is never hidden",
                            "drop `visible` (an action is visible by default), or fix the condition"))
        if not _is_literal(action.allow, "true") and q.forall(true(action.allow)):
            out.append(_Raw("PE101", action.allow.where, f"the allow condition of action {name!r} is always true",
                            "write `allow: true` if everybody may use it, or fix the condition"))
        ever_enabled = q.exists(visible & enabled(name))
        if not ever_enabled and not _is_literal(action.allow, "false"):
            out.append(self.never_enabled(q, action))
        elif ever_enabled:
            for guard in action.guards:
                fires = true(guard.when)
                gid = guard.spec.id
                if not q.exists(visible & fires):
                    message = (f"guard {gid!r} of action {name!r} only fires when the action is hidden" if q.exists(fires)
                               else f"guard {gid!r} of action {name!r} never fires")
                    out.append(_Raw("PE103", guard.when.where, message,
                                    "remove the guard, or fix its condition"))
                elif q.forall(~(visible & fires) | false(action.allow)):
                    out.append(_Raw("PE104", guard.when.where,
                                    f"guard {gid!r} of action {name!r} never decides anything: whenever it fires, "
                                    f"the allow condition `{action.allow.text}` is already false",
                                    "remove the guard (allow's reason is shown), or narrow the allow condition"))
        if spec.allow_reason is None and not _is_literal(action.allow, "true") and \
                q.exists(visible & false(action.allow)):
            out.append(_Raw("PE401", action.allow.where,
                            f"action {name!r} can be disabled by its allow condition, which gives no reason: people "
                            f"would read \"not allowed: `{action.allow.text}` is false\"",
                            f"write allow: {{when: {action.allow.text}, reason: <what people can do about it>}}"))
        for i, effect in enumerate(action.effects):
            when = effect.when
            if when is None or _is_literal(when, "true") or _is_literal(when, "false"):
                continue
            constant = _constant(q, when)
            if constant is True:
                out.append(_Raw("PE101", when.where, f"effect {i + 1} of action {name!r} always applies: its "
                                                      "`when` is always true", "drop the `when`"))
            elif constant is False:
                out.append(_Raw("PE102", when.where, f"effect {i + 1} of action {name!r} never applies: its "
                                                      "`when` is never true", "fix the condition, or drop the effect"))
        return out

    @staticmethod
    def never_enabled(q: Query, action: CompiledAction) -> _Raw:
        name = action.spec.id
        hint = "fix the conditions; to switch an action off on purpose write `allow: false` with a reason"
        visible = true(action.visible)
        if q.forall(~visible | false(action.allow)):
            return _Raw("PE201", action.allow.where, f"action {name!r} is enabled for nobody: its allow condition "
                                                      f"`{action.allow.text}` is never true where it is visible", hint)
        for guard in action.guards:
            if q.forall(~visible | true(guard.when)):
                return _Raw("PE201", guard.when.where, f"action {name!r} is enabled for nobody: guard "
                                                        f"{guard.spec.id!r} fires whenever it is visible", hint)
        spec = action.spec
        return _Raw("PE201", spec.doc.where(spec.path, key=True),
                    f"action {name!r} is enabled for nobody: wherever it is visible, its allow condition is false "
                    "or a guard fires", hint)

    # -- store overrides -------------------------------------------------------------------------------------
    def override(self, target: _Target) -> list[_Raw]:
        override, base, merged = target.override, target.base, target.policy
        assert override is not None and base is not None
        mine, theirs = self.analyses[id(merged)], self.analyses[id(base)]
        base_actions = {a.id: a for a in base.actions}
        merged_actions = {a.id: a for a in merged.actions}
        out: list[_Raw] = []
        store = override.store

        solver = _Compare(base, merged)
        undecided: list[str] = []

        def same_decisions(action_ids: Iterable[str]) -> bool | None:
            for action_id in action_ids:
                b, m = base_actions[action_id], merged_actions[action_id]
                space = mine.space(m.exprs(), depends_on(base, b.exprs()), limit=enumerate_limit(merged))
                if space.skipped:
                    try:
                        if not solver.same_decisions(b, m):
                            return False
                    except Undecided as err:
                        undecided.append(f"{space.skipped}; {err}")
                        return None
                    continue
                for row in space.rows:
                    if _shown(theirs.decision(action_id, _rerun(theirs, row))) != _shown(mine.decision(action_id, row)):
                        return False
            return True

        for patch in override.actions:
            if patch.id not in base_actions:
                continue
            same = same_decisions([patch.id])
            if same:
                out.append(_Raw("PE501", _at(override.doc, patch.path),
                                f"store {store}'s change to action {patch.id!r} changes no decision: it decides "
                                f"every possible order as {base.spec.label} does",
                                "remove the change, or fix it"))
            elif same is None:
                self.skip(_at(override.doc, patch.path), f"store {store}'s change to action {patch.id!r}", undecided[-1])
        redefined = 0
        for condition in override.conditions:
            if condition.name not in base.conditions:
                continue
            b, m = base.conditions[condition.name], merged.conditions[condition.name]
            space = mine.space([m], depends_on(base, [b]), limit=enumerate_limit(merged))
            where = _at(condition.expr.doc, ("conditions", condition.name))
            if space.skipped:
                try:
                    same = solver.same_condition(b, m)
                except Undecided as err:
                    self.skip(where, f"store {store}'s condition {condition.name!r}", f"{space.skipped}; {err}")
                    continue
            else:
                same = all(theirs.value(b, _rerun(theirs, row)) == mine.value(m, row) for row in space.rows)
            if same:
                redefined += 1
                out.append(_Raw("PE501", where, f"store {store} redefines condition {condition.name!r} with the same "
                                                f"value as {base.spec.label} for every possible combination of facts",
                                "remove the redefinition"))
        if not override.actions and not redefined and same_decisions(base_actions):
            out.append(_Raw("PE501", _at(override.doc, ("store",)),
                            f"store override {override.label} changes no decision: every action decides every possible "
                            f"order as {base.spec.label} does", "remove the override, or add the change it was meant for"))
        return out

    # -- across policies: what nothing reads --------------------------------------------------------------------
    def unused(self) -> list[_Raw]:
        used_conditions: set[str] = set()  # where each used definition is written
        used_facts: set[tuple[str, str]] = set()  # (file declaring it, name)
        for target in self.targets:
            policy = target.policy
            declared = {f.name: f.doc.file for f in policy.facts}
            reached: set[str] = set()
            todo = [e for a in policy.actions for e in a.exprs()]
            todo += list(policy.constraints.values())
            facts: set[str] = set()
            seen: set[int] = set()
            while todo:
                expr = todo.pop()
                if id(expr) in seen:
                    continue
                seen.add(id(expr))
                if not any(expr is c for c in policy.constraints.values()):
                    facts |= expr.facts
                for name in expr.conditions:
                    reached.add(name)
                    todo.append(policy.conditions[name])
            facts |= {name for a in policy.actions for e in a.spec.effects for name, _ in e.set}
            used_conditions |= {policy.conditions[n].where for n in reached}
            used_facts |= {(declared[n], n) for n in facts}
        out: list[_Raw] = []
        specs: list[tuple[Document, Iterable[ConditionSpec], Iterable[FactSpec], set[str]]] = []
        seen_docs: set[str] = set()
        for target in self.targets:
            spec = (target.base or target.policy).spec
            if spec.doc.file not in seen_docs:
                seen_docs.add(spec.doc.file)
                specs.append((spec.doc, spec.conditions, spec.facts, set()))
            if target.override is not None:
                base_facts = {f.name for f in spec.facts}
                specs.append((target.override.doc, target.override.conditions, target.override.facts, base_facts))
        for doc, conditions, declared_facts, inherited in specs:
            for condition in conditions:
                if condition.expr.where not in used_conditions:
                    out.append(_Raw("PE301", _at(doc, ("conditions", condition.name)),
                                    f"condition {condition.name!r} is not used by any action",
                                    "remove it, or use it"))
            for fact in declared_facts:
                if fact.name == STORE_FACT or fact.name in inherited:
                    continue
                if (fact.doc.file, fact.name) not in used_facts:
                    out.append(_Raw("PE302", _at(doc, fact.path), f"fact {fact.name!r} is not read by any condition",
                                    "remove it, or use it"))
        return out


def _closure_nodes(policy: CompiledPolicy, exprs: Iterable[CompiledExpr]) -> set[tuple[str, str]]:
    """The named conditions and actions ``exprs`` read, directly or through each other."""
    actions = {a.id: a for a in policy.actions}
    out: set[tuple[str, str]] = set()
    todo = list(exprs)
    while todo:
        expr = todo.pop()
        for name in expr.conditions:
            if ("condition", name) not in out:
                out.add(("condition", name))
                todo.append(policy.conditions[name])
        for action in expr.actions:
            if ("action", action) not in out:
                out.add(("action", action))
                todo += list(actions[action].exprs())
    return out


class _Compare:
    """Whether a store's policy decides an action (or a named condition) exactly as its base, by the solver: one
    translation of both policies over the same facts, over the combinations the store's constraints allow. A
    difference is confirmed by the interpreter before it counts."""

    def __init__(self, base: CompiledPolicy, merged: CompiledPolicy) -> None:
        self.base, self.merged = base, merged
        self._terms: tuple[smt.Encoder, smt.PolicyTerms, smt.PolicyTerms, Any] | None = None

    def terms(self) -> tuple[smt.Encoder, smt.PolicyTerms, smt.PolicyTerms, Any]:
        if self._terms is None:
            if not smt.available():
                raise Undecided(smt.INSTALL)
            try:
                encoder = smt.Encoder()
                theirs, mine = encoder.policy(self.base), encoder.policy(self.merged)
                self._terms = (encoder, theirs, mine, mine.possible())
            except smt.Unsupported as err:
                raise Undecided(f"could not decide: {err}") from err
        return self._terms

    def differ(self, formula: Any, confirm: Callable[[Any, Any], bool]) -> bool:
        encoder, _, _, possible = self.terms()
        runs = Interpreter(self.base), Interpreter(self.merged)
        verdict = smt.satisfiable(encoder, smt.z3.And(possible, formula),
                                  confirm=lambda values: confirm(*(r.evaluate(dict(values))[1] for r in runs)))
        if verdict.undecided:
            raise Undecided(verdict.reason or "could not decide")
        return verdict.holds

    def same_condition(self, b: CompiledExpr, m: CompiledExpr) -> bool:
        z3 = smt.z3
        try:
            _, theirs, mine, _ = self.terms()
            x, y = theirs.expr(b), mine.expr(m)
        except smt.Unsupported as err:
            raise Undecided(f"could not decide: {err}") from err
        differ = z3.Or(z3.Xor(x.unknown, y.unknown), z3.And(z3.Not(x.unknown), z3.Xor(x.value, y.value)))

        def shown(their_env: Any, my_env: Any) -> bool:  # named conditions are evaluated by every run
            return bool(_known(their_env[id(b)]) != _known(my_env[id(m)]))

        return not self.differ(differ, shown)

    def same_decisions(self, b: CompiledAction, m: CompiledAction) -> bool:
        """Decisions (state, reasons, effects, label...) identical for every possible combination."""
        if (b.spec.label, b.spec.confirm, b.spec.destructive) != (m.spec.label, m.spec.confirm, m.spec.destructive):
            return False  # every decision carries them
        z3 = smt.z3
        try:
            _, theirs, mine, _ = self.terms()
            sides = [_Shown.of(theirs, b), _Shown.of(mine, m)]
        except smt.Unsupported as err:
            raise Undecided(f"could not decide: {err}") from err
        old, new = sides
        shown = z3.And(old.visible, new.visible)
        differ = z3.Or(z3.Xor(old.visible, new.visible), z3.Xor(old.enabled, new.enabled),
                       z3.Xor(old.hidden_unknown, new.hidden_unknown),
                       z3.And(old.hidden_known, new.hidden_known, z3.BoolVal(old.hidden_text != new.hidden_text)),
                       z3.And(shown, z3.Or(z3.Xor(old.errors, new.errors), _lists_differ(old.reasons, new.reasons),
                                           _lists_differ(old.effects, new.effects))))

        def confirm(their_env: Any, my_env: Any) -> bool:
            return _shown(their_env[f"a_{b.id}"]) != _shown(my_env[f"a_{m.id}"])

        return not self.differ(differ, confirm)


def _known(value: Any) -> Any:
    return None if isinstance(value, Unknown) else value


@attrs.frozen(slots=True)
class _Shown:
    """What people see of one action's decision, in z3: its states, and its reasons and effects as
    (condition, text) lists in the order the decision lists them."""

    visible: Any
    enabled: Any
    hidden_known: Any
    hidden_unknown: Any
    hidden_text: str
    errors: Any
    reasons: tuple[tuple[Any, Any], ...]
    effects: tuple[tuple[Any, Any], ...]

    @classmethod
    def of(cls, terms: smt.PolicyTerms, action: CompiledAction) -> _Shown:
        z3 = smt.z3
        spec = action.spec
        visible, allow = terms.expr(action.visible), terms.expr(action.allow)
        state = terms.action(action.id)
        allow_text = spec.allow_reason or f"not allowed: `{spec.allow.text}` is false"
        reasons = [(allow.false, allow_text), *((terms.expr(g.when).true, g.spec.reason) for g in action.guards)]
        effects = [(z3.BoolVal(True) if e.when is None else terms.expr(e.when).true, (e.spec.set, e.spec.operation))
                   for e in action.effects]
        return cls(state.visible, state.enabled, visible.false, visible.unknown,
                   spec.hidden_reason or f"not shown: `{spec.visible.text}` is false",
                   z3.And(state.visible, state.errors), tuple(reasons), tuple(effects))


def _lists_differ(old: Sequence[tuple[Any, Any]], new: Sequence[tuple[Any, Any]]) -> Any:
    """Whether two lists of (condition, item), each filtered by its conditions, can differ: exact when each
    list's items are distinct and both order their common items alike; otherwise :class:`Undecided`."""
    z3 = smt.z3
    old_items, new_items = [i for _, i in old], [i for _, i in new]
    common = [i for i in old_items if i in new_items]
    if len(set(map(repr, old_items))) < len(old_items) or len(set(map(repr, new_items))) < len(new_items) or \
            common != [i for i in new_items if i in old_items]:
        raise Undecided("could not decide: the same reason or effect appears twice, or in another order")

    def when(items: Sequence[tuple[Any, Any]], item: Any) -> Any:
        return next((c for c, i in items if i == item), z3.BoolVal(False))

    everything = [*old_items, *(i for i in new_items if i not in old_items)]
    return z3.Or(z3.BoolVal(False), *[z3.Xor(when(old, i), when(new, i)) for i in everything])


def _constant(q: Query, expr: CompiledExpr) -> bool | None:
    """True when ``expr`` is known true in every possible combination, False when known false in every one, else
    None (and None when no combination is possible); raises :class:`Undecided`."""
    if not q.exists():
        return None
    if q.forall(true(expr)):
        return True
    if q.forall(false(expr)):
        return False
    return None


def _rerun(analysis: Analysis, row: Row) -> Row:
    """``row``'s combination of facts, evaluated by another policy (a store's base, to compare decisions)."""
    return Row(row.values, analysis.env(row.values))


def _shown(decision: Decision) -> tuple[Any, ...]:
    """What people see of a decision (its provenance aside)."""
    return (decision.state, decision.reasons, decision.label, decision.confirm, decision.effects, decision.destructive)


def lint(engine: Engine) -> LintReport:
    """Analyse every loaded base version and store override of ``engine``; see the module docstring for the rules."""
    linter = _Linter(engine)
    return _with_text(linter.run(), text_findings(engine, linter.analyses))


def _with_text(report: LintReport, raws: list[tuple[tuple[str, str, str, str | None], str | None]]) -> LintReport:
    """``report`` with the findings of :mod:`.lint_text` (a finding the base shows is not a store's alone)."""
    stores: dict[tuple[str, str, str, str | None], set[str] | None] = {}
    for raw, store in raws:
        seen = stores.setdefault(raw, set())
        stores[raw] = None if store is None or seen is None else seen | {store}
    added = [Finding(rule, *_split(where), message, hint, tuple(sorted(only or ())))
             for (rule, where, message, hint), only in stores.items()]
    findings = sorted({*report.findings, *added}, key=lambda f: f.sort_key)
    return attrs.evolve(report, findings=tuple(findings))
