"""The daemon end to end: real feed server, real Slack-like server, real SQLite file."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from monitor.store import open_store
from tests.builders import feed_source, items, run_once, start_daemon, stop, wait_for
from tests.conftest import ROOT, cli_command
from tests.servers import Route, SlackReply, rss


def slack_notifier(server):
    return {"id": "slack", "type": "slack", "webhook_url": server.webhook_url}


def outbox(workspace):
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        return {status: n for status, n in store.outbox.counts().items() if n}
    finally:
        store.close()


def titles(slack_server):
    return [r["payload"]["text"].split(": ", 1)[1] for r in slack_server.delivered]


def test_run_once_twice_sends_each_alert_once(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 3))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    assert run_once(workspace) == 0
    assert sorted(titles(slack_server)) == ["Nvidia story 0", "Nvidia story 1", "Nvidia story 2"]
    assert run_once(workspace) == 0
    assert len(slack_server.delivered) == 3
    assert outbox(workspace) == {"sent": 3}


def test_one_alert_per_article_and_notifier_naming_every_rule(workspace, feed_server, slack_server):
    feed = [{"title": "Nvidia and fentanyl tariffs", "link": "https://n.example/1", "guid": "x"}]
    url = feed_server.add("/feed.xml", Route(rss(feed)))
    workspace.write_config(
        [feed_source(url, backfill="all")],
        [slack_notifier(slack_server), {"id": "console", "type": "console"}],
        {"notify": ["slack", "console"]},
    )
    run_once(workspace)
    [message] = slack_server.delivered
    assert message["payload"]["text"].startswith("[HIGH] Fentanyl-linked tariffs, Nvidia:")
    assert outbox(workspace)["sent"] == 2  # one for slack, one for console


def test_backfill_none_records_old_items_and_alerts_only_new_ones(
    workspace, feed_server, slack_server
):
    route = feed_server.add("/feed.xml", Route(rss(items(0, 50))))
    workspace.write_config(
        [feed_source(route)], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    run_once(workspace)
    assert slack_server.delivered == []
    feed_server.routes["/feed.xml"] = Route(rss(items(0, 50) + items(50, 1)))
    run_once(workspace)
    assert titles(slack_server) == ["Nvidia story 50"]


def test_backfill_window_alerts_only_recent_items(workspace, feed_server, slack_server):
    feed = items(0, 2, hours_ago=48) + items(2, 1, hours_ago=1)
    url = feed_server.add("/feed.xml", Route(rss(feed)))
    workspace.write_config(
        [feed_source(url, backfill="24h")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    run_once(workspace)
    assert titles(slack_server) == ["Nvidia story 2"]


def test_a_failed_delivery_stays_queued_and_the_next_dispatch_sends_it(
    workspace, feed_server, slack_server
):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    slack_server.script += [SlackReply(500), SlackReply(drop=True)]
    assert run_once(workspace) == 1
    assert outbox(workspace) == {"pending": 1}
    assert run_once(workspace) == 1  # dropped connection: still queued
    assert run_once(workspace) == 0
    assert titles(slack_server) == ["Nvidia story 0"]
    assert outbox(workspace) == {"sent": 1}


def test_a_permanent_error_marks_the_alert_dead_with_the_reason(
    workspace, feed_server, slack_server
):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    slack_server.script.append(SlackReply(404, error="no_service"))
    assert run_once(workspace) == 1
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    [row] = store.outbox.recent(status="dead")
    assert "no_service" in row.last_error
    store.close()


def test_a_failing_source_makes_run_once_exit_1_and_others_still_alert(
    workspace, feed_server, slack_server
):
    good = feed_server.add("/good.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [feed_source(good, backfill="all"), feed_source(feed_server.url + "/missing", id="bad")],
        [slack_notifier(slack_server)],
        {"notify": ["slack"]},
    )
    assert run_once(workspace) == 1
    assert titles(slack_server) == ["Nvidia story 0"]


def test_a_hanging_source_does_not_stall_the_others(workspace, feed_server, slack_server):
    good = feed_server.add("/good.xml", Route(rss(items(0, 1))))
    slow = feed_server.add("/slow.xml", Route(rss(items(5, 1)), delay=4))
    workspace.write_config(
        [
            feed_source(good, backfill="all"),
            feed_source(slow, id="slow", timeout="2s", backfill="all"),
        ],
        [slack_notifier(slack_server)],
        {"notify": ["slack"]},
    )
    started = time.monotonic()
    assert run_once(workspace) == 1
    assert time.monotonic() - started < 4
    assert titles(slack_server) == ["Nvidia story 0"]


def test_a_failure_streak_is_logged_once(workspace, feed_server, caplog):
    workspace.write_config([feed_source(feed_server.url + "/missing")])
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        run_once(workspace)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "poll failed" in r.message
    ]
    assert len(warnings) == 1
    assert "HTTP 404" in warnings[0].message
    assert not any(r.exc_info for r in caplog.records)
    feed_server.routes["/missing"] = Route(rss(items(0, 1)))
    run_once(workspace)
    assert any("recovered after 3 failed polls" in r.message for r in caplog.records)


def test_alerts_for_a_notifier_removed_from_config_go_dead_not_lost(
    workspace, feed_server, slack_server
):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    slack_server.script.append(SlackReply(500))
    run_once(workspace)
    workspace.write_config([feed_source(url, backfill="all")])
    run_once(workspace)
    assert outbox(workspace) == {"dead": 1}


# ---- the daemon as a process -------------------------------------------------


def test_daemon_polls_delivers_and_stops_cleanly_on_sigterm(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 2)), etag='"v1"'))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(slack_server.delivered) == 2)
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= 3)  # polls every second
    finally:
        code, seconds, _, err = stop(daemon)
    assert code == 0, err
    assert seconds < 5
    assert "stopped" in err
    assert "Traceback" not in err
    assert feed_server.hits("/feed.xml")[-1]["headers"].get("If-None-Match") == '"v1"'


def test_sigint_stops_cleanly_too(workspace, feed_server):
    workspace.write_config([feed_source(feed_server.add("/f.xml", Route(rss([]))))])
    daemon = start_daemon(workspace)
    assert wait_for(lambda: feed_server.hits("/f.xml"))
    code, seconds, _, err = stop(daemon, signal.SIGINT)
    assert (code, "Traceback" in err) == (0, False)
    assert seconds < 5


def test_a_restart_never_repeats_an_alert(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 2))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    first = start_daemon(workspace)
    assert wait_for(lambda: len(slack_server.delivered) == 2)
    assert stop(first)[0] == 0
    feed_server.routes["/feed.xml"] = Route(rss(items(0, 3)))
    second = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(slack_server.delivered) == 3)
        polls = len(feed_server.hits("/feed.xml"))
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= polls + 2)
    finally:
        assert stop(second)[0] == 0
    assert sorted(titles(slack_server)) == ["Nvidia story 0", "Nvidia story 1", "Nvidia story 2"]


def test_no_secret_is_printed_or_logged(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    token_env = {"HOOK_URL": slack_server.webhook_url, "SMTP_PASS": "hunter2-smtp-secret"}
    workspace.write_config(
        [feed_source(url, backfill="all"), feed_source(feed_server.url + "/x", id="broken")],
        [
            {"id": "slack", "type": "slack", "webhook_url": "${HOOK_URL}"},
            {
                "id": "mail",
                "type": "email",
                "host": "127.0.0.1",
                "port": 1,
                "security": "none",
                "username": "u",
                "password": "${SMTP_PASS}",
                "to": ["a@example.org"],
            },
        ],
        {"notify": ["slack", "mail"]},
    )
    slack_server.script += [SlackReply(500)] * 3
    daemon = start_daemon(workspace, "--log-level", "DEBUG", env=token_env)
    assert wait_for(lambda: len(slack_server.requests) >= 1)
    time.sleep(1)  # let the email attempt fail too
    _, _, out, err = stop(daemon)
    check = subprocess.run(
        cli_command("check", "--config", str(workspace.config)),
        capture_output=True,
        text=True,
        env={**os.environ, **token_env},
        cwd=ROOT,
    )
    for text in (out, err, check.stdout, check.stderr):
        assert "XXXXSECRET" not in text
        assert "hunter2" not in text
    assert "delivery failed" in err


def test_json_logs(workspace, feed_server):
    workspace.write_config([feed_source(feed_server.url + "/missing")])
    result = subprocess.run(
        cli_command("run", "--once", "--log-format", "json", "--config", str(workspace.config)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    import json

    lines = [json.loads(line) for line in result.stderr.splitlines()]
    failed = next(entry for entry in lines if "poll failed" in entry["message"])
    assert failed["source"] == "feed" and failed["level"] == "warning"
    assert result.returncode == 1


def test_an_alert_past_its_deadline_goes_dead(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [feed_source(url, backfill="all")],
        [{**slack_notifier(slack_server), "deadline": "10s", "backoff": "1m"}],
        {"notify": ["slack"]},
    )
    slack_server.script.append(SlackReply(503))
    assert run_once(workspace) == 1
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    [row] = store.outbox.recent(status="dead")
    assert row.last_error.startswith("not delivered within 10s: HTTP 503")
    store.close()


def test_alerts_retry_queues_dead_alerts_again(workspace, feed_server, slack_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 3))))
    workspace.write_config(
        [feed_source(url, backfill="all")], [slack_notifier(slack_server)], {"notify": ["slack"]}
    )
    slack_server.script += [SlackReply(403, error="invalid_token")] * 3
    run_once(workspace)
    assert outbox(workspace) == {"dead": 3}

    def cli(*args):
        command = cli_command("alerts", *args, "--config", str(workspace.config))
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)

    listing = cli("--status", "dead")
    assert listing.stdout.count("invalid_token") == 3
    first_id = listing.stdout.splitlines()[1].split()[0]
    assert cli("retry", first_id).stdout == "1 dead alert queued again\n"
    assert outbox(workspace) == {"dead": 2, "pending": 1}
    assert cli("retry", "--all-dead").stdout == "2 dead alerts queued again\n"
    assert cli("retry", "999").returncode == 1
    run_once(workspace)
    assert outbox(workspace) == {"sent": 3}


def test_rules_reload_on_change_and_sighup_and_a_broken_edit_keeps_the_old(
    workspace, feed_server, slack_server
):
    feed = items(0, 1, word="Nvidia")
    feed_server.add("/feed.xml", Route(rss(feed)))
    workspace.write_config(
        [feed_source(feed_server.url + "/feed.xml", backfill="all")],
        [slack_notifier(slack_server)],
        {"notify": ["slack"]},
    )
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(slack_server.delivered) == 1)
        workspace.write_rule("broken", "id: broken\nquery: (unclosed\n")
        time.sleep(3)
        workspace.write_rule("broken", "id: soy\ntitle: Soybeans\nquery: soybeans\n")
        assert wait_for(lambda: "(3 rules in 3 files)" in status(workspace))
        feed_server.routes["/feed.xml"] = Route(rss(feed + items(1, 1, word="Soybeans")))
        assert wait_for(lambda: len(slack_server.delivered) == 2)
        assert "[MEDIUM] Soybeans:" in slack_server.delivered[1]["payload"]["text"]
        before = status(workspace)
        (workspace.root / "rules" / "broken.yaml").unlink()
        daemon.send_signal(signal.SIGHUP)
        assert wait_for(lambda: status(workspace) != before)
        daemon.send_signal(signal.SIGHUP)  # nothing changed: only the signal reloads now
        time.sleep(1)
    finally:
        _, _, _, err = stop(daemon)
    assert "rules not reloaded (rule files changed), the old rules stay in force" in err
    assert "broken.yaml:2:8: query: unbalanced parenthesis" in err
    assert "rules reloaded (rule files changed)" in err
    assert "rules reloaded (SIGHUP)" in err
    assert "Traceback" not in err


def status(workspace):
    result = subprocess.run(
        cli_command("status", "--config", str(workspace.config)),
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return result.stdout


LOADING = (
    "import os, signal, sys\n"
    "from monitor import start\n"
    "start.keep()\n"
    "os.kill(os.getpid(), signal.SIGTERM)  # while the program is still loading\n"
    "sys.argv = ['trade-monitor', *sys.argv[1:]]\n"
    "sys.exit(start.main())\n"
)


def signalled_while_loading(workspace, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOADING, command, "--config", str(workspace.config)],
        cwd=workspace.root, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_a_sigterm_while_the_program_loads_stops_the_daemon_once_it_runs(workspace, feed_server):
    """Seen in CI: a daemon restarted and stopped at once died by the signal (exit -15)."""
    workspace.write_config([feed_source(feed_server.add("/f.xml", Route(rss([]))))])
    done = signalled_while_loading(workspace, "run")
    assert done.returncode == 0, done.stderr
    assert "stopped" in done.stderr and "Traceback" not in done.stderr


def test_any_other_command_gets_a_signal_kept_while_loading_at_once(workspace):
    done = signalled_while_loading(workspace, "check")
    assert done.returncode == -signal.SIGTERM, done.stderr
