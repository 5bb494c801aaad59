"""The presearcher: which rules can possibly match this article?

Every rule yields its *anchors*, keys of which at least one must be in an
article for the rule to match:

- a word or phrase: its rarest word (`w`), or for a wildcard its literal
  prefix (`p`, looked up by every prefix of the article's words); in a CJK
  term (`出口管制`, whose characters are words that must touch), a pair of
  touching characters (`b`, a bigram: far rarer than any one character),
  looked up among the article's touching pairs;
- a regex: the literal strings one of which it cannot match without. A
  literal of ASCII letters and digits lies inside one word of the article,
  so it is looked up per word: as the whole word (`w`) when the regex puts a
  separator (space, punctuation, `^`, `$`) on both sides of it, as a prefix
  (`p`) or a suffix (`e`) when on one side, else anywhere in a word (`i`).
  Any other literal (`s`) is looked for in the article's folded text, all of
  them in one Aho-Corasick pass;
- a list: the first word of each of its names;
- OR: the union of its children's anchors; AND and NEAR: the cheapest child's;
  a field prefix or ATLEAST: its child's.

A rule with no anchor (a lone fuzzy word, a regex without a literal, a pure
NOT) is a candidate for every article. The rest are found through an
inverted index from key to rules, so the cost per article grows with its
length and its candidates, not with the number of rules.

An anchor is one key, so a candidate may still lack the other words its
rule needs (a phrase or an AND anchored on one word). Each rule also keeps
its *necessary words*, and a candidate missing one is dropped with a set
comparison instead of running its check.

Some keys do more than select: a rule that is one word, or words and word
prefixes joined by OR, on the default fields, matches as soon as one of
them is in the title, summary or body; an AND of plain words matches when
its necessary words are all there. Such rules are *decided* here, and their
checks are skipped; watchlists of names are mostly rules of this kind.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import assert_never

import ahocorasick

from monitor.match.engine import PhraseList, plain_fields
from monitor.match.literals import regex_literals
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
from monitor.match.text import (
    ALL_FIELDS,
    OTHER_FIELDS,
    TEXT_FIELDS,
    AnalyzedArticle,
    FieldText,
    fold,
    pair_code,
    plain_cjk_character,
)

Key = tuple[str, str]  # ("w", word) | ("p" | "e", prefix or suffix) | ("i" | "s", literal)
# | ("b", two touching CJK characters)
Need = tuple[int, frozenset[str], frozenset[str]]
COMMON = frozenset(
    "a an and are as at be been but by for from has have he her his in is it its of on or "
    "that the their they this to was were which will with would said says say new not no "
    "us u s year years percent also more after over than into about up out who".split()
)
MIN_PREFIX = 2
WORD_CACHE_LIMIT = 500_000  # distinct words remembered; news vocabulary repeats
# In simple CJK text, looking for one of the index's pairs (`in`) costs ~1.9 µs in 1,000
# characters, and making every neighbouring pair as an int to meet the index's ~0.06 µs a
# character: both grow with the text, so the pairs are looked for one by one while the
# index has up to 30 of them, whatever the text's length.
FEW_PAIRS_TO_FIND = 30
# A simple CJK text's characters that lead to or decide rules are found by a regex, and only
# they make Python objects, while the index has up to this many (a set of all of a text's
# characters costs ~0.1 µs each; the regex ~0.02 µs a character, and more per one found)
MAX_KNOWN_CHARACTERS = 1000
# ...and while the text fields have up to this many characters: each character a candidate
# needs is then looked for in the text (~0.3 µs in 1,000 characters), and a longer text
# has more candidates too, so past a few thousand characters a set of all costs less
MAX_SCANNED_LENGTH = 5000


def cost(key: Key) -> float:
    """A guess at how often a key occurs: common words and short keys cost most."""
    kind, text = key
    if kind == "w" and text in COMMON:
        return 10.0
    return {"p": 3.0, "e": 3.0, "i": 5.0, "b": 0.5}.get(kind, 1.0) / len(text)


def anchors(node: Node, lists: dict[str, PhraseList]) -> set[Key] | None:
    """Keys of which at least one must occur for `node` to hold; None if there are none."""
    match node:
        case Terms():
            keys = set()
            for words in node.spellings:  # any spelling may be the one in the text
                options = [k for k in (_word_key(w.text, w.wildcard, w.fuzz) for w in words) if k]
                options += _bigram_keys(words)
                if not options:
                    return None
                keys.add(min(options, key=cost))
            return keys
        case Regex():
            literals = regex_literals(node.pattern)
            if not literals:
                return None
            return {(literals.key_kind(), fold(lit)) for lit in literals.strings}
        case ListRef():
            names = lists.get(node.name)
            if not names:
                return None
            return {("w", first) for first in names.by_first}
        case Or():
            result: set[Key] = set()
            for child in node.children:
                found = anchors(child, lists)
                if found is None:
                    return None
                result |= found
            return result
        case And() | Near():
            found_sets = (anchors(c, lists) for c in children(node) if not isinstance(c, Not))
            nonempty = [keys for keys in found_sets if keys]
            return min(nonempty, key=lambda keys: sum(map(cost, keys))) if nonempty else None
        case Field() | AtLeast():
            return anchors(node.child, lists)
        case Not():
            return None
        case _:
            assert_never(node)


def decisive_words(root: Node, fields: tuple[str, ...]) -> list[Word]:
    """The words (exact or prefix wildcards) whose presence in a text field decides the rule."""
    if plain_fields(fields) != TEXT_FIELDS:
        return []
    terms = root.children if isinstance(root, Or) else (root,)
    if not all(isinstance(t, Terms) for t in terms):
        return []
    words = [s[0] for t in terms for s in t.spellings if len(s) == 1]  # type: ignore[union-attr]
    return [w for w in words if not w.fuzz and _word_key(w.text, w.wildcard, 0)]


def necessary_words(node: Node) -> frozenset[str]:
    """Exact words the node cannot hold without, in the fields it looks at; empty if none."""
    match node:
        case Terms():
            if len(node.spellings) != 1:  # "h20" or "h 20": neither word is needed
                return frozenset()
            return frozenset(w.text for w in node.spellings[0] if not (w.wildcard or w.fuzz))
        case And() | Near():
            return frozenset().union(*map(necessary_words, children(node)))
        case Or():
            return frozenset.intersection(*map(necessary_words, node.children))
        case AtLeast():
            return necessary_words(node.child)
        case Not() | Field() | Regex() | ListRef():  # a field prefix looks elsewhere
            return frozenset()
        case _:
            assert_never(node)


def _all_plain_words(node: Node) -> bool:
    """An AND of exact single words: holds exactly when its necessary words are present."""
    return isinstance(node, And) and all(
        isinstance(c, Terms) and len(c.spellings) == 1 and len(c.spellings[0]) == 1
        and not (c.spellings[0][0].wildcard or c.spellings[0][0].fuzz)
        for c in node.children
    )  # fmt: skip


def _bigram_keys(words: tuple[Word, ...]) -> list[Key]:
    """The touching pairs a CJK term cannot match without (its words are exact characters)."""
    return [
        ("b", words[k - 1].text + words[k].text)
        for k in joins(words)
        if words[k - 1].pattern is None and words[k].pattern is None
    ]


def _word_key(text: str, wildcard: bool, fuzz: int) -> Key | None:
    if fuzz:
        return None
    if not wildcard:
        return ("w", text)
    prefix = re.split(r"[*?]", text, maxsplit=1)[0]
    return ("p", prefix) if len(prefix) >= MIN_PREFIX else None


# ---- the index ----------------------------------------------------------------------------


@dataclass
class Presearcher:
    """An inverted index from anchor keys to the rules (by position) that need them."""

    size: int
    by_word: dict[str, list[int]] = field(default_factory=dict)
    by_prefix: dict[str, list[int]] = field(default_factory=dict)
    by_suffix: dict[str, list[int]] = field(default_factory=dict)
    by_infix: dict[str, list[int]] = field(default_factory=dict)
    by_substring: dict[str, list[int]] = field(default_factory=dict)
    by_pair: dict[str, list[int]] = field(default_factory=dict)
    pair_keys: frozenset[str] = frozenset()  # by_pair's keys: a set meets a set fastest
    # for simple CJK text: the pairs of two BMP characters, and as `pair_code`s
    code_pairs: list[str] = field(default_factory=list)
    pair_of_code: dict[int, str] = field(default_factory=dict)
    pair_codes: frozenset[int] = frozenset()
    always: list[int] = field(default_factory=list)
    prefix_lengths: list[int] = field(default_factory=list)
    suffix_lengths: list[int] = field(default_factory=list)
    decided_by_word: dict[str, list[int]] = field(default_factory=dict)
    decided_by_prefix: dict[str, list[tuple[int, Word]]] = field(default_factory=dict)
    # per rule: where (an index into `need_fields`) the words it needs are, those words, and
    # which of them are plain CJK characters (`_cjk_in`); None if it needs none
    needs: list[Need | None] = field(default_factory=list)
    need_fields: list[tuple[str, ...]] = field(default_factory=list)
    decided_by_needs: set[int] = field(default_factory=set)
    # which rules a word leads to (and decides) never changes, so it is worked out once
    # per word: `seen` holds every word worked out, `leads` and `decides` those that count,
    # and their keys again as sets (an intersection of two sets is twice as fast as one
    # with a dict's keys: the sets keep each word's hash beside it)
    seen: set[str] = field(default_factory=set)
    leads: dict[str, tuple[int, ...]] = field(default_factory=dict)
    decides: dict[str, tuple[int, ...]] = field(default_factory=dict)
    leading: set[str] = field(default_factory=set)
    deciding: set[str] = field(default_factory=set)
    # the CJK characters that lead to or decide rules, if few enough to pay
    cjk_characters: re.Pattern[str] | None = None
    infixes: ahocorasick.Automaton | None = None
    substrings: ahocorasick.Automaton | None = None

    @classmethod
    def build(
        cls, rules: Iterable[tuple[Node, tuple[str, ...]]], lists: dict[str, PhraseList]
    ) -> Presearcher:
        """From each rule's query and fields."""
        rules = list(rules)
        index = cls(len(rules))
        tables = {"w": index.by_word, "p": index.by_prefix, "e": index.by_suffix}
        tables |= {"i": index.by_infix, "s": index.by_substring, "b": index.by_pair}
        for position, (root, fields) in enumerate(rules):
            keys = anchors(root, lists)
            if keys is None:
                index.always.append(position)
            for kind, text in keys or ():
                tables[kind].setdefault(text, []).append(position)
            index.needs.append(index._needs(root, fields, keys))
            if plain_fields(fields) and _all_plain_words(root):
                index.decided_by_needs.add(position)
            for word in decisive_words(root, fields):
                if word.wildcard:
                    prefix = index.decided_by_prefix.setdefault(word.prefix, [])
                    prefix.append((position, word))
                else:
                    index.decided_by_word.setdefault(word.text, []).append(position)
        index.pair_keys = frozenset(index.by_pair)
        for pair in index.by_pair:
            if (code := pair_code(pair)) is not None:
                index.pair_of_code[code] = pair
                index.code_pairs.append(pair)
        index.pair_codes = frozenset(index.pair_of_code)
        index.cjk_characters = _cjk_characters(index)
        index.prefix_lengths = sorted({len(p) for p in index.by_prefix})
        index.suffix_lengths = sorted({len(p) for p in index.by_suffix})
        index.infixes = _automaton(index.by_infix)
        index.substrings = _automaton(index.by_substring)
        return index

    def _needs(self, root: Node, fields: tuple[str, ...], keys: set[Key] | None) -> Need | None:
        """What a candidate must contain, unless nothing is known or its anchor says it all."""
        names, words = plain_fields(fields), necessary_words(root)
        if not names or not words or keys == {("w", word) for word in words}:
            return None
        if names not in self.need_fields:
            self.need_fields.append(names)
        characters = frozenset(filter(plain_cjk_character, words))
        return self.need_fields.index(names), words, characters

    def _learn(self, words: set[str]) -> None:
        self.seen.update(words)
        for word in words:
            if rules := self._rules_for(word):
                self.leads[word] = rules
                self.leading.add(word)
            if rules := self._rules_decided_by(word):
                self.decides[word] = rules
                self.deciding.add(word)

    def _rules_for(self, word: str) -> tuple[int, ...]:
        rules = list(self.by_word.get(word, ()))
        for length in self.prefix_lengths:
            if length > len(word):
                break
            rules.extend(self.by_prefix.get(word[:length], ()))
        for length in self.suffix_lengths:
            if length > len(word):
                break
            rules.extend(self.by_suffix.get(word[-length:], ()))
        if self.infixes is not None:
            for _, found in self.infixes.iter(word):
                rules.extend(found)
        return tuple(rules)

    def _find_pairs(self, doc: AnalyzedArticle, found: set[int]) -> None:
        """Rules anchored on a pair of touching CJK characters present in the article: the
        article's distinct pairs meet the index's in one set intersection."""
        for name in ALL_FIELDS:
            if doc.raw(name).isascii():
                continue
            text = doc.field(name)
            pairs = self._simple_pairs(text) if text.simple_cjk else text.pairs & self.pair_keys
            found.update(*map(self.by_pair.__getitem__, pairs))

    def _simple_pairs(self, text: FieldText) -> list[str]:
        """The index's pairs in a simple CJK text: each looked for (`in`, at C speed) when the
        index has few, else all the text's neighbouring pairs met with the index's as ints."""
        if len(self.code_pairs) <= FEW_PAIRS_TO_FIND:
            return [p for p in self.code_pairs if p in text.lowered]
        return list(map(self.pair_of_code.__getitem__, text.pair_codes_among(self.pair_codes)))

    def _rules_decided_by(self, word: str) -> tuple[int, ...]:
        rules = list(self.decided_by_word.get(word, ()))
        for length in self.prefix_lengths:
            if length > len(word):
                break
            for rule, wildcard in self.decided_by_prefix.get(word[:length], ()):
                if wildcard.pattern is not None and wildcard.pattern.fullmatch(word):
                    rules.append(rule)
        return tuple(rules)

    def _words_in(self, doc: AnalyzedArticle) -> tuple[Callable[[tuple[str, ...]], set[str]], bool]:
        """How this search reads an article's words: `doc.words_in`, but in a simple CJK
        field only the CJK characters that lead to or decide rules (and its Latin words), and
        then True: making a set of all its characters costs more than the rest of the search,
        and the other characters a rule needs are looked for in the text (`_cjk_in`)."""
        characters = self.cjk_characters
        if characters is None or not any(doc.field(n).simple_cjk for n in TEXT_FIELDS):
            return doc.words_in, False
        if sum(len(doc.raw(n)) for n in TEXT_FIELDS) > MAX_SCANNED_LENGTH:
            return doc.words_in, False
        cache: dict[tuple[str, ...], set[str]] = {}

        def words_in(names: tuple[str, ...]) -> set[str]:
            found = cache.get(names)
            if found is None:
                found = cache[names] = set().union(*(
                    doc.field(n).words_among(characters) if n in TEXT_FIELDS
                    else doc.words_in((n,)) for n in names
                ))  # fmt: skip
            return found

        return words_in, True

    def candidates(self, doc: AnalyzedArticle) -> list[int]:
        """Positions of the rules worth evaluating on this article, in rule order."""
        return self.search(doc)[0]

    def search(self, doc: AnalyzedArticle) -> tuple[list[int], set[int]]:
        """The candidates in rule order, and those of them already decided to match."""
        found, decided = set(self.always), set[int]()
        if len(self.seen) > WORD_CACHE_LIMIT:
            for known in (self.seen, self.leads, self.decides, self.leading, self.deciding):
                known.clear()
        words_in, partial = self._words_in(doc)
        for fields in (TEXT_FIELDS, OTHER_FIELDS):  # set operations and map() loop in C
            words = words_in(fields)
            if not self.seen.issuperset(words):
                self._learn(words - self.seen)
            hits = words & self.leading
            found.update(*map(self.leads.__getitem__, hits))
            if fields == TEXT_FIELDS:  # a word that decides a rule also leads to it
                decided.update(*map(self.decides.__getitem__, hits & self.deciding))
        if self.by_pair:  # touching pairs exist only in fields with CJK text
            self._find_pairs(doc, found)
        if self.substrings is not None:
            for _, rules in self.substrings.iter(doc.folded_text()):
                found.update(rules)
        needs, need_fields, candidates = self.needs, self.need_fields, []
        present = [words_in(names) for names in need_fields]
        texts = [_simple_cjk_text(doc, names) for names in need_fields] if partial else []
        for rule in sorted(found):
            need = needs[rule]
            if (
                need is None
                or need[1] <= present[need[0]]
                or (texts and _cjk_in(need, present, texts))
            ):
                candidates.append(rule)
        decided.update(self.decided_by_needs.intersection(candidates))
        return candidates, decided


def _simple_cjk_text(doc: AnalyzedArticle, names: tuple[str, ...]) -> str:
    """The simple CJK fields among `names`, lower-cased, one per line: a CJK character is in
    one of them exactly when it is in this."""
    texts = [doc.field(n) for n in names if n in TEXT_FIELDS]
    return "\n".join(text.lowered for text in texts if text.simple_cjk)


def _cjk_in(need: Need, present: list[set[str]], texts: list[str]) -> bool:
    """Whether the words a rule needs that the search's sets lack are CJK characters of the
    simple CJK text of its fields (`in`, at C speed): those sets hold only the characters
    that lead to rules (`Presearcher._words_in`)."""
    at, words, characters = need
    missing = words - present[at]
    return missing <= characters and all(map(texts[at].__contains__, missing))


def _cjk_characters(index: Presearcher) -> re.Pattern[str] | None:
    """A regex of the CJK characters that lead to or decide a rule, to find only those in a
    simple CJK text; None if there are none, or so many that most of a text would be found.
    Its words are those that `_learn` can find rules for: a character is a word key, or a
    prefix, suffix or infix key (all of those ASCII or longer than one character today)."""
    keys = itertools.chain(index.by_word, index.decided_by_word, index.by_prefix,
                           index.decided_by_prefix, index.by_suffix, index.by_infix)  # fmt: skip
    characters = sorted(set(filter(plain_cjk_character, keys)))
    if not characters or len(characters) > MAX_KNOWN_CHARACTERS:
        return None
    return re.compile("[" + "".join(characters) + "]")


def _automaton(literals: dict[str, list[int]]) -> ahocorasick.Automaton | None:
    """Finds every literal in one pass over a text, however many literals there are."""
    if not literals:
        return None
    automaton = ahocorasick.Automaton()
    for literal, rules in literals.items():
        automaton.add_word(literal, tuple(rules))
    automaton.make_automaton()
    return automaton
