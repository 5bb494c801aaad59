"""monitor.cluster without SQLite: which story cluster a new article joins, from fake reads."""

from __future__ import annotations

import random

import pytest

from monitor.article import Article
from monitor.cluster import (
    SIMHASH_WINDOW,
    STORY_KEY_WINDOW,
    Clustered,
    RecentCopies,
    article_text,
    assign_cluster,
    simhash,
)

DAY = 86400.0
NOW = 1_000_000_000.0
HEADLINE = "Nvidia asks suppliers to pause H20 work"


def text(seed: int, count: int = 80) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(5000)}" for _ in range(count))


def article(url: str, title: str = "Chips", body: str = "") -> Article:
    return Article("a", title=title, body=body, url=f"https://x.example/{url}")


class Reads:
    """The three reads, from what `record` was told, counting each call."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.rows: list[tuple[str, int, str, float]] = []
        self.calls: list[tuple[object, ...]] = []

    def story_cluster(self, key: str, since: float) -> str | None:
        self.calls.append(("story", key, since))
        return self.keys.get(key)

    def recent_fingerprints(self, since: float) -> list[tuple[str, int, str, float]]:
        self.calls.append(("load", since))
        return [row for row in self.rows if row[3] > since]

    def text_of(self, article_id: str) -> str | None:
        self.calls.append(("text", article_id))
        return self.texts.get(article_id)

    def record(self, a: Article, clustered: Clustered, now: float) -> None:
        self.texts[a.id] = article_text(a)
        self.rows.append((a.id, clustered.simhash, clustered.cluster_id, now))
        if clustered.story_key:
            self.keys.setdefault(clustered.story_key, clustered.cluster_id)

    def texts_read(self) -> int:
        return sum(call[0] == "text" for call in self.calls)


def place(reads: Reads, copies: RecentCopies, a: Article, now: float = NOW) -> str:
    clustered = assign_cluster(a, reads, copies, now)
    reads.record(a, clustered, now)
    return clustered.cluster_id


def test_a_new_story_starts_its_own_cluster():
    reads, copies = Reads(), RecentCopies()
    a = article("1", HEADLINE, text(1))
    clustered = assign_cluster(a, reads, copies, NOW)
    assert clustered.cluster_id == a.id
    assert clustered.story_key == "nvidia asks suppliers to pause h20 work"
    assert clustered.simhash != 0
    assert copies.seen == {a.id: (a.id, NOW)}


def test_an_update_joins_by_story_key_without_comparing_texts():
    reads, copies = Reads(), RecentCopies()
    first = article("1", HEADLINE, text(1))
    place(reads, copies, first)
    update = article("2", f"UPDATE 2-{HEADLINE}", text(2))
    reads.calls.clear()
    assert place(reads, copies, update, NOW + DAY) == first.id
    assert reads.calls == [
        ("story", "nvidia asks suppliers to pause h20 work", NOW + DAY - STORY_KEY_WINDOW)
    ]
    assert copies.seen[update.id] == (first.id, NOW + DAY)  # its copies find the story too


def test_a_copy_with_another_headline_joins_by_its_text():
    reads, copies = Reads(), RecentCopies()
    first = article("1", HEADLINE, text(1))
    place(reads, copies, first)
    copy = article("2", "Chip maker halts orders", text(1)[:-20] + " a trimmed ending here")
    assert place(reads, copies, copy, NOW + DAY) == first.id


def test_a_copy_after_three_days_starts_its_own_cluster():
    reads, copies = Reads(), RecentCopies()
    first = article("1", "Chips", text(1))
    place(reads, copies, first)
    late = article("2", "Chips again", text(1))
    assert place(reads, copies, late, NOW + SIMHASH_WINDOW) == late.id


def test_a_near_simhash_with_other_text_or_gone_text_is_not_a_copy():
    reads, copies = Reads(), RecentCopies()
    copies.loaded_at = NOW
    new = article("1", "Chips", text(1))
    copies.add("gone", simhash(new), "gone", NOW)  # same SimHash, no longer stored
    copies.add("other", simhash(new), "other", NOW)  # same SimHash, unrelated text
    reads.texts["other"] = text(99)
    assert assign_cluster(new, reads, copies, NOW).cluster_id == new.id
    assert [call for call in reads.calls if call[0] == "text"] == [
        ("text", "gone"),
        ("text", "other"),
    ]


def test_too_little_text_has_no_simhash_and_is_not_indexed():
    reads, copies = Reads(), RecentCopies()
    short = article("1", "Chips", "Too short to fingerprint.")
    clustered = assign_cluster(short, reads, copies, NOW)
    assert (clustered.cluster_id, clustered.story_key, clustered.simhash) == (short.id, "", 0)
    assert copies.seen == {}
    assert reads.texts_read() == 0


@pytest.mark.parametrize(
    ("decoys", "joined"),
    [(RecentCopies.MAX_COMPARED - 1, "real"), (RecentCopies.MAX_COMPARED, None)],
)
def test_at_most_eight_candidates_have_their_text_compared(decoys, joined):
    reads, copies = Reads(), RecentCopies()
    copies.loaded_at = NOW
    new = article("q", "Chips", text(1))
    for n in range(decoys):  # nearer than the real copy: compared first
        copies.add(f"decoy{n}", simhash(new), f"decoy{n}", NOW)
        reads.texts[f"decoy{n}"] = text(100 + n)
    copies.add("real", simhash(new) ^ 1, "real", NOW)
    reads.texts["real"] = text(1)
    assert assign_cluster(new, reads, copies, NOW).cluster_id == (joined or new.id)
    assert reads.texts_read() == min(decoys + 1, RecentCopies.MAX_COMPARED)


def test_the_index_loads_the_window_on_first_use_and_again_after_an_hour():
    reads, copies = Reads(), RecentCopies()
    old = article("old", "Chips", text(1))
    reads.texts[old.id] = article_text(old)
    reads.rows = [(old.id, simhash(old), "story", NOW - DAY)]
    assert place(reads, copies, article("1", "Chips", text(1)), NOW) == "story"
    place(reads, copies, article("2", "Other", text(2)), NOW + RecentCopies.RELOAD)
    later = NOW + RecentCopies.RELOAD + 1
    place(reads, copies, article("3", "Other", text(3)), later)
    loads = [call for call in reads.calls if call[0] == "load"]
    assert loads == [("load", NOW - SIMHASH_WINDOW), ("load", later - SIMHASH_WINDOW)]
    assert set(copies.seen) == {
        old.id,
        article("1", "Chips", text(1)).id,
        article("2", "Other", text(2)).id,
        article("3", "Other", text(3)).id,
    }
