"""Semantic relevance (`about:`): the rule schema, the gate and beside, explain and eval.

The tests that need the model run the real one on small texts and skip when the
semantic extra is not installed (CI installs it); the rest run everywhere.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.article import Article
from monitor.errors import UserError
from monitor.match import load_rules
from monitor.match.semantic import MISSING, About, passages
from tests.conftest import ROOT, cli_command

NVIDIA_ABOUT = """\
about:
  description: "News about Nvidia: its AI chips, its sales to China, licences for its chips."
  examples:
    - "Nvidia said it would need a licence to ship H20 chips to China."
"""
ON_TOPIC = Article(
    "t", "Nvidia wins licence to sell H20 chips in China",
    body="The chipmaker said the Commerce Department granted the licence.",
)  # fmt: skip
POTATO = Article(
    "t", "Potato chips prices rise",
    body="Snack makers said crisps and chips cost more as potato harvests fell.",
)  # fmt: skip
COUNCIL = Article("t", "City council budget", body="The council voted on the school budget.")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems(folder: Path) -> list[str]:
    with pytest.raises(UserError) as info:
        load_rules([folder])
    return [str(p) for p in info.value.problems]


# -- everywhere, with or without the extra -------------------------------------------------


def test_about_needs_min_similarity_and_the_reverse(tmp_path):
    write(tmp_path, "a.yaml", "id: a\nquery: nvidia\n" + NVIDIA_ABOUT)
    write(tmp_path, "b.yaml", "id: b\nquery: nvidia\nmin_similarity: 0.4\n")
    found = problems(tmp_path)
    assert any("a.yaml" in p and "`about` needs `min_similarity`" in p for p in found), found
    assert any("b.yaml" in p and "`min_similarity` needs `about`" in p for p in found), found


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("min_similarity: 1.5\n", "less than or equal to 1"),
        ("min_similarity: 0.4\nsemantic: maybe\n", "'gate' or 'beside'"),
        ("min_similarity: 0.4\nabout_typo: x\n", "unknown key `about_typo`"),
    ],
)
def test_bad_semantic_settings_are_refused_with_their_line(tmp_path, extra, message):
    write(tmp_path, "a.yaml", "id: a\nquery: nvidia\n" + NVIDIA_ABOUT + extra)
    found = problems(tmp_path)
    assert any(message in p for p in found), found


def test_about_with_an_empty_description_is_refused(tmp_path):
    write(tmp_path, "a.yaml", "id: a\nquery: x\nabout:\n  description: ''\nmin_similarity: 0.4\n")
    assert any("about.description" in p for p in problems(tmp_path))


def test_without_the_extra_check_says_what_to_install(tmp_path):
    """The extra hidden from a real `check` run (as if never installed): one clear line."""
    write(tmp_path, "a.yaml", "id: a\nquery: nvidia\n" + NVIDIA_ABOUT + "min_similarity: 0.4\n")
    write(tmp_path, "plain.yaml", "id: plain\nquery: amd\n")
    hide = "import sys; sys.modules['wordllama'] = None; from monitor.cli import main; "
    result = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['check', '--rules', {str(tmp_path)!r}]))"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "a.yaml:4:3: about: " + MISSING in result.stderr
    assert "pip install '.[semantic]'" in result.stderr


def test_passages_are_the_title_then_a_few_sentences_each():
    body = " ".join(f"Sentence number {i} is here." for i in range(7))
    found = passages(Article("t", "The title", body=body))
    assert found[0] == "The title"
    assert (
        found[1]
        == "Sentence number 0 is here. Sentence number 1 is here. Sentence number 2 is here."
    )
    assert len(found) == 4 and found[-1] == "Sentence number 6 is here."
    assert passages(Article("t", "", body="")) == []


def test_a_text_without_full_stops_is_cut_into_passages_of_bounded_length():
    found = passages(Article("t", "T", body="word " * 20_000))
    assert len(found) > 100 and max(map(len, found)) <= 600


def test_rules_without_about_never_touch_the_model(tmp_path):
    write(tmp_path, "a.yaml", "id: a\nquery: nvidia\n")
    rules = load_rules([tmp_path])
    assert rules.semantic == []
    assert [m.similarity for m in rules.match(ON_TOPIC)] == [None]


# -- with the real model ---------------------------------------------------------------------


@pytest.fixture
def model():
    pytest.importorskip("wordllama", reason="the semantic extra is not installed")
    from monitor.match import semantic

    return semantic.model()


def score(article: Article, about: About) -> float:
    from monitor.match.semantic import ArticleScorer

    return ArticleScorer(article).score(about).similarity


def test_the_model_scores_the_topic_above_a_homonym_and_an_unrelated_text(model):
    about = About("News about Nvidia: its AI chips and licences.", ("Nvidia needs a licence.",))
    assert score(ON_TOPIC, about) > 0.7
    assert score(ON_TOPIC, about) > score(POTATO, about) + 0.3
    assert score(POTATO, about) > score(COUNCIL, about)


def test_a_long_article_is_scored_by_its_best_passage_not_diluted(model):
    about = About("Nvidia chips sold to China under licence.")
    filler = " ".join(f"The council discussed item {i} of the parks budget." for i in range(60))
    relevant = "Nvidia said it needs a licence to ship H20 chips to China."
    article = Article("t", "Budget", body=f"{filler}\n\n{relevant}\n\n{filler}")
    whole = float((model.embed([article.body]) @ model.centroid(about))[0])
    assert score(article, about) > whole + 0.2
    from monitor.match.semantic import ArticleScorer

    assert relevant in ArticleScorer(article).score(about).passage


def test_gate_refuses_what_the_query_let_through_off_topic(tmp_path, model):
    write(tmp_path, "n.yaml", "id: n\nquery: chips\n" + NVIDIA_ABOUT + "min_similarity: 0.5\n")
    rules = load_rules([tmp_path])
    [found] = rules.match(ON_TOPIC)
    assert found.rule.id == "n" and found.similarity is not None and found.similarity > 0.5
    assert rules.match(POTATO) == []  # "chips" is there, the topic is not
    assert [m.rule.id for m in rules.match(POTATO, use_semantic=False)] == ["n"]
    assert rules.match(ON_TOPIC, reference=True)[0].rule.id == "n"


def test_beside_adds_what_the_query_missed(tmp_path, model):
    rule = "id: n\nquery: '\"graphics processor\"'\n" + NVIDIA_ABOUT
    write(tmp_path, "n.yaml", rule + "min_similarity: 0.5\nsemantic: beside\n")
    rules = load_rules([tmp_path])
    assert [m.rule.id for m in rules.match(ON_TOPIC)] == ["n"]
    assert rules.match(ON_TOPIC, use_semantic=False) == []
    assert rules.match(POTATO) == []
    query_only = Article("t", "A graphics processor for the council", body="It draws maps.")
    assert [m.rule.id for m in rules.match(query_only)] == ["n"]  # beside keeps the query's


def test_explain_shows_the_score_and_the_best_passage(tmp_path, model):
    write(tmp_path, "n.yaml", "id: n\nquery: chips\n" + NVIDIA_ABOUT + "min_similarity: 0.5\n")
    article = write(tmp_path, "potato.txt", "Potato chips prices rise\n\nCrisps cost more.\n")
    result = subprocess.run(
        cli_command("explain", "--rules", str(tmp_path / "n.yaml"), "n", str(article)),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert "n does not match 'Potato chips prices rise'" in result.stdout, result.stderr
    assert "✗ semantic (gate): similarity 0." in result.stdout
    assert "< min_similarity 0.5" in result.stdout
    assert "best passage: 'Potato chips prices rise'" in result.stdout
    assert result.returncode == 1


def test_eval_compares_keyword_only_and_keyword_plus_semantic(tmp_path, model):
    write(tmp_path, "n.yaml", "id: n\nquery: chips\n" + NVIDIA_ABOUT + "min_similarity: 0.5\n")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"id": "on", "title": "Nvidia wins licence to sell H20 chips in China", "expect": ["n"]}\n'
        '{"id": "potato", "title": "Potato chips prices rise", "expect": []}\n'
        '{"id": "gpu", "title": "Nvidia H20 licence granted for China", "expect": ["n"]}\n'
    )
    result = subprocess.run(
        cli_command("eval", "--rules", str(tmp_path / "n.yaml"), "--semantic-compare", str(labelled)),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines()[-3:] if line.startswith("n "))
    # keyword: on (tp), potato (fp), gpu missed; the gate drops potato; alone finds both
    assert row.split()[1:] == [
        "0.50/0.50",
        "(1,1,1)",
        "1.00/0.50",
        "(1,0,1)",
        "1.00/1.00",
        "(2,0,0)",
    ]
