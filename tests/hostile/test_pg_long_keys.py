"""Hostile input: long texts PostgreSQL's btree indexes refuse (an index entry must fit
about a third of a page, 2704 bytes), which SQLite stores without complaint."""

from __future__ import annotations

import random
import string

import pytest

from monitor.article import Article
from monitor.stages import NewArticle, record_poll


@pytest.fixture
def store(each_store):  # each engine in turn
    return each_store


def _noise(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    rng = random.Random(12)
    return "".join(rng.choice(alphabet) for _ in range(n))  # incompressible: TOAST cannot help


def test_an_item_with_a_long_link_is_recorded(store):
    # a tracking link with a long query string, from a feed or a drop-folder file
    url = "https://news.example/story?ref=" + _noise(3000)
    article = Article("wire", title="Soybean tariffs rise again", url=url, guid="g1")
    record_poll(store, "wire", {}, [article], [NewArticle(article, [])])
    assert store.article_count() == 1


def test_an_item_with_a_long_title_is_recorded(store):
    words = " ".join(_noise(8, string.ascii_lowercase) for _ in range(600))  # story_key index
    article = Article("wire", title=words, url="https://news.example/a", guid="g2")
    record_poll(store, "wire", {}, [article], [NewArticle(article, [])])
    assert store.article_count() == 1


def test_a_refused_statement_is_not_taken_for_a_lost_server(store, monkeypatch, caplog):
    """psycopg files SQLSTATE class 54 (program limit exceeded) under OperationalError, so
    `PostgresDatabase.lost` called a too-long index entry a lost server:
    `again_if_lost` reconnects and re-runs the poll's transaction for RECONNECT_FOR
    (120 s), holding the store's one thread (every send, every other poll) at each poll."""
    import monitor.store.store as store_module

    monkeypatch.setattr(store_module, "RECONNECT_FOR", 3.0)
    reconnects = []
    real = store.db.reconnect
    monkeypatch.setattr(store.db, "reconnect", lambda: (reconnects.append(1), real()))
    url = "https://news.example/story?ref=" + _noise(3000)
    article = Article("wire", title="Soybean tariffs rise again", url=url, guid="g1")
    store.again_if_lost(record_poll, store, "wire", {}, [article], [NewArticle(article, [])])
    assert reconnects == [] and "lost the database" not in caplog.text
