"""Article text, analysed once: words with their spans, sentences and paragraphs.

Words are runs of letters, digits and combining marks (Unicode-aware), each
NFKC-normalised and case-folded for comparison while keeping its character
span in the original text, so every hit can be highlighted where it stands.
Sentence breaks are a `.`, `!` or `?` followed by space and a capital, except
after abbreviations ("U.S.", "Mr.", "No. 2"); "2.5%" has no space, so no break.
Paragraphs are separated by blank lines.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cached_property

import regex

from monitor.article import Article

WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
ASCII_WORD = regex.compile(r"[a-z0-9]+")
SENTENCE_END = regex.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[\p{Lu}\p{N}])")
PARAGRAPH_BREAK = regex.compile(r"\n[ \t]*\n\s*")
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st no nos vs etc inc corp co ltd llc plc gov sen rep gen col "
    "lt sgt capt cmdr adm jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k e.u "
    "u.n a.m p.m e.g i.e fig art sec dept est approx".split()
)
TEXT_FIELDS = ("title", "summary", "body")
ALL_FIELDS = (*TEXT_FIELDS, "author", "url", "source")


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words_of(text: str) -> list[str]:
    return [fold(m.group()) for m in WORD.finditer(text)]


@dataclass
class FieldText:
    """One field of one article: its words, and where sentences and paragraphs break."""

    name: str
    text: str
    words: list[str] = field(init=False)
    starts: list[int] = field(init=False)
    ends: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if self.text.isascii():  # the common case: fold once, spans stay the same
            matches = list(ASCII_WORD.finditer(self.text.lower()))
            self.words = [m.group() for m in matches]
        else:
            matches = list(WORD.finditer(self.text))
            self.words = [fold(m.group()) for m in matches]
        self.starts = [m.start() for m in matches]
        self.ends = [m.end() for m in matches]

    @cached_property
    def positions(self) -> dict[str, list[int]]:
        """Word -> the positions where it stands (an inverted index of this field)."""
        index: dict[str, list[int]] = {}
        for position, word in enumerate(self.words):
            index.setdefault(word, []).append(position)
        return index

    @cached_property
    def vocabulary(self) -> list[str]:
        """The distinct words, sorted, so a wildcard's prefix is a bisect away."""
        return sorted(self.positions)

    def words_with_prefix(self, prefix: str) -> list[str]:
        vocabulary = self.vocabulary
        start = bisect_left(vocabulary, prefix)
        end = bisect_left(vocabulary, prefix + "\U0010ffff", start)
        return vocabulary[start:end]

    @cached_property
    def sentence_of(self) -> list[int]:
        return self._numbering(_sentence_breaks(self.text))

    @cached_property
    def paragraph_of(self) -> list[int]:
        return self._numbering([m.end() for m in PARAGRAPH_BREAK.finditer(self.text)])

    def _numbering(self, breaks: list[int]) -> list[int]:
        """For each word, how many breaks come before it."""
        return [bisect_right(breaks, start) for start in self.starts]

    def position_at(self, offset: int) -> int:
        """The word at or after a character offset (for regex hits)."""
        return max(0, bisect_right(self.starts, offset) - 1) if self.starts else 0


def _sentence_breaks(text: str) -> list[int]:
    breaks = []
    for match in SENTENCE_END.finditer(text):
        before = text[: match.start() + 1]
        last = regex.search(r"([\p{L}.]+)\.$", before)
        if last:
            word = last.group(1).casefold()
            if word in ABBREVIATIONS or len(word) == 1:
                continue
        breaks.append(match.end())
    return breaks


class AnalyzedArticle:
    """An article's fields as `FieldText`, built on first use and then reused by every rule."""

    def __init__(self, article: Article) -> None:
        self.article = article
        self._fields: dict[str, FieldText] = {}

    def field(self, name: str) -> FieldText:
        if name not in self._fields:
            self._fields[name] = FieldText(name, self._raw(name))
        return self._fields[name]

    def _raw(self, name: str) -> str:
        a = self.article
        values = {
            "title": a.title,
            "summary": a.summary,
            "body": a.body,
            "author": ", ".join(a.authors),
            "url": a.url,
            "source": a.source_id,
        }
        return values[name]

    def vocabulary(self) -> set[str]:
        """Every word of every field: what the presearcher looks up."""
        words: set[str] = set()
        for name in ALL_FIELDS:
            words.update(self.field(name).positions)
        return words

    def folded_text(self) -> str:
        return fold("\n".join(self._raw(name) for name in ALL_FIELDS))

    def lead_field(self) -> str:
        """Where `lead:` looks beyond the title: the body, or the summary if there is no body."""
        return "body" if self.article.body.strip() else "summary"
