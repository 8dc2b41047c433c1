"""Exact analysis beyond finite facts: compiled conditions translated into z3 (the optional extra
``policyengine[smt]``), and three queries over them: :func:`satisfiable`, :func:`implies` and :func:`equivalent`.

:mod:`.space` enumerates the finite facts (enum, bool); a condition that reads a number, string or set fact has
no finite space, and this module decides it instead. Each query returns a :class:`Verdict`: it holds, it fails
with a concrete, readable counterexample (``order.total = 1000.01``), or it is undecided with the reason (the
solver is not installed, gave up within its time budget, or the condition uses something the translation cannot
express exactly). Nothing is ever guessed: an undecided query is never reported as a pass.

What is modelled, and how exactly (docs/verify.md has the user's version):

* **bool** facts are z3 booleans; **enum** facts are strings among their declared values; **string** facts are z3
  strings (equality, ordering by code point, ``in`` as substring, ``.length``, and the regexes of the policy
  language: literals, classes and ranges, ``.``, alternation, groups, every repetition, ``^``/``\\A`` at the
  start and ``$``/``\\Z`` at the end, matched with Python's ``re.match``/``re.search`` semantics). Patterns with
  what z3's regex theory cannot express (back-references, look-arounds, word boundaries, flags other than
  ``(?s)``/``(?a)``, and the Unicode classes ``\\d \\w \\s`` without ``(?a)``) make the query undecided, with the
  reason. Every string constant (a literal, an enum value, a set member, the store id a proof pins) reaches the
  solver character by character (:func:`text`), never through z3's parser of escape sequences (``\\u{41}`` is six
  characters, as the runtime compares it). z3's characters stop at U+2FFFF: the solver's last character stands for
  every code point from U+2FFFF to U+10FFFF (a fact value or a ``default:`` beyond the solver's alphabet is read as
  it), which is exact for every comparison of a fact with a constant, for ``.length`` and for regexes, as long as
  no constant, regex literal or range bound lies in that span (such a constant is refused: "cannot prove"), and a
  comparison of two strings that both come from facts (``order.a == order.b``, ``order.a in order.tags``) is
  refused, as two different code points beyond the alphabet would read alike (docs/semantics.md).
* **number** facts are exact rationals, compared exactly as rule-engine compares Decimals. ``+ - *`` and unary
  ``-`` are exact; ``//`` and ``%`` truncate toward zero exactly as Decimal does, and fail on a zero divisor or a
  quotient of 28 digits or more, as Decimal does; ``/`` is exact division, failing on a zero divisor. Decimal
  rounds a result that needs more than 28 significant digits; the solver does not, so every verdict that relies
  on arithmetic carries that caveat (:attr:`Verdict.caveats`). ``**`` is modelled for whole literal exponents
  from 0 to 64 (``0 ** -n`` is an infinity in Decimal, which a real cannot hold). A counterexample is always a value
  a number fact can hold (an int, or a float whose shortest repr is the exact decimal), and the analyses re-evaluate
  it with the interpreter before showing it.
* **set** facts are observed through membership (``'vip' in order.tags``) and ``.length``: each membership is a
  boolean tied to the others (equal strings, equal membership), and the length is at least the number of distinct
  members; a counterexample fills the rest with fresh strings. Other set operations are undecided, with the reason.
* **Failing closed.** The encoding reads each condition's IR (``CompiledExpr.ir``), nothing else. Every condition
  is a pair (value, unknown): its skeleton (``and``, ``or``, ``not``, a boolean ``?:``) is three-valued as
  :func:`policyengine.ir.kleene.evaluate` decides it, and every other node is an atom, unknown as soon as anything
  it reads (:func:`policyengine.ir.walk.reads`) is: a bad fact (only with ``bad_facts=True``: the analyses ask about
  valid facts, as enumeration does), an unknown named condition, the state of an action decided under errors (the
  visibility of an action shown despite errors stays known, however the atom spells it), even where a ``?:``,
  ``and`` or ``or`` inside the atom would not need it; else when its computation fails (a zero divisor, a regex
  subject past MAX_MATCHED_LENGTH characters), in Python's order, as the generated code evaluates it. Action states are built
  as the decision builder builds them: hidden when visibility is unknown, never enabled under an unknown
  allow, guard or effect condition.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from ..ir import nodes as ir
from ..ir import walk
from ..ir.kleene import is_connective
from ..ir.regexes import MAX_MATCHED_LENGTH
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec


class _LazyZ3:
    """Stands for the z3 module until first used: importing z3 costs a quarter of a second, which every command
    (and ``import policyengine``) would pay; the first use imports it and puts the real module in its place."""

    def __getattr__(self, name: str) -> Any:
        import z3 as module  # the optional extra policyengine[smt]

        globals()["z3"] = module
        return getattr(module, name)


z3: Any = _LazyZ3() if importlib.util.find_spec("z3") is not None else None

try:
    from re import _constants as _sre  # type: ignore[attr-defined,unused-ignore]
    from re import _parser as _sre_parse  # type: ignore[attr-defined,unused-ignore]  # private: the stub omits it
except ImportError:  # Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef,unused-ignore]
    import sre_parse as _sre_parse  # type: ignore[no-redef,unused-ignore]

__all__ = ["BUDGET_MS", "INSTALL", "Cond", "Encoder", "PolicyTerms", "Unsupported", "Verdict", "available",
           "equivalent", "implies", "satisfiable", "show_value", "describe_values"]

BUDGET_MS = 2000
"""The solver's time budget per query, in milliseconds, unless the caller gives one."""

INSTALL = "could not decide: install policyengine[smt] (the z3 solver) to analyse number, string and set facts"
"""The reason of every verdict when z3 is not installed."""

ARITHMETIC_CAVEAT = ("arithmetic is computed exactly; Decimal rounds results that need more than 28 significant "
                     "digits, which this verdict does not cover")
_MAX_CHAR = 0x2FFFF
"""z3's last character (its default alphabet): it stands for every code point from it up to U+10FFFF."""
_PY_MAX_CHAR = 0x10FFFF
_PREC_LIMIT = 10 ** 28


def text(value: str) -> Any:
    """The z3 string constant of ``value``, built character by character: ``z3.StringVal`` parses escape sequences
    (``\\u{41}`` would be ``A`` for the solver, six characters for the runtime). A character at or beyond the
    solver's last one (U+2FFFF) is refused: the solver reads every such code point as one."""
    for char in value:
        if ord(char) >= _MAX_CHAR:
            raise Unsupported(f"the string {value!a} holds the code point U+{ord(char):04X}, which the solver cannot "
                              f"tell from other code points beyond U+2FFFE (its characters stop at U+2FFFF)")
    if not value:
        return z3.StringVal("")
    units = [z3.Unit(z3.CharVal(ord(char))) for char in value]
    return z3.simplify(units[0] if len(units) == 1 else z3.Concat(*units))


def _char(code: int) -> Any:
    """One character as a z3 character (refused at or beyond the solver's last one, see :func:`text`)."""
    if code >= _MAX_CHAR:
        raise Unsupported(f"the character U+{code:04X} lies beyond what the solver tells apart (its characters stop "
                          "at U+2FFFF)")
    return z3.Unit(z3.CharVal(code))


def available() -> bool:
    """Whether the solver is installed."""
    return z3 is not None


class Unsupported(Exception):
    """A condition the translation cannot express exactly; the message says what and why."""


@attrs.frozen(slots=True)
class Verdict:
    """The answer to one query."""

    status: str
    """``holds``, ``fails`` or ``undecided``."""
    values: Mapping[str, Any] | None = None
    """For ``fails`` (and a satisfiable formula): fact name -> a value a fact can hold; facts left out are bad
    (only with ``bad_facts``) or read by nothing."""
    reason: str | None = None
    """Why it is undecided."""
    caveats: tuple[str, ...] = ()
    """What the verdict assumes (see :data:`ARITHMETIC_CAVEAT`)."""

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def fails(self) -> bool:
        return self.status == "fails"

    @property
    def undecided(self) -> bool:
        return self.status == "undecided"

    def describe(self) -> str:
        """The counterexample, readable: ``order.total = 1000.01, user.role = 'member'``."""
        return describe_values(self.values or {})


def show_value(value: Any) -> str:
    """One fact value as a policy author writes it: ``true``, ``1000.01``, ``'member'``, ``['vip']``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (frozenset, set, list, tuple)):
        return "[" + ", ".join(repr(v) for v in sorted(value)) + "]"
    return repr(value)


def describe_values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} = {show_value(value)}" for name, value in sorted(values.items())) or "any facts"


@attrs.frozen(slots=True)
class Cond:
    """A condition: its value, whether it is unknown (fails closed), and the caveats of its translation."""

    value: Any
    unknown: Any
    caveats: frozenset[str] = frozenset()

    @property
    def true(self) -> Any:
        """Known to be true."""
        return z3.And(self.value, z3.Not(self.unknown))

    @property
    def false(self) -> Any:
        """Known to be false."""
        return z3.And(z3.Not(self.value), z3.Not(self.unknown))


@attrs.frozen(slots=True)
class ActionTerms:
    """An action's states as the decision builder decides them."""

    visible: Any
    enabled: Any
    errors: Any
    """Decided under errors (hidden with an unknown visibility, or shown with an unknown allow/guard/effect)."""
    caveats: frozenset[str]

    def state(self, name: str) -> Any:
        """``enabled``, ``disabled``, ``hidden`` or ``visible``."""
        if name == "enabled":
            return self.enabled
        if name == "disabled":
            return z3.And(self.visible, z3.Not(self.enabled))
        if name == "hidden":
            return z3.Not(self.visible)
        return self.visible


@attrs.frozen(slots=True)
class _Val:
    """A sub-expression: its z3 value (of its kind), whether computing it raises, and caveats."""

    kind: str  # bool | num | str | enum | set
    term: Any
    error: Any
    caveats: frozenset[str] = frozenset()
    values: tuple[str, ...] = ()
    """For ``enum``: the declared values; the term is the index of the value (integers solve much faster than
    strings, and most conditions compare enums with literals)."""
    literal: Any = None
    """For a string literal: its Python value."""
    host: bool = False
    """A string that comes from a fact (the host's value, read with every code point beyond the solver's alphabet as
    its last character): two such strings are never compared (:meth:`PolicyTerms._host_pair`)."""


class _SetFact:
    """A set fact, observed through membership of string terms and its length."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.length = z3.Int(f"{name}#length")
        self.members: list[tuple[Any, Any]] = []  # (string term, is-member bool)
        self._by_key: dict[str, Any] = {}
        self._done = 0

    def contains(self, term: Any) -> Any:
        key = term.sexpr()
        if key not in self._by_key:
            flag = z3.Bool(f"{self.name}#has#{len(self.members)}")
            self._by_key[key] = flag
            self.members.append((term, flag))
        return self._by_key[key]

    def new_domain(self) -> list[Any]:
        """The consistency constraints of the members added since the last call (the earlier ones stay valid:
        a length at least the distinct members counted so far is implied by the count with more members)."""
        out = [self.length >= 0] if self._done == 0 else []
        for i in range(self._done, len(self.members)):
            term, flag = self.members[i]
            out += [z3.Implies(term == other, flag == f) for other, f in self.members[:i]]
        if len(self.members) > self._done:
            counted = [z3.If(z3.And(flag, *[z3.Or(term != other, z3.Not(f)) for other, f in self.members[:i]]), 1, 0)
                       for i, (term, flag) in enumerate(self.members)]
            out.append(self.length >= z3.Sum(counted))
        self._done = len(self.members)
        return out


class Encoder:
    """z3 variables for facts, shared by every policy encoded with it (a base and its store's merged policy read
    the same ``order.total``), and the per-policy translations (:meth:`policy`)."""

    def __init__(self, *, bad_facts: bool = False) -> None:
        if z3 is None:
            raise Unsupported(INSTALL)
        self.bad_facts = bad_facts
        self.facts: dict[str, FactSpec] = {}
        self.vars: dict[str, Any] = {}
        self.sets: dict[str, _SetFact] = {}
        self.bad: dict[str, Any] = {}
        self._policies: dict[int, PolicyTerms] = {}
        self._solver: Any = None
        self._bounded: set[str] = set()
        self._regexes: dict[str, tuple[Any, list[tuple[Any, Any]]]] = {}
        self._too_long: dict[str, Any] = {}
        self.work = 0
        """The solver's resource units (z3's ``rlimit`` count: deterministic, unlike time) its queries spent."""

    def policy(self, policy: CompiledPolicy) -> PolicyTerms:
        terms = self._policies.get(id(policy))
        if terms is None:
            terms = self._policies[id(policy)] = PolicyTerms(self, policy)
        return terms

    def fact(self, spec: FactSpec) -> Any:
        known = self.facts.get(spec.name)
        if known is not None and (known.type, known.values) != (spec.type, spec.values):
            raise Unsupported(f"fact {spec.name} is declared with different types in the policies compared")
        if known is None:
            self.facts[spec.name] = spec
            name = spec.name
            if spec.type == "bool":
                self.vars[name] = z3.Bool(name)
            elif spec.type == "enum":
                self.vars[name] = z3.Int(name)
            elif spec.type == "string":
                self.vars[name] = z3.String(name)
            elif spec.type == "number":
                self.vars[name] = z3.Real(name)
            else:
                self.vars[name] = self.sets[name] = _SetFact(name)
            self.bad[name] = z3.Bool(f"{name}#bad") if self.bad_facts else z3.BoolVal(False)
        return self.vars[spec.name]

    def matches(self, term: Any, language: Any) -> Any:
        """A boolean that is true exactly when ``term`` is in ``language``. z3 gives up on two separate regex
        memberships of one string (even ``'azon'`` for ``.*zon.*`` and ``a.*``), but not on one membership of an
        intersection: so every membership of a term is tied to one intersection, chosen per query
        (:meth:`regex_links`)."""
        key = term.sexpr()
        found = self._regexes.setdefault(key, (term, []))[1]
        flag = z3.Bool(f"{key}#re#{len(found)}")
        found.append((language, flag))
        return flag

    def too_long(self, term: Any) -> Any:
        """Whether the string ``term`` is longer than the runtime matches (MAX_MATCHED_LENGTH characters)."""
        key = term.sexpr()
        if key not in self._too_long:
            self._too_long[key] = z3.Length(term) > MAX_MATCHED_LENGTH
        return self._too_long[key]

    def cases(self) -> list[Any]:
        """The cases a query is split into, tried in order (:func:`satisfiable`): z3 builds a string past
        MAX_MATCHED_LENGTH characters so slowly that it gives up on a query that may take either branch of the
        bound, so every string the regexes read is first bounded by it, and only when no example is that short are
        the longer strings tried (where it may well give up: undecided, never a wrong answer)."""
        if not self._too_long:
            return [z3.BoolVal(True)]
        longer = _any(list(self._too_long.values()))
        return [z3.Not(longer), longer]

    def regex_links(self) -> list[Any]:
        """For each string with regex memberships: it lies in the intersection of each language or its
        complement, as its membership booleans say."""
        return [z3.InRe(term, z3.Intersect(*[z3.If(flag, lang, z3.Complement(lang)) for lang, flag in found])
                        if len(found) > 1 else z3.If(found[0][1], found[0][0], z3.Complement(found[0][0])))
                for term, found in self._regexes.values()]

    def solver(self) -> Any:
        """The encoder's solver, with every fact's domain asserted (an enum is one of its values; a set is
        consistent); queries run in a push/pop scope on it, so the domain is built and asserted once."""
        if self._solver is None:
            self._solver = z3.SimpleSolver()  # no tactic preprocessing: several times faster on these formulas
        for name, spec in self.facts.items():
            if spec.type == "enum" and name not in self._bounded:
                self._bounded.add(name)
                self._solver.add(z3.And(self.vars[name] >= 0, self.vars[name] < len(spec.values)))
            elif spec.type == "set":
                self._solver.add(*self.sets[name].new_domain())
        return self._solver

    def fix(self, values: Mapping[str, Any]) -> Any:
        """The formula that pins each fact of ``values`` to its value."""
        out = []
        for name, value in values.items():
            spec = self.facts.get(name)
            if spec is None:
                continue
            var = self.vars[name]
            if spec.type == "bool":
                out.append(var == z3.BoolVal(bool(value)))
            elif spec.type == "enum":
                out.append(var == spec.values.index(value))
            elif spec.type == "string":
                out.append(var == text(value))
            elif spec.type == "number":
                out.append(var == _fraction(Decimal(repr(value)) if isinstance(value, float) else Decimal(value)))
            else:
                out.append(var.length == len(set(value)))  # a set: its distinct members
                out += [flag == _any([term == text(v) for v in sorted(value)]) for term, flag in var.members]
        return z3.And(z3.BoolVal(True), *out)

    # -- models back to values ----------------------------------------------------------------------------------
    def values(self, model: Any, names: Iterable[str]) -> dict[str, Any] | str:
        """The facts ``names`` in ``model`` as values a fact can hold, or why one cannot be."""
        out: dict[str, Any] = {}
        for name in sorted(set(names)):
            if name not in self.facts:
                continue
            if self.bad_facts and z3.is_true(model.eval(self.bad[name], model_completion=True)):
                if self.facts[name].has_default:  # left out would be its default, a good value: null is bad
                    out[name] = None
                continue  # bad: left out, i.e. missing
            spec, var = self.facts[name], self.vars[name]
            if spec.type == "bool":
                out[name] = z3.is_true(model.eval(var, model_completion=True))
            elif spec.type == "enum":
                out[name] = spec.values[model.eval(var, model_completion=True).as_long()]
            elif spec.type == "string":
                out[name] = _string(model, model.eval(var, model_completion=True))
            elif spec.type == "number":
                value = _number(model.eval(var, model_completion=True))
                if isinstance(value, str):
                    return f"{name} would have to be {value}"
                out[name] = value
            else:
                out[name] = self._set_value(model, self.sets[name])
        return out

    @staticmethod
    def _set_value(model: Any, fact: _SetFact) -> frozenset[str]:
        members = {_string(model, model.eval(t, model_completion=True)) for t, flag in fact.members
                   if z3.is_true(model.eval(flag, model_completion=True))}
        observed = {_string(model, model.eval(t, model_completion=True)) for t, _ in fact.members}
        length = model.eval(fact.length, model_completion=True).as_long()
        filler = 0
        while len(members) < min(length, 1000):
            filler += 1
            candidate = f"tag{filler}"
            if candidate not in observed:
                members.add(candidate)
        return frozenset(members)


def _string(model: Any, value: Any) -> str:
    text = value.as_string()
    if "\\" not in text:
        return str(text)
    length = model.eval(z3.Length(value)).as_long()
    return "".join(chr(model.eval(z3.StrToCode(z3.SubString(value, i, 1))).as_long()) for i in range(length))


def _number(value: Any) -> int | float | str:
    if not z3.is_rational_value(value):
        return "an irrational number"
    exact = Fraction(value.numerator_as_long(), value.denominator_as_long())
    if exact.denominator == 1:
        return int(exact)
    denominator = exact.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{exact}, which no decimal number is"
    digits = Decimal(exact.numerator) / Decimal(exact.denominator)  # exact: a terminating decimal
    as_float = float(exact)
    if Decimal(repr(as_float)) != digits:
        return f"{digits}, which a float cannot hold exactly"
    return as_float


def _fraction(value: Decimal) -> Any:
    numerator, denominator = value.as_integer_ratio()
    return z3.RealVal(numerator) / z3.RealVal(denominator) if denominator != 1 else z3.RealVal(numerator)


def _false() -> Any:
    return z3.BoolVal(False)


def _any(terms: Sequence[Any]) -> Any:
    terms = [t for t in terms if not z3.is_false(t)]
    if not terms:
        return z3.BoolVal(False)
    return terms[0] if len(terms) == 1 else z3.Or(*terms)


class PolicyTerms:
    """The z3 translation of one compiled policy's conditions, named conditions, actions and constraints."""

    def __init__(self, encoder: Encoder, policy: CompiledPolicy) -> None:
        self.encoder = encoder
        self.policy = policy
        self.specs = {f.name: f for f in policy.facts}
        self.actions = {a.id: a for a in policy.actions}
        self._exprs: dict[int, Cond] = {}
        self._actions: dict[str, ActionTerms] = {}
        self._skeletons: dict[ir.Node, _Val] = {}  # structural keys: a shared sub-expression is translated once
        self._nodes: dict[ir.Node, _Val] = {}

    # -- conditions ----------------------------------------------------------------------------------------------
    def expr(self, expr: CompiledExpr) -> Cond:
        """``expr`` as a :class:`Cond`: raises :class:`Unsupported` for what the translation cannot express."""
        found = self._exprs.get(id(expr))
        if found is None:
            found = self._exprs[id(expr)] = self._translate(expr)
        return found

    def condition(self, name: str) -> Cond:
        return self.expr(self.policy.conditions[name])

    def possible(self) -> Any:
        """The policy's declared constraints: a combination is possible unless a constraint is known false (as
        enumeration decides it, an unknown constraint does not rule a combination out)."""
        return z3.And(z3.BoolVal(True), *[z3.Not(self.expr(e).false) for e in self.policy.constraints.values()])

    def _translate(self, expr: CompiledExpr) -> Cond:
        caveats: set[str] = set()
        for name in sorted(expr.conditions):
            caveats |= self.condition(name).caveats
        for action_id in sorted(expr.actions):
            caveats |= self.action(action_id).caveats
        # What is unknown flows from the atoms that read a bad fact, an unknown named condition or an untrusted
        # action state (or whose computation fails), through the condition's three-valued skeleton.
        value = self._skeleton(expr.ir)
        return Cond(value.term, value.error, frozenset(caveats | value.caveats))

    # -- actions ---------------------------------------------------------------------------------------------------
    def action(self, action_id: str) -> ActionTerms:
        found = self._actions.get(action_id)
        if found is None:
            found = self._actions[action_id] = self._action(self.actions[action_id])
        return found

    def _action(self, action: CompiledAction) -> ActionTerms:
        visible = self.expr(action.visible)
        allow = self.expr(action.allow)
        guards = [self.expr(g.when) for g in action.guards]
        effects = [self.expr(e.when) for e in action.effects if e.when is not None]
        shown = visible.true
        errors_if_shown = _any([allow.unknown, *(g.unknown for g in guards), *(e.unknown for e in effects)])
        enabled = z3.And(shown, allow.true, *[z3.Not(g.value) for g in guards], z3.Not(errors_if_shown))
        errors = z3.Or(visible.unknown, z3.And(shown, errors_if_shown))
        caveats = frozenset().union(*[c.caveats for c in (visible, allow, *guards, *effects)])
        return ActionTerms(shown, enabled, errors, caveats)

    # -- the IR ----------------------------------------------------------------------------------------------------
    def _skeleton(self, node: ir.Node) -> _Val:
        """``node`` as part of its condition's three-valued skeleton (``and``, ``or``, ``not``, a boolean ``?:`` and
        ``true``/``false`` from the top, as :func:`policyengine.ir.kleene.evaluate` reads them); every other node is
        an atom (:meth:`_atom`). The value's ``error`` is the condition's unknown."""
        found = self._skeletons.get(node)
        if found is None:
            found = self._skeletons[node] = self._connective(node) if is_connective(node) else self._atom(node)
        return found

    def _connective(self, node: ir.Node) -> _Val:
        if isinstance(node, (ir.And, ir.Or)):
            parts = [self._skeleton(operand) for operand in node.operands]
            is_and = isinstance(node, ir.And)
            terms = [p.term for p in parts]

            def decides(v: _Val) -> Any:  # Kleene: a known operand that decides decides, whatever the others are
                return z3.And(z3.Not(v.error), z3.Not(v.term) if is_and else v.term)

            error = z3.And(_any([p.error for p in parts]), *[z3.Not(decides(p)) for p in parts])
            return _Val("bool", z3.And(*terms) if is_and else z3.Or(*terms), error, _caveats(*parts))
        if isinstance(node, ir.Not):
            operand = self._skeleton(node.operand)
            return _Val("bool", z3.Not(operand.term), operand.error, operand.caveats)
        if isinstance(node, ir.If):  # a boolean ?: unknown when its test is, else the branch taken
            test, then, otherwise = (self._skeleton(n) for n in (node.test, node.then, node.otherwise))
            return _Val("bool", z3.If(test.term, then.term, otherwise.term),
                        z3.Or(test.error, z3.If(test.term, then.error, otherwise.error)), _caveats(test, then, otherwise))
        assert isinstance(node, ir.Const)
        return _Val("bool", z3.BoolVal(bool(node.value)), _false())

    def _atom(self, node: ir.Node) -> _Val:
        """An atom, as the runtime decides it: unknown as soon as anything it reads is (a bad fact, an unknown named
        condition, an action state decided under errors), even where a ``?:``, ``and`` or ``or`` inside it would
        not need that value; else unknown when its computation fails (in Python's evaluation order)."""
        value = self._node(node)
        read = walk.reads(node)
        unknown = [value.error]
        for name in sorted(read.facts):
            self.encoder.fact(self.specs[name])
            unknown.append(self.encoder.bad[name])
        unknown += [self.condition(name).unknown for name in sorted(read.conditions)]
        for action_id in sorted(read.actions):
            action = self.action(action_id)
            states = {state for a, state in read.action_states if a == action_id}
            # a state decided under errors is never trusted, but for a visibility (visible, hidden) read while the
            # action is shown: the runtime's rule, however the atom spells it (issue 23)
            trusted = action.visible if states <= {"visible", "hidden"} else _false()
            unknown.append(z3.And(action.errors, z3.Not(trusted)))
        return _Val("bool", value.term, _any(unknown), value.caveats)

    def _node(self, node: ir.Node) -> _Val:
        """``node`` inside an atom, in z3: its value and whether computing it fails, given that everything it reads
        is valid (:meth:`_atom` adds what it reads)."""
        found = self._nodes.get(node)
        if found is None:
            found = self._nodes[node] = self._inner(node)
        return found

    def _inner(self, node: ir.Node) -> _Val:  # noqa: PLR0911 - one branch per construct
        if isinstance(node, ir.Fact):
            spec = self.specs[node.name]
            kind = _KIND[spec.type]
            return _Val(kind, self.encoder.fact(spec), _false(), values=spec.values if kind == "enum" else (),
                        host=kind == "str")
        if isinstance(node, ir.Length):
            return self._length(node)
        if isinstance(node, ir.ConditionRef):
            return _Val("bool", self.condition(node.name).value, _false())
        if isinstance(node, ir.ActionRef):
            return _Val("bool", self.action(node.action).state(node.state), _false())
        if isinstance(node, ir.Const):
            return _constant(node.value)
        if isinstance(node, ir.Not):
            operand = self._node(node.operand)
            return _Val("bool", z3.Not(operand.term), operand.error, operand.caveats)
        if isinstance(node, (ir.And, ir.Or)):
            return self._short_circuit(node)
        if isinstance(node, ir.If):
            return self._choice(node)
        if isinstance(node, ir.Neg):
            operand = self._node(node.operand)
            return _Val("num", -operand.term, operand.error, operand.caveats | {ARITHMETIC_CAVEAT})
        if isinstance(node, ir.Compare):
            return self._compare(node)
        if isinstance(node, ir.Contains):
            return self._contains(node)
        if isinstance(node, ir.Arith):
            return self._arithmetic(node)
        if isinstance(node, ir.Match):
            return self._regex(node)
        raise Unsupported(f"{_construct(node)} is not modelled by the solver")

    def _length(self, node: ir.Length) -> _Val:
        operand = self._node(node.operand)
        if operand.kind == "set":
            return _Val("num", z3.ToReal(operand.term.length), operand.error, operand.caveats)
        if operand.kind in ("str", "enum"):
            return _Val("num", z3.ToReal(z3.Length(_text_of(operand))), operand.error, operand.caveats)
        raise Unsupported(f".length of {_construct(node.operand)} is not modelled by the solver")

    def _short_circuit(self, node: ir.And | ir.Or) -> _Val:
        """``and``/``or`` inside an atom: Python's, whose later operands run only while the earlier ones have not
        decided (a failure in one that does not run fails nothing)."""
        parts = [self._node(operand) for operand in node.operands]
        is_and = isinstance(node, ir.And)
        errors: list[Any] = []
        running: list[Any] = []
        for part in parts:
            errors.append(z3.And(*running, part.error) if running else part.error)
            running.append(part.term if is_and else z3.Not(part.term))
        terms = [p.term for p in parts]
        return _Val("bool", z3.And(*terms) if is_and else z3.Or(*terms), _any(errors), _caveats(*parts))

    def _choice(self, node: ir.If) -> _Val:
        """``?:`` inside an atom: Python's conditional expression, which computes the branch taken only."""
        test, then, otherwise = (self._node(n) for n in (node.test, node.then, node.otherwise))
        if "set" in (then.kind, otherwise.kind):
            raise Unsupported("a ?: choosing between sets is not modelled by the solver")
        if "enum" in (then.kind, otherwise.kind):  # compare as text: the branches may be different enums
            then, otherwise = (attrs.evolve(v, kind="str", term=_text_of(v), values=()) for v in (then, otherwise))
        return _Val(then.kind, z3.If(test.term, then.term, otherwise.term),
                    z3.Or(test.error, z3.If(test.term, then.error, otherwise.error)), _caveats(test, then, otherwise),
                    host=then.host or otherwise.host)

    def _compare(self, node: ir.Compare) -> _Val:
        if isinstance(node.left, ir.Members) or isinstance(node.right, ir.Members) or node.operand_type == "set":
            raise Unsupported("comparing sets is not modelled by the solver (use membership and .length)")
        left, right = self._node(node.left), self._node(node.right)
        compare = _COMPARE[node.op]
        error, caveats = z3.Or(left.error, right.error), _caveats(left, right)
        if left.kind == "enum" and right.literal is not None:
            return _Val("bool", _index_in(left, lambda v: compare(v, right.literal)), error, caveats)
        if right.kind == "enum" and left.literal is not None:
            return _Val("bool", _index_in(right, lambda v: compare(left.literal, v)), error, caveats)
        if left.kind == right.kind == "enum" and left.values == right.values and node.op in ("==", "!="):
            return _Val("bool", compare(left.term, right.term), error, caveats)
        _host_pair(left, right)
        a, b = (_text_of(v) if v.kind == "enum" else v.term for v in (left, right))
        return _Val("bool", compare(a, b), error, caveats)

    def _contains(self, node: ir.Contains) -> _Val:
        member = self._node(node.member)
        if member.kind == "set":
            raise Unsupported("a set in a list or a set is not modelled by the solver")
        if isinstance(node.container, ir.Members):
            listed = node.container.values
            if member.kind == "enum":
                return _Val("bool", _index_in(member, lambda v: v in listed), member.error, member.caveats)
            options = [_constant(value).term for value in listed]
            return _Val("bool", _any([member.term == o for o in options]), member.error, member.caveats)
        box = self._node(node.container)
        _host_pair(member, attrs.evolve(box, host=box.host or box.kind == "set"))
        error, caveats = z3.Or(member.error, box.error), _caveats(member, box)
        text = _text_of(member) if member.kind == "enum" else member.term
        if box.kind == "set":
            return _Val("bool", box.term.contains(text), error, caveats)
        if box.kind == "enum" and member.literal is not None:
            return _Val("bool", _index_in(box, lambda v: member.literal in v), error, caveats)
        box_text = _text_of(box) if box.kind == "enum" else box.term
        return _Val("bool", z3.Contains(box_text, text), error, caveats)

    def _arithmetic(self, node: ir.Arith) -> _Val:
        left, right = self._node(node.left), self._node(node.right)
        a, b = left.term, right.term
        error = z3.Or(left.error, right.error)
        caveats = _caveats(left, right) | {ARITHMETIC_CAVEAT}
        kind = node.op
        if kind == "add":
            return _Val("num", a + b, error, caveats)
        if kind == "sub":
            return _Val("num", a - b, error, caveats)
        if kind == "mul":
            return _Val("num", a * b, error, caveats)
        if kind == "tdiv":
            return _Val("num", a / b, z3.Or(error, b == 0), caveats)
        if kind in ("fdiv", "mod"):
            ratio = a / b
            quotient = z3.ToReal(z3.If(ratio >= 0, z3.ToInt(ratio), -z3.ToInt(-ratio)))  # truncated, as Decimal
            failed = z3.Or(error, b == 0, z3.And(b != 0, z3.Or(quotient >= _PREC_LIMIT, quotient <= -_PREC_LIMIT)))
            return _Val("num", quotient if kind == "fdiv" else a - b * quotient, failed, caveats)
        if kind == "pow":
            return _power(a, node.right, error, caveats)
        raise Unsupported(f"arithmetic {kind!r} is not modelled by the solver")

    def _regex(self, node: ir.Match) -> _Val:
        """``=~``: the runtime does not try a match on a string past MAX_MATCHED_LENGTH characters, it fails (the
        atom is unknown), so neither does the encoding."""
        subject = self._node(node.operand)
        if subject.kind == "enum":  # decided by Python's own re, value by value: exact for any pattern
            compiled = re.compile(node.pattern)
            test = compiled.search if node.search else compiled.match
            matched = _index_in(subject, lambda v: test(v) is not None)
            too_long = _index_in(subject, lambda v: len(v) > MAX_MATCHED_LENGTH)
        else:
            matched = self.encoder.matches(subject.term, regex_language(node.pattern, search=node.search))
            too_long = self.encoder.too_long(subject.term)
        if node.negated:
            matched = z3.Not(matched)
        return _Val("bool", matched, z3.Or(subject.error, too_long), subject.caveats)


_KIND = {"bool": "bool", "enum": "enum", "string": "str", "number": "num", "set": "set"}
"""A fact's declared type -> the kind of its z3 term."""

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _construct(node: ir.Node) -> str:
    """A construct's name in a refusal: the IR node's class (``Members``, ``If``...)."""
    return f"the construct {type(node).__name__}"


def _caveats(*values: _Val) -> frozenset[str]:
    return frozenset().union(*[v.caveats for v in values])


def _constant(value: bool | str | Decimal) -> _Val:
    """A literal (:class:`~policyengine.ir.nodes.Const`, or a member of a list literal) in z3."""
    if isinstance(value, bool):
        return _Val("bool", z3.BoolVal(value), _false())
    if isinstance(value, str):
        return _Val("str", text(value), _false(), literal=value)
    return _Val("num", _fraction(value), _false())


def _power(base: Any, exponent: ir.Node, error: Any, caveats: frozenset[str]) -> _Val:
    """``base ** exponent`` for a whole literal exponent from 0 to 64 (else refused by name). A negative exponent is
    refused: Decimal's ``0 ** -n`` is not an error but an infinity (above every number), which a real cannot hold."""
    if not (isinstance(exponent, ir.Const) and isinstance(exponent.value, Decimal) and exponent.value.is_finite()
            and exponent.value == int(exponent.value) and 0 <= int(exponent.value) <= 64):
        raise Unsupported("the solver models ** only with a whole literal exponent from 0 to 64 (0 ** -n is "
                          "infinite)")
    n = int(exponent.value)
    product = z3.RealVal(1)
    for _ in range(n):
        product = product * base
    if n > 0:
        return _Val("num", product, error, caveats)
    return _Val("num", product, z3.Or(error, base == 0), caveats)  # Decimal: 0 ** 0 fails (InvalidOperation)


def _host_pair(left: _Val, right: _Val) -> None:
    """Two strings that both come from facts are not compared: the solver reads every code point beyond its
    alphabet as one character, so ``'\\U00030000' == '\\U00030001'`` would hold for it."""
    if left.host and right.host:
        raise Unsupported("it compares two strings that both come from facts, which the solver cannot model exactly "
                          "(its characters stop at U+2FFFF, so code points beyond read alike)")


def _index_in(value: _Val, test: Callable[[str], bool]) -> Any:
    """An enum's index is one of the values ``test`` accepts (decided in Python, value by value)."""
    return _any([value.term == i for i, v in enumerate(value.values) if test(v)])


def _text_of(value: _Val) -> Any:
    """A string term for a string or an enum value (the enum's index mapped to its text)."""
    if value.kind != "enum":
        return value.term
    out = text(value.values[-1])
    for i, v in reversed(list(enumerate(value.values[:-1]))):
        out = z3.If(value.term == i, text(v), out)
    return out


# -- regular expressions ---------------------------------------------------------------------------------------------

def regex_language(pattern: str, *, search: bool) -> Any:
    """The z3 language of the strings ``re.match`` (or ``re.search``) accepts; :class:`Unsupported` names what
    z3's regex theory cannot express."""
    parsed = _sre_parse.parse(pattern)
    flags = parsed.state.flags
    allowed = re.UNICODE | re.ASCII | re.DOTALL | re.VERBOSE
    if flags & ~allowed:
        raise Unsupported(f"the regex {pattern!r} uses flags (ignore case, multiline...) the solver's regex theory "
                          "cannot express")
    items = list(parsed)
    start_anchor = bool(items) and _op(items[0]) == "AT" and _name(items[0][1]) in ("AT_BEGINNING",
                                                                                     "AT_BEGINNING_STRING")
    if start_anchor:
        items = items[1:]
    end = None
    if items and _op(items[-1]) == "AT" and _name(items[-1][1]) in ("AT_END", "AT_END_STRING"):
        end = _name(items[-1][1])
        items = items[:-1]
    translator = _Regex(pattern, flags)
    body = translator.sequence(items)
    anything = z3.Star(z3.AllChar(z3.ReSort(z3.StringSort())))
    if end == "AT_END":  # Python's $ also matches before a final newline
        body = z3.Concat(body, z3.Option(z3.Re(text("\n"))))
    elif end is None:
        body = z3.Concat(body, anything)
    if search and not start_anchor:
        body = z3.Concat(anything, body)
    return body


def _op(item: Any) -> str:
    return _name(item[0])


def _name(constant: Any) -> str:
    return str(getattr(constant, "name", constant))


class _Regex:
    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self.dotall = bool(flags & re.DOTALL)
        self.ascii = bool(flags & re.ASCII)

    def unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"the regex {self.pattern!r} uses {what}, which the solver's regex theory cannot express "
                           "exactly")

    def sequence(self, items: Iterable[Any]) -> Any:
        parts = [self.item(item) for item in items]
        if not parts:
            return z3.Re(text(""))
        return parts[0] if len(parts) == 1 else z3.Concat(*parts)

    def char(self, code: int) -> Any:
        return z3.Re(_char(code))

    def all_chars(self) -> Any:
        return z3.AllChar(z3.ReSort(z3.StringSort()))

    def item(self, item: Any) -> Any:
        op, arg = _op(item), item[1]
        if op == "LITERAL":
            return self.char(arg)
        if op == "NOT_LITERAL":
            return z3.Intersect(self.all_chars(), z3.Complement(self.char(arg)))
        if op == "ANY":
            if self.dotall:
                return self.all_chars()
            return z3.Intersect(self.all_chars(), z3.Complement(self.char(10)))
        if op == "IN":
            return self.klass(arg)
        if op == "BRANCH":
            options = [self.sequence(branch) for branch in arg[1]]
            return options[0] if len(options) == 1 else z3.Union(*options)
        if op == "SUBPATTERN":
            _group, add_flags, del_flags, body = arg
            if add_flags & ~(re.UNICODE | re.ASCII | re.VERBOSE) or del_flags:
                raise self.unsupported("flags inside a group")
            return self.sequence(body)
        if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, body = arg
            inner = self.sequence(body)
            if op == "POSSESSIVE_REPEAT":
                raise self.unsupported("a possessive repetition")
            if _name(high) == "MAXREPEAT" or high == _sre.MAXREPEAT:
                if low == 0:
                    return z3.Star(inner)
                return z3.Concat(z3.Loop(inner, low, low), z3.Star(inner)) if low > 1 else z3.Plus(inner)
            if high == 0:
                return z3.Re(text(""))
            return z3.Loop(inner, low, high)
        if op == "AT":
            raise self.unsupported("an anchor or word boundary that is not at the start or the end")
        if op in ("GROUPREF", "GROUPREF_EXISTS"):
            raise self.unsupported("a back-reference")
        if op in ("ASSERT", "ASSERT_NOT"):
            raise self.unsupported("a look-ahead or look-behind")
        raise self.unsupported(op.lower().replace("_", " "))

    def klass(self, members: Sequence[Any]) -> Any:
        negate = False
        options = []
        for op_code, arg in members:
            op = _name(op_code)
            if op == "NEGATE":
                negate = True
            elif op == "LITERAL":
                options.append(self.char(arg))
            elif op == "RANGE":
                low, high = arg
                # a range up to U+10FFFF is every code point from low on: the solver's last character stands for
                # those beyond it; a bound inside that span cannot be told apart from its neighbours
                if high >= _MAX_CHAR and high != _PY_MAX_CHAR:
                    raise Unsupported(f"the regex {self.pattern!r} has a range ending at U+{high:04X}, which the solver "
                                      "cannot tell from other code points beyond U+2FFFE")
                upper = z3.Unit(z3.CharVal(_MAX_CHAR)) if high == _PY_MAX_CHAR else _char(high)
                options.append(z3.Range(_char(low), upper))
            elif op == "CATEGORY":
                options.append(self.category(_name(arg)))
            else:
                raise self.unsupported(f"{op.lower()} in a character class")
        if not options:
            union = z3.Intersect(self.all_chars(), z3.Complement(self.all_chars()))
        else:
            union = options[0] if len(options) == 1 else z3.Union(*options)
        if negate:
            return z3.Intersect(self.all_chars(), z3.Complement(union))
        return union

    def category(self, name: str) -> Any:
        if not self.ascii:
            raise self.unsupported(f"{_CATEGORY_TEXT.get(name, name)} (a Unicode class; write [0-9] / [A-Za-z0-9_] / "
                                   "[ \\t\\n\\r\\f\\v], or add the (?a) flag)")
        ranges = {"CATEGORY_DIGIT": ["09"], "CATEGORY_WORD": ["az", "AZ", "09", "__"],
                  "CATEGORY_SPACE": ["  ", "\t\r"]}
        negated = {"CATEGORY_NOT_DIGIT": "CATEGORY_DIGIT", "CATEGORY_NOT_WORD": "CATEGORY_WORD",
                   "CATEGORY_NOT_SPACE": "CATEGORY_SPACE"}
        base = negated.get(name, name)
        if base not in ranges:
            raise self.unsupported(name.lower())
        # (?a)\s is [ \t\n\r\f\v], as Python's re has it
        union = z3.Union(*[z3.Range(text(r[0]), text(r[1])) for r in ranges[base]]) if len(ranges[base]) > 1 else \
            z3.Range(text(ranges[base][0][0]), text(ranges[base][0][1]))
        if name in negated:
            return z3.Intersect(self.all_chars(), z3.Complement(union))
        return union


_CATEGORY_TEXT = {"CATEGORY_DIGIT": "\\d", "CATEGORY_NOT_DIGIT": "\\D", "CATEGORY_WORD": "\\w",
                  "CATEGORY_NOT_WORD": "\\W", "CATEGORY_SPACE": "\\s", "CATEGORY_NOT_SPACE": "\\S"}


# -- queries -----------------------------------------------------------------------------------------------------

Confirm = Callable[[Mapping[str, Any]], bool]


def _granular(encoder: Encoder, digits: int) -> list[Any]:
    """Number facts restricted to ``digits`` decimal places: the values a float can hold exactly, for a retry."""
    scale = z3.RealVal(10 ** digits)
    return [z3.IsInt(encoder.vars[n] * scale) for n, s in encoder.facts.items() if s.type == "number"]


def satisfiable(encoder: Encoder, formula: Any, *, facts: Iterable[str] | None = None,
                budget_ms: int = BUDGET_MS, confirm: Confirm | None = None,
                caveats: Iterable[str] = (), rlimit: int | None = None) -> Verdict:
    """``holds`` with an example (``values``) when some valid facts satisfy ``formula``; ``fails`` when none do;
    ``undecided`` with the reason. ``confirm`` re-checks an example exactly (with the interpreter): an example
    it rejects is retried at coarser number granularity, then reported as undecided, never trusted."""
    names = list(encoder.facts) if facts is None else list(facts)
    notes = tuple(sorted(set(caveats)))
    retries = [None, 2, 6]
    last_reason = ""
    for digits in retries:
        solver = encoder.solver()
        solver.set("timeout", int(budget_ms))
        left = None if rlimit is None else rlimit - encoder.work
        if left is not None and left <= 0:
            return Verdict("undecided", reason="could not decide: the solver's work budget is spent",
                           caveats=notes)
        solver.set("rlimit", left or 0)  # relative to what the solver has spent so far; 0: no limit
        before = _work(solver)
        solver.push()
        try:
            solver.add(*encoder.regex_links())  # per query: the memberships translated so far, in one intersection
            if digits is not None:
                solver.add(*_granular(encoder, digits))
            solver.add(formula)
            result, model, reason = _check(solver, encoder.cases())
        finally:
            solver.pop()
            encoder.work += _work(solver) - before
        if result == z3.unsat:
            if digits is None:
                return Verdict("fails", caveats=notes)
            break  # no example at this granularity: what the first attempt found cannot be shown
        if result == z3.unknown:
            if reason in ("timeout", "canceled"):
                reason = f"the solver gave up after its time budget of {budget_ms} ms"
            elif "resource limit" in reason or (left is not None and encoder.work >= (rlimit or 0)):
                reason = "the solver's work budget is spent"
            return Verdict("undecided", reason=f"could not decide: {reason}", caveats=notes)
        values = encoder.values(model, names)
        if isinstance(values, str):
            last_reason = f"the solver's example needs {values}"
            continue
        if confirm is not None and not confirm(values):
            last_reason = (f"the solver's example ({describe_values(values)}) does not show it when evaluated "
                           "(Decimal rounding the solver does not model)")
            continue
        return Verdict("holds", values, caveats=notes)
    return Verdict("undecided", reason=f"could not decide: {last_reason or 'no example a fact can hold'}",
                   caveats=notes)


def _check(solver: Any, cases: Sequence[Any]) -> tuple[Any, Any, str]:
    """The solver's answer over the union of ``cases``, tried in order until one is not unsatisfiable."""
    for case in cases:
        result = solver.check(case)
        if result != z3.unsat:
            break
    return (result, solver.model() if result == z3.sat else None,
            solver.reason_unknown() if result == z3.unknown else "")


def _work(solver: Any) -> int:
    """z3's resource count so far (it grows across every solver of the process: only differences count)."""
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


def implies(encoder: Encoder, premise: Any, conclusion: Any, **options: Any) -> Verdict:
    """``holds`` when every valid combination satisfying ``premise`` satisfies ``conclusion``; ``fails`` with a
    counterexample (``values``) otherwise; ``undecided`` with the reason."""
    found = satisfiable(encoder, z3.And(premise, z3.Not(conclusion)), **options)
    return _negate(found)


def equivalent(encoder: Encoder, left: Any, right: Any, **options: Any) -> Verdict:
    """``holds`` when ``left`` and ``right`` agree on every valid combination; else a counterexample."""
    return _negate(satisfiable(encoder, z3.Xor(left, right), **options))


def _negate(found: Verdict) -> Verdict:
    if found.status == "holds":
        return Verdict("fails", found.values, caveats=found.caveats)
    if found.status == "fails":
        return Verdict("holds", caveats=found.caveats)
    return found
