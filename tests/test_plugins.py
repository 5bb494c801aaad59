"""Plugins: docs/plugins.md's example notifier, installed as a distribution (a *.dist-info
with METADATA and entry_points.txt, as pip lays it out) and loaded through its entry point;
a broken plugin and one that takes a built-in's name are left out with a warning, never a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import UserError
from monitor.notify import NOTIFIERS, build_notifier, notifier_types
from monitor.notify.slack import SlackConfig
from monitor.sources import SOURCES, source_types
from monitor.sources.rss import RssConfig
from tests.builders import alert, dispatcher, queue
from tests.conftest import ROOT, cli_command

DOC = (ROOT / "docs" / "plugins.md").read_text()
EXAMPLE = re.search(r"```python\n(.*?)```", DOC, re.DOTALL).group(1)
PYPROJECT = tomllib.loads(
    textwrap.dedent(re.search(r"\n( *)```toml\n(.*?)\n *```", DOC, re.DOTALL).group(2))
)
EXAMPLE_ENTRY_POINTS = PYPROJECT["project"]["entry-points"]
MODULES = ("trade_monitor_jsonl", "trade_monitor_broken")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path to install distributions into; the registries forget them after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    NOTIFIERS.refresh()
    SOURCES.refresh()
    yield folder
    NOTIFIERS.refresh()
    SOURCES.refresh()
    for name in MODULES:
        sys.modules.pop(name, None)


def install(site: Path, dist: str, modules: dict[str, str], entry_points: dict) -> None:
    """Lay out a distribution as pip installs it: its modules and a *.dist-info."""
    for name, code in modules.items():
        (site / f"{name}.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in names.items())
            for group, names in entry_points.items()
        )
    )


def install_example(site: Path) -> None:
    install(site, "trade-monitor-jsonl", {"trade_monitor_jsonl": EXAMPLE}, EXAMPLE_ENTRY_POINTS)


def test_the_documented_example_is_about_40_lines_and_names_its_entry_point():
    assert len(EXAMPLE.strip().splitlines()) <= 45
    assert EXAMPLE_ENTRY_POINTS == {
        "trade_monitor.notifiers": {"jsonl": "trade_monitor_jsonl:plugin"}
    }


def test_the_example_plugin_delivers_through_the_daemon(site, workspace):
    install_example(site)
    (workspace.articles() / "a.txt").write_text("Nvidia sells more chips\n\nNvidia said so.")
    out = workspace.root / "alerts.jsonl"
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles", "backfill": "all", "settle": "0s"}],
        [{"id": "archive", "type": "jsonl", "path": str(out)}],
        {"notify": ["archive"]},
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    run = subprocess.run(
        cli_command("run", "--once", "--config", str(workspace.config)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    [line] = out.read_text().splitlines()
    assert json.loads(line) == {"title": "Nvidia sells more chips", "url": "", "severity": "medium"}


def test_the_example_plugin_through_config_and_dispatcher(site, workspace, store):
    install_example(site)
    out = workspace.root / "alerts.jsonl"
    workspace.write_config(
        [], [{"id": "archive", "type": "jsonl", "path": str(out)}], {"notify": ["archive"]}
    )
    [config] = load_config(workspace.config).notifiers
    assert type(config).__name__ == "JsonlConfig"
    assert build_notifier(config).id == "archive"
    queue(store, alert(notifier_id="archive", title="Tariffs on steel"))
    assert asyncio.run(dispatcher(store, config).dispatch())
    assert json.loads(out.read_text())["title"] == "Tariffs on steel"


def test_a_plugin_missing_its_required_setting_is_switched_off(site, workspace):
    install_example(site)
    workspace.write_config([], [{"id": "archive", "type": "jsonl"}], {"notify": ["archive"]})
    assert load_config(workspace.config).disabled == {"archive": ["path"]}


def test_a_broken_plugin_is_a_clear_config_error_never_a_crash(site, workspace, caplog):
    install(
        site,
        "trade-monitor-broken",
        {"trade_monitor_broken": "import no_such_module_for_trade_monitor\n"},
        {"trade_monitor.notifiers": {"broken": "trade_monitor_broken:plugin"}},
    )
    caplog.set_level(logging.WARNING)
    workspace.write_config([], [{"id": "console", "type": "console"}])
    assert load_config(workspace.config).notifiers[0].type == "console"  # the rest works
    assert "distribution trade-monitor-broken 1.0" in caplog.text
    assert "ModuleNotFoundError" in caplog.text

    workspace.write_config([], [{"id": "b", "type": "broken"}], {"notify": ["b"]})
    with pytest.raises(UserError) as error:
        load_config(workspace.config)
    text = str(error.value)
    assert "unknown type 'broken'" in text
    assert "types: console, slack, email, webhook, apprise" in text
    assert "distribution trade-monitor-broken 1.0" in text and "ModuleNotFoundError" in text


def test_an_object_that_is_not_a_plugin_is_left_out(site, caplog):
    install(site, "trade-monitor-odd", {}, {"trade_monitor.notifiers": {"odd": "json:dumps"}})
    caplog.set_level(logging.WARNING)
    assert "odd" not in notifier_types()
    assert "distribution trade-monitor-odd 1.0" in caplog.text
    assert "is not a plugin" in NOTIFIERS.failure("odd")


def test_a_plugin_cannot_take_a_built_in_name(site, caplog):
    install_example(site)
    install(
        site,
        "trade-monitor-impostor",
        {},
        {
            "trade_monitor.notifiers": {"slack": "trade_monitor_jsonl:plugin"},
            "trade_monitor.sources": {"rss": "trade_monitor_jsonl:plugin"},
        },
    )
    caplog.set_level(logging.WARNING)
    assert notifier_types()["slack"].config is SlackConfig
    assert source_types()["rss"].config is RssConfig
    assert "jsonl" in notifier_types()  # the example, under its own name, still loads
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("`slack`" in w and "trade-monitor-impostor" in w for w in warnings), warnings
    assert any("`rss`" in w and "trade-monitor-impostor" in w for w in warnings), warnings
