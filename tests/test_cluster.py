"""cluster.py on its own: story keys, shingles, SimHash, resemblance and the SimHash index."""

from __future__ import annotations

import random

import pytest

from monitor.article import Article
from monitor.cluster import (
    CANDIDATE_BITS,
    MAX_SHINGLE_WORDS,
    MIN_KEY_WORDS,
    MIN_SHINGLE_WORDS,
    SimhashIndex,
    article_text,
    candidates,
    distance,
    fingerprint,
    resembles,
    same_story,
    shingles,
    simhash,
    story_key,
)

HEADLINE = "Nvidia Asks Suppliers to Pause H20 Work"
KEY = "nvidia asks suppliers to pause h20 work"


def words(count: int, seed: int = 1, vocabulary: int = 5000) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(vocabulary)}" for _ in range(count)]


# ---- story keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        HEADLINE,
        f"{HEADLINE} -- 2nd Update",
        f"{HEADLINE} - 3rd update",
        f"{HEADLINE} --Update",
        f"{HEADLINE} -- Final Update (adds analyst comment)",
        f"UPDATE 1-{HEADLINE}",
        f"REFILE-{HEADLINE}",
        f"CORRECTED-{HEADLINE}",
        f"RPT-{HEADLINE}",
        f"WRAPUP 2 - {HEADLINE}",
        f"{HEADLINE} (Updated)",
        f"{HEADLINE} (Update 2)",
        f"{HEADLINE} (corrected)",
        f"{HEADLINE} (Refiled)",
        f"Updated: {HEADLINE}",
        f"BREAKING: {HEADLINE}",
        f"  {HEADLINE.upper()}  ",
    ],
)
def test_story_key_strips_each_kind_of_update_marker(title):
    assert story_key(title) == KEY


def test_story_key_keeps_update_as_a_word_of_the_headline():
    assert story_key("Nvidia gives an update on H20") == "nvidia gives an update on h20"
    assert story_key("Update on H20 chips today") == "update on h20 chips today"


def test_story_key_is_empty_for_headlines_too_short_to_trust():
    assert story_key("Markets") == ""
    assert story_key("Live updates") == ""
    assert story_key("BREAKING: Markets fall sharply") == ""  # three words once stripped
    assert story_key("Markets fall very sharply") == "markets fall very sharply"
    assert len(story_key("one two three four").split()) == MIN_KEY_WORDS
    assert story_key("") == ""


# ---- shingles ----------------------------------------------------------------------


def test_too_little_text_gives_no_shingles():
    assert shingles("") == set()
    assert shingles(" ".join(words(MIN_SHINGLE_WORDS - 1))) == set()
    enough = words(MIN_SHINGLE_WORDS, vocabulary=10**9)
    assert len(shingles(" ".join(enough))) == MIN_SHINGLE_WORDS - 2  # one per three words


def test_shingles_are_of_folded_words_and_repeats_count_once():
    text = " ".join(words(40, vocabulary=10**9))
    assert shingles(text.upper()) == shingles(text) == shingles(text.replace(" ", ",  "))
    assert len(shingles(" ".join(["same"] * 40))) == 1


def test_shingles_stop_at_the_first_max_shingle_words_words():
    head = words(MAX_SHINGLE_WORDS, vocabulary=10**9)
    capped = shingles(" ".join(head))
    assert len(capped) == MAX_SHINGLE_WORDS - 2
    assert shingles(" ".join(head + words(500, seed=2))) == capped
    assert shingles(" ".join(["lead", *head])) != capped  # the cap counts from the start


# ---- SimHash --------------------------------------------------------------------------


def story(text: str, title: str = "Nvidia pauses H20 work") -> Article:
    return Article("wire", title=title, body=text)


TEXT = " ".join(words(120))
EDITED = TEXT.replace(TEXT.split()[60], "changed", 1)
OTHER = " ".join(words(120, seed=2))


def test_identical_texts_have_the_same_simhash():
    assert simhash(story(TEXT)) == simhash(story(TEXT, title="Nvidia pauses H20 work")) != 0
    assert distance(simhash(story(TEXT)), simhash(story(TEXT))) == 0


def test_a_lightly_edited_copy_is_close_and_an_unrelated_text_far():
    one, edited = simhash(story(TEXT)), simhash(story(EDITED, title="Nvidia pauses H20"))
    assert 0 < distance(one, edited) <= CANDIDATE_BITS
    assert candidates(one, edited)
    for seed in range(2, 7):
        other = simhash(story(" ".join(words(120, seed=seed)), title="Soybean prices"))
        assert distance(one, other) > CANDIDATE_BITS
        assert not candidates(one, other)


def test_simhash_is_a_signed_64_bit_integer_and_zero_for_short_texts():
    values = [simhash(story(" ".join(words(120, seed=seed)))) for seed in range(20)]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert any(v < 0 for v in values)  # the top bit set is stored as a negative number
    assert simhash(Article("wire", title="Short", body="Too short.")) == 0
    assert fingerprint(set()) == 0
    assert not candidates(0, 0) and not candidates(values[0], 0)


def test_fingerprint_sets_the_bits_most_values_have():
    assert fingerprint({0b1011, 0b0011, 0b0001}) == 0b0011
    assert fingerprint({2**63 | 1, 2**63 | 3}) == -(2**63) + 1  # signed, as SQLite stores it


def test_distance_counts_differing_bits_of_signed_values():
    assert distance(0, 0b1011) == 3
    assert distance(-1, 0) == 64
    assert distance(-(2**63), 0) == 1


# ---- resemblance ------------------------------------------------------------------------


def test_same_story_for_copies_and_light_edits_not_for_unrelated_or_short_texts():
    assert same_story(TEXT, TEXT)
    assert same_story(TEXT, EDITED)
    assert same_story(TEXT, TEXT + " " + " ".join(words(20, seed=9)))  # a paragraph added
    assert not same_story(TEXT, OTHER)
    assert not same_story("Too short.", "Too short.")


def test_resembles_needs_half_the_shingles_shared():
    assert resembles({1, 2}, {1, 2, 3, 4})  # Jaccard 0.5
    assert not resembles({1, 2}, {1, 2, 3, 4, 5})  # 0.4
    assert resembles({1}, {1})
    assert not resembles(set(), set())
    assert not resembles(set(), {1})


# ---- the SimHash index ------------------------------------------------------------------


def signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def planted(rng: random.Random, count: int = 1500, near: int = 150) -> list[int]:
    """Random signed fingerprints, and near copies of some: up to 14 bits flipped."""
    values = [signed(rng.getrandbits(64)) for _ in range(count)]
    for base in values[:near]:
        flipped = base & (2**64 - 1)
        for bit in rng.sample(range(64), rng.randint(1, 14)):
            flipped ^= 1 << bit
        values.append(signed(flipped))
    return values


def test_near_finds_what_a_scan_finds_nearest_first():
    rng = random.Random(3)
    values = planted(rng)
    index = SimhashIndex()
    for number, value in enumerate(values):
        index.add(value, str(number))
    found_some = 0
    for query in values[:200] + [signed(rng.getrandbits(64)) for _ in range(20)]:
        scanned = {str(n) for n, v in enumerate(values) if distance(query, v) <= CANDIDATE_BITS}
        found = index.near(query, limit=len(values))
        assert set(found) == scanned
        bits = [distance(query, values[int(key)]) for key in found]
        assert bits == sorted(bits)
        found_some += len(found) > 1
    assert found_some > 50  # the planted copies were found, not only each query itself


def test_near_on_an_empty_index_finds_nothing():
    assert SimhashIndex().near(12345) == []


def test_limit_bounds_a_flood_of_near_identical_fingerprints():
    index = SimhashIndex()
    base = signed(random.Random(4).getrandbits(64))
    for number in range(200):
        index.add(base ^ (1 << (number % 8)), f"copy{number}")
    far = base ^ (2**40 - 1)  # 40 bits away: never found
    index.add(far, "far")
    assert len(index.near(base)) == 64  # the default limit
    limited = index.near(base, limit=10)
    assert len(limited) == 10
    assert all(key.startswith("copy") for key in limited)
    assert len(index.near(base, limit=1000)) == 200
    assert index.near(far) == ["far"]


def test_near_puts_the_nearest_first_and_stops_at_candidate_bits():
    index = SimhashIndex()
    base = signed(random.Random(5).getrandbits(64))
    for bits in range(CANDIDATE_BITS + 1, 0, -1):  # added farthest first
        index.add(signed((base ^ ((1 << bits) - 1)) & (2**64 - 1)), f"d{bits}")
    assert index.near(base) == [f"d{bits}" for bits in range(1, CANDIDATE_BITS + 1)]


def test_simhash_values_are_those_already_stored():
    """SimHashes are stored and compared with new ones: a faster shingle hash or fingerprint
    must give the very same values (this one was computed before they were made faster)."""
    a = Article(
        "wire",
        title="Nvidia wins approval to ship H20 chips to China",
        body=" ".join(f"Word{n} trade déjà vu tariffs" for n in range(12)),
    )
    assert len(shingles(article_text(a))) == 45
    assert simhash(a) == -8562861840396930480
