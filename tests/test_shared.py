"""Several daemons on one PostgreSQL: the work is shared, nothing is sent twice."""

from __future__ import annotations

import time

import yaml

from tests.builders import feed_source, items, start_daemon, stop, wait_for
from tests.servers import Route, rss
from tests.test_cli import cli


def shared_config(workspace, postgres_url, feed_url, slack, **source):
    workspace.write_config(
        [feed_source(feed_url, interval="2s", **source)],
        [{"id": "slack", "type": "slack", "webhook_url": slack.webhook_url, "pace": "0.3s"}],
        {"notify": ["slack"]},
    )
    config = yaml.safe_load(workspace.config.read_text())
    config["state"] = postgres_url
    workspace.config.write_text(yaml.safe_dump(config))


def delivered_links(slack):
    return [r["payload"]["text"].split("|")[0].split("<")[-1] for r in slack.delivered]


def test_two_daemons_share_the_polls_and_send_each_alert_once(
    workspace, feed_server, slack_server, postgres_url
):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 6, hours_ago=0.1))))
    shared_config(workspace, postgres_url, url, slack_server, backfill="all")
    daemons = [start_daemon(workspace) for _ in range(2)]
    started = time.monotonic()
    try:
        assert wait_for(lambda: len(slack_server.delivered) >= 6, timeout=30)
        feed_server.routes["/feed.xml"] = Route(rss(items(0, 9, hours_ago=0.1)))
        assert wait_for(lambda: len(slack_server.delivered) >= 9, timeout=30)
        time.sleep(3)  # time enough for a duplicate to show
        status = cli("status", "--config", str(workspace.config))
    finally:
        outcomes = [stop(daemon) for daemon in daemons]
    elapsed = time.monotonic() - started
    assert len(slack_server.delivered) == 9, delivered_links(slack_server)
    # one poll per interval (2 s, 90% of it leased) between both daemons, not one each
    assert len(feed_server.hits("/feed.xml")) <= elapsed / 1.8 + 2
    assert all(code == 0 for code, *_ in outcomes), [err[-2000:] for *_, err in outcomes]
    assert status.returncode == 0 and status.stdout.count(" pid ") == 2, status.stdout
    assert "run different rule files" not in status.stderr


def test_status_warns_when_daemons_run_different_rules(
    workspace, feed_server, slack_server, postgres_url
):
    url = feed_server.add("/feed.xml", Route(rss([])))
    shared_config(workspace, postgres_url, url, slack_server)
    other = yaml.safe_load(workspace.config.read_text()) | {"rules": ["other-rules/"]}
    (workspace.root / "other-rules").mkdir()
    (workspace.root / "other-rules" / "soy.yaml").write_text("id: soy\nquery: soybeans\n")
    (workspace.root / "other.yaml").write_text(yaml.safe_dump(other))
    first = start_daemon(workspace)
    second = start_daemon(workspace, "--config", str(workspace.root / "other.yaml"))
    try:

        def status():
            return cli("status", "--config", str(workspace.config))

        assert wait_for(lambda: status().stdout.count(" pid ") == 2, timeout=30)
        report = status()
        assert "warning: the daemons run different rule files" in report.stderr
    finally:
        stop(first), stop(second)


def test_a_daemon_that_cannot_reach_the_database_exits_2_without_the_password(
    workspace, feed_server, slack_server, postgres_server
):
    url = feed_server.add("/feed.xml", Route(rss([])))
    down = postgres_server.url("trade").rsplit("@", 1)[0] + "@127.0.0.1:1/trade"
    shared_config(workspace, down, url, slack_server)
    password = postgres_server.password
    result = cli("run", "--once", "--config", str(workspace.config))
    assert result.returncode == 2
    assert "cannot use the state database" in result.stderr and ":***@127.0.0.1:1" in result.stderr
    assert password not in result.stderr + result.stdout


def test_a_state_url_of_another_scheme_is_named_without_its_password(workspace):
    workspace.write_config([])
    config = yaml.safe_load(workspace.config.read_text())
    config["state"] = "mysql://desk:hunter2secret@db.example/trade"
    workspace.config.write_text(yaml.safe_dump(config))
    result = cli("check", "--config", str(workspace.config))
    assert result.returncode == 2
    assert "unsupported state URL 'mysql://desk:***@db.example/trade'" in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout


def test_a_postgres_restart_under_a_daemon_loses_nothing(
    workspace, feed_server, slack_server, postgres_server, postgres_url
):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 2, hours_ago=0.1))))
    shared_config(workspace, postgres_url, url, slack_server, backfill="all")
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(slack_server.delivered) >= 2, timeout=30)
        postgres_server.restart()
        feed_server.routes["/feed.xml"] = Route(rss(items(0, 4, hours_ago=0.1)))
        assert wait_for(lambda: len(slack_server.delivered) >= 4, timeout=60)
    finally:
        code, _, _, err = stop(daemon)
    assert code == 0, err[-3000:]
    assert len(slack_server.delivered) == 4
    assert "lost the database" in err and "Traceback" not in err
