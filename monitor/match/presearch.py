"""The presearcher: which rules can possibly match this article?

Every rule yields its *anchors*, keys of which at least one must be in an
article for the rule to match:

- a word or phrase: its rarest word (`w`), or for a wildcard its literal
  prefix (`p`, looked up by every prefix of the article's words);
- a regex: the literal strings one of which it cannot match without. A
  literal of ASCII letters and digits lies inside one word of the article
  (`i`), so it is looked up like a word; any other literal (`s`) is looked for
  in the article's folded text, all of them in one Aho-Corasick pass;
- a list: the first word of each of its names;
- OR: the union of its children's anchors; AND and NEAR: the cheapest child's;
  a field prefix or ATLEAST: its child's.

A rule with no anchor (a lone fuzzy word, a regex without a literal, a pure
NOT) is a candidate for every article. The rest are found through an
inverted index from key to rules, so the cost per article grows with its
length and its candidates, not with the number of rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick

from monitor.match.engine import PhraseList
from monitor.match.query import And, AtLeast, Field, ListRef, Near, Node, Not, Or, Regex, Terms
from monitor.match.text import ALL_FIELDS, AnalyzedArticle, fold

Key = tuple[str, str]  # ("w", word) | ("p", prefix) | ("i" | "s", literal)
COMMON = frozenset(
    "a an and are as at be been but by for from has have he her his in is it its of on or "
    "that the their they this to was were which will with would said says say new not no "
    "us u s year years percent also more after over than into about up out who".split()
)
MIN_PREFIX, MIN_SUBSTRING = 2, 2
MAX_ALTERNATIVES = 64
WORD_CACHE_LIMIT = 500_000  # distinct words remembered; news vocabulary repeats


def cost(key: Key) -> float:
    """A guess at how often a key occurs: common words and short keys cost most."""
    kind, text = key
    if kind == "w" and text in COMMON:
        return 10.0
    return (3.0 if kind == "p" else 1.0) / len(text)


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
        return {("i" if lit.isascii() and lit.isalnum() else "s", fold(lit)) for lit in literals}
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


def _word_key(text: str, wildcard: bool, fuzz: int) -> Key | None:
    if fuzz:
        return None
    if not wildcard:
        return ("w", text)
    prefix = re.split(r"[*?]", text, maxsplit=1)[0]
    return ("p", prefix) if len(prefix) >= MIN_PREFIX else None


# ---- literals a regex cannot match without -------------------------------------------------


def regex_literals(pattern: str) -> set[str] | None:
    """Strings one of which every match of `pattern` contains; None when none can be told."""
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except Exception:  # regex-module syntax that `re` does not know: no literals, no harm
        return None
    found = _required(list(parsed))
    return found if found and min(map(len, found)) >= MIN_SUBSTRING else None


def _required(items: Sequence[tuple[object, object]]) -> set[str] | None:
    """Within a sequence: the best of its literal chains and required sub-patterns.

    A chain is a run of parts that each match one of a few exact strings
    (`H` then `20|100`), concatenated: {"H20", "H100"}.
    """
    options: list[set[str]] = []
    chain: set[str] = {""}
    for op, arg in items:
        exact = _exact(str(op), arg)
        if exact is not None and len(chain) * len(exact) <= MAX_ALTERNATIVES:
            chain = {a + b for a in chain for b in exact}
            continue
        if chain != {""}:
            options.append(chain)
        chain = {""}
        sub = _required_item(str(op), arg)
        if sub:
            options.append(sub)
    if chain != {""}:
        options.append(chain)
    return max(options, key=lambda o: min(map(len, o)), default=None)


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


def _exact_sequence(items: Sequence[tuple[object, object]]) -> set[str] | None:
    result = {""}
    for op, arg in items:
        part = _exact(str(op), arg)
        if part is None or len(result) * len(part) > MAX_ALTERNATIVES:
            return None
        result = {a + b for a in result for b in part}
    return result


def _required_item(name: str, arg: object) -> set[str] | None:
    if name == "SUBPATTERN":
        return _required(list(arg[-1]))  # type: ignore[index]
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = arg  # type: ignore[misc]
        return _required(list(body)) if low >= 1 else None
    if name == "BRANCH":
        result: set[str] = set()
        for branch in arg[1]:  # type: ignore[index]
            found = _required(list(branch))
            if not found:
                return None
            result |= found
        return result
    return None


# ---- the index ----------------------------------------------------------------------------


@dataclass
class Presearcher:
    """An inverted index from anchor keys to the rules (by position) that need them."""

    size: int
    by_word: dict[str, list[int]] = field(default_factory=dict)
    by_prefix: dict[str, list[int]] = field(default_factory=dict)
    by_infix: dict[str, list[int]] = field(default_factory=dict)
    by_substring: dict[str, list[int]] = field(default_factory=dict)
    always: list[int] = field(default_factory=list)
    prefix_lengths: list[int] = field(default_factory=list)
    # which rules a word leads to (exact and prefix keys) never changes, so it is worked
    # out once per word: `seen` holds every word worked out, `leads` those leading somewhere
    seen: set[str] = field(default_factory=set)
    leads: dict[str, tuple[int, ...]] = field(default_factory=dict)
    infixes: ahocorasick.Automaton | None = None
    substrings: ahocorasick.Automaton | None = None

    @classmethod
    def build(cls, roots: Iterable[Node], lists: dict[str, PhraseList]) -> Presearcher:
        roots = list(roots)
        index = cls(len(roots))
        tables = {"w": index.by_word, "p": index.by_prefix, "i": index.by_infix}
        tables["s"] = index.by_substring
        for position, root in enumerate(roots):
            keys = anchors(root, lists)
            if keys is None:
                index.always.append(position)
                continue
            for kind, text in keys:
                tables[kind].setdefault(text, []).append(position)
        index.prefix_lengths = sorted({len(p) for p in index.by_prefix})
        index.infixes = _automaton(index.by_infix)
        index.substrings = _automaton(index.by_substring)
        return index

    def _rules_for(self, word: str) -> tuple[int, ...]:
        rules = list(self.by_word.get(word, ()))
        for length in self.prefix_lengths:
            if length > len(word):
                break
            rules.extend(self.by_prefix.get(word[:length], ()))
        if self.infixes is not None:
            for _, found in self.infixes.iter(word):
                rules.extend(found)
        return tuple(rules)

    def candidates(self, doc: AnalyzedArticle) -> list[int]:
        """Positions of the rules worth evaluating on this article, in rule order."""
        found = set(self.always)
        if len(self.seen) > WORD_CACHE_LIMIT:
            self.seen.clear()
            self.leads.clear()
        leads = self.leads
        for name in ALL_FIELDS:  # set operations and map() keep the loops in C
            words = doc.field(name).word_set
            for word in words.difference(self.seen):
                self.seen.add(word)
                if rules := self._rules_for(word):
                    leads[word] = rules
            found.update(*map(leads.__getitem__, leads.keys() & words))
        if self.substrings is not None:
            for _, rules in self.substrings.iter(doc.folded_text()):
                found.update(rules)
        return sorted(found)


def _automaton(literals: dict[str, list[int]]) -> ahocorasick.Automaton | None:
    """Finds every literal in one pass over a text, however many literals there are."""
    if not literals:
        return None
    automaton = ahocorasick.Automaton()
    for literal, rules in literals.items():
        automaton.add_word(literal, tuple(rules))
    automaton.make_automaton()
    return automaton
