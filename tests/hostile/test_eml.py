"""Case 1: an `.eml` file of hostile headers is read in linear time and bounded memory.

The stdlib parser with policy.default took 400 MB for a 100 KB Subject of encoded words
(a 1 MB one was killed), 10 s for 100 KB of Content-Type parameters and 3 s for 100 KB of
From addresses; a part nested in a thousand multiparts checks each line against every
enclosing boundary. The timing follows tests/hostile/test_text.py: 1 MB of each shape
within LINEAR times the time of 100 KB, best of three.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from monitor.sources import SourceError
from monitor.sources.formats import EML_DEPTH, EML_HEADER_CHARS, read_eml
from tests.builders import LARGE, assert_linear

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BODY = b"\n\nNvidia body\n"


def header(prefix: bytes, unit: bytes, suffix: bytes = BODY) -> Callable[[int], bytes]:
    """A message of about n bytes: one header whose value is `unit` repeated."""
    return lambda n: prefix + unit * (n // len(unit)) + suffix


def nested(levels: int) -> bytes:
    """A plain-text part inside `levels` multiparts, each with its own boundary."""
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(levels)
    )
    closing = b"".join(b"\n--b%d--\n" % i for i in reversed(range(levels)))
    return b"Subject: deep\n" + opening + b"Content-Type: text/plain\n\nNvidia body" + closing


SHAPES = {
    "subject-encoded-words": header(b"Subject: ", b"=?utf-8?q?a?= "),
    "content-type-parameters": header(b"Content-Type: text/plain; ", b"a=b; "),
    "from-addresses": header(b"From: ", b"a@b,"),
    "from-display-names": header(b"From: ", b'"=?utf-8?q?a?=" <a@b>, '),
    "many-headers": header(b"", b"X-A: b\n", b"Subject: s" + BODY),
    "long-folded-header": header(b"Subject: s", b"\n a"),
    "many-parts": header(
        b"Content-Type: multipart/mixed; boundary=b\n\n",
        b"--b\nContent-Type: text/plain; a=b; a=b; a=b\n\nx\n",
        b"--b--\n",
    ),
    "deep-parts-many-lines": lambda n: nested(EML_DEPTH) + b"x\n" * (n // 2),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_eml_reading_takes_linear_time_on_hostile_headers(shape):
    """Case 1: 1 MB of a hostile header takes about ten times as long as 100 KB, not 100."""
    assert_linear(lambda data: read_eml(data, "s", NOW), shape)


@pytest.mark.parametrize("name", ["subject-encoded-words", "from-display-names"])
def test_eml_reading_memory_stays_bounded(name):
    """Case 1: a 1 MB Subject of encoded words took gigabytes; now a few times the file."""
    data = SHAPES[name](LARGE)
    tracemalloc.start()
    try:
        [article] = read_eml(data, "s", NOW).articles
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000_000, f"{peak / 1e6:.0f} MB"
    assert len(article.title) <= EML_HEADER_CHARS and article.body == "Nvidia body"


def test_eml_headers_are_cut_and_still_decoded():
    """Case 1: a header is cut at a space before EML_HEADER_CHARS, its encoded words decoded."""
    data = SHAPES["subject-encoded-words"](LARGE)
    [article] = read_eml(data, "s", NOW).articles
    assert article.title == "a" * len(article.title)  # adjacent encoded words join
    assert 100 < len(article.title) <= EML_HEADER_CHARS // len("=?utf-8?q?a?= ")
    data = b"Content-Type: text/plain; " + b"a=b; " * 1000 + b"charset=latin-1" + BODY
    assert read_eml(data, "s", NOW).articles[0].body == "Nvidia body"


def test_eml_parts_nested_too_deep_are_a_clear_error():
    """Case 1: parts nested deeper than EML_DEPTH are refused; up to it they are read."""
    [article] = read_eml(nested(EML_DEPTH), "s", NOW).articles
    assert (article.title, article.body) == ("deep", "Nvidia body")
    with pytest.raises(SourceError, match=f"nested more than {EML_DEPTH} deep"):
        read_eml(nested(EML_DEPTH + 1), "s", NOW)


def test_eml_multipart_alternative_reads_the_plain_part_and_skips_attachments():
    """Case 1: the bounded reader still picks the body get_body picked."""
    message = (
        "Subject: =?utf-8?q?Nvidia_=C3=A9?=\nFrom: =?utf-8?q?Ren=C3=A9?= <r@x.org>\n"
        "Content-Type: multipart/mixed; boundary=o\n\n"
        "--o\nContent-Type: text/plain\nContent-Disposition: attachment\n\nnot me\n"
        "--o\nContent-Type: multipart/alternative; boundary=a\n\n"
        "--a\nContent-Type: text/html\n\n<p>html</p>\n"
        "--a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "UGxhaW4gw6k=\n--a--\n--o--\n"
    )
    [article] = read_eml(message.encode(), "s", NOW).articles
    assert (article.title, article.body, article.authors) == ("Nvidia é", "Plain é", ("René",))
    html_only = b"Subject: s\nContent-Type: text/html; charset=x-unknown\n\n<p>caf\xc3\xa9</p>"
    assert read_eml(html_only, "s", NOW).articles[0].body == "café"
