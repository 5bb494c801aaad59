import asyncio
import hashlib
import hmac
import subprocess

import pytest

from monitor.notify.apprise import AppriseConfig, AppriseNotifier
from monitor.notify.webhook import SCHEMA, WebhookConfig, WebhookNotifier
from tests.builders import alert
from tests.conftest import cli_command
from tests.servers import SlackReply


def webhook(server, **extra):
    return WebhookNotifier(
        WebhookConfig(id="hook", type="webhook", url=server.url + "/ingest", **extra)
    )


def test_posts_the_documented_json_schema(slack_server):
    result = asyncio.run(webhook(slack_server).send(alert(), thread="hook:first"))
    assert result.ok
    [request] = slack_server.delivered
    body = request["payload"]
    assert body["schema"] == SCHEMA and body["kind"] == "alert"
    assert body["title"] == "US doubles fentanyl duties\non Chinese goods"
    assert body["severity"] == "high"
    assert body["rules"][0] == {
        "id": "fentanyl-tariffs", "title": "Fentanyl-linked tariffs", "severity": "high",
        "terms": ["fentanyl"],
    }  # fmt: skip
    assert body["snippet"][slice(*body["highlights"][0])] == "fentanyl"
    assert body["in_reply_to"] == "hook:first"
    assert request["headers"]["X-Trade-Monitor-Delivery"] == result.ref == "console:a1"
    assert "X-Trade-Monitor-Signature" not in request["headers"]


def test_hmac_signature_verifies_with_the_shared_secret(slack_server):
    assert asyncio.run(webhook(slack_server, secret="shh-shared").send(alert())).ok
    [request] = slack_server.delivered
    timestamp = request["headers"]["X-Trade-Monitor-Timestamp"]
    expected = hmac.new(b"shh-shared", timestamp.encode() + b"." + request["raw"], hashlib.sha256)
    assert request["headers"]["X-Trade-Monitor-Signature"] == "sha256=" + expected.hexdigest()


@pytest.mark.parametrize(
    ("reply", "retry", "after"),
    [(SlackReply(429, retry_after="5"), True, 5.0), (SlackReply(502), True, None),
     (SlackReply(410), False, None)],
)  # fmt: skip
def test_replies_are_classified(slack_server, reply, retry, after):
    slack_server.script.append(reply)
    result = asyncio.run(webhook(slack_server).send(alert()))
    assert (result.ok, result.retry, result.retry_after) == (False, retry, after)


def test_unreachable_is_retried(slack_server):
    notifier = webhook(slack_server)
    slack_server.stop()
    assert asyncio.run(notifier.send(alert())).retry


def test_apprise_delivers_through_its_json_url(slack_server):
    target = slack_server.url.replace("http://", "json://") + "/apprise"
    notifier = AppriseNotifier(AppriseConfig(id="teams", type="apprise", urls=[target]))
    assert asyncio.run(notifier.send(alert())).ok
    [request] = slack_server.delivered
    assert request["path"] == "/apprise"
    assert "Fentanyl-linked tariffs" in request["payload"]["title"]
    assert (
        "[US doubles fentanyl duties on Chinese goods](https://x.org/a)"
        in request["payload"]["message"]
    )


def test_apprise_failure_is_retried(slack_server):
    slack_server.script.append(SlackReply(500))
    target = slack_server.url.replace("http://", "json://") + "/apprise"
    notifier = AppriseNotifier(AppriseConfig(id="teams", type="apprise", urls=[target]))
    result = asyncio.run(notifier.send(alert()))
    assert not result.ok and result.retry


def test_secrets_are_masked_and_empty_settings_switch_off():
    config = WebhookConfig(id="h", type="webhook", url="https://hooks.example/tok123", secret="k")
    assert "tok123" not in repr(config)
    assert WebhookConfig(id="h", type="webhook").missing() == ["url"]
    assert AppriseConfig(id="a", type="apprise").missing() == ["urls"]


def test_headers_are_sent_and_typed_as_secrets(slack_server):
    notifier = webhook(slack_server, headers={"Authorization": "Bearer hdr-123456"})
    assert "hdr-123456" not in repr(notifier.config)
    assert asyncio.run(notifier.send(alert())).ok
    assert slack_server.delivered[0]["headers"]["Authorization"] == "Bearer hdr-123456"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("Authorization", "Bearer hdr-tok-9f8e7d\r\nX-Evil: 1", "a header value may hold only"),
        ("X-Api-Key", "hdr-clé-secrète-42", "a header value may hold only"),
        ("X-Api-Key", "hdr-tok-9f8e7d\x00", "a header value may hold only"),
        ("X Api Key", "hdr-tok-9f8e7d", "a header name may hold only"),
        ("X-Api-Key:", "hdr-tok-9f8e7d", "a header name may hold only"),
    ],
)
def test_bad_header_names_and_values_fail_check_without_showing_the_value(
    workspace, name, value, problem
):
    """Case 13: a CR/LF or non-ASCII header passed `check`, then every send failed for a day."""
    hook = {"id": "hook", "type": "webhook", "url": "https://x.example/h", "headers": {name: value}}
    workspace.write_config([], [{"id": "console", "type": "console"}, hook])
    result = subprocess.run(
        cli_command("check", "--config", str(workspace.config)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"notifiers[1].headers.{name}: {problem}" in result.stderr
    output = result.stdout + result.stderr
    assert "hdr-" not in output and "9f8e7d" not in output and "secrète" not in output


def test_ordinary_header_names_and_values_pass():
    """Case 13: tokens with punctuation, and values with spaces and tabs, are fine."""
    headers = {"X-Api_Key.1!#$%&'*+^`|~": 'Bearer a\tb ~!"=/'}
    config = WebhookConfig(id="h", type="webhook", url="https://x.example/h", headers=headers)
    assert list(config.headers) == list(headers)
