"""The studio's HTTP API as an attacker would try it: other origins and host names, no token, paths out of the
directory, oversized input; and saving, exactly and atomically. The studio runs for real on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from studio_support import REPO, Running, copy_policies, studio

import policyengine
from policyengine.pipeline.yamlsource import overlay
from policyengine.studio.app import MAX_BODY

TOKEN = "s3cret-token-of-the-studio"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = copy_policies(tmp_path_factory.mktemp("http"))
    outside = root.parent / "outside.yaml"
    outside.write_text("apiVersion: policyengine/v1\n", "utf-8")
    with studio(root) as app:
        yield app


def test_a_foreign_origin_is_refused(running: Running) -> None:
    target = running.root / "stores" / "acme.yaml"
    before = target.read_text("utf-8")
    body = {"edits": {"stores/acme.yaml": "# gone\n"}, "path": "stores/acme.yaml", "confirm_broken": True}
    for origin in ("http://evil.example", "null", running.url.rstrip("/").replace("127.0.0.1", "localhost"),
                   running.url.rstrip("/")[:-1]):
        answer = running.post("save", body, Origin=origin)
        assert (answer.status_code, answer.json()["error"]) == (403, "wrong_origin"), origin
    answer = httpx.post(running.url + "api/save", json=body)  # no Origin at all
    assert (answer.status_code, answer.json()["error"]) == (403, "wrong_origin")
    answer = running.post("save", body, **{"Sec-Fetch-Site": "cross-site"})
    assert (answer.status_code, answer.json()["error"]) == (403, "wrong_origin")
    assert target.read_text("utf-8") == before


def test_another_host_name_is_refused(running: Running) -> None:
    port = running.url.rsplit(":", 1)[1].rstrip("/")
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        answer = httpx.get(running.url, headers={"Host": host})
        assert (answer.status_code, answer.json()["error"]) == (421, "wrong_host"), host
        answer = httpx.post(running.url + "api/files", json={}, headers={"Host": host, "Origin": f"http://{host}"})
        assert answer.status_code == 421
    assert httpx.get(running.url, headers={"Host": f"localhost:{port}"}).status_code == 200


def test_a_post_that_is_not_json_is_refused(running: Running) -> None:
    origin = running.url.rstrip("/")
    answer = httpx.post(running.url + "api/files", content=b"{}", headers={"Origin": origin, "Content-Type": "text/plain"})
    assert (answer.status_code, answer.json()["error"]) == (415, "not_json")
    answer = httpx.post(running.url + "api/files", content=b"{nope", headers={"Origin": origin,
                                                                              "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_json")
    assert httpx.get(running.url + "api/files").status_code == 405


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    with studio(copy_policies(tmp_path), token=TOKEN) as app:
        assert app.post("files", {}).status_code == 401
        assert app.post("files", {}, **{"X-Studio-Token": TOKEN[:-1] + "x"}).status_code == 401
        answer = app.post("files", {}, **{"X-Studio-Token": TOKEN})
        assert answer.status_code == 200
        assert answer.json()["files"][0] == {"path": "order-actions.yaml", "group": "Versions"}


@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/passwd", "stores/../../outside.yaml", "stores/../acme.yaml",
                                  ".git/config.yaml", "stores/.hidden.yaml", "order-actions.yaml\0", "nope.yaml",
                                  "stores\\acme.yaml", "order-actions.txt", "", "stores//acme.yaml", "x" * 2000])
def test_paths_outside_the_directory_are_refused(running: Running, path: str) -> None:
    answer = running.post("file", {"path": path})
    assert answer.status_code in (403, 422), answer.text
    assert answer.json()["error"] in ("path_refused", "invalid_request")
    answer = running.post("check", {"edits": {path: "x"}})
    assert answer.status_code in (403, 422)


def test_a_symlink_out_of_the_directory_is_refused(running: Running) -> None:
    link = running.root / "stores" / "outside.yaml"
    link.symlink_to(running.root.parent / "outside.yaml")
    try:
        for name, body in (("file", {"path": "stores/outside.yaml"}),
                           ("save", {"edits": {"stores/outside.yaml": "x: 1\n"}, "path": "stores/outside.yaml",
                                     "confirm_broken": True})):
            answer = running.post(name, body)
            assert (answer.status_code, answer.json()["error"]) == (403, "path_refused")
            assert "leads outside the policy directory" in answer.json()["message"]
        assert (running.root.parent / "outside.yaml").read_text("utf-8") == "apiVersion: policyengine/v1\n"
    finally:
        link.unlink()


def test_size_limits(running: Running) -> None:
    huge = "#" * (MAX_BODY + 1)
    answer = running.post("check", {"edits": {"order-actions.yaml": huge}})
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    answer = running.post("check", {"edits": {"order-actions.yaml": "#" * (1 << 20) + "\n"}})
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    answer = running.post("check", {"edits": {f"stores/s{i}.yaml": "" for i in range(65)}})
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    answer = running.post("try", {"facts": {f"order.f{i}": 1 for i in range(501)}})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    answer = running.post("explain", {"action": "x" * 201})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")


def test_every_answer_forbids_foreign_script(running: Running) -> None:
    page = httpx.get(running.url)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # every asset the page loads is the package's own: no CDN, no network at run time
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets == ["/studio.css", "/yaml.js", "/studio.js"]
    for asset in assets:
        served = httpx.get(running.url.rstrip("/") + asset)
        assert served.status_code == 200 and "http" not in served.text.replace("https://", "").split("//")[0]
        assert "innerHTML" not in served.text and "outerHTML" not in served.text and "insertAdjacentHTML" not in served.text


def test_save_writes_exactly_what_was_edited(running: Running) -> None:
    target = running.root / "stores" / "globex.yaml"
    text = target.read_text("utf-8").replace("\n", "\r\n", 3) + "# a comment kept  \n\n"
    os.chmod(target, 0o640)
    answer = running.post("save", {"edits": {"stores/globex.yaml": text}, "path": "stores/globex.yaml"})
    assert answer.json() == {"saved": "stores/globex.yaml", "loads": True}
    assert target.read_bytes() == text.encode("utf-8")
    assert target.stat().st_mode & 0o777 == 0o640
    assert not [p.name for p in target.parent.iterdir() if p.name.startswith(".studio-")]


def test_a_set_that_does_not_load_is_saved_only_when_confirmed(running: Running) -> None:
    target = running.root / "stores" / "acme.yaml"
    before = target.read_text("utf-8")
    broken = before.replace("store: acme", "store: [acme")
    body = {"edits": {"stores/acme.yaml": broken}, "path": "stores/acme.yaml"}
    answer = running.post("save", body)
    assert answer.status_code == 409
    assert answer.json()["error"] == "does_not_load"
    assert answer.json()["message"].startswith(
        "the edited set does not load (1 problem; first: stores/acme.yaml:9:8: YAML syntax error: ")
    assert target.read_text("utf-8") == before
    answer = running.post("save", {**body, "confirm_broken": True})
    assert answer.json() == {"saved": "stores/acme.yaml", "loads": False}
    assert target.read_text("utf-8") == broken
    target.write_text(before, "utf-8")


def test_the_live_check_reads_the_edit_not_the_disk(running: Running) -> None:
    text = (running.root / "order-actions.yaml").read_text("utf-8")
    edited = text.replace("is_admin: user.role == 'admin'", "is_admin: user.role == 'admin' or")
    answer = running.post("check", {"edits": {"order-actions.yaml": edited}}).json()
    assert answer["ok"] is False
    assert [(d["file"], d["line"], d["column"], d["hint"]) for d in answer["diagnostics"]] == [
        ("order-actions.yaml", 55, 36, "conditions use rule-engine syntax: order.status == 'Error' and not order.has_shipment")]
    assert running.post("check", {}).json()["ok"] is True  # the disk still holds the saved set



def test_the_companions_check_reads_the_edited_suite(running: Running) -> None:
    """The test suites of the edited set are checked against it (the studio's second, slower pass)."""
    assert running.post("companions", {}).json() == {"diagnostics": []}
    text = (running.root / "tests" / "acme.yaml").read_text("utf-8")
    edited = text.replace("      reset: enabled\n", "      resett: enabled\n", 1)
    answer = running.post("companions", {"edits": {"tests/acme.yaml": edited}})
    assert answer.status_code == 200
    assert [(d["file"], d["line"], d["message"], d["hint"]) for d in answer.json()["diagnostics"]] == [
        ("tests/acme.yaml", 39, "unknown action 'resett': store acme's policy has no such action", "did you mean 'reset'?")]

def test_overlay_loads_the_given_text_in_place_of_the_file(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    saved = policyengine.load(root)
    text = (root / "stores" / "acme.yaml").read_text("utf-8").replace("label: Archive (stop processing)", "label: Park")
    with overlay({root / "stores" / "acme.yaml": text}):
        edited = policyengine.load(root)
    order = {"status": "Error", "store": {"id": "acme", "manual_fulfillment": False}}
    assert edited.evaluate(order, {"role": "admin"})["archive"].label == "Park"
    assert saved.evaluate(order, {"role": "admin"})["archive"].label == "Archive (stop processing)"
    assert edited.revision != saved.revision
    assert policyengine.load(root).revision == saved.revision  # outside the block, the disk again


def test_the_command_prints_its_address(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "policyengine", "studio", str(root), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens (or the process ends and this is empty)
        found = re.fullmatch(r"policyengine studio: open (http://127\.0\.0\.1:\d+/) \(policies: .*; Ctrl-C stops it\)\n",
                             line)
        assert found, line
        page = httpx.get(found.group(1), timeout=60)
        assert page.status_code == 200 and "<title>policyengine studio</title>" in page.text
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_impact_source_over_a_database(tmp_path: Path) -> None:
    import argparse

    import sqlalchemy as sa

    from policyengine.cli import studio as command

    root = copy_policies(tmp_path)
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with sa.create_engine(url).begin() as connection:
        connection.exec_driver_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT, has_shipment BOOLEAN, "
                                   "sent_to_warehouse BOOLEAN, store_id TEXT, fulfilment BOOLEAN, channel TEXT)")
        connection.exec_driver_sql("INSERT INTO orders VALUES ('SO-1', 'Shipped', 1, 1, 'acme', 0, 'amazon')")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([str(root), "--db", url, "--column", "store.manual_fulfillment=fulfilment",
                              "--user", 'member={"role": "member"}'])
    impact = command._impact(args)
    assert impact.describe == url
    with studio(root, impact=impact) as app:
        example = app.post("example", {"id": "SO-1"})
        assert example.json() == {"facts": {"order.status": "Shipped", "order.has_shipment": True,
                                            "order.sent_to_warehouse": True, "store.manual_fulfillment": False,
                                            "order.channel": "amazon"}, "store": "acme"}
        assert app.post("example", {"id": "SO-2"}).json()["error"] == "no_such_order"
        answer = app.post("impact", {})
        assert answer.status_code == 200
        body = answer.json()
        assert body["total"] == 1  # nothing edited yet: no action changes state
        assert all(not action["transitions"] for action in body["actions"])


def test_the_diff_against_a_git_revision(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "policies"], cwd=root, check=True)
    acme = root / "stores" / "acme.yaml"
    acme.write_text(acme.read_text("utf-8").replace("        when: shipped\n", "        when: order.status == 'Shipped'\n"),
                    "utf-8")  # saved, not committed: HEAD differs from the disk
    with studio(root) as app:
        against_saved = app.post("diff", {"store": "acme"}).json()
        against_head = app.post("diff", {"store": "acme", "against": "HEAD"}).json()
        refused = app.post("diff", {"against": "--output=/tmp/x"}).json()
    assert against_saved["summary"] == "no decision changes (567 combinations compared)"
    assert against_head["old"].startswith("HEAD:")
    assert against_head["summary"] == "1 action changes in 18 of 567 combinations: 1 more permissive (edit)"
    assert refused == {"error": "not a git revision: '--output=/tmp/x'"}


def test_a_wildcard_address_needs_its_host_names(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "policyengine", "studio", str(copy_policies(tmp_path)), "--host",
                          "0.0.0.0", "--port", "0"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == ("policyengine studio: --host 0.0.0.0 listens on every address: name the host names browsers "
                          "use to reach it with --allow-host (any other is refused, against DNS rebinding)\n")


def test_the_assets_are_package_data() -> None:
    from importlib import resources

    from policyengine.studio.app import ASSETS

    static = resources.files("policyengine.studio").joinpath("static")
    assert sorted(p.name for p in static.iterdir()) == sorted(name for name, _ in ASSETS.values())
    assert '"studio/static/*"' in (REPO / "pyproject.toml").read_text("utf-8")
