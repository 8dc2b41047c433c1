"""Writes the seed files of the conformance corpus (run once; the YAML is what is committed and reviewed).

    .venv/bin/python tests/conformance/seed.py

Sources: the examples of tests/test_exact.py (their hand-written answers kept as they are), the rows of the
differential fuzzer's failures and the oracle tests, the attack tests (wrong types, hostile strings, numbers at the
edges), and grids of every operator over every fact type. A row without a hand-written answer takes rule-engine's
(tests/fuzz_support.py's oracle), which the runner then checks every backend against; the files are meant to be
read and changed by hand from here on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conformance_support import Case, Dumper, from_states, load_case  # noqa: E402
from fuzz_support import MISSING, bad_facts, oracle_states  # noqa: E402

import policyengine  # noqa: E402

NUMBER = {"type": "number"}
STRING = {"type": "string"}
BOOL = {"type": "bool"}
TAGS = {"type": "set"}
STATUS = {"type": "enum", "values": ["New", "Open", "Shipped", "Partially Shipped"]}
ROLE = {"type": "enum", "values": ["admin", "member", "viewer"]}

BAD_NUMBERS: list[Any] = [None, "5", True, [1], float("nan"), float("inf"), float("-inf"), {"a": 1}]
BAD_STRINGS: list[Any] = [None, 5, True, ["x"], 1.5]
BAD_BOOLS: list[Any] = [None, 1, 0, "true", "false", []]
EDGE_NUMBERS: list[Any] = [0, -0.0, 1, -1, 0.1, 0.3, 2.5, 1e23, 10**23 - 1, 2**53 + 1, float(2**60), 2**60, 10**30 + 1,
                           5e-324, 1.7976931348623157e308, -1e-7, 123456789.123456789, 10**400]
HOSTILE: list[Any] = ["", " ", "a", "A", "ab", "é", "e\u0301", "Ω", "\u212b", "\U0001f600", "'", '"', "\\", "\\u{41}",
                      "x\ny", "\t", "\x00", "\x01\x7f", "\x85\xa0", "\u2028", "DROP TABLE orders;--", "' OR '1'='1",
                      "%", "_", "a%b", "[x]", "x" * 300, "İ", "ß", "ﬁ", "\ud7ff", "NaN", "1e5"]


def _row(values: dict[str, Any], expect: str | None = None) -> tuple[dict[str, Any], str | None]:
    return values, expect


class Corpus:
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.names: set[str] = set()

    def add(self, file: str, name: str, facts: dict[str, Any], when: str, rows: list[Any], why: str = "",
            error: str | None = None) -> None:
        assert name not in self.names, name
        self.names.add(name)
        case: dict[str, Any] = {"name": name}
        if why:
            case["why"] = why
        case["facts"] = facts
        case["when"] = when
        if error is not None:
            case["error"] = self._refused(name, facts, when, error)
        else:
            try:
                case["rows"] = self._expect(name, facts, when, rows)
            except policyengine.PolicyError as err:
                print(f"skipped {name}: {str(err).splitlines()[-1]}", file=sys.stderr)
                return
        self.files.setdefault(file, {"cases": []})["cases"].append(case)

    @staticmethod
    def _refused(name: str, facts: dict[str, Any], when: str, needle: str) -> str:
        """The load error's message must contain ``needle``; an empty needle takes the message's first words."""
        try:
            load_case(Case(name, "", facts, when))
        except policyengine.PolicyError as err:
            message = str(err)
        else:
            raise AssertionError(f"{name}: {when!r} loaded")
        assert needle in message, (name, needle, message)
        if needle:
            return needle
        first = message.split(": ", 1)[-1] if "policy.yaml" in message else message
        return " ".join(first.split()[:6])

    @staticmethod
    def _expect(name: str, facts: dict[str, Any], when: str, rows: list[Any]) -> list[dict[str, Any]]:
        engine = load_case(Case(name, "", facts, when))
        out = []
        for given, expect in rows:
            values = {f: given.get(f, facts[f].get("default", MISSING)) for f in facts}
            states = oracle_states(engine.policy, values, bad_facts(engine.policy, values))
            oracle = from_states(states["yes"], states["no"])
            if expect is not None:
                assert oracle == expect, (name, given, oracle, expect)
            out.append({"given": given, "expect": {"true": True, "false": False}.get(oracle, oracle)})
        return out

    def write(self) -> None:
        for file, data in self.files.items():
            header = f"# tests/conformance/{file}: seeded by tests/conformance/seed.py, edited by hand from here on\n"
            text = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=False, width=120, default_flow_style=None)
            (HERE / file).write_text(header + text)


def exact(c: Corpus) -> None:
    """tests/test_exact.py: numbers where Python and Decimal disagree, with that file's answers."""
    f = {"order.total": NUMBER, "order.other": NUMBER}
    t = "order.total"
    hand = [
        ("big-int-literal-vs-float-fact", "order.total == 1152921504606846976",
         [({t: float(2**60)}, "false"), ({t: 2**60}, "true")]),
        ("float-repr-literal-vs-float-fact", "order.total == 1152921504606847000", [({t: float(2**60)}, "true")]),
        ("list-membership-more-digits-than-float", "order.total in [0.30000000000000000001]", [({t: 0.3}, "false")]),
        ("list-membership-two-members", "order.total in [0.30000000000000000001, 0.3]", [({t: 0.3}, "true")]),
        ("list-membership-big-int", "order.total in [1152921504606846976]",
         [({t: float(2**60)}, "false"), ({t: 2**60}, "true")]),
        ("list-membership-int-vs-float", "order.total in [2, 0.5]", [({t: 2.0}, "true"), ({t: 0.5}, "true"),
                                                                     ({t: 1}, "false")]),
        ("arithmetic-membership-is-decimal", "order.total * 3 in [0.3]", [({t: 0.1}, "true")]),
        ("arithmetic-equality-is-decimal", "order.total * 3 == 0.3", [({t: 0.1}, "true")]),
        ("unary-minus-rounds-at-28-digits", "-order.total == -1000000000000000000000000000000",
         [({t: 10**30 + 1}, "true")]),
        ("unary-minus-of-huge-is-negative", "-order.total < 0", [({t: 10**30 + 1}, "true")]),
        ("plus-one-rounds-at-28-digits", "order.total + 1 == 1000000000000000000000000000000",
         [({t: 10**30 + 1}, "true")]),
    ]
    for name, when, rows in hand:
        c.add("exact.yaml", name, f, when, [_row(v, e) for v, e in rows], why="tests/test_exact.py (issue 10)")
    thresholds = [("order.total < 0.1", 0.1, "false"), ("order.total <= 0.1", 0.1, "true"),
                  ("order.total > 100000000000000000000000", 1e23, "false"),
                  ("order.total >= 100000000000000000000000", 1e23, "true"),
                  ("order.total >= 100000000000000000000000", 10**23 - 1, "false"),
                  ("order.total > 99999999999999991611392", 1e23, "true"), ("order.total < 1e400", 1.7e308, "true"),
                  ("order.total > 1e-400", 5e-324, "true"), ("order.total > 1e-400", 0.0, "false"),
                  ("order.total == 0", -0.0, "true"), ("order.total != 2.5", 2.5, "false"),
                  ("0.1 < order.total", 0.1, "false")]
    for i, (when, value, expect) in enumerate(thresholds):
        c.add("exact.yaml", f"threshold-{i + 1}", f, when, [_row({t: value}, expect)], why="tests/test_exact.py thresholds")
    big = 2**60
    pairs = [("order.total == order.other", big, float(big), "false"), ("order.total < order.other", big, float(big), "true"),
             ("order.total == order.other", float(big), float(big), "true"),
             ("order.total == order.other", big + 1, big + 1, "true")]
    for i, (when, a, b, expect) in enumerate(pairs):
        c.add("exact.yaml", f"two-facts-int-and-float-{i + 1}", f, when, [_row({t: a, "order.other": b}, expect)],
              why="tests/test_exact.py: an int and a float beyond 2**53")
    # every comparison against literals at the edges, over edge values and bad values
    literals = ["0.1", "0.3", "0.30000000000000000001", "1152921504606846976", "1e23", "2.5", "-7", "1e-400", "1e400",
                "9007199254740993", "-0", "123456789.123456789"]
    for lit in literals:
        for op in ("<", "<=", ">", ">=", "==", "!="):
            rows = [_row({t: v}) for v in EDGE_NUMBERS[:12]] + [_row({}), _row({t: None}), _row({t: "1"})]
            c.add("numbers.yaml", f"literal-{_slug(lit)}-{_opname(op)}", {t: NUMBER}, f"order.total {op} {lit}", rows)


def arithmetic(c: Corpus) -> None:
    f = {"order.total": NUMBER, "order.other": NUMBER}
    values = [(0, 0), (1, 0), (7, 2), (-7, 2), (0.1, 0.2), (2**60, 3), (10**30, 7), (2.5, -0.5), (1e308, 10), (3, 0.5)]
    exprs = {"add": "order.total + order.other > 0.3", "sub": "order.total - order.other == 0",
             "mul": "order.total * order.other >= 1", "div": "order.total / order.other > 1",
             "floordiv": "order.total // order.other == 3", "mod": "order.total % order.other == 1",
             "pow": "order.total ** 2 > 1000", "neg": "-order.total < order.other",
             "mixed": "(order.total + 1) * 2 - order.other / 4 > 10",
             "div-literal": "order.total / 3 * 3 == order.total", "sum-exact": "order.total + order.other == 0.3"}
    for name, when in exprs.items():
        rows = [_row({"order.total": a, "order.other": b}) for a, b in values]
        rows += [_row({"order.total": 1}), _row({"order.total": "1", "order.other": 1}),
                 _row({"order.total": True, "order.other": 1})]
        c.add("arithmetic.yaml", f"arith-{name}", f, when, rows)
    c.add("arithmetic.yaml", "division-by-zero-is-unknown", f, "order.total / order.other > 0",
          [_row({"order.total": 1, "order.other": 0}, "unknown"), _row({"order.total": 1, "order.other": 2}, "true")])
    c.add("arithmetic.yaml", "division-by-zero-overruled-by-or", f, "order.total > 0 or order.total / order.other > 0",
          [_row({"order.total": 1, "order.other": 0}, "true"), _row({"order.total": -1, "order.other": 0}, "unknown")])
    c.add("arithmetic.yaml", "division-by-zero-overruled-by-and", f, "order.total > 0 and order.total / order.other > 0",
          [_row({"order.total": -1, "order.other": 0}, "false"), _row({"order.total": 1, "order.other": 0}, "unknown")])


def logic(c: Corpus) -> None:
    f = {"order.a": BOOL, "order.b": BOOL}
    forms = {"and": "order.a and order.b", "or": "order.a or order.b", "not": "not order.a",
             "and-not": "order.a and not order.b", "ternary": "order.a ? order.b : not order.b",
             "ternary-const": "order.a ? true : false", "xor": "(order.a or order.b) and not (order.a and order.b)",
             "eq": "order.a == order.b", "ne": "order.a != order.b", "eq-true": "order.a == true",
             "not-not": "not not order.a", "or-true": "order.a or true", "and-false": "order.a and false"}
    vals: list[Any] = [True, False, MISSING, None, "true", 1]
    for name, when in forms.items():
        rows = []
        for a in vals:
            for b in vals:
                given = {k: v for k, v in (("order.a", a), ("order.b", b)) if v is not MISSING}
                rows.append(_row(given))
        c.add("logic.yaml", f"kleene-{name}", f, when, rows, why="three-valued and/or/not/?: (unknown fails closed)")
    n = {"order.total": NUMBER, "order.a": BOOL}
    mixes = {"or-number-unknown": "order.a or order.total > 5", "and-number-unknown": "order.a and order.total > 5",
             "ternary-number-test": "order.total > 5 ? order.a : not order.a",
             "ternary-number-branches": "order.a ? order.total > 5 : order.total < 0",
             "not-number": "not (order.total > 5)", "nested": "not (order.a and (order.total > 5 or not order.a))"}
    for name, when in mixes.items():
        rows = [_row({k: v for k, v in (("order.a", a), ("order.total", t)) if v is not MISSING})
                for a in (True, False, MISSING, None) for t in (10, 1, MISSING, "x")]
        c.add("logic.yaml", f"mixed-{name}", n, when, rows)


def enums(c: Corpus) -> None:
    f = {"order.status": STATUS, "user.role": ROLE}
    forms = {"eq": "order.status == 'Open'", "ne": "order.status != 'Open'", "in": "order.status in ['New', 'Open']",
             "not-in": "order.status not in ['New', 'Open']", "space": "order.status == 'Partially Shipped'",
             "rev": "'Shipped' == order.status", "role-eq": "user.role == 'admin'",
             "role-in": "user.role in ['admin', 'member']", "both": "user.role == 'admin' or order.status == 'New'",
             "both-and": "user.role != 'viewer' and order.status in ['Open', 'Shipped']",
             "lt": "order.status < 'Open'", "in-string": "'pe' in order.status", "length": "order.status.length > 4"}
    statuses: list[Any] = ["New", "Open", "Shipped", "Partially Shipped", "open", "Nope", "", None, 3, MISSING]
    roles: list[Any] = ["admin", "member", "viewer", "Admin", None, MISSING]
    for name, when in forms.items():
        rows = [_row({k: v for k, v in (("order.status", s), ("user.role", r)) if v is not MISSING})
                for s in statuses for r in (roles if "role" in when else ["admin"])]
        c.add("enums.yaml", f"enum-{name}", f, when, rows)
    c.add("enums.yaml", "undeclared-enum-literal-refused", f, "order.status == 'Nope'", [], error="Nope")
    c.add("enums.yaml", "undeclared-enum-member-refused", f, "order.status in ['New', 'Closed']", [], error="Closed")
    c.add("enums.yaml", "enum-against-bool-refused", f, "order.status == true", [], error="")


def strings(c: Corpus) -> None:
    s = "order.note"
    f = {s: STRING}
    forms = {"eq-empty": "order.note == ''", "eq-a": "order.note == 'a'", "ne-a": "order.note != 'a'",
             "lt": "order.note < 'b'", "ge": "order.note >= 'é'", "in-literal": "'a' in order.note",
             "in-list": "order.note in ['a', 'Ω', '']", "length": "order.note.length > 2",
             "length-eq": "order.note.length == 1", "quote": "order.note == \"'\"", "backslash": "order.note == '\\\\'",
             "escape-u": "order.note == '\\u0041'", "escape-n": "order.note == '\\n'",
             "sql-injection": "order.note == '\\' OR \\'1\\'=\\'1'", "percent": "order.note == '%'",
             "underscore-in": "'_' in order.note", "combining": "order.note == 'e\u0301'",
             "astral": "order.note == '\U0001f600'", "astral-length": "order.note.length == 1"}
    for name, when in forms.items():
        rows = [_row({s: v}) for v in HOSTILE] + [_row({s: v}) for v in BAD_STRINGS] + [_row({})]
        c.add("strings.yaml", f"string-{name}", f, when, rows, why="hostile strings: unicode, quotes, escapes, NUL")
    two = {s: STRING, "order.other": STRING}
    for name, when in {"eq": "order.note == order.other", "lt": "order.note < order.other",
                       "in": "order.note in order.other"}.items():
        rows = [_row({s: a, "order.other": b}) for a in ("", "a", "ab", "é", "\x00") for b in ("a", "ab", "B", "\x00a")]
        rows += [_row({s: "a"}), _row({s: 1, "order.other": "1"})]
        c.add("strings.yaml", f"two-strings-{name}", two, when, rows)


def regexes(c: Corpus) -> None:
    s = "order.note"
    f = {s: STRING}
    forms = {"match": "order.note =~ 'a+'", "search": "order.note =~~ 'b'", "not-match": "order.note !~ 'a.*'",
             "not-search": "order.note !~~ '^x'", "anchored": "order.note =~ '^ab$'", "class": "order.note =~ '[a-c]+'",
             "dot-newline": "order.note =~ 'x.y'", "unicode-class": "order.note =~ '\\\\w+'",
             "digits": "order.note =~ '\\\\d{3}'", "alternation": "order.note =~~ 'foo|bar'",
             "case": "order.note =~ '(?i)ab'", "dollar-newline": "order.note =~ 'a$'",
             "optional": "order.note =~ 'colou?r'", "email": "order.note =~ '[a-z]+@example\\\\.com'"}
    values: list[Any] = ["", "a", "aaa", "ab", "AB", "b", "abc", "x\ny", "xy", "123", "١٢٣", "foo", "xbar", "a\n",
                         "color", "colour", "ann@example.com", "@", "é", "a" * 4097, "x" * 5000, None, 5, MISSING]
    for name, when in forms.items():
        rows = [_row({s: v} if v is not MISSING else {}) for v in values]
        c.add("regex.yaml", f"regex-{name}", f, when, rows, why="regexes as Python's re; past 4,096 characters unknown")
    c.add("regex.yaml", "catastrophic-regex-refused", f, "order.note =~ '(a+)+$'", [], error="exponential")
    c.add("regex.yaml", "regex-needs-literal-refused", {s: STRING, "order.other": STRING}, "order.note =~ order.other", [],
          error="literal regular expression")
    c.add("regex.yaml", "regex-on-number-refused", {"order.total": NUMBER}, "order.total =~ 'a'", [], error="")
    c.add("regex.yaml", "invalid-regex-refused", f, "order.note =~ '('", [], error="")


def sets(c: Corpus) -> None:
    t = "order.tags"
    f = {t: TAGS, "order.note": STRING}
    forms = {"member": "'vip' in order.tags", "not-member": "'vip' not in order.tags",
             "fact-member": "order.note in order.tags", "length": "order.tags.length >= 2",
             "empty": "order.tags.length == 0", "eq-literal": "order.tags == {'a', 'b'}",
             "member-or": "'a' in order.tags or 'b' in order.tags"}
    values: list[Any] = [[], ["vip"], ["a", "b"], ["b", "a"], ["a", "a", "b"], ["VIP"], ["", "x"], ["é", "\x00"],
                         ["a", 1], "vip", None, [None], 5, MISSING]
    for name, when in forms.items():
        rows = [_row({k: v for k, v in ((t, x), ("order.note", n)) if v is not MISSING})
                for x in values for n in (["vip", "a", MISSING] if "order.note" in when else ["a"])]
        try:
            c.add("sets.yaml", f"set-{name}", f, when, rows)
        except Exception as err:  # noqa: BLE001 - a form the language refuses: seed it as a load error
            print(f"set-{name}: {err}", file=sys.stderr)


def attacks(c: Corpus) -> None:
    """Wrong types and edges on every fact type: never enabled, always unknown when the fact is needed."""
    for kind, spec, bad, when in (("number", NUMBER, BAD_NUMBERS + [[], "", 10**400], "order.x > 0"),
                                  ("string", STRING, BAD_STRINGS + [{"a": "b"}, b"x".decode()], "order.x == 'x'"),
                                  ("bool", BOOL, BAD_BOOLS + [0.0, "yes"], "order.x"),
                                  ("enum", {"type": "enum", "values": ["x", "y"]}, [None, 1, "X", "", ["x"], True],
                                   "order.x == 'x'"),
                                  ("set", TAGS, [None, "x", [1], [None], {"x": 1}, 5], "'x' in order.x")):
        for i, value in enumerate(bad):
            c.add("attacks.yaml", f"bad-{kind}-{i + 1}", {"order.x": spec}, when, [_row({"order.x": value})],
                  why=f"a wrong-typed {kind} fact fails closed: {value!r}"[:100])
        c.add("attacks.yaml", f"bad-{kind}-negated", {"order.x": spec}, f"not ({when})",
              [_row({"order.x": v}) for v in bad], why="negation does not turn unknown into true")
    for i, value in enumerate(EDGE_NUMBERS):
        c.add("attacks.yaml", f"edge-number-{i + 1}", {"order.x": NUMBER}, "order.x >= 0 or order.x < 0",
              [_row({"order.x": value})], why="every finite number is a number")
    c.add("attacks.yaml", "user-fact-missing", {"user.level": NUMBER}, "user.level > 2",
          [_row({"user.level": 3}), _row({}), _row({"user.level": None})])
    c.add("attacks.yaml", "undeclared-fact-refused", {"order.x": NUMBER}, "order.y > 1", [], error="order.y")
    c.add("attacks.yaml", "null-literal-refused", {"order.x": NUMBER}, "order.x == null", [], error="null")
    c.add("attacks.yaml", "non-boolean-condition-refused", {"order.x": NUMBER}, "order.x + 1", [], error="true or false")
    c.add("attacks.yaml", "huge-literal-refused", {"order.x": NUMBER}, "order.x > 1e100000", [], error="")
    c.add("attacks.yaml", "deep-nesting-refused", {"order.x": BOOL}, "not " * 300 + "order.x", [], error="")
    c.add("attacks.yaml", "string-vs-number-refused", {"order.x": NUMBER}, "order.x == 'a'", [], error="")
    c.add("attacks.yaml", "unknown-attribute-refused", {"order.x": STRING}, "order.x.as_upper == 'A'", [], error="")


def defaults(c: Corpus) -> None:
    for kind, spec, when, good in (("number", {"type": "number", "default": 5}, "order.x > 1", 0),
                                   ("bool", {"type": "bool", "default": True}, "order.x", False),
                                   ("enum", {"type": "enum", "values": ["x", "y"], "default": "x"}, "order.x == 'x'", "y"),
                                   ("string", {"type": "string", "default": "x"}, "order.x == 'x'", "z")):
        c.add("defaults.yaml", f"default-{kind}", {"order.x": spec}, when,
              [_row({}), _row({"order.x": None}), _row({"order.x": good})],
              why="a missing fact reads its default; null is still a bad fact")


def more(c: Corpus) -> None:
    """Grids that give every operator its own case (so a backend's disagreement names the operator)."""
    two = {"order.total": NUMBER, "order.other": NUMBER}
    pairs = [(1, 2), (2, 1), (2, 2), (2, 2.0), (0.1, 0.1), (2**60, float(2**60)), (-0.0, 0), (10**30, 10**30 + 1),
             (1, "1"), (None, 1), (1, MISSING)]
    for op in ("<", "<=", ">", ">=", "==", "!="):
        rows = [_row({k: v for k, v in (("order.total", a), ("order.other", b)) if v is not MISSING}) for a, b in pairs]
        c.add("numbers.yaml", f"two-numbers-{_opname(op)}", two, f"order.total {op} order.other", rows)
    samples = [0, 1, 3, -3, 0.5, 0.1, 2**60, 10**28, 1e-30, -2.5, 7]
    for name, op in (("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"), ("mod", "%"), ("pow", "**"),
                     ("floordiv", "//")):
        for lit in ("0", "0.3", "1e-30", "10000000000000000000000000000", "-2.5"):
            when = f"order.total {op} 3 > {lit}"
            c.add("arithmetic.yaml", f"arith-{name}-3-gt-{_slug(lit)}", {"order.total": NUMBER}, when,
                  [_row({"order.total": v}) for v in samples] + [_row({}), _row({"order.total": "3"})])
    for i, value in enumerate(HOSTILE):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or len(value) > 50:
            continue
        literal = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        for op in ("==", "in"):
            when = f"order.note {op} {literal}" if op == "==" else f"{literal} in order.note"
            c.add("strings.yaml", f"hostile-literal-{i + 1}-{'eq' if op == '==' else 'in'}", {"order.note": STRING},
                  when, [_row({"order.note": v}) for v in HOSTILE[:20]] + [_row({"order.note": value}), _row({})],
                  why=f"the literal {value!r} means the same text on every backend"[:100])
    statuses = STATUS["values"]
    for value in statuses:
        for op in ("==", "!="):
            c.add("enums.yaml", f"status-{_opname(op)}-{value.lower().replace(' ', '-')}", {"order.status": STATUS},
                  f"order.status {op} '{value}'", [_row({"order.status": v}) for v in [*statuses, "Nope", None, 1]] + [_row({})])
    for i, members in enumerate((["New"], ["New", "Open"], ["Shipped", "Partially Shipped"], statuses)):
        quoted = ", ".join(f"'{m}'" for m in members)
        for op in ("in", "not in"):
            c.add("enums.yaml", f"status-{op.replace(' ', '-')}-list-{i + 1}", {"order.status": STATUS},
                  f"order.status {op} [{quoted}]", [_row({"order.status": v}) for v in [*statuses, "Nope", None]] + [_row({})])
    patterns = ["^$", "a|b", "(ab)+", "[^a]", "\\s", "\\S+", "x{2,3}", "a?b?", "\\bfoo\\b", "[\\u00e9]", "(?s)x.y",
                "(?m)^b", "\\.", "[.]", "a*", "\\Ω", "[0-9]+(\\.[0-9]+)?", "^(?:foo|bar)$", "\\$", "\\\\"]
    texts: list[Any] = ["", "a", "b", "ab", "abab", "x", "xx", "xxx", " ", "foo", "foo bar", "é", "x\ny", "x.y", "\n", "9.5",
                        "$", "\\", "Ω", "bar", 5, None]
    for i, pattern in enumerate(patterns):
        for op in ("=~", "=~~"):
            when = f"order.note {op} '{pattern}'"
            try:
                c.add("regex.yaml", f"pattern-{i + 1}-{'match' if op == '=~' else 'search'}", {"order.note": STRING},
                      when, [_row({"order.note": t}) for t in texts])
            except AssertionError:
                raise
    for i, lit in enumerate(("a", "", "é", "x y", "it's", "\u00e9")):
        quoted = "'" + lit.replace("'", "\\'") + "'"
        c.add("sets.yaml", f"set-member-literal-{i + 1}", {"order.tags": TAGS}, f"{quoted} in order.tags",
              [_row({"order.tags": v}) for v in ([], [lit], ["a", "é"], ["x y", "it's"], [lit.upper()], None)] + [_row({})])
    for i, when in enumerate(("(order.a ? order.total : order.other) > 1", "(order.a ? 1 : 2) == order.total",
                              "(order.total > 0 ? order.total : -order.total) >= 2",
                              "(order.a ? order.total / order.other : 0) > 1", "order.a ? order.total > 1 : order.other > 1")):
        rows = [_row({k: v for k, v in (("order.a", a), ("order.total", t), ("order.other", o)) if v is not MISSING})
                for a in (True, False, None) for t, o in ((2, 0), (-3, 5), (1, MISSING))]
        c.add("logic.yaml", f"ternary-value-{i + 1}", {"order.a": BOOL, **two}, when, rows)


def edges(c: Corpus) -> None:
    """Numbers at the edges written as literals, user facts, set lengths, bad values inside arithmetic."""
    for i, value in enumerate(EDGE_NUMBERS):
        literal = repr(value) if not isinstance(value, int) or abs(value) < 10**100 else None
        if literal is None or "e+" in literal:
            continue
        for op in ("==", "<"):
            c.add("numbers.yaml", f"edge-literal-{i + 1}-{_opname(op)}", {"order.total": NUMBER},
                  f"order.total {op} {literal}", [_row({"order.total": v}) for v in EDGE_NUMBERS] + [_row({})])
    for op in ("<", "<=", ">", ">=", "==", "!="):
        c.add("numbers.yaml", f"user-number-{_opname(op)}", {"user.level": NUMBER, "order.total": NUMBER},
              f"user.level {op} order.total",
              [_row({k: v for k, v in (("user.level", a), ("order.total", b)) if v is not MISSING})
               for a, b in ((1, 2), (2, 2), (3, 2), (0.1, 0.1), (None, 1), (MISSING, 1), ("2", 2))])
    for n in range(4):
        for op in ("==", ">"):
            c.add("sets.yaml", f"set-length-{_opname(op)}-{n}", {"order.tags": TAGS}, f"order.tags.length {op} {n}",
                  [_row({"order.tags": v}) for v in ([], ["a"], ["a", "b"], ["a", "a"], ["a", "b", "c"], None, "abc")])
    for i, value in enumerate(BAD_NUMBERS + [10**400, -(10**400)]):
        c.add("attacks.yaml", f"bad-number-in-arithmetic-{i + 1}", {"order.total": NUMBER, "order.a": BOOL},
              "order.a or order.total * 2 + 1 > 0", [_row({"order.total": value, "order.a": a}) for a in (True, False)],
              why="a bad number inside arithmetic is unknown, overruled only by a true or")
    for i, when in enumerate(("order.a == true", "order.a == false", "order.a != true", "order.a != false",
                              "true == order.a", "order.a in [true]", "order.a in [true, false]", "order.a == not order.a",
                              "store.manual", "store.manual and user.admin", "not store.manual or user.admin")):
        facts = {"order.a": BOOL, "store.manual": BOOL, "user.admin": BOOL}
        rows = [_row({k: v for k, v in zip(facts, combo, strict=True) if v is not MISSING})
                for combo in ((True, True, False), (False, False, True), (None, None, None), (MISSING, MISSING, MISSING),
                              ("true", 1, 0))]
        c.add("logic.yaml", f"bool-form-{i + 1}", facts, when, rows)
    three = {"order.a": BOOL, "order.b": BOOL, "order.c": BOOL}
    for i, when in enumerate(("order.a and order.b and order.c", "order.a or order.b or order.c",
                              "order.a and (order.b or order.c)", "(order.a and order.b) or order.c",
                              "not (order.a or order.b) and order.c", "order.a ? (order.b ? order.c : false) : true",
                              "order.a == (order.b and order.c)", "(order.a or not order.a) and order.b",
                              "order.a or not order.a", "order.a and not order.a")):
        rows = [_row({k: v for k, v in zip(three, combo, strict=True) if v is not MISSING})
                for combo in ((True, True, True), (True, False, None), (False, None, True), (None, True, False),
                              (MISSING, MISSING, True), (True, "x", False), (False, False, False))]
        c.add("logic.yaml", f"three-bools-{i + 1}", three, when, rows, why="excluded middle does not hold: unknown stays unknown")


def _slug(text: str) -> str:
    return text.replace(".", "p").replace("-", "m").replace("+", "")


def _opname(op: str) -> str:
    return {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}[op]


def main() -> None:
    corpus = Corpus()
    for seed in (exact, arithmetic, logic, enums, strings, regexes, sets, attacks, defaults, more, edges):
        seed(corpus)
    corpus.write()
    print(f"{len(corpus.names)} cases")


if __name__ == "__main__":
    main()
