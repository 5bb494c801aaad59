"""Which stored article a polled one is: seen detection, and the guids a feed reuses.

Reads only; the store calls these on its connection, inside or outside a transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from monitor.article import Article
from monitor.store.database import Database

log = logging.getLogger("monitor")
CHUNK = 500  # keys a query: SQLite allows 999 parameters before 3.32


def unseen(db: Database, articles: Sequence[Article]) -> list[Article]:
    """Those of one poll's articles not seen before (see `Known.stored_id`), first copy of each.

    A feed that gives one guid to a different story (a different link),
    in an earlier poll or earlier in this one, has its guid ignored for
    that item, so the story is not lost; one line says so.

    Decided in Python over the stored rows that could match (`Known`): a
    few queries a poll, not several an article.
    """
    known = Known(db)
    fresh: dict[str, Article] = {}
    keys: set[str] = set()
    for given, article in zip(articles, known.identities(articles), strict=True):
        own = {article.id, article.content_hash, article.canonical_url} - {""}
        if own & keys or known.stored_id(article) is not None:
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
        known.note_shared_link(article)
    return list(fresh.values())


def each_stored_id(db: Database, articles: Sequence[Article]) -> list[str | None]:
    """The id of the stored article each one is, or None (`Known.stored_id` of `identities`)."""
    known = Known(db)
    return [known.stored_id(a) for a in known.identities(articles)]


def identities(db: Database, articles: Sequence[Article]) -> list[Article]:
    """The articles as the store knows them: without a guid that names another link."""
    return Known(db).identities(articles)


class Known:
    """The stored rows one poll's articles could be, read in a few queries, and the rules
    of identity decided on them, in Python.

    Rows are read by id, content hash and canonical URL, in chunks under SQLite's
    limit on parameters, each key once; only what an earlier rule left open is read
    (most articles of a poll are seen by their id). Reads only: valid while the
    store is not written.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by_id: dict[str, tuple[str, str]] = {}  # id -> (canonical_url, source_id)
        self.by_hash: dict[str, str] = {}  # content hash -> id of one row with it
        self.by_url: dict[str, list[tuple[str, str, str]]] = {}  # -> [(id, title, source_id)]
        self.listed: set[tuple[str, str]] = set()  # (source_id, article_id) of url rows
        self.listed_asked: set[tuple[str, str]] = set()
        self.asked: dict[str, set[str]] = {"id": set(), "content_hash": set(), "url": set()}

    def identities(self, articles: Sequence[Article]) -> list[Article]:
        """As `identities`: without a guid that names another link."""
        self._load_ids(a.id for a in articles if a.guid and a.canonical_url)
        links: dict[str, str] = {}  # guid id -> canonical URL of its first item in this poll
        known = []
        for article in articles:
            if article.guid and article.canonical_url:
                first = links.setdefault(article.id, article.canonical_url)
                if first != article.canonical_url or self.guid_reused(article):
                    article = replace(article, guid="")
            known.append(article)
        self.prepare(known)
        return known

    def guid_reused(self, article: Article) -> bool:
        """Is the article's guid stored for another link (a feed reusing guids)?"""
        if article.id not in self.asked["id"]:
            self._load_ids([article.id])
        row = self.by_id.get(article.id)
        return row is not None and row[0] not in ("", article.canonical_url)

    def stored_id(self, article: Article) -> str | None:
        """The id of a stored article that this one is, or None if it is new.

        From its own source: the same id (guid), canonical URL or text; a
        copy of another source's article that the source lists counts as its
        own, so an edited title does not make the copy new. From another
        source only the same content: the same text, or the same canonical
        URL with the same title. So the same wire story in two feeds is one
        article, but no source can make another's story look seen by giving
        an unrelated item its link.
        """
        if article.id in self.by_id:  # read already: most of a poll
            return article.id
        self.prepare([article])
        if article.id in self.by_id:
            return article.id
        if article.content_hash and article.content_hash in self.by_hash:
            return self.by_hash[article.content_hash]
        if not article.canonical_url:
            return None
        title = folded(article.title)
        for stored, stored_title, source_id in self.by_url.get(article.canonical_url, ()):
            if (
                source_id == article.source_id
                or (article.source_id, stored) in self.listed
                or folded(stored_title) == title
            ):
                return stored
        return None

    def written(self, article: Article) -> None:
        """The article was just stored (a poll's unit of work): keep what was read true.

        Only keys read already need it; a key not read yet is read from the table,
        where the article now is.
        """
        self.by_id[article.id] = (article.canonical_url, article.source_id)
        self.asked["id"].add(article.id)
        if article.content_hash in self.asked["content_hash"]:
            self.by_hash.setdefault(article.content_hash, article.id)
        if article.canonical_url in self.asked["url"]:
            self.by_url.setdefault(article.canonical_url, []).append(
                (article.id, article.title, article.source_id)
            )

    def note_shared_link(self, article: Article) -> None:
        """Log that a new article's link was seen from another source with other content."""
        if not article.canonical_url:
            return
        self._load_urls([article.canonical_url])
        for _, _, source_id in self.by_url.get(article.canonical_url, ()):
            if source_id != article.source_id:
                log.info(
                    "link %r was seen from source %s with different content; this is a new article",
                    article.canonical_url[:200], source_id, extra={"source": article.source_id},
                )  # fmt: skip
                return

    def prepare(self, articles: Sequence[Article]) -> None:
        """Read what `stored_id` needs of these articles, each rule's rows only where the
        rules before it decided nothing."""
        self._load_ids(a.id for a in articles)
        open_ = [a for a in articles if a.id not in self.by_id]
        self._load_hashes(a.content_hash for a in open_ if a.content_hash)
        open_ = [a for a in open_ if a.canonical_url and a.content_hash not in self.by_hash]
        self._load_urls(a.canonical_url for a in open_)
        wanted = {
            (a.source_id, stored)
            for a in open_
            for stored, _, source_id in self.by_url.get(a.canonical_url, ())
            if source_id != a.source_id
        }
        self._load_listed(wanted)

    def _new(self, kind: str, keys: Iterable[str]) -> list[str]:
        asked = self.asked[kind]
        fresh = list(dict.fromkeys(k for k in keys if k not in asked))
        asked.update(fresh)
        return fresh

    def _load_ids(self, ids: Iterable[str]) -> None:
        for chunk in chunks(self._new("id", ids)):
            rows = self.db.execute(
                f"SELECT id, canonical_url, source_id FROM articles WHERE id IN ({marks(chunk)})",
                chunk,
            )
            for stored, url, source_id in rows:
                self.by_id[stored] = (url, source_id)

    def _load_hashes(self, hashes: Iterable[str]) -> None:
        for chunk in chunks(self._new("content_hash", hashes)):
            rows = self.db.execute(
                "SELECT content_hash, id FROM articles"
                f" WHERE content_hash != '' AND content_hash IN ({marks(chunk)})",
                chunk,
            )
            for content_hash, stored in rows:
                self.by_hash.setdefault(content_hash, stored)

    def _load_urls(self, urls: Iterable[str]) -> None:
        for chunk in chunks(self._new("url", urls)):
            rows = self.db.execute(
                "SELECT canonical_url, id, title, source_id FROM articles"
                f" WHERE canonical_url != '' AND canonical_url IN ({marks(chunk)})",
                chunk,
            )
            for url, stored, title, source_id in rows:
                self.by_url.setdefault(url, []).append((stored, title, source_id))

    def _load_listed(self, wanted: set[tuple[str, str]]) -> None:
        by_source: dict[str, list[str]] = {}
        for source_id, stored in sorted(wanted - self.listed_asked):
            by_source.setdefault(source_id, []).append(stored)
        for source_id, ids in by_source.items():
            for chunk in chunks(ids):
                rows = self.db.execute(
                    "SELECT article_id FROM listings"
                    f" WHERE source_id = ? AND article_id IN ({marks(chunk)})",
                    [source_id, *chunk],
                )
                self.listed.update((source_id, row[0]) for row in rows)
        self.listed_asked |= wanted


def chunks(keys: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    """The keys in lists short enough for one query's parameters."""
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def marks(chunk: Sequence[str]) -> str:
    """The placeholders for `IN (...)` of a chunk."""
    return ", ".join("?" * len(chunk))


def seen(db: Database, article: Article) -> bool:
    """Is this one article stored already? (A poll's unit of work keeps one `Known` instead,
    told of each article it writes.)"""
    return Known(db).stored_id(article) is not None


def folded(title: str) -> str:
    """A title as compared across sources: case and spacing do not count."""
    return " ".join(title.split()).casefold()
