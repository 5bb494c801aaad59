"""Article text, analysed once: words with their spans, sentences and paragraphs.

Words are runs of letters, digits and combining marks (Unicode-aware), each
NFKC-normalised and case-folded for comparison while keeping its character
span in the original text, so every hit can be highlighted where it stands.
Chinese, Japanese and Korean are written without spaces, so in those scripts
(Han, Hiragana, Katakana, Hangul) every character is a word of its own: a
query's `出口管制` is then the phrase of its four characters, which must stand
side by side (`joined`), and matches inside any longer run, at its exact span.
Sentence breaks are a `.`, `!` or `?` followed by space and a capital, except
after abbreviations ("U.S.", "Mr.", "No. 2"); "2.5%" has no space, so no break;
a CJK character after the space counts as a capital; and `。`, `！` or `？` end a
sentence with or without a space after them. Paragraphs are separated by blank lines.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from bisect import bisect_left, bisect_right
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, islice

import regex

from monitor.article import Article

WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
# A letter or digit of a script written without spaces (ー and 々 included), with the marks
# after it: half-width ｶﾞ is one character, ガ, once folded.
CJK_LETTER = r"[[\p{L}\p{N}]&&[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]]"
CJK = regex.compile(rf"(?V1){CJK_LETTER}")
CJK_WORD = regex.compile(
    rf"(?V1){CJK_LETTER}[\p{{M}}\uFF9E\uFF9F]*|[[\p{{L}}\p{{N}}\p{{M}}]--{CJK_LETTER}]+"
)
ASCII_WORD = re.compile(r"[a-z0-9]+")  # the stdlib's is twice as fast on ASCII
# bytes.translate: ASCII letters to lower case, digits kept, everything else a space
ASCII_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256)
)
SENTENCE_END = regex.compile(
    rf"(?V1)[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[「『]?(?:[\p{{Lu}}\p{{N}}]|{CJK_LETTER}))"
    r"|[。！？][\"'”’)\]」』）】〕]*\s*"
)
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


# Characters that NFKC and casefold leave alone, each a word of its own: most of any
# Chinese, Japanese or Korean text, split and spanned at C speed (`list`, `range`)
PLAIN_CJK = "\u3041-\u3096\u30a1-\u30fa\u30fc\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
PLAIN_CJK_RUN = re.compile(f"[{PLAIN_CJK}]+")
# Most Chinese and Japanese news is plain CJK characters, ASCII and CJK punctuation (none
# of it a letter): such a text is split by one stdlib regex on its lower-cased form, as
# fast as possible; anything else in it (ｶﾞ, ﬁ, é) takes the general `analyse_cjk`.
NOT_SIMPLE_CJK = re.compile(
    f"[^\x00-\x7f{PLAIN_CJK}\u3000-\u3004\u3008-\u3011\u3014-\u301f\u30fb"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2010-\u2027]"
)
SIMPLE_CJK_RUN = re.compile(f"[{PLAIN_CJK}]+|[a-z0-9]+")  # each CJK character then a word
# The other CJK characters (half-width katakana, compatibility ideographs) are folded
# once each: a few thousand make up most texts, and a dict lookup is twice as fast as `fold`
_FOLDED_UNITS: dict[str, str] = {}
MAX_FOLDED_UNITS = 200_000


def _fold_unit(unit: str) -> str:
    found = _FOLDED_UNITS.get(unit)
    if found is None:
        if len(_FOLDED_UNITS) >= MAX_FOLDED_UNITS:
            _FOLDED_UNITS.clear()
        found = _FOLDED_UNITS[unit] = fold(unit)
    return found


def is_cjk(word: str) -> bool:
    """Whether a word is one character (with its marks) of a script written without spaces."""
    return CJK.match(word) is not None


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
    if not CJK.search(text):
        return [fold(word) for word in WORD.findall(text)]
    if NOT_SIMPLE_CJK.search(text):
        return analyse_cjk(text)[0]
    return _simple_cjk_words(text.lower())


def _simple_cjk_words(lowered: str, run_starts: set[int] | None = None) -> list[str]:
    """Runs found by the stdlib regex (a match costs 0.1 µs: one per character would be
    most of the time), CJK runs then split into characters by `list.extend` at C speed.
    `run_starts` gets the position of each run's first word: two CJK characters touch
    exactly when the second does not start a run (two CJK runs never touch)."""
    words: list[str] = []
    for run in SIMPLE_CJK_RUN.findall(lowered):
        if run_starts is not None:
            run_starts.add(len(words))
        if run[0] < "\x80":
            words.append(run)
        else:
            words.extend(run)
    return words


def _simple_cjk_spans(lowered: str) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for run in SIMPLE_CJK_RUN.finditer(lowered):
        start, end = run.span()
        if lowered[start] < "\x80":
            starts.append(start)
            ends.append(end)
        else:
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
    return starts, ends


def analyse_cjk(text: str) -> tuple[list[str], list[int], list[int]]:
    """The folded words of a text with CJK characters, and where each starts and ends.

    Runs of letters as in other texts, then within a run each CJK character (with
    the marks after it) a word, and each stretch of other letters one word: what
    CJK_WORD finds in the whole text, in one pass, with plain runs split at C speed.
    """
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for run in WORD.finditer(text):
        word, start, end = run.group(), run.start(), run.end()
        if PLAIN_CJK_RUN.fullmatch(word):
            words.extend(word)
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
        elif word.isascii() or not CJK.search(word):
            words.append(fold(word))
            starts.append(start)
            ends.append(end)
        else:
            for unit in CJK_WORD.finditer(word):
                piece = unit.group()
                words.append(_fold_unit(piece) if len(piece) == 1 else fold(piece))
                starts.append(start + unit.start())
                ends.append(start + unit.end())
    return words, starts, ends


@dataclass
class FieldText:
    """One field of one article: its words, and where sentences and paragraphs break."""

    name: str
    text: str
    words: list[str] = field(init=False)
    simple_cjk: bool = field(init=False, default=False)  # CJK, ASCII and CJK punctuation only
    _run_starts: set[int] = field(init=False, default_factory=set)  # for simple CJK text
    _occurrences: dict[str, list[int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        text = self.text
        if text.isascii() or not CJK.search(text):
            self.words = tokens(text)
        elif NOT_SIMPLE_CJK.search(text):  # the spans come in the same pass
            self.words, starts, ends = analyse_cjk(text)
            self.__dict__["_spans"] = starts, ends
        else:
            self.simple_cjk = True
            self.words = _simple_cjk_words(self.lowered, self._run_starts)

    @cached_property
    def _spans(self) -> tuple[list[int], list[int]]:
        """Where each word starts and ends: only hits and sentence numbers need it, so it waits."""
        if self.text.isascii():
            found = [m.span() for m in ASCII_WORD.finditer(self.text.lower())]
        elif self.simple_cjk:
            return _simple_cjk_spans(self.lowered)
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

    def joined(self, start: int, joins: tuple[int, ...]) -> bool:
        """Whether the words at `start + k`, for each k in `joins`, touch the word before
        them (no character between): a CJK term's characters stand side by side."""
        if self.simple_cjk:  # no spans needed: joined words are CJK characters
            return self._run_starts.isdisjoint([start + k for k in joins])
        starts, ends = self.starts, self.ends
        return all(starts[start + k] == ends[start + k - 1] for k in joins)

    @cached_property
    def pairs(self) -> set[str]:
        """Every two touching words, concatenated (the CJK bigrams the presearcher looks
        up), and some pairs no anchor asks for: a Latin word touching a CJK character, and
        in plain CJK text any two neighbouring characters, punctuation included."""
        if self.text.isascii():
            return set()
        if self.simple_cjk:
            # every CJK character is a word here, so two side by side in the text touch;
            # the other neighbours (punctuation, ASCII) make pairs no anchor asks for
            lowered = self.lowered
            return set(map(operator.add, lowered, islice(lowered, 1, None)))
        words, starts, ends = self.words, self.starts, self.ends
        # every pair of neighbours, kept where the second starts as the first ends (in C)
        neighbours = map(operator.add, words, islice(words, 1, None))
        return set(compress(neighbours, map(operator.eq, islice(starts, 1, None), ends)))

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
            found = self._fields[name] = FieldText(name, self.raw(name))
        return found

    def words_in(self, names: tuple[str, ...]) -> set[str]:
        """Every word of these fields: one set lookup answers "is this word there?"."""
        found = self._words.get(names)
        if found is None:
            if len(names) == 1:
                found = self.field(names[0]).word_set
            else:  # author, url and source are seldom read by rules: no FieldText for them
                found = set().union(*(
                    self.field(name).words if name in TEXT_FIELDS else tokens(self.raw(name))
                    for name in names
                ))  # fmt: skip
            self._words[names] = found
        return found

    def raw(self, name: str) -> str:
        """A field's text as the article has it (authors joined by commas)."""
        a = self.article
        if name == "author":
            return ", ".join(a.authors)
        return a.source_id if name == "source" else getattr(a, name)

    def folded_text(self) -> str:
        return fold("\n".join(self.raw(name) for name in ALL_FIELDS))

    def lead_field(self) -> str:
        """Where `lead:` looks beyond the title: the body, or the summary if there is no body."""
        return "body" if self.article.body.strip() else "summary"
