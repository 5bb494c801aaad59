"""The query language, one table per operator (see docs/rules.md)."""

import pytest

from monitor.article import Article
from monitor.match.decide import compile_check
from monitor.match.engine import Evaluator
from monitor.match.query import QueryError, parse_query
from monitor.match.text import TEXT_FIELDS, AnalyzedArticle


def matches(query, body="", title="", **fields):
    """Whether the query matches, by the evaluator; the compiled check must agree."""
    article = Article("wire", title=title, body=body, **fields)
    node = parse_query(query)
    matched = Evaluator(AnalyzedArticle(article)).evaluate(node, TEXT_FIELDS).matched
    decided = compile_check(node, TEXT_FIELDS)(Evaluator(AnalyzedArticle(article)))
    assert decided is matched, f"compiled check says {decided}, evaluator {matched}"
    return matched


def hits(query, body="", title=""):
    article = Article("wire", title=title, body=body)
    result = Evaluator(AnalyzedArticle(article)).evaluate(parse_query(query))
    return [(h.field, h.start, h.end, h.text) for h in result.hits]


WORDS = [
    ("nvidia", "Nvidia rose.", True),
    ("nvidia", "NVIDIA rose.", True),
    ("nvidia", "Nvidia's chips", True),
    ("nvidia", "La envidia es mala.", False),
    ("nvidia", "nvidiachips", False),
    ("h20", "the H20 chip", True),
    ("h20", "the H200 chip", False),
    ("zolle", "Zölle steigen", False),
    ("zölle", "ZÖLLE steigen", True),
    ("ﬁnance", "finance ministers", True),  # NFKC: the ligature is two letters
    ("tariff", "", False),
]


@pytest.mark.parametrize(("query", "body", "expected"), WORDS)
def test_words_are_whole_case_insensitive_and_unicode(query, body, expected):
    assert matches(query, body) is expected


PHRASES = [
    ('"export controls"', "new export controls on chips", True),
    ('"export controls"', "controls on export", False),
    ('"rare earth"', "rare-earth magnets", True),
    ("rare-earth", "rare earth magnets", True),
    ('"export controls"', "export\ncontrols", True),
    ('"entity list"', "the Entity-List additions", True),
    ('"u.s. tariffs"', "new U.S. tariffs", True),
    ("Nvidia's", "Nvidia's chips", True),
    ("nvidia", "Nvidia’s chips", True),  # a typographic apostrophe
    ("h20", "the H-20 chip", True),
    ("h20", "the H 20 chip", True),
    ('"H-20"', "the H20 chip", True),
    ("gb200", "GB-200 racks", True),
    ("h20", "the H-200 chip", False),
    ("b30a", "the B30A part", True),
    ("covid19", "covid 19 cases", True),
    ('"export controls"', "export\r\ncontrols", True),
    ("nvidia", "", False),
]


@pytest.mark.parametrize(("query", "body", "expected"), PHRASES)
def test_phrases_ignore_punctuation_hyphens_and_line_breaks(query, body, expected):
    assert matches(query, body) is expected


WILDCARDS = [
    ("tariff*", "tariffs rose", True),
    ("tariff*", "tariff rose", True),
    ("tariff*", "atariffs", False),
    ("licen?e", "a licence", True),
    ("licen?e", "a license", True),
    ("licen?e", "licensee", False),
    ('"synthetic opioid*"', "synthetic opioids flow", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), WILDCARDS)
def test_wildcards(query, body, expected):
    assert matches(query, body) is expected


REGEXES = [
    (r"/H(20|100)\b/", "the H20 chip", True),
    (r"/H(20|100)\b/", "the h20 chip", False),
    (r"/H(20|100)\b/i", "the h20 chip", True),
    (r"/\$\d+ ?billion/", "a $5 billion deal", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), REGEXES)
def test_regexes_are_case_sensitive_unless_i(query, body, expected):
    assert matches(query, body) is expected


BOOLEANS = [
    ("nvidia china", "Nvidia sells to China", True),
    ("nvidia china", "Nvidia sells to Canada", False),
    ("nvidia AND china", "Nvidia sells to China", True),
    ("nvidia OR amd", "AMD chips", True),
    ("nvidia NOT china", "Nvidia in Canada", True),
    ("nvidia NOT china", "Nvidia in China", False),
    ("nvidia -china", "Nvidia in China", False),
    ("NOT china", "Canada only", True),
    ("(nvidia OR amd) china", "AMD and China", True),
    ("nvidia OR amd china", "Nvidia alone", True),  # AND binds tighter than OR
    ("nvidia and china", "Nvidia and china", True),  # lower-case `and` is a word
    ("nvidia and china", "Nvidia, China", False),
    ("nvidia or amd", "amd", False),
    ("china near us", "china near us", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), BOOLEANS)
def test_boolean_operators_and_precedence(query, body, expected):
    assert matches(query, body) is expected


FIELDS = [
    ("title:nvidia", {"title": "Nvidia up", "body": "x"}, True),
    ("title:nvidia", {"title": "Chips", "body": "Nvidia"}, False),
    ("body:nvidia", {"title": "Nvidia", "body": "x"}, False),
    ('title:("export controls" OR curbs)', {"title": "New curbs", "body": ""}, True),
    ("source:wire", {"title": "x"}, True),
    ("url:example", {"title": "x", "url": "https://example.org/a"}, True),
    ("author:osei", {"title": "x", "authors": ("Helen Osei",)}, True),
    ("text:nvidia", {"title": "", "summary": "Nvidia"}, True),
    ("lead:nvidia", {"title": "", "body": "One.\n\nTwo.\n\nNvidia third."}, False),
    ("lead:nvidia", {"title": "", "body": "One.\n\nNvidia second."}, True),
]


@pytest.mark.parametrize(("query", "fields", "expected"), FIELDS)
def test_field_prefixes(query, fields, expected):
    assert matches(query, **fields) is expected


NEARS = [
    ("fentanyl NEAR/3 tariffs", "fentanyl linked tariffs", True),
    ("fentanyl NEAR/3 tariffs", "tariffs linked to fentanyl", True),
    ("fentanyl NEAR/1 tariffs", "fentanyl a b tariffs", False),
    ("fentanyl NEAR/2 tariffs", "fentanyl a b tariffs", True),
    ("fentanyl ONEAR/3 tariffs", "tariffs linked to fentanyl", False),
    ("fentanyl ONEAR/3 tariffs", "fentanyl linked tariffs", True),
    ("(fentanyl OR opioid*) NEAR/2 (tariff* OR levy)", "opioids levy", True),
    ("fentanyl NEAR/s tariffs", "Fentanyl flows. Tariffs rose.", False),
    ("fentanyl NEAR/s tariffs", "The U.S. fentanyl tariffs rose.", True),
    ("fentanyl NEAR/s tariffs", "Mr. Smith cited fentanyl. Tariffs are 2.5% higher.", False),
    ("fentanyl NEAR/p tariffs", "Fentanyl flows. Tariffs rose.", True),
    ("fentanyl NEAR/p tariffs", "Fentanyl flows.\n\nTariffs rose.", False),
]


@pytest.mark.parametrize(("query", "body", "expected"), NEARS)
def test_near(query, body, expected):
    assert matches(query, body) is expected


OTHERS = [
    ("ATLEAST/2 nvidia", "Nvidia and Nvidia", True),
    ("ATLEAST/3 nvidia", "Nvidia and Nvidia", False),
    ("nvidia~1", "Nvidea shares", True),
    ("nvidia~1", "Nvdea shares", False),
    ("nvidia~2", "Nvdea shares", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), OTHERS)
def test_atleast_and_fuzzy(query, body, expected):
    assert matches(query, body) is expected


def test_hits_carry_field_and_character_span():
    assert hits('"export controls" OR nvidia', "New export controls.", "Nvidia up") == [
        ("body", 4, 19, "export controls"),
        ("title", 0, 6, "Nvidia"),
    ]


def test_negated_terms_give_no_hits():
    assert hits("nvidia NOT china", "Nvidia in Canada") == [("body", 0, 6, "Nvidia")]


ERRORS = [
    ('(nvidia OR "H20" AND china', "unbalanced parenthesis", 0),
    ("nvidia)", "unbalanced parenthesis", 6),
    ("nvidia OR", "the query ends where a term was expected", 9),
    ("OR nvidia", "has no left operand", 0),
    ("nvidia NOT", "has no operand", 7),
    ("a NEAR/x b", "NEAR/x: expected a number of words", 2),
    ("titel:nvidia", "unknown field `titel`", 0),
    ('"export controls', "unclosed quote", 0),
    ("/H(20/", "bad regex", 5),
    ("/abc", "unclosed regex", 0),
    ("", "empty query", 0),
    ("()", "empty parentheses", 0),
    ("nvidia~3", "at most 2 edits", 0),
    ("a NEAR/5 (b AND c)", "NEAR works on words", 10),
    ("*", "needs at least one letter", 0),
]


@pytest.mark.parametrize(("query", "message", "offset"), ERRORS)
def test_parse_errors_say_what_and_where(query, message, offset):
    with pytest.raises(QueryError, match=message.replace("(", r"\(")) as info:
        parse_query(query)
    assert info.value.offset == offset


def test_unknown_field_suggests_the_close_one():
    with pytest.raises(QueryError) as info:
        parse_query("titel:nvidia")
    assert info.value.hint == "did you mean `title`?"


def test_regex_timeout_is_counted_and_other_terms_still_work():
    article = Article("w", title="", body="a" * 30 + "!" + " nvidia")
    evaluator = Evaluator(AnalyzedArticle(article), regex_timeout=0.01)
    slow = parse_query(r"/(a|aa)+$/")
    assert evaluator.evaluate(slow).matched is False
    assert evaluator.timeouts == ["/(a|aa)+$/"]
    assert evaluator.evaluate(parse_query("nvidia")).matched


def test_a_regex_match_found_before_its_timeout_stands_on_both_paths():
    article = Article("w", title="", body="nvidia " + "a" * 30 + "!")
    query = parse_query(r"/nvidia|(a|aa)+$/")
    evaluator = Evaluator(AnalyzedArticle(article), regex_timeout=0.01)
    assert [h.text for h in evaluator.evaluate(query).hits] == ["nvidia"]
    assert evaluator.timeouts == ["/nvidia|(a|aa)+$/"]
    deciding = Evaluator(AnalyzedArticle(article), regex_timeout=0.01)
    assert compile_check(query, ("text",))(deciding) is True  # stops at the first match
    assert deciding.timeouts == []
