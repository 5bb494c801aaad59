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

import codecs
import operator
import re
import sys
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, compress, islice, repeat

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
CJK_PUNCTUATION = (
    (0x3000, 0x3004), (0x3008, 0x3011), (0x3014, 0x301F), (0x30FB, 0x30FB), (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65), (0x2010, 0x2027),
)  # fmt: skip
NOT_SIMPLE_CJK = re.compile(
    f"[^\x00-\x7f{PLAIN_CJK}" + "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK_PUNCTUATION) + "]"
)
SIMPLE_CJK_RUN = re.compile(f"[{PLAIN_CJK}]+|[a-z0-9]+")  # each CJK character then a word
# The characters of simple CJK text other than CJK ones: ASCII, then CJK punctuation
NOT_CJK = "".join(map(chr, range(128))) + "".join(
    chr(c) for first, last in CJK_PUNCTUATION for c in range(first, last + 1)
)
# What separates words in simple CJK text, lower-cased: all but CJK characters and [a-z0-9]
SIMPLE_SEPARATORS = frozenset(NOT_CJK)
SIMPLE_GAP = f"[^{PLAIN_CJK}a-z0-9]*"
# Simple CJK text's characters as classes, a byte each (`FieldText._classes`): ASCII and CJK
# punctuation have a byte in the map, the rest (CJK characters) become `?`; then `C` for
# those, `a` for [a-z0-9] and a space for every other byte, and a word starts at each of these
SEPARATOR_MAP = codecs.charmap_build(NOT_CJK.ljust(256, "\ufffe"))  # U+FFFE: no character
CLASSES = bytes(
    ord("C") if c == ord("?") else ord("a") if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789"
    else 32 for c in range(256)
)  # fmt: skip
WORD_STARTS = (b"C", b" a", b"Ca")
# Two neighbouring characters of a BMP text as one int: their UTF-16 code units read as one
# 32-bit number, all of a text's at C speed (`array`), a third of the cost of 2-char strings
UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
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


def pair_code(pair: str) -> int | None:
    """Two characters as `FieldText.pair_codes` has them; None if they are not two of the BMP."""
    units = pair.encode(UTF16, "surrogatepass")
    return array("I", units)[0] if len(units) == 4 and len(pair) == 2 else None


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
    """One field of one article: its words, and where sentences and paragraphs break.

    Simple CJK text (CJK characters, ASCII and CJK punctuation only) has three times the
    words of English text of as many bytes, one per character, so it builds no word list
    unless a Latin word's or a wildcard's position is asked for, nor a set of them unless a
    rule needs it: the presearcher asks about the CJK characters that lead to rules
    (`words_among`) and touching pairs (as ints, `pair_codes_among`), a check about a character
    looks for it in the text, a phrase of CJK characters is one regex search over the
    lower-cased text, and their positions (NEAR) are their character offsets less the
    characters before them that start no word, counted at C speed (`_positions`).
    """

    name: str
    text: str
    simple_cjk: bool = field(init=False, default=False)
    _occurrences: dict[str, list[int]] = field(init=False, default_factory=dict)
    _known: dict[re.Pattern[str], set[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        text = self.text
        if text.isascii() or not CJK.search(text):
            self.__dict__["words"] = tokens(text)
        elif NOT_SIMPLE_CJK.search(text):  # the spans come in the same pass
            self.__dict__["words"], starts, ends = analyse_cjk(text)
            self.__dict__["_spans"] = starts, ends
        else:
            self.simple_cjk = True

    @cached_property
    def words(self) -> list[str]:
        """The folded words in order (made with the field unless it is simple CJK text)."""
        return self._simple_words[0]

    @cached_property
    def _simple_words(self) -> tuple[list[str], set[int]]:
        """Simple CJK text's words, and the positions of those that start a run: two CJK
        characters touch exactly when the second does not start one."""
        run_starts: set[int] = set()
        return _simple_cjk_words(self.lowered, run_starts), run_starts

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
        """The text lower-cased. Simple CJK text changes only in its ASCII capitals, so without
        any it is its own (told from its ASCII bytes in a third of the time of `lower`)."""
        if self.simple_cjk and self._ascii.lower() == self._ascii:
            return self.text
        return self.text.lower()

    @cached_property
    def _ascii(self) -> bytes:
        """Simple CJK text's ASCII as it stands, each other character made `?`."""
        return self.text.encode("ascii", "replace")

    @cached_property
    def word_set(self) -> set[str]:
        """The distinct words. Never modified."""
        if not self.simple_cjk:
            return set(self.words)
        # its distinct characters less the separators, and its runs of [a-z0-9], all in C
        found = set(self.lowered)
        found -= SIMPLE_SEPARATORS
        found.update(self._ascii_words)
        return found

    def has_word(self, word: str) -> bool:
        """`word in word_set`, but in simple CJK text whose set is not made yet, a CJK
        character is looked for in the text (`in`, at C speed) and any other word among
        its Latin ones: the set costs a Python object per character, and rules that ask
        about a few characters need none."""
        if not self.simple_cjk or "word_set" in self.__dict__:
            return word in self.word_set
        return word in self.lowered if plain_cjk_character(word) else word in self._ascii_words

    def has_words(self, words: frozenset[str]) -> bool:
        """Every one of `words` in the field (`has_word` each, in simple CJK text)."""
        return all(map(self.has_word, words)) if self.simple_cjk else words <= self.word_set

    def words_among(self, characters: re.Pattern[str]) -> set[str]:
        """The words of the field that can lead the presearcher to rules, when it knows which
        CJK characters those are (`characters`): all of them where the field is not simple CJK
        or its word set is made; else those characters in it, and its [a-z0-9] runs."""
        if not self.simple_cjk or "word_set" in self.__dict__:
            return self.word_set
        found = self._known.get(characters)
        if found is None:
            found = self._known[characters] = set(characters.findall(self.lowered))
            found.update(self._ascii_words)
        return found

    @cached_property
    def _ascii_words(self) -> list[str]:
        """Simple CJK text's runs of [a-z0-9], lower-cased: the rest is a space (`ASCII_FOLD`)."""
        return self._ascii.translate(ASCII_FOLD).decode("ascii").split()

    def occurrences(self, word: str) -> list[int]:
        """Where a word stands (its first MAX_OCCURRENCES places). Rules ask about few of an
        article's words, so each is found by `list.index` at C speed when first asked; a
        CJK character of simple CJK text by `str.find`, which needs no word list."""
        found = self._occurrences.get(word)
        if found is None:
            if self.simple_cjk and plain_cjk_character(word):
                found = self._occurrences[word] = self._positions(self._offsets(word))
                return found
            found = self._occurrences[word] = []
            if word in self.word_set:
                words, position = self.words, -1
                with suppress(ValueError):
                    while len(found) < MAX_OCCURRENCES:
                        position = words.index(word, position + 1)
                        found.append(position)
        return found

    def phrase_starts(self, phrase: tuple[str, ...], joined: tuple[int, ...] = ()) -> list[int]:
        """Where a phrase of exact words starts; `joined` places must touch the word before.
        In simple CJK text, a phrase of CJK characters that is not there costs no word list."""
        pattern = self._cjk_pattern(phrase, joined)
        if pattern is not None:
            if pattern.search(self.lowered) is None:
                return []
            if self.lowered.count(phrase[0]) <= MAX_OCCURRENCES:  # every start counts
                overlapping = _cjk_phrase_starts(phrase, joined)
                return self._positions([m.start() for m in overlapping.finditer(self.lowered)])
        starts = self.occurrences(phrase[0])
        if len(phrase) == 1:
            return list(starts)
        words, rest, n = self.words, list(phrase[1:]), len(phrase)
        found = [s for s in starts if words[s + 1 : s + n] == rest]
        return [s for s in found if self.joined(s, joined)] if joined and found else found

    def _offsets(self, character: str) -> list[int]:
        """Where a character stands in the lower-cased text (its first MAX_OCCURRENCES)."""
        found: list[int] = []
        offset, find = -1, self.lowered.find
        while len(found) < MAX_OCCURRENCES and (offset := find(character, offset + 1)) != -1:
            found.append(offset)
        return found

    def _positions(self, offsets: list[int]) -> list[int]:
        """The word positions of words of simple CJK text starting at these character offsets
        (CJK characters, in order): how many words start before each, counted between one
        offset and the next in `_classes` at C speed (`bytes.count`), so in linear time."""
        classes = self._classes
        ends = [offset + 1 for offset in offsets]  # `_classes` starts with one more byte
        starts = [0, *ends[:-1]]
        counts = [map(classes.count, repeat(pattern), starts, ends) for pattern in WORD_STARTS]
        return list(accumulate(map(sum, zip(*counts, strict=True))))

    @cached_property
    def _classes(self) -> bytes:
        """Simple CJK text as a space and then one byte a character: `C` for a CJK character,
        `a` for a Latin letter or digit, a space for a separator. A word starts at each `C`
        and at each `a` after a space or a `C` (`WORD_STARTS`). CJK punctuation becomes a
        byte of its own by `charmap_encode`, each CJK character `?` (after the text's own `?`
        became `!`: another separator), in C: no Python object a character."""
        text = self.lowered.replace("?", "!")
        return b" " + codecs.charmap_encode(text, "replace", SEPARATOR_MAP)[0].translate(CLASSES)

    def count(self, word: str) -> int:
        """How often a word stands in the field (a C-speed count of a CJK character in simple
        CJK text, where every one is a word)."""
        if self.simple_cjk and plain_cjk_character(word):
            return self.lowered.count(word)
        return self.words.count(word)

    def has_phrase(self, phrase: tuple[str, ...], joined: tuple[int, ...] = ()) -> bool:
        """Whether `phrase_starts` finds any, without positions where a regex can tell (all
        but a field with more than MAX_OCCURRENCES of the first, where those after count not)."""
        pattern = self._cjk_pattern(phrase, joined)
        if pattern is not None:
            if pattern.search(self.lowered) is None:
                return False
            if self.lowered.count(phrase[0]) <= MAX_OCCURRENCES:
                return True
        return bool(self.phrase_starts(phrase, joined))

    def _cjk_pattern(
        self, phrase: tuple[str, ...], joined: tuple[int, ...]
    ) -> re.Pattern[str] | None:
        return _cjk_phrase(phrase, joined) if self.simple_cjk else None

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
            return self._simple_words[1].isdisjoint([start + k for k in joins])
        starts, ends = self.starts, self.ends
        return all(starts[start + k] == ends[start + k - 1] for k in joins)

    @cached_property
    def pairs(self) -> set[str]:
        """Every two touching words, concatenated (the CJK bigrams the presearcher looks
        up), and some pairs no anchor asks for: a Latin word touching a CJK character.
        Not for simple CJK text, whose pairs are `pair_codes`."""
        if self.text.isascii():
            return set()
        words, starts, ends = self.words, self.starts, self.ends
        # every pair of neighbours, kept where the second starts as the first ends (in C)
        neighbours = map(operator.add, words, islice(words, 1, None))
        return set(compress(neighbours, map(operator.eq, islice(starts, 1, None), ends)))

    def pair_codes_among(self, codes: frozenset[int]) -> frozenset[int]:
        """Simple CJK text's touching pairs, as `pair_code`s, that are among `codes`: every two
        neighbouring characters (every CJK character is a word, so two side by side touch; the
        other neighbours, punctuation and ASCII, make codes no anchor asks for). All BMP, so
        no surrogates. Each is met with `codes` as `array` makes it, with no set of them all."""
        units = self.lowered.encode(UTF16)
        even, odd = len(units) // 4 * 4, (len(units) - 2) // 4 * 4
        from_even = codes.intersection(array("I", units[:even]))  # pairs from characters 0, 2...
        return from_even | codes.intersection(array("I", units[2 : 2 + odd]))  # and 1, 3...

    def position_at(self, offset: int) -> int:
        """The word at or after a character offset (for regex hits)."""
        return max(0, bisect_right(self.starts, offset) - 1) if self.starts else 0


def plain_cjk_character(word: str) -> bool:
    """A CJK character that is a word of its own in simple CJK text."""
    return len(word) == 1 and PLAIN_CJK_RUN.match(word) is not None


@lru_cache(maxsize=100_000)
def _cjk_phrase(phrase: tuple[str, ...], joined: tuple[int, ...]) -> re.Pattern[str] | None:
    """A phrase of single plain CJK characters as a regex over simple CJK text, lower-cased;
    None for any other phrase. Compiled once per phrase: rules repeat them."""
    if not all(map(plain_cjk_character, phrase)):
        return None
    pattern = re.escape(phrase[0])
    for k in range(1, len(phrase)):
        pattern += ("" if k in joined else SIMPLE_GAP) + re.escape(phrase[k])
    return re.compile(pattern)


@lru_cache(maxsize=100_000)
def _cjk_phrase_starts(phrase: tuple[str, ...], joined: tuple[int, ...]) -> re.Pattern[str]:
    """A plain CJK phrase's first character with the rest as a lookahead: `finditer` then
    gives every start, overlapping ones too, at the speed of a search for one character."""
    pattern = _cjk_phrase(phrase, joined)
    assert pattern is not None
    first = re.escape(phrase[0])
    return re.compile(first + f"(?={pattern.pattern[len(first) :]})")


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
            else:
                found = set().union(*map(self._words_of, names))
            self._words[names] = found
        return found

    def _words_of(self, name: str) -> Collection[str]:
        """A field's words for a union: a simple CJK field's set, since it has no list."""
        if name not in TEXT_FIELDS:  # author, url and source are seldom read: no FieldText
            return tokens(self.raw(name))
        text = self.field(name)
        return text.word_set if text.simple_cjk else text.words

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
