"""The SQLite schema, one migration a version; `PRAGMA user_version` says which have run.

The PostgreSQL engine keeps its own list (postgres.py); both reach the same tables.

Append a migration; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        url TEXT NOT NULL,
        canonical_url TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        body TEXT NOT NULL,
        authors TEXT NOT NULL,
        published_at REAL,
        fetched_at REAL NOT NULL,
        first_seen_at REAL NOT NULL,
        alerted INTEGER NOT NULL
    );
    CREATE INDEX articles_canonical_url ON articles(canonical_url) WHERE canonical_url != '';
    CREATE INDEX articles_content_hash ON articles(content_hash);
    CREATE INDEX articles_first_seen ON articles(first_seen_at);
    CREATE TABLE matches (
        article_id TEXT NOT NULL REFERENCES articles(id),
        rule_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        hits TEXT NOT NULL,
        matched_at REAL NOT NULL,
        PRIMARY KEY (article_id, rule_id)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL,
        notifier_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (article_id, notifier_id)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE sources (
        source_id TEXT PRIMARY KEY,
        cursor TEXT NOT NULL DEFAULT '{}',
        primed INTEGER NOT NULL DEFAULT 0,
        last_poll_at REAL,
        last_ok_at REAL,
        last_error TEXT,
        error_streak INTEGER NOT NULL DEFAULT 0,
        item_count INTEGER NOT NULL DEFAULT 0,
        new_count INTEGER NOT NULL DEFAULT 0
    );
    """,
    """
    CREATE TABLE outbox_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL,
        notifier_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'alert',
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
            ('pending', 'inflight', 'sent', 'dead', 'suppressed', 'held', 'grouped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        attempt_id TEXT,
        lease_until REAL,
        last_error TEXT,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL,
        rule_ids TEXT NOT NULL DEFAULT '[]',
        cluster_id TEXT,
        parent_id INTEGER,
        ref TEXT,
        note TEXT,
        UNIQUE (article_id, notifier_id)
    );
    INSERT INTO outbox_v2 (id, article_id, notifier_id, payload, status, attempts, last_error,
        next_attempt_at, created_at, sent_at)
        SELECT id, article_id, notifier_id, payload, status, attempts, last_error,
        next_attempt_at, created_at, sent_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v2 RENAME TO outbox;
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_cluster ON outbox(cluster_id, notifier_id);
    CREATE INDEX outbox_created ON outbox(created_at);
    ALTER TABLE articles ADD COLUMN cluster_id TEXT;
    ALTER TABLE articles ADD COLUMN story_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN simhash INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE articles ADD COLUMN last_seen_at REAL;
    UPDATE articles SET last_seen_at = first_seen_at, cluster_id = id;
    CREATE INDEX articles_story_key ON articles(story_key) WHERE story_key != '';
    CREATE INDEX articles_last_seen ON articles(last_seen_at);
    """,
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Each source's latest listing: the stored articles its last poll with items showed.
    # Retention never forgets them. Seeded with what each source showed last, as far as the
    # old `last_seen_at` tells (every item of a poll got the same time).
    """
    CREATE TABLE listings (
        source_id TEXT NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (source_id, article_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO listings (source_id, article_id)
        SELECT a.source_id, a.id FROM articles a JOIN
        (SELECT source_id, max(last_seen_at) AS latest FROM articles GROUP BY source_id) m
        ON a.source_id = m.source_id AND a.last_seen_at = m.latest;
    """,
    # For several daemons on one database (PostgreSQL); on SQLite, one daemon has them all.
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        held_until REAL NOT NULL
    );
    CREATE TABLE daemons (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        version TEXT NOT NULL,
        rules TEXT NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL
    );
    CREATE TABLE pacing (notifier_id TEXT PRIMARY KEY, next_at REAL NOT NULL);
    """,
    # A failing source backs off: when its next poll is due (NULL: an interval after the last).
    """
    ALTER TABLE sources ADD COLUMN next_due_at REAL;
    """,
    # The schedule (monitor/schedule.py): why the next poll is then, and how often news comes.
    """
    ALTER TABLE sources ADD COLUMN due_reason TEXT;
    ALTER TABLE sources ADD COLUMN last_new_at REAL;
    ALTER TABLE sources ADD COLUMN usual_gap REAL;
    ALTER TABLE sources ADD COLUMN news_polls INTEGER NOT NULL DEFAULT 0;
    """,
    # Copies of a story by the smallest shingle hashes of its text (monitor/cluster.py `sketch`):
    # an index lookup per value, where a SimHash scan grew with the store.
    """
    CREATE TABLE article_sketches (
        value INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        first_seen_at REAL NOT NULL
    );
    CREATE INDEX article_sketches_value ON article_sketches(value, first_seen_at);
    CREATE INDEX article_sketches_first_seen ON article_sketches(first_seen_at);
    """,
    # The web page's reads (monitor/store/views.py): a story's articles, items per source per
    # day, and each rule's matches per day and latest matches.
    """
    CREATE INDEX articles_cluster ON articles(cluster_id);
    CREATE INDEX articles_seen_source ON articles(first_seen_at, source_id);
    CREATE INDEX matches_day ON matches(matched_at, rule_id);
    CREATE INDEX matches_rule ON matches(rule_id, matched_at);
    """,
]
