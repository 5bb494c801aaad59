"""alerts.py on its own: building alerts from matches, snippets, the outbox JSON, bundles,
and the policy that threads, suppresses, caps and holds them. No daemon, no store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from monitor.alerts import (
    SNIPPET_CHARS,
    Alert,
    AlertPolicy,
    AlertRule,
    Placement,
    PriorAlert,
    build_alerts,
    bundle,
    make_snippet,
)
from monitor.article import Article
from monitor.match import Hit, load_rules
from tests.builders import alert


def rule_set(tmp_path, text: str):
    (tmp_path / "rules.yaml").write_text(text)
    return load_rules([tmp_path])


ROUTING = """\
rules:
  - id: tariffs
    severity: low
    query: tariffs
  - id: fentanyl
    title: Fentanyl
    severity: critical
    query: fentanyl
    notify: [console, email]
  - id: china
    severity: high
    query: china
  - id: quiet
    query: tariffs
    notify: []
  - id: unmatched
    severity: critical
    query: semiconductors
"""


def routed(tmp_path, article, default_notify=("console", "slack"), enabled=("console", "slack")):
    rules = rule_set(tmp_path, ROUTING)
    return build_alerts(article, rules.match(article), list(default_notify), enabled)


ARTICLE = Article(
    "wire",
    title="China Tariffs on fentanyl",
    body="Washington said the tariffs on China rise. Fentanyl flows are the reason.",
    url="https://news.example/a?utm_source=x",
    guid="g1",
    authors=("A. Writer",),
    published_at=datetime(2025, 3, 4, 23, 15, tzinfo=timezone(timedelta(hours=2))),
)


# ---- build_alerts ---------------------------------------------------------------


def test_one_alert_per_notifier_that_a_matching_rule_routes_to(tmp_path):
    alerts = {a.notifier_id: a for a in routed(tmp_path, ARTICLE)}
    # email is named by `fentanyl` but not enabled; `quiet` routes nowhere; `unmatched` is not
    assert sorted(alerts) == ["console", "slack"]
    assert [r.id for r in alerts["console"].rules] == ["fentanyl", "china", "tariffs"]
    assert [r.id for r in alerts["slack"].rules] == ["china", "tariffs"]


def test_rules_come_most_severe_first_whatever_their_order_in_the_file(tmp_path):
    (console,) = routed(tmp_path, ARTICLE, default_notify=["console"], enabled=["console"])
    assert [r.severity for r in console.rules] == ["critical", "high", "low"]
    assert console.severity == "critical"


def test_a_rule_without_notify_uses_the_default_and_an_empty_notify_routes_nowhere(tmp_path):
    article = Article("wire", title="New tariffs announced today", guid="g2")
    alerts = routed(tmp_path, article, default_notify=["slack"], enabled=["console", "slack"])
    assert [(a.notifier_id, [r.id for r in a.rules]) for a in alerts] == [("slack", ["tariffs"])]
    assert routed(tmp_path, article, default_notify=[], enabled=["console", "slack"]) == []


def test_no_enabled_notifier_gives_no_alert(tmp_path):
    assert routed(tmp_path, ARTICLE, enabled=["webhook"]) == []


def test_the_alert_carries_what_a_notifier_writes(tmp_path):
    (console,) = routed(tmp_path, ARTICLE, default_notify=["console"], enabled=["console"])
    assert console.article_id == ARTICLE.id and console.source_id == "wire"
    assert console.title == ARTICLE.title
    assert console.url == "https://news.example/a"  # the canonical URL, tracking removed
    assert console.published_at == "2025-03-04T21:15:00+00:00"  # in UTC
    assert console.authors == ("A. Writer",)
    terms = {r.id: r.terms for r in console.rules}
    assert terms == {"fentanyl": ("fentanyl",), "china": ("china",), "tariffs": ("tariffs",)}
    assert {r.id: r.title for r in console.rules}["fentanyl"] == "Fentanyl"
    marked = [console.title[s:e] for s, e in console.title_marks]
    assert sorted(marked) == ["China", "Tariffs", "fentanyl"]
    snippet_words = [console.snippet[s:e].casefold() for s, e in console.snippet_marks]
    assert snippet_words == ["tariffs", "china", "fentanyl"]


def test_an_article_without_headline_or_date(tmp_path):
    article = Article("wire", title="", body="Fentanyl seized at the border.", guid="g3")
    (console,) = routed(tmp_path, article, default_notify=["console"], enabled=["console"])
    assert console.title == "(no headline)"
    assert console.published_at is None
    assert console.title_marks == ()
    assert console.snippet == "Fentanyl seized at the border."


# ---- make_snippet -----------------------------------------------------------------


def hit(field_name: str, text: str, word: str, nth: int = 0) -> Hit:
    start = -1
    for _ in range(nth + 1):
        start = text.index(word, start + 1)
    return Hit(field_name, start, start + len(word), 0, 0, word)


LONG = " ".join(f"word{i}" for i in range(200)).replace("word100 ", "fentanyl ")


def test_a_short_text_is_whole_with_its_marks_as_they_were():
    body = "The fentanyl levy\nrises again."
    hits = [hit("body", body, "fentanyl"), hit("body", body, "levy")]
    snippet, marks = make_snippet(Article("wire", title="t", body=body), hits)
    assert snippet == "The fentanyl levy rises again."  # line breaks become spaces
    assert marks == ((4, 12), (13, 17))


def test_a_long_text_gives_a_window_around_the_first_hit_with_ellipses():
    first = hit("body", LONG, "fentanyl")
    later = hit("body", LONG, "word103")
    far = hit("body", LONG, "word190")  # beyond the window: not marked
    snippet, marks = make_snippet(Article("wire", title="t", body=LONG), [first, later, far])
    assert snippet.startswith("…word") and snippet.endswith("…")
    assert len(snippet) <= SNIPPET_CHARS + 2
    inner = snippet[1:-1]
    assert inner in LONG
    start = LONG.index(inner)
    assert LONG[start - 1] == " " and LONG[start + len(inner)] == " "  # cut at word boundaries
    assert 0 < first.start - start <= SNIPPET_CHARS // 3  # the first hit early in the window
    assert [snippet[s:e] for s, e in marks] == ["fentanyl", "word103"]


def test_a_hit_near_the_start_needs_no_leading_ellipsis():
    text = LONG.replace("word3 ", "tariffs ")
    snippet, marks = make_snippet(
        Article("wire", title="t", body=text), [hit("body", text, "tariffs")]
    )
    assert not snippet.startswith("…") and snippet.endswith("…")
    assert snippet[:-1] == text[: len(snippet) - 1]
    assert [snippet[s:e] for s, e in marks] == ["tariffs"]


def test_the_window_comes_from_the_field_of_the_first_body_or_summary_hit():
    article = Article(
        "wire", title="Tariffs", summary="Tariffs in summary.", body="Body of tariffs."
    )
    title_hit = hit("title", article.title, "Tariffs")
    body_hit = hit("body", article.body, "tariffs")
    assert make_snippet(article, [title_hit, body_hit]) == ("Body of tariffs.", ((8, 15),))
    # no hit in either: the summary if there is one, else the body, from its start
    assert make_snippet(article, [title_hit]) == ("Tariffs in summary.", ())
    no_summary = Article("wire", title="Tariffs", body="Body of tariffs.")
    assert make_snippet(no_summary, [title_hit]) == ("Body of tariffs.", ())


def test_no_text_gives_an_empty_snippet():
    article = Article("wire", title="Tariffs")
    assert make_snippet(article, [hit("title", article.title, "Tariffs")]) == ("", ())
    assert make_snippet(article, []) == ("", ())


# ---- the outbox JSON and bundles ----------------------------------------------------


def through_json(value: Alert, alert_id: int | None = None) -> Alert:
    return Alert.from_json(json.loads(json.dumps(value.to_json())), alert_id)


def test_an_alert_round_trips_through_json():
    original = alert(title_marks=((0, 2),), authors=("A. Writer",), id=3)
    data = original.to_json()
    assert "id" not in data
    back = through_json(original, alert_id=7)
    assert back == original  # tuples again, not lists: dataclass equality tells them apart
    assert back.id == 7
    assert back.rules[0] == AlertRule(
        "fentanyl-tariffs", "Fentanyl-linked tariffs", "high", ("fentanyl",)
    )


def test_json_written_before_title_marks_authors_and_items_still_loads():
    data = alert().to_json()
    for key in ("title_marks", "authors", "items"):
        del data[key]
    assert Alert.from_json(data) == alert()


def test_a_bundle_carries_its_alerts_and_their_rules_once_each():
    mention = AlertRule("fed", "Fed", "critical", ("fed",), mention="here")
    one = alert(article_id="a1", notifier_id="slack")
    two = alert(article_id="a2", notifier_id="slack", rules=(mention, one.rules[1]))
    digest = bundle("digest", "Morning digest", "slack", [one, two])
    assert digest.article_id == "digest:a1:2"
    assert (digest.notifier_id, digest.source_id, digest.title) == (
        "slack",
        "digest",
        "Morning digest",
    )
    assert (digest.url, digest.published_at, digest.snippet) == ("", None, "")
    assert digest.items == (one, two)
    assert [r.id for r in digest.rules] == ["fentanyl-tariffs", "china", "fed"]
    assert digest.severity == "critical"
    back = through_json(digest)
    assert back == digest
    assert back.items[1].rules[0].mention == "here"


def test_an_alert_without_rules_is_of_medium_severity():
    assert alert(rules=()).severity == "medium"


# ---- the policy -------------------------------------------------------------------


@dataclass
class Row:
    id: int
    notifier_id: str
    cluster_id: str
    rule_ids: frozenset[str]
    created_at: float
    parent_id: int | None
    status: str


@dataclass
class History:
    """The outbox as the policy sees it (what store/outbox.py's OutboxHistory reads)."""

    rows: list[Row] = field(default_factory=list)

    def cluster_alerts(self, cluster_id: str, notifier_id: str) -> list[PriorAlert]:
        return [
            PriorAlert(r.id, r.rule_ids, r.created_at, r.parent_id)
            for r in self.rows
            if (r.cluster_id, r.notifier_id) == (cluster_id, notifier_id) and r.status != "dead"
        ]

    def top_level_count(self, rule_id: str, notifier_id: str, since: float) -> int:
        return sum(
            r.notifier_id == notifier_id
            and r.created_at >= since
            and r.parent_id is None
            and r.status in ("pending", "inflight", "sent")
            and rule_id in r.rule_ids
            for r in self.rows
        )

    def place(self, policy: AlertPolicy, new: Alert, cluster_id: str, now: float) -> Placement:
        """Place an alert and enqueue it as a poll does."""
        placement = policy.place(new, cluster_id, self, now)
        rule_ids = frozenset(r.id for r in new.rules)
        self.rows.append(Row(len(self.rows) + 1, new.notifier_id, cluster_id, rule_ids, now,
                             placement.parent_id, placement.status))  # fmt: skip
        return placement


POLICY_RULES = """\
rules:
  - id: plain
    query: tariffs
  - id: cooled
    query: tariffs
    cooldown: 10m
  - id: capped
    query: tariffs
    max_per_hour: 2
  - id: daily
    query: tariffs
    digest: "0 8 * * *"
"""


def policy(tmp_path, digests=None) -> AlertPolicy:
    rules = rule_set(tmp_path, POLICY_RULES)
    return AlertPolicy(
        {r.id: r for r in rules.rules},
        threads={"slack": True, "email": False},
        digests=digests or {},
    )


def for_rules(*ids: str, notifier: str = "slack", article: str = "a1") -> Alert:
    rules = tuple(AlertRule(i, i.title(), "medium", ("tariffs",)) for i in ids)
    return alert(article_id=article, notifier_id=notifier, rules=rules)


NOW = 1_000_000.0


def test_the_first_alert_of_a_story_goes_to_the_queue(tmp_path):
    assert History().place(policy(tmp_path), for_rules("plain"), "c1", NOW) == Placement()


def test_a_follow_up_is_threaded_where_the_notifier_can_and_suppressed_where_not(tmp_path):
    p, history = policy(tmp_path), History()
    history.place(p, for_rules("plain"), "c1", NOW)
    history.place(p, for_rules("plain", notifier="email"), "c1", NOW)
    assert history.place(p, for_rules("plain", article="a2"), "c1", NOW + 5) == Placement(
        "pending", 1
    )
    by_email = history.place(p, for_rules("plain", notifier="email", article="a2"), "c1", NOW + 5)
    assert (by_email.status, by_email.parent_id) == ("suppressed", 2)
    assert "no thread" in by_email.note
    # a follow-up of a follow-up still hangs off the top-level alert
    assert history.place(p, for_rules("plain", article="a3"), "c1", NOW + 9).parent_id == 1
    # another story, or a rule the story has not yet alerted for, is top-level again
    assert history.place(p, for_rules("plain", article="b1"), "c2", NOW + 9) == Placement()
    assert history.place(p, for_rules("plain", "cooled", article="a4"), "c1", NOW) == Placement()


def test_a_dead_alert_does_not_make_its_story_told(tmp_path):
    p, history = policy(tmp_path), History()
    history.place(p, for_rules("plain"), "c1", NOW)
    history.rows[0].status = "dead"
    assert history.place(p, for_rules("plain", article="a2"), "c1", NOW + 5) == Placement()


def test_inside_a_rules_cooldown_the_story_is_suppressed_even_where_it_could_thread(tmp_path):
    p, history = policy(tmp_path), History()
    history.place(p, for_rules("cooled"), "c1", NOW)
    inside = history.place(p, for_rules("cooled", article="a2"), "c1", NOW + 599)
    assert (inside.status, inside.parent_id) == ("suppressed", 1)
    assert inside.note.startswith("cooldown")
    # the cooldown runs from the story's latest alert, suppressed ones included
    assert history.place(p, for_rules("cooled", article="a3"), "c1", NOW + 1000).status == (
        "suppressed"
    )
    after = history.place(p, for_rules("cooled", article="a4"), "c1", NOW + 1000 + 601)
    assert after == Placement("pending", 1)


def test_over_max_per_hour_a_top_level_alert_is_held_for_the_summary(tmp_path):
    p, history = policy(tmp_path), History()
    for i in range(2):
        assert history.place(p, for_rules("capped", article=f"a{i}"), f"c{i}", NOW + i).status == (
            "pending"
        )
    third = history.place(p, for_rules("capped", article="a2"), "c2", NOW + 2)
    assert third == Placement("held", note="cap:capped")
    # the held one does not count; the cap is per notifier; an hour on, the first has left it
    assert history.place(p, for_rules("capped", notifier="email"), "c3", NOW + 3) == Placement()
    assert history.place(p, for_rules("capped", article="a4"), "c4", NOW + 3601) == Placement()
    assert history.place(p, for_rules("capped", article="a5"), "c5", NOW + 3601).status == "held"


def test_the_cap_holds_only_when_every_rule_of_the_alert_is_over_it(tmp_path):
    p, history = policy(tmp_path), History()
    for i in range(2):
        history.place(p, for_rules("capped", article=f"a{i}"), f"c{i}", NOW)
    assert history.place(p, for_rules("capped", "plain", article="a2"), "c2", NOW) == Placement()


@pytest.mark.parametrize(
    ("rules", "digests", "expected"),
    [
        (("daily",), {}, Placement("held", note="digest:0 8 * * *")),
        (("plain",), {"slack": "0 9 * * 1-5"}, Placement("held", note="digest:0 9 * * 1-5")),
        (("daily",), {"slack": "0 9 * * 1-5"}, Placement("held", note="digest:0 9 * * 1-5")),
        (("daily", "plain"), {}, Placement()),  # only when every rule asks for the digest
    ],
)
def test_a_digest_rule_or_notifier_holds_the_alert_for_the_digest(
    tmp_path, rules, digests, expected
):
    assert History().place(policy(tmp_path, digests), for_rules(*rules), "c1", NOW) == expected


def test_the_digest_comes_before_the_cap(tmp_path):
    p, history = policy(tmp_path, {"slack": "0 8 * * *"}), History()
    history.rows += [Row(i + 1, "slack", f"c{i}", frozenset({"capped"}), NOW, None, "sent")
                     for i in range(2)]  # fmt: skip
    placed = history.place(p, for_rules("capped"), "c9", NOW)
    assert placed.note == "digest:0 8 * * *"


# Each scenario: the alerts of a poll or several, in order, as (rules, notifier, cluster,
# seconds after NOW) -> (status, parent id); ids count from 1 in the order placed.
SCENARIOS = {
    "an update threads under the first alert": [
        (("plain",), "slack", "c1", 0, ("pending", None)),
        (("plain",), "slack", "c1", 60, ("pending", 1)),
    ],
    "a copy is suppressed where the notifier cannot thread": [
        (("plain",), "email", "c1", 0, ("pending", None)),
        (("plain",), "email", "c1", 60, ("suppressed", 1)),
    ],
    "a new rule on the same story is a new top-level alert": [
        (("plain",), "slack", "c1", 0, ("pending", None)),
        (("plain", "cooled"), "slack", "c1", 60, ("pending", None)),
    ],
    "inside the cooldown even a threading notifier is quiet": [
        (("cooled",), "slack", "c1", 0, ("pending", None)),
        (("cooled",), "slack", "c1", 300, ("suppressed", 1)),
        (("cooled",), "slack", "c1", 300 + 601, ("pending", 1)),
    ],
    "over max_per_hour the rest wait for the summary": [
        (("capped",), "slack", "c1", 0, ("pending", None)),
        (("capped",), "slack", "c2", 1, ("pending", None)),
        (("capped",), "slack", "c3", 2, ("held", None)),
        (("capped",), "email", "c4", 3, ("pending", None)),
        (("capped",), "slack", "c5", 3601, ("pending", None)),
    ],
    "a digest rule is held for its digest": [
        (("daily",), "slack", "c1", 0, ("held", None)),
        (("daily", "plain"), "slack", "c2", 0, ("pending", None)),
    ],
    "other stories do not interfere": [
        (("plain",), "slack", "c1", 0, ("pending", None)),
        (("plain",), "slack", "c2", 1, ("pending", None)),
        (("plain",), "slack", "c1", 2, ("pending", 1)),
        (("plain",), "slack", "c2", 3, ("pending", 2)),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_policy_scenarios(tmp_path, steps):
    p, history = policy(tmp_path), History()
    for number, (rules, notifier, cluster, after, expected) in enumerate(steps, 1):
        new = for_rules(*rules, notifier=notifier, article=f"a{number}")
        placed = history.place(p, new, cluster, NOW + after)
        assert (placed.status, placed.parent_id) == expected, f"step {number}"
