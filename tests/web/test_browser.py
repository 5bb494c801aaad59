"""The web page in a real browser (Debian's chromium, driven by playwright) on the real
daemon (`trade-monitor run` with `http:`) over a store seeded through the pipeline.

Skips where chromium or playwright is missing, except under CI (CI=true), where that
fails: .ci/run installs chromium. Screenshots of each page go to the module's temp
folder; `TRADE_MONITOR_SCREENSHOTS=docs/screenshots pytest tests/web/test_browser.py`
writes the docs' copies (docs/web.md).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import start_daemon, stop, wait_for
from tests.conftest import FENTANYL_RULE, NVIDIA_RULE, ROOT, Workspace, free_port
from tests.servers import FeedServer
from tests.web.conftest import Client
from tests.web.seed import SCRIPT_TITLE, TOKEN, seed

CHROMIUM = "/usr/bin/chromium"
DOCS = ("alerts", "sources", "rules", "playground")  # docs/screenshots/: one a page
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser(daemon) -> Iterator[object]:
    """Chromium, launched after the daemon's store is seeded: playwright's sync API runs an
    event loop in this thread, where the seeding's asyncio.run could not."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests need chromium under CI=true: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The real daemon with `http:` on a free port over a seeded store: (base URL, shots)."""
    root = tmp_path_factory.mktemp("browser")
    workspace = Workspace(root)
    workspace.write_rule("nvidia", NVIDIA_RULE)
    workspace.write_rule("fentanyl", FENTANYL_RULE)
    server = FeedServer().start()
    seed(workspace, server, TOKEN)
    port = free_port()
    with workspace.config.open("a") as config:
        config.write(f"http: 127.0.0.1:{port}\n")
    process = start_daemon(workspace)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _up(Client(base))), "the daemon's page did not come up"
        yield base, root / "screenshots"
    finally:
        stop(process)
        server.stop()


def _up(client: Client) -> bool:
    try:
        return client.get("/healthz").status == 200
    except OSError:
        return False


@pytest.fixture
def page(browser, daemon):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    yield opened
    context.close()
    assert not dialogs, f"a script ran: {dialogs}"


def shoot(page, daemon, name: str) -> None:
    """A screenshot in the module's temp folder, and in the docs' folder when asked for."""
    folder = daemon[1]
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)
    if (docs := os.environ.get("TRADE_MONITOR_SCREENSHOTS")) and name in DOCS:
        target = ROOT / docs if not Path(docs).is_absolute() else Path(docs)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / f"{name}.png", target / f"{name}.png")


def test_filter_the_alerts_and_open_one(page, daemon):
    base, _ = daemon
    page.goto(f"{base}/alerts")
    assert page.locator("li.alert").count() == 7
    shoot(page, daemon, "alerts")
    page.select_option("select[name=rule]", "fentanyl-tariffs")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/alerts?rule=fentanyl-tariffs*")
    assert page.locator("li.alert").count() == 2
    page.locator("li.alert .meta a").first.click()
    page.wait_for_url("**/alerts/*")
    marks = page.locator("h1.alert-title mark").all_inner_texts()
    assert "fentanyl" in [m.lower() for m in marks]
    assert page.locator("blockquote.snippet mark").count() >= 1
    shoot(page, daemon, "alert")


def test_a_script_headline_is_inert_text(page, daemon):
    base, _ = daemon
    page.goto(f"{base}/alerts?rule=nvidia")
    title = page.locator("li.alert .title", has_text="Nvidia export curbs")
    assert title.inner_text().startswith('<script>alert("pwned")</script>')
    assert page.locator("li.alert .title script").count() == 0
    assert page.locator("script").count() == 0  # the page itself has none; an alert() would
    assert SCRIPT_TITLE.startswith(title.inner_text()[:30])  # be a dialog: `page` checks that


def test_retry_a_dead_alert_with_the_token_and_be_refused_without(page, daemon):
    base, _ = daemon
    page.goto(f"{base}/alerts?state=dead")
    page.locator("li.alert .meta a").first.click()
    page.wait_for_url("**/alerts/*")
    alert_url = page.url
    form = page.locator("form.retry").first
    form.locator("input[name=token]").fill("not-the-token")
    form.locator("button").click()
    assert "wrong or missing token" in page.locator("p.problem").inner_text()
    page.goto(alert_url)
    assert page.locator(".state.dead").count() >= 1
    form = page.locator("form.retry").first
    form.locator("input[name=token]").fill(TOKEN)
    form.locator("button").click()
    page.wait_for_url("**retried=1")
    assert "Queued again" in page.inner_text("main")
    assert TOKEN not in page.content()


def test_playground_query_matches_and_a_broken_one_shows_its_error(page, daemon):
    base, _ = daemon
    page.goto(f"{base}/playground")
    page.fill("#query", "fentanyl NEAR/5 (tariff* OR duties)")
    page.wait_for_selector("#live.ok")  # the live check, as typed
    page.fill("#text", "Mexico answers\nThe fentanyl duties double from Monday.")
    page.fill("input[name=days]", "7")
    page.click("button:has-text('Run')")
    page.wait_for_selector("h2.verdict")
    assert page.inner_text("h2.verdict") == "Matches"
    assert page.locator("p.field mark").all_inner_texts() == ["fentanyl", "duties"]
    assert "2 of 7 stored articles match" in page.inner_text("h2.backtest")
    shoot(page, daemon, "playground")
    page.fill("#query", "fentanyl NEAR/x duties")
    page.wait_for_selector("#live.bad .problem")
    live = page.inner_text("#live")
    assert "query:1:10:" in live and "^" in live


def test_sources_and_rules_pages(page, daemon):
    base, _ = daemon
    page.goto(f"{base}/sources")
    assert page.locator("table.sources svg.chart").count() == 1
    shoot(page, daemon, "sources")
    page.goto(f"{base}/rules")
    assert page.locator("section.rule").count() == 2
    shoot(page, daemon, "rules")
    for name in ("alerts", "alert", "sources", "rules", "playground"):
        assert (daemon[1] / f"{name}.png").stat().st_size > 5000
