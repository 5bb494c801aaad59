"""Seen detection read in batches (`identity.Known`) decides as the per-article queries do.

Randomized stores and polls (guids, links, titles and texts shared across three
sources), on both engines: `unseen`, `identities` and `each_stored_id` against the
per-article `guid_reused`, `stored_id` and `note_shared_link`, log lines included.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import replace

import pytest

from monitor.article import Article
from monitor.cluster import Clustered
from monitor.stages import record_poll
from monitor.store import NewArticle, identity

SOURCES = ("a", "b", "c")
TITLES = ("Nvidia up", "NVIDIA  up", "nvidia UP", "Chips fall", "Other story", "")
BODIES = ("Body one", "body  ONE", "Body two", "Body three", "")


def random_article(rng: random.Random) -> Article:
    return Article(
        rng.choice(SOURCES),
        title=rng.choice(TITLES),
        summary=rng.choice(("", "Teaser")),
        body=rng.choice(BODIES),
        url=rng.choice(("", *(f"https://x.org/{n}?utm_source=s{n % 2}" for n in range(5)))),
        guid=rng.choice(("", "", *(f"g{n}" for n in range(4)))),
    )


# ---- the per-article reference: the queries seen detection made before `Known` ----


def guid_reused(db, article: Article) -> bool:
    row = db.execute("SELECT canonical_url FROM articles WHERE id = ?", (article.id,))
    known = row.fetchone()
    return known is not None and known[0] not in ("", article.canonical_url)


def seen(db, article: Article) -> bool:
    return stored_id(db, article) is not None


def stored_id(db, article: Article) -> str | None:
    """`Known.stored_id` as it was: two queries an article."""
    row = db.execute(
        "SELECT id FROM articles WHERE id = ? OR (content_hash != '' AND content_hash = ?) LIMIT 1",
        (article.id, article.content_hash),
    ).fetchone()
    if row is not None:
        return str(row[0])
    if not article.canonical_url:
        return None
    title = identity.folded(article.title)
    rows = db.execute(
        "SELECT id, title, source_id = ? OR id IN"
        " (SELECT article_id FROM listings WHERE source_id = ?) FROM articles"
        " WHERE canonical_url != '' AND canonical_url = ?",
        (article.source_id, article.source_id, article.canonical_url),
    )
    for stored, stored_title, own in rows:
        if own or identity.folded(stored_title) == title:
            return str(stored)
    return None


def note_shared_link(db, article: Article) -> None:
    """Log that a new article's link was seen from another source with other content."""
    if not article.canonical_url:
        return
    row = db.execute(
        "SELECT source_id FROM articles WHERE canonical_url != '' AND canonical_url = ?"
        " AND source_id != ? LIMIT 1",
        (article.canonical_url, article.source_id),
    ).fetchone()
    if row is not None:
        logging.getLogger("monitor").info(
            "link %r was seen from source %s with different content; this is a new article",
            article.canonical_url[:200], row[0], extra={"source": article.source_id},
        )  # fmt: skip


def identities_each(db, articles: list[Article]) -> list[Article]:
    """`identities` as it was: one query an article."""
    links: dict[str, str] = {}
    known = []
    for article in articles:
        if article.guid and article.canonical_url:
            first = links.setdefault(article.id, article.canonical_url)
            if first != article.canonical_url or guid_reused(db, article):
                article = replace(article, guid="")
        known.append(article)
    return known


def unseen_each(db, articles: list[Article]) -> list[Article]:
    """`unseen` as it was: several queries an article."""
    fresh: dict[str, Article] = {}
    keys: set[str] = set()
    for given, article in zip(articles, identities_each(db, articles), strict=True):
        own = {article.id, article.content_hash, article.canonical_url} - {""}
        if own & keys or seen(db, article):
            continue
        keys |= own
        fresh[article.id] = article
        if given.guid != article.guid:
            logging.getLogger("monitor").info(
                "guid %r already named another link; ignored for %r",
                given.guid[:200],
                article.canonical_url[:200],
                extra={"source": article.source_id},
            )
        note_shared_link(db, article)
    return list(fresh.values())


def matching(db, article: Article) -> set[str]:
    """Every id `stored_id` may answer: its queries end in `LIMIT 1` or take the first row
    that fits, and PostgreSQL returns rows in no set order (SQLite by its index)."""
    rows = db.execute(
        "SELECT id FROM articles WHERE id = ? OR (content_hash != '' AND content_hash = ?)",
        (article.id, article.content_hash),
    ).fetchall()
    if rows or not article.canonical_url:
        return {row[0] for row in rows}
    rows = db.execute(
        "SELECT id, title, source_id = ? OR id IN"
        " (SELECT article_id FROM listings WHERE source_id = ?) FROM articles"
        " WHERE canonical_url != '' AND canonical_url = ?",
        (article.source_id, article.source_id, article.canonical_url),
    )
    title = identity.folded(article.title)
    return {row[0] for row in rows if row[2] or identity.folded(row[1]) == title}


def anysource(db, lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The lines with the source a shared-link line names checked, then left out."""
    out = []
    for message, source in lines:
        if found := re.fullmatch(r"link '(.*)' was seen from source (\S+) (with .*)", message):
            link, other, rest = found.groups()
            assert other != source
            assert db.execute(
                "SELECT 1 FROM articles WHERE canonical_url = ? AND source_id = ?", (link, other)
            ).fetchone()
            message = f"link {link!r} was seen from another source {rest}"
        out.append((message, source))
    return out


def logged(caplog, work):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="monitor"):
        result = work()
    return result, [(r.getMessage(), getattr(r, "source", None)) for r in caplog.records]


@pytest.mark.parametrize("seed", range(4))
def test_batched_seen_detection_decides_as_the_per_article_one(store, caplog, seed):
    rng = random.Random(seed)
    db = store.db
    checked = 0
    for _ in range(12):
        source = rng.choice(SOURCES)
        poll = [replace(random_article(rng), source_id=source) for _ in range(rng.randint(1, 8))]
        mixed = [random_article(rng) for _ in range(rng.randint(1, 12))]
        for batch in (poll, mixed, poll + mixed):
            known = identity.identities(db, batch)
            assert known == identities_each(db, batch)
            batched = identity.Known(db)
            batched.identities(batch)
            for article in known:
                each, read = stored_id(db, article), batched.stored_id(article)
                assert (each is None) == (read is None)
                if read is not None:
                    assert {each, read} <= matching(db, article)
                    if db.name.endswith(".db"):  # SQLite's order: the same id
                        assert read == each
            assert identity.each_stored_id(db, batch) == [batched.stored_id(a) for a in known]
            fresh, lines = logged(caplog, lambda b=batch: identity.unseen(db, b))
            fresh_each, lines_each = logged(caplog, lambda b=batch: unseen_each(db, b))
            assert fresh == fresh_each
            if not db.name.endswith(".db"):  # the other source a line names: any that fits
                lines, lines_each = anysource(db, lines), anysource(db, lines_each)
            assert lines == lines_each
            checked += len(batch)
        # The poll is recorded as the pipeline records it, listing and all.
        record_poll(store, source, {}, poll, [NewArticle(a) for a in store.unseen(poll)])
    assert checked > 100


def test_a_poll_larger_than_one_chunk_is_read_whole(store):
    stored = [
        Article("a", title=f"Story {n}", body=f"Text {n}", url=f"https://x.org/{n}", guid=f"g{n}")
        for n in range(1200)
    ]
    record_poll(store, "a", {}, stored, [NewArticle(a) for a in stored])
    by_text = [Article("b", title=f"Story {n}", body=f"Text {n}") for n in range(1200)]
    by_link = [Article("a", title="Edited", url=f"https://x.org/{n}") for n in range(1200)]
    fresh = Article("a", title="New", body="New", url="https://x.org/new", guid="new")
    assert store.unseen([*stored, *by_text, *by_link, fresh]) == [fresh]
    assert identity.each_stored_id(store.db, by_text) == [a.id for a in stored]


@pytest.mark.parametrize("seed", range(3))
def test_a_unit_of_work_sees_what_it_wrote_as_the_per_article_queries_do(store, seed):
    """A poll's unit of work keeps one `Known`, told of each article it writes: within one
    poll, a repeat (same guid, text or link) is seen exactly as a fresh query would see it."""
    rng = random.Random(seed)
    db = store.db
    for _ in range(10):
        source = rng.choice(SOURCES)
        poll = [replace(random_article(rng), source_id=source) for _ in range(rng.randint(1, 10))]
        mixed = [random_article(rng) for _ in range(rng.randint(1, 10))]
        batch = poll + mixed + poll  # repeats within the poll, and of earlier polls
        expected: list[str] = []
        with store.unit_of_work() as work:
            work.expect(batch)
            for article in batch:
                decided = work.seen(article)
                assert decided == seen(db, article), article  # the queries, inside the work
                if not decided:
                    expected.append(article.id)
                    work.add_article(NewArticle(article), Clustered(article.id, "", ()))
        stored = {row[0] for row in db.execute("SELECT id FROM articles")}
        assert set(expected) <= stored
