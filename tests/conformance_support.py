"""The conformance corpus (tests/conformance/*.yaml) and the backends it runs on.

A case is fact declarations, a condition and rows of fact values with the expected ``true``, ``false`` or ``unknown``
(unknown: the fail-closed result), or a load error. Each case becomes one policy with two actions, ``yes`` shown
when the condition holds and ``no`` shown when ``not (condition)`` holds, read by every backend through its public
API where one exists:

* ``table``: ``load()`` with its whole-policy table (a case whose facts are not all finite is not tabled: refused);
* ``fast``: ``load(table_limit=0)``, the generated function;
* ``lazy``: the generated function with every fact expensive (read at first use, operands reordered);
* ``interpreter``: the fail-closed interpreter over the flat fact values;
* ``c-loop``: ``evaluate_many`` (the C loop for tabled cases; the extension must be built);
* ``plan``: ``engine.plan`` folded by ``runtime.plan.holds``;
* ``sqlite`` / ``postgresql``: ``sql.where(engine.plan(...))`` over one table holding every case's rows;
* ``smt``: the z3 encoding of ``yes``'s condition, each row's facts pinned (bad facts flagged bad);
* ``bdd``: the decision diagram of the condition (finite facts, valid values: two-valued by construction);
* ``rule-engine``: the oracle of tests/fuzz_support.py (rule-engine's own evaluation, three-valued skeleton).

``yes`` visible is *true*; ``no`` visible is *false*; neither is *unknown*. A backend that cannot model a case
refuses it by name (:class:`Refused`); a row outside a backend's domain (a value a SQL column cannot hold, a bad
value for the decision diagrams, which only range over valid facts) is ``None`` and not compared.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml
from fuzz_support import MISSING, Expensive, bad_facts, inputs, oracle_states

import policyengine
from policyengine.pipeline.compiler import CompiledPolicy

CORPUS = Path(__file__).resolve().parent / "conformance"
EXCEPTIONS = CORPUS / "exceptions.yaml"
Verdict = str  # "true" | "false" | "unknown"
VERDICTS = ("true", "false", "unknown")


@attrs.frozen
class Row:
    given: Mapping[str, Any]
    expect: Verdict


@attrs.frozen
class Case:
    name: str
    file: str
    facts: Mapping[str, Any]
    when: str
    rows: tuple[Row, ...] = ()
    error: str | None = None
    why: str = ""
    conditions: Mapping[str, str] = attrs.field(factory=dict)
    """Named conditions the case's condition may read by name."""
    actions: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    """Other actions (id -> ``visible`` and ``allow`` conditions) the condition may read as ``actions.<id>.<state>``."""


@attrs.frozen
class Refused:
    """A backend cannot model this case; ``reason`` names what."""

    reason: str


def _verdict(value: Any) -> Verdict:
    text = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
    if text not in VERDICTS:
        raise ValueError(f"expect must be true, false or unknown, not {value!r}")
    return str(text)


def read_corpus(folder: Path = CORPUS) -> list[Case]:
    """Every case of every ``*.yaml`` in ``folder`` but exceptions.yaml, in file order."""
    cases: list[Case] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == EXCEPTIONS.name:
            continue
        data = yaml.safe_load(path.read_text()) or {}
        shared = data.get("facts") or {}
        for raw in data.get("cases") or ():
            rows = tuple(Row(dict(r.get("given") or {}), _verdict(r["expect"])) for r in raw.get("rows") or ())
            cases.append(Case(raw["name"], path.name, {**shared, **(raw.get("facts") or {})}, str(raw["when"]), rows,
                              raw.get("error"), raw.get("why", ""), dict(raw.get("conditions") or {}),
                              dict(raw.get("actions") or {})))
    return cases


def read_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict[str, str]]:
    """backend -> case name -> reason."""
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return {backend: dict(entries or {}) for backend, entries in (data or {}).items()}


class Dumper(yaml.SafeDumper):
    """YAML without anchors (policy files refuse them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def policy_text(case: Case) -> str:
    """The case as a policy file: ``yes`` shown when the condition holds, ``no`` when its negation does."""
    others = {name: {"label": name, "visible": {"when": spec.get("visible", "true")},
                     "allow": {"when": spec.get("allow", "true"), "reason": "No."}} for name, spec in case.actions.items()}
    document = {
        "apiVersion": "policyengine/v1", "kind": "ActionPolicy", "name": "conformance", "version": 1,
        "facts": dict(case.facts),
        **({"conditions": dict(case.conditions)} if case.conditions else {}),
        "actions": {
            **others,
            "yes": {"label": "Yes", "visible": {"when": case.when}, "allow": {"when": "true", "reason": "No."}},
            "no": {"label": "No", "visible": {"when": f"not ({case.when})"}, "allow": {"when": "true", "reason": "No."}},
        },
    }
    # JSON is YAML, and several times faster to write than yaml.dump; characters YAML reads as line breaks or does
    # not allow raw (NEL, U+2028, controls) are escaped, so the condition's text reaches the loader unchanged
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(document, ensure_ascii=False))


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def load_case(case: Case, **options: Any) -> policyengine.Engine:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.yaml"
        path.write_text(policy_text(case))
        return policyengine.load(path, **options)


@attrs.define
class Loaded:
    """A case and what every backend shares: the tabled engine (default options) and the untabled one."""

    case: Case
    tabled: policyengine.Engine
    fast: policyengine.Engine

    @property
    def policy(self) -> CompiledPolicy:
        return self.fast.policy

    def values(self, row: Row, *, defaults: bool = True) -> dict[str, Any]:
        """Every declared fact of the case: its given value, else its declared default (as the engine reads a fact
        the host does not send; ``defaults=False``: the input as given), else :data:`MISSING`."""
        out = {}
        for name, spec in self.case.facts.items():
            if name in row.given:
                out[name] = row.given[name]
            else:
                out[name] = spec["default"] if defaults and "default" in spec else MISSING
        return out

    def pair(self, row: Row) -> tuple[Any, Any]:
        """The (order, user) a host sends: nested dicts, a missing fact left out."""
        return inputs(self.policy, self.values(row, defaults=False))

    def bad(self, row: Row) -> set[str]:
        return bad_facts(self.policy, self.values(row))


def load_all(cases: Iterable[Case]) -> list[Loaded]:
    out = []
    for case in cases:
        if case.error is not None:
            continue
        tabled = load_case(case)
        fast = load_case(case, table_limit=0) if tabled.specialised else tabled
        out.append(Loaded(case, tabled, fast))
    return out


def from_states(yes: tuple[str, bool], no: tuple[str, bool] | None = None) -> Verdict:
    """A verdict from the state of ``yes`` (and ``no``): shown is true; hidden under errors is unknown."""
    state, errors = yes
    verdict = "true" if state != "hidden" else "unknown" if errors else "false"
    if no is not None:
        opposite = "true" if no[0] != "hidden" else "unknown" if no[1] else "false"
        assert {verdict, opposite} in ({"true", "false"}, {"unknown"}), ("yes and no disagree", yes, no)
    return verdict


def _decided(decisions: Any) -> Verdict:
    return from_states(*((d.state, bool(d.errors)) for d in (decisions["yes"], decisions["no"])))


# -- the backends -------------------------------------------------------------------------------------------------

Backend = Callable[[Sequence[Loaded]], "dict[str, list[Verdict | None] | Refused]"]


def table(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        if not item.tabled.specialised:
            out[item.case.name] = Refused("not tabled: a fact is not finite (enum or bool)")
            continue
        out[item.case.name] = [_decided(item.tabled.evaluate(*item.pair(row))) for row in item.case.rows]
    return out


def fast(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    return {item.case.name: [_decided(item.fast.evaluate(*item.pair(row))) for row in item.case.rows] for item in loaded}


def lazy(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        engine = load_case(item.case, adapter=Expensive())
        out[item.case.name] = [_decided(engine.evaluate(*item.pair(row))) for row in item.case.rows]
    return out


def interpreter(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    from policyengine.runtime.interpret import Interpreter

    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        interp = Interpreter(item.policy)
        rows: list[Verdict | None] = []
        for row in item.case.rows:
            values = {k: v for k, v in item.values(row, defaults=False).items() if v is not MISSING}
            rows.append(_decided(interp.evaluate(values)[0]))
        out[item.case.name] = rows
    return out


def c_loop(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    import policyengine.runtime._batch  # noqa: F401 - fails the test when the extension was not built

    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        engine = item.tabled
        assert engine.batch_in_c == engine.specialised, f"{item.case.name}: a tabled engine must run its batch in C"
        pairs = [item.pair(row) for row in item.case.rows]
        out[item.case.name] = [_decided(d) for d in engine.evaluate_many(pairs)]
    return out


def _user_key(item: Loaded, row: Row) -> str:
    user = {k: v for k, v in row.given.items() if k.startswith("user.")}
    return repr(sorted(user.items(), key=lambda kv: kv[0]))


def _plans(item: Loaded, row: Row) -> tuple[Any, Any]:
    user = item.pair(row)[1]
    return item.fast.plan("yes", user, state="visible"), item.fast.plan("no", user, state="visible")


def plan(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    from policyengine import PlanError
    from policyengine.runtime.plan import holds

    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        rows: list[Verdict | None] = []
        try:
            for row in item.case.rows:
                yes, no = _plans(item, row)
                facts = {k: v for k, v in item.values(row).items() if not k.startswith("user.") and v is not MISSING}
                shown = holds(yes.condition, facts), holds(no.condition, facts)
                rows.append("true" if shown[0] else "false" if shown[1] else "unknown")
        except PlanError as err:
            out[item.case.name] = Refused(f"plan: {err}")
            continue
        out[item.case.name] = rows
    return out


def smt(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    import z3

    from policyengine.proof import smt as proof

    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        encoder = proof.Encoder(bad_facts=True)
        try:
            action = next(a for a in item.policy.actions if a.id == "yes")
            for spec in item.policy.facts:
                encoder.fact(spec)
            cond = encoder.policy(item.policy).expr(action.visible)
        except proof.Unsupported as err:
            out[item.case.name] = Refused(f"smt: {err}")
            continue
        chosen = smt_rows(item.case)
        out[item.case.name] = [_smt_row_in_domain(z3, encoder, cond, item, row) if i in chosen else None
                               for i, row in enumerate(item.case.rows)]
    return out


def _smt_row_in_domain(z3: Any, encoder: Any, cond: Any, item: Loaded, row: Row) -> Verdict | None:
    """The row's verdict, or None for a row the encoding refuses by name (a code point past the solver's alphabet:
    docs/semantics.md, the proofs refuse such constants too): outside its domain, like a SQL column's."""
    from policyengine.proof import smt as proof

    try:
        return _smt_row(z3, encoder, cond, item, row)
    except proof.Unsupported:
        return None


def _smt_row(z3: Any, encoder: Any, cond: Any, item: Loaded, row: Row) -> Verdict | None:
    """The encoding's verdict with the row's facts pinned. First by substitution (each fact's value, each regex
    membership of a pinned string decided by z3's own rewriter): when that leaves the three verdicts constant, exactly
    one must be true; else by the solver, one satisfiability check per verdict."""
    bad = item.bad(row)
    values = item.values(row)
    terms = (("true", cond.true), ("false", cond.false), ("unknown", cond.unknown))
    found = _substituted(z3, encoder, terms, values, bad)
    if found is not None:
        return found
    pins = [encoder.bad[name] == z3.BoolVal(name in bad) for name in item.case.facts]
    pins.append(encoder.fix({k: v for k, v in values.items() if k not in bad}))
    solver = encoder.solver()
    solver.set("timeout", SMT_BUDGET_MS)
    return _smt_checks(z3, encoder, solver, pins, terms)


def _substituted(z3: Any, encoder: Any, terms: Any, values: Mapping[str, Any], bad: set[str]) -> Verdict | None:
    pairs = [(encoder.bad[name], z3.BoolVal(name in bad)) for name in values if name in encoder.bad]
    for name, value in values.items():
        spec = encoder.facts.get(name)
        if spec is None:
            continue
        if spec.type == "set":
            return None
        if name in bad:  # a bad fact's value must not matter (it is unknown): any value of its sort will do
            value = {"bool": False, "enum": (spec.values or ("",))[0], "string": "", "number": 0}[spec.type]
        var = encoder.vars[name]
        if spec.type == "bool":
            pairs.append((var, z3.BoolVal(bool(value))))
            continue
        pinned = z3.simplify(encoder.fix({name: value}))
        if pinned.decl().kind() != z3.Z3_OP_EQ:
            return None
        pairs.append((var, pinned.arg(1) if pinned.arg(0).eq(var) else pinned.arg(0)))
    for term, found in encoder._regexes.values():
        text = z3.simplify(z3.substitute(term, *pairs)) if pairs else term
        for language, flag in found:
            pairs.append((flag, z3.simplify(z3.InRe(text, language))))
    verdicts = [(v, z3.simplify(z3.substitute(t, *pairs)) if pairs else z3.simplify(t)) for v, t in terms]
    if not all(z3.is_true(t) or z3.is_false(t) for _, t in verdicts):
        return None
    true = [v for v, t in verdicts if z3.is_true(t)]
    return true[0] if len(true) == 1 else "ambiguous"


def _smt_checks(z3: Any, encoder: Any, solver: Any, pins: list[Any], terms: Any) -> Verdict | None:
    """One satisfiability check per verdict; None when the solver gives up (undecided, as a proof would say)."""
    found = []
    solver.push()
    solver.add(*encoder.regex_links(), *pins)
    try:
        for verdict, term in terms:
            result = solver.check(term)
            if result == z3.unknown:
                return None
            if result == z3.sat:
                found.append(verdict)
    finally:
        solver.pop()
    return found[0] if len(found) == 1 else "ambiguous"


def smt_rows(case: Case) -> set[int]:
    """The rows the SMT backend checks: the first of each expected verdict (a solver call costs milliseconds, and the
    corpus has thousands of rows); every row with ``POLICYENGINE_CONFORMANCE=full``."""
    if os.environ.get("POLICYENGINE_CONFORMANCE") == "full":
        return set(range(len(case.rows)))
    first: dict[str, int] = {}
    for i, row in enumerate(case.rows):
        first.setdefault(row.expect, i)
    return set(first.values())


SMT_BUDGET_MS = 2000


def bdd(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    from policyengine.proof.bdd import FALSE, TRUE, Diagrams, Symbolic

    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        finite = [f for f in item.policy.facts if f.finite]
        diagrams = Diagrams(finite, lambda units: None)
        action = next(a for a in item.policy.actions if a.id == "yes")
        node = Symbolic(item.policy, diagrams).expr(action.visible) if len(finite) == len(item.policy.facts) else None
        if node is None:
            out[item.case.name] = Refused("bdd: not symbolic (a fact that is not finite, or a leaf other than "
                                          "equality or membership of a finite fact)")
            continue
        rows: list[Verdict | None] = []
        for row in item.case.rows:
            if item.bad(row):
                rows.append(None)  # the diagrams range over valid facts only
                continue
            u = node
            while u not in (FALSE, TRUE):
                level, children = diagrams._nodes[u]
                fact = diagrams.facts[level]
                u = children[list(fact.domain).index(item.values(row)[fact.name])]
            rows.append("true" if u == TRUE else "false")
        out[item.case.name] = rows
    return out


def rule_engine(loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    out: dict[str, list[Verdict | None] | Refused] = {}
    for item in loaded:
        rows: list[Verdict | None] = []
        for row in item.case.rows:
            values = item.values(row)
            states = oracle_states(item.policy, values, bad_facts(item.policy, values))
            rows.append(from_states(states["yes"], states["no"]))
        out[item.case.name] = rows
    return out


BACKENDS: dict[str, Backend] = {
    "table": table, "fast": fast, "lazy": lazy, "interpreter": interpreter, "c-loop": c_loop, "plan": plan, "smt": smt,
    "bdd": bdd, "rule-engine": rule_engine,
}


# -- plans in SQL: one table holds every case's rows; each case selects its own ------------------------------------

_OUT = object()
"""A value a column cannot hold as itself (out of the backend's domain)."""


def _stored(dialect: str, spec: Any, value: Any) -> Any:
    """What to insert for ``value`` of fact ``spec``, or :data:`_OUT`. NULL is always a bad fact in a table (a
    missing fact with a declared default is not NULL: out)."""
    from decimal import Decimal

    if value is MISSING or value is None:
        return _OUT if value is MISSING and spec.default is not None else None
    kind, pg = spec.type, dialect == "postgresql"
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold NUL; SQLite's length() stops at one (docs/plans.md)
            return _OUT
        if _SURROGATE.search(value):  # a lone surrogate is not UTF-8: neither database's text can hold it
            return _OUT
        return value if kind in ("enum", "string") or not pg else _OUT
    if isinstance(value, bool):
        return value if kind == "bool" or not pg else _OUT
    if isinstance(value, (int, float)):
        if pg:
            if kind != "number" or value != value or value in (float("inf"), float("-inf")):
                return _OUT
            return Decimal(repr(value)) if isinstance(value, float) else value
        return value if not isinstance(value, int) or -2**63 <= value < 2**63 else _OUT
    if isinstance(value, list) and kind == "set" and all(isinstance(v, str) and "\x00" not in v for v in value):
        import json

        return value if pg else json.dumps(value)
    return _OUT


_SURROGATE = re.compile("[\ud800-\udfff]")


def _same(spec: Any, given: Any, read: Any, bad: bool) -> bool:
    """The database gives back what the case gave (or, for a bad value, something as bad)."""
    from policyengine.ir.numbers import to_decimal
    from policyengine.ir.values import check_value

    read_bad = bool(check_value(spec, read if read is not None else None)[1]) if read is not None else True
    if bad or read_bad:
        return bad and read_bad
    if spec.type == "number":  # and -0.0 is not 0 (a column may drop the sign: `0 ** -1` is +Infinity, -0.0's -Infinity)
        return bool(to_decimal(given) == to_decimal(read)) and to_decimal(given).is_signed() == to_decimal(read).is_signed()
    if spec.type == "set":
        return set(given) == set(read)
    return type(given) is type(read) and given == read


def sql(db: Any, loaded: Sequence[Loaded]) -> dict[str, list[Verdict | None] | Refused]:
    """Every case's rows in one table (a column per fact name and type), each case's plans as ``where``."""
    import sqlalchemy as sa

    from policyengine import PlanError
    from policyengine import sql as psql

    specs: dict[tuple[str, str], Any] = {}
    for item in loaded:
        for fact in item.policy.facts:
            if fact.source[0] != "user":
                specs.setdefault((fact.name, fact.type), fact)
    keys = list(specs)
    table, twin, by_name = db.table([attrs.evolve(specs[k], name=f"f{i}") for i, k in enumerate(keys)])
    column = {k: by_name[f"f{i}"] for i, k in enumerate(keys)}
    records: list[dict[str, Any]] = []
    where: dict[tuple[str, int], int] = {}  # (case, row) -> the row's id
    for item in loaded:
        for r, row in enumerate(item.case.rows):
            record: dict[str, Any] = dict.fromkeys((c.name for c in column.values()), None)
            for fact in item.policy.facts:
                if fact.source[0] == "user":
                    continue
                stored = _stored(db.dialect, fact, row.given.get(fact.name, MISSING))
                if stored is _OUT:
                    break
                record[column[(fact.name, fact.type)].name] = stored
            else:
                where[(item.case.name, r)] = len(records)
                records.append({"id": len(records), **record})
    with db.engine.begin() as conn:
        if records:
            conn.execute(sa.insert(twin), records)
    out: dict[str, list[Verdict | None] | Refused] = {}
    with db.engine.connect() as conn:
        raw = {row[0]: row for row in conn.execute(sa.select(*(sa.type_coerce(c, sa.types.NullType()) for c in twin.c)))}
        names = {c.name: i for i, c in enumerate(twin.c)}
        for item in loaded:
            columns = {f.name: column[(f.name, f.type)] for f in item.policy.facts if f.source[0] != "user"}
            rows: list[Verdict | None] = [None] * len(item.case.rows)
            groups: dict[str, list[int]] = {}
            for r, row in enumerate(item.case.rows):
                if (item.case.name, r) in where and _read_back(item, row, raw[where[(item.case.name, r)]], names, column):
                    groups.setdefault(_user_key(item, row), []).append(r)
            try:
                for members in groups.values():  # one plan per distinct user; the rows of that user in one query
                    yes, no = _plans(item, item.case.rows[members[0]])
                    ids = [where[(item.case.name, r)] for r in members]
                    verdict = sa.case((psql.where(yes, columns), "true"), (psql.where(no, columns), "false"),
                                      else_="unknown")
                    found = dict(conn.execute(sa.select(table.c.id, verdict).where(table.c.id.in_(ids))).all())
                    for r, i in zip(members, ids, strict=True):
                        rows[r] = found[i]
            except PlanError as err:
                out[item.case.name] = Refused(f"{db.dialect}: {err}")
                continue
            except sa.exc.DBAPIError as err:  # the database refused the query: a disagreement to list or fix
                conn.rollback()
                rows = [f"error: {str(err.orig).splitlines()[0]}"] * len(item.case.rows)
            except UnicodeEncodeError as err:  # the driver cannot send the query's text (a lone surrogate): the same
                conn.rollback()
                rows = [f"error: {err.reason}"] * len(item.case.rows)
            out[item.case.name] = rows
    return out


def _read_back(item: Loaded, row: Row, raw: Any, names: Mapping[str, int], column: Mapping[Any, Any]) -> bool:
    from policyengine import sql as psql

    values, bad = item.values(row), item.bad(row)
    for fact in item.policy.facts:
        if fact.source[0] == "user":
            continue
        read = psql.engine_value(fact, raw[names[column[(fact.name, fact.type)].name]])
        given = values[fact.name]
        if not _same(fact, None if given is MISSING else given, read, fact.name in bad):
            return False
    return True
