"""Recording a poll's outcome, stage by stage, inside one unit of work.

The pipeline (pipeline.py) fetches, drops what the store has seen and matches
outside any transaction: that is the slow part, and it needs no lock. Then one
serial transaction of the store (a `UnitOfWork`) runs, per new article:

    drop what was seen -> cluster -> write the article -> place each alert -> queue it

Seen is asked again because another poll (on another daemon, perhaps) may have
recorded the same story meanwhile. Each stage reads only what the unit of work
offers: seen ids, the cluster reads, the alert history a placement needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.alerts import Alert, AlertPolicy, History, Placement
from monitor.article import Article
from monitor.cluster import Clustered, ClusterReads, assign_cluster
from monitor.match import Match


@dataclass(frozen=True)
class NewArticle:
    """An article to record as seen, with the matches and alerts it produced."""

    article: Article
    matches: Sequence[Match] = ()
    alerts: Sequence[Alert] = ()


class UnitOfWork(Protocol):
    """One serial transaction of the store: narrow reads, and the writes of a poll."""

    @property
    def now(self) -> float: ...

    @property
    def clusters(self) -> ClusterReads: ...

    @property
    def history(self) -> History: ...

    def expect(self, articles: Sequence[Article]) -> None:
        """Read at once what `seen` will need of these articles (a hint: `seen` is right
        without it)."""

    def seen(self, article: Article) -> bool: ...

    def add_article(self, item: NewArticle, clustered: Clustered) -> None: ...

    def enqueue(self, alert: Alert, cluster_id: str, placement: Placement) -> None: ...

    def finish_poll(
        self,
        source_id: str,
        cursor: dict[str, Any],
        items: Sequence[Article],
        new_count: int,
        keys: Sequence[str] = (),
        unchanged: Mapping[str, str] | None = None,
    ) -> None: ...


class Recorder(Protocol):
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]: ...


def record_new(
    work: UnitOfWork, new: Sequence[NewArticle], policy: AlertPolicy | None
) -> list[NewArticle]:
    """The stages, in order, for each article; returns those recorded (not seen before)."""
    recorded = []
    work.expect([item.article for item in new])
    for item in new:
        if work.seen(item.article):
            continue
        clustered = assign_cluster(item.article, work.clusters, work.now)
        work.add_article(item, clustered)
        for alert in item.alerts:
            placement = (
                policy.place(alert, clustered.cluster_id, work.history, work.now)
                if policy
                else Placement()
            )
            work.enqueue(alert, clustered.cluster_id, placement)
        recorded.append(item)
    return recorded


def record_articles(
    store: Recorder, new: Sequence[NewArticle], policy: AlertPolicy | None = None
) -> list[NewArticle]:
    """Record some of a large poll's articles and queue their alerts, in one commit.

    The source is not advanced: a crash before `record_poll` polls again, and
    what was recorded here is then seen, with its alerts queued.
    """
    with store.unit_of_work() as work:
        return record_new(work, new, policy)


def record_poll(
    store: Recorder,
    source_id: str,
    cursor: dict[str, Any],
    items: Sequence[Article],
    new: Sequence[NewArticle],
    policy: AlertPolicy | None = None,
    recorded_before: int = 0,
    *,
    keys: Sequence[str] = (),
    unchanged: Mapping[str, str] | None = None,
) -> list[NewArticle]:
    """Record articles, queue their alerts and advance the source, all in one commit.

    A crash before the commit leaves nothing half-done: the next poll sees the
    same items as new again. The items, and those `unchanged` since the last
    poll, become the source's latest listing (retention forgets only what no
    source shows any more). `recorded_before` counts what `record_articles`
    recorded earlier in this poll. Returns what was actually recorded.
    """
    with store.unit_of_work() as work:
        recorded = record_new(work, new, policy)
        work.finish_poll(
            source_id, cursor, items, recorded_before + len(recorded), keys, unchanged or {}
        )
    return recorded
