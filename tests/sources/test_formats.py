import json
from datetime import UTC, datetime

import pytest

from monitor.article import parse_datetime
from monitor.sources import SourceError
from monitor.sources.formats import read_json_lines, read_path


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_json_object_and_list(tmp_path):
    record = {
        "id": "a1",
        "title": "Nvidia <b>up</b>",
        "body": "<p>One</p><p>Two</p>",
        "url": "https://x.org/a?utm_source=x",
        "published": "2025-07-14T23:30:00Z",
    }
    [one] = read_path(write(tmp_path, "a.json", json.dumps(record)), "src")
    assert one.title == "Nvidia up"
    assert one.body == "One\n\nTwo"
    assert one.guid == "a1"
    assert one.canonical_url == "https://x.org/a"
    assert one.published_at == datetime(2025, 7, 14, 23, 30, tzinfo=UTC)
    two = read_path(write(tmp_path, "b.json", json.dumps([record, {**record, "id": "a2"}])), "src")
    assert [a.guid for a in two] == ["a1", "a2"]


def test_jsonl_skips_blank_lines_and_names_the_bad_line(tmp_path):
    good = json.dumps({"title": "A", "body": "x"})
    assert len(read_path(write(tmp_path, "a.jsonl", f"{good}\n\n{good}\n"), "s")) == 2
    with pytest.raises(SourceError, match=r"b.jsonl: line 2: invalid JSON"):
        read_path(write(tmp_path, "b.jsonl", f"{good}\n{{broken\n"), "s")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "item 1: expected a JSON object"),
        ('{"title": {"nested": 1}}', "`title` must be a string"),
    ],
)
def test_bad_json_gives_a_clear_error(tmp_path, content, message):
    with pytest.raises(SourceError, match=message):
        read_path(write(tmp_path, "bad.json", content), "s")


def test_html_page_meta_and_text(tmp_path):
    page = """<html><head><title>Site | Story</title>
    <meta property="og:title" content="China curbs gallium exports">
    <meta property="article:published_time" content="2025-10-09T06:45:00Z">
    <meta name="author" content="Staff"><link rel="canonical" href="https://x.org/s?fbclid=1">
    <script>var x = "hidden";</script></head>
    <body><nav>Menu</nav><p>First &amp; foremost.</p><p>Second.</p></body></html>"""
    [article] = read_path(write(tmp_path, "p.html", page), "s")
    assert article.title == "China curbs gallium exports"
    assert article.canonical_url == "https://x.org/s"
    assert article.authors == ("Staff",)
    assert "First & foremost." in article.body
    assert "hidden" not in article.body
    assert article.published_at == datetime(2025, 10, 9, 6, 45, tzinfo=UTC)


def test_eml_plain_message(tmp_path):
    message = (
        "From: Desk <desk@example.org>\nSubject: Tariff note\nDate: Wed, 14 Jan 2026 22:05:00 +0000\n"
        "Message-ID: <m1@example.org>\nContent-Type: text/plain; charset=utf-8\n\nBody text here.\n"
    )
    [article] = read_path(write(tmp_path, "m.eml", message), "s")
    assert (article.title, article.body, article.guid) == (
        "Tariff note",
        "Body text here.",
        "<m1@example.org>",
    )
    assert article.authors == ("Desk",)
    assert article.published_at == datetime(2026, 1, 14, 22, 5, tzinfo=UTC)


def test_eml_carrying_a_newswire_story_uses_the_wire_headline(tmp_path):
    message = (
        "From: a@example.org\nSubject: fwd\nContent-Type: text/plain\n\n"
        "DJ Full Headline Here -- Update\nBy Ann Lee\nBody.\n(END) Dow Jones Newswires\n"
        "March 04, 2025 16:15 ET (21:15 GMT)\n"
    )
    [article] = read_path(write(tmp_path, "w.eml", message), "s")
    assert article.title == "Full Headline Here -- Update"
    assert article.authors == ("Ann Lee",)
    assert article.body == "Body."


def test_saved_feed_xml(tmp_path):
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>One</title><link>https://x.org/1</link><guid>g1</guid></item>"
        "<item><title>Two</title><link>https://x.org/2</link></item></channel></rss>"
    )
    articles = read_path(write(tmp_path, "f.xml", feed), "s")
    assert [a.title for a in articles] == ["One", "Two"]
    assert articles[0].guid == "g1"


def test_unsupported_and_oversized_files_are_refused(tmp_path):
    with pytest.raises(SourceError, match="unsupported file type"):
        read_path(write(tmp_path, "x.pdf", "%PDF"), "s")
    with pytest.raises(SourceError, match="over the 10 cap"):
        read_path(write(tmp_path, "big.txt", "x" * 11), "s", max_bytes=10)


def test_cp1252_text_is_decoded(tmp_path):
    [article] = read_path(
        write(tmp_path, "w.txt", "Caf\xe9 tariffs\n\nBody \x96 text".encode("latin-1")), "s"
    )
    assert article.title == "Café tariffs"
    assert "–" in article.body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"title": ' + "9" * 5000 + "}", "invalid JSON: Exceeds the limit"),
        ('{"title": "A", "authors": 5}', "`authors` must be a string or a list of strings"),
    ],
)
def test_hostile_json_is_a_clear_error(tmp_path, content, message):
    with pytest.raises(SourceError, match=message):
        read_path(write(tmp_path, "bad.json", content), "s")
    with pytest.raises(SourceError, match=f"line 1: .*{message}"):
        list(read_json_lines([content], "stdin"))


def test_read_path_names_the_first_bad_record_and_counts_the_rest(tmp_path):
    good = json.dumps({"title": "A", "body": "x"})
    with pytest.raises(SourceError, match=r"c.jsonl: line 2: invalid JSON.*\(and 1 more\)"):
        read_path(write(tmp_path, "c.jsonl", f"{good}\n{{\n{good}\n[]\n"), "s")


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00:00-14:00",
        "0001-01-01T00:00:00+14:00",
        "Fri, 31 Dec 9999 23:00:00 -1400",
        "2025-07-14T23:30:00Z" + " " * 300,
        "not a date",
        12345,
    ],
)
def test_parse_datetime_never_raises(value):
    assert parse_datetime(value) is None


def test_parse_datetime_reads_iso_and_rfc_2822():
    expected = datetime(2025, 7, 14, 23, 30, tzinfo=UTC)
    assert parse_datetime("2025-07-14T23:30:00Z") == expected
    assert parse_datetime("Mon, 14 Jul 2025 19:30:00 -0400") == expected
