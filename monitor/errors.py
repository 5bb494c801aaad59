"""User-facing errors: where the mistake is, what was expected, and a hint.

A `Problem` is one mistake in a file the user wrote; `UserError` carries all of
them at once, so `trade-monitor check` can show every problem in one pass
instead of making the user fix them one at a time.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    key: str = ""  # key path such as sources[0].interval
    hint: str = ""
    source_line: str = ""  # the text of the offending line, for the caret display

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.key + ': ' if self.key else ''}{self.message}"
        if self.source_line and self.column is not None:
            text += f"\n    {self.source_line}\n    {' ' * (self.column - 1)}^"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class UserError(Exception):
    """One or more problems in the user's config or rules; never shown as a traceback."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def key_path(loc: Iterable[str | int]) -> str:
    """('sources', 0, 'interval') -> 'sources[0].interval'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def without_secrets(problem: Problem, secrets: Iterable[str]) -> Problem:
    """The problem with every secret value in its text replaced by `***`."""
    message, source_line, hint = problem.message, problem.source_line, problem.hint
    for secret in secrets:
        message, source_line, hint = (
            text.replace(secret, "***") for text in (message, source_line, hint)
        )
    return replace(problem, message=message, source_line=source_line, hint=hint)
