"""Regex literals: what the presearcher indexes, and where the evaluator tries a regex."""

import pytest
import regex

from monitor.article import Article
from monitor.match.engine import Evaluator
from monitor.match.literals import leading_literals
from monitor.match.query import parse_query
from monitor.match.text import AnalyzedArticle

PATTERNS = [
    (r"tariff\s+\d+", "i"),
    (r"aa", ""),
    (r"a+b", ""),
    (r"H(20|100)\b", ""),
    (r"H(20|100)\b", "i"),
    (r"^Tariff", ""),
    (r"ab|abc", ""),
    (r"(?i)tariff", ""),
    (r"section 232", "i"),
    (r"ſection", "i"),  # a non-ASCII literal may match ASCII text case-insensitively
    (r"\bB200\b", ""),
]
TEXTS = [
    "Tariff 25 and TARIFF   10, supertariff 7, tariffs 5.",
    "aaaa aab aaab",
    "H20, h100, H2000 and H20s; H100.",
    "abc ab abcabc",
    "Section 232 and SECTION 232 and section232",
    "Nvidia’s H20 — Tariff 3 in Zürich",  # not ASCII: case-insensitive literals step aside
    "B200 B2000",
]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_starting_a_regex_at_its_first_literal_finds_what_finditer_finds(pattern, flags):
    query = parse_query(f"/{pattern}/{flags}")
    compiled = regex.compile(pattern, regex.IGNORECASE if flags else 0)
    for text in TEXTS:
        evaluator = Evaluator(AnalyzedArticle(Article("wire", title="", body=text)))
        found = [(h.start, h.end) for h in evaluator.hits(query, ("body",))]
        assert found == [m.span() for m in compiled.finditer(text)], text


def test_leading_literals():
    assert leading_literals(r"tariff\s+\d+") == {"tariff"}
    assert leading_literals(r"H(20|100)\b") == {"H20", "H100"}
    assert leading_literals(r"(?i)tariff") is None  # an inline flag changes what they match
    assert leading_literals(r"\$\d+ billion") is None
    assert leading_literals(r"a+b") is None
