"""Every example in README.md and docs/ runs, and shows what it really prints.

The format (BRIEF "Docs format"): a ```console block's `$ ` lines are bash commands, run one by one in a temporary
copy of `policies/`, `examples/` and `docs/examples/` with the venv's `bin` first on PATH; the lines after a
command, up to the next `$ ` line, are its expected stdout+stderr (trailing whitespace ignored, a line that is
exactly `...` matches any run of lines, a last line `[exit N]` for a non-zero status). A command line ending in
`\\` continues on the next line; one ending in a single `&` starts in the background (a server the page's
later commands talk to: the real console script, output discarded, stopped when the page ends).
```pycon blocks are doctests (ELLIPSIS, NORMALIZE_WHITESPACE) and ```python blocks are exec'd; all of one page's pycon
and python blocks share one namespace, in page order, with the same temporary copy as cwd. Any other block (text,
yaml, json, sh...) is shown only.

One test per page, failing with every block that did not match, each named by `file:line` with a diff.
`POLICYENGINE_DOCS_UPDATE=1` writes the real output of every differing command into the page instead (outputs
shortened with `...`, and pycon blocks, are fixed by hand); review the result with `git diff`. Links:
every relative link of every page resolves to a file, and its `#anchor` (if any) to a heading of that file.
"""

from __future__ import annotations

import difflib
import doctest
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("policies", "examples", "docs/examples")
COMMAND_TIMEOUT = 60  # seconds; a hung command fails its page instead of the whole run
SHIM_PREFIX = f"{tempfile.gettempdir()}/pe-docs-"  # the warm CLI shim's directory (see command_env)
README_MAX_LINES = 250
RUN_LANGUAGES = frozenset({"console", "pycon", "python"})
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")


def doc_pages() -> list[Path]:
    """README.md and every page under docs/, except the working notes in docs/_notes/."""
    pages = [ROOT / "README.md"]
    pages += sorted(p for p in (ROOT / "docs").rglob("*.md") if "_notes" not in p.relative_to(ROOT / "docs").parts)
    return pages


@attrs.frozen
class Block:
    """One fenced block: its language, the line of its opening fence, and its lines."""

    lang: str
    line: int
    lines: tuple[str, ...]

    @property
    def first_line(self) -> int:
        """The page's line number of the block's first content line."""
        return self.line + 1


def blocks(text: str) -> Iterator[Block]:
    """The fenced blocks of a markdown page, in order."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m["fence"], i
        j = i + 1
        while j < len(lines) and not (lines[j].startswith(fence[0] * len(fence)) and lines[j].strip(fence[0]) == ""):
            j += 1
        yield Block(m["lang"].lower(), start + 1, tuple(lines[i + 1 : j]))
        i = j + 1


# -- console blocks ----------------------------------------------------------------------------------------------


@attrs.frozen
class Command:
    """One `$ ` command of a console block and the output the page shows for it."""

    line: int
    text: str
    expected: tuple[str, ...]
    status: int
    output_lines: tuple[int, int] = (0, 0)  # the page's lines holding the expected output: [first, end)


def commands(block: Block) -> list[Command]:
    """Split a console block into commands with their expected output and exit status."""
    result: list[Command] = []
    lines = list(block.lines)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            pytest.fail(f"line {block.first_line + i}: a console block must start with a `$ ` command: {lines[i]!r}")
        line = block.first_line + i
        parts = [lines[i][2:]]
        while parts[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            parts.append(lines[i])
        i += 1
        first = block.first_line + i
        expected: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i].rstrip())
            i += 1
        span = (first, block.first_line + i)
        while expected and not expected[-1]:
            expected.pop()
        status = 0
        if expected and (m := EXIT_LINE.match(expected[-1])):
            status = int(m[1])
            expected.pop()
        result.append(Command(line, "\n".join(parts), tuple(expected), status, span))
    return result


def matches(expected: tuple[str, ...], actual: list[str]) -> bool:
    """Whether the actual lines match the expected ones, a line `...` matching any run of lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def shell_env() -> dict[str, str]:
    """The environment commands run in: the venv's bin first on PATH, unbuffered Python so outputs interleave."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYTHONUNBUFFERED="1", PYTHONHASHSEED="0", LC_ALL="C.UTF-8", COLUMNS="200", NO_COLOR="1", TERM="dumb")
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def command_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The commands' environment; `policyengine` is a warm, forking CLI server (tests/docs_cli_server.py) unless
    POLICYENGINE_DOCS_REAL_CLI=1 asks for the console script itself (same output, an interpreter start each)."""
    env = shell_env()
    if os.environ.get("POLICYENGINE_DOCS_REAL_CLI"):
        yield env
        return
    import docs_cli_server  # tests/ is on sys.path (rootdir conftest); imported here so the real mode needs nothing

    # AF_UNIX paths are short (108 bytes): a fresh directory under /tmp, not pytest's long tmp path
    where = Path(tempfile.mkdtemp(prefix=SHIM_PREFIX.rsplit("/", 1)[-1], dir=SHIM_PREFIX.rsplit("/", 1)[0]))
    sock, shim = str(where / "cli.sock"), where / "bin" / "policyengine"
    shim.parent.mkdir()
    shim.write_text(docs_cli_server.shim_source(sys.executable, sock))
    shim.chmod(0o755)
    server = subprocess.Popen(
        [sys.executable, docs_cli_server.__file__, sock], env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not os.path.exists(sock):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the docs' CLI server did not start (POLICYENGINE_DOCS_REAL_CLI=1 runs without it)")
            time.sleep(0.05)
        yield {**env, "PATH": f"{shim.parent}{os.pathsep}{env['PATH']}"}
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and any command still running
        server.wait()
        shutil.rmtree(where, ignore_errors=True)


def run_command(command: Command, cwd: Path, env: dict[str, str]) -> tuple[list[str], int]:
    """Run one command with bash; its combined output, trailing whitespace and blank lines removed, and status."""
    proc = subprocess.Popen(
        ["bash", "-c", command.text], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # bash and everything it started, so the pipe closes
        out, _ = proc.communicate()
        return [*out.decode("utf-8", "replace").splitlines(), f"<timed out after {COMMAND_TIMEOUT} s>"], -1
    lines = [line.rstrip() for line in out.decode("utf-8", "replace").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines, proc.returncode


@attrs.frozen
class Update:
    """Replace the page's lines [first, end) (1-based) with `lines`: the real output of a command."""

    first: int
    end: int
    lines: tuple[str, ...]


def apply_updates(path: Path, updates: list[Update]) -> None:
    """Write the real outputs into the page (POLICYENGINE_DOCS_UPDATE=1), like a snapshot update."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for update in sorted(updates, key=lambda u: u.first, reverse=True):
        lines[update.first - 1 : update.end - 1] = update.lines
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


CD = re.compile(r"^cd\s+([^\s;&|<>`$]+)\s*$")
BACKGROUND = re.compile(r"^(?P<command>[^&]*[^&\s])\s*&\s*$", re.S)
"""A command ending in a single ``&`` (a server a reader starts in the background, e.g. ``policyengine serve``)."""


def start_background(command: Command, shell: dict[str, Any], env: dict[str, str]) -> None:
    """Start a background command for the rest of the page, with the real console script first on PATH (the warm
    CLI shim answers one command and exits; a server must be the real process), its output discarded; the page's
    test stops it (its whole process group) when the page ends."""
    match = BACKGROUND.match(command.text)
    assert match is not None
    real = {**env, "PATH": os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(SHIM_PREFIX))}
    real["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{real['PATH']}"
    proc = subprocess.Popen(["bash", "-c", f"exec {match['command']}"], cwd=shell["cwd"], env=real,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    shell.setdefault("background", []).append(proc)


def stop_background(shell: dict[str, Any]) -> None:
    for proc in shell.get("background", []):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def check_console(
    page: str, block: Block, shell: dict[str, Any], env: dict[str, str], updates: list[Update] | None = None
) -> list[str]:
    """Run a console block; one failure message per command whose output or status differs.

    A command that is only `cd DIR` changes the directory of the page's later commands, as in a reader's shell.
    With `updates`, a differing output the page shows in full (no `...`) becomes an update instead of a failure.
    """
    failures = []
    for command in commands(block):
        if (cd := CD.match(command.text)) and (shell["cwd"] / cd[1]).is_dir() and not command.expected:
            shell["cwd"] = (shell["cwd"] / cd[1]).resolve()
            continue
        if BACKGROUND.match(command.text):
            if command.expected or command.status:
                failures.append(f"{page}:{command.line}: a background command (`&`) shows no output or status")
                continue
            start_background(command, shell, env)
            continue
        actual, status = run_command(command, shell["cwd"], env)
        if status == command.status and matches(command.expected, actual):
            continue
        shown = [*actual, *([f"[exit {status}]"] if status else [])]
        if updates is not None and "..." not in command.expected:
            updates.append(Update(*command.output_lines, tuple(shown)))
            continue
        wanted = [*command.expected, *([f"[exit {command.status}]"] if command.status else [])]
        diff = "\n".join(difflib.unified_diff(wanted, shown, "expected (the page)", "actual", lineterm=""))
        failures.append(f"{page}:{command.line}: $ {command.text}\n{diff}")
    return failures


# -- pycon and python blocks -------------------------------------------------------------------------------------


def check_pycon(page: str, block: Block, namespace: dict[str, object]) -> list[str]:
    """Run a pycon block as a doctest in the page's namespace."""
    text = "\n".join(block.lines) + "\n"
    examples = doctest.DocTestParser().get_examples(text, name=page)
    test = doctest.DocTest(examples, namespace, f"{page}:{block.first_line}", page, block.line, text)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)  # DocTest works on a copy of its globals; the page's next blocks see its names
    if not runner.failures:
        return []
    return [f"{page}:{block.first_line}: doctest failed\n" + "".join(report)]


def check_python(page: str, block: Block, path: Path, namespace: dict[str, object]) -> list[str]:
    """Exec a python block in the page's namespace; a failure names the page's line that raised."""
    source = "\n" * block.line + "\n".join(block.lines) + "\n"  # line numbers of tracebacks are the page's
    try:
        exec(compile(source, str(path), "exec", dont_inherit=True), namespace)  # noqa: S102 - running the docs is the point
    except Exception as exc:  # any exception is a failing example, reported with its traceback
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next))  # from the page on
        return [f"{page}:{block.first_line}: python block raised\n{trace}"]
    return []


# -- the tests ---------------------------------------------------------------------------------------------------


def copy_tree(into: Path) -> None:
    """The temporary copy every example runs in: policies/, examples/ and docs/examples/ at their relative paths."""
    for rel in COPIED:
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, into / rel, symlinks=True)


@pytest.mark.parametrize("path", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run_as_shown(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command_env: dict[str, str]
) -> None:
    """Every console, pycon and python block of the page runs and prints what the page shows."""
    page = str(path.relative_to(ROOT))
    runnable = [b for b in blocks(path.read_text(encoding="utf-8")) if b.lang in RUN_LANGUAGES]
    if not runnable:
        return
    copy_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = command_env
    namespace: dict[str, object] = {"__name__": "__docs__"}
    shell: dict[str, Any] = {"cwd": tmp_path}  # a page's console blocks are one reader's shell: `cd` carries over
    failures: list[str] = []
    updates: list[Update] | None = [] if os.environ.get("POLICYENGINE_DOCS_UPDATE") else None
    try:
        for block in runnable:
            if block.lang == "console":
                failures += check_console(page, block, shell, env, updates)
            elif block.lang == "pycon":
                failures += check_pycon(page, block, namespace)
            else:
                failures += check_python(page, block, path, namespace)
    finally:
        stop_background(shell)
    if updates:
        apply_updates(path, updates)
    assert not failures, "\n\n".join(failures)


def test_readme_is_short() -> None:
    """The README lands: under 250 lines, the reference lives in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move reference material into docs/"


def test_readme_keeps_the_two_quick_start_commands_and_links_every_audience_page() -> None:
    """The quick start is two commands; the README's links reach the pages of each audience it introduces."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in quick_start.splitlines()] == ["make demo", "make test"]
    targets = {target.split("#")[0] for _, target in links(ROOT / "README.md")}
    for page in ("docs/host-apps.md", "docs/front-ends.md", "docs/recipes.md", "docs/testing.md", "docs/cli.md"):
        assert page in targets, f"README.md does not link {page}"


def test_no_page_is_left_with_a_slot_or_a_notes_file() -> None:
    """The docs branch fills every `<!-- SLOT` and folds the feature branches' notes into the pages."""
    for path in doc_pages():
        assert "<!-- SLOT" not in path.read_text(encoding="utf-8"), f"{path.relative_to(ROOT)} has an unfilled SLOT"
    assert not [p for p in (ROOT / "docs" / "_notes").glob("*.md") if p.stem in {"values", "json", "team", "cli"}]


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str, *, spans: bool = False) -> str:
    """The page without its fenced blocks (and code spans unless `spans`), where link syntax is not a link."""
    lines, inside = [], ""
    for line in text.splitlines():
        m = FENCE.match(line)
        if inside:
            if line.startswith(inside) and line.strip(inside[0]) == "":
                inside = ""
            lines.append("")
        elif m:
            inside = m["fence"]
            lines.append("")
        else:
            lines.append(line if spans else CODE_SPAN.sub("", line))
    return "\n".join(lines)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown page."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose(path.read_text(encoding="utf-8"), spans=True).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        title = re.sub(r"<[^>]+>|[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", m[1])
        slug = "".join(c for c in title.lower() if c in "- " or unicodedata.category(c)[0] in "LN" or c == "_")
        slug = slug.replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links(path: Path) -> Iterator[tuple[int, str]]:
    """Every link target of a page outside code, with its line."""
    for number, line in enumerate(prose(path.read_text(encoding="utf-8")).splitlines(), 1):
        for m in LINK.finditer(line):
            yield number, m[1]


@pytest.mark.parametrize("path", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link names an existing file, and its anchor a heading of that file."""
    broken = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:... are not checked (no network in tests)
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.relative_to(ROOT)}:{line}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.relative_to(ROOT)}:{line}: {target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


# -- the checker itself: a docs test that could not fail would prove nothing ----------------------------------


def test_console_blocks_parse_commands_outputs_continuations_and_exit_codes() -> None:
    """`$ ` starts a command, a trailing backslash continues it, `[exit N]` is the status, not an output line."""
    text = "intro\n```console\n$ echo a \\\n  b\na b\n$ false\n[exit 1]\n$ true\n```\n"
    (block,) = blocks(text)
    assert (block.lang, block.first_line) == ("console", 3)
    parsed = commands(block)
    assert [(c.line, c.text, c.expected, c.status) for c in parsed] == [
        (3, "echo a \\\n  b", ("a b",), 0), (6, "false", (), 1), (8, "true", (), 0),
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (("a", "b"), ["a", "b"], True),
        (("a", "b"), ["a", "b", "c"], False),  # an unshown line is a difference, unless `...` stands for it
        (("a", "..."), ["a", "b", "c"], True),
        (("...", "c"), ["a", "b", "c"], True),
        (("a", "...", "c"), ["a", "c"], True),  # `...` may stand for no line at all
        (("a", "...", "c"), ["a", "b"], False),
        (("a.c",), ["abc"], False),  # expected text is literal, not a pattern
        ((), [], True),
    ],
)
def test_expected_output_matching(expected: tuple[str, ...], actual: list[str], ok: bool) -> None:
    """Lines match exactly; only a whole line `...` is a wildcard."""
    assert matches(expected, actual) is ok


def test_a_wrong_output_or_status_fails_naming_the_line_with_a_diff(tmp_path: Path) -> None:
    """A console command whose output or exit status differs from the page fails with file:line and a diff."""
    text = "```console\n$ echo shown\nshown\n$ echo other\nexpected\n$ exit 3\n```\n"
    (block,) = blocks(text)
    failures = check_console("page.md", block, {"cwd": tmp_path}, shell_env())
    assert len(failures) == 2
    assert failures[0].startswith("page.md:4: $ echo other\n") and "-expected\n+other" in failures[0]
    assert failures[1].startswith("page.md:6: $ exit 3\n") and "+[exit 3]" in failures[1]


def test_cd_carries_over_to_the_next_commands(tmp_path: Path) -> None:
    """A plain `cd DIR` changes where the page's later commands run, as in the reader's shell."""
    (tmp_path / "sub").mkdir()
    (block,) = blocks("```console\n$ cd sub\n$ basename \"$PWD\"\nsub\n```\n")
    shell: dict[str, Any] = {"cwd": tmp_path}
    assert check_console("page.md", block, shell, shell_env()) == []
    assert shell["cwd"] == (tmp_path / "sub").resolve()


def test_pycon_and_python_blocks_share_a_namespace_and_report_failures() -> None:
    """Doctests compare output; names carry from block to block; a raising python block names its line."""
    namespace: dict[str, object] = {}
    python, good, bad, raising = blocks(
        "```python\nx = 41\n```\n```pycon\n>>> x + 1\n42\n```\n```pycon\n>>> x\n0\n```\n```python\nraise KeyError(x)\n```\n"
    )
    assert check_python("p.md", python, Path("p.md"), namespace) == []
    assert check_pycon("p.md", good, namespace) == []
    (failure,) = check_pycon("p.md", bad, namespace)
    assert failure.startswith("p.md:9: doctest failed") and "Expected:\n    0\nGot:\n    41" in failure
    (failure,) = check_python("p.md", raising, Path("p.md"), namespace)
    assert failure.startswith("p.md:13: python block raised") and 'File "p.md", line 13' in failure


def test_python_blocks_do_not_inherit_this_modules_future_imports() -> None:
    """A page's annotations are evaluated as the reader's would be (SQLAlchemy's `Mapped[...]` needs real ones)."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    (python,) = blocks("```python\ndef f(x: int) -> None: ...\nkind = f.__annotations__['x']\n```\n")
    assert check_python("p.md", python, Path("p.md"), namespace) == []
    assert namespace["kind"] is int


def test_links_and_anchors_are_checked(tmp_path: Path) -> None:
    """A link to a missing file or heading is reported; links in code are not links."""
    (tmp_path / "other.md").write_text("# Title\n\n## The `x` section: notes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-x-section-notes) [bad](missing.md) [no anchor](other.md#nope) `[code](nope.md)`\n"
        "[web](https://example.com) [self](#top)\n\n```text\n[in a block](nope.md)\n```\n\n# Top\n",
        encoding="utf-8",
    )
    assert [target for _, target in links(page)] == [
        "other.md#the-x-section-notes", "missing.md", "other.md#nope", "https://example.com", "#top",
    ]
    assert anchors(tmp_path / "other.md") == {"title", "the-x-section-notes"}


def test_the_warm_cli_prints_what_the_console_script_prints(command_env: dict[str, str], tmp_path: Path) -> None:
    """The forking server is only faster: same output, stream order and exit status as the real command."""
    copy_tree(tmp_path)
    script = ("policyengine validate docs/examples/bad.yaml | head -3; "
              "policyengine evaluate --strict --order '{\"status\": \"Shiped\"}' --user '{\"role\": \"member\"}'; "
              "echo status $?")
    command = Command(1, script, (), 0)
    warm = run_command(command, tmp_path, command_env)
    real = run_command(command, tmp_path, shell_env())
    assert warm == real
    assert warm[0][-1] == "status 1" and warm[0][0].startswith("docs/examples/bad.yaml:10:18: unknown fact")


def test_every_lint_rule_links_to_its_section() -> None:
    """`lint --format json` gives each finding a `docs` link: every rule's resolves to its heading."""
    from policyengine.analysis.lint import RULES
    from policyengine.cli.lint import DOCS

    page = ROOT / DOCS
    assert page.is_file(), f"lint's DOCS names {DOCS}, which does not exist"
    missing = [r for r, rule in RULES.items() if f"{r.lower()}-{rule.name}" not in anchors(page)]
    assert not missing, f"no section in {DOCS} for: {', '.join(missing)}"


def test_update_mode_writes_the_real_output_into_the_page(tmp_path: Path) -> None:
    """POLICYENGINE_DOCS_UPDATE rewrites a wrong full output (and status) in place; an elided one stays a failure."""
    page = tmp_path / "page.md"
    page.write_text(
        "# T\n\n```console\n$ echo new\nold\n$ echo a; echo b; exit 2\na\n...\n$ true\n```\nafter\n", encoding="utf-8"
    )
    (block,) = blocks(page.read_text(encoding="utf-8"))
    updates: list[Update] = []
    failures = check_console("page.md", block, {"cwd": tmp_path}, shell_env(), updates)
    assert len(failures) == 1 and failures[0].startswith("page.md:6: ")  # `...` kept: the exit status is fixed by hand
    apply_updates(page, updates)
    assert page.read_text(encoding="utf-8") == (
        "# T\n\n```console\n$ echo new\nnew\n$ echo a; echo b; exit 2\na\n...\n$ true\n```\nafter\n"
    )
