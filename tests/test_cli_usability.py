"""The command line as a newcomer uses it (issue 14): ``--version``, ``-`` for standard input, ``python -m
policyengine``, ``policyengine schema [DIR]`` (schemas an editor or ``jsonschema`` resolves from DIR alone), the
warning when ``--store`` overrides the order's own ``store.id``, and a command table that imports only the chosen
command.

Most tests run in-process through :func:`run_cli` (standard input replaced by ``monkeypatch``); a few run the real
``policyengine`` console script and ``python -m policyengine`` as subprocesses, piping standard input.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urljoin

import jsonschema
import pytest
import yaml
from cli_support import run_cli
from conftest import POLICIES, ROOT
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

import policyengine.cli
from policyengine.cli import COMMANDS, main

USER = '{"role": "member"}'
ORDER = {"id": "SO-1", "status": "Error", "has_shipment": False, "sent_to_warehouse": False,
         "store": {"id": "acme", "manual_fulfillment": True}}
SCRIPT = Path(sys.executable).with_name("policyengine")


def stdin(monkeypatch: pytest.MonkeyPatch, data: str | bytes) -> None:
    """Standard input holds ``data`` for the next :func:`run_cli`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))


def shell(*argv: str, input: str | None = None, cwd: Path = ROOT, module: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the console script (or ``python -m policyengine`` with ``module``) as a user's shell would."""
    command = [sys.executable, "-m", "policyengine"] if module else [str(SCRIPT)]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*command, *argv], input=input, cwd=cwd, capture_output=True, text=True, check=False,
                          env=env, timeout=120)


# -- --version -----------------------------------------------------------------------------------------------------
def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert out == f"policyengine {version('policyengine')}\n"
    assert err == ""


def test_version_from_the_console_script_and_python_m() -> None:
    for module in (False, True):
        run = shell("--version", module=module)
        assert (run.returncode, run.stdout, run.stderr) == (0, f"policyengine {version('policyengine')}\n", "")


# -- python -m policyengine ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ("--help",),
    ("validate", "policies"),
    ("validate", "policies/nosuch"),
    ("evaluate", "policies"),                      # a usage error: the usage line names the program
    ("frobnicate",),
    ("evaluate", "policies", "--order", json.dumps(ORDER), "--user", USER, "--format", "json"),
])
def test_python_m_policyengine_is_the_console_script(argv: tuple[str, ...]) -> None:
    script, module = shell(*argv), shell(*argv, module=True)
    assert (module.returncode, module.stdout, module.stderr) == (script.returncode, script.stdout, script.stderr)
    assert "__main__" not in module.stdout + module.stderr


def test_python_m_policyengine_usage_names_the_program() -> None:
    run = shell("evaluate", "policies", module=True)
    assert run.returncode == 2
    assert run.stderr.startswith("usage: policyengine evaluate ")
    assert "policyengine evaluate: error: the following arguments are required: --order, --user" in run.stderr


# -- - as standard input -------------------------------------------------------------------------------------------
def test_order_and_user_from_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(ORDER), "--user", USER)
    assert expected[0] == 0 and "Reprocess" in expected[1]
    stdin(monkeypatch, json.dumps(ORDER, indent=2))
    assert run_cli(capsys, "evaluate", str(POLICIES), "--order", "-", "--user", USER) == expected
    stdin(monkeypatch, USER + "\n")
    assert run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(ORDER), "--user", "-") == expected
    stdin(monkeypatch, json.dumps(ORDER))
    code, out, err = run_cli(capsys, "explain", str(POLICIES), "--order", "-", "--user", USER)
    assert (code, err) == (0, "") and "reprocess" in out.lower()


def test_pipe_into_the_console_script() -> None:
    piped = shell("evaluate", "policies", "--order", "-", "--user", USER, input=json.dumps(ORDER))
    given = shell("evaluate", "policies", "--order", json.dumps(ORDER), "--user", USER)
    assert piped.returncode == 0 and piped.stdout == given.stdout and piped.stderr == ""
    orders = (ROOT / "examples" / "bulk-orders.jsonl").read_text("utf-8")
    piped = shell("bulk", "policies", "--action", "reset", "--orders", "-", "--user", USER, input=orders)
    given = shell("bulk", "policies", "--action", "reset", "--orders", "examples/bulk-orders.jsonl", "--user", USER)
    assert piped.returncode == 0 and piped.stdout == given.stdout and piped.stderr == ""
    policy = (POLICIES / "order-actions.yaml").read_text("utf-8")
    piped = shell("validate", "-", input=policy, module=True)
    assert (piped.returncode, piped.stderr) == (0, "")
    assert piped.stdout.startswith("ok: <stdin>: order-actions (versions: 1;")


def test_orders_and_columns_from_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    other = {**ORDER, "id": "SO-2", "status": "Closed"}
    lines = json.dumps(ORDER) + "\n\n" + json.dumps(other) + "\n"
    stdin(monkeypatch, lines)
    code, out, err = run_cli(capsys, "bulk", str(POLICIES), "--action", "reprocess", "--orders", "-", "--user", USER,
                             "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["total"] == 2
    stdin(monkeypatch, json.dumps(ORDER) + "\n{oops\n")
    code, out, err = run_cli(capsys, "bulk", str(POLICIES), "--action", "reprocess", "--orders", "-", "--user", USER)
    assert (code, out) == (2, "")
    assert err.startswith("policyengine bulk: --orders: <stdin>:2: invalid JSON")
    stdin(monkeypatch, '{"order.status": "orders.state", "store.id": "orders.shop"}')
    code, out, err = run_cli(capsys, "plan", str(POLICIES), "reprocess", "--user", '{"role": "admin"}', "--format", "sql",
                             "--columns", "-")
    assert (code, err) == (0, "")
    assert "orders.state" in out and "orders.shop" in out


@pytest.mark.parametrize(("data", "message"), [
    ("", "--order: <stdin>: invalid JSON: Expecting value at line 1 column 1"),
    ("{oops}", "--order: <stdin>: invalid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b'{"id": "\xff"}', "--order: <stdin>: not UTF-8 text (byte 8, line 1)"),
    ("x" * (1024 * 1024 + 1), "--order: cannot read <stdin> (too large: more than 1048576 bytes)"),
])
def test_bad_standard_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                             data: str | bytes, message: str) -> None:
    stdin(monkeypatch, data)
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", "-", "--user", USER)
    assert (code, out, err) == (2, "", f"policyengine evaluate: {message}\n")


def test_no_standard_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", "-", "--user", USER)
    assert (code, out, err) == (2, "", "policyengine evaluate: --order: there is no standard input to read\n")


@pytest.mark.parametrize(("argv", "named"), [
    (("evaluate", str(POLICIES), "--order", "-", "--user", "-"), "--order and --user"),
    (("explain", "-", "--order", "-", "--user", USER), "PATH and --order"),
    (("bulk", str(POLICIES), "--action", "reset", "--orders", "-", "--user", "-"), "--orders and --user"),
    (("plan", str(POLICIES), "reset", "--user", "-", "--columns", "-"), "--user and --columns"),
    (("test", "-", "--suites", "-"), "PATH and --suites"),
    (("verify", str(POLICIES), "--invariants", "-", "--invariants", "-"), "--invariants and --invariants"),
    (("diff", "-", "-"), "OLD and NEW"),
])
def test_only_one_argument_reads_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                argv: tuple[str, ...], named: str) -> None:
    stdin(monkeypatch, "{}")
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == f"policyengine {argv[0]}: only one argument can be - (standard input), not {named}\n"
    assert sys.stdin.read() == "{}"  # refused before anything was read


def test_policy_from_standard_input_names_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    policy = (POLICIES / "order-actions.yaml").read_text("utf-8")
    broken = policy.replace("apiVersion: policyengine/v1", "apiVersion: policyengine/v9", 1)
    first = next(i for i, line in enumerate(policy.splitlines(), 1) if line.startswith("apiVersion:"))
    stdin(monkeypatch, broken)
    code, out, err = run_cli(capsys, "validate", "-")
    assert (code, out) == (3, "")
    assert err.splitlines()[0].startswith(f"<stdin>:{first}:")
    assert "stdin.yaml" not in err and "/tmp" not in err
    stdin(monkeypatch, broken)
    code, out, err = run_cli(capsys, "validate", "-", "--format", "json")
    assert code == 3 and {d["file"] for d in json.loads(out)["diagnostics"]} == {"<stdin>"}
    stdin(monkeypatch, policy)
    code, out, err = run_cli(capsys, "evaluate", "-", "--order", json.dumps(ORDER), "--user", USER)
    assert (code, err) == (0, "") and "Reprocess" in out


def test_suites_invariants_and_diff_from_standard_input(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, (POLICIES / "tests" / "order-actions.yaml").read_text("utf-8"))
    code, out, err = run_cli(capsys, "test", str(POLICIES), "--suites", "-")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith("order-actions (<stdin>): ") and "passed" in out
    stdin(monkeypatch, (POLICIES / "invariants" / "order-actions.yaml").read_text("utf-8"))
    code, out, err = run_cli(capsys, "verify", str(POLICIES), "--invariants", "-")
    assert (code, err) == (0, "") and out.splitlines()[-1].endswith("hold")
    old = (POLICIES / "order-actions.yaml").read_text("utf-8").replace("'Closed'", "'Klosed'")
    stdin(monkeypatch, old)
    code, out, err = run_cli(capsys, "diff", "-", str(POLICIES / "order-actions.yaml"))
    assert err == "" and out.splitlines()[0].split() == ["OLD", "<stdin>", "order-actions@1"]
    assert "stdin.yaml" not in out
    stdin(monkeypatch, "kind: PolicyTestSuite\n")
    code, out, err = run_cli(capsys, "test", str(POLICIES), "--suites", "-")
    assert code == 3 and err.startswith("<stdin>:1:1: ")


def test_policy_from_standard_input_in_decisions(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, (POLICIES / "order-actions.yaml").read_text("utf-8"))
    code, out, err = run_cli(capsys, "evaluate", "-", "--order", json.dumps(ORDER), "--user", USER, "--format", "json")
    assert (code, err) == (0, "")
    assert '"<stdin>:' in out and "stdin.yaml" not in out and "policyengine-stdin" not in out


def test_a_file_named_dash_is_still_reachable(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    (tmp_path / "-").write_text(json.dumps(ORDER), "utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", "./-", "--user", USER)
    assert (code, err) == (0, "") and "Reprocess" in out


# -- policyengine schema [DIR] ---------------------------------------------------------------------------------------
KINDS = {"ActionPolicy": "policy.schema.json", "StoreOverride": "override.schema.json",
         "PolicyTestSuite": "test.schema.json", "PolicyInvariants": "invariants.schema.json"}


def from_dir(folder: Path) -> Registry:
    """A registry that knows nothing but the files of ``folder``: a (relative or file:) URI is a file there."""

    def retrieve(uri: str) -> Resource:
        name = uri.removeprefix(folder.as_uri() + "/")
        if "/" in name or ":" in name:
            raise LookupError(uri)  # nothing outside the folder, and nothing from the network
        return Resource.from_contents(json.loads((folder / name).read_text("utf-8")))

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def shipped_documents() -> list[tuple[Path, dict]]:
    return [(path, yaml.safe_load(path.read_text("utf-8"))) for path in sorted(POLICIES.rglob("*.yaml"))]


def test_schema_writes_every_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "a" / "schemas"
    code, out, err = run_cli(capsys, "schema", str(target))
    assert (code, err) == (0, "")
    assert sorted(p.name for p in target.iterdir()) == sorted(KINDS.values())
    for kind, name in KINDS.items():
        assert f"wrote {target / name} ({kind})" in out.splitlines()
        assert (target / name).read_bytes() == (ROOT / "policyengine" / "schemas" / name).read_bytes()
    code, out, err = run_cli(capsys, "schema", str(target), "--format", "json")  # again: files are replaced
    assert code == 0 and {s["kind"]: Path(s["file"]).name for s in json.loads(out)["schemas"]} == KINDS


def test_schema_defaults_to_the_current_directory(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "schema")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(KINDS.values())


def test_schema_into_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert run_cli(capsys, "schema", str(tmp_path / "file")) == (2, "", f"policyengine schema: {tmp_path / 'file'}: not a directory\n")
    code, out, err = run_cli(capsys, "schema", str(tmp_path / "file" / "sub"))
    assert (code, out) == (2, "") and err.startswith("policyengine schema: cannot create directory")


def test_written_ids_and_refs_resolve_to_the_written_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run_cli(capsys, "schema", str(tmp_path))[0] == 0
    for path in tmp_path.iterdir():
        schema = json.loads(path.read_text("utf-8"))
        base = urljoin(path.as_uri(), schema["$id"])  # a relative $id resolves against where the file was read
        assert base == path.as_uri()
        refs = [ref for ref in _refs(schema) if not ref.startswith("#")]
        for ref in refs:
            target = urljoin(base, ref.partition("#")[0])
            assert target.startswith(tmp_path.as_uri() + "/") and Path(target.removeprefix("file://")).is_file(), ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if isinstance(node.get("$ref"), str) else []), *(r for v in node.values() for r in _refs(v))]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_written_schemas_validate_the_shipped_policies_from_dir_alone(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    assert run_cli(capsys, "schema", str(tmp_path))[0] == 0
    registry = from_dir(tmp_path)
    documents = shipped_documents()
    assert {doc["kind"] for _, doc in documents} == set(KINDS)
    for path, document in documents:
        schema = json.loads((tmp_path / KINDS[document["kind"]]).read_text("utf-8"))
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        assert list(validator.iter_errors(document)) == [], path
    # A mistake the override schema finds only through policy.schema.json: the cross-file $ref is followed.
    override = next(doc for _, doc in documents if doc["kind"] == "StoreOverride")
    broken = {**override, "base": {**override["base"], "policy": "Not A Name!"}}
    schema = json.loads((tmp_path / "override.schema.json").read_text("utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(broken))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [(["base", "policy"], "pattern")]


def test_written_schemas_need_their_siblings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Proof that the $refs above were resolved from DIR: without policy.schema.json there, an override cannot be
    checked (the schema itself names no network address to fall back on)."""
    assert run_cli(capsys, "schema", str(tmp_path))[0] == 0
    (tmp_path / "policy.schema.json").unlink()
    schema = json.loads((tmp_path / "override.schema.json").read_text("utf-8"))
    override = next(doc for _, doc in shipped_documents() if doc["kind"] == "StoreOverride")
    with pytest.raises(Unresolvable):
        jsonschema.Draft202012Validator(schema, registry=from_dir(tmp_path)).validate(override)


@pytest.mark.parametrize("name", sorted(KINDS.values()))
def test_shipped_schemas_are_valid_json_schemas(name: str) -> None:
    """The loader trusts the packaged schemas (it does not check them against the metaschema at every start)."""
    schema = json.loads((ROOT / "policyengine" / "schemas" / name).read_text("utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"] == name


def test_schemas_are_package_data() -> None:
    """``policyengine schema`` reads the schemas from the package, so a pip-installed package has them."""
    from policyengine.cli.schema import packaged

    assert sorted(packaged()) == sorted(KINDS.values())
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"schemas/*.json"' in text


# -- --store that disagrees with the order's store.id --------------------------------------------------------------
@pytest.mark.parametrize("command", ["evaluate", "explain"])
def test_store_that_overrides_the_order_warns(capsys: pytest.CaptureFixture[str], command: str) -> None:
    base = ("--order", json.dumps(ORDER), "--user", USER)
    code, out, err = run_cli(capsys, command, str(POLICIES), *base, "--store", "globex")
    assert code == 0 and out
    assert err == (f'policyengine {command}: --store globex is not the order\'s store.id "acme": every action fails '
                   "closed (store-mismatch)\n")
    assert "store-mismatch" not in out and "not the store asked for ('globex')" in out  # every action, fail-closed
    assert run_cli(capsys, command, str(POLICIES), *base, "--store", "acme")[2] == ""
    assert run_cli(capsys, command, str(POLICIES), *base)[2] == ""
    code, out, err = run_cli(capsys, command, str(POLICIES), *base, "--store", "globex", "--format", "json")
    assert code == 0 and json.loads(out) and "--store globex is not the order's store.id" in err


def test_store_without_an_order_store_does_not_warn(capsys: pytest.CaptureFixture[str]) -> None:
    no_store = {k: v for k, v in ORDER.items() if k != "store"}
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(no_store), "--user", USER,
                             "--store", "globex")
    assert code == 0 and "warning" not in err


def test_store_in_strict_mode_keeps_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    bad = {**ORDER, "status": "Nonsense"}
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(bad), "--user", USER,
                             "--store", "globex", "--strict")
    assert code == 1
    assert err.splitlines()[0] == ('policyengine evaluate: --store globex is not the order\'s store.id "acme": every '
                                   "action fails closed (store-mismatch)")


def test_bulk_store_warning_names_the_orders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    orders = [ORDER, {**ORDER, "id": "SO-2", "store": {"id": "globex", "manual_fulfillment": False}}, {**ORDER, "id": 7}]
    (tmp_path / "orders.jsonl").write_text("\n".join(map(json.dumps, orders)) + "\n", "utf-8")
    argv = ("bulk", str(POLICIES), "--action", "reprocess", "--orders", str(tmp_path / "orders.jsonl"), "--user", USER)
    code, out, err = run_cli(capsys, *argv, "--store", "globex")
    assert code == 0 and out
    assert err == ('policyengine bulk: --store globex is not the store.id of 2 orders: SO-1 ("acme"), line 3 ("acme"); '
                   "they fail closed (store-mismatch)\n")
    assert run_cli(capsys, *argv)[2] == ""


# -- the command table -----------------------------------------------------------------------------------------------
def test_the_command_table_lists_every_command_module() -> None:
    modules = {}
    for info in pkgutil.iter_modules(policyengine.cli.__path__):
        if info.name.startswith("_"):
            continue  # __main__ runs the CLI when imported
        module = importlib.import_module(f"policyengine.cli.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            modules[info.name] = module.HELP
    assert modules == COMMANDS


def test_help_lists_every_command_with_its_help() -> None:
    run = shell("--help")
    assert run.returncode == 0
    for name, help_text in COMMANDS.items():
        assert any(line.split(None, 1) == [name, help_text] for line in run.stdout.splitlines()), name


def test_each_command_has_its_own_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one help line, unwrapped
    for name, help_text in COMMANDS.items():
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0, name
        assert out.startswith(f"usage: policyengine {name} ") and help_text in out.splitlines(), name


def test_a_command_imports_only_its_own_module() -> None:
    """``validate`` does not import the other commands, nor the SMT solver, SQLAlchemy or the HTTP service."""
    probe = ("import sys, contextlib, io\n"
             "from policyengine.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    code = main(['validate', 'policies'])\n"
             "print(code, sorted(m for m in sys.modules if m.startswith('policyengine.cli.')))\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'z3', 'sqlalchemy', 'starlette', 'uvicorn', 'httpx'}))\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert run.stdout.splitlines() == ["0 ['policyengine.cli.common', 'policyengine.cli.validate']", "[]"]


# -- start-up: rule-engine's prebuilt parse tables -------------------------------------------------------------------
def test_prebuilt_parse_tables_match_the_installed_rule_engine() -> None:
    from policyengine import _rule_engine_parsetab
    from policyengine._parsetables import signature

    assert _rule_engine_parsetab._lr_signature == signature(), \
        "rule-engine's grammar changed: write the tables again with policyengine._parsetables.write()"


def test_rule_engine_parses_with_the_prebuilt_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    import rule_engine
    from rule_engine._vendor.ply import yacc

    from policyengine import _rule_engine_parsetab
    from policyengine._parsetables import TABMODULE

    assert sys.modules[TABMODULE] is _rule_engine_parsetab

    def rebuilt(*args: object, **kwargs: object) -> None:
        raise AssertionError("ply rebuilt the parse tables")

    monkeypatch.setattr(yacc, "LRGeneratedTable", rebuilt)
    parser = rule_engine.parser.Parser()  # reads the tables: building them would call LRGeneratedTable
    rule = rule_engine.Rule("a == 1 and (b in ['x', 'y'] or not c)", context=rule_engine.Context())
    rule.parser = parser
    assert rule.matches({"a": 1, "b": "y", "c": True}) and not rule.matches({"a": 1, "b": "z", "c": True})
