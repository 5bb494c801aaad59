"""Article text, analysed once: words with their spans, sentences and paragraphs.

Words are runs of letters, digits and combining marks (Unicode-aware), each
NFKC-normalised and case-folded for comparison while keeping its character
span in the original text, so every hit can be highlighted where it stands.
Sentence breaks are a `.`, `!` or `?` followed by space and a capital, except
after abbreviations ("U.S.", "Mr.", "No. 2"); "2.5%" has no space, so no break.
Paragraphs are separated by blank lines.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property

import regex

from monitor.article import Article

WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
ASCII_WORD = re.compile(r"[a-z0-9]+")  # the stdlib's is twice as fast on ASCII
# bytes.translate: ASCII letters to lower case, digits kept, everything else a space
ASCII_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256)
)
SENTENCE_END = regex.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[\p{Lu}\p{N}])")
PARAGRAPH_BREAK = regex.compile(r"\n[ \t]*\n\s*")
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st no nos vs etc inc corp co ltd llc plc gov sen rep gen col "
    "lt sgt capt cmdr adm jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k e.u "
    "u.n a.m p.m e.g i.e fig art sec dept est approx".split()
)
MAX_ABBREVIATION = max(map(len, ABBREVIATIONS))
TEXT_FIELDS = ("title", "summary", "body")
OTHER_FIELDS = ("author", "url", "source")
ALL_FIELDS = (*TEXT_FIELDS, *OTHER_FIELDS)
# A word's first occurrences in a field that count: far more than any real story has,
# and a bound on the work a text written to be dense with a rule's words can cause.
MAX_OCCURRENCES = 10_000


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words_of(text: str) -> list[str]:
    """The folded words of a text, in order (clustering's name for `tokens`)."""
    return tokens(text)


def tokens(text: str) -> list[str]:
    """The folded words of a text, in order.

    On ASCII text the byte table gives exactly what the regex and `fold` give:
    runs of letters and digits, lower-cased (NFKC and casefold change no ASCII).
    """
    if text.isascii():  # the common case: a byte table folds and splits at C speed
        return text.encode("ascii").translate(ASCII_FOLD).decode("ascii").split()
    return [fold(m.group()) for m in WORD.finditer(text)]


@dataclass
class FieldText:
    """One field of one article: its words, and where sentences and paragraphs break."""

    name: str
    text: str
    words: list[str] = field(init=False)
    _occurrences: dict[str, list[int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.words = tokens(self.text)

    @cached_property
    def _spans(self) -> tuple[list[int], list[int]]:
        """Where each word starts and ends: only hits and sentence numbers need it, so it waits."""
        if self.text.isascii():
            found = [m.span() for m in ASCII_WORD.finditer(self.text.lower())]
        else:
            found = [m.span() for m in WORD.finditer(self.text)]
        return [start for start, _ in found], [end for _, end in found]

    @property
    def starts(self) -> list[int]:
        return self._spans[0]

    @property
    def ends(self) -> list[int]:
        return self._spans[1]

    @cached_property
    def lowered(self) -> str:
        return self.text.lower()

    @cached_property
    def word_set(self) -> set[str]:
        """The distinct words. Never modified."""
        return set(self.words)

    def occurrences(self, word: str) -> list[int]:
        """Where a word stands (its first MAX_OCCURRENCES places). Rules ask about few of an
        article's words, so each is found by `list.index` at C speed when first asked."""
        found = self._occurrences.get(word)
        if found is None:
            found = self._occurrences[word] = []
            if word in self.word_set:
                words, position = self.words, -1
                with suppress(ValueError):
                    while len(found) < MAX_OCCURRENCES:
                        position = words.index(word, position + 1)
                        found.append(position)
        return found

    @cached_property
    def vocabulary(self) -> list[str]:
        """The distinct words, sorted, so a wildcard's prefix is a bisect away."""
        return sorted(self.word_set)

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
        word = _word_before(text, match.start()).casefold()
        if word and (word in ABBREVIATIONS or len(word) == 1):
            continue
        breaks.append(match.end())
    return breaks


def _word_before(text: str, end: int) -> str:
    """The letters and dots just before `end`, where a `.` stands: "U.S" before "U.S. Steel".

    Read backwards at most a little past the longest abbreviation, so that a text of many
    sentences costs linear time (no slice or search from the start at each break).
    """
    if text[end] != ".":
        return ""
    start, limit = end, max(0, end - MAX_ABBREVIATION - 1)
    while start > limit and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return text[start:end]


class AnalyzedArticle:
    """An article's fields as `FieldText`, built on first use and then reused by every rule."""

    def __init__(self, article: Article) -> None:
        self.article = article
        self._fields: dict[str, FieldText] = {}
        self._words: dict[tuple[str, ...], set[str]] = {}

    def field(self, name: str) -> FieldText:
        found = self._fields.get(name)
        if found is None:
            found = self._fields[name] = FieldText(name, self._raw(name))
        return found

    def words_in(self, names: tuple[str, ...]) -> set[str]:
        """Every word of these fields: one set lookup answers "is this word there?"."""
        found = self._words.get(names)
        if found is None:
            if len(names) == 1:
                found = self.field(names[0]).word_set
            else:  # author, url and source are seldom read by rules: no FieldText for them
                found = set().union(*(
                    self.field(name).words if name in TEXT_FIELDS else tokens(self._raw(name))
                    for name in names
                ))  # fmt: skip
            self._words[names] = found
        return found

    def _raw(self, name: str) -> str:
        a = self.article
        if name == "author":
            return ", ".join(a.authors)
        return a.source_id if name == "source" else getattr(a, name)

    def folded_text(self) -> str:
        return fold("\n".join(self._raw(name) for name in ALL_FIELDS))

    def lead_field(self) -> str:
        """Where `lead:` looks beyond the title: the body, or the summary if there is no body."""
        return "body" if self.article.body.strip() else "summary"
