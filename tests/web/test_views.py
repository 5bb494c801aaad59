"""The web page's reads (monitor/store/views.py) on both engines, over articles, matches and
alerts recorded as a poll records them."""

from __future__ import annotations

import time

import pytest

from monitor.alerts import build_alerts
from monitor.article import Article
from monitor.match import load_rules
from monitor.stages import record_poll
from monitor.store import NewArticle, views
from monitor.store.views import AlertFilter
from tests.conftest import FENTANYL_RULE, NVIDIA_RULE

TITLES = ["Nvidia story 0", "Nvidia story 1", "US doubles fentanyl duties", "Copper prices"]


@pytest.fixture
def store(each_store, tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "nvidia.yaml").write_text(NVIDIA_RULE)
    (folder / "fentanyl.yaml").write_text(FENTANYL_RULE)
    rules = load_rules([folder])
    new = []
    for i, title in enumerate(TITLES):
        article = Article("wire" if i % 2 == 0 else "desk", title=title, guid=f"g{i}",
                          url=f"https://x.org/{i}")  # fmt: skip
        matches = rules.match(article)
        alerts = build_alerts(article, matches, ["console", "hook"], {"console", "hook"})
        new.append(NewArticle(article, matches, alerts))
    record_poll(each_store, "wire", {}, [n.article for n in new], new)
    return each_store


def test_alerts_newest_first_with_a_delivery_per_notifier(store):
    found = views.alerts(store.db, AlertFilter())
    assert [v.alert.title for v in found] == ["US doubles fentanyl duties", "Nvidia story 1",
                                              "Nvidia story 0"]  # fmt: skip
    assert all({d.notifier_id for d in v.deliveries} == {"console", "hook"} for v in found)
    assert all(d.status == "pending" for v in found for d in v.deliveries)


def test_alert_filters(store):
    def titles(**wanted):
        return [v.alert.title for v in views.alerts(store.db, AlertFilter(**wanted))]

    assert titles(rule="fentanyl-tariffs") == ["US doubles fentanyl duties"]
    assert titles(rule="fentanyl_tariffs") == []  # `_` is not a LIKE wildcard here
    assert titles(severity="high") == ["US doubles fentanyl duties"]
    assert titles(severity="medium") == titles()  # medium or higher
    assert titles(source="desk") == ["Nvidia story 1"]
    assert titles(state="dead") == []
    assert titles(since=time.time() + 60) == []
    assert titles(until=time.time() + 60, limit=1) == ["US doubles fentanyl duties"]


def test_retry_dead_requeues_only_a_dead_delivery(store):
    view = views.alerts(store.db, AlertFilter())[0]
    hook = next(d for d in view.deliveries if d.notifier_id == "hook")
    assert not views.retry_dead(store.db, hook.id)  # pending: nothing to retry
    store.db.execute("UPDATE outbox SET status = 'dead', last_error = 'gone' WHERE id = ?",
                     (hook.id,))  # fmt: skip
    assert views.dead_delivery(store.db, hook.id)
    assert [v.alert.title for v in views.alerts(store.db, AlertFilter(state="dead"))] == [
        view.alert.title
    ]
    assert views.retry_dead(store.db, hook.id)
    assert not views.retry_dead(store.db, hook.id)
    again = views.alert(store.db, hook.id)
    assert {d.notifier_id: d.status for d in again.deliveries} == {"console": "pending",
                                                                    "hook": "pending"}  # fmt: skip


def test_story_per_day_counts_and_recent_matches(store):
    view = views.alerts(store.db, AlertFilter(rule="fentanyl-tariffs"))[0]
    assert [s.title for s in views.story(store.db, view.cluster_id)] == [view.alert.title]
    now = time.time()
    items = views.items_per_day(store.db, now, 14)
    assert items["wire"][-1] == 2 and items["desk"][-1] == 2 and sum(items["wire"]) == 2
    matches = views.matches_per_day(store.db, now, 30)
    assert matches == {"nvidia": [0] * 29 + [2], "fentanyl-tariffs": [0] * 29 + [1]}
    recent = views.recent_matches(store.db, "nvidia")
    assert {m.title for m in recent} == {"Nvidia story 0", "Nvidia story 1"}  # one poll: one time
    assert len(views.recent_matches(store.db, "nvidia", limit=1)) == 1


def test_recent_articles_newest_first_in_batches_up_to_a_cap(store):
    since = time.time() - 3600
    read = list(views.recent_articles(store.db, since, cap=3, batch=2))
    assert len(read) == 3
    assert len({a.id for a in read}) == 3
    assert len(list(views.recent_articles(store.db, since, cap=100, batch=1))) == 4
    assert views.count_articles_since(store.db, since) == 4
    assert list(views.recent_articles(store.db, time.time() + 60, cap=10)) == []
