"""The presearcher only skips work: results are the same as evaluating every rule."""

import json
import random
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from bench.corpus import Corpus
from monitor.article import Article
from monitor.match import load_rules, presearch
from monitor.match.engine import PhraseList
from monitor.match.literals import regex_literals
from monitor.match.presearch import anchors
from monitor.match.query import QueryError, parse_query
from monitor.match.text import AnalyzedArticle
from monitor.sources.formats import read_path

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


def generated(tmp_path, seed: int, rules: int, articles: int, planted: int):
    """Generated rules, and articles of which `planted` carry some rules' words, so that
    many rules match somewhere."""
    corpus = Corpus(seed=seed)
    queries = corpus.rule_queries(rules)
    texts = corpus.articles(articles, chars=1500)
    texts += [Article("bench", title="t", body=" ".join(q.strip('"/()*') for q in queries[i::planted]))
              for i in range(planted)]  # fmt: skip
    return rules_folder(tmp_path, queries, corpus.names), texts


def agree_on(rules, articles, after_each=lambda: None) -> int:
    """How many matches in all, once fast and reference paths agreed on every article."""
    matched = 0
    for article in articles:
        equal, found = same(rules, article)
        assert equal, article.body[:200]
        matched += len(found)
        after_each()
    return matched


def test_generated_rules_give_the_same_matches_with_and_without_presearch(tmp_path):
    rules, articles = generated(tmp_path, seed=3, rules=400, articles=60, planted=20)
    assert agree_on(rules, articles) > 50
    assert len(rules.presearcher.always) < 20


def test_the_word_cache_starts_afresh_when_full_and_results_do_not_change(tmp_path, monkeypatch):
    monkeypatch.setattr(presearch, "WORD_CACHE_LIMIT", 300)  # an article has about 200 words
    rules, articles = generated(tmp_path, seed=5, rules=300, articles=30, planted=10)
    sizes: list[int] = []
    assert agree_on(rules, articles, lambda: sizes.append(len(rules.presearcher.seen))) > 10
    assert any(later < earlier for earlier, later in pairwise(sizes))  # it did start afresh


def test_shipped_pack_gives_the_same_matches_with_and_without_presearch():
    rules = load_rules([ROOT / "rules"])
    for path in sorted((ROOT / "seeds").iterdir()):
        if path.suffix in (".txt", ".json", ".jsonl", ".html", ".eml", ".xml"):
            for article in read_path(path, "seeds"):
                assert same(rules, article)[0], path.name


AWKWARD_TEXTS = [
    "ＮＶＩＤＩＡ ｓｈｉｐｓ Ｈ２０ ｃｈｉｐｓ",  # full width: NFKC makes it plain
    "NVIDIA\u2019s H\u201120 export licen\u00adce",  # curly apostrophe, non-breaking hyphen
    "Nvidi\u0301a e\u0301xport controls, Gro\u00dfhandel STRASSE \u0130stanbul",
    "\u200bNvidia\u200d \ufeffexport\u2028controls\u2029BIS",  # zero-width, line separators
    "\u0627\u0644\u0635\u064a\u0646 export controls \U0001f680\U0001f1e8\U0001f1f3 Nvidia",
    "½ tariff ㈱ fentanyl ﬁ duties \u2153 Section\u00a0232 steel",
    "x" * 5000 + " Nvidia " + "é" * 3000,
    "",
    "  \n\n  \t ",
]


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_shipped_pack_agrees_with_the_reference_on_awkward_unicode(text):
    rules = load_rules([ROOT / "rules"])
    for article in (
        Article("wire", title=text, body=text),
        Article("wire", title="", summary=text, body=""),
        Article("wire", title=text[:80], body=f"Lead paragraph.\n\n{text}\n\n{text}"),
    ):
        agree, found = same(rules, article)
        assert agree, (text[:40], found)
        for match in rules.match(article):
            assert all(h.text == getattr(article, h.field)[h.start : h.end] for h in match.hits)


def test_full_width_and_curly_apostrophe_spellings_still_match():
    rules = load_rules([ROOT / "rules"])
    for text in AWKWARD_TEXTS[:2]:
        ids = [m.rule.id for m in rules.match(Article("wire", title=text, body=""))]
        assert "nvidia" in ids, text


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
        ("/section[ -]232/", {("e", "section")}),
        ("/U\\.S\\. tariffs/", {("p", "tariffs")}),
        ("@names", {("w", "huawei"), ("w", "smic")}),
        ("title:nvidia", {("w", "nvidia")}),
    ],
)
def test_anchors(query, keys):
    lists = {"names": PhraseList([("huawei",), ("smic", "ltd", "beijing")])}
    assert anchors(parse_query(query), lists) == keys


@pytest.mark.parametrize(
    ("pattern", "strings", "kind"),
    [
        (r"\$\d+ ?billion", {"billion"}, "i"),  # ` ?` may be absent: "$5billion"
        (r"\$\d+ billion", {"billion"}, "p"),
        (r"(?:H20|H200)\b", {"H20", "H200"}, "i"),  # \b is not a separator (see _separator)
        (r"\bB(?:30A|200)\b", {"B30A", "B200"}, "i"),
        (r"tariff\s+\d+", {"tariff"}, "e"),
        (r"^Section 232$", {"Section"}, "w"),
        (r"U\.S\.-China", {"China"}, "p"),
        (r"(?:foo bar|baz qux)", {"foo bar", "baz qux"}, "s"),
        (r"[A-Z]{2}\d+", None, None),
        (r"(a|aa)+$", None, None),
    ],
)
def test_regex_literals(pattern, strings, kind):
    found = regex_literals(pattern)
    if strings is None:
        assert found is None
    else:
        assert (set(found.strings), found.key_kind()) == (strings, kind)


def test_regex_prefilter_never_drops_a_match(tmp_path):
    """Boundary-anchored literals are looked up by word prefix or suffix: check real hits."""
    queries = [r"/tariff\s+\d+/i", r"/^Section 232/", r"/\$\d+ billion/", r"/U\.S\.-China/"]
    rules = rules_folder(tmp_path, queries, [])
    texts = ["New tariff 25 percent", "Section 232 probe", "a $5 billion deal", "U.S.-China talks",
             "TARIFF   10", "the tariffs 5", "Section232", "supertariff 7", "a $5 billions"]  # fmt: skip
    for text in texts:
        article = Article("wire", title="", body=text)
        assert same(rules, article)[0], text
    found = {t: same(rules, Article("wire", title="", body=t))[1] for t in texts}
    assert found["TARIFF   10"] == found["supertariff 7"] == ["r0"]
    assert found["a $5 billions"] == ["r2"] and found["the tariffs 5"] == []


def test_random_nested_rules_give_the_same_matches_with_and_without_presearch(tmp_path):
    """Every operator, nested, in every field (the generators of test_decide)."""
    from tests.match.test_decide import article, query

    rng = random.Random(5)
    queries = []
    while len(queries) < 300:
        text = query(rng)
        try:
            parse_query(text)
        except QueryError:
            continue
        queries.append(text)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "names.txt").write_text("Nvidia\nexport controls\nH 20 chips\n")
    lines = ["rules:"]
    for i, text in enumerate(queries):
        lines += [f"  - id: r{i}", f"    query: {json.dumps(text)}"]
        lines += [f"    fields: [{rng.choice(['title', 'body', 'lead', 'text', 'summary'])}]"]
    (tmp_path / "rules.yaml").write_text("\n".join(lines) + "\n")
    rules = load_rules([tmp_path])
    matched = 0
    for _ in range(60):
        equal, found = same(rules, article(rng))
        assert equal
        matched += len(found)
    assert matched > 1000


def test_rules_decided_by_the_presearcher_still_respect_fields(tmp_path):
    """A one-word rule is decided by its word in the title, summary or body, not elsewhere."""
    queries = ["nvidia", "nvid*", "nvidia OR amd", "title:nvidia", "author:nvidia"]
    rules = rules_folder(tmp_path, queries, [])
    elsewhere = Article("nvidia-wire", title="Chips", body="Export curbs.",
                        url="https://example.com/nvidia", authors=("Nvidia Desk",))  # fmt: skip
    assert same(rules, elsewhere) == (True, ["r4"])
    in_summary = Article("wire", title="Chips", summary="NVIDIA's chips", body="")
    assert same(rules, in_summary) == (True, ["r0", "r1", "r2"])
    decided = rules.presearcher.search(AnalyzedArticle(in_summary))[1]
    assert decided == {0, 1, 2}


def test_the_benchmark_runs_and_reports_every_figure():
    """Not a timing: the figures docs/performance.md quotes must keep coming out."""
    command = [sys.executable, str(ROOT / "bench" / "match.py"), "--sizes", "100", "300"]
    command += ["--articles", "20", "--passes", "1", "--no-hyperscan"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    for figure in ("art/s", "MB/s", "cold first pass", "naive", "compile", "peak RSS",
                   "candidates/article", "matches/article", "engine/naive"):  # fmt: skip
        assert figure in out, figure
    assert out.count(" rules: engine ") == 2
