"""monitor.cluster without SQLite: which story cluster a new article joins, from fake reads."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from monitor.article import Article
from monitor.cluster import (
    COPY_WINDOW,
    MAX_COMPARED,
    STORY_KEY_WINDOW,
    Clustered,
    article_text,
    assign_cluster,
    shingles,
    sketch,
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
    """The reads, from what `record` was told, counting each call: `sharing` ranks as the
    store does (most values shared, then newest)."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.sketches: dict[str, tuple[list[int], str, float]] = {}
        self.calls: list[tuple[object, ...]] = []

    def story_cluster(self, key: str, since: float) -> str | None:
        self.calls.append(("story", key, since))
        return self.keys.get(key)

    def sharing(self, values: Sequence[int], since: float, limit: int) -> list[tuple[str, str]]:
        self.calls.append(("sharing", since, limit))
        shared = [
            (len(set(values) & set(stored)), first_seen, article_id, cluster_id)
            for article_id, (stored, cluster_id, first_seen) in self.sketches.items()
            if first_seen > since and set(values) & set(stored)
        ]
        shared.sort(reverse=True)
        return [(article_id, cluster_id) for _, _, article_id, cluster_id in shared[:limit]]

    def text_of(self, article_id: str) -> str | None:
        self.calls.append(("text", article_id))
        return self.texts.get(article_id)

    def record(self, a: Article, clustered: Clustered, now: float) -> None:
        self.texts[a.id] = article_text(a)
        if clustered.sketch:
            self.sketches[a.id] = (list(clustered.sketch), clustered.cluster_id, now)
        if clustered.story_key:
            self.keys.setdefault(clustered.story_key, clustered.cluster_id)

    def texts_read(self) -> int:
        return sum(call[0] == "text" for call in self.calls)


def place(reads: Reads, a: Article, now: float = NOW) -> str:
    clustered = assign_cluster(a, reads, now)
    reads.record(a, clustered, now)
    return clustered.cluster_id


def sketch_of(a: Article) -> list[int]:
    return sketch(shingles(article_text(a)))


def test_a_new_story_starts_its_own_cluster():
    reads = Reads()
    a = article("1", HEADLINE, text(1))
    clustered = assign_cluster(a, reads, NOW)
    assert clustered.cluster_id == a.id
    assert clustered.story_key == "nvidia asks suppliers to pause h20 work"
    assert len(clustered.sketch) == 8 and clustered.sketch == sketch_of(a)


def test_an_update_joins_by_story_key_without_comparing_texts():
    reads = Reads()
    first = article("1", HEADLINE, text(1))
    place(reads, first)
    update = article("2", f"UPDATE 2-{HEADLINE}", text(2))
    reads.calls.clear()
    assert place(reads, update, NOW + DAY) == first.id
    assert reads.calls == [
        ("story", "nvidia asks suppliers to pause h20 work", NOW + DAY - STORY_KEY_WINDOW)
    ]
    assert reads.sketches[update.id][1] == first.id  # its copies find the story too


def test_a_copy_with_another_headline_joins_by_its_text():
    reads = Reads()
    first = article("1", HEADLINE, text(1))
    place(reads, first)
    copy = article("2", "Chip maker halts orders", text(1)[:-20] + " a trimmed ending here")
    assert place(reads, copy, NOW + DAY) == first.id


def test_a_copy_after_three_days_starts_its_own_cluster():
    reads = Reads()
    first = article("1", "Chips", text(1))
    place(reads, first)
    late = article("2", "Chips again", text(1))
    assert place(reads, late, NOW + COPY_WINDOW) == late.id


def test_a_shared_value_with_other_text_or_gone_text_is_not_a_copy():
    reads = Reads()
    new = article("1", "Chips", text(1))
    reads.sketches["gone"] = (sketch_of(new), "gone", NOW)  # same sketch, no longer stored
    reads.sketches["other"] = (sketch_of(new)[:1], "other", NOW)  # one value, unrelated text
    reads.texts["other"] = text(99)
    assert assign_cluster(new, reads, NOW).cluster_id == new.id
    assert [call for call in reads.calls if call[0] == "text"] == [
        ("text", "gone"),
        ("text", "other"),
    ]


def test_too_little_text_has_no_sketch_and_looks_for_no_copy():
    reads = Reads()
    short = article("1", "Chips", "Too short to fingerprint.")
    clustered = assign_cluster(short, reads, NOW)
    assert (clustered.cluster_id, clustered.story_key, list(clustered.sketch)) == (short.id, "", [])
    assert [call[0] for call in reads.calls] == []


@pytest.mark.parametrize(("decoys", "joined"), [(MAX_COMPARED - 1, "real"), (MAX_COMPARED, None)])
def test_at_most_eight_candidates_have_their_text_compared(decoys, joined):
    reads = Reads()
    new = article("q", "Chips", text(1))
    for n in range(decoys):  # share more values than the real copy: compared first
        reads.sketches[f"decoy{n}"] = (sketch_of(new), f"decoy{n}", NOW)
        reads.texts[f"decoy{n}"] = text(100 + n)
    reads.sketches["real"] = (sketch_of(new)[:3], "real", NOW)
    reads.texts["real"] = text(1)
    assert assign_cluster(new, reads, NOW).cluster_id == (joined or new.id)
    assert reads.texts_read() == min(decoys + 1, MAX_COMPARED)
