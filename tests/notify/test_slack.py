import asyncio
import json

import pytest

from monitor.notify.slack import SlackConfig, SlackNotifier, blocks, escape
from tests.builders import alert
from tests.servers import SlackReply


def webhook(server, **extra):
    return SlackNotifier(
        SlackConfig(id="slack", type="slack", webhook_url=server.webhook_url, **extra)
    )


def bot(server, **extra):
    config = SlackConfig(
        id="slack",
        type="slack",
        token="xoxb-test-token",
        channel="#trade",
        base_url=server.api_url,
        **extra,
    )
    return SlackNotifier(config)


def send(notifier, a=None):
    return asyncio.run(notifier.send(a or alert()))


def text_of(message):
    return json.dumps(message["blocks"]) + message["text"]


def test_webhook_posts_block_kit_with_fallback_text(slack_server):
    assert send(webhook(slack_server)).ok
    [request] = slack_server.delivered
    message = request["payload"]
    assert (
        message["text"]
        == "[HIGH] Fentanyl-linked tariffs, China: US doubles fentanyl duties on Chinese goods"
    )
    assert message["unfurl_links"] is False
    body = text_of(message)
    assert "<https://x.org/a|US doubles fentanyl duties on Chinese goods>" in body
    assert "The *fentanyl* levy rises." in body
    assert "HIGH" in body and "2025-03-04 21:15 UTC" in body and "wire" in body


def test_bot_token_posts_to_the_channel_with_the_token(slack_server):
    result = send(bot(slack_server))
    assert result.ok and result.ref
    [request] = slack_server.delivered
    assert request["path"] == "/api/chat.postMessage"
    assert request["payload"]["channel"] == "#trade"
    assert request["headers"]["Authorization"] == "Bearer xoxb-test-token"


@pytest.mark.parametrize("make", [webhook, bot], ids=["webhook", "bot"])
def test_article_text_cannot_mention_anyone(slack_server, make):
    hostile = alert(
        title="<!channel> alert <@U123> & <https://evil.example|click>",
        snippet="Ping <!here> and @channel now",
        snippet_marks=((5, 12),),
    )
    assert send(make(slack_server), hostile).ok
    body = text_of(slack_server.delivered[0]["payload"])
    for mention in ("<!channel>", "<@U123>", "<!here>", "<https://evil"):
        assert mention not in body
    assert "&lt;!channel&gt;" in body and "&amp;" in body
    assert "@channel" not in body  # defused with a word joiner


def test_escape():
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"


@pytest.mark.parametrize(
    ("reply", "retry", "retry_after", "error"),
    [
        (SlackReply(429, retry_after="7"), True, 7.0, "rate limited"),
        (SlackReply(500), True, None, "HTTP 500"),
        (SlackReply(503), True, None, "HTTP 503"),
        (SlackReply(404, error="no_service"), False, None, "HTTP 404"),
        (SlackReply(400, error="invalid_payload"), False, None, "invalid_payload"),
    ],
)
def test_webhook_replies_are_classified(slack_server, reply, retry, retry_after, error):
    slack_server.script.append(reply)
    result = send(webhook(slack_server))
    assert (result.ok, result.retry, result.retry_after) == (False, retry, retry_after)
    assert error in result.error
    assert "XXXXSECRET" not in result.error


@pytest.mark.parametrize(
    ("reply", "retry", "error"),
    [
        (SlackReply(200, error="channel_not_found"), False, "channel_not_found"),
        (SlackReply(200, error="invalid_auth"), False, "invalid_auth"),
        (SlackReply(429, retry_after="3"), True, "rate limited"),
        (SlackReply(500), True, "HTTP 500"),
    ],
)
def test_web_api_replies_are_classified(slack_server, reply, retry, error):
    slack_server.script.append(reply)
    result = send(bot(slack_server))
    assert (result.ok, result.retry) == (False, retry)
    assert error in result.error
    assert "xoxb" not in result.error


def test_dropped_connection_is_retried_later(slack_server):
    slack_server.script.append(SlackReply(drop=True))
    result = send(webhook(slack_server))
    assert not result.ok and result.retry


def test_unreachable_slack_is_retried_later(slack_server):
    notifier = webhook(slack_server)
    slack_server.stop()
    result = send(notifier)
    assert not result.ok and result.retry


def test_long_text_stays_within_slack_limits():
    long = alert(title="T" * 5000, snippet="S" * 5000, snippet_marks=())
    for block in blocks(long):
        text = block.get("text", {}).get("text", "") or block["elements"][0]["text"]
        assert len(text) <= 3000


def test_config_needs_channel_with_token_and_is_off_without_secrets():
    with pytest.raises(ValueError, match="needs a `channel`"):
        SlackConfig(id="s", type="slack", token="xoxb-1")
    assert SlackConfig(id="s", type="slack").missing() == ["webhook_url or token"]
    config = SlackConfig(id="s", type="slack", webhook_url="https://hooks.example/T/B/secret")
    assert "secret" not in repr(config) and "secret" not in str(config)


def test_a_whole_message_stays_well_under_slack_limits():
    from monitor.alerts import AlertRule

    many = tuple(AlertRule(f"r{i}", "R" * 300, "high", ("t" * 200,) * 5) for i in range(30))
    huge = alert(title="T" * 20000, snippet="S" * 20000, snippet_marks=((0, 5000),), rules=many)
    message = blocks(huge)
    assert len(message) <= 50
    assert len(json.dumps(message)) < 12000


def test_mentions_come_only_from_rules(slack_server):
    from monitor.alerts import AlertRule

    ruled = alert(
        title="Nvidia <!here>",
        rules=(
            AlertRule("nvidia", "Nvidia", "high", ("nvidia",), mention="here"),
            AlertRule("chips", "Chips", "low", (), mention="S0123ABC"),
        ),
    )
    assert send(webhook(slack_server), ruled).ok
    text = slack_server.delivered[0]["payload"]["text"]
    assert text.startswith("<!here> <!subteam^S0123ABC> ")
    assert text.count("<!here>") == 1  # the headline's own <!here> is escaped
    assert send(webhook(slack_server), alert()).ok
    assert "<!" not in slack_server.delivered[1]["payload"]["text"]


def test_bot_mode_replies_in_the_thread(slack_server):
    notifier = bot(slack_server)
    assert notifier.threads
    assert send(notifier).ok
    asyncio.run(notifier.send(alert(), thread="1700000000.000100"))
    assert slack_server.delivered[1]["payload"]["thread_ts"] == "1700000000.000100"
    assert not webhook(slack_server).threads


def test_retry_after_as_an_http_date(slack_server):
    import time
    from email.utils import formatdate

    slack_server.script.append(
        SlackReply(429, retry_after=formatdate(time.time() + 30, usegmt=True))
    )
    result = send(webhook(slack_server))
    assert 25 <= result.retry_after <= 31


def test_a_reply_that_is_not_slacks_json_is_refused_not_crashed():
    from monitor.notify.http import Reply
    from monitor.notify.slack import classify_api

    for text in ("[" * 100_000, "<html>oops</html>", '"ok"'):
        result = classify_api(Reply(200, text))
        assert (result.ok, result.retry) == (False, False)
        assert "not Slack's JSON" in result.error
