import inspect
import os
import sys
import threading
from pathlib import Path

import pytest

from monitor.article import Article
from monitor.errors import UserError
from monitor.match import load_rules
from monitor.match.explain import tree
from monitor.match.loading import fingerprint
from monitor.match.ruletests import run_rule_tests

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(folder: Path, notifiers=None) -> list:
    with pytest.raises(UserError) as info:
        load_rules([folder], notifiers)
    return info.value.problems


def test_one_rule_per_file_and_a_rules_list(tmp_path):
    write(tmp_path, "a.yaml", "id: a\nquery: nvidia\n")
    write(
        tmp_path, "b.yml", "rules:\n  - id: b\n    query: amd\n  - id: c\n    any: [intel, tsmc]\n"
    )
    rules = load_rules([tmp_path])
    assert [r.id for r in rules.rules] == ["a", "b", "c"]
    assert rules.get("a").title == "a"
    assert rules.get("a").severity == "medium"
    assert rules.get("a").fields == ("title", "summary", "body")


def test_any_all_none_combine_with_query(tmp_path):
    write(
        tmp_path,
        "r.yaml",
        """
id: r
query: chips
any: [nvidia, amd]
all: [china, "export*"]
none: [potato, poker]
""",
    )
    rules = load_rules([tmp_path])

    def fires(body):
        return bool(rules.match(Article("s", title="", body=body)))

    assert fires("Nvidia chips exports to China")
    assert not fires("Intel chips exports to China")  # no `any`
    assert not fires("Nvidia chips exports to Japan")  # not `all`
    assert not fires("Nvidia chips exports to China, poker night")  # a `none`


def test_sources_limit_where_a_rule_applies(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: nvidia\nsources: ['gov-*']\n")
    rules = load_rules([tmp_path])
    assert rules.match(Article("gov-bis", title="Nvidia"))
    assert not rules.match(Article("blog", title="Nvidia"))


def test_query_error_points_at_line_and_column_with_caret(tmp_path):
    write(
        tmp_path,
        "nvidia.yaml",
        'id: nvidia\ntitle: Nvidia\nseverity: high\nquery: (nvidia OR "H20" AND china\n',
    )
    [problem] = problems(tmp_path)
    assert (problem.line, problem.column) == (4, 8)
    text = str(problem)
    assert "nvidia.yaml:4:8: query: unbalanced parenthesis" in text
    assert text.splitlines()[2].index("^") == 4 + 7


def test_query_error_inside_a_folded_block_scalar(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: >\n  nvidia OR\n  (amd NEAR/x intel)\n")
    [problem] = problems(tmp_path)
    assert (problem.line, problem.column) == (4, 8)
    assert "NEAR/x" in problem.message


def test_query_error_inside_a_literal_block_scalar(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: |\n  nvidia\n  OR titel:amd\n")
    [problem] = problems(tmp_path)
    assert (problem.line, problem.column) == (4, 6)
    assert problem.hint == "did you mean `title`?"


def test_error_in_an_any_item_points_at_that_item(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nany:\n  - nvidia\n  - '\"open phrase'\n")
    [problem] = problems(tmp_path)
    assert problem.line == 4
    assert problem.key == "any"


def test_unknown_key_suggests_the_right_one(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nqeury: nvidia\n")
    found = problems(tmp_path)
    assert any(
        "unknown key `qeury`" in p.message and p.hint == "did you mean `query`?" and p.line == 2
        for p in found
    )


def test_bad_values_name_the_key(tmp_path):
    write(tmp_path, "r.yaml", "id: Bad Id\nquery: x\nseverity: urgent\nfields: [titel]\n")
    found = {p.key: p for p in problems(tmp_path)}
    assert set(found) == {"id", "severity", "fields[0]"}
    assert found["severity"].line == 3
    assert "urgent" in found["severity"].message


def test_duplicate_ids_name_both_files(tmp_path):
    write(tmp_path, "a.yaml", "id: same\nquery: x\n")
    write(tmp_path, "b.yaml", "id: same\nquery: y\n")
    [problem] = problems(tmp_path)
    assert "duplicate rule id `same`" in problem.message
    assert problem.file.endswith("b.yaml") and "a.yaml" in problem.hint


def test_unknown_notifier_is_an_error_when_notifiers_are_known(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: x\nnotify: [slak]\n")
    [problem] = problems(tmp_path, {"slack", "console"})
    assert problem.message == "no notifier named `slak`"
    assert problem.hint == "did you mean `slack`?"


def test_every_problem_in_every_file_is_reported(tmp_path):
    write(tmp_path, "a.yaml", "id: a\nquery: (x\n")
    write(tmp_path, "b.yaml", "id: b\nquery: y OR\n")
    write(tmp_path, "c.yaml", "id: c\nquery: [unclosed\n")
    write(tmp_path, "d.yaml", "")
    assert len(problems(tmp_path)) == 4


def test_every_mistake_in_one_query_is_reported_until_one_stops_the_reading(tmp_path):
    query = "titel:chips NEAR/x /(unclosed/ OR nvidia~3 OR @nosuch OR (export"
    write(tmp_path, "r.yaml", f"id: r\nquery: {query}\nnotify: [slak]\n")
    found = problems(tmp_path, {"slack"})
    assert [(p.message.split(":")[0], p.line, p.column) for p in found] == [
        ("unknown field `titel`", 2, 8),
        ("NEAR/x", 2, 20),
        ("bad regex", 2, 37),  # where the regex module saw the mistake: its end
        ("fuzzy matching allows at most 2 edits", 2, 42),
        ("unbalanced parenthesis", 2, 65),  # no reading past this, so no list check
        ("no notifier named `slak`", 3, 10),
    ]
    assert [p.hint for p in found][:2] == [
        "did you mean `title`?",
        "write NEAR/5 (within 5 words), NEAR/s (same sentence) or NEAR/p",
    ]


def test_a_readable_query_with_mistakes_still_has_its_lists_checked(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: 'titel:chips OR @nosuch'\n")
    assert [p.message for p in problems(tmp_path)] == [
        "unknown field `titel`",
        "unknown list `@nosuch`",
    ]


def test_a_rule_without_query_is_refused(tmp_path):
    write(tmp_path, "r.yaml", "id: r\ntitle: nothing\n")
    [problem] = problems(tmp_path)
    assert "needs a `query`" in problem.message


def test_lists_are_read_from_the_lists_folder(tmp_path):
    write(
        tmp_path, "lists/entities.txt", "# entity names\nHuawei Technologies\nSMIC  # a comment\n\n"
    )
    write(tmp_path, "r.yaml", "id: r\nquery: '@entities'\n")
    rules = load_rules([tmp_path])
    assert rules.match(Article("s", title="", body="SMIC and huawei technologies added"))
    assert not rules.match(Article("s", title="", body="Huawei phones"))
    write(tmp_path, "r.yaml", "id: r\nquery: '@nosuch'\n")
    [problem] = problems(tmp_path)
    assert "unknown list `@nosuch`" in problem.message


def test_rule_tests_pass_and_fail_with_the_case_and_line(tmp_path):
    write(
        tmp_path,
        "r.yaml",
        """id: r
query: fentanyl NEAR/5 tariff*
tests:
  match:
    - "fentanyl tariffs rise"
    - {title: "Fentanyl tariffs", body: ""}
    - "overdose deaths fall"
  no_match:
    - "fentanyl-linked tariffs"
""",
    )
    summary = run_rule_tests(load_rules([tmp_path]))
    assert summary.passed == 2
    first, second = summary.failures
    assert first.line == 7 and "expected a match, got none: 'overdose deaths fall'" in first.message
    assert (
        second.line == 9
        and "expected no match" in second.message
        and "'fentanyl' in body" in second.message
    )
    assert "fentanyl NEAR/5 tariff*" in second.hint


def test_shipped_pack_passes_its_own_tests():
    rules = load_rules([ROOT / "rules"])
    ids = {r.id for r in rules.rules}
    assert {"export-controls", "nvidia", "fentanyl-tariffs"} <= ids
    for rule in rules.rules:
        assert len(rule.tests.match) >= 2 and len(rule.tests.no_match) >= 2, rule.id
        assert rule.description, rule.id
    summary = run_rule_tests(rules)
    assert summary.failures == []
    assert summary.passed >= 40


# ---- limits: depth of queries, files that are not ordinary files -------------------------

AT_THE_LIMIT = {  # each 50 levels deep, the most a query may nest
    "parens": "(" * 50 + "nvidia OR amd" + ")" * 50,
    "near": " NEAR/60 ".join(f"w{i}" for i in range(50)),
    "nots": "NOT " * 49 + "nvidia",
    "fields": "title:" * 49 + "nvidia",
}
ONE_TOO_DEEP = {
    "parens": "(" * 51 + "nvidia" + ")" * 51,
    "near": " NEAR/60 ".join(["nvidia"] * 51),
    "nots": "NOT " * 50 + "nvidia",
    "fields": "-" * 50 + "nvidia",
}


def test_queries_at_the_depth_limit_hold_on_every_path_well_inside_the_stack(tmp_path):
    """Matching (compiled and reference), presearch and explain recurse per level of the
    tree: at the limit, with any/none around it, they need well under Python's 1,000 frames."""
    for name, query in AT_THE_LIMIT.items():
        write(tmp_path, f"{name}.yaml", f"id: {name}\nany: ['{query}', soy]\nnone: [corn]\n")
    article = Article(
        "s", title="Nvidia", body="Nvidia and AMD " + " ".join(f"w{i}" for i in range(50))
    )
    frames = len(inspect.stack())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + 400)
    try:
        rules = load_rules([tmp_path])
        found = {m.rule.id for m in rules.match(article)}
        assert found == {m.rule.id for m in rules.match(article, reference=True)}
        assert found == {"parens", "near", "fields"}
        for rule in rules.rules:
            lines = tree(rules.evaluator(article), rule.root, rule.fields)
            assert lines[0].startswith("✓" if rule.id in found else "✗")
    finally:
        sys.setrecursionlimit(limit)


def test_a_query_one_level_deeper_is_refused_at_its_position(tmp_path):
    for name, query in ONE_TOO_DEEP.items():
        write(tmp_path, f"{name}.yaml", f"id: {name}\nquery: {query}\n")
    found = problems(tmp_path)
    assert len(found) == len(ONE_TOO_DEEP)
    for problem in found:
        assert problem.message == "nested more than 50 levels deep"
        assert problem.line == 2 and problem.column is not None and problem.hint


def test_a_rule_or_list_file_over_10_mb_is_refused(tmp_path):
    write(tmp_path, "big.yaml", "id: big\nquery: nvidia\n" + "#" * (10 * 1024 * 1024) + "\n")
    [problem] = problems(tmp_path)
    assert problem.file.endswith("big.yaml") and problem.message == "larger than 10 MB"
    (tmp_path / "big.yaml").unlink()
    write(tmp_path, "lists/names.txt", "Huawei\n" * (2 * 1024 * 1024))
    write(tmp_path, "r.yaml", "id: r\nquery: '@names'\n")
    [problem] = problems(tmp_path)
    assert "list `@names`" in problem.message and "larger than 10 MB" in problem.message
    assert problem.line == 2 and problem.column == 9


def test_a_list_file_that_is_not_utf8_or_is_a_device_is_an_error(tmp_path):
    write(tmp_path, "r.yaml", "id: r\nquery: '@names OR @zero'\n")
    write(tmp_path, "lists/names.txt", "").write_bytes(b"Huawei \xff\n")
    (tmp_path / "lists" / "zero.txt").symlink_to("/dev/zero")
    messages = [p.message for p in problems(tmp_path)]
    assert len(messages) == 2
    assert "list `@names`" in messages[0] and "not UTF-8 text" in messages[0]
    assert "list `@zero`" in messages[1] and "not a regular file but a device" in messages[1]


def test_fingerprint_changes_with_any_file_and_never_opens_one(tmp_path):
    rule = write(tmp_path, "r.yaml", "id: r\nquery: nvidia\n")
    write(tmp_path, "lists/names.txt", "Huawei\n")
    first = fingerprint([tmp_path])
    assert fingerprint([tmp_path]) == first
    write(tmp_path, "lists/names.txt", "Huawei\nSMIC\n")
    second = fingerprint([tmp_path])
    assert second != first
    rule.unlink()
    os.mkfifo(rule)  # opening it to read would wait for a writer for good
    result: list[str] = []
    looking = threading.Thread(target=lambda: result.append(fingerprint([tmp_path])), daemon=True)
    looking.start()
    looking.join(timeout=10)
    if looking.is_alive():  # free the thread before failing: a writer ends its wait
        os.close(os.open(rule, os.O_WRONLY | os.O_NONBLOCK))
    assert result and result[0] not in (first, second)
