"""Hostile rule files: deep queries, FIFOs, devices and huge files are clear errors; never a
traceback, a hang, or a daemon that stops polling."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import subprocess
import time

import pytest

import monitor.daemon
from monitor.cli import load_all
from monitor.daemon import Daemon
from monitor.match.loading import fingerprint
from tests.builders import feed_source, items, wait_for
from tests.conftest import ROOT, cli_command
from tests.servers import Route, rss

DEEP_QUERIES = {
    "parens": "(" * 200 + "nvidia" + ")" * 200,
    "near": " NEAR/5 ".join(f"w{i}" for i in range(1000)),
    "nots": "NOT " * 1000 + "nvidia",
    "fields": "title:" * 1000 + "nvidia",
}


def limited_memory() -> None:
    """So that a regression reading /dev/zero fails fast instead of filling the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def cli(*args, cwd=ROOT, timeout=30):
    """The CLI with a deadline: a command that hangs on a FIFO fails the test, never hangs it."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=limited_memory,
    )


def start_daemon(workspace):
    """The daemon as a process, its log in a file the test can read while it runs."""
    log = (workspace.root / "daemon.log").open("w")
    return subprocess.Popen(
        cli_command("run", "--config", str(workspace.config)),
        cwd=workspace.root,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=limited_memory,
    )


def stop(daemon, workspace) -> str:
    """SIGTERM, and the whole log; a daemon that does not stop in time is killed."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=20)
    finally:
        daemon.kill()
    return (workspace.root / "daemon.log").read_text()


def logged(workspace, text: str) -> bool:
    return text in (workspace.root / "daemon.log").read_text()


def assert_user_error(result, *expected):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_deeply_nested_queries_are_positioned_errors(workspace):
    """Case 13: 200 parentheses, a chain of 1,000 NEARs, 1,000 NOTs or field prefixes are
    each an error at file:line:col with a hint, not a RecursionError traceback."""
    workspace.write_config([])
    for name, query in DEEP_QUERIES.items():
        workspace.write_rule(name, f"id: {name}\nquery: {query}\n")
    result = cli("check", "--config", str(workspace.config))
    assert_user_error(result, "hint: use fewer nested parentheses")
    for name in DEEP_QUERIES:
        assert f"rules/{name}.yaml:2:" in result.stderr
    assert result.stderr.count("nested more than 50 levels deep") == len(DEEP_QUERIES)


def test_a_deep_rule_dropped_into_a_running_daemon_is_refused_once(workspace, feed_server):
    """Case 13: the rules-reload job no longer raises a traceback every 2 s; the deep rule is
    refused once with its position and the old rules stay in force."""
    feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config([feed_source(feed_server.url + "/feed.xml", backfill="all")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: logged(workspace, "running:"))
        workspace.write_rule("deep", "id: deep\nquery: " + DEEP_QUERIES["near"] + "\n")
        assert wait_for(lambda: logged(workspace, "rules not reloaded"))
        time.sleep(4.5)  # two more looks at the rules
    finally:
        log = stop(daemon, workspace)
    assert "Traceback" not in log, log
    assert log.count("rules not reloaded (rule files changed)") == 1, log
    assert "deep.yaml:2:" in log and "nested more than 50 levels deep" in log
    assert daemon.returncode == 0


def test_an_unexpected_error_while_loading_refuses_the_reload_once(workspace, monkeypatch, caplog):
    """Case 13: any exception from loading (a bug, not a user mistake) is a refused reload,
    logged once with its reason; the old rules stay and the same files are not tried again."""
    workspace.write_config([])
    config, rules = load_all(workspace.config)
    daemon = Daemon(config, rules)
    calls = []

    def broken_loader(*args):
        calls.append(args)
        raise RuntimeError("loader bug")

    monkeypatch.setattr(monitor.daemon, "load_rules", broken_loader)
    workspace.write_rule("new", "id: new\nquery: soybeans\n")

    async def look_twice() -> None:
        await daemon._check_rules()
        await daemon._check_rules()
        await daemon.close()

    with caplog.at_level(logging.ERROR, logger="monitor"):
        asyncio.run(look_twice())
    assert len(calls) == 1
    assert daemon.pipeline.rules is rules
    assert daemon.refused_version == fingerprint(config.rule_paths)
    assert "RuntimeError: loader bug" in caplog.text


@pytest.mark.parametrize("where", ["rules/pipe.yaml", "rules/lists/names.txt"])
def test_check_refuses_a_fifo_among_the_rules(workspace, where):
    """Case 13: a FIFO as a rule file or a list file made `check` hang for good."""
    workspace.write_config([])
    workspace.write_rule("listed", "id: listed\nquery: '@names'\n")
    (workspace.root / "rules" / "lists").mkdir()
    os.mkfifo(workspace.root / where)
    result = cli("check", "--config", str(workspace.config), timeout=20)
    assert_user_error(result, where, "not a regular file but a FIFO", "hint: ")


def test_status_refuses_a_fifo_as_config(tmp_path):
    """Case 13: `status --config FIFO` hung."""
    os.mkfifo(tmp_path / "config.yaml")
    result = cli("status", "--config", str(tmp_path / "config.yaml"), timeout=20)
    assert_user_error(result, "config.yaml: cannot read file: not a regular file but a FIFO")


def test_a_device_as_config_or_rule_file_is_refused(workspace):
    """Case 13: `--config /dev/zero` or a rule file linked to /dev/zero read until MemoryError."""
    result = cli("check", "--config", "/dev/zero")
    assert_user_error(result, "/dev/zero: cannot read file: not a regular file but a device")
    workspace.write_config([])
    (workspace.root / "rules" / "zero.yaml").symlink_to("/dev/zero")
    result = cli("check", "--config", str(workspace.config))
    assert_user_error(result, "zero.yaml: cannot read file: not a regular file but a device")


def test_a_fifo_in_the_rules_never_stops_a_running_daemon(workspace, feed_server):
    """Case 13: `mkfifo rules/pipe.yaml` under a running daemon blocked the event loop in the
    rules check: no poll ran again and SIGTERM went unanswered."""
    feed = items(0, 1)
    feed_server.add("/feed.xml", Route(rss(feed)))
    workspace.write_config([feed_source(feed_server.url + "/feed.xml", backfill="all")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: logged(workspace, "running:"))
        os.mkfifo(workspace.root / "rules" / "pipe.yaml")
        assert wait_for(lambda: logged(workspace, "rules not reloaded"), timeout=10)
        feed_server.routes["/feed.xml"] = Route(rss(feed + items(1, 1)))
        polls = len(feed_server.hits("/feed.xml"))
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= polls + 2, timeout=10)
        assert wait_for(lambda: logged(workspace, "Nvidia story 1"), timeout=10)
    finally:
        log = stop(daemon, workspace)
    assert daemon.returncode == 0, log
    assert "pipe.yaml: cannot read file: not a regular file but a FIFO" in log
    assert log.count("rules not reloaded") == 1 and "Traceback" not in log
