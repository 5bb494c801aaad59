"""No floods, no repeats: story clusters, threads, cooldowns, caps, digests, gaps."""

from __future__ import annotations

import logging
import time

import pytest

from monitor.cluster import article_text, same_story, shingles, sketch, story_key
from monitor.store import open_store
from tests.builders import feed_source, run_once
from tests.servers import Route, SlackReply, rss

BODY = (
    "Nvidia has told several component suppliers to suspend work on its H20 processor,"
    " according to people familiar with the matter, after regulators in Beijing urged"
    " local technology companies to avoid buying the chip over security concerns raised"
    " in recent weeks by state media and the cyberspace administration."
)


def story(i, title, body=BODY, guid=None):
    return {
        "title": title,
        "link": f"https://news.example/{i}",
        "guid": guid or f"g{i}",
        "description": body,
    }


def bot(server, **extra):
    return {
        "id": "slack", "type": "slack", "token": "xoxb-test", "channel": "#desk",
        "base_url": server.api_url, "pace": "0s", **extra,
    }  # fmt: skip


def hook(server, **extra):
    return {
        "id": "slack",
        "type": "slack",
        "webhook_url": server.webhook_url,
        "pace": "0s",
        **extra,
    }


def setup(workspace, feed_server, notifier, rule=None):
    if rule:
        workspace.write_rule("nvidia", rule)
    url = feed_server.add("/feed.xml", Route(rss([])))
    workspace.write_config([feed_source(url, backfill="all")], [notifier], {"notify": ["slack"]})


def publish(feed_server, items):
    feed_server.routes["/feed.xml"] = Route(rss(items))


def rows(workspace):
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        return sorted(store.outbox.recent(100), key=lambda r: r.id)
    finally:
        store.close()


def age_alerts(workspace, seconds):
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    store.db.execute("UPDATE outbox SET created_at = created_at - ?", (seconds,))
    store.close()


# ---- clusters ------------------------------------------------------------------------------


def test_story_key_drops_update_markers():
    base = story_key("Nvidia Asks Suppliers to Pause H20 Work")
    for title in (
        "Nvidia Asks Suppliers to Pause H20 Work -- 2nd Update",
        "Nvidia Asks Suppliers to Pause H20 Work -- Update",
        "UPDATE 1-Nvidia asks suppliers to pause H20 work",
        "Nvidia asks suppliers to pause H20 work (Updated)",
    ):
        assert story_key(title) == base, title
    assert story_key("Markets") == ""  # too short to trust


def test_sketches_find_the_same_story_with_small_edits():
    from monitor.article import Article

    def values(a: Article) -> set[int]:
        return set(sketch(shingles(article_text(a))))

    one = Article("a", title="Nvidia pauses H20", body=BODY)
    copy = Article("b", title="Nvidia pauses H20 work", body=BODY.replace("several", "some"))
    other = Article("c", title="Soybeans", body=" ".join(reversed(BODY.split())))
    assert values(one) & values(copy)
    assert same_story(article_text(one), article_text(copy))
    assert not same_story(article_text(one), article_text(other))
    assert values(Article("d", title="Short", body="Too short.")) == set()


def test_an_update_goes_into_the_first_alerts_slack_thread(workspace, feed_server, slack_server):
    setup(workspace, feed_server, bot(slack_server))
    first = story(1, "Nvidia Asks Suppliers to Pause H20 Work")
    publish(feed_server, [first])
    run_once(workspace)
    publish(feed_server, [first, story(2, "Nvidia Asks Suppliers to Pause H20 Work -- 2nd Update",
                                       body="Shares fell 2% after the report.")])  # fmt: skip
    run_once(workspace)
    top, update = slack_server.delivered
    assert "thread_ts" not in top["payload"]
    assert update["payload"]["thread_ts"]
    [top_row, update_row] = rows(workspace)
    assert update_row.parent_id == top_row.id and update_row.cluster_id == top_row.cluster_id


def test_a_syndicated_copy_joins_the_cluster_and_is_suppressed_for_a_webhook(
    workspace, feed_server, slack_server
):
    setup(workspace, feed_server, hook(slack_server))
    first = story(1, "Nvidia pauses H20 work")
    publish(feed_server, [first])
    run_once(workspace)
    copy = story(2, "Chipmaker halts work on China-bound processor", body=BODY + " Reuters.")
    publish(feed_server, [first, copy])
    run_once(workspace)
    assert len(slack_server.delivered) == 1
    top, suppressed = rows(workspace)
    assert suppressed.status == "suppressed" and suppressed.parent_id == top.id
    assert "no thread" in suppressed.note


def test_a_new_rule_on_the_same_story_is_a_new_top_level_alert(
    workspace, feed_server, slack_server
):
    setup(workspace, feed_server, bot(slack_server))
    first = story(1, "Nvidia pauses H20 work")
    publish(feed_server, [first])
    run_once(workspace)
    tariff = story(2, "Nvidia pauses H20 work -- Update", body=BODY + " Fentanyl tariffs rose too.")
    publish(feed_server, [first, tariff])
    run_once(workspace)
    _, second = slack_server.delivered
    assert "thread_ts" not in second["payload"]
    assert "Fentanyl-linked tariffs" in second["payload"]["text"]


def test_an_update_inside_the_cooldown_is_suppressed_even_with_threads(
    workspace, feed_server, slack_server
):
    rule = "id: nvidia\ntitle: Nvidia\nquery: nvidia\ncooldown: 6h\n"
    setup(workspace, feed_server, bot(slack_server), rule)
    first = story(1, "Nvidia Asks Suppliers to Pause H20 Work")
    publish(feed_server, [first])
    run_once(workspace)
    publish(feed_server, [first, story(2, "Nvidia Asks Suppliers to Pause H20 Work -- Update")])
    run_once(workspace)
    assert len(slack_server.delivered) == 1
    assert rows(workspace)[1].note.startswith("cooldown")


def test_email_updates_reply_in_the_same_thread(workspace, feed_server, smtp_server):
    mail = {"id": "slack", "type": "email", "host": smtp_server.host, "port": smtp_server.port,
            "security": "none", "to": ["desk@example.org"]}  # fmt: skip
    setup(workspace, feed_server, mail)
    first = story(1, "Nvidia Asks Suppliers to Pause H20 Work")
    publish(feed_server, [first])
    run_once(workspace)
    publish(feed_server, [first, story(2, "Nvidia Asks Suppliers to Pause H20 Work -- Update")])
    run_once(workspace)
    top, reply = smtp_server.mailbox.messages
    assert reply["In-Reply-To"] == top["Message-ID"] == reply["References"]
    assert reply["Subject"].strip().startswith("Re: ")
    assert top["List-Id"] == reply["List-Id"] == "trade-monitor alerts <slack.trade-monitor>"


# ---- caps and digests -----------------------------------------------------------------------


def distinct(count, start=0):
    topics = ["soybeans", "steel", "lithium", "copper", "shipping", "aluminium", "canola", "pork"]
    return [
        story(i, f"Nvidia and {topics[i % len(topics)]} story number {i}", body=f"Nvidia {i}.")
        for i in range(start, start + count)
    ]


def test_max_per_hour_holds_the_rest_for_one_summary(workspace, feed_server, slack_server):
    rule = "id: nvidia\ntitle: Nvidia\nquery: nvidia\nmax_per_hour: 2\n"
    setup(workspace, feed_server, hook(slack_server), rule)
    publish(feed_server, distinct(5))
    run_once(workspace)
    assert len(slack_server.delivered) == 2
    assert [r.status for r in rows(workspace)].count("held") == 3
    run_once(workspace)  # within the hour: still held
    assert len(slack_server.delivered) == 2
    age_alerts(workspace, 3700)
    run_once(workspace)
    summary = slack_server.delivered[2]["payload"]
    assert "3 more matches for Nvidia in the last hour" in summary["text"]
    blocks = str(summary["blocks"])
    assert blocks.count("https://news.example/") == 3
    statuses = [r.status for r in rows(workspace)]
    assert statuses.count("grouped") == 3 and statuses.count("sent") == 3


def test_a_digest_notifier_sends_one_message_per_period(workspace, feed_server, smtp_server):
    workspace.write_rule("other", "id: other\ntitle: Steel\nquery: steel\n")
    mail = {"id": "slack", "type": "email", "host": smtp_server.host, "port": smtp_server.port,
            "security": "none", "to": ["desk@example.org"], "digest": "0 8 * * *"}  # fmt: skip
    setup(workspace, feed_server, mail)
    publish(feed_server, distinct(3))
    run_once(workspace)
    assert smtp_server.mailbox.messages == []
    age_alerts(workspace, 2 * 86400)
    run_once(workspace)
    [digest] = smtp_server.mailbox.messages
    assert digest["Subject"] == "[MEDIUM] Digest: 3 alerts"
    html = digest.get_body(("html",)).get_content()
    assert "<h3>Nvidia</h3>" in html and html.count("<li>") == 3


def test_a_rule_digest_in_slack_has_a_section_per_rule(workspace, feed_server, slack_server):
    rule = 'id: nvidia\ntitle: Nvidia\nquery: nvidia\ndigest: "0 8 * * 1-5"\n'
    setup(workspace, feed_server, hook(slack_server), rule)
    publish(feed_server, distinct(2))
    run_once(workspace)
    age_alerts(workspace, 7 * 86400)
    run_once(workspace)
    [digest] = slack_server.delivered
    sections = [b for b in digest["payload"]["blocks"] if b["type"] == "section"]
    assert sections[0]["text"]["text"] == "*Digest: 2 alerts*"
    assert sections[1]["text"]["text"].startswith("*Nvidia*")


def test_a_bad_cron_is_a_config_error(workspace):
    workspace.write_rule("bad", 'id: bad\nquery: x\ndigest: "every morning"\n')
    workspace.write_config([])
    from monitor.cli import load_all
    from monitor.errors import UserError

    with pytest.raises(UserError) as info:
        load_all(workspace.config)
    assert any("cron expression" in p.message for p in info.value.problems)


# ---- no floods, no gaps ---------------------------------------------------------------------


def test_a_poll_where_everything_is_new_warns_of_a_gap(
    workspace, feed_server, slack_server, caplog
):
    setup(workspace, feed_server, hook(slack_server))
    publish(feed_server, distinct(6))
    run_once(workspace)
    caplog.set_level(logging.WARNING)
    publish(feed_server, distinct(6, start=10))
    run_once(workspace)
    [warning] = [r for r in caplog.records if "items may have been missed" in r.message]
    assert "poll every" in warning.message


def test_a_source_back_from_an_outage_alerts_only_on_what_it_missed(
    workspace, feed_server, slack_server
):
    url = feed_server.add("/feed.xml", Route(rss(distinct(3))))
    workspace.write_config([feed_source(url)], [hook(slack_server)], {"notify": ["slack"]})
    run_once(workspace)  # backfill none: recorded, not alerted
    feed_server.routes["/feed.xml"] = Route(b"down", status=503)
    for _ in range(3):
        run_once(workspace)
    publish(feed_server, distinct(5))
    run_once(workspace)
    assert sorted(r["payload"]["text"] for r in slack_server.delivered) == [
        "[MEDIUM] Nvidia: Nvidia and copper story number 3",
        "[MEDIUM] Nvidia: Nvidia and shipping story number 4",
    ]


def test_identity_survives_reordering_republishing_and_changing_guids(
    workspace, feed_server, slack_server
):
    setup(workspace, feed_server, hook(slack_server))
    items = distinct(3)
    publish(feed_server, items)
    run_once(workspace)
    reordered = [items[2], items[0], {**items[1], "guid": "new-guid-for-same-link"}]
    publish(feed_server, reordered)
    run_once(workspace)
    assert len(slack_server.delivered) == 3


def test_a_guid_reused_for_a_different_story_is_not_lost(workspace, feed_server, slack_server):
    setup(workspace, feed_server, hook(slack_server))
    publish(feed_server, [story(1, "Nvidia first story", body="Nvidia one.", guid="latest")])
    run_once(workspace)
    publish(feed_server, [story(2, "Nvidia second story", body="Nvidia two.", guid="latest")])
    run_once(workspace)
    assert len(slack_server.delivered) == 2


def test_seen_items_are_remembered_by_time_not_count(workspace, feed_server, slack_server):
    setup(workspace, feed_server, hook(slack_server))
    publish(feed_server, distinct(2))
    run_once(workspace)
    publish(feed_server, distinct(1, start=1))  # story 0 leaves the feed
    run_once(workspace)
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    store.db.execute("UPDATE articles SET last_seen_at = ? WHERE title LIKE '%number 0'", (0,))
    assert store.forget(time.time() - 90 * 86400) == 1
    assert store.article_count() == 1
    store.close()


def test_outbox_statuses_show_in_the_alerts_command(workspace, feed_server, slack_server):
    import subprocess

    from tests.conftest import ROOT, cli_command

    setup(workspace, feed_server, hook(slack_server))
    first = story(1, "Nvidia pauses H20 work")
    publish(feed_server, [first, story(2, "Nvidia pauses H20 work -- Update")])
    slack_server.script.append(SlackReply(404, error="no_service"))
    run_once(workspace)
    out = subprocess.run(
        cli_command("alerts", "--config", str(workspace.config)),
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert "dead" in out and "no_service" in out
    assert "suppressed" in out


def test_a_folder_of_new_files_is_no_gap(workspace, caplog):
    """The "poll more often" advice fits a feed's moving window, not a drop folder: a batch
    of files dropped at once (a .jsonl of many records) is all new by nature."""
    folder = workspace.articles()
    workspace.write_config([{"id": "wire", "type": "files", "path": "articles", "settle": "0s"}])
    (folder / "first.txt").write_text("First story\n\nSome text.")
    run_once(workspace)
    caplog.set_level(logging.WARNING)
    records = [f'{{"id": "r{i}", "title": "Story {i}", "body": "Text {i}"}}' for i in range(50)]
    (folder / "batch.jsonl").write_text("\n".join(records) + "\n")
    run_once(workspace)
    assert not [r for r in caplog.records if "items may have been missed" in r.message]
