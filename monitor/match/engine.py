"""Evaluating a parsed query against one analysed article.

Evaluation order: a field prefix narrows where its subtree looks; terms,
phrases, regexes and lists yield hits (field, word positions, character
span); OR unites hits, AND requires every child and unites their hits, NOT
holds when its child has no hit and contributes none; NEAR keeps the pairs of
hits that lie close enough in one field; ATLEAST counts hits. A rule matches
when its root holds, and its hits are what the alert highlights.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import assert_never

import regex

from monitor.match.literals import leading_literals
from monitor.match.nodes import (
    And,
    AtLeast,
    Field,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Terms,
    Word,
    joins,
)
from monitor.match.text import (
    ALL_FIELDS,
    MAX_OCCURRENCES,
    TEXT_FIELDS,
    AnalyzedArticle,
    FieldText,
)

log = logging.getLogger(__name__)
LEAD_PARAGRAPHS = 2


@dataclass(frozen=True, order=True)
class Hit:
    field: str
    start: int  # character span in the field's original text
    end: int
    # `dataclasses.field`: the name `field` is taken by the attribute above
    first: int = dataclasses.field(compare=False)  # word positions, inclusive
    last: int = dataclasses.field(compare=False)
    text: str = dataclasses.field(compare=False, default="")


@dataclass(frozen=True)
class Result:
    matched: bool
    hits: tuple[Hit, ...] = ()


NO = Result(False)


class PhraseList:
    """A list file's names, indexed by first word, so a field is scanned once per list."""

    def __init__(self, phrases: list[tuple[str, ...]]) -> None:
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for words in phrases:
            if words:
                self.by_first.setdefault(words[0], []).append(words)
        for candidates in self.by_first.values():
            candidates.sort(key=len, reverse=True)
        # a set meets a field's word set twice as fast as the dict's keys do
        self.first_words = frozenset(self.by_first)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_first.values())


@dataclass
class Evaluator:
    """Evaluates queries on one article; create one per article and reuse it for every rule."""

    doc: AnalyzedArticle
    lists: dict[str, PhraseList] = field(default_factory=dict)
    regex_timeout: float = 0.05
    timeouts: list[str] = field(default_factory=list)
    _regex_hits: dict[tuple[str, bool, str], list[Hit]] = field(default_factory=dict)
    _sorted_words: dict[tuple[str, ...], list[str]] = field(default_factory=dict)
    words_in: Callable[[tuple[str, ...]], set[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.words_in = self.doc.words_in  # the checks' hottest call, one lookup shorter

    def sorted_words(self, names: tuple[str, ...]) -> list[str]:
        """The words of these fields sorted, so a wildcard's prefix is a bisect away."""
        found = self._sorted_words.get(names)
        if found is None:
            found = self._sorted_words[names] = sorted(self.words_in(names))
        return found

    def evaluate(self, node: Node, fields: tuple[str, ...] = TEXT_FIELDS) -> Result:
        match node:
            case Or():
                results = [self.evaluate(child, fields) for child in node.children]
                return Result(any(r.matched for r in results), _merge(r.hits for r in results))
            case And():
                results = []
                for child in node.children:
                    result = self.evaluate(child, fields)
                    if not result.matched:
                        return NO
                    results.append(result)
                return Result(True, _merge(r.hits for r in results))
            case Not():
                return NO if self.evaluate(node.child, fields).matched else Result(True)
            case Field():
                return self.evaluate(node.child, (node.name,))
            case Terms() | Regex() | ListRef() | Near() | AtLeast():
                hits = self.hits(node, fields)
                return Result(bool(hits), tuple(hits))
            case _:
                assert_never(node)

    def hits(self, node: Node, fields: tuple[str, ...]) -> list[Hit]:
        """The hits of a positional node (term, phrase, regex, list, OR-group, NEAR, ATLEAST)."""
        match node:
            case Field():
                return self.hits(node.child, (node.name,))
            case Or():
                return list(_merge(self.hits(child, fields) for child in node.children))
            case Near():
                return self._near(node, fields)
            case AtLeast():
                found = self.hits(node.child, fields)
                return found if len(found) >= node.count else []
            case Terms() | Regex() | ListRef():
                return self._leaf_hits(node, fields)
            case And() | Not():
                raise TypeError(f"not a positional node: {node}")
            case _:
                assert_never(node)

    def _leaf_hits(self, node: Terms | Regex | ListRef, fields: tuple[str, ...]) -> list[Hit]:
        hits: list[Hit] = []
        for name, paragraphs in self._views(fields):
            text = self.doc.field(name)
            found = self._find(node, text)
            if paragraphs is not None:
                found = [h for h in found if text.paragraph_of[h.first] < paragraphs]
            hits.extend(found)
        return hits

    def _views(self, fields: tuple[str, ...]) -> list[tuple[str, int | None]]:
        views: list[tuple[str, int | None]] = []
        for name in fields:
            if name == "lead":
                views += [("title", None), (self.doc.lead_field(), LEAD_PARAGRAPHS)]
            else:
                views.extend((f, None) for f in plain_fields((name,)) or ())
        return list(dict.fromkeys(views))

    def _find(self, node: Terms | Regex | ListRef, text: FieldText) -> list[Hit]:
        match node:
            case Terms():
                return [
                    _hit(text, p, p + len(words) - 1)
                    for words in node.spellings
                    for p in phrase_starts(words, text)
                ]
            case Regex():
                return self.regex_hits(node, text)
            case ListRef():
                return list_hits(self.lists.get(node.name), text)
            case _:
                assert_never(node)

    def regex_hits(self, node: Regex, text: FieldText) -> list[Hit]:
        """A regex's hits in a field, found once per article even if asked twice."""
        key = (node.pattern, node.ignore_case, text.name)
        if key not in self._regex_hits:
            self._regex_hits[key] = self._run_regex(node, text)
        return self._regex_hits[key]

    def _run_regex(self, node: Regex, text: FieldText) -> list[Hit]:
        hits = []
        for m in self.regex_matches(node, text):
            first, last = text.position_at(m.start()), text.position_at(m.end() - 1)
            hits.append(Hit(text.name, m.start(), m.end(), first, last, m.group()))
        return hits

    def regex_matches(self, node: Regex, text: FieldText) -> Iterator[regex.Match[str]]:
        """A regex's non-empty matches in a field, lazily: deciding a rule needs only the first.

        A timeout ends the matches (those found before it stand), and is recorded so
        that the rule set can count and log it. Like a word, a regex counts its first
        MAX_OCCURRENCES matches in a field.
        """
        start = _first_literal(node, text) if text.text else -1
        if start == -1:  # no match can start anywhere
            return
        pattern = _compiled_regex(node.pattern, node.ignore_case)
        try:
            matches = pattern.finditer(text.text, start, timeout=self.regex_timeout)
            yield from itertools.islice(filter(_non_empty, matches), MAX_OCCURRENCES)
        except TimeoutError:
            self.timeouts.append(node.source)
            log.debug("regex %s timed out on field %s", node.source, text.name)

    def _near(self, node: Near, fields: tuple[str, ...]) -> list[Hit]:
        left, right = self.hits(node.left, fields), self.hits(node.right, fields)
        kept: list[Hit] = []
        for name in {h.field for h in left} & {h.field for h in right}:
            lefts = {(h.first, h.last): h for h in left if h.field == name}
            rights = {(h.first, h.last): h for h in right if h.field == name}
            kept_left, kept_right = near_kept(node, self.doc.field(name), lefts, rights)
            kept += [lefts[span] for span in kept_left] + [rights[span] for span in kept_right]
        return sorted(set(kept))


def plain_fields(fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The article fields these names stand for; None for `lead:`, which depends on the article."""
    if "lead" in fields:
        return None
    names: list[str] = []
    for name in fields:
        names.extend(TEXT_FIELDS if name == "text" else (name,) if name in ALL_FIELDS else ())
    return tuple(dict.fromkeys(names))


Span = tuple[int, int]  # the first and last word position of a hit in one field


def close(node: Near, text: FieldText, a: Span, b: Span) -> bool:
    """Whether two hits, as (first, last) word positions in one field, satisfy a NEAR."""
    if node.ordered and a[0] > b[0]:
        return False
    if node.unit == "s":
        return text.sentence_of[a[0]] == text.sentence_of[b[0]]
    if node.unit == "p":
        return text.paragraph_of[a[0]] == text.paragraph_of[b[0]]
    gap = b[0] - a[1] - 1 if a[0] <= b[0] else a[0] - b[1] - 1
    return gap <= node.distance


def near_kept(
    node: Near, text: FieldText, left: Collection[Span], right: Collection[Span]
) -> tuple[list[Span], list[Span]]:
    """The left and right spans of one field that have a partner close enough.

    Each span looks only at the partners whose first word lies in its window
    (the distance either side, or its sentence or paragraph), found by bisection,
    and stops at the first that is close: linear in the hits, where trying every
    pair took hours on a long text dense with both words.
    """
    if not left or not right:
        return [], []
    partners_of_left, partners_of_right = _Partners(right), _Partners(left)
    return (
        [a for a in left if partners_of_left.any_close(node, text, a, is_left=True)],
        [b for b in right if partners_of_right.any_close(node, text, b, is_left=False)],
    )


class _Partners:
    """Spans sorted by first word, for finding those whose first word lies in a window."""

    def __init__(self, spans: Collection[Span]) -> None:
        self.spans = sorted(spans)
        self.firsts = [first for first, _ in self.spans]
        self.longest = max(last - first for first, last in self.spans)

    def any_close(self, node: Near, text: FieldText, span: Span, is_left: bool) -> bool:
        low, high = self._window(node, text, span)
        if node.ordered:  # the left span comes first
            low, high = (max(low, span[0]), high) if is_left else (low, min(high, span[0]))
        start, end = bisect_left(self.firsts, low), bisect_right(self.firsts, high)
        for index in range(start, end):
            other = self.spans[index]
            pair = (span, other) if is_left else (other, span)
            if other != span and close(node, text, *pair):
                return True
        return False

    def _window(self, node: Near, text: FieldText, span: Span) -> tuple[int, int]:
        """The first word positions a partner of `span` can have."""
        if node.unit in ("s", "p"):
            units = text.sentence_of if node.unit == "s" else text.paragraph_of
            unit = units[span[0]]
            return bisect_left(units, unit), bisect_right(units, unit) - 1
        return span[0] - node.distance - 1 - self.longest, span[1] + node.distance + 1


def _first_literal(node: Regex, text: FieldText) -> int:
    """Where the first match can start: the first of the literals every match starts with
    (found at C speed), -1 if none occurs, 0 if the regex has no such literals."""
    literals = leading_literals(node.pattern)
    if literals is None:
        return 0
    haystack = text.text
    if node.ignore_case:  # lower() is exact case-insensitivity only for ASCII
        if not (haystack.isascii() and all(s.isascii() for s in literals)):
            return 0
        haystack, literals = text.lowered, frozenset(s.lower() for s in literals)
    found = [p for p in (haystack.find(literal) for literal in literals) if p != -1]
    return min(found, default=-1)


def _non_empty(match: regex.Match[str]) -> bool:
    return match.end() > match.start()


@cache
def _compiled_regex(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)


def _matches(word: Word, token: str) -> bool:
    return token == word.text if word.pattern is None else word.pattern.fullmatch(token) is not None


def phrase_starts(words: tuple[Word, ...], text: FieldText) -> list[int]:
    """Where a phrase of word patterns starts in a field (the hits of a `Terms` spelling)."""
    first = words[0]
    if first.pattern is None:
        starts = text.occurrences(first.text)
    else:
        tokens = text.words_with_prefix(first.prefix) if first.prefix else text.vocabulary
        starts = sorted(p for t in tokens if _matches(first, t) for p in text.occurrences(t))
    if len(words) == 1:
        return list(starts)
    n, joined = len(text.words), joins(words)
    return [
        s
        for s in starts
        if s + len(words) <= n
        and all(_matches(w, text.words[s + k]) for k, w in enumerate(words[1:], 1))
        and (not joined or text.joined(s, joined))
    ]


def list_hits(names: PhraseList | None, text: FieldText) -> list[Hit]:
    if names is None:
        return []
    hits = []
    by_first = names.by_first
    for word in text.word_set & names.first_words:
        for start in text.occurrences(word):
            for phrase in by_first[word]:
                end = start + len(phrase)
                if tuple(text.words[start:end]) == phrase:
                    hits.append(_hit(text, start, end - 1))
                    break
    return sorted(hits)


def _hit(text: FieldText, first: int, last: int) -> Hit:
    start, end = text.starts[first], text.ends[last]
    return Hit(text.name, start, end, first, last, text.text[start:end])


def _merge(groups: object) -> tuple[Hit, ...]:
    return tuple(sorted({hit for group in groups for hit in group}))  # type: ignore[attr-defined]
