"""The compiled checks (decide.py) agree with the evaluator, which defines the language.

Random queries over a small vocabulary, so that they match often, against
random articles of the same words: every operator, nested, in every field.
"""

import random

import pytest

from monitor.article import Article
from monitor.match.decide import compile_check
from monitor.match.engine import Evaluator, PhraseList
from monitor.match.query import QueryError, parse_query
from monitor.match.text import TEXT_FIELDS, AnalyzedArticle

WORDS = "tariff tariffs fentanyl chips h20 h 20 nvidia export controls china levy duty".split()
LISTS = {"names": PhraseList([("nvidia",), ("export", "controls"), ("h", "20", "chips")])}
FIELDS = ("title:", "body:", "lead:", "text:", "summary:", "")


def term(rng: random.Random) -> str:
    word = rng.choice(WORDS)
    kind = rng.randrange(8)
    if kind == 0:
        return f'"{word} {rng.choice(WORDS)}"'
    if kind == 1:
        return word[:3] + "*"
    if kind == 2:
        return f"{word}~1" if len(word) > 4 else word
    if kind == 3:
        return f"/{word}s?/i"
    if kind == 4:
        return "@names"
    return word


def positional(rng: random.Random, depth: int) -> str:
    kind = rng.randrange(5) if depth < 2 else 0
    if kind == 1:
        return f"({positional(rng, depth + 1)} OR {positional(rng, depth + 1)})"
    if kind == 2:
        op = rng.choice(["NEAR/2", "ONEAR/3", "NEAR/s", "NEAR/p", "NEAR/0"])
        return f"({positional(rng, depth + 1)} {op} {positional(rng, depth + 1)})"
    if kind == 3:
        return f"ATLEAST/{rng.randint(1, 3)} {term(rng)}"
    return term(rng)


def query(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(6) if depth < 3 else 0
    if kind == 1:
        return f"({query(rng, depth + 1)} AND {query(rng, depth + 1)})"
    if kind == 2:
        return f"({query(rng, depth + 1)} OR {query(rng, depth + 1)})"
    if kind == 3:
        return f"{query(rng, depth + 1)} -{term(rng)}"
    return rng.choice(FIELDS) + positional(rng, depth)


def sentence(rng: random.Random) -> str:
    words = [rng.choice([*WORDS, "the", "said", "H-20", "Nvidia's"]) for _ in range(6)]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", " U.S."])


def article(rng: random.Random) -> Article:
    paragraphs = [" ".join(sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(3)]
    return Article(
        "wire",
        title=sentence(rng) if rng.random() < 0.8 else "",
        summary=sentence(rng) if rng.random() < 0.3 else "",
        body="\n\n".join(paragraphs[: rng.randint(0, 3)]),
    )


def test_compiled_checks_agree_with_the_evaluator_on_random_queries():
    rng = random.Random(11)
    articles = [AnalyzedArticle(article(rng)) for _ in range(40)]
    checked = matched = 0
    while checked < 600:
        text = query(rng)
        try:
            node = parse_query(text)
        except QueryError:
            continue
        checked += 1
        fields = rng.choice([TEXT_FIELDS, ("title",), ("body", "author"), ("lead",)])
        check = compile_check(node, fields)
        for doc in articles:
            expected = Evaluator(doc, LISTS).evaluate(node, fields).matched
            assert check(Evaluator(doc, LISTS)) is expected, (text, fields, doc.article)
            matched += expected
    assert 0.1 < matched / (checked * len(articles)) < 0.9  # the test exercises both outcomes


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        ("@names", "Nvidia rose", True),
        ("@names", "h 20 chips", True),
        ("@names", "h 20 tariffs", False),
        ("@names NEAR/1 tariffs", "export controls and tariffs", True),
        ("ATLEAST/2 (nvidia OR chips)", "Nvidia chips", True),
        ("ATLEAST/3 (nvidia OR chips)", "Nvidia chips", False),
        ("ATLEAST/2 tariff*", "tariff tariffs", True),
        ("chips NEAR/2 chips", "chips rose", False),  # a hit is not near itself
        ("chips NEAR/2 chips", "chips and chips", True),
        ("tariffs NEAR/3 tariff*", "tariffs rose", False),
        # wildcards, fuzzy words, regexes and lists inside a NEAR: spans, not hit objects
        ("chip* NEAR/2 tariff*", "chipmakers face tariffs", True),
        ("chip* NEAR/1 tariff*", "chipmakers may face tariffs", False),
        ("tarif~1 NEAR/1 chips", "tariff on chips", True),
        ("/h(?:20|100)/i NEAR/2 export*", "H20 export curbs", True),
        ("/h(?:20|100)/i NEAR/2 export*", "H20 chips from the export", False),
        ("(@names OR chip*) ONEAR/2 tariffs", "chipmakers and tariffs", True),
        ("(@names OR chip*) ONEAR/2 tariffs", "tariffs on export controls", False),
        # the cheaper side of a NEAR is looked for first; order still counts for ONEAR
        ("(tariff* OR chip* OR levy OR duty) ONEAR/2 china", "tariffs on China", True),
        ("(tariff* OR chip* OR levy OR duty) ONEAR/2 china", "China tariffs", False),
        ("(tariff* OR chip* OR levy OR duty) ONEAR/2 china", "tariffs on Chile", False),
        ("china ONEAR/2 (tariff* OR chip* OR levy OR duty)", "China tariffs", True),
        # a regex can hit one word twice: ATLEAST counts the hits, not the words
        ("ATLEAST/3 /a/", "banana", True),
        ("ATLEAST/4 /a/", "banana", False),
        ("ATLEAST/2 (/an/ OR chips)", "banana", True),
    ],
)
def test_compiled_checks_on_lists_and_counts(query, body, expected):
    doc = AnalyzedArticle(Article("wire", title="", body=body))
    node = parse_query(query)
    assert Evaluator(doc, LISTS).evaluate(node).matched is expected
    assert compile_check(node, TEXT_FIELDS)(Evaluator(doc, LISTS)) is expected
