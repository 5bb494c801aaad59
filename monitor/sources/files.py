"""A folder of article files, rescanned every interval: a new file is a new article.

A drop folder is written to while we look, may hold links and special files,
and holds files that fail (unreadable now, readable later). So:

- Only regular files inside the folder are read: a link is followed only when
  it resolves inside the folder, and every file is opened one path component at
  a time with O_NOFOLLOW, so swapping a folder for a link between the check and
  the open cannot escape. FIFOs, devices and links out are skipped, said once.
- A new or changed file is read once it is whole: unmodified for `settle`
  seconds and unchanged since the previous scan (or older than that scan: it was
  renamed in whole). A file dated in the future is read once it is unchanged.
- A file that cannot be read is tried again when it changes (content, size or
  permissions) and else after a backoff of 1 minute doubling to 1 hour; its
  reason is logged once per version, not every scan.
- A file of one article (.txt, .html, .eml) keeps its identity when its new
  content continues the old (the old bytes are the start of the new): a story
  read half-written and again complete is one article, not two.

The cursor, per folder-relative name (unchanged files cost one stat, no read):
  files:   [mtime_ns, size] of the version read, plus for one-article files
           [identity, digest of those bytes]; written so by older versions too
  waiting: [mtime_ns, size] of a file seen but not yet whole
  failed:  [mtime_ns, size, ctime_ns, tries, retry_at] of a file that failed
  scanned: when the scan started (epoch seconds)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import Field

from monitor.article import Article
from monitor.settings import Duration, human_duration
from monitor.sources import Cursor, PollResult, SourceConfig, SourceContext, SourceError
from monitor.sources.formats import ONE_ARTICLE_PER_FILE, READERS, Parsed, parse_file

log = logging.getLogger(__name__)
RETRY_FIRST = 60.0  # seconds before a failed, unchanged file is tried again; doubles ...
RETRY_MAX = 3600.0  # ... up to this
ONCE_WAIT_MAX = 30.0  # `run --once` waits at most this long for files being written
MTIME_SLACK = 2.0  # file times may lag the clock (coarse, or 1-2 s steps on some file systems)
DIGEST_CHARS = 16
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO cannot block


class FilesConfig(SourceConfig):
    type: Literal["files"]
    path: str
    settle: Duration = 2.0
    exclude: list[str] = Field(default_factory=list)  # globs, relative to `path`


@dataclass(frozen=True)
class Entry:
    """A file found in the folder: its name, where to open it, and its stat.

    `target` is the folder-relative path to open (the name itself, or where a
    link inside the folder leads); `problem` says why it will not be read.
    """

    name: str
    info: os.stat_result
    target: str = ""
    problem: str = ""

    @property
    def signature(self) -> list[int]:
        return [self.info.st_mtime_ns, self.info.st_size]


@dataclass
class Scan:
    """What one scan read and what the cursor will remember."""

    articles: list[Article]
    files: dict[str, list[Any]]
    waiting: dict[str, list[int]]
    failed: dict[str, list[Any]]

    def cursor(self, started: float) -> dict[str, Any]:
        return {
            "files": self.files,
            "waiting": self.waiting,
            "failed": self.failed,
            "scanned": started,
        }


class FilesSource:
    def __init__(self, config: FilesConfig, context: SourceContext) -> None:
        self.id = config.id
        self.folder = (context.base_dir / config.path).resolve()
        self.settle = config.settle
        self.exclude = config.exclude
        self.max_bytes = config.max_bytes
        self.once = context.once
        self.clock: Callable[[], float] = time.time
        self.told: set[str] = set()  # folders that could not be listed, said once

    async def poll(self, cursor: Cursor) -> PollResult:
        result = await asyncio.to_thread(self._scan, cursor)
        if not (self.once and result.cursor["waiting"]):
            return result
        # No next poll will come: wait (bounded) for files being written, then look again.
        await asyncio.sleep(min(self.settle, ONCE_WAIT_MAX))
        again = await asyncio.to_thread(self._scan, result.cursor)
        if left := len(again.cursor["waiting"]):
            log.warning(
                "%d files are still being written (changed within settle, %gs);"
                " left for the next run",
                left,
                self.settle,
                extra={"source": self.id},
            )
        return PollResult(result.articles + again.articles, again.cursor)

    def _scan(self, cursor: Cursor) -> PollResult:
        if not self.folder.is_dir():
            raise SourceError(f"folder {self.folder} does not exist")
        started = self.clock()
        read: dict[str, list[Any]] = dict(cursor.get("files", {}))
        waiting: dict[str, list[int]] = cursor.get("waiting", {})
        failed: dict[str, list[Any]] = cursor.get("failed", {})
        last_scan: float | None = cursor.get("scanned")
        scan = Scan([], {}, {}, {})
        for entry in sorted(self._entries(), key=lambda e: e.name):
            name, signature = entry.name, entry.signature
            if name in read:  # the version read is kept while the file exists (its identity)
                scan.files[name] = read[name]
                if read[name][:2] == signature:
                    continue
            bad = failed.get(name)
            if bad and bad[:3] == [*signature, entry.info.st_ctime_ns] and started < bad[4]:
                scan.failed[name] = bad  # unchanged, and not yet due for another try
                continue
            seen = waiting.get(name) or (bad[:2] if bad else None)
            if not entry.problem and not self._whole(entry, seen == signature, last_scan):
                scan.waiting[name] = signature
                continue
            try:
                articles, record = self._read(entry, read.get(name))
            except SourceError as exc:
                scan.failed[name] = self._failure(entry, bad, str(exc), started)
                continue
            scan.articles.extend(articles)
            scan.files[name] = record
        return PollResult(scan.articles, scan.cursor(started))

    def _whole(self, entry: Entry, unchanged: bool, last_scan: float | None) -> bool:
        """Whether a new or changed file is done being written, as far as we can tell."""
        if self.settle <= 0:
            return True
        age = self.clock() - entry.info.st_mtime
        if age < 0:  # a writer's clock is ahead: settle cannot tell, stability alone can
            return unchanged
        if age < self.settle:
            return False
        # With no earlier scan (the first poll) a settled file is taken as whole.
        return unchanged or last_scan is None or entry.info.st_mtime < last_scan - MTIME_SLACK

    def _read(self, entry: Entry, before: list[Any] | None) -> tuple[list[Article], list[Any]]:
        """The file's articles and its cursor record; SourceError if it cannot be read."""
        if entry.problem:
            raise SourceError(entry.problem)
        data = self._load(entry.target)
        ahead = entry.info.st_mtime - self.clock()
        if ahead > 1:
            log.warning(
                "%s is dated %ds in the future (a writer's clock is wrong?); read anyway",
                entry.name,
                ahead,
                extra={"source": self.id},
            )
        parsed = parse_file(entry.name, data, self.id, entry.info.st_mtime)
        if parsed.skipped:
            self._tell_skipped(entry.name, parsed)
        record: list[Any] = [entry.info.st_mtime_ns, len(data)]
        if _suffix(entry.name) not in ONE_ARTICLE_PER_FILE or not parsed.articles:
            return parsed.articles, record
        identity = _identity(data, before)
        # The name as text that always encodes (a file name may hold undecodable bytes).
        shown = entry.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        guid = f"{shown}#{identity}"
        articles = [a if a.guid else replace(a, guid=guid) for a in parsed.articles]
        return articles, [*record, identity, _digest(data)]

    def _load(self, target: str) -> bytes:
        """The bytes of a regular file inside the folder, up to the byte cap."""
        try:
            with os.fdopen(self._open(target), "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise SourceError("not a regular file: skipped")
                data = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise SourceError(f"cannot read: {exc.strerror or exc}") from None
        if len(data) > self.max_bytes:
            raise SourceError(f"over the {self.max_bytes} byte cap")
        return data

    def _open(self, target: str) -> int:
        """A descriptor for folder/target, reached without following any link on the way.

        Each folder on the path is opened from the one before with O_NOFOLLOW, so
        a folder swapped for a link after the scan fails to open instead of leading
        out of the folder.
        """
        *folders, filename = target.split("/")
        fd = os.open(self.folder, FOLDER_FLAGS)
        try:
            for part in folders:
                inner = os.open(part, FOLDER_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
            return os.open(filename, FILE_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)

    def _failure(self, entry: Entry, bad: list[Any] | None, why: str, now: float) -> list[Any]:
        """The cursor record of a failed file; its reason is logged once per version."""
        tries = bad[3] + 1 if bad and bad[:2] == entry.signature else 1
        retry = min(RETRY_FIRST * 2 ** min(tries - 1, 10), RETRY_MAX)
        message = "skipped %s: %s (tried again when it changes, or in %s)"
        level = logging.WARNING if tries == 1 else logging.DEBUG
        log.log(level, message, entry.name, why, human_duration(retry), extra={"source": self.id})
        return [*entry.signature, entry.info.st_ctime_ns, tries, now + retry]

    def _tell_skipped(self, name: str, parsed: Parsed) -> None:
        shown = "; ".join(parsed.skipped[:5])
        more = f"; and {len(parsed.skipped) - 5} more" if len(parsed.skipped) > 5 else ""
        log.warning(
            "%s: read %d articles, skipped %d bad records: %s%s",
            name,
            len(parsed.articles),
            len(parsed.skipped),
            shown,
            more,
            extra={"source": self.id},
        )

    def _entries(self) -> Iterator[Entry]:
        """Every file to consider: a reader's extension, not hidden, not excluded.

        Dot-folders are not entered, nor links to folders (said once, as a problem).
        """
        folders = [(self.folder, "")]
        while folders:
            folder, prefix = folders.pop()
            try:
                with os.scandir(folder) as listing:
                    items = list(listing)
            except OSError as exc:
                self._tell_once(f"cannot list {prefix or '.'}: {exc.strerror or exc}")
                continue
            for item in items:
                name = prefix + item.name
                if item.name.startswith(".") or self._excluded(name):
                    continue
                if item.is_dir(follow_symlinks=False):
                    folders.append((Path(item.path), name + "/"))
                elif item.is_symlink() and item.is_dir():
                    yield from _entry(item, name, "a link to a folder: not followed")
                elif _suffix(item.name) in READERS:
                    yield from self._file(item, name)

    def _file(self, item: os.DirEntry[str], name: str) -> Iterator[Entry]:
        if not item.is_symlink():
            problem = "" if item.is_file(follow_symlinks=False) else "not a regular file: skipped"
            yield from _entry(item, name, problem, target=name)
            return
        try:
            target = Path(item.path).resolve(strict=True)
            inside = target.relative_to(self.folder).as_posix()
            info = target.stat()
        except (OSError, RuntimeError):
            yield from _entry(item, name, "a broken link: skipped")
            return
        except ValueError:
            yield from _entry(item, name, "a link out of the folder: not followed")
            return
        if not stat.S_ISREG(info.st_mode):
            yield from _entry(item, name, "a link to something other than a file: skipped")
        else:
            yield Entry(name, info, target=inside)

    def _excluded(self, name: str) -> bool:
        return bool(self.exclude) and any(PurePosixPath(name).match(g) for g in self.exclude)

    def _tell_once(self, message: str) -> None:
        if message not in self.told:
            self.told.add(message)
            log.warning(message, extra={"source": self.id})


def _entry(item: os.DirEntry[str], name: str, problem: str, target: str = "") -> Iterator[Entry]:
    """The entry for a directory item, by its own stat; nothing if it vanished meanwhile."""
    try:
        yield Entry(name, item.stat(follow_symlinks=False), target, problem)
    except OSError:
        return


def _identity(data: bytes, before: list[Any] | None) -> str:
    """The identity of a one-article file's content: the earlier one if this continues it."""
    if before and len(before) == 4 and _digest(data[: before[1]]) == before[3]:
        return str(before[2])
    return _digest(data)


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]
