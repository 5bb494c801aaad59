"""Compiled rules and the rule set that matches an article against all of them.

A `RuleSet` is configuration: it is rebuilt on every reload, so it holds no
run-time counts. What it measures while matching (regexes that timed out) goes
to a counter the caller owns and keeps across reloads.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from monitor.article import Article
from monitor.errors import Problem, UserError
from monitor.match.decide import Check, compile_check
from monitor.match.engine import Evaluator, Hit, PhraseList
from monitor.match.nodes import Node, Regex, nodes_of
from monitor.match.presearch import Presearcher
from monitor.match.schema import RuleTests
from monitor.match.semantic import INSTALL, About, ArticleScorer
from monitor.match.semantic import model as embedding_model
from monitor.match.text import AnalyzedArticle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    root: Node
    fields: tuple[str, ...]
    file: str
    description: str = ""
    sources: tuple[str, ...] = ("*",)
    notify: tuple[str, ...] | None = None
    cooldown: float | None = None
    max_per_hour: int | None = None
    digest: str | None = None
    mention: str | None = None
    tags: tuple[str, ...] = ()
    tests: RuleTests = field(default_factory=RuleTests)
    test_lines: dict[str, int] = field(default_factory=dict, compare=False)  # "match[0]" -> line
    query_text: str = ""
    about: About | None = None  # semantic relevance (semantic.py), gate or beside the query

    def applies_to(self, source_id: str) -> bool:
        return self.sources == ("*",) or any(
            fnmatch.fnmatchcase(source_id, pattern) for pattern in self.sources
        )

    @cached_property
    def holds(self) -> Check:
        """The compiled yes-or-no test (decide.py); hits are collected only after a match."""
        return compile_check(self.root, self.fields)


@dataclass(eq=False, slots=True)
class Match:
    rule: Rule
    article_id: str
    evaluator: Evaluator = field(repr=False)
    similarity: float | None = None  # the semantic score, for rules with `about:`
    _hits: tuple[Hit, ...] | None = field(default=None, repr=False)

    @property
    def hits(self) -> tuple[Hit, ...]:
        """What to highlight: collected on first use, since deciding a match does not need it."""
        if self._hits is None:
            self._hits = self.evaluator.evaluate(self.rule.root, self.rule.fields).hits
        return self._hits


@dataclass
class RuleSet:
    rules: list[Rule]
    lists: dict[str, PhraseList] = field(default_factory=dict)
    regex_timeout: float = 0.05
    version: str = ""  # fingerprint of the files it was loaded from
    files: int = 0
    _skipped_for_source: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)

    def evaluator(self, article: Article) -> Evaluator:
        return Evaluator(AnalyzedArticle(article), self.lists, self.regex_timeout)

    @cached_property
    def presearcher(self) -> Presearcher:
        return Presearcher.build(((rule.root, rule.fields) for rule in self.rules), self.lists)

    @cached_property
    def checks(self) -> list[Check]:
        return [rule.holds for rule in self.rules]

    @cached_property
    def semantic(self) -> list[tuple[int, About]]:
        """The rules with `about:`: empty for most rule sets, which then pay nothing."""
        return [(i, rule.about) for i, rule in enumerate(self.rules) if rule.about is not None]

    def compile(self) -> None:
        """Build the presearcher and every rule's check now, so the first article waits for
        none of it (nor for the semantic model, when a rule uses it)."""
        _ = self.presearcher, self.checks
        try:
            for _i, about in self.semantic:
                embedding_model().centroid(about)
        except (OSError, ValueError, ImportError, RuntimeError) as exc:  # a broken install
            message = f"the semantic model did not load: {exc}"
            problem = Problem("rules", message, key="about", hint=INSTALL)
            raise UserError([problem]) from None

    def match(
        self,
        article: Article,
        reference: bool = False,
        timeouts: Counter[str] | None = None,
        use_semantic: bool = True,
    ) -> list[Match]:
        """The rules that match, in rule order.

        A rule whose regex timed out on this article is skipped, logged, and counted
        in `timeouts` (rule id -> count) when given. `reference=True` skips the
        presearcher and the compiled checks and walks every rule's tree with the
        evaluator: the plain definition that tests hold the fast path to.
        `use_semantic=False` decides rules with `about:` by their query alone (`eval`).
        """
        evaluator, rules = self.evaluator(article), self.rules
        skipped = self._skipped(article.source_id)
        if reference:
            candidates = [i for i in range(len(rules)) if i not in skipped]
            found = [i for i in candidates
                     if evaluator.evaluate(rules[i].root, rules[i].fields).matched]  # fmt: skip
        else:
            candidates, decided = self.presearcher.search(evaluator.doc)
            checks = self.checks
            found = [
                i for i in candidates if i not in skipped and (i in decided or checks[i](evaluator))
            ]
        if evaluator.timeouts:
            evaluated = [rules[i] for i in candidates]
            _count_timeouts(evaluator.timeouts, evaluated, article, timeouts)
        if self.semantic and use_semantic:
            return self._with_semantic(article, evaluator, found, skipped)
        return [Match(rules[i], article.id, evaluator) for i in found]

    def _with_semantic(
        self, article: Article, evaluator: Evaluator, found: list[int], skipped: frozenset[int]
    ) -> list[Match]:
        """The keyword matches, less those a gate refuses, plus those a `beside` adds."""
        scorer, by_query = ArticleScorer(article), set(found)
        similarity: dict[int, float] = {}
        for i, about in self.semantic:
            if i in skipped or (about.mode == "gate" and i not in by_query):
                continue  # a gate scores only what the query let through
            similarity[i] = scorer.score(about).similarity
            if similarity[i] >= about.min_similarity:
                by_query.add(i)
            elif about.mode == "gate":
                by_query.discard(i)
        return [
            Match(self.rules[i], article.id, evaluator, similarity.get(i)) for i in sorted(by_query)
        ]

    def _skipped(self, source_id: str) -> frozenset[int]:
        """The rules that do not apply to this source (their `sources:`), worked out once."""
        if source_id not in self._skipped_for_source:
            self._skipped_for_source[source_id] = frozenset(
                i for i, rule in enumerate(self.rules) if not rule.applies_to(source_id)
            )
        return self._skipped_for_source[source_id]

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _count_timeouts(
    regexes: list[str], evaluated: list[Rule], article: Article, timeouts: Counter[str] | None
) -> None:
    timed_out = set(regexes)
    for rule in evaluated:
        if timed_out & {node.source for node in nodes_of(rule.root, Regex)}:
            if timeouts is not None:
                timeouts[rule.id] += 1
            log.warning("a regex timed out; the rule was skipped for this article",
                        extra={"rule": rule.id, "article": article.id})  # fmt: skip
