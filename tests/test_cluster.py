"""cluster.py on its own: story keys, shingles, sketches and resemblance."""

from __future__ import annotations

import random

import pytest

from monitor.article import Article
from monitor.cluster import (
    MAX_SHINGLE_WORDS,
    MIN_KEY_WORDS,
    MIN_SHINGLE_WORDS,
    SKETCH_SIZE,
    article_text,
    resembles,
    same_story,
    shingles,
    sketch,
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


# ---- sketches ---------------------------------------------------------------------------


def story(text: str, title: str = "Nvidia pauses H20 work") -> Article:
    return Article("wire", title=title, body=text)


TEXT = " ".join(words(120))
EDITED = TEXT.replace(TEXT.split()[60], "changed", 1)
OTHER = " ".join(words(120, seed=2))


def sketch_of(a: Article) -> set[int]:
    return set(sketch(shingles(article_text(a))))


def test_a_sketch_is_the_smallest_shingle_hashes_signed():
    values = shingles(article_text(story(TEXT)))
    smallest = sorted(values)[:SKETCH_SIZE]
    assert sketch(values) == [v - 2**64 if v >= 2**63 else v for v in smallest]
    assert sketch({2**64 - 1, 5}) == [5, -1]  # the top bit set is stored as a negative number
    assert sketch(set()) == []
    assert sketch_of(Article("wire", title="Short", body="Too short.")) == set()


def test_copies_share_sketch_values_and_unrelated_texts_none():
    assert sketch_of(story(TEXT)) == sketch_of(story(TEXT, title="Nvidia pauses H20 work"))
    assert sketch_of(story(TEXT)) & sketch_of(story(EDITED, title="Nvidia pauses H20"))
    for seed in range(2, 30):
        other = story(" ".join(words(120, seed=seed)), title="Soybean prices")
        assert not sketch_of(story(TEXT)) & sketch_of(other)


def test_texts_sharing_half_their_shingles_share_a_sketch_value():
    """What the store's lookup relies on: at Jaccard 0.5 or more, some value is shared."""
    rng = random.Random(11)
    for trial in range(300):
        size = rng.choice([25, 60, 200, 600])
        base = words(size, seed=1000 + trial)
        copy = list(base)
        for position in rng.sample(range(size), size // 12):  # about 1 word in 12 changed
            copy[position] = f"x{rng.randrange(10**6)}"
        one, two = shingles(" ".join(base)), shingles(" ".join(copy))
        if resembles(one, two):
            assert set(sketch(one)) & set(sketch(two)), trial


PINNED_MIN = 30252328594448712  # with the SimHash -8562861840396930480 pinned before


def test_shingle_hashes_are_those_already_stored():
    """Sketches are stored and looked up by value: a faster shingle hash must give the very
    same values (these were computed before the hash was made faster)."""
    a = Article(
        "wire",
        title="Nvidia wins approval to ship H20 chips to China",
        body=" ".join(f"Word{n} trade déjà vu tariffs" for n in range(12)),
    )
    values = shingles(article_text(a))
    assert len(values) == 45
    assert min(values) == PINNED_MIN and sketch(values)[0] == PINNED_MIN


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
