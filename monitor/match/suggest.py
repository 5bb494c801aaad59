"""Edits to one rule's query that a labelled set argues for (`suggest`).

Candidates come from the data, never from a thesaurus:
- a term (a word, or two words as a phrase) found in at least `min_support`
  missed positives, OR-ed to the query;
- a larger distance for a NEAR/n, taken from how far apart its terms stood in
  the missed positives;
- a term found in at least `min_support` false alarms, as AND NOT.
Every candidate is the rule's query as one line (`Rule.query_text`, which also
folds `any:`/`all:`/`none:` into one query) with the edit made, parsed again,
and scored on the whole set, so what is shown is what pasting it would do. The
articles are analysed once; an OR or AND NOT edit only evaluates its new clause
(the rest of the query keeps its verdict), a NEAR edit evaluates the query anew.
Ranked by: harm (new false alarms plus lost matches), then fixes, then length.
Words the query already has are not proposed (OR-ing one in only loosens a
condition the author wrote on purpose; vetoing one contradicts it).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from monitor.errors import Problem, UserError
from monitor.match.decide import compile_check
from monitor.match.diagnose import closest_gap, fields_in_scope, taken_by, writable
from monitor.match.engine import Evaluator
from monitor.match.evaluate import Case
from monitor.match.nodes import Field, Near, Node, children
from monitor.match.query import QueryError, parse_query
from monitor.match.rules import Rule, RuleSet

MAX_DISTANCE = 50  # a NEAR wider than this is no longer "near": not proposed
SHORTLIST = 40  # term candidates per kind scored exactly, after counting words
OPERATOR_WORDS = re.compile(r"^(and|or|not|near|onear|atleast)$")


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "add", "near" or "not"
    change: str  # the edit, as the author would type it
    query: str  # the whole edited query, to paste as `query:`
    score: Score
    gained: int  # missed positives it now catches
    removed: int  # false alarms it removes
    added: int  # new false alarms
    lost: int  # matches it loses
    evidence: str

    def record(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "change": self.change,
            "query": self.query,
            "precision": round(self.score.precision, 4),
            "recall": round(self.score.recall, 4),
            "tp": self.score.tp,
            "fp": self.score.fp,
            "fn": self.score.fn,
            "fixes": self.gained + self.removed,
            "new_false_alarms": self.added,
            "lost_matches": self.lost,
            "evidence": self.evidence,
        }


@dataclass
class Report:
    rule_id: str
    query: str
    score: Score
    positives: int
    negatives: int
    min_support: int
    suggestions: list[Suggestion] = field(default_factory=list)


@dataclass
class _Set:
    """The labelled set as one rule sees it: analysed articles, labels, the rule's verdicts."""

    ids: list[str]
    evaluators: list[Evaluator]
    positive: list[bool]
    applies: list[bool]
    fields: tuple[str, ...]
    base: list[bool] = field(default_factory=list)

    def verdicts(self, node: Node) -> list[bool]:
        """Whether the query holds on each article: the compiled yes-or-no check (decide.py),
        many times faster than collecting every hit of a large tree."""
        holds = compile_check(node, self.fields)
        return [
            applies and holds(ev) for ev, applies in zip(self.evaluators, self.applies, strict=True)
        ]

    def score(self, matched: Sequence[bool]) -> Score:
        tp = sum(m and p for m, p in zip(matched, self.positive, strict=True))
        fp = sum(m and not p for m, p in zip(matched, self.positive, strict=True))
        return Score(tp, fp, sum(self.positive) - tp)


def suggest(
    rules: RuleSet, rule: Rule, cases: list[Case], top: int = 5, min_support: int = 2
) -> Report:
    base_query = " ".join(rule.query_text.split())
    labelled = _Set(
        ids=[case_id for case_id, _, _ in cases],
        evaluators=[rules.evaluator(article) for _, article, _ in cases],
        positive=[rule.id in expected for _, _, expected in cases],
        applies=[rule.applies_to(article.source_id) for _, article, _ in cases],
        fields=rule.fields,
    )
    root = _parse(base_query, rule.id)
    labelled.base = labelled.verdicts(root)
    report = Report(
        rule.id,
        base_query,
        labelled.score(labelled.base),
        sum(labelled.positive),
        len(cases) - sum(labelled.positive),
        min_support,
    )
    found = [
        *_term_edits(labelled, base_query, root, min_support),
        *_near_edits(labelled, base_query, root, min_support),
    ]
    report.suggestions = _ranked(found, top)
    return report


def _parse(query: str, rule_id: str) -> Node:
    try:
        return parse_query(query)
    except QueryError as exc:
        problem = Problem(rule_id, f"its query as one line does not parse: {exc.message}")
        raise UserError([problem]) from None


def _ranked(found: list[Suggestion], top: int) -> list[Suggestion]:
    """Best first; of edits with the same effect, only the first: the shortest term to add
    (it generalises), the longest to veto (it takes the least away from texts not seen)."""
    found.sort(key=lambda s: (s.added + s.lost, -(s.gained + s.removed), _length(s)))
    kept, effects = [], set()
    for suggestion in found:
        effect = (suggestion.score, suggestion.gained, suggestion.removed, suggestion.kind)
        if effect not in effects:
            effects.add(effect)
            kept.append(suggestion)
    # the best of each kind has a place, so a NEAR or a NOT is not crowded out by terms
    firsts = [
        next(s for s in kept if s.kind == kind) for kind in dict.fromkeys(s.kind for s in kept)
    ]
    shown = firsts[:top] + [s for s in kept if s not in firsts][: max(top - len(firsts), 0)]
    return sorted(shown, key=kept.index)


def _length(suggestion: Suggestion) -> int:
    size = len(suggestion.change)
    return -size if suggestion.kind == "not" else size


def _document_terms(ev: Evaluator, fields: tuple[str, ...], proposable: set[str]) -> set[str]:
    """An article's terms worth proposing: words and two-word phrases (within one field),
    of `proposable` words (no function words, numbers or words the query already takes)."""
    terms: set[str] = set()
    for name in fields_in_scope(fields):
        words = [w if w in proposable else "" for w in ev.doc.field(name).words]
        terms.update(w for w in words if w and not OPERATOR_WORDS.match(w))
        terms.update(f'"{a} {b}"' for a, b in itertools.pairwise(words) if a and b)
    return terms


def _term_edits(
    labelled: _Set, base_query: str, root: Node, min_support: int
) -> Iterator[Suggestion]:
    if all(m == p for m, p in zip(labelled.base, labelled.positive, strict=True)):
        return  # nothing to fix
    words = {w for ev in labelled.evaluators for n in fields_in_scope(labelled.fields)
             for w in ev.doc.field(n).word_set}  # fmt: skip
    taken = taken_by(root)
    proposable = {w for w in words if writable(w) and not taken(w)}
    terms = [_document_terms(ev, labelled.fields, proposable) for ev in labelled.evaluators]
    groups = _groups(labelled)
    counts = {
        name: Counter(t for i in members for t in terms[i]) for name, members in groups.items()
    }
    add = [t for t, n in counts["missed"].items() if n >= min_support]
    add.sort(key=lambda t: (counts["missed"][t] - counts["unmatched negatives"][t], -len(t)),
             reverse=True)  # fmt: skip
    for term in add[:SHORTLIST]:
        yield from _scored(labelled, "add", term, f"({base_query}) OR {term}", counts)
    drop = [t for t, n in counts["false alarms"].items() if n >= min_support]
    drop.sort(key=lambda t: (counts["false alarms"][t] - counts["true positives"][t], -len(t)),
              reverse=True)  # fmt: skip
    for term in drop[:SHORTLIST]:
        yield from _scored(labelled, "not", term, f"({base_query}) AND NOT {term}", counts)


def _groups(labelled: _Set) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {
        "missed": [], "true positives": [], "false alarms": [], "unmatched negatives": []
    }  # fmt: skip
    for i, (matched, positive) in enumerate(zip(labelled.base, labelled.positive, strict=True)):
        if positive:
            groups["true positives" if matched else "missed"].append(i)
        else:
            groups["false alarms" if matched else "unmatched negatives"].append(i)
    return groups


def _scored(
    labelled: _Set, kind: str, term: str, query: str, counts: dict[str, Counter[str]]
) -> Iterator[Suggestion]:
    """The edit scored exactly: its clause evaluated on every article, combined with the
    query's own verdicts (which an OR or AND NOT leaves as they were)."""
    try:
        parse_query(query)
        clause = parse_query(term)
    except QueryError:
        return
    has = labelled.verdicts(clause)
    combine: Callable[[bool, bool], bool] = (
        (lambda base, new: base or new) if kind == "add" else (lambda base, new: base and not new)
    )
    matched = [combine(b, h) for b, h in zip(labelled.base, has, strict=True)]
    if kind == "add":
        evidence = (
            f"in {counts['missed'][term]} missed positives, "
            f"{counts['unmatched negatives'][term]} negatives it did not match"
        )
    else:
        evidence = (
            f"in {counts['false alarms'][term]} false alarms, "
            f"{counts['true positives'][term]} true positives"
        )
    change = f"OR {term}" if kind == "add" else f"AND NOT {term}"
    suggestion = _suggestion(labelled, kind, change, query, matched, evidence)
    if suggestion is not None:
        yield suggestion


def _suggestion(
    labelled: _Set, kind: str, change: str, query: str, matched: list[bool], evidence: str
) -> Suggestion | None:
    """The edit with its effect, or None if it fixes fewer than it breaks."""
    effect: Counter[str] = Counter()
    for before, after, positive in zip(labelled.base, matched, labelled.positive, strict=True):
        if before != after:
            effect[
                ("gained" if after else "lost") if positive else ("added" if after else "removed")
            ] += 1
    fixes, harm = effect["gained"] + effect["removed"], effect["added"] + effect["lost"]
    if fixes <= harm:
        return None
    score = labelled.score(matched)
    return Suggestion(kind, change, query, score, effect["gained"], effect["removed"],
                      effect["added"], effect["lost"], evidence)  # fmt: skip


def _near_edits(
    labelled: _Set, base_query: str, root: Node, min_support: int
) -> Iterator[Suggestion]:
    missed = [
        i
        for i, (m, p) in enumerate(zip(labelled.base, labelled.positive, strict=True))
        if p and not m
    ]
    for near, fields in _nears(root, labelled.fields):
        gaps = Counter[int]()
        for i in missed:
            ev = labelled.evaluators[i]
            left, right = ev.hits(near.left, fields), ev.hits(near.right, fields)
            gap = closest_gap(near, ev, left, right) if left and right else None
            if gap is not None and near.distance < gap <= MAX_DISTANCE:
                gaps[gap] += 1
        best: Suggestion | None = None
        for distance in sorted(gaps):
            if sum(n for g, n in gaps.items() if g <= distance) < min_support:
                continue
            query = _with_distance(base_query, near, distance)
            change = f"{_operator(near)}/{near.distance} -> /{distance} in {_cut(str(near))}"
            within = sorted(g for g in gaps.elements() if g <= distance)
            evidence = (
                f"in {len(within)} missed positives its terms stood {within[0]}"
                f"{'' if within[0] == distance else f' to {distance}'} words apart"
            )
            matched = labelled.verdicts(_parse(query, "suggest"))
            found = _suggestion(labelled, "near", change, query, matched, evidence)
            if found and (best is None or _better(found, best)):
                best = found
        if best is not None:
            yield best


def _better(a: Suggestion, b: Suggestion) -> bool:
    return (a.added + a.lost, -(a.gained + a.removed)) < (b.added + b.lost, -(b.gained + b.removed))


def _nears(node: Node, fields: tuple[str, ...]) -> Iterator[tuple[Near, tuple[str, ...]]]:
    """Every word-distance NEAR in the tree, with the fields it looks in."""
    if isinstance(node, Near) and node.unit == "w":
        yield node, fields
    scope = (node.name,) if isinstance(node, Field) else fields
    for child in children(node):
        yield from _nears(child, scope)


def _operator(near: Near) -> str:
    return "ONEAR" if near.ordered else "NEAR"


def _with_distance(query: str, near: Near, distance: int) -> str:
    found = re.compile(r"O?NEAR/\d+").match(query, near.offset)
    assert found is not None, "a NEAR node's offset is where its operator stands"
    return f"{query[: found.start()]}{_operator(near)}/{distance}{query[found.end() :]}"


def _cut(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
