"""Why a rule did or did not match: the query as a tree with each node's value.

Every node is evaluated (no short-circuit), so the tree shows which part
decided: the failing AND operand, the NOT that vetoed, the NEAR whose words
were too far apart. The article text is shown with the hits marked, in
colour on a terminal and with [[markers]] elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from monitor.article import Article
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
    children,
)
from monitor.match.rules import Rule
from monitor.match.semantic import ArticleScorer
from monitor.match.text import ALL_FIELDS

COLOUR = ("\x1b[1;31m", "\x1b[0m")
MARKERS = ("[[", "]]")


def tree(evaluator: Evaluator, node: Node, fields: tuple[str, ...], depth: int = 0) -> list[str]:
    """One line per node: ✓ or ✗, the operator or term, and what it found."""
    result = evaluator.evaluate(node, fields)
    mark = "✓" if result.matched else "✗"
    found = ", ".join(dict.fromkeys(f"{h.text!r} in {h.field}" for h in result.hits[:6]))
    line = f"{'  ' * depth}{mark} {_label(node)}" + (f"  ({found})" if found else "")
    lines = [line]
    scope = (node.name,) if isinstance(node, Field) else fields
    for child in children(node):
        lines += tree(evaluator, child, scope, depth + 1)
    return lines


def semantic_lines(rule: Rule, article: Article, by_query: bool) -> tuple[bool, list[str]]:
    """The rule's decision with its `about:` applied, and lines that show the score and the
    passage that scored highest; (by_query, []) for a rule without `about:`."""
    about = rule.about
    if about is None:
        return by_query, []
    score = ArticleScorer(article).score(about)
    similar = score.similarity >= about.min_similarity
    decided = (by_query and similar) if about.mode == "gate" else (by_query or similar)
    mark = "✓" if similar else "✗"
    passage = score.passage if len(score.passage) <= 300 else score.passage[:299] + "…"
    return decided, [
        f"{mark} semantic ({about.mode}): similarity {score.similarity:.3f}"
        f" {'>=' if similar else '<'} min_similarity {about.min_similarity}",
        f"  best passage: {passage!r}",
    ]


def _label(node: Node) -> str:
    match node:
        case And():
            return "AND"
        case Or():
            return "OR"
        case Near():
            return _near(node)
        case Not():
            return "NOT"
        case AtLeast():
            return f"ATLEAST/{node.count}"
        case Field():
            return f"{node.name}:"
        case Terms() | Regex() | ListRef():
            return str(node)
        case _:
            assert_never(node)


def _near(node: Near) -> str:
    name = "ONEAR" if node.ordered else "NEAR"
    return f"{name}/{node.distance if node.unit == 'w' else node.unit}"


def highlighted(evaluator: Evaluator, hits: Sequence[Hit], colour: bool) -> list[str]:
    """Each non-empty field of the article, with the hits marked."""
    before, after = COLOUR if colour else MARKERS
    lines = []
    for name in ALL_FIELDS:
        text = evaluator.doc.field(name).text
        if not text:
            continue
        marked, at = [], 0
        for hit in sorted(h for h in hits if h.field == name):
            if hit.start < at:
                continue
            marked += [text[at : hit.start], before, text[hit.start : hit.end], after]
            at = hit.end
        marked.append(text[at:])
        lines.append(f"{name}: {''.join(marked)}")
    return lines
