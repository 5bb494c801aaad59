"""The articles `match` and `explain` read: files, folders, or JSON lines on stdin (`-`).

Both commands treat an input that cannot be read the same way: it is reported on
stderr with its file and line (`error: seeds/x.jsonl: line 3: invalid JSON ...`),
the other inputs are still read, and the exit code is 2 whatever matched.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from monitor.article import Article
from monitor.cli.common import echo
from monitor.sources import SourceError
from monitor.sources.formats import READERS, read_json_lines, read_path


class Inputs:
    """(input name, article) for each readable article; `bad` is set once one was not."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self.bad = False

    def __iter__(self) -> Iterator[tuple[str, Article]]:
        for name, article in iter_inputs(self.names):
            if article is None:
                self.bad = True
                continue
            yield name, article

    def exit_code(self, matched: bool) -> int:
        """2 if an input could not be read, else 0 if something matched, else 1."""
        if self.bad:
            return 2
        return 0 if matched else 1


def iter_inputs(inputs: Sequence[str]) -> Iterator[tuple[str, Article | None]]:
    """(input name, article) for each article; (name, None) after reporting an unreadable one."""
    for item in inputs:
        if item == "-":
            try:
                for i, article in enumerate(read_json_lines(stdin_lines(), "stdin"), 1):
                    yield f"-:{i}", article
            except SourceError as exc:
                echo(f"error: stdin: {exc}", err=True)
                yield "-", None
            continue
        path = Path(item)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in READERS and p.is_file())
        for file in files if path.is_dir() else [path]:
            try:
                articles = read_path(file, "files")
            except SourceError as exc:
                echo(
                    f"error: {file.parent}/{exc}" if file.parent != Path() else f"error: {exc}",
                    err=True,
                )
                yield str(file), None
                continue
            for article in articles:
                yield str(file), article


def stdin_lines() -> Iterator[str]:
    """Standard input as UTF-8 lines, whatever the locale says (it may say ASCII, or let
    bad bytes through as surrogates); SourceError at the first line that is not UTF-8."""
    for number, line in enumerate(sys.stdin.buffer, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"line {number}: not UTF-8 text") from None
