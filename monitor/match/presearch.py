"""The presearcher: which rules can possibly match this article?

Every rule yields its *anchors*, keys of which at least one must be in an
article for the rule to match:

- a word or phrase: its rarest word (`w`), or for a wildcard its literal
  prefix (`p`, looked up by every prefix of the article's words);
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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick
import regex

from monitor.match.engine import PhraseList, plain_fields
from monitor.match.query import (
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
)
from monitor.match.text import OTHER_FIELDS, TEXT_FIELDS, AnalyzedArticle, fold

Key = tuple[str, str]  # ("w", word) | ("p" | "e", prefix or suffix) | ("i" | "s", literal)
Parts = Sequence[tuple[object, object]]  # a regex as the standard library's parser gives it
COMMON = frozenset(
    "a an and are as at be been but by for from has have he her his in is it its of on or "
    "that the their they this to was were which will with would said says say new not no "
    "us u s year years percent also more after over than into about up out who".split()
)
MIN_PREFIX, MIN_SUBSTRING = 2, 2
WORD_CHAR = regex.compile(r"[\p{L}\p{N}\p{M}]")  # what text.py puts in words
_AT_BEGINNING = (re._constants.AT, re._constants.AT_BEGINNING)  # type: ignore[attr-defined]
_AT_END = (re._constants.AT, re._constants.AT_END)  # type: ignore[attr-defined]
MAX_ALTERNATIVES = 64
WORD_CACHE_LIMIT = 500_000  # distinct words remembered; news vocabulary repeats


def cost(key: Key) -> float:
    """A guess at how often a key occurs: common words and short keys cost most."""
    kind, text = key
    if kind == "w" and text in COMMON:
        return 10.0
    return {"p": 3.0, "e": 3.0, "i": 5.0}.get(kind, 1.0) / len(text)


def anchors(node: Node, lists: dict[str, PhraseList]) -> set[Key] | None:
    """Keys of which at least one must occur for `node` to hold; None if there are none."""
    if isinstance(node, Terms):
        keys = set()
        for words in node.spellings:  # any spelling may be the one in the text
            options = [k for k in (_word_key(w.text, w.wildcard, w.fuzz) for w in words) if k]
            if not options:
                return None
            keys.add(min(options, key=cost))
        return keys
    if isinstance(node, Regex):
        literals = regex_literals(node.pattern)
        if not literals:
            return None
        return {(literals.key_kind(), fold(lit)) for lit in literals.strings}
    if isinstance(node, ListRef):
        names = lists.get(node.name)
        if not names:
            return None
        return {("w", first) for first in names.by_first}
    if isinstance(node, Or):
        result: set[Key] = set()
        for child in node.children:
            found = anchors(child, lists)
            if found is None:
                return None
            result |= found
        return result
    if isinstance(node, And | Near):
        children = node.children if isinstance(node, And) else (node.left, node.right)
        options = [a for a in (anchors(c, lists) for c in children if not isinstance(c, Not)) if a]
        return min(options, key=lambda keys: sum(map(cost, keys))) if options else None
    if isinstance(node, Field | AtLeast):
        return anchors(node.child, lists)
    return None


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
    if isinstance(node, Terms):
        if len(node.spellings) != 1:  # "h20" or "h 20": neither word is needed
            return frozenset()
        return frozenset(w.text for w in node.spellings[0] if not (w.wildcard or w.fuzz))
    if isinstance(node, And | Near):
        children = node.children if isinstance(node, And) else (node.left, node.right)
        return frozenset().union(*map(necessary_words, children))
    if isinstance(node, Or):
        return frozenset.intersection(*map(necessary_words, node.children))
    if isinstance(node, AtLeast):
        return necessary_words(node.child)
    return frozenset()  # NOT, a field prefix (it looks elsewhere), a regex, a list


def _all_plain_words(node: Node) -> bool:
    """An AND of exact single words: holds exactly when its necessary words are present."""
    return isinstance(node, And) and all(
        isinstance(c, Terms) and len(c.spellings) == 1 and len(c.spellings[0]) == 1
        and not (c.spellings[0][0].wildcard or c.spellings[0][0].fuzz)
        for c in node.children
    )  # fmt: skip


def _word_key(text: str, wildcard: bool, fuzz: int) -> Key | None:
    if fuzz:
        return None
    if not wildcard:
        return ("w", text)
    prefix = re.split(r"[*?]", text, maxsplit=1)[0]
    return ("p", prefix) if len(prefix) >= MIN_PREFIX else None


# ---- literals a regex cannot match without -------------------------------------------------


@dataclass(frozen=True)
class Literals:
    """Strings one of which every match of a regex contains, and whether the match
    puts a non-word character (or the start or end of the text) right before or after it."""

    strings: frozenset[str]
    starts_word: bool = False
    ends_word: bool = False

    def key_kind(self) -> str:
        """How the presearcher looks the strings up (see the module docstring)."""
        if not all(s.isascii() and s.isalnum() for s in self.strings):
            return "s"
        return {(True, True): "w", (True, False): "p", (False, True): "e"}.get(
            (self.starts_word, self.ends_word), "i"
        )


def regex_literals(pattern: str) -> Literals | None:
    """What every match of `pattern` contains; None when nothing can be told."""
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except Exception:  # regex-module syntax that `re` does not know: no literals, no harm
        return None
    found = _required(list(parsed))
    return found if found and min(map(len, found.strings)) >= MIN_SUBSTRING else None


def _required(items: Parts) -> Literals | None:
    """Within a sequence: the best of its literal chains and required sub-patterns.

    A chain is a run of parts that each match one of a few exact word
    characters or strings (`H` then `20|100`), concatenated: {"H20", "H100"}.
    A separator (a space, `-`, `\\s+`) ends a chain and tells that it ends a word.
    """
    options: list[Literals] = []
    chain: set[str] = {""}
    chain_start = 0
    for i, (op, arg) in enumerate(items):
        exact = None if _separator(str(op), arg) else _exact(str(op), arg)
        if exact is not None and len(chain) * len(exact) <= MAX_ALTERNATIVES:
            chain_start = i if chain == {""} else chain_start
            chain = {a + b for a in chain for b in exact}
            continue
        if chain != {""}:
            options.append(_chain(items, chain, chain_start, i))
        chain = {""}
        if sub := _required_item(str(op), arg):
            options.append(sub)
    if chain != {""}:
        options.append(_chain(items, chain, chain_start, len(items)))
    return max(options, key=_selectivity, default=None)


def _chain(items: Parts, chain: set[str], start: int, end: int) -> Literals:
    before = items[start - 1] if start > 0 else None
    after = items[end] if end < len(items) else None
    starts = before is not None and (
        _separator(str(before[0]), before[1]) or before == _AT_BEGINNING
    )
    ends = after is not None and (_separator(str(after[0]), after[1]) or after == _AT_END)
    return Literals(frozenset(chain), starts, ends)


def _selectivity(option: Literals) -> tuple[bool, int, int]:
    """Prefer strings looked up per word (no pass over the text), then longer, then bounded."""
    shortest = min(map(len, option.strings))
    return option.key_kind() != "s", shortest, option.starts_word + option.ends_word


def _separator(name: str, arg: object) -> bool:
    """A part that matches only characters that are never in a word: whitespace, punctuation.

    Not `\\b` or `\\W`: a superscript digit is outside the regex module's `\\w` but
    inside our words, so a boundary there does not end a word.
    """
    if name == "LITERAL":
        return not WORD_CHAR.match(chr(arg))  # type: ignore[arg-type]
    if name == "IN":
        return all(
            (str(op) == "LITERAL" and not WORD_CHAR.match(chr(value)))
            or (str(op) == "CATEGORY" and str(value) == "CATEGORY_SPACE")
            for op, value in arg  # type: ignore[attr-defined]
        )
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = arg  # type: ignore[misc]
        return low >= 1 and len(body) == 1 and _separator(str(body[0][0]), body[0][1])
    return False


def _exact(name: str, arg: object) -> set[str] | None:
    """The strings a part matches, when it matches only a few fixed strings."""
    if name == "LITERAL":
        return {chr(arg)}  # type: ignore[arg-type]
    if name == "SUBPATTERN":
        return _exact_sequence(list(arg[-1]))  # type: ignore[index]
    if name == "BRANCH":
        result: set[str] = set()
        for branch in arg[1]:  # type: ignore[index]
            found = _exact_sequence(list(branch))
            if found is None:
                return None
            result |= found
        return result if len(result) <= MAX_ALTERNATIVES else None
    return None


def _exact_sequence(items: Parts) -> set[str] | None:
    result = {""}
    for op, arg in items:
        part = _exact(str(op), arg)
        if part is None or len(result) * len(part) > MAX_ALTERNATIVES:
            return None
        result = {a + b for a in result for b in part}
    return result


def _required_item(name: str, arg: object) -> Literals | None:
    """Literals of a group or repeat, without boundaries: the context is not looked at."""
    if name == "SUBPATTERN":
        found = _required(list(arg[-1]))  # type: ignore[index]
        return Literals(found.strings) if found else None
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = arg  # type: ignore[misc]
        found = _required(list(body)) if low >= 1 else None
        return Literals(found.strings) if found else None
    if name == "BRANCH":
        result: set[str] = set()
        for branch in arg[1]:  # type: ignore[index]
            found = _required(list(branch))
            if not found:
                return None
            result |= found.strings
        return Literals(frozenset(result))
    return None


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
    always: list[int] = field(default_factory=list)
    prefix_lengths: list[int] = field(default_factory=list)
    suffix_lengths: list[int] = field(default_factory=list)
    decided_by_word: dict[str, list[int]] = field(default_factory=dict)
    decided_by_prefix: dict[str, list[tuple[int, Word]]] = field(default_factory=dict)
    # per rule: the words it needs, and where (an index into `need_fields`), or None
    needs: list[tuple[int, frozenset[str]] | None] = field(default_factory=list)
    need_fields: list[tuple[str, ...]] = field(default_factory=list)
    decided_by_needs: set[int] = field(default_factory=set)
    # which rules a word leads to (and decides) never changes, so it is worked out once
    # per word: `seen` holds every word worked out, `leads` and `decides` those that count
    seen: set[str] = field(default_factory=set)
    leads: dict[str, tuple[int, ...]] = field(default_factory=dict)
    decides: dict[str, tuple[int, ...]] = field(default_factory=dict)
    infixes: ahocorasick.Automaton | None = None
    substrings: ahocorasick.Automaton | None = None

    @classmethod
    def build(
        cls, rules: Iterable[tuple[Node, tuple[str, ...]]], lists: dict[str, PhraseList]
    ) -> Presearcher:
        """From each rule's query and fields."""
        rules = list(rules)
        index = cls(len(rules))
        for position, (root, fields) in enumerate(rules):
            names, words = plain_fields(fields), necessary_words(root)
            if names and words:
                if names not in index.need_fields:
                    index.need_fields.append(names)
                index.needs.append((index.need_fields.index(names), words))
            else:
                index.needs.append(None)
            if names and _all_plain_words(root):
                index.decided_by_needs.add(position)
            for word in decisive_words(root, fields):
                if word.wildcard:
                    prefix = index.decided_by_prefix.setdefault(word.prefix, [])
                    prefix.append((position, word))
                else:
                    index.decided_by_word.setdefault(word.text, []).append(position)
        roots = [root for root, _ in rules]
        tables = {"w": index.by_word, "p": index.by_prefix, "e": index.by_suffix}
        tables |= {"i": index.by_infix, "s": index.by_substring}
        for position, root in enumerate(roots):
            keys = anchors(root, lists)
            if keys is None:
                index.always.append(position)
                continue
            for kind, text in keys:
                tables[kind].setdefault(text, []).append(position)
        index.prefix_lengths = sorted({len(p) for p in index.by_prefix})
        index.suffix_lengths = sorted({len(p) for p in index.by_suffix})
        index.infixes = _automaton(index.by_infix)
        index.substrings = _automaton(index.by_substring)
        return index

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

    def _rules_decided_by(self, word: str) -> tuple[int, ...]:
        rules = list(self.decided_by_word.get(word, ()))
        for length in self.prefix_lengths:
            if length > len(word):
                break
            for rule, wildcard in self.decided_by_prefix.get(word[:length], ()):
                if wildcard.pattern is not None and wildcard.pattern.fullmatch(word):
                    rules.append(rule)
        return tuple(rules)

    def candidates(self, doc: AnalyzedArticle) -> list[int]:
        """Positions of the rules worth evaluating on this article, in rule order."""
        return self.search(doc)[0]

    def search(self, doc: AnalyzedArticle) -> tuple[list[int], set[int]]:
        """The candidates in rule order, and those of them already decided to match."""
        found, decided = set(self.always), set()
        if len(self.seen) > WORD_CACHE_LIMIT:
            self.seen.clear()
            self.leads.clear()
            self.decides.clear()
        leads, decides = self.leads, self.decides
        for fields in (TEXT_FIELDS, OTHER_FIELDS):  # set operations and map() loop in C
            words = doc.words_in(fields)
            for word in words.difference(self.seen):
                self.seen.add(word)
                if rules := self._rules_for(word):
                    leads[word] = rules
                if rules := self._rules_decided_by(word):
                    decides[word] = rules
            found.update(*map(leads.__getitem__, leads.keys() & words))
            if fields == TEXT_FIELDS:
                decided.update(*map(decides.__getitem__, decides.keys() & words))
        if self.substrings is not None:
            for _, rules in self.substrings.iter(doc.folded_text()):
                found.update(rules)
        needs, candidates = self.needs, []
        present = [doc.words_in(names) for names in self.need_fields]
        for rule in sorted(found):
            need = needs[rule]
            if need is None or need[1] <= present[need[0]]:
                candidates.append(rule)
        decided.update(self.decided_by_needs.intersection(candidates))
        return candidates, decided


def _automaton(literals: dict[str, list[int]]) -> ahocorasick.Automaton | None:
    """Finds every literal in one pass over a text, however many literals there are."""
    if not literals:
        return None
    automaton = ahocorasick.Automaton()
    for literal, rules in literals.items():
        automaton.add_word(literal, tuple(rules))
    automaton.make_automaton()
    return automaton
