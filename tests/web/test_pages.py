"""The web page over real HTTP, without a browser: the four pages, the retry with its token
and CSRF check, escaping, headers, and the daemon serving it beside /metrics and /healthz."""

from __future__ import annotations

import json
import re

import pytest

from tests.builders import items, start_daemon, stop, wait_for
from tests.conftest import free_port
from tests.servers import Route, rss
from tests.web.conftest import Client, seeded_workspace, serve_app
from tests.web.seed import SCRIPT_TITLE, TOKEN, feed_items, later_items, seed

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def alert_ids(body):
    return [int(i) for i in re.findall(r'data-id="(\d+)"', body)]


def test_alerts_list_shows_each_alert_with_its_deliveries(site):
    _, client = site
    reply = client.get("/alerts")
    assert reply.status == 200
    assert len(alert_ids(reply.body)) == 7  # six articles on the first poll, one later
    assert "<mark>fentanyl</mark>" in reply.body
    assert "hook: dead" in reply.body and "no notifier with this id in the config" in reply.body
    assert "pager: pending (retrying after 1 try)" in reply.body
    assert "last error: connection failed: ConnectError" in reply.body
    assert "console: sent" in reply.body


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"rule": "fentanyl-tariffs"}, 2),
        ({"rule": "nvidia"}, 5),
        ({"severity": "high"}, 2),
        ({"state": "pending"}, 1),
        ({"state": "dead"}, 6),
        ({"source": "feed"}, 7),
        ({"source": "elsewhere"}, 0),
        ({"since": "2000-01-01", "until": "2000-01-02"}, 0),
        ({"since": "2000-01-01"}, 7),
    ],
)
def test_alerts_filter(site, query, count):
    _, client = site
    reply = client.get("/alerts", **query)
    assert reply.status == 200
    assert len(alert_ids(reply.body)) == count


def test_a_bad_date_is_said_and_ignored(site):
    _, client = site
    reply = client.get("/alerts", since="last tuesday")
    assert "since: expected a date as 2025-03-04" in reply.body
    assert len(alert_ids(reply.body)) == 7


def test_an_alert_shows_why_it_fired_its_deliveries_and_its_story(site):
    _, client = site
    listed = client.get("/alerts", rule="fentanyl-tariffs").body
    reply = client.get(f"/alerts/{alert_ids(listed)[-1]}")
    assert reply.status == 200
    assert "US doubles <mark>fentanyl</mark> <mark>duties</mark>" in reply.body
    assert "fentanyl-tariffs" in reply.body and "high" in reply.body
    assert "reason: no notifier with this id in the config" in reply.body
    assert "Story thread" in reply.body
    assert client.get("/alerts/999999").status == 404


def test_a_script_headline_is_text(site):
    _, client = site
    for path in (
        "/alerts",
        "/rules",
        f"/alerts/{alert_ids(client.get('/alerts', rule='nvidia').body)[0]}",
    ):
        body = client.get(path).body
        assert "<script>alert" not in body
        if path != "/rules":
            assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in body, path
    assert SCRIPT_TITLE.startswith("<script>")


def test_security_headers_and_no_token_in_any_page(site):
    _, client = site
    for path in ("/alerts", "/sources", "/rules", "/playground", "/nowhere"):
        reply = client.get(path)
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in reply.headers["Content-Security-Policy"]
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert TOKEN not in reply.body
    assert client.get("/nowhere").status == 404


def dead_delivery(client):
    """(alert id, the id of its dead delivery, the page's CSRF token) of the first alert
    with a dead delivery; the client now holds the page's cookie."""
    alert_id = alert_ids(client.get("/alerts", state="dead").body)[0]
    page = client.get(f"/alerts/{alert_id}").body
    delivery = re.search(r'name="delivery" value="(\d+)"', page)
    return alert_id, int(delivery[1]), CSRF.search(page)[1]


def test_retry_needs_the_token_and_the_csrf_token(site):
    _, client = site
    alert_id, delivery, csrf = dead_delivery(client)
    path = f"/alerts/{alert_id}/retry"
    refused = [
        {"delivery": str(delivery), "csrf": csrf},  # no token
        {"delivery": str(delivery), "csrf": csrf, "token": "guess"},
        {"delivery": str(delivery), "token": TOKEN},  # no CSRF token
        {"delivery": str(delivery), "token": TOKEN, "csrf": "0" * 64},
    ]
    for form in refused:
        reply = client.post(path, form)
        assert reply.status == 403, form
        assert TOKEN not in reply.body
    assert "hook: dead" in client.get(f"/alerts/{alert_id}").body  # nothing changed
    done = client.post(path, {"delivery": str(delivery), "token": TOKEN, "csrf": csrf})
    assert done.status == 303
    assert done.headers["Location"] == f"/alerts/{alert_id}?retried=1"
    page = client.get(f"/alerts/{alert_id}?retried=1").body
    assert "Queued again" in page and "hook: pending" in page
    again = client.post(path, {"delivery": str(delivery), "token": TOKEN, "csrf": csrf})
    assert again.headers["Location"] == f"/alerts/{alert_id}?retried=0"


def test_retry_by_header_token(site):
    _, client = site
    alert_id, delivery, csrf = dead_delivery(client)
    reply = client.post(f"/alerts/{alert_id}/retry", {"delivery": str(delivery), "csrf": csrf},
                        {"X-Trade-Monitor-Token": TOKEN})  # fmt: skip
    assert reply.status == 303


def test_a_csrf_token_from_another_session_is_refused(site):
    _, client = site
    alert_id, delivery, csrf = dead_delivery(client)
    client.jar.clear()
    client.get(f"/alerts/{alert_id}")  # a fresh cookie: the old form's token no longer fits
    reply = client.post(f"/alerts/{alert_id}/retry",
                        {"delivery": str(delivery), "token": TOKEN, "csrf": csrf})  # fmt: skip
    assert reply.status == 403


def test_without_a_token_the_page_is_read_only(tmp_path):
    workspace = seeded_workspace(tmp_path, token=None)
    with serve_app(workspace) as client:
        alert_id = alert_ids(client.get("/alerts", state="dead").body)[0]
        page = client.get(f"/alerts/{alert_id}").body
        assert "read-only" in page and 'name="token"' not in page
        reply = client.post(f"/alerts/{alert_id}/retry", {"delivery": "2", "token": ""})
        assert reply.status == 403 and "read-only" in reply.body
        assert "hook: dead" in client.get(f"/alerts/{alert_id}").body


def test_sources_page(site):
    _, client = site
    reply = client.get("/sources")
    assert reply.status == 200
    assert "<strong>feed</strong>" in reply.body
    assert '<svg class="chart"' in reply.body
    assert "items a day: 7 in 14 days" in reply.body


def test_rules_page(site):
    _, client = site
    body = client.get("/rules").body
    assert 'id="rule-nvidia"' in body and 'id="rule-fentanyl-tariffs"' in body
    assert "fentanyl NEAR/12 (tariff* OR duties OR levies)" in body
    assert "2 matches in 30 days" in body
    assert "Mexico answers the duties" in body  # its last matches
    assert "2 tests, 0 failing" in body  # nvidia's match and no_match


def test_playground_on_a_text(site):
    _, client = site
    reply = client.get("/playground", query="tariff* NEAR/5 fentanyl",
                       text="Fentanyl tariffs rise\nThe fentanyl tariffs double.")  # fmt: skip
    assert reply.status == 200
    assert "Matches" in reply.body
    assert "<mark>Fentanyl</mark> <mark>tariffs</mark> rise" in reply.body
    assert "✓ NEAR/5" in reply.body  # the explain tree
    miss = client.get("/playground", query="copper", text="Fentanyl tariffs rise")
    assert "Does not match" in miss.body and "✗ copper" in miss.body


def test_playground_over_stored_articles_and_a_picked_rule(site):
    _, client = site
    reply = client.get("/playground", query="nvidia", days="7")
    assert "5 of 7 stored articles match" in reply.body
    assert "<mark>Nvidia</mark> story 0" in reply.body
    picked = client.get("/playground", rule="fentanyl-tariffs", days="7")
    assert "fentanyl NEAR/12 (tariff* OR duties OR levies)" in picked.body
    assert "2 of 7 stored articles match" in picked.body


def test_playground_shows_a_broken_query_as_check_does(site):
    _, client = site
    reply = client.get("/playground", query="tariff AND (steel", text="steel tariff")
    assert reply.status == 200
    assert "query:1:" in reply.body and "^" in reply.body
    assert "Matches" not in reply.body
    checked = json.loads(client.get("/playground/check", query="tariff NEAR/x steel").body)
    assert not checked["ok"]
    problem = checked["problems"][0]
    assert problem["line"] == 1 and problem["column"] == 8
    assert problem["source_line"] == "tariff NEAR/x steel"
    assert json.loads(client.get("/playground/check", query="steel").body) == {
        "ok": True,
        "problems": [],
    }
    unknown = json.loads(client.get("/playground/check", query="@nolist").body)
    assert unknown["problems"][0]["message"] == "unknown list `@nolist`"


def test_playground_never_writes_rule_files(site):
    workspace, client = site
    before = {p: p.read_bytes() for p in (workspace.root / "rules").iterdir()}
    client.get("/playground", rule="nvidia", query="steel", text="steel")
    assert {p: p.read_bytes() for p in (workspace.root / "rules").iterdir()} == before


def test_the_daemon_serves_the_page_beside_metrics_and_health(workspace, feed_server):
    seed(workspace, feed_server)
    port = free_port()
    with workspace.config.open("a") as config:
        config.write(f"http: 127.0.0.1:{port}\n")
    process = start_daemon(workspace)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        assert wait_for(lambda: _up(client))
        assert client.get("/healthz").status == 200
        assert "trade_monitor_alerts" in client.get("/metrics").body
        assert len(alert_ids(client.get("/alerts").body)) == 7
        assert client.get("/").headers["Location"] == "/alerts"
    finally:
        code, _, _, err = stop(process)
    assert code == 0, err
    assert TOKEN not in err


def _up(client):
    try:
        return client.get("/alerts").status == 200
    except OSError:
        return False


def test_the_web_command_serves_the_state_without_polling(workspace, feed_server):
    import subprocess

    from tests.conftest import cli_command

    seed(workspace, feed_server)
    feed_server.add("/feed.xml", Route(rss(feed_items() + later_items() + items(50, 3))))
    port = free_port()
    process = subprocess.Popen(
        cli_command("web", "--config", str(workspace.config), "--listen", str(port)),
        cwd=workspace.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client = Client(f"http://127.0.0.1:{port}")
        assert wait_for(lambda: _up(client))
        assert len(alert_ids(client.get("/alerts").body)) == 7  # nothing polled: 7 as seeded
        assert client.get("/metrics").status == 404  # the daemon's, not this command's
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in out
    assert TOKEN not in out + err


def test_the_web_command_without_state_says_so(workspace):
    import subprocess

    from tests.conftest import cli_command

    workspace.write_config([])
    done = subprocess.run(cli_command("web", "--config", str(workspace.config)),
                          cwd=workspace.root, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "no state yet" in done.stderr and "Traceback" not in done.stderr


def test_the_token_comes_from_the_environment_and_is_a_secret(workspace, monkeypatch):
    from monitor.config import load_config

    workspace.write_config([])
    with workspace.config.open("a") as config:
        config.write("web:\n  token: ${TRADE_MONITOR_WEB_TOKEN:-}\n")
    monkeypatch.delenv("TRADE_MONITOR_WEB_TOKEN", raising=False)
    assert load_config(workspace.config).web_token is None  # empty: read-only
    monkeypatch.setenv("TRADE_MONITOR_WEB_TOKEN", TOKEN)
    loaded = load_config(workspace.config)
    assert loaded.web_token == TOKEN
    assert TOKEN in loaded.secrets()  # redacted from every line logged or printed
    assert TOKEN not in repr(loaded)
