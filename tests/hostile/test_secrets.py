"""Case 6: no secret reaches any output, the database, or a file others can read.

Every secret setting of every notifier and source is given a distinctive value;
the servers they talk to echo what they receive (paths, headers) back as their
error text; then every command's output, the logs (text and JSON), the state
database and its mode are checked.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

from monitor.notify import notifier_types
from monitor.settings import secret_fields
from monitor.sources import source_types
from tests.conftest import cli_command
from tests.servers import Route, SlackReply, SlackServer, running

MARK = "SECRET"  # every secret value below carries it, and nothing else does

# (kind, setting) -> covered by the config below; a new secret setting must be added here
COVERED = {
    ("slack", "webhook_url"),
    ("slack", "token"),
    ("email", "password"),
    ("webhook", "url"),
    ("webhook", "secret"),
    ("webhook", "headers"),
    ("apprise", "urls"),
    ("rss", "url"),
    ("html", "url"),
    ("json", "url"),
    ("json", "headers"),
}


def secret_settings() -> set[tuple[str, str]]:
    """Every setting typed as a secret, in every notifier and source kind."""
    return {
        (kind, name)
        for table in (notifier_types(), source_types())
        for kind, (model, _) in table.items()
        for name in secret_fields(model)
    }


def test_case06_the_test_below_covers_every_secret_setting():
    """Case 6: a new secret setting of any plugin fails here until the leak test gives it a value."""
    assert secret_settings() == COVERED


def notifiers(server: SlackServer, smtp_port: int) -> list[dict[str, object]]:
    return [
        {"id": "hook", "type": "slack", "webhook_url": f"{server.url}/services/{MARK}-hook-path",
         "pace": "0s", "timeout": "5s"},
        {"id": "bot", "type": "slack", "token": f"xoxb-{MARK}-token", "channel": "#desk",
         "base_url": server.api_url, "pace": "0s", "timeout": "5s"},
        {"id": "web", "type": "webhook",
         "url": f"{server.url}/hook/{MARK}-url-path?key={MARK}-url-query",
         "secret": f"{MARK}-hmac-key", "headers": {"X-Api-Key": f"{MARK}-header-value"},
         "timeout": "5s"},
        {"id": "mail", "type": "email", "host": "127.0.0.1", "port": smtp_port,
         "security": "none", "username": "desk", "password": f"{MARK}-smtp-password",
         "to": ["desk@example.org"], "timeout": "5s"},
        {"id": "push", "type": "apprise",
         "urls": [f"json://127.0.0.1:{server.httpd.server_address[1]}/{MARK}-apprise-path"],
         "timeout": "5s"},
    ]  # fmt: skip


def outputs(workspace, *commands: list[str]) -> str:
    text = []
    for command in commands:
        result = subprocess.run(
            cli_command(*command, "--config", str(workspace.config)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        text += [result.stdout, result.stderr]
    return "\n".join(text)


def test_case06_no_secret_in_any_output_log_or_the_database(workspace, feed_server, smtp_server):
    """Case 6: check, run --once (text and JSON logs), status and alerts print no secret, the
    database holds none (servers echoed them into their error replies), and it is private."""
    folder = workspace.articles()
    (folder / "story.txt").write_text("Nvidia wins a licence\n\nNvidia said it won a licence.\n")
    failing = feed_server.add("/feed.xml", Route(b"gone", status=500))
    failing_page = feed_server.add("/news", Route(b"gone", status=500))
    refused = {"errors": f"key {MARK}-json-key and header {MARK}-json-header refused"}
    api = feed_server.add(
        f"/api.json?key={MARK}-json-key",
        Route(json.dumps(refused).encode(), content_type="application/json"),
    )
    with running(SlackServer()) as server:
        server.script.extend(SlackReply(400, echo=True) for _ in range(50))
        workspace.write_config(
            [
                {"id": "drop", "type": "files", "path": str(folder), "settle": "0s",
                 "backfill": "all"},
                {"id": "feed", "type": "rss", "url": f"{failing}?apikey={MARK}-feed-key"},
                {"id": "press", "type": "html", "url": f"{failing_page}?apikey={MARK}-page-key"},
                {"id": "api", "type": "json", "url": api, "items": "results",
                 "headers": {"X-Api-Key": f"{MARK}-json-header"}},
            ],
            notifiers(server, smtp_server.port),
            {"notify": ["hook", "bot", "web", "mail", "push"]},
        )  # fmt: skip
        printed = outputs(
            workspace,
            ["check"],
            ["run", "--once"],
            ["run", "--once", "--log-format", "json"],
            ["status"],
            ["alerts"],
            ["alerts", "--status", "dead"],
        )
        assert server.requests, "the notifiers never reached the server"
        assert any(MARK in str(r["headers"]) + r["path"] for r in server.requests)
    assert "dead" in printed or "pending" in printed  # the alerts and their errors were shown
    assert MARK not in printed, [line for line in printed.splitlines() if MARK in line][:5]
    state = [p for p in workspace.db.parent.iterdir() if p.name.startswith(workspace.db.name)]
    for path in state:
        assert MARK.encode() not in path.read_bytes(), path
    assert workspace.db.stat().st_mode & 0o077 == 0, oct(workspace.db.stat().st_mode)


def test_case06_a_config_error_shows_no_secret(workspace):
    """Case 6: a config with mistakes next to secrets: `check` names the mistakes only."""
    workspace.write_config(
        [],
        [
            {"id": "bot", "type": "slack", "token": f"xoxb-{MARK}-token", "channel": ""},
            {"id": "web", "type": "webhook", "url": f"https://h.example/{MARK}-path",
             "headers": {"X-Key": f"{MARK}-header"}, "timeout": "soon"},
            {"id": "mail", "type": "email", "host": "h", "password": f"{MARK}-pw", "to": "nobody"},
        ],
        {"notify": ["bot"]},
    )  # fmt: skip
    printed = outputs(workspace, ["check"], ["run", "--once"])
    assert "needs a `channel`" in printed and "timeout" in printed
    assert MARK not in printed, [line for line in printed.splitlines() if MARK in line][:5]
    assert not Path(workspace.db).exists()


def test_case06_a_secret_echoed_escaped_or_encoded_is_hidden_too():
    """Case 6: a peer answering with the request path JSON-escaped (`\\/hook\\/...`) or
    percent-encoded got the webhook path into the outbox and the log."""
    from monitor.logs import Secrets
    from monitor.notify.webhook import WebhookConfig
    from monitor.settings import secret_values

    url = f"https://h.example/hook/{MARK}-path?key={MARK}-query"
    config = WebhookConfig(id="w", type="webhook", url=url)
    secrets = secret_values(config)
    for echoed in (json.dumps({"path": url}), quote(url, safe=""), json.dumps(url.split("?")[0])):
        assert MARK not in Secrets(secrets).hide(echoed), echoed


def test_case06_a_token_in_the_host_part_of_a_service_url_is_hidden():
    """Case 6: in Apprise URLs such as tgram://<bot token>/<chat>, the token is the 'host'."""
    from monitor.logs import Secrets
    from monitor.notify.apprise import AppriseConfig
    from monitor.settings import secret_values

    token = f"123456:{MARK}-bot-token"
    config = AppriseConfig(id="a", type="apprise", urls=[f"tgram://{token}/-100200300"])
    hidden = Secrets(secret_values(config)).hide(f"Telegram said: bad token {token}")
    assert MARK not in hidden
