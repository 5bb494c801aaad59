import asyncio

from monitor.notify.http import REPLY_CAP, post
from tests.servers import SlackReply


def test_a_huge_reply_is_read_only_up_to_the_cap(slack_server):
    slack_server.script.append(SlackReply(400, error="x" * (5 * REPLY_CAP)))
    reply = asyncio.run(post(slack_server.url + "/services/a", b"{}", {}, 5.0))
    assert reply.status == 400
    assert reply.text == "x" * REPLY_CAP


def test_a_redirect_is_answered_not_followed(slack_server):
    slack_server.script.append(SlackReply(302, redirect_to="https://elsewhere.example/x"))
    reply = asyncio.run(post(slack_server.url + "/services/a", b"{}", {}, 5.0))
    assert (reply.status, reply.location) == (302, "https://elsewhere.example/x")
    assert len(slack_server.requests) == 1
