"""The rule playground: a query (or a rule) against a pasted text and stored articles.

The same parser, matcher and explain tree as `check`, `explain` and `backtest`,
on a rule built in memory: nothing here writes a rule file. Errors are the
positioned problems `check` prints (message, line and column, caret, hint).
Stored articles are read newest first, in batches, at most MAX_ARTICLES.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import regex

from monitor.alerts import make_snippet
from monitor.article import Article
from monitor.errors import Problem, did_you_mean
from monitor.match import Match, Rule, RuleSet
from monitor.match.engine import Evaluator, Hit
from monitor.match.explain import tree
from monitor.match.nodes import ListRef, Node, Regex, nodes_of
from monitor.match.query import QueryError, parse_query
from monitor.match.text import ALL_FIELDS, TEXT_FIELDS, AnalyzedArticle, FieldText
from monitor.store import views
from monitor.web.pages import segments

if TYPE_CHECKING:
    from monitor.web import WebApp

MAX_QUERY = 4000
MAX_TEXT = 100_000
MAX_DAYS = 90
MAX_ARTICLES = 1000  # stored articles read for one playground run, newest first (bench/web.py)
SHOWN = 20  # matching stored articles listed with their highlights
BUDGET = 5.0  # seconds a playground run may spend matching (its text, or stored articles)
DEFAULT_FIELDS = ("title", "summary", "body")


@dataclass
class BudgetedEvaluator(Evaluator):
    """An evaluator whose regexes stop at a deadline, as if each timed out.

    A pasted query may hold a couple of hundred regexes that backtrack: each runs
    to regex_timeout on each field, which was half a minute of work for one GET.
    The daemon's rules are written by the desk; the playground's by whoever
    reaches the page."""

    deadline: float = math.inf

    def regex_matches(self, node: Regex, text: FieldText) -> Iterator[regex.Match[str]]:
        if time.monotonic() > self.deadline:
            self.timeouts.append(node.source)
            return iter(())
        return super().regex_matches(node, text)


@dataclass
class BudgetedRules(RuleSet):
    """A rule set whose evaluators share one deadline: the playground run's."""

    deadline: float = math.inf

    def evaluator(self, article: Article) -> Evaluator:
        doc = AnalyzedArticle(article)
        return BudgetedEvaluator(doc, self.lists, self.regex_timeout, deadline=self.deadline)


def problems_in(query: str, rules: RuleSet) -> tuple[Node | None, list[Problem]]:
    """The query's tree, or the problems `check` would report for it (with line, column, the
    line itself for the caret, and a hint)."""
    if not query.strip():
        return None, [Problem("query", "write a query, or pick a rule", hint="e.g. tariff*")]
    errors: list[QueryError] = []
    try:
        node: Node | None = parse_query(query, errors.append)
    except QueryError as exc:  # the query cannot be read on after this one
        errors.append(exc)
        node = None
    if node is not None:
        for ref in nodes_of(node, ListRef):
            if ref.name not in rules.lists:
                hint = did_you_mean(ref.name, rules.lists) or (
                    "the playground knows the lists the rules use: "
                    + (", ".join(f"@{n}" for n in sorted(rules.lists)) or "none")
                )
                errors.append(QueryError(f"unknown list `@{ref.name}`", ref.offset, hint))
    return (None if errors else node), [_problem(query, e) for e in errors]


def _problem(query: str, error: QueryError) -> Problem:
    offset = max(0, min(error.offset, len(query)))
    line = query.count("\n", 0, offset) + 1
    start = query.rfind("\n", 0, offset) + 1
    end = query.find("\n", offset)
    text = query[start : end if end >= 0 else len(query)]
    return Problem("query", error.message, line, offset - start + 1, "", error.hint, text)


def check_query(rules: RuleSet, query: str) -> dict[str, Any]:
    """The live check's JSON: {"ok": bool, "problems": [...]} (as `check` reports them)."""
    _, problems = problems_in(query[:MAX_QUERY], rules)
    return {"ok": not problems, "problems": [asdict(p) for p in problems]}


def run_playground(app: WebApp, query: dict[str, str]) -> dict[str, Any]:
    """The page's context: the form as given, and the result when there is something to run."""
    rules = app.rules()
    form = {
        "rule": query.get("rule", ""),
        "query": query.get("query", "")[:MAX_QUERY],
        "text": query.get("text", "")[:MAX_TEXT],
        "days": query.get("days", ""),
    }
    context: dict[str, Any] = {"form": form, "rule_ids": [r.id for r in rules.rules]}
    picked = rules.get(form["rule"]) if form["rule"] else None
    if form["rule"] and picked is None:
        hint = did_you_mean(form["rule"], [r.id for r in rules.rules])
        context["problems"] = [Problem("rule", f"no rule with id `{form['rule']}`", hint=hint)]
        return context
    if picked is not None and not form["query"].strip():
        form["query"] = picked.query_text
        rule = picked
    elif form["query"].strip() or form["text"].strip() or form["days"]:
        node, problems = problems_in(form["query"], rules)
        if node is None:
            context["problems"] = problems
            return context
        fields = picked.fields if picked else DEFAULT_FIELDS
        rule = Rule("playground", "playground", "medium", node, fields, "playground",
                    query_text=form["query"])  # fmt: skip
    else:
        return context  # an empty form: nothing to run yet
    single = BudgetedRules([rule], rules.lists, rules.regex_timeout)
    context["rule"] = rule
    context["semantic_note"] = rule.about is not None
    if form["text"].strip():
        context["text_result"] = on_text(single, rule, form["text"])
    days = _days(form["days"])
    if days:
        context["stored"] = on_stored(app, single, days)
    return context


def _days(text: str) -> int:
    try:
        return max(0, min(int(text), MAX_DAYS))
    except ValueError:
        return 0


def on_text(rules: BudgetedRules, rule: Rule, text: str) -> dict[str, Any]:
    """The pasted text as an article (first line the headline, the rest the body): whether
    the query matches, its explain tree, each field with the hits marked, and the regexes
    that timed out (the daemon would skip the rule on such an article)."""
    rules.deadline = time.monotonic() + BUDGET
    title, _, body = text.strip().partition("\n")
    article = Article("playground", title=title.strip(), body=body.strip())
    evaluator = rules.evaluator(article)
    result = evaluator.evaluate(rule.root, rule.fields)
    return {
        "matched": result.matched,
        "tree": tree(evaluator, rule.root, rule.fields),
        "fields": marked_fields(evaluator, result.hits if result.matched else ()),
        "timeouts": sorted(set(evaluator.timeouts)),
    }


def marked_fields(evaluator: Evaluator, hits: tuple[Hit, ...] | list[Hit]) -> list[Any]:
    """Each field with text, with the hits marked; the other fields (source, url, ...)
    only when the query found something there."""
    shown = []
    hit_fields = {h.field for h in hits}
    for name in ALL_FIELDS:
        text = evaluator.doc.field(name).text
        if text and (name in TEXT_FIELDS or name in hit_fields):
            spans = [(h.start, h.end) for h in hits if h.field == name]
            shown.append((name, segments(text, spans)))
    return shown


def on_stored(app: WebApp, rules: BudgetedRules, days: int) -> dict[str, Any]:
    """A backtest over the newest stored articles of the last `days` days."""
    started = time.perf_counter()
    rules.deadline = time.monotonic() + BUDGET
    since = time.time() - days * views.DAY
    total = app.read(views.count_articles_since, since)
    articles = app.read(lambda db: list(views.recent_articles(db, since, MAX_ARTICLES)))
    found: list[tuple[Article, Match]] = []
    matched = 0
    for article in articles:
        matched += 1
        for match in rules.match(article, use_semantic=False):
            found.append((article, match))
        if time.perf_counter() - started > BUDGET:
            break  # slow regexes: each may take regex_timeout on every article
    return {
        "days": days,
        "read": matched,
        "stopped": matched < len(articles),
        "total": total,
        "count": len(found),
        "shown": [_listed(article, match) for article, match in found[:SHOWN]],
        "seconds": time.perf_counter() - started,
    }


def _listed(article: Article, match: Match) -> dict[str, Any]:
    hits = sorted(match.hits)
    snippet, marks = make_snippet(article, hits)
    title_marks = [(h.start, h.end) for h in hits if h.field == "title"]
    return {
        "article": article,
        "title": segments(article.title or "(no headline)", title_marks),
        "snippet": segments(snippet, marks),
    }
