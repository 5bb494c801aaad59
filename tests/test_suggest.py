"""`suggest` and the reasons `eval` gives, on small labelled sets whose right answer is known."""

import json

import pytest

from monitor.match import load_rules
from monitor.match.evaluate import evaluate, explain_scores, read_labelled
from monitor.match.suggest import suggest
from tests.conftest import ROOT, shared
from tests.test_cli import cli


def article(case_id, title, body, expect=()):
    return {"id": case_id, "title": title, "body": body, "expect": list(expect)}


# positives say "levies" where the rule says "tariffs"
LEVIES = [
    article("p1", "Tariffs on China rise", "Washington raised tariffs on China again.", ["duties"]),
    article("p2", "New levies on China", "The new levies on China start in March.", ["duties"]),
    article("p3", "Beijing faces levies", "Levies on China will double next year.", ["duties"]),
    article("p4", "Steel levies", "Officials announced levies against China on steel.", ["duties"]),
    article("n1", "China weather", "It rained in China all week."),
    article("n2", "Tariffs talk", "Economists discussed tariffs in general terms."),
]
# the terms stand six words apart in the positives the rule misses
NEAR = [
    article("c1", "Chips", "The export of chips faces new tight government controls.", ["curbs"]),
    article(
        "c2", "Tools", "Officials said export of tools meets strict state controls.", ["curbs"]
    ),
    article("c3", "Rules", "New export controls on chips.", ["curbs"]),
    article("n3", "Figures", "Export figures grew. " + "Words stand here " * 5 + "then controls."),
]
# the false alarms all share "advisory committee"
ADVISORY = [
    article("e1", "New sanctions", "New sanctions hit Russian banks.", ["panel"]),
    article("e2", "Sanctions widen", "Japan widened sanctions on shipping firms.", ["panel"]),
    article("a1", "Advisory committee meets", "The advisory committee on sanctions met."),
    article("a2", "Committee minutes", "Minutes of the advisory committee on sanctions."),
    article("a3", "Advisory committee notice", "The advisory committee will discuss sanctions."),
]
RULES = """rules:
  - id: duties
    query: tariffs AND china
  - id: curbs
    query: (export NEAR/3 controls) OR "export ban"
  - id: panel
    query: sanctions
"""


@pytest.fixture
def labelled(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in LEVIES + NEAR + ADVISORY))
    return tmp_path


def report_for(folder, rule_id, **options):
    rules = load_rules([folder / "rules"])
    lines = (folder / "labelled.jsonl").read_text().splitlines()
    return suggest(rules, rules.get(rule_id), read_labelled(lines, "labelled"), **options)


def test_a_synonym_the_positives_share_is_proposed_with_its_scores(labelled):
    report = report_for(labelled, "duties")
    assert (report.score.tp, report.score.fn) == (1, 3)
    best = report.suggestions[0]
    assert (best.kind, best.change, best.query) == (
        "add",
        "OR levies",
        "(tariffs AND china) OR levies",
    )
    assert (best.score.recall, best.score.precision, best.gained, best.added) == (1.0, 1.0, 3, 0)
    # words the query already has, function words, and words of one article are never proposed
    changes = {s.change for s in report.suggestions}
    assert not changes & {"OR china", "OR the", "OR on", "OR march", "OR officials"}


def test_a_near_distance_from_how_far_apart_the_terms_stood(labelled):
    report = report_for(labelled, "curbs")
    near = [s for s in report.suggestions if s.kind == "near"]
    assert [s.query for s in near] == ['(export NEAR/6 controls) OR "export ban"']
    assert (near[0].gained, near[0].added, near[0].score.recall) == (2, 0, 1.0)


def test_a_phrase_the_false_alarms_share_becomes_and_not(labelled):
    report = report_for(labelled, "panel")
    best = report.suggestions[0]
    assert best.change == 'AND NOT "advisory committee"'
    assert best.query == '(sanctions) AND NOT "advisory committee"'
    assert (best.removed, best.lost, best.score.precision, best.score.recall) == (3, 0, 1.0, 1.0)


def test_a_term_in_one_missed_article_only_is_never_proposed(labelled):
    report = report_for(labelled, "duties", min_support=4)
    assert report.suggestions == []
    assert report_for(labelled, "duties", top=1).suggestions[0].change == "OR levies"


def test_eval_names_the_failing_part_and_the_likely_synonym(labelled):
    rules = load_rules([labelled / "rules"])
    cases = read_labelled((labelled / "labelled.jsonl").read_text().splitlines(), "labelled")
    scores = evaluate(rules, cases)
    reasons = {r.case_id: r for r in explain_scores(rules, cases, scores)["duties"]}
    assert reasons["p3"].part == "tariffs" and reasons["p3"].detail == "tariffs not found"
    assert reasons["p3"].sentence == "Levies on China will double next year"
    assert reasons["p3"].synonyms[0].startswith("levies (would match; in 3 of 3 missed, 0 of")
    near = {r.case_id: r for r in explain_scores(rules, cases, scores)["curbs"]}
    assert near["c1"].distance == 6 and "NEAR/3" in near["c1"].part


def test_a_miss_of_a_rule_limited_to_other_sources_says_so(tmp_path):
    (tmp_path / "r.yaml").write_text("id: wires\nquery: tariffs\nsources: [reuters-*]\n")
    rules = load_rules([tmp_path])
    lines = [json.dumps(article("x1", "Tariffs", "Tariffs rose.", ["wires"]))]
    cases = read_labelled(lines, "labelled")
    (reason,) = explain_scores(rules, cases, evaluate(rules, cases))["wires"]
    assert reason.part == "sources" and "`sources:` leave out `labelled`" in reason.detail


def test_eval_json_is_one_record_a_rule_with_reasons(labelled):
    result = cli("eval", "--rules", str(labelled / "rules"), "--format", "json",
                 str(labelled / "labelled.jsonl"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = {r["rule"]: r for r in map(json.loads, result.stdout.splitlines())}
    curbs = records["curbs"]
    assert (curbs["tp"], curbs["fn"], curbs["recall"]) == (1, 2, 0.3333)
    missed = {r["id"]: r for r in curbs["false_negatives"]}
    assert missed["c1"]["part"] == "(export NEAR/3 controls)" and missed["c1"]["distance"] == 6
    alarms = {r["id"]: r for r in records["panel"]["false_positives"]}
    assert alarms["a1"]["part"] == "sanctions"
    assert alarms["a1"]["hits"] == ["'sanctions' in body"]
    assert alarms["a1"]["sentence"] == "The advisory committee on sanctions met"


def test_eval_text_shows_the_reasons_under_each_rule(labelled):
    result = cli("eval", "--rules", str(labelled / "rules"), str(labelled / "labelled.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "  -c1  missed: (export NEAR/3 controls): the terms stood 6 words apart" in result.stdout
    assert "  +a1  false alarm: fired on 'sanctions' in body" in result.stdout
    assert "likely synonyms: levies (would match" in result.stdout


def test_suggest_cli_text_and_json(labelled):
    rules, path = str(labelled / "rules"), str(labelled / "labelled.jsonl")
    text = cli("suggest", "--rules", rules, "duties", path)
    assert text.returncode == 0, text.stderr
    assert "1. OR levies" in text.stdout
    assert "query: (tariffs AND china) OR levies" in text.stdout
    assert "at least 2 of the articles they fix" in text.stdout
    found = cli("suggest", "--rules", rules, "--format", "json", "--top", "1", "panel", path)
    record = json.loads(found.stdout)
    assert record["rule"] == "panel" and record["fp"] == 3
    assert [s["change"] for s in record["suggestions"]] == ['AND NOT "advisory committee"']


def test_suggest_bad_input_is_a_clear_error(labelled, tmp_path):
    rules, path = str(labelled / "rules"), str(labelled / "labelled.jsonl")
    unknown = cli("suggest", "--rules", rules, "dutys", path)
    assert unknown.returncode == 2 and "no rule with id `dutys`" in unknown.stderr
    assert "did you mean `duties`?" in unknown.stderr
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "title": "t"}\n')
    bad = cli("suggest", "--rules", rules, "duties", str(tmp_path / "bad.jsonl"))
    assert bad.returncode == 2 and "bad.jsonl:1: expected a JSON object with `expect`" in bad.stderr
    missing = cli("eval", "--rules", rules, str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "\xe9"}\n')
    latin = cli("suggest", "--rules", rules, "duties", str(tmp_path / "latin1.jsonl"))
    assert latin.returncode == 2 and "not UTF-8 text" in latin.stderr
    zero = cli("suggest", "--rules", rules, "--top", "0", "duties", path)
    assert zero.returncode == 2 and "at least 1" in zero.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr + missing.stderr + zero.stderr


def test_a_rule_with_nothing_to_fix_says_so(labelled):
    (labelled / "labelled.jsonl").write_text("".join(json.dumps(a) + "\n" for a in LEVIES[:1]))
    result = cli("suggest", "--rules", str(labelled / "rules"), "duties",
                 str(labelled / "labelled.jsonl"))  # fmt: skip
    assert result.returncode == 0
    assert "no edit found that fixes more than it breaks" in result.stdout


def weakened(tmp_path):
    """The shipped rules' ids with plain queries that miss much: something to suggest for."""
    folder = tmp_path / "weak"
    folder.mkdir()
    (folder / "w.yaml").write_text(
        "rules:\n"
        "  - {id: fentanyl-tariffs, query: 'fentanyl NEAR/3 tariff*'}\n"
        "  - {id: export-controls, query: '\"export controls\"'}\n"
        "  - {id: nvidia, query: 'nvidia AND chips'}\n"
    )
    return folder


@pytest.mark.parametrize(
    "labelled_file",
    [ROOT / "seeds" / "labelled.jsonl", "shared"],
    ids=["seeds", "real-trade-texts"],
)
@pytest.mark.parametrize("rule_id", ["fentanyl-tariffs", "export-controls", "nvidia"])
def test_on_the_seed_and_real_sets_every_suggestion_improves_and_eval_explains(
    tmp_path, labelled_file, rule_id
):
    path = (
        shared("real-trade-texts", "labelled.jsonl") if labelled_file == "shared" else labelled_file
    )
    rules = load_rules([weakened(tmp_path)])
    cases = read_labelled(path.read_text(encoding="utf-8").splitlines(), path.name)
    report = suggest(rules, rules.get(rule_id), cases)
    for found in report.suggestions:
        assert found.gained + found.removed > found.added + found.lost
        assert (found.score.tp - report.score.tp) == found.gained - found.lost
    if report.score.fn >= 2 * 2:  # enough missed articles for a term to reach the support
        assert report.suggestions, report
    scores = evaluate(rules, cases)
    reasons = explain_scores(rules, cases, scores).get(rule_id, [])
    wrong = {s.rule_id: len(s.false_negatives) + len(s.false_positives) for s in scores}
    assert len(reasons) == wrong[rule_id]
    assert all(r.detail for r in reasons)


def test_the_shipped_rules_on_the_real_set_finish_and_say_something(tmp_path):
    path = shared("real-trade-texts", "labelled.jsonl")
    result = cli("suggest", "--rules", str(ROOT / "rules"), "export-controls", str(path))
    assert result.returncode == 0, result.stderr
    assert "export-controls on " in result.stdout and "now: precision" in result.stdout
