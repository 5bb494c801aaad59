"""A folder of article files, rescanned every interval: a new file is a new article.

The cursor remembers each file's modification time and size, so an unchanged
file is not read again. A file modified in the last `settle` seconds is left
for the next scan: a newswire drop folder is written to while we look, and a
half-written story must not be alerted on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from monitor.article import Article
from monitor.settings import Duration
from monitor.sources import Cursor, PollResult, SourceConfig, SourceContext, SourceError
from monitor.sources.formats import READERS, read_path

log = logging.getLogger(__name__)


class FilesConfig(SourceConfig):
    type: Literal["files"]
    path: str
    settle: Duration = 2.0
    exclude: list[str] = Field(default_factory=list)  # globs, relative to `path`


class FilesSource:
    def __init__(self, config: FilesConfig, context: SourceContext) -> None:
        self.id = config.id
        self.folder = (context.base_dir / config.path).resolve()
        self.settle = config.settle
        self.exclude = config.exclude
        self.max_bytes = config.max_bytes or 10_000_000

    async def poll(self, cursor: Cursor) -> PollResult:
        return await asyncio.to_thread(self._scan, dict(cursor.get("files", {})))

    def _scan(self, known: dict[str, list[int]]) -> PollResult:
        if not self.folder.is_dir():
            raise SourceError(f"folder {self.folder} does not exist")
        articles: list[Article] = []
        current: dict[str, list[int]] = {}
        now = time.time()
        for path in sorted(self._files()):
            name = str(path.relative_to(self.folder))
            try:
                stat = path.stat()
            except OSError:
                continue
            if now - stat.st_mtime < self.settle:
                continue
            signature = [stat.st_mtime_ns, stat.st_size]
            current[name] = signature
            if known.get(name) == signature:
                continue
            try:
                articles.extend(read_path(path, self.id, self.max_bytes))
            except SourceError as exc:
                log.warning("skipped a file: %s", exc, extra={"source": self.id})
        return PollResult(articles, {"files": current})

    def _files(self) -> list[Path]:
        return [
            path
            for path in self.folder.rglob("*")
            if path.suffix.lower() in READERS
            and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(self.folder).parts)
            and not any(path.relative_to(self.folder).match(glob) for glob in self.exclude)
        ]
