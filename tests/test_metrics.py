"""/metrics and /healthz of a running daemon (`http:` in config.yaml), and the `http:` key.

No PyPI package ships promtool, so the exposition is checked by prometheus-client's
own parser (as Prometheus would read it), never by string matching alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.errors import UserError
from monitor.listener import parse_listen
from tests.builders import feed_source, items, start_daemon, stop, wait_for
from tests.conftest import ROOT, free_port
from tests.servers import Route, rss

SECRET = "xoxb-hush-1234567890"  # in a notifier's URL: never in a response


def get(port, path):
    """(status, body) of a GET to the daemon's listener; (0, "") while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def samples(text):
    """{(sample name, frozenset of labels): value}, as Prometheus would parse the text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(parsed, name, **labels):
    return parsed.get((name, frozenset(labels.items())))


def with_http(workspace, address):
    workspace.config.write_text(workspace.config.read_text() + f"http: {address}\n")


def daemon_config(workspace, feed_server, *sources):
    webhook = {"id": "hook", "type": "webhook", "url": f"http://127.0.0.1:9/{SECRET}"}
    workspace.write_config(
        list(sources),
        [{"id": "console", "type": "console"}, webhook],
        {"notify": ["console"]},
    )
    port = free_port()
    with_http(workspace, f"127.0.0.1:{port}")
    return port


def test_metrics_count_polls_articles_matches_and_alerts(workspace, feed_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 3))))
    port = daemon_config(workspace, feed_server, feed_source(url, backfill="all"))
    process = start_daemon(workspace)
    try:
        assert wait_for(lambda: _sent(port) >= 3)
        status, text = get(port, "/metrics")
        assert status == 200
        parsed = samples(text)
        assert value(parsed, "trade_monitor_polls_total", source="feed") >= 1
        assert value(parsed, "trade_monitor_poll_errors_total", source="feed") == 0
        assert value(parsed, "trade_monitor_articles_total", source="feed") == 3
        assert value(parsed, "trade_monitor_matches_total", rule="nvidia") == 3
        assert value(parsed, "trade_monitor_alerts", state="sent") == 3
        assert value(parsed, "trade_monitor_outbox_pending") == 0
        assert value(parsed, "trade_monitor_outbox_oldest_pending_age_seconds") == 0
        assert value(parsed, "trade_monitor_store_up") == 1
        assert value(parsed, "trade_monitor_match_duration_seconds_count") >= 3
        polls = value(parsed, "trade_monitor_polls_total", source="feed")
        assert value(parsed, "trade_monitor_poll_lateness_seconds_count") >= polls - 1
        assert value(parsed, "trade_monitor_poll_lateness_seconds_bucket", le="10.0") >= 1
        assert value(parsed, "trade_monitor_send_duration_seconds_count", notifier="console") == 3
        assert value(parsed, "trade_monitor_source_last_success_timestamp_seconds", source="feed")
        assert SECRET not in text
        status, body = get(port, "/healthz")
        assert (status, json.loads(body)["status"]) == (200, "ok")
        assert SECRET not in body
        assert get(port, "/nothing")[0] == 404
    finally:
        code, _, _, err = stop(process)
    assert code == 0, err
    assert "serving /metrics and /healthz on http://127.0.0.1:" in err
    with pytest.raises(ConnectionRefusedError):  # the listener closed with the daemon
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _sent(port):
    parsed = samples(get(port, "/metrics")[1] or "")
    return value(parsed, "trade_monitor_alerts", state="sent") or 0


def test_healthz_names_a_source_stuck_past_three_intervals(workspace, feed_server):
    good = feed_server.add("/good.xml", Route(rss(items(0, 1))))
    flaky = Route(rss(items(10, 1)))
    url = feed_server.add("/flaky.xml", flaky)
    sources = [feed_source(good), {**feed_source(url), "id": "flaky"}]
    port = daemon_config(workspace, feed_server, *sources)
    process = start_daemon(workspace)
    try:
        assert wait_for(lambda: get(port, "/healthz")[0] == 200)
        last_ok = "trade_monitor_source_last_success_timestamp_seconds"
        assert wait_for(lambda: value(samples(get(port, "/metrics")[1]), last_ok, source="flaky"))
        flaky.status = 500  # from now on every poll of `flaky` fails
        assert wait_for(lambda: get(port, "/healthz")[0] == 503, timeout=20)
        status, body = get(port, "/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] == "failing"
        [reason] = health["reasons"]
        assert reason.startswith("source flaky: last successful poll")
        assert SECRET not in body
        parsed = samples(get(port, "/metrics")[1])
        assert value(parsed, "trade_monitor_poll_errors_total", source="flaky") >= 1
        assert value(parsed, "trade_monitor_poll_errors_total", source="feed") == 0
    finally:
        code, _, _, err = stop(process)
    assert code == 0, err


def test_a_port_in_use_is_a_clear_error(workspace, feed_server):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    port = daemon_config(workspace, feed_server, feed_source(url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = start_daemon(workspace)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("9464", "127.0.0.1:9464"),
        ("127.0.0.1:9464", "127.0.0.1:9464"),
        ("0.0.0.0:9464", "0.0.0.0:9464"),
        ("localhost:9000", "localhost:9000"),
        ("':9464'", "127.0.0.1:9464"),
        ("'[::1]:9464'", "[::1]:9464"),
    ],
)
def test_http_takes_a_port_or_host_port(tmp_path: Path, given, address):
    path = tmp_path / "config.yaml"
    path.write_text(f"http: {given}\n")
    config = load_config(path)
    assert parse_listen(given.strip("'")) == address
    host, port = config.http
    assert f"{host}:{port}" == address.replace("[", "").replace("]", "")


def test_http_is_off_when_absent(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: []\n")
    assert load_config(path).http is None


@pytest.mark.parametrize(
    "given",
    [
        "70000",
        "'127.0.0.1:'",
        "'127.0.0.1:port'",
        "'::1:9464'",
        "'bad host:9464'",
        "true",
        "[9464]",
    ],
)
def test_a_bad_http_value_is_a_config_error_at_its_line(tmp_path: Path, given):
    path = tmp_path / "config.yaml"
    path.write_text(f"sources: []\n\nhttp: {given}\n")
    with pytest.raises(UserError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 3, "http")


# ---- the deployment files ------------------------------------------------------------


def test_compose_runs_two_daemons_on_postgres_with_the_password_from_the_environment():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    daemons = [s for s in services.values() if s.get("build") == "."]
    assert len(daemons) == 2
    config = (ROOT / "deploy" / "config.compose.yaml").read_text()
    assert "state: postgresql://trade_monitor:${TRADE_MONITOR_DB_PASSWORD}@postgres" in config
    compose_cli = shutil.which("docker-compose")
    if compose_cli is None:
        pytest.skip("docker-compose is not installed")
    env = {**os.environ, "TRADE_MONITOR_DB_PASSWORD": "not-a-secret"}
    result = subprocess.run(
        [compose_cli, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_the_systemd_unit_verifies(tmp_path):
    unit = (ROOT / "deploy" / "trade-monitor.service").read_text()
    for line in ("Restart=on-failure", "User=trade-monitor", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/trade-monitor"):  # fmt: skip
        assert line in unit.splitlines()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "trade-monitor.service"  # the real ExecStart is not installed here
    copy.write_text(unit.replace("/opt/trade-monitor/bin/trade-monitor", shutil.which("true")))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_runs_skipped_behind_a_slow_poll_are_counted_and_said_once(workspace, feed_server):
    """A poll slower than its interval: APScheduler would warn of every skipped run."""
    url = feed_server.add("/slow.xml", Route(rss(items(0, 2)), delay=2.5))
    port = daemon_config(workspace, feed_server, feed_source(url, interval="500ms"))
    process = start_daemon(workspace)
    try:
        assert wait_for(lambda: skipped(port) >= 3)
    finally:
        _, _, _, err = stop(process)
    assert err.count("falling behind: a run of source:feed was skipped") == 1
    assert "maximum number of running instances" not in err


def skipped(port):
    parsed = samples(get(port, "/metrics")[1])
    return value(parsed, "trade_monitor_skipped_runs_total", reason="running") or 0
