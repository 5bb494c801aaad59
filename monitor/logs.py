"""Short human log lines by default, JSON lines for machines, and no secret in either.

Every record passes a redaction filter that replaces each configured secret
(tokens, passwords, webhook URLs) with `***`, wherever it would appear:
belt and braces on top of never formatting them in the first place.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import ahocorasick

from monitor.article import CONTROL, terminal_safe

CONTEXT_KEYS = ("source", "rule", "notifier", "article", "alert")


class Secrets:
    """Many secrets found in a text in one pass (Aho-Corasick), every stretch any of them
    covers shown as ***. Each feed's URL is a secret (it may carry a key): with 10,000
    feeds, one regex of them all took 10 s and 150 MB to compile, and a replace per
    secret cost 3 ms a log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.automaton: ahocorasick.Automaton | None = None
        words = {secret for secret in secrets if secret}
        if words:
            self.automaton = ahocorasick.Automaton()
            for word in words:
                self.automaton.add_word(word, len(word))
            self.automaton.make_automaton()

    def __bool__(self) -> bool:
        return self.automaton is not None

    def hide(self, text: str) -> str:
        if self.automaton is None or not text:
            return text
        stretches: list[list[int]] = []  # overlapping or touching ones hidden as one
        for start, end in sorted((end + 1 - n, end + 1) for end, n in self.automaton.iter(text)):
            if stretches and start <= stretches[-1][1]:
                stretches[-1][1] = max(stretches[-1][1], end)
            else:
                stretches.append([start, end])
        pieces: list[str] = []
        shown_from = 0
        for start, end in stretches:
            pieces += (text[shown_from:start], "***")
            shown_from = end
        return "".join(pieces) + text[shown_from:]


class Redactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets = Secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.redacted(record.getMessage()), None
            if record.exc_info:  # a traceback's messages can carry a URL with its token
                record.exc_text = self.redacted(
                    logging.Formatter().formatException(record.exc_info)
                )
                record.exc_info = None
        return True

    def redacted(self, text: str) -> str:
        return self.secrets.hide(text)


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    if record.exc_text:
        return record.exc_text
    return formatter.formatException(record.exc_info) if record.exc_info else ""


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if hasattr(record, k))
        line = (
            f"{when} {record.levelname:<7} {context + ': ' if context else ''}{record.getMessage()}"
        )
        if record.exc_text or record.exc_info:
            line += "\n" + _exception_text(self, record)
        return terminal_safe(line)  # a file name or a server's reason may carry escapes


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in CONTEXT_KEYS if hasattr(record, k)})
        if record.exc_info or record.exc_text:
            entry["exception"] = _exception_text(self, record)
        return json_line(entry)


REDACTOR = Redactor()


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "httpx2", "httpcore", "mail.log", "apprise"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # It warns of every skipped or missed run: at 10,000 sources, thousands of lines an
    # hour when it falls behind. The daemon counts them and says so once an hour instead.
    for chatty in ("apscheduler.scheduler", "apscheduler.executors"):
        logging.getLogger(chatty).setLevel(logging.ERROR)


def redact(secrets: Iterable[str]) -> None:
    """From now on, these values never appear in a log line or in `redacted` text."""
    REDACTOR.secrets = Secrets(s for s in secrets if len(s) >= 4)


def json_line(record: dict[str, object]) -> str:
    """One JSON line, readable (not ASCII-only), with control characters as \\u escapes: a
    terminal showing it cannot be driven by an escape hidden in a title or file name."""
    text = json.dumps(record, ensure_ascii=False)
    return CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def redacted(text: str) -> str:
    """The text with every secret `redact` was given replaced by `***`."""
    return REDACTOR.redacted(text)
