"""Running the `tests:` of every rule: examples that must match, and traps that must not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.article import Article
from monitor.errors import Problem
from monitor.match.explain import tree
from monitor.match.rules import Rule, RuleSet
from monitor.sources import SourceError
from monitor.sources.formats import article_from_record

TEST_SOURCE = "test"


@dataclass(frozen=True)
class TestSummary:
    passed: int
    failures: list[Problem]


def test_article(case: Any) -> Article:
    """A string is an article body; a mapping has title, summary, body, url, source, ..."""
    if isinstance(case, str):
        return Article(TEST_SOURCE, title="", body=case)
    return article_from_record({"source": TEST_SOURCE, **case}, TEST_SOURCE, own_source=True)


def run_rule_tests(rules: RuleSet) -> TestSummary:
    passed, failures = 0, []
    for rule in rules.rules:
        for kind, expected in (("match", True), ("no_match", False)):
            for i, case in enumerate(getattr(rule.tests, kind)):
                problem = _check_case(rules, rule, kind, i, case, expected)
                if problem is None:
                    passed += 1
                else:
                    failures.append(problem)
    return TestSummary(passed, failures)


def _check_case(
    rules: RuleSet, rule: Rule, kind: str, i: int, case: Any, expected: bool
) -> Problem | None:
    key = f"{rule.id}: tests.{kind}[{i}]"
    try:
        article = test_article(case)
    except SourceError as exc:
        return Problem(rule.file, str(exc), rule.test_lines.get(f"{kind}[{i}]"), key=key)
    evaluator = rules.evaluator(article)
    result = evaluator.evaluate(rule.root, rule.fields)
    if result.matched == expected:
        return None
    preview = " ".join(str(case if isinstance(case, str) else case.get("title") or case).split())
    if expected:
        message = f"expected a match, got none: {preview[:120]!r}"
    else:
        found = ", ".join(dict.fromkeys(f"{h.text!r} in {h.field}" for h in result.hits))
        message = f"expected no match, but it matched ({found or 'by negation'}): {preview[:120]!r}"
    why = "\n      ".join(tree(evaluator, rule.root, rule.fields))
    return Problem(
        rule.file,
        message,
        rule.test_lines.get(f"{kind}[{i}]"),
        key=key,
        hint=f"query: {rule.query_text}\n    why:\n      {why}",
    )
