"""Deciding whether a rule holds, without collecting its hits: the fast path.

The evaluator (engine.py) collects every hit with its character span, since
an alert highlights them; that costs tens of microseconds a rule. Deciding
needs only yes or no, and most rules are words, phrases, NEAR and boolean
operators, which set lookups and the positions of a few words answer in a
microsecond or two. So each rule's tree is compiled once into closures.
Nodes with no fast form (`lead:`, phrases with wildcards or fuzzy words
outside a NEAR) ask the evaluator, so both paths always agree; tests compare them
on every operator table and on generated rules. Hits are then collected
only for the rules that matched, when an alert asks for them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import assert_never

from monitor.match.engine import Evaluator, Span, list_hits, near_kept, plain_fields
from monitor.match.engine import phrase_starts as word_phrase_starts
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
    children,
    joins,
)
from monitor.match.presearch import necessary_words
from monitor.match.text import FieldText, plain_cjk_character

Check = Callable[[Evaluator], bool]
Spans = Callable[[Evaluator, FieldText], set[Span]]


def compile_check(node: Node, fields: tuple[str, ...]) -> Check:
    """A function telling whether `node` holds on an article, as `Evaluator.evaluate` would."""
    match node:
        case Field():
            return compile_check(node.child, (node.name,))
        case And() | Or():
            checks = [compile_check(child, fields) for child in node.children]
            return _all(checks) if isinstance(node, And) else _either(checks)
        case Not():
            check = compile_check(node.child, fields)
            return lambda ev: not check(ev)
        case Terms() | Regex() | ListRef() | Near() | AtLeast():
            names = plain_fields(fields)
            fast = _positional(node, names) if names else None
            return fast or (lambda ev: bool(ev.hits(node, fields)))
        case _:
            assert_never(node)


def _positional(
    node: Terms | Regex | ListRef | Near | AtLeast, names: tuple[str, ...]
) -> Check | None:
    match node:
        case Terms():
            return _terms(node, names)
        case ListRef():
            return _list(node, names)
        case Regex():
            return _regex(node, names)
        case AtLeast():
            if word := _one_exact_word(node.child):
                return _word_count(word, node.count, names)
            # a regex can hit one word twice: the evaluator counts hits, spans would not
            spans = None if _has_regex(node.child) else compile_spans(node.child)
            if spans is None:
                return None
            count = node.count
            return lambda ev: sum(len(spans(ev, ev.doc.field(n))) for n in names) >= count
        case Near():
            near = compile_spans(node)
            if near is None:
                return None
            need = necessary_words(node)  # a field without them cannot hold a NEAR: skip it
            return lambda ev: any(
                (text := ev.doc.field(n)).has_words(need) and near(ev, text) for n in names
            )
        case _:
            assert_never(node)


def _terms(node: Terms, names: tuple[str, ...]) -> Check | None:
    """Any spelling present: single words by set lookup, phrases by adjacent pairs."""
    spellings = node.spellings
    if any(w.fuzz or (w.wildcard and len(s) > 1) for s in spellings for w in s):
        return None
    singles = frozenset(s[0].text for s in spellings if len(s) == 1 and not s[0].wildcard)
    checks: list[Check] = []
    if any(map(plain_cjk_character, singles)):
        checks += [_contains(word, names) for word in sorted(singles)]
    elif len(singles) == 1:
        (word,) = singles
        checks.append(lambda ev: word in ev.words_in(names))
    elif singles:
        checks.append(lambda ev: not singles.isdisjoint(ev.words_in(names)))
    for spelling in spellings:
        if len(spelling) > 1:
            checks.append(_phrase(tuple(w.text for w in spelling), joins(spelling), names))
        elif spelling[0].wildcard:
            checks.append(_wildcard(spelling[0], names))
    return _either(checks)


def _phrase(phrase: tuple[str, ...], joined: tuple[int, ...], names: tuple[str, ...]) -> Check:
    if all(map(plain_cjk_character, phrase)):  # one regex search: no word set needed first
        return lambda ev: any(ev.doc.field(n).has_phrase(phrase, joined) for n in names)
    words = frozenset(phrase)
    return lambda ev: (
        words.issubset(ev.words_in(names))
        and any(ev.doc.field(n).has_phrase(phrase, joined) for n in names)
    )


def _wildcard(word: Word, names: tuple[str, ...]) -> Check:
    """A bisect to the wildcard's prefix among the article's sorted words, then a full match."""
    prefix, pattern = word.prefix, word.pattern
    assert pattern is not None

    def check(ev: Evaluator) -> bool:
        vocabulary = ev.sorted_words(names)
        i, end = bisect_left(vocabulary, prefix), len(vocabulary)
        while i < end and vocabulary[i].startswith(prefix):
            if pattern.fullmatch(vocabulary[i]):
                return True
            i += 1
        return False

    return check


def _regex(node: Regex, names: tuple[str, ...]) -> Check:
    """The first non-empty match settles it; the rest are found only for an alert."""
    return lambda ev: any(
        next(ev.regex_matches(node, ev.doc.field(n)), None) is not None for n in names
    )


def _has_regex(node: Node) -> bool:
    if isinstance(node, Regex):
        return True
    return isinstance(node, Or | Near) and any(map(_has_regex, children(node)))


def _one_exact_word(node: Node) -> str | None:
    if isinstance(node, Terms) and len(node.spellings) == 1 and len(node.spellings[0]) == 1:
        word = node.spellings[0][0]
        return None if word.wildcard or word.fuzz else word.text
    return None


def _word_count(word: str, count: int, names: tuple[str, ...]) -> Check:
    present = _contains(word, names)
    return lambda ev: present(ev) and sum(ev.doc.field(n).count(word) for n in names) >= count


def _contains(word: str, names: tuple[str, ...]) -> Check:
    """A word in any of these fields: one set lookup, but a CJK character asks each field
    (`FieldText.has_word`), since simple CJK text makes its word set only when it must."""
    if plain_cjk_character(word):
        return lambda ev: any(ev.doc.field(n).has_word(word) for n in names)
    return lambda ev: word in ev.words_in(names)


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda ev: first(ev) and second(ev)
    return lambda ev: all(check(ev) for check in checks)


def _either(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda ev: first(ev) or second(ev)
    return lambda ev: any(check(ev) for check in checks)


def _list(node: ListRef, names: tuple[str, ...]) -> Check:
    def check(ev: Evaluator) -> bool:
        phrases = ev.lists.get(node.name)
        if phrases is None:
            return False
        for name in names:
            text = ev.doc.field(name)
            present = text.word_set
            for first in present & phrases.first_words:
                for phrase in phrases.by_first[first]:
                    if present.issuperset(phrase) and text.phrase_starts(phrase):
                        return True
        return False

    return check


def compile_spans(node: Node) -> Spans | None:
    """For words, phrases, regexes, lists, OR-groups and NEAR of them: their hits' spans in
    a field, as the evaluator finds them (the same functions), without building `Hit`s.

    Wildcards, fuzzy words and regexes are common inside a NEAR ("chip* NEAR/6
    tariff*"); without a fast form here every such rule built, merged and sorted
    hit objects for each article its words were in.
    """
    match node:
        case Terms():
            phrases = [(tuple(w.text for w in s), joins(s)) for s in node.spellings]
            if any(w.pattern is not None for s in node.spellings for w in s):
                spellings = node.spellings
                return lambda ev, text: {
                    (start, start + len(s) - 1)
                    for s in spellings
                    for start in word_phrase_starts(s, text)
                }
            return lambda ev, text: {
                (start, start + len(p) - 1)
                for p, joined in phrases
                for start in text.phrase_starts(p, joined)
            }
        case Regex():
            return lambda ev, text: {(h.first, h.last) for h in ev.regex_hits(node, text)}
        case ListRef():
            return lambda ev, text: {
                (h.first, h.last) for h in list_hits(ev.lists.get(node.name), text)
            }
        case Or():
            children = [compile_spans(child) for child in node.children]
            if any(child is None for child in children):
                return None
            return lambda ev, text: set().union(*(child(ev, text) for child in children))  # type: ignore[misc]
        case Near():
            left, right = compile_spans(node.left), compile_spans(node.right)
            if left is None or right is None:
                return None
            if _cost(node.right) < _cost(node.left):
                return lambda ev, text: _near(node, ev, text, right, left, cheap_is_left=False)
            return lambda ev, text: _near(node, ev, text, left, right, cheap_is_left=True)
        case And() | Not() | AtLeast() | Field():
            return None
        case _:
            assert_never(node)


def _near(
    node: Near, ev: Evaluator, text: FieldText, cheap: Spans, costly: Spans, cheap_is_left: bool
) -> set[Span]:
    """The cheaper side first: when it has no hits, the costly one is never looked for.

    (`tighten* OR widen* OR ... NEAR/4 "export control*"`: forty prefixes on one side,
    one phrase on the other, absent from nearly every article.)
    """
    found = cheap(ev, text)
    if not found:
        return set()
    other = costly(ev, text)
    left, right = (found, other) if cheap_is_left else (other, found)
    kept_left, kept_right = near_kept(node, text, left, right)
    return {*kept_left, *kept_right}


def _cost(node: Node) -> int:
    """A rough count of the lookups finding a node's spans takes: one a spelling, more for
    patterns (a regex runs over the text, a list looks for each of its names)."""
    match node:
        case Terms():
            return sum(1 + sum(w.pattern is not None for w in s) for s in node.spellings)
        case Regex() | ListRef():
            return 10
        case _:
            return sum(map(_cost, children(node)))
