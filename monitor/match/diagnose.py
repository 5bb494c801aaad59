"""Why a rule missed a labelled article, or matched one it should not have (`eval`).

A miss is explained by walking the query top-down along the parts that failed:
the first failing operand of an AND, the alternative of an OR that came
closest, the NOT that vetoed, the NEAR whose words stood too far apart (with
the closest distance they did stand at). When the decisive part is a missing
term, the article's sentence holding most of the rule's other terms is shown
with the words in it that the missed articles share more than the negatives
do: the likely synonyms the author did not write. A false alarm is explained by
the alternatives that fired and the text they fired on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import assert_never

from monitor.match.engine import Evaluator, Hit
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
    nodes_of,
)
from monitor.match.text import TEXT_FIELDS, FieldText

SENTENCE_CHARS = 300
# English function words: common to every text, so never a synonym or a separating term
STOPWORDS = frozenset(
    "the and for are but not you all any can had her was one our out has him his how its may "
    "new now old see two way who did get let say she too use that with have this will your "
    "from they been more when were what which their there would about could other into than "
    "then them these some such only also over after before under while where being does each "
    "most very just should between through during those both same said says very said".split()
)
PART_CHARS = 80


def short(node: Node, limit: int = PART_CHARS) -> str:
    """A query part as text, cut to a readable length."""
    text = " ".join(str(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Reason:
    """One misclassified article and why: what `eval` prints and `--format json` records."""

    case_id: str
    kind: str  # "missed" or "false alarm"
    part: str  # the query part that failed (missed) or fired (false alarm)
    detail: str  # one line a person reads
    distance: int | None = None  # a failing NEAR: how many words apart its terms stood
    sentence: str = ""
    synonyms: tuple[str, ...] = ()
    hits: tuple[str, ...] = ()

    def record(self) -> dict[str, object]:
        found: dict[str, object] = {"id": self.case_id, "kind": self.kind, "part": self.part}
        found["detail"] = self.detail
        if self.distance is not None:
            found["distance"] = self.distance
        if self.sentence:
            found["sentence"] = self.sentence
        if self.synonyms:
            found["likely_synonyms"] = list(self.synonyms)
        if self.hits:
            found["hits"] = list(self.hits)
        return found


@dataclass(frozen=True)
class _Failure:
    """The part that decided a miss; `closeness` ranks an OR's alternatives (higher: nearer)."""

    node: Node
    detail: str
    closeness: tuple[int, int]
    distance: int | None = None
    missing: bool = False  # decided by a term, phrase, regex or list found nowhere


def fields_in_scope(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The text fields a rule's words come from (`lead:` and `text:` read all three)."""
    named = tuple(f for f in fields if f in TEXT_FIELDS)
    return TEXT_FIELDS if "text" in fields or "lead" in fields or not named else named


def closest_gap(node: Near, ev: Evaluator, left: list[Hit], right: list[Hit]) -> int | None:
    """The fewest words between a left and a right hit in one field (in order, for ONEAR)."""
    best: int | None = None
    for a in left:
        for b in right:
            if a.field != b.field or (node.ordered and a.first > b.first):
                continue
            gap = b.first - a.last - 1 if a.first <= b.first else a.first - b.last - 1
            best = max(gap, 0) if best is None else min(best, max(gap, 0))
    return best


def why_missed(ev: Evaluator, node: Node, fields: tuple[str, ...]) -> _Failure:
    """The part of a failing query that decided, walking down the failing branches."""
    match node:
        case Field():
            return why_missed(ev, node.child, (node.name,))
        case And():
            failing = next(c for c in node.children if not ev.evaluate(c, fields).matched)
            return why_missed(ev, failing, fields)
        case Or():
            return max((why_missed(ev, c, fields) for c in node.children),
                       key=lambda f: f.closeness)  # fmt: skip
        case Not():
            found = _texts(ev.evaluate(node.child, fields).hits)
            words = f" (found {', '.join(found)})" if found else ""
            return _Failure(node, f"vetoed by NOT {short(node.child)}{words}", (3, 0))
        case Near():
            return _near_failure(ev, node, fields)
        case AtLeast():
            count = len(ev.hits(node.child, fields))
            detail = f"ATLEAST/{node.count} {short(node.child)}: found {count}"
            return _Failure(node, detail, (1, count - node.count))
        case Terms() | Regex() | ListRef():
            return _Failure(node, f"{short(node)} not found", (0, 0), missing=True)
        case _:
            assert_never(node)


def _near_failure(ev: Evaluator, node: Near, fields: tuple[str, ...]) -> _Failure:
    left, right = ev.hits(node.left, fields), ev.hits(node.right, fields)
    if not left:
        return why_missed(ev, node.left, fields)
    if not right:
        return why_missed(ev, node.right, fields)
    if node.unit != "w":
        where = "sentence" if node.unit == "s" else "paragraph"
        return _Failure(node, f"{short(node)}: both found, never in one {where}", (2, -1000))
    gap = closest_gap(node, ev, left, right)
    if gap is None:
        order = " in that order" if node.ordered else ""
        return _Failure(node, f"{short(node)}: both found, never in one field{order}", (2, -1000))
    detail = (
        f"{short(node)}: the terms stood {gap} words apart at closest, NEAR allows {node.distance}"
    )
    return _Failure(node, detail, (2, node.distance - gap), distance=gap)


def why_matched(ev: Evaluator, node: Node, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The alternatives that fired: the matched operands of the first OR down the tree."""
    match node:
        case Field():
            return why_matched(ev, node.child, (node.name,))
        case Or():
            return tuple(short(c) for c in node.children if ev.evaluate(c, fields).matched)
        case And():
            for child in node.children:
                if isinstance(child, Or | Field | And):
                    return why_matched(ev, child, fields)
            return (short(node),)
        case Terms() | Regex() | ListRef() | Near() | AtLeast() | Not():
            return (short(node),)
        case _:
            assert_never(node)


@dataclass
class LabelledWords:
    """How many missed positives and negatives hold each word: the evidence for synonyms."""

    missed: Counter[str] = field(default_factory=Counter)
    negatives: Counter[str] = field(default_factory=Counter)
    missed_count: int = 0
    negative_count: int = 0

    def add(self, words: Iterable[str], missed: bool) -> None:
        if missed:
            self.missed.update(set(words))
            self.missed_count += 1
        else:
            self.negatives.update(set(words))
            self.negative_count += 1

    def favours_missed(self, word: str, minimum: int = 2) -> bool:
        """In `minimum` missed positives or more, and a larger share of them than of negatives."""
        missed, negatives = self.missed[word], self.negatives[word]
        if missed < minimum or not writable(word):
            return False
        # at least twice the share: "president" is in every missed order and half the negatives
        return missed * max(self.negative_count, 1) >= 2 * negatives * max(self.missed_count, 1)

    def separation(self, word: str) -> float:
        """The share of missed positives holding the word less the share of negatives."""
        missed = self.missed[word] / max(self.missed_count, 1)
        return missed - self.negatives[word] / max(self.negative_count, 1)


def taken_by(root: Node) -> Callable[[str], bool]:
    """Whether a query's own terms (words, wildcard or fuzzy patterns) take a word."""
    words = [w for terms in nodes_of(root, Terms) for w in terms.words]
    exact = {w.text for w in words if w.pattern is None}
    patterns = [w.pattern for w in words if w.pattern is not None]
    return lambda word: word in exact or any(p.fullmatch(word) for p in patterns)


def _would_match(
    ev: Evaluator, root: Node, fields: tuple[str, ...], missing: Node, word: str
) -> bool:
    """Whether the query matches this article with `word` as an alternative to the missing term."""
    alternative = Or((missing, Terms((Word(word),), missing.offset, word)), missing.offset)
    return ev.evaluate(substitute(root, missing, alternative), fields).matched


def substitute(node: Node, old: Node, new: Node) -> Node:
    """The tree with the node `old` (by identity) replaced by `new`."""
    if node is old:
        return new
    match node:
        case And() | Or():
            found = tuple(substitute(c, old, new) for c in node.children)
            return replace(node, children=found)
        case Near():
            return replace(node, left=substitute(node.left, old, new),
                           right=substitute(node.right, old, new))  # fmt: skip
        case Not() | AtLeast() | Field():
            return replace(node, child=substitute(node.child, old, new))
        case Terms() | Regex() | ListRef():
            return node
        case _:
            assert_never(node)


def writable(word: str) -> bool:
    """A word worth proposing: three letters or more, not a number, not a function word."""
    return len(word) >= 3 and not word.isdigit() and word not in STOPWORDS


def document_words(ev: Evaluator, fields: tuple[str, ...]) -> set[str]:
    return set().union(*(ev.doc.field(name).word_set for name in fields_in_scope(fields)))


def explain_miss(
    case_id: str, ev: Evaluator, root: Node, fields: tuple[str, ...], words: LabelledWords
) -> Reason:
    if ev.evaluate(root, fields).matched:  # the rule was not asked, or gave up
        source = ev.doc.article.source_id
        detail = (
            f"the query matches; the rule's `sources:` leave out `{source}`, or a regex timed out"
        )
        return Reason(case_id, "missed", "sources", detail)
    failure = why_missed(ev, root, fields)
    if not failure.missing:
        return Reason(case_id, "missed", short(failure.node), failure.detail, failure.distance)
    sentence, sentence_words = best_sentence(ev, root, fields)
    leaf = failure.node
    assert isinstance(leaf, Terms | Regex | ListRef)
    taken = taken_by(root)
    candidates = {w for w in sentence_words if words.favours_missed(w) and not taken(w)}
    synonyms = sorted(
        (w for w in candidates if _would_match(ev, root, fields, leaf, w)),
        key=lambda w: (-words.separation(w), w),
    )[:3]
    shown = tuple(
        f"{w} (would match; in {words.missed[w]} of {words.missed_count} missed, "
        f"{words.negatives[w]} of {words.negative_count} negatives)"
        for w in synonyms
    )
    return Reason(case_id, "missed", short(failure.node), failure.detail, None, sentence, shown)


def explain_false_alarm(case_id: str, ev: Evaluator, root: Node, fields: tuple[str, ...]) -> Reason:
    hits = ev.evaluate(root, fields).hits
    fired = why_matched(ev, root, fields)
    texts = _texts(hits)
    detail = f"fired on {', '.join(texts) or 'the absence of a NOT term'}"
    sentence = sentence_at(ev.doc.field(hits[0].field), hits[0].first) if hits else ""
    return Reason(case_id, "false alarm", " | ".join(fired), detail, None, sentence, (), texts)


def best_sentence(ev: Evaluator, root: Node, fields: tuple[str, ...]) -> tuple[str, list[str]]:
    """The sentence holding the most of the rule's terms (its text and words); "" if none."""
    found: Counter[tuple[str, int]] = Counter()
    for leaf in _leaves(root):
        places = set()
        for hit in ev.hits(leaf, fields_in_scope(fields)):
            if hit.field in TEXT_FIELDS:
                places.add((hit.field, ev.doc.field(hit.field).sentence_of[hit.first]))
        found.update(places)
    if not found:
        return "", []
    # the most terms; of equals, the body's first (a title is short), so runs agree
    (name, number), _ = max(found.items(), key=lambda p: (p[1], p[0][0] == "body", -p[0][1]))
    text = ev.doc.field(name)
    positions = [i for i, s in enumerate(text.sentence_of) if s == number]
    return sentence_at(text, positions[0]), [text.words[i] for i in positions]


def sentence_at(text: FieldText, position: int) -> str:
    number = text.sentence_of[position]
    positions = [i for i, s in enumerate(text.sentence_of) if s == number]
    found = text.text[text.starts[positions[0]] : text.ends[positions[-1]]]
    found = " ".join(found.split())
    return found if len(found) <= SENTENCE_CHARS else found[: SENTENCE_CHARS - 1] + "…"


def _leaves(node: Node) -> list[Terms | Regex | ListRef]:
    """The terms, regexes and lists that count for a match (not those under a NOT)."""
    match node:
        case Terms() | Regex() | ListRef():
            return [node]
        case Not():
            return []
        case _:
            return [leaf for child in children(node) for leaf in _leaves(child)]


def _texts(hits: Sequence[Hit]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{h.text!r} in {h.field}" for h in hits[:6]))
