"""Newswire text as users save it from a terminal or an email.

The layout (see docs/sources.md): a first line with the headline cut short, a
source and time line, the full headline after `DJ ` (with an `-- Update`
marker), a `By ...` byline, the body, then a footer: `Write to ...`,
`(END) ...`, a dateline such as `August 25, 2025 22:38 ET (02:38 GMT)` and a
copyright line. We keep the full headline, the byline as author, the GMT time
of the dateline as the publication time, and the body without the footer.
A plain text file (title line, blank line, body) is read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
# `[a-z]{0,6}`, not `*`: "September" at most, so "JanJanJan..." is not rescanned from each "Jan"
MONTH = r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]{0,6}\.?"
DATELINE = re.compile(
    MONTH + r"\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4})\s+(?P<eh>\d{1,2}):(?P<em>\d{2})\s*ET\s*"
    r"\(\s*(?P<gh>\d{1,2}):(?P<gm>\d{2})\s*GMT\s*\)",
    re.IGNORECASE,
)
SOURCE_TIME = re.compile(
    MONTH + r"\s+(?P<day>\d{1,2}),\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>AM|PM)\s*UTC",
    re.IGNORECASE,
)
FULL_HEADLINE = re.compile(r"^DJ\s+(?P<headline>\S.*)$")
BYLINE = re.compile(r"^By\s+(?P<names>\S.*)$")
FOOTER = re.compile(r"^(Write to\s|\(END\)|Copyright\s|\(c\)\s)", re.IGNORECASE)


@dataclass(frozen=True)
class WireStory:
    title: str
    body: str
    authors: tuple[str, ...]
    published_at: datetime | None


def is_newswire(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()]
    return any(FULL_HEADLINE.match(line) or line.startswith("(END)") for line in lines) or bool(
        DATELINE.search(text)
    )


def parse_text(text: str, year_hint: int | None = None) -> WireStory:
    """A newswire story or a plain `title / blank line / body` text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if is_newswire(text):
        return parse_newswire(text, year_hint)
    lines = text.strip().split("\n")
    title = lines[0].strip() if lines else ""
    return WireStory(title, _paragraphs(lines[1:]), (), None)


def parse_newswire(text: str, year_hint: int | None = None) -> WireStory:
    lines = [line.rstrip() for line in text.split("\n")]
    start = next((i for i, line in enumerate(lines) if FULL_HEADLINE.match(line.strip())), None)
    if start is None:
        start = next((i for i, line in enumerate(lines) if line.strip()), 0)
        title = lines[start].strip() if lines else ""
    else:
        title = FULL_HEADLINE.match(lines[start].strip())["headline"].strip()  # type: ignore[index]
    rest = lines[start + 1 :]
    authors: tuple[str, ...] = ()
    first = next((i for i, line in enumerate(rest) if line.strip()), None)
    if first is not None and (byline := BYLINE.match(rest[first].strip())):
        authors = _names(byline["names"])
        rest = rest[first + 1 :]
    end = next((i for i, line in enumerate(rest) if _is_footer(line.strip())), len(rest))
    published = _dateline_time(text) or _source_line_time(lines[:start], year_hint)
    return WireStory(title, _paragraphs(rest[:end]), authors, published)


def _is_footer(line: str) -> bool:
    return bool(FOOTER.match(line) or DATELINE.fullmatch(line))


def _names(text: str) -> tuple[str, ...]:
    parts = re.split(r",|(?<=\s)and(?=\s)", text.strip())  # linear: no run of spaces rescanned
    return tuple(p.strip() for p in parts if p.strip())


def _paragraphs(lines: list[str]) -> str:
    """Blank-line separated paragraphs if the text has them, else one per line."""
    stripped = [line.strip() for line in lines]
    first = next((i for i, line in enumerate(stripped) if line), len(stripped))
    stripped = stripped[first:]  # one slice: popping each blank line off the front is quadratic
    if "" in stripped:
        blocks = "\n".join(stripped).split("\n\n")
        paragraphs = [" ".join(block.split()) for block in blocks]
    else:
        paragraphs = stripped
    return "\n\n".join(p for p in paragraphs if p)


def _dateline_time(text: str) -> datetime | None:
    """The GMT time of the dateline. The date printed is Eastern, so a GMT hour
    earlier than the Eastern one means the GMT date is the next day."""
    matches = list(DATELINE.finditer(text))
    if not matches:
        return None
    match = matches[-1]
    try:
        eastern = datetime(
            int(match["year"]),
            MONTHS[match["month"][:3].lower()],
            int(match["day"]),
            int(match["eh"]),
            int(match["em"]),
            tzinfo=UTC,
        )
        gmt = eastern.replace(hour=int(match["gh"]), minute=int(match["gm"]))
    except ValueError:
        return None
    return gmt + timedelta(days=1) if gmt < eastern else gmt


def _source_line_time(header: list[str], year_hint: int | None) -> datetime | None:
    """`Dow Jones NewsMar 4, 9:15 PM UTC`: a fallback with no year, so it needs a hint."""
    if year_hint is None:
        return None
    for line in header:
        if match := SOURCE_TIME.search(line):
            hour = int(match["hour"]) % 12 + (12 if match["ampm"].upper() == "PM" else 0)
            try:
                return datetime(
                    year_hint,
                    MONTHS[match["month"][:3].lower()],
                    int(match["day"]),
                    hour,
                    int(match["minute"]),
                    tzinfo=UTC,
                )
            except ValueError:
                return None
    return None
