"""The studio in a real browser: Debian's Chromium driven by Playwright, over a copy of policies/.

These tests fail (never skip) when the browser is missing: `.ci/run` installs it (`apt-get install chromium`).
Every wait is Playwright's bounded polling (expect / wait_for), never a sleep or a timing assertion.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from studio_support import CHROMIUM, REPO, Running, copy_policies, studio

from policyengine.toolkit.suites import run_tests

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

WAIT = 30_000  # ms: a bound on each poll, generous for a loaded machine (nothing asserts how long it took)
SCREENSHOT = REPO / "docs" / "img" / "studio.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail("the browser tests need Playwright: pip install playwright (the test extra has it)")
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    expect.set_options(timeout=WAIT)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with studio(copy_policies(tmp_path_factory.mktemp("studio"))) as app:
        yield app


@pytest.fixture()
def running(shared: Running) -> Running:
    """The module's studio, its directory a fresh copy of policies/ (tests save into it)."""
    shutil.rmtree(shared.root)
    shutil.copytree(REPO / "policies", shared.root)
    return shared


def open_studio(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.set_default_timeout(WAIT)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


@pytest.fixture()
def page(browser: Browser, running: Running) -> Iterator[Page]:
    page = open_studio(browser, running.url)
    yield page
    page.close()


def open_file(page: Page, path: str) -> None:
    page.click(f"#file-list button[data-path='{path}']")
    expect(page.locator("#editor-title")).to_have_text(path)


def type_over(page: Page, old: str, new: str, *, keys: bool = False) -> None:
    """Select the first ``old`` in the editor and put ``new`` in its place: typed key by key as a person would
    (``keys``), or inserted as one edit, as pasting does (each key is an edit the page checks: that costs time)."""
    page.eval_on_selector("#source", """(el, old) => {
        const i = el.value.indexOf(old);
        if (i < 0) throw new Error('not in the editor: ' + old);
        el.focus();
        el.setSelectionRange(i, i + old.length);
    }""", old)
    if keys:
        page.keyboard.type(new)
    else:
        page.keyboard.insert_text(new)


def action(page: Page, action_id: str) -> Any:
    return page.locator(f"#menu li[data-action='{action_id}'], #hidden-actions li[data-action='{action_id}']")


def buffer(page: Page, path: str) -> str:
    text: str = page.evaluate("(path) => window.studioState.buffers[path]", path)
    return text


def test_editing_a_condition_changes_the_menu(page: Page) -> None:
    page.select_option("#fact-user-role", "viewer")
    edit = action(page, "edit")
    expect(edit).to_have_attribute("data-state", "disabled")
    expect(edit).to_contain_text("Read-only users can't change orders.")
    expect(edit).to_contain_text("Decided by")
    open_file(page, "order-actions.yaml")
    type_over(page, "'member']\n    description: Anyone", "'member', 'viewer']\n    description: Anyone", keys=True)
    expect(edit).to_have_attribute("data-state", "enabled")
    expect(edit).to_contain_text("Does: open_edit_form()")
    # the explain trace is one click away
    edit.get_by_role("button", name="Explain Edit").click()
    expect(page.locator("#explain-trace")).to_contain_text("user.role = viewer")
    expect(page.locator("#explain-trace")).to_be_focused()


def test_an_error_shows_at_its_line_with_its_hint_and_saving_it_asks_first(page: Page, running: Running) -> None:
    target = running.root / "order-actions.yaml"
    before = target.read_text("utf-8")
    open_file(page, "order-actions.yaml")
    type_over(page, "is_admin: user.role == 'admin'", "is_admin: user.role == 'admin' or")
    problem = page.locator("#problems li").first
    expect(problem).to_contain_text("order-actions.yaml:55:36")
    expect(problem).to_contain_text("condition syntax error")
    expect(problem).to_contain_text("hint: conditions use rule-engine syntax")
    expect(page.locator("#gutter div[data-line='55']")).to_have_class("err")
    expect(page.locator("#status")).to_contain_text("does not load")
    # its location is a button that puts the caret there
    problem.get_by_role("button", name="order-actions.yaml:55:36").click()
    line = page.evaluate("() => { const s = document.getElementById('source');"
                         " return s.value.slice(0, s.selectionStart).split('\\n').length; }")
    assert line == 55
    # saving a set that does not load asks first, saying what is broken
    page.click("#save")
    dialog = page.locator("#confirm-save")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("the edited set does not load (1 problem; first: order-actions.yaml:55:36: "
                                   "condition syntax error")
    expect(page.locator("#confirm-no")).to_be_focused()
    page.keyboard.press("Enter")  # Cancel
    expect(dialog).to_be_hidden()
    assert target.read_text("utf-8") == before
    page.click("#save")
    page.click("#confirm-yes")
    expect(page.locator("#status")).to_have_text("Saved order-actions.yaml.")
    assert target.read_text("utf-8") == before.replace("is_admin: user.role == 'admin'",
                                                       "is_admin: user.role == 'admin' or")


def test_a_broken_lock_opens_its_counterexample(page: Page) -> None:
    open_file(page, "stores/acme.yaml")
    type_over(page, "conditions:\n", "conditions:\n  is_admin: user.role in ['admin', 'member']\n")
    problem = page.locator("#problems li", has_text="widens the locked allow condition of action 'force_delete'")
    expect(problem).to_contain_text("stores/acme.yaml:")
    expect(problem.locator(".counterexample")).to_have_text("Counterexample: user.role = member")
    problem.get_by_role("button", name="Try this order").click()
    expect(page.locator("#tab-try")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#fact-user-role")).to_have_value("member")
    expect(page.locator("#fact-store")).to_have_value("acme")
    expect(page.locator("#try-note")).to_contain_text("last set that loaded")
    expect(page.locator("#menu-policy")).to_contain_text("store override acme@1")
    expect(action(page, "force_delete")).to_have_attribute("data-state", "hidden")


def test_run_the_suites_accept_a_change_and_save(page: Page, running: Running) -> None:
    old = "ACME's warehouse has shipped this order; edits would not reach it."
    new = "ACME's warehouse has shipped this order; edits would be lost."
    open_file(page, "stores/acme.yaml")
    type_over(page, "edits would not reach it.", "edits would be lost.")
    page.click("#tab-tests")
    page.click("#run-tests")
    expect(page.locator("#tests-summary")).to_have_text("58 passed, 1 failed")
    failure = page.locator("#test-failures li").first
    expect(failure).to_contain_text("Shipped orders are not edited at ACME")
    expect(failure.locator("td.expected")).to_have_text(f'["{old}"]')
    expect(failure.locator("td.actual")).to_have_text(f'["{new}"]')
    page.click("#accept-tests")
    expect(page.locator("#tests-summary")).to_have_text("59 passed, 0 failed")
    suite = buffer(page, "tests/acme.yaml")
    saved = (running.root / "tests" / "acme.yaml").read_text("utf-8")
    assert suite == saved.replace(f'reasons: ["{old}"]', f"reasons: [{new}]")  # one value replaced, comments kept
    # save both files: the store override with Ctrl+S, the suite with the button
    page.locator("#source").focus()
    page.keyboard.press("Control+s")
    expect(page.locator("#status")).to_have_text("Saved stores/acme.yaml.")
    open_file(page, "tests/acme.yaml")
    page.click("#save")
    expect(page.locator("#status")).to_have_text("Saved tests/acme.yaml.")
    assert (running.root / "tests" / "acme.yaml").read_text("utf-8") == suite
    assert (running.root / "stores" / "acme.yaml").read_text("utf-8") == buffer(page, "stores/acme.yaml")
    assert run_tests(running.root).ok


def test_a_label_holding_markup_is_shown_as_text(page: Page) -> None:
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    open_file(page, "stores/acme.yaml")
    type_over(page, "label: Archive (stop processing)", "label: '" + hostile + "'")
    page.select_option("#fact-store", "acme")
    page.select_option("#fact-order-status", "Error")
    label = action(page, "archive").locator(".action-label")
    expect(label).to_have_text(hostile)
    expect(page.locator("#menu script, #menu img, #hidden-actions script, #hidden-actions img")).to_have_count(0)
    assert page.evaluate("() => window.pwned") is None


def test_review_shows_the_matrix_and_the_diff(page: Page) -> None:
    open_file(page, "stores/acme.yaml")
    type_over(page, "        when: shipped\n", "        when: order.status == 'Shipped'\n")
    expect(page.locator("#status")).to_have_text("The edited set loads.")
    page.click("#tab-review")
    page.select_option("#matrix-action", "edit")
    page.select_option("#matrix-store", "acme")
    page.click("#run-matrix")
    expect(page.locator("#matrix-table")).to_contain_text("order.status = Shipped, user.role != viewer")
    page.click("#run-diff")
    expect(page.locator("#diff-summary")).to_have_text(
        "1 action changes in 18 of 567 combinations: 1 more permissive (edit)")
    expect(page.locator("#diff")).to_contain_text("disabled: ACME's warehouse has shipped this order; edits would not "
                                                  "reach it. → enabled")


def test_keyboard_alone(page: Page) -> None:
    page.locator("body").focus()
    for _ in range(40):  # Tab through the page to the store override's file: every control is reachable
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.dataset.path") == "stores/acme.yaml":
            break
    page.keyboard.press("Enter")
    expect(page.locator("#editor-title")).to_have_text("stores/acme.yaml")
    page.locator("#tab-try").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-tests")).to_be_focused()
    expect(page.locator("#panel-tests")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("#run-tests")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#tests-summary")).to_have_text("59 passed, 0 failed")
    for selector in ("#source", "#save", "#run-tests", "#fact-user-role"):  # every control has a name
        assert page.locator(selector).evaluate("e => e.labels?.length || e.getAttribute('aria-label') || e.textContent")


def test_impact_panel_over_a_database(browser: Browser, tmp_path: Path) -> None:
    import argparse

    import sqlalchemy as sa

    from policyengine.cli import studio as command

    root = copy_policies(tmp_path)
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with sa.create_engine(url).begin() as connection:
        connection.exec_driver_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT, has_shipment BOOLEAN, "
                                   "sent_to_warehouse BOOLEAN, store_id TEXT, fulfilment BOOLEAN, channel TEXT)")
        connection.exec_driver_sql("INSERT INTO orders VALUES ('SO-1', 'Shipped', 1, 1, 'acme', 0, 'amazon'), "
                                   "('SO-2', 'Error', 0, 0, 'globex', 1, NULL), ('SO-3', 'New', 0, 0, 'initech', 0, NULL)")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([str(root), "--db", url, "--column", "store.manual_fulfillment=fulfilment",
                              "--user", 'viewer={"role": "viewer"}'])
    with studio(root, impact=command._impact(args)) as app:
        page = open_studio(browser, app.url)
        open_file(page, "order-actions.yaml")  # viewers may now act: Edit goes from disabled to enabled for them
        type_over(page, "'member']\n    description: Anyone", "'member', 'viewer']\n    description: Anyone")
        page.click("#tab-impact")
        expect(page.locator("#impact-source")).to_have_text(f"Orders from {url}")
        page.click("#run-impact")
        panel = page.locator("#impact")  # a table per action the edit changes: each moves viewers' orders
        expect(panel.locator("table")).to_have_count(6)
        expect(panel.locator("table").first).to_contain_text("disabled → enabled")
        expect(panel.locator("table").first).to_contain_text("acme: 1, globex: 1, initech: 1")
        panel.get_by_role("button", name="SO-2").first.click()
        expect(page.locator("#tab-try")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#fact-order-status")).to_have_value("Error")
        expect(page.locator("#fact-store")).to_have_value("globex")
        page.close()


def test_screenshot_for_the_readme(page: Page) -> None:
    page.select_option("#fact-store", "acme")
    page.select_option("#fact-order-status", "Shipped")
    page.check("#fact-order-has_shipment")
    page.check("#fact-order-sent_to_warehouse")
    open_file(page, "stores/acme.yaml")
    expect(action(page, "edit")).to_contain_text("ACME's warehouse has shipped this order")
    expect(page.locator("#problem-count")).to_have_text("(none)")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
