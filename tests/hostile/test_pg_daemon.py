"""Hostile input: a daemon on PostgreSQL with an empty list (no sources, no notifiers)."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from monitor.cli.common import load_all
from monitor.daemon import Daemon


def _config(workspace, url, sources, notifiers):
    workspace.write_config([])
    data = yaml.safe_load(workspace.config.read_text())
    data.update(state=url, sources=sources, notifiers=notifiers)
    data["defaults"]["notify"] = [n["id"] for n in notifiers]
    workspace.config.write_text(yaml.safe_dump(data))
    return load_all(workspace.config)


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request):
    if request.param == "sqlite":
        return "sqlite:///state/monitor.db"
    return request.getfixturevalue("postgres_url")


def test_daemon_starts_with_no_notifiers(workspace, state_url):
    config, rules = _config(workspace, state_url, [], [])
    daemon = Daemon(config, rules)  # PG: orphans_dead([]) -> "NOT IN ()": syntax error
    asyncio.run(daemon.close())


def test_retention_runs_with_no_sources(workspace, state_url):
    config, rules = _config(workspace, state_url, [], [{"id": "console", "type": "console"}])
    daemon = Daemon(config, rules)

    async def go():
        try:
            await daemon._forget()  # PG: forget_sources(kept=[]) -> "NOT IN ()": syntax error
        finally:
            await daemon.close()

    asyncio.run(go())


def test_a_daemon_starting_does_not_kill_alerts_another_daemon_sends(workspace, postgres_url):
    """Rolling out a new notifier to daemons sharing one database: a daemon still on the
    old config (restarted by systemd, or started first) marks every pending alert of the
    new notifier dead at start (outbox.orphans_dead), while the upgraded
    daemons are there to send them."""
    from monitor.store import open_store
    from tests.builders import alert, queue

    store = open_store(postgres_url, workspace.root)
    queue(store, alert(article_id="p1", notifier_id="pager"))  # an upgraded daemon queued it
    config, rules = _config(workspace, postgres_url, [], [{"id": "console", "type": "console"}])
    old = Daemon(config, rules)
    asyncio.run(old.close())
    assert store.outbox.counts()["pending"] == 1, store.outbox.counts()
    store.close()
