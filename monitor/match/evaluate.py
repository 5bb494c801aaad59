"""Precision and recall of a rule set against labelled articles.

Each labelled line is an article (`id`, `title`, `body`, ...) with `expect`,
the ids of the rules that should match it. A rule's false positives are the
articles it matched but was not expected to; its false negatives, those it
was expected to match but missed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.article import Article
from monitor.match.diagnose import (
    LabelledWords,
    Reason,
    document_words,
    explain_false_alarm,
    explain_miss,
)
from monitor.match.rules import Rule, RuleSet
from monitor.match.semantic import ArticleScorer
from monitor.sources import SourceError
from monitor.sources.formats import article_from_record

Case = tuple[str, Article, set[str]]  # (id, article, the rule ids it should match)


@dataclass
class RuleScore:
    rule_id: str
    true_positives: int = 0
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        predicted = self.true_positives + len(self.false_positives)
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + len(self.false_negatives)
        return self.true_positives / expected if expected else 1.0


def read_labelled(lines: Iterable[str], name: str) -> list[Case]:
    """(id, article, expected rule ids) per line; SourceError naming the line otherwise."""
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            expect = record.pop("expect")
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise SourceError(f"{name}:{number}: expected a JSON object with `expect`") from None
        if not isinstance(expect, list):
            raise SourceError(f"{name}:{number}: `expect` must be a list of rule ids")
        article = article_from_record(record, "labelled", number, own_source=True)
        cases.append((str(record.get("id", number)), article, set(expect)))
    return cases


def evaluate(rules: RuleSet, cases: list[Case]) -> list[RuleScore]:
    scores = {rule.id: RuleScore(rule.id) for rule in rules.rules}
    for case_id, article, expected in cases:
        _tally(scores, case_id, {m.rule.id for m in rules.match(article)}, expected)
    return list(scores.values())


def explain_scores(
    rules: RuleSet, cases: list[Case], scores: list[RuleScore]
) -> dict[str, list[Reason]]:
    """Each rule's misclassified articles with the reason (diagnose.py), misses first."""
    by_id = {case_id: (article, expected) for case_id, article, expected in cases}
    evaluators = {case_id: rules.evaluator(article) for case_id, (article, _) in by_id.items()}
    reasons: dict[str, list[Reason]] = {}
    for score in scores:
        rule = rules.get(score.rule_id)
        if rule is None or not (score.false_negatives or score.false_positives):
            continue
        words = LabelledWords()
        missed = set(score.false_negatives)
        for case_id, (_, expected) in by_id.items():
            if case_id in missed or rule.id not in expected:
                words.add(document_words(evaluators[case_id], rule.fields), case_id in missed)
        found = [
            explain_miss(i, evaluators[i], rule.root, rule.fields, words)
            for i in score.false_negatives
        ]
        found += [
            explain_false_alarm(i, evaluators[i], rule.root, rule.fields)
            for i in score.false_positives
        ]
        reasons[rule.id] = found
    return reasons


def _tally(scores: dict[str, RuleScore], case_id: str, found: set[str], expected: set[str]) -> None:
    for rule_id, score in scores.items():
        if rule_id in found and rule_id in expected:
            score.true_positives += 1
        elif rule_id in found:
            score.false_positives.append(case_id)
        elif rule_id in expected:
            score.false_negatives.append(case_id)


@dataclass
class SemanticComparison:
    """One rule with `about:` scored three ways, to see what the semantic part adds."""

    keyword: RuleScore  # the query alone
    combined: RuleScore  # the rule as it runs: the query with its gate or beside
    alone: RuleScore  # the similarity alone, no query


def compare_semantic(rules: RuleSet, cases: list[Case]) -> list[SemanticComparison]:
    """Keyword-only, keyword+semantic and semantic-only scores of the rules with `about:`."""
    chosen = [rules.rules[i] for i, _ in rules.semantic]
    ways = [{rule.id: RuleScore(rule.id) for rule in chosen} for _ in range(3)]
    for case_id, article, expected in cases:
        scorer = ArticleScorer(article)
        keyword = {m.rule.id for m in rules.match(article, use_semantic=False)}
        _tally(ways[0], case_id, keyword, expected)
        _tally(ways[1], case_id, {m.rule.id for m in rules.match(article)}, expected)
        _tally(ways[2], case_id, {r.id for r in chosen if _similar(scorer, r)}, expected)
    return [SemanticComparison(*(way[rule.id] for way in ways)) for rule in chosen]


def _similar(scorer: ArticleScorer, rule: Rule) -> bool:
    about = rule.about
    return about is not None and scorer.score(about).similarity >= about.min_similarity


def semantic_table(comparisons: list[SemanticComparison]) -> list[str]:
    """`eval --semantic-compare`: precision/recall (tp fp fn) of each way, side by side."""
    if not comparisons:
        return ["no rule has `about:`: nothing to compare"]
    lines = [f"{'rule':<24} {'keyword':>16} {'keyword+semantic':>18} {'semantic alone':>18}"]
    for c in comparisons:
        cells = [_cell(score) for score in (c.keyword, c.combined, c.alone)]
        lines.append(f"{c.keyword.rule_id:<24} {cells[0]:>16} {cells[1]:>18} {cells[2]:>18}")
    lines.append("each cell: precision/recall (true positives, false positives, false negatives)")
    return lines


def _cell(score: RuleScore) -> str:
    counts = f"{score.true_positives},{len(score.false_positives)},{len(score.false_negatives)}"
    return f"{score.precision:.2f}/{score.recall:.2f} ({counts})"
