"""What only the SQLite engine has: pragmas, its old schemas, triggers."""

import sqlite3

from monitor.store import open_store
from monitor.store.schema import MIGRATIONS


def store_at(tmp_path):
    return open_store("sqlite:///state/t.db", tmp_path)


def test_wal_busy_timeout_and_schema_version(tmp_path):
    store = store_at(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()
    store_at(tmp_path).close()  # reopening migrates nothing and fails on nothing


def test_the_upgrade_lists_what_each_source_showed_last(tmp_path):
    path = tmp_path / "state" / "t.db"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    row = "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
    row += " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
    row += " last_seen_at) VALUES (?, ?, '', '', '', '', 't', '', '', '[]', NULL, 0, 0, 0, ?)"
    db.executemany(
        row, [("x1", "a", 100.0), ("x2", "a", 200.0), ("x3", "a", 200.0), ("y", "b", 50.0)]
    )
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    store = store_at(tmp_path)
    listed = store.db.execute("SELECT source_id, article_id FROM listings ORDER BY 2").fetchall()
    assert [tuple(r) for r in listed] == [("a", "x2"), ("a", "x3"), ("b", "y")]
    assert store.forget(1000.0) == 1
