"""A real store for the web page's tests, filled through the real pipeline.

A feed on the test feed server, the Nvidia and fentanyl rules, and two notifiers:
the console (its alerts are sent) and a webhook to a port where nothing listens
(its alerts wait to retry, with the error). The webhook is then taken out of the
config and the daemon started once more: its alerts go dead, with the reason.
Among the items, one headline carries a <script> tag.
"""

from __future__ import annotations

from tests.builders import feed_source, items, run_once
from tests.conftest import Workspace
from tests.servers import FeedServer, Route, rss

SCRIPT_TITLE = '<script>alert("pwned")</script> Nvidia export curbs'
TOKEN = "web-token-9f8e7d6c5b4a"


def feed_items():
    listed = items(0, 4)
    listed.append({
        "title": "US doubles fentanyl duties on Chinese goods",
        "link": "https://news.example/fentanyl",
        "guid": "fent",
        "description": "The fentanyl levies rise again, the duties double.",
    })  # fmt: skip
    listed.append({
        "title": _escaped(_escaped(SCRIPT_TITLE)),  # the feed's text is HTML: this is text
        "link": "https://news.example/script",
        "guid": "script",
        "description": "Nvidia faces new curbs.",
    })  # fmt: skip
    return listed


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def later_items():
    return [{
        "title": "Fentanyl tariffs: Mexico answers the duties",
        "link": "https://news.example/mexico",
        "guid": "mexico",
        "description": "Officials said the fentanyl tariffs would be met with duties of their own.",
    }]  # fmt: skip


def seed(workspace: Workspace, feed_server: FeedServer, token: str | None = TOKEN) -> None:
    """Poll the feed once (alerts to console sent, to the webhook retrying), then drop the
    webhook: a second start marks its alerts dead; a new item then goes to the console and
    to a pager that cannot be reached (retrying, with the last error)."""
    url = feed_server.add("/feed.xml", Route(rss(feed_items())))
    source = feed_source(url, backfill="all")
    hook = {"id": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}
    console = {"id": "console", "type": "console"}
    workspace.write_config([source], [console, hook], {"notify": ["console", "hook"]})
    run_once(workspace)
    feed_server.add("/feed.xml", Route(rss(feed_items() + later_items())))
    pager = {"id": "pager", "type": "webhook", "url": "http://127.0.0.1:9/pager"}
    workspace.write_config([source], [console, pager], {"notify": ["console", "pager"]})
    if token:
        with workspace.config.open("a") as config:
            config.write(f"web:\n  token: {token}\n")
    run_once(workspace)
