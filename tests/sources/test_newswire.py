from datetime import UTC, datetime
from pathlib import Path

from monitor.sources.formats import read_path
from monitor.sources.newswire import parse_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = """Commerce Widens Chip Curbs, Adds Two Dozen Firms to Entity Li
[source image]
Dow Jones NewsMar 4, 9:15 PM UTC
DJ Commerce Widens Chip Curbs, Adds Two Dozen Firms to Entity List -- Update
By A. Reporter
The Commerce Department on Tuesday widened restrictions on advanced chip sales.
The measures take effect in 30 days.
"We will keep tightening where the risk is greatest," an official said.
Write to A. Reporter at a.reporter@example.com
(END) Dow Jones Newswires
March 04, 2025 16:15 ET (21:15 GMT)
Copyright (c) 2025 Dow Jones & Company, Inc.
"""


def test_newswire_takes_full_headline_byline_and_gmt_dateline():
    story = parse_text(EXAMPLE)
    assert (
        story.title == "Commerce Widens Chip Curbs, Adds Two Dozen Firms to Entity List -- Update"
    )
    assert story.authors == ("A. Reporter",)
    assert story.published_at == datetime(2025, 3, 4, 21, 15, tzinfo=UTC)


def test_newswire_body_leaves_out_header_and_footer():
    body = parse_text(EXAMPLE).body
    assert body.startswith("The Commerce Department on Tuesday")
    assert body.endswith("an official said.")
    assert body.count("\n\n") == 2  # one paragraph per line
    for footer in (
        "Write to",
        "(END)",
        "Dow Jones Newswires",
        "Copyright",
        "GMT",
        "[source image]",
    ):
        assert footer not in body


def test_dateline_after_midnight_gmt_is_the_next_day():
    text = EXAMPLE.replace(
        "March 04, 2025 16:15 ET (21:15 GMT)", "August 25, 2025 22:38 ET (02:38 GMT)"
    )
    assert parse_text(text).published_at == datetime(2025, 8, 26, 2, 38, tzinfo=UTC)


def test_two_authors_in_byline():
    text = EXAMPLE.replace("By A. Reporter", "By Marcus Lee and Priya Raman")
    assert parse_text(text).authors == ("Marcus Lee", "Priya Raman")


def test_source_line_time_is_a_fallback_when_no_dateline():
    text = EXAMPLE.replace("March 04, 2025 16:15 ET (21:15 GMT)\n", "")
    assert parse_text(text, year_hint=2025).published_at == datetime(2025, 3, 4, 21, 15, tzinfo=UTC)


def test_plain_text_is_title_blank_line_body():
    story = parse_text(
        "Ohio overdose deaths fall\n\nDeaths fell by a fifth.\n\nOfficials said so.\n"
    )
    assert story.title == "Ohio overdose deaths fall"
    assert story.body == "Deaths fell by a fifth.\n\nOfficials said so."
    assert story.published_at is None


def test_hard_wrapped_email_text_joins_lines_within_paragraphs():
    text = "DJ Headline here\nBy X\nFirst line of a para\ncontinues here.\n\nSecond para.\n(END)\n"
    assert parse_text(text).body == "First line of a para continues here.\n\nSecond para."


def test_crlf_and_bom_are_tolerated(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(("\ufeff" + EXAMPLE).replace("\n", "\r\n").encode())
    [article] = read_path(path, "wire")
    assert article.title.endswith("-- Update")
    assert article.authors == ("A. Reporter",)


def test_shipped_newswire_seed_reads_correctly():
    [article] = read_path(ROOT / "seeds" / "2025-08-25-nvidia-h20-halt.txt", "seeds")
    assert article.title.startswith("Nvidia Asks Suppliers to Pause H20 Work")
    assert article.authors == ("Marcus Lee", "Priya Raman")
    assert article.published_at == datetime(2025, 8, 26, 2, 38, tzinfo=UTC)
    assert "(END)" not in article.body
