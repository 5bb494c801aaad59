"""Chinese, Japanese and Korean text: each character is a word, a term's characters touch.

Every table runs the evaluator and the compiled check (they must agree), and the
rule sets run with and without the presearcher, which indexes touching pairs.
"""

import json
import random
import re
import time

import pytest

from bench.corpus import Corpus
from monitor.article import Article
from monitor.match import presearch
from monitor.match.decide import compile_check
from monitor.match.engine import Evaluator
from monitor.match.query import QueryError, parse_query
from monitor.match.text import (
    CJK_PUNCTUATION,
    MAX_OCCURRENCES,
    NOT_SIMPLE_CJK,
    TEXT_FIELDS,
    AnalyzedArticle,
    FieldText,
    analyse_cjk,
    is_cjk,
    pair_code,
    plain_cjk_character,
    tokens,
)
from tests.builders import assert_linear
from tests.match.test_presearch import agree_on, rules_folder

MOFCOM = "商务部、海关总署决定对镓、锗相关物项实施出口管制。"


def matches(query, body="", title=""):
    article = Article("wire", title=title, body=body)
    node = parse_query(query)
    matched = Evaluator(AnalyzedArticle(article)).evaluate(node, TEXT_FIELDS).matched
    decided = compile_check(node, TEXT_FIELDS)(Evaluator(AnalyzedArticle(article)))
    assert decided is matched, f"compiled check says {decided}, evaluator {matched}"
    return matched


def hits(query, body):
    result = Evaluator(AnalyzedArticle(Article("wire", title="", body=body))).evaluate(
        parse_query(query)
    )
    return [(h.start, h.end, h.text) for h in result.hits]


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        ("出口管制", MOFCOM, True),  # the issue's example: inside a longer run
        ('"出口管制"', MOFCOM, True),
        ("出口", MOFCOM, True),
        ("镓", MOFCOM, True),  # one character inside 对镓
        ("管制出口", MOFCOM, False),  # the characters in another order
        ("出管", MOFCOM, False),  # not side by side
        ("镓锗", MOFCOM, False),  # 镓、锗: punctuation between them
        ("镓、锗", MOFCOM, True),  # a separator in the query allows one in the text
        ('"出口 管制"', "实施出口管制", True),  # a space in the query allows none or one
        ('"出口 管制"', "出口，管制", True),
        ("出口管制", "出口，管制", False),  # written together: they must touch
        ("出口管制", "出口\n管制", False),
        ("不可靠实体清单", "将其列入不可靠实体清单。", True),
        ("不可靠实体清单", "不可靠的实体清单", False),
        # Latin words keep their rules; mixed text works both ways
        ("英伟达H20芯片", "美国限制英伟达H20芯片出口", True),
        ("英伟达H20芯片", "美国限制英伟达 H20 芯片出口", True),  # Latin and CJK need not touch
        ("H20", "美国限制英伟达H20芯片出口", True),
        ("英伟达 AND H20", "英伟达H20芯片", True),
        ("nvidia 英伟达", "Nvidia（英伟达）股价", True),
        ("h20*", "英伟达H20芯片", True),
        # Japanese, Korean, folded forms
        ("輸出規制", "政府は半導体製造装置の輸出規制を強化した。", True),
        ("輸出管理", "経済産業省は輸出管理を見直す。", True),
        ("ガス", "ｶﾞｽ価格が上昇", True),  # half-width katakana folds (NFKC)
        ("ｶﾞｽ", "ガス価格が上昇", True),
        ("コンピューター", "新型コンピューターを輸出", True),  # ー is a katakana character
        ("수출통제", "정부는 반도체 수출통제를 강화했다", True),
        ("出口管制", "出口　管制", False),  # an ideographic space separates
        ('"出口 管制"', "出口　管制", True),
        # operators on characters
        ("出口管制 NOT 统计", MOFCOM, True),
        ("出口 -管制", "出口统计数据", True),
        ("出口 -管制", MOFCOM, False),
        ("ATLEAST/2 镓", "镓和镓", True),
        ("ATLEAST/3 镓", "镓和镓", False),
        ("title:公告", MOFCOM, False),
    ],
)
def test_cjk_terms_match_consecutive_characters(query, body, expected):
    assert matches(query, body) is expected


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        # NEAR/n counts characters between the two (a Latin word counts as one)
        ("芬太尼 NEAR/2 关税", "芬太尼相关关税", True),  # 相关: two between
        ("芬太尼 NEAR/1 关税", "芬太尼相关关税", False),
        ("芬太尼 NEAR/0 关税", "芬太尼关税", True),
        ("芬太尼 ONEAR/5 关税", "关税与芬太尼", False),
        ("H20 NEAR/1 芯片", "H20型芯片", True),
        # NEAR/s: 。！？ end a sentence without any space after them
        ("芬太尼 NEAR/s 关税", "美国对芬太尼加征关税。", True),
        ("芬太尼 NEAR/s 关税", "海关查获芬太尼。关税收入增加。", False),
        ("芬太尼 NEAR/s 关税", "查获芬太尼！关税上升", False),
        ("芬太尼 NEAR/s 关税", "查获芬太尼？关税上升", False),
        ("芬太尼 NEAR/s 关税", "查获芬太尼，关税上升", True),  # a comma is no sentence end
        ("芬太尼 NEAR/s 关税", "“查获芬太尼。”关税上升", False),
        ("輸出 NEAR/s 規制", "輸出が増えた。規制は無い。", False),
        ("tariffs NEAR/s duties", "Tariffs rose. 关税 and duties", False),
        ("tariffs NEAR/s duties", "Tariffs rose 关税 and duties", True),
        ("芬太尼 NEAR/p 关税", "芬太尼。\n\n关税", False),
    ],
)
def test_near_counts_characters_and_knows_cjk_sentence_ends(query, body, expected):
    assert matches(query, body) is expected


def test_hits_keep_exact_character_spans():
    assert hits("出口管制", MOFCOM) == [(20, 24, "出口管制")]
    assert hits("英伟达H20芯片", "限制英伟达H20芯片") == [(2, 10, "英伟达H20芯片")]
    assert hits("ガス", "ｶﾞｽ価格") == [(0, 3, "ｶﾞｽ")]  # the text as written, not as folded
    assert hits("镓", "镓，镓") == [(0, 1, "镓"), (2, 3, "镓")]


@pytest.mark.parametrize("query", ["出口*", "出?", "出口~1", "英伟达*", '"出口管*"'])
def test_wildcards_and_fuzzy_on_cjk_terms_are_clear_errors(query):
    with pytest.raises(QueryError, match="do not apply to Chinese, Japanese or Korean"):
        parse_query(query)


def test_the_presearcher_indexes_touching_pairs_and_agrees_with_the_reference(tmp_path):
    queries = ["出口管制", "镓 OR 锗", '"不可靠实体清单"', "芬太尼 NEAR/5 (关税 OR 加征)",
               "出口 -管制", "英伟达H20", "輸出規制", "稀土 AND export*", "title:公告"]  # fmt: skip
    rules = rules_folder(tmp_path, queries, ["英伟达", "Huawei"])
    rng = random.Random(5)
    pieces = ["出口", "管制", "，", "镓", "锗", "。", "芬太尼", "关税", "加征", "英伟达",
              "H20", " ", "不可靠", "实体清单", "稀土", "exports", "公告", "輸出", "規制"]  # fmt: skip
    articles = [
        Article("wire", title=rng.choice(["公告", "", "商务部公告"]),
                body="".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))))
        for _ in range(300)
    ]  # fmt: skip
    articles.append(Article("wire", title="商务部公告", body=MOFCOM))
    assert agree_on(rules, articles) > 200
    assert "出口管制" in rules.presearcher.by_pair.get("管制", []) or rules.presearcher.by_pair
    assert [m.rule.id for m in rules.match(Article("wire", title="t", body=MOFCOM))] == ["r0", "r1"]


def test_random_cjk_queries_agree_between_evaluator_and_compiled_checks():
    rng = random.Random(8)
    chars = "出口管制镓锗关税芬太尼"
    texts = ["".join(rng.choice(chars + "，。 a") for _ in range(30)) for _ in range(30)]
    docs = [AnalyzedArticle(Article("wire", title="", body=t)) for t in texts]
    for _ in range(300):
        left = "".join(rng.choice(chars) for _ in range(rng.randint(1, 3)))
        right = "".join(rng.choice(chars) for _ in range(rng.randint(1, 2)))
        op = rng.choice(["", "OR", "NEAR/2", "ONEAR/1", "NEAR/s", "AND NOT"])
        node = parse_query(f"{left} {op} {right}")
        check = compile_check(node, TEXT_FIELDS)
        for doc in docs:
            assert check(Evaluator(doc)) is Evaluator(doc).evaluate(node).matched


# ---- bad input -------------------------------------------------------------------------


def test_text_mixing_scripts_at_every_character_keeps_spans_exact():
    text = "".join("出aガ1가é。ｶﾞ　" * 200)
    field = FieldText("body", text)
    assert len(field.words) == len(field.starts) == len(field.ends)
    for word, start, end in zip(field.words, field.starts, field.ends, strict=True):
        assert tokens(text[start:end]) == [word]
    assert matches("出a", text) and matches("ガ1", text) and not matches("出ガ", text)
    assert hits("가é", text)[0] == (4, 6, "가é")


def test_a_megabyte_of_han_without_punctuation_costs_linear_time():
    rng = random.Random(3)
    pool = [chr(0x4E00 + i) for i in range(3000)]

    def shape(size: int) -> str:
        return "".join(rng.choice(pool) for _ in range(size - 4)) + "出口管制"

    def run(text: object) -> object:
        doc = AnalyzedArticle(Article("wire", title="", body=str(text)))
        return Evaluator(doc).evaluate(parse_query("出口管制 NEAR/5 关税 OR 出口管制")).hits

    assert_linear(run, shape)
    text = shape(1_000_000)
    assert hits("出口管制", text)[-1] == (len(text) - 4, len(text), "出口管制")


def test_unpaired_surrogates_and_private_use_characters_do_not_crash():
    text = "出口\ud800管制\udfff镓\ue000锗\U000f0000稀土"
    assert not matches("出口管制", text)  # a surrogate stands between them
    assert matches("出口", text) and matches("稀土", text)
    assert hits("镓", text) == [(6, 7, "镓")]  # the surrogate became one U+FFFD
    assert matches('"镓 锗"', text)  # private-use characters are no letters: a separator


def test_half_width_katakana_and_ideographic_spaces():
    assert hits("テスト", "ﾃｽﾄ　テスト") == [(0, 3, "ﾃｽﾄ"), (4, 7, "テスト")]
    assert tokens("ﾊﾞﾅﾅ") == ["バ", "ナ", "ナ"]
    assert FieldText("body", "稀土　出口").words == ["稀", "土", "出", "口"]


def test_latin_only_text_is_split_as_before_and_fast():
    text = "Tariffs on café goods rose, naïve buyers said. " * 20000
    started = time.perf_counter()
    assert tokens(text)[:4] == ["tariffs", "on", "café", "goods"]
    assert time.perf_counter() - started < 5  # a guard against a pathological regex only


def test_the_issue_example_matches_from_the_command_line(tmp_path):
    from tests.test_cli import cli

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "a.yaml").write_text('rules:\n  - id: a\n    query: "出口管制"\n')
    line = json.dumps({"id": "c1", "title": "商务部公告", "body": MOFCOM}, ensure_ascii=False)
    done = cli("match", "--rules", str(tmp_path / "r"), "-", stdin=line)
    assert done.returncode == 0, done.stderr
    assert "(出口管制)" in done.stdout
    # JSON can carry a lone surrogate, which no encoder takes: it becomes U+FFFD, no crash
    done = cli(
        "match",
        "--rules",
        str(tmp_path / "r"),
        "-",
        stdin='{"title": "x", "body": "出口管制\\ud800"}',
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [  # the examples of docs/rules.md, "Chinese and Japanese text"
        ('"出口 管制"', "出口统计，管制", False),
        ("芬太尼 NEAR/2 关税", "芬太尼相关的关税", False),
        ("/出口(管制|许可)/", "申请出口许可", True),
        ("英伟达H20芯片", "英伟达 H20 芯片", True),
        ("輸出管理", "輸出管理を見直す", True),
        ("芬太尼 NEAR/s 关税", "海关查获芬太尼。关税收入增加。", False),
    ],
)
def test_the_documented_examples(query, body, expected):
    assert matches(query, body) is expected


def test_touching_characters_are_found_alike_with_and_without_spans():
    """Plain CJK text knows touching from where runs start; the spans must agree."""
    rng = random.Random(4)
    for _ in range(50):
        text = "".join(
            rng.choice(["出口", "管制", "，", " ", "H20", "。", "a", "镓"]) for _ in range(20)
        )
        field = FieldText("body", text)
        assert field.simple_cjk
        for p in range(1, len(field.words)):
            if is_cjk(field.words[p]) and is_cjk(field.words[p - 1]):
                touching = field.starts[p] == field.ends[p - 1]
                assert field.joined(p - 1, (1,)) is touching, (text, p)


# ---- simple CJK text: no word list or set until asked, pairs as ints ------------------------


CJK_QUERIES = ["出口管制", "镓 OR 锗", '"出口 管制"', "芬太尼 NEAR/3 (关税 OR 加征)",
               "出口 -管制", "英伟达H20", "ATLEAST/2 镓", "ATLEAST/2 出口", "稀土 AND h20",
               "title:公告", '"关税 加征" NEAR/s 芬太尼', "镓锗 OR 锗镓", "出 ONEAR/1 口",
               "ガス", "芯片 AND h20"]  # fmt: skip
CJK_PIECES = ["出口", "管制", "，", "镓", "锗", "。", "芬太尼", "关税", "加征", "英伟达", "H20",
              " ", "稀土", "公告", "\n\n", "出", "口", "　", "a1"]  # fmt: skip


# Pieces that make a text take the general path (half-width katakana, a surrogate, private
# use), or test the simple path's edges (a question mark, capitals, Latin touching CJK)
ODD_PIECES = ["ｶﾞｽ", "\ud800", "\ue000", "?", "出口A?", "H20芯片", "ガス"]


def cjk_articles(seed: int, count: int) -> list[Article]:
    rng = random.Random(seed)
    pieces = CJK_PIECES * 6 + ODD_PIECES  # mostly simple CJK text
    return [
        Article("wire", title=rng.choice(["公告", "", "商务部公告", "Notice 出口"]),
                body="".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))))
        for _ in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("few_to_find", "max_known", "max_length"),
    [
        (0, 0, 10**6),  # every neighbouring pair made as ints; the full word set
        (10**6, 10**6, 10**6),  # each indexed pair looked for; the characters that lead to rules
        (0, 10**6, 10**6),  # the pairs as ints; only the characters that lead to rules
        (0, 10**6, 20),  # the full word set for a text longer than 20 characters
    ],
)
def test_every_way_of_finding_pairs_and_characters_agrees_with_the_reference(
    tmp_path, monkeypatch, few_to_find, max_known, max_length
):
    monkeypatch.setattr(presearch, "FEW_PAIRS_TO_FIND", few_to_find)
    monkeypatch.setattr(presearch, "MAX_KNOWN_CHARACTERS", max_known)
    monkeypatch.setattr(presearch, "MAX_SCANNED_LENGTH", max_length)
    rules = rules_folder(tmp_path, CJK_QUERIES, ["英伟达", "Huawei"])
    assert (rules.presearcher.cjk_characters is None) is (max_known == 0)
    assert agree_on(rules, cjk_articles(9, 300)) > 300


def test_pair_codes_are_the_neighbouring_pairs():
    rng = random.Random(6)
    for _ in range(200):
        text = "".join(rng.choice(CJK_PIECES) for _ in range(rng.randint(0, 12)))
        field = FieldText("body", text)
        if field.simple_cjk:
            lowered = text.lower()
            pairs = {pair_code(lowered[i : i + 2]) for i in range(len(lowered) - 1)}
            asked = frozenset(rng.sample(sorted(pairs), len(pairs) // 2)) | {pair_code("铁铝")}
            assert field.pair_codes_among(asked) == asked & pairs, text
    assert pair_code("出口") is not None
    assert pair_code("出") is None and pair_code("出口管") is None and pair_code("𠀀口") is None


def test_simple_cjk_text_makes_its_word_list_only_for_positions():
    field = FieldText("body", "商务部决定对镓、锗实施出口管制。H20芯片 a1")
    assert field.simple_cjk
    assert field.has_word("镓") and not field.has_word("铁") and field.has_word("h20")
    assert field.has_phrase(("出", "口", "管", "制"), (1, 3))
    assert not field.has_phrase(("镓", "锗"), (1,)) and field.has_phrase(("镓", "锗"), ())
    assert field.phrase_starts(("管", "出"), (1,)) == []
    assert field.count("镓") == 1
    assert "words" not in field.__dict__ and "word_set" not in field.__dict__
    assert field.word_set == set(field.words) == set(tokens(field.text))
    assert field.phrase_starts(("出", "口", "管", "制"), (1, 3)) == [10]
    assert field.has_word("h20") and not field.has_word("铁")


def test_known_characters_are_the_words_the_index_asks_about():
    field = FieldText("body", "出口管制，镓锗。H20 a1")
    known = FieldText("body", field.text).words_among(re.compile("[镓铁]"))
    assert known == {"镓", "h20", "a1"}
    assert field.word_set == {"出", "口", "管", "制", "镓", "锗", "h20", "a1"}
    assert field.words_among(re.compile("[镓铁]")) is field.word_set  # made: all of it


def test_the_presearcher_reads_only_the_characters_that_lead_to_rules(tmp_path):
    """A simple CJK text's set of all characters is never made for the presearcher: it finds
    the characters that lead to rules, and looks for the rest a candidate needs in the text."""
    queries = ["镓", "出口管制", "镓 AND 锗", "芬太尼 NEAR/3 关税", "稀土 AND 出口"]
    rules = rules_folder(tmp_path, queries, [])
    index = rules.presearcher
    assert index.cjk_characters is not None and index.cjk_characters.pattern == "[镓]"
    for body, candidates, decided in [
        (MOFCOM, [0, 1, 2], {0, 2}),  # 锗 is needed by r2, found in the text
        ("镓出口管制", [0, 1], {0}),  # no 锗: r2 is dropped
        ("稀土出口", [4], set()),
        ("稀土，出", [], set()),  # 稀土 leads to r4, which needs 口 too
        ("芬太尼加征关税", [3], set()),
    ]:
        doc = AnalyzedArticle(Article("wire", title="公告", body=body))
        assert index.search(doc) == (candidates, decided), body
        simple = [doc.field(n) for n in TEXT_FIELDS if doc.field(n).simple_cjk]
        assert len(simple) == 2 and not any("word_set" in f.__dict__ for f in simple), body
    long = AnalyzedArticle(Article("wire", title="公告", body=MOFCOM * 200))  # 5,600 characters
    assert index.search(long) == ([0, 1, 2], {0, 2})
    assert "word_set" in long.field("body").__dict__  # the scans would cost more than the set


def test_generated_chinese_rules_agree_with_every_rule_evaluated(tmp_path):
    """The bench's mix, half of it Chinese, with more pairs than are looked for one by one and
    characters that lead to rules beside many that do not: no rule that matches is dropped."""
    corpus = Corpus(seed=12, chinese=0.5)
    queries = corpus.rule_queries(600)
    articles = corpus.articles(40, chars=1500)
    chinese = [re.findall("[\u4e00-\u9fff]+", q) for q in queries]
    rng = random.Random(12)
    for i in range(30):  # articles with the words of some rules, side by side or apart
        words = [w for terms in chinese[i::30] for w in terms for _ in range(rng.randint(1, 2))]
        rng.shuffle(words)
        body = "".join(w + rng.choice(["", "，", "。", " ", "的", "H20"]) for w in words)
        articles.append(Article("wire", title=rng.choice(words or ["公告"]), body=body))
    rules = rules_folder(tmp_path, queries, corpus.names)
    assert len(rules.presearcher.code_pairs) > presearch.FEW_PAIRS_TO_FIND
    assert rules.presearcher.cjk_characters is not None
    assert agree_on(rules, articles) > 100


def test_a_megabyte_of_han_through_the_presearcher_costs_linear_time(tmp_path):
    rules = rules_folder(tmp_path, CJK_QUERIES, ["英伟达"])
    rng = random.Random(7)
    pool = [chr(0x4E00 + i) for i in range(3000)]

    def shape(size: int) -> str:
        return "".join(rng.choice(pool) for _ in range(size - 4)) + "出口管制"

    def run(text: object) -> object:
        return rules.match(Article("wire", title="", body=str(text)))

    assert_linear(run, shape)
    text = shape(1_000_000)
    assert "r0" in [m.rule.id for m in run(text)]
    assert agree_on(rules, [Article("wire", title="", body=text)])


@pytest.mark.parametrize(
    "body",
    [
        "出口\ud800管制\udfff镓\ue000锗\U000f0000稀土",  # surrogates, private use
        "ﾃｽﾄ　テスト出口　管制",  # half-width katakana, ideographic spaces
        "出口\u3000管制，镓\uff0c锗",
        "𠀀出口管制𠀀镓",  # a character beyond the BMP: no pair codes for it
    ],
)
def test_bad_inputs_agree_with_the_reference(tmp_path, body):
    rules = rules_folder(tmp_path, CJK_QUERIES, ["英伟达"])
    agree_on(rules, [Article("wire", title=body[:3], body=body)])


def test_a_phrase_past_the_counted_occurrences_of_its_first_character_is_not_found():
    text = "出" * 10_001 + "口"  # the evaluator counts the first MAX_OCCURRENCES of 出
    assert not matches("出口", text) and not matches('"出 口"', text)
    assert matches("出口", "出口" + text)


# ---- simple CJK text: word positions from character offsets ---------------------------------


def reference_phrase_starts(text: str, phrase: tuple[str, ...], joined: tuple[int, ...]):
    """Where a phrase starts, from the general path's words and spans (`analyse_cjk`)."""
    words, starts, ends = analyse_cjk(text)
    n = len(phrase)
    return [
        s
        for s in range(len(words) - n + 1)
        if tuple(words[s : s + n]) == phrase
        and all(starts[s + k] == ends[s + k - 1] for k in joined)
    ]


def test_positions_from_character_offsets_agree_with_the_word_list():
    """A simple CJK text finds a character's places and a phrase's starts with `str.find` and
    a regex, and makes word positions of their offsets: the same as the general path's."""
    rng = random.Random(11)
    pieces = [*CJK_PIECES, "出出", "ab cd", "、", "ー", "カナ", "x", "  ", "Q3，"]
    characters = ["出", "口", "镓", "锗", "ー", "カ", "关"]
    checked = 0
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        if not FieldText("body", text).simple_cjk:
            continue
        words = analyse_cjk(text)[0]
        for _ in range(6):
            n = rng.randint(1, 3)
            phrase = tuple(rng.choice(characters) for _ in range(n))
            for joined in ((), tuple(range(1, n)), tuple(k for k in range(1, n) if k % 2)):
                field = FieldText("body", text)
                expected = reference_phrase_starts(text, phrase, joined)
                assert field.phrase_starts(phrase, joined) == expected, (text, phrase, joined)
                assert field.has_phrase(phrase, joined) is bool(expected)
                assert "words" not in field.__dict__  # no word list was made
                checked += len(expected)
        for character in characters:
            field = FieldText("body", text)
            expected = [p for p, word in enumerate(words) if word == character]
            assert field.occurrences(character) == expected, (text, character)
    assert checked > 300


def test_word_positions_from_character_classes_agree_with_the_general_path():
    """Positions counted over one byte a character (`C`, `a`, space) are the general path's,
    whatever the text's question marks, capitals, punctuation of every range and Latin words
    touching CJK characters; and the lower-cased text is `lower`'s."""
    rng = random.Random(13)
    punctuation = [chr(c) for first, last in CJK_PUNCTUATION for c in (first, last)]
    pieces = ["出", "口", "出口", "镓", "ー", "カ", "가", "?", "a?b", "Q3", "AB", "x", " ",
              "\n\n", "h20出", "出h20", "\t", "~", *punctuation]  # fmt: skip
    checked = 0
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        if not FieldText("body", text).simple_cjk:
            continue
        assert FieldText("body", text).lowered == text.lower()
        words = analyse_cjk(text)[0]
        for character in "出口镓ーカ가":
            expected = [p for p, word in enumerate(words) if word == character]
            assert FieldText("body", text).occurrences(character) == expected, (text, character)
            checked += len(expected)
        for phrase, joined in [
            (("出", "口"), (1,)),
            (("出", "口"), ()),
            (("镓", "出", "가"), (2,)),
        ]:
            expected = reference_phrase_starts(text, phrase, joined)
            assert FieldText("body", text).phrase_starts(phrase, joined) == expected, text
    assert checked > 1000


def test_every_character_of_simple_cjk_text_has_its_class_and_case():
    """Each character simple CJK text can hold: its own lower case but for A-Z (so a text
    without those is its own `lowered`), and the class byte its word start is counted by."""
    allowed = [
        chr(c) for c in range(0x10000)
        if not 0xD800 <= c <= 0xDFFF and NOT_SIMPLE_CJK.match(chr(c)) is None
    ]  # fmt: skip
    assert len(allowed) > 39_000
    assert all(c.lower() == c or "A" <= c <= "Z" for c in allowed)
    field = FieldText("body", "".join(allowed).lower())
    assert field.simple_cjk and field.lowered is field.text
    expected = [
        "C" if plain_cjk_character(c) else "a" if c.isascii() and c.isalnum() else " "
        for c in field.text
    ]
    assert field._classes.decode("ascii") == " " + "".join(expected)


def test_near_hits_in_simple_cjk_text_keep_exact_spans():
    """Latin words and separators between: positions count words, spans stay characters."""
    body = "H20 芯片，出口管制。ab cd 镓、锗 x 出口"
    assert FieldText("body", body).simple_cjk
    assert hits("镓 NEAR/2 出口", body) == [(18, 19, "镓"), (24, 26, "出口")]
    assert not matches("镓 NEAR/1 出口", body)  # 锗 and x between
    assert hits('"出口 管制" NEAR/0 芯片', body) == [(4, 6, "芯片"), (7, 11, "出口管制")]
    assert matches("ab NEAR/1 镓", body) and not matches("ab NEAR/0 镓", body)
    assert matches("h20 NEAR/4 管制", body) and not matches("h20 NEAR/3 管制", body)


def test_a_character_counts_its_first_occurrences_as_places():
    field = FieldText("body", "，" + "出" * (MAX_OCCURRENCES + 5))
    assert field.occurrences("出") == list(range(MAX_OCCURRENCES))
