"""The presearcher only skips work: results are the same as evaluating every rule."""

from pathlib import Path

import pytest

from bench.corpus import Corpus
from monitor.article import Article
from monitor.match import load_rules
from monitor.match.engine import PhraseList
from monitor.match.presearch import anchors, regex_literals
from monitor.match.query import parse_query

ROOT = Path(__file__).resolve().parents[2]


def rules_folder(tmp_path, queries, names):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "names.txt").write_text("\n".join(names))
    lines = ["rules:"]
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i}", f"    query: {query!r}".replace("\\\\", "\\")]
    (tmp_path / "rules.yaml").write_text("\n".join(lines) + "\n")
    return load_rules([tmp_path])


def same(rules, article):
    fast = [m.rule.id for m in rules.match(article)]
    slow = [m.rule.id for m in rules.match(article, reference=True)]
    return fast == slow, fast


def test_generated_rules_give_the_same_matches_with_and_without_presearch(tmp_path):
    corpus = Corpus(seed=3)
    queries = corpus.rule_queries(400)
    # plant some rules' words so that many match somewhere
    articles = corpus.articles(60, chars=1500)
    articles += [Article("bench", title="t", body=" ".join(q.strip('"/()*') for q in queries[i::20]))
                 for i in range(20)]  # fmt: skip
    rules = rules_folder(tmp_path, queries, corpus.names)
    matched = 0
    for article in articles:
        equal, found = same(rules, article)
        assert equal, article.body[:200]
        matched += len(found)
    assert matched > 50
    assert len(rules.presearcher.always) < 20


def test_shipped_pack_gives_the_same_matches_with_and_without_presearch():
    rules = load_rules([ROOT / "rules"])
    for path in sorted((ROOT / "seeds").iterdir()):
        from monitor.sources.formats import read_path

        if path.suffix in (".txt", ".json", ".jsonl", ".html", ".eml", ".xml"):
            for article in read_path(path, "seeds"):
                assert same(rules, article)[0], path.name


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("nvidia", {("w", "nvidia")}),
        ('"the export controls"', {("w", "controls")}),
        ("tariff*", {("p", "tariff")}),
        ("h20", {("w", "h20"), ("w", "20")}),
        ('"H-20"', {("w", "20"), ("w", "h20")}),
        ("nvidia OR amd", {("w", "nvidia"), ("w", "amd")}),
        ("the nvidia", {("w", "nvidia")}),
        ("nvidia -china", {("w", "nvidia")}),
        ("fentanyl NEAR/5 (tariff* OR levy)", {("w", "fentanyl")}),
        ("NOT china", None),
        ("nvidia~1", None),
        ("nvidia OR nvidia~1", None),
        ("/H(20|100)\\b/", {("i", "h20"), ("i", "h100")}),
        ("/section[ -]232/", {("i", "section")}),
        ("/U\\.S\\. tariffs/", {("s", "u.s. tariffs")}),
        ("@names", {("w", "huawei"), ("w", "smic")}),
        ("title:nvidia", {("w", "nvidia")}),
    ],
)
def test_anchors(query, keys):
    lists = {"names": PhraseList([("huawei",), ("smic", "ltd", "beijing")])}
    assert anchors(parse_query(query), lists) == keys


def test_regex_literals():
    assert regex_literals(r"\$\d+ ?billion") == {"billion"}
    assert regex_literals(r"(a|aa)+$") is None
    assert regex_literals(r"(?:H20|H200)\b") == {"H20", "H200"}
    assert regex_literals(r"\bB(?:30A|200)\b") == {"B30A", "B200"}
