"""Which stored article a polled one is: seen detection, and the guids a feed reuses.

Reads only; the store calls these on its connection, inside or outside a transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from monitor.article import Article
from monitor.store.database import Database

log = logging.getLogger("monitor")


def unseen(db: Database, articles: Sequence[Article]) -> list[Article]:
    """Those of one poll's articles not seen before (see `stored_id`), first copy of each.

    A feed that gives one guid to a different story (a different link),
    in an earlier poll or earlier in this one, has its guid ignored for
    that item, so the story is not lost; one line says so.
    """
    fresh: dict[str, Article] = {}
    keys: set[str] = set()
    for given, article in zip(articles, identities(db, articles), strict=True):
        own = {article.id, article.content_hash, article.canonical_url} - {""}
        if own & keys or seen(db, article):
            continue
        keys |= own
        fresh[article.id] = article
        if given.guid != article.guid:
            log.info(
                "guid %r already named another link; ignored for %r",
                given.guid[:200],
                article.canonical_url[:200],
                extra={"source": article.source_id},
            )
        note_shared_link(db, article)
    return list(fresh.values())


def identities(db: Database, articles: Sequence[Article]) -> list[Article]:
    """The articles as the store knows them: without a guid that names another link."""
    links: dict[str, str] = {}  # guid id -> canonical URL of its first item in this poll
    known = []
    for article in articles:
        if article.guid and article.canonical_url:
            first = links.setdefault(article.id, article.canonical_url)
            if first != article.canonical_url or guid_reused(db, article):
                article = replace(article, guid="")
        known.append(article)
    return known


def guid_reused(db: Database, article: Article) -> bool:
    row = db.execute("SELECT canonical_url FROM articles WHERE id = ?", (article.id,))
    known = row.fetchone()
    return known is not None and known[0] not in ("", article.canonical_url)


def seen(db: Database, article: Article) -> bool:
    return stored_id(db, article) is not None


def stored_id(db: Database, article: Article) -> str | None:
    """The id of a stored article that this one is, or None if it is new.

    From its own source: the same id (guid), canonical URL or text; a
    copy of another source's article that the source lists counts as its
    own, so an edited title does not make the copy new. From another
    source only the same content: the same text, or the same canonical
    URL with the same title. So the same wire story in two feeds is one
    article, but no source can make another's story look seen by giving
    an unrelated item its link. Rows written before ids of links were per
    source are found by their source and canonical URL.
    """
    row = db.execute(
        "SELECT id FROM articles WHERE id = ? OR (content_hash != '' AND content_hash = ?) LIMIT 1",
        (article.id, article.content_hash),
    ).fetchone()
    if row is not None:
        return str(row[0])
    if not article.canonical_url:
        return None
    title = folded(article.title)
    rows = db.execute(
        "SELECT id, title, source_id = ? OR id IN"
        " (SELECT article_id FROM listings WHERE source_id = ?) FROM articles"
        " WHERE canonical_url != '' AND canonical_url = ?",
        (article.source_id, article.source_id, article.canonical_url),
    )
    for stored, stored_title, own in rows:
        if own or folded(stored_title) == title:
            return str(stored)
    return None


def note_shared_link(db: Database, article: Article) -> None:
    """Log that a new article's link was seen from another source with other content."""
    if not article.canonical_url:
        return
    row = db.execute(
        "SELECT source_id FROM articles WHERE canonical_url != '' AND canonical_url = ?"
        " AND source_id != ? LIMIT 1",
        (article.canonical_url, article.source_id),
    ).fetchone()
    if row is not None:
        log.info(
            "link %r was seen from source %s with different content; this is a new article",
            article.canonical_url[:200], row[0], extra={"source": article.source_id},
        )  # fmt: skip


def folded(title: str) -> str:
    """A title as compared across sources: case and spacing do not count."""
    return " ".join(title.split()).casefold()
