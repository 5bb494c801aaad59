"""Hostile drop folders (issue 13, cases 4, 8 and 16): real files, links, FIFOs and permissions."""

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from monitor.sources import SourceContext
from monitor.sources.files import FilesConfig, FilesSource
from monitor.stages import record_poll
from monitor.store import NewArticle, open_store

NOBODY = 65534


def source(folder, settle=0.0, once=False):
    config = FilesConfig(id="wire", type="files", path=folder.name, settle=settle)
    return FilesSource(config, SourceContext(None, folder.parent, once=once))


def poll(src, cursor):
    async def bounded():
        return await asyncio.wait_for(src.poll(cursor), timeout=20)  # a FIFO must not hang us

    return asyncio.run(bounded())


@pytest.fixture
def drop():
    """A drop folder anyone may enter, so permissions can be tried as an ordinary user."""
    folder = Path(tempfile.mkdtemp(prefix="drop-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@contextlib.contextmanager
def as_user(gid=NOBODY):
    """Root reads any file: act as `nobody` (group `gid`) so file permissions apply."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(gid)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_links_out_of_the_folder_and_special_files_are_never_read(tmp_path, caplog):
    """Case 4: a link to a secret, to /proc/self/environ, a linked folder, a FIFO: none is read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Leaked\n\nSECRET-7f3a the token")
    (outside / "story.txt").write_text("Leaked too\n\nSECRET-7f3a again")
    folder = tmp_path / "drop"
    (folder / "nested").mkdir(parents=True)
    (folder / "good.txt").write_text("Good story\n\nBody.")
    (folder / "secret.txt").symlink_to(outside / "secret.txt")
    (folder / "env.txt").symlink_to("/proc/self/environ")
    (folder / "nested" / "up.txt").symlink_to("../../outside/story.txt")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "x.txt")
    src = source(folder)
    result = poll(src, {})
    read = len(result.articles)  # compared as a count: a failure must not print what leaked
    assert read == 1
    assert result.articles[0].title == "Good story"
    for name, why in [
        ("secret.txt", "a link out of the folder"),
        ("env.txt", "a link out of the folder"),
        ("nested/up.txt", "a link out of the folder"),
        ("linked", "a link to a folder: not followed"),
        ("x.txt", "not a regular file"),
    ]:
        assert f"skipped {name}: {why}" in caplog.text
    caplog.clear()
    again = poll(src, result.cursor)
    assert again.articles == []
    assert "skipped" not in caplog.text  # said once, not every scan


def test_a_jsonl_file_with_a_broken_line_keeps_its_good_lines(tmp_path, caplog):
    """Case 8: one broken line of a .jsonl loses none of the good ones; its number is logged."""
    folder = tmp_path / "drop"
    folder.mkdir()
    lines = [
        json.dumps({"id": "1", "title": "First", "body": "x"}),
        '{"id": "2", "title": "Broken',
        json.dumps({"id": "3", "title": "Third", "body": "y"}),
        "[1, 2]",
    ]
    (folder / "wire.jsonl").write_text("\n".join(lines) + "\n")
    result = poll(source(folder), {})
    assert [a.title for a in result.articles] == ["First", "Third"]
    assert "wire.jsonl: read 2 articles, skipped 2 bad records: line 2: invalid JSON" in caplog.text
    assert "line 4: expected a JSON object" in caplog.text


def test_a_json_list_with_an_out_of_range_date_keeps_every_item(tmp_path, caplog):
    """Case 8: a date that overflows in UTC (9999-12-31T23:00-14:00) loses no item; bad items only."""
    folder = tmp_path / "drop"
    folder.mkdir()
    items = [
        {"id": "1", "title": "Overflowing date", "published": "9999-12-31T23:00:00-14:00"},
        {"id": "2", "title": "Good", "published": "2025-07-14T23:30:00Z"},
        {"id": "3", "title": {"nested": 1}},
    ]
    (folder / "list.json").write_text(json.dumps(items))
    result = poll(source(folder), {})
    assert [a.title for a in result.articles] == ["Overflowing date", "Good"]
    assert result.articles[0].published_at is None  # undated rather than lost
    assert "item 3: `title` must be a string" in caplog.text


def test_a_file_made_readable_later_is_read(drop, caplog):
    """Case 8: chmod 000 then chmod 644: the file is read once it can be, and the reason told once."""
    folder = drop / "in"
    folder.mkdir()
    folder.chmod(0o755)
    story = folder / "late.txt"
    story.write_text("Late story\n\nBody.")
    story.chmod(0o000)
    src = source(folder)
    with as_user():
        first = poll(src, {})
        second = poll(src, first.cursor)
    assert first.articles == second.articles == []
    story.chmod(0o644)
    with as_user():
        third = poll(src, second.cursor)
    assert [a.title for a in third.articles] == ["Late story"]
    assert caplog.text.count("skipped late.txt: cannot read: Permission denied") == 1


def test_a_file_dated_in_the_future_is_read_and_said(tmp_path, caplog):
    """Case 8: a file whose mtime is a day ahead is read (once unchanged), not skipped forever."""
    folder = tmp_path / "drop"
    folder.mkdir()
    story = folder / "ahead.txt"
    story.write_text("From a fast clock\n\nBody.")
    ahead = time.time() + 86400
    os.utime(story, (ahead, ahead))
    src = source(folder, settle=2)
    first = poll(src, {})
    second = poll(src, first.cursor)
    assert [a.title for a in first.articles + second.articles] == ["From a fast clock"]
    assert "ahead.txt is dated 86" in caplog.text and "in the future" in caplog.text


def test_a_half_written_file_whose_writer_pauses_is_read_once_whole(tmp_path):
    """Case 8: a .txt written in two parts with a pause longer than settle gives one article."""
    folder = tmp_path / "drop"
    folder.mkdir()
    src = source(folder, settle=0.2)
    cursor = poll(src, {}).cursor
    time.sleep(0.05)
    story = folder / "story.txt"
    story.write_text("Nvidia halts H20 work\n\nThe first half")
    time.sleep(0.3)  # the writer pauses longer than settle (but less than the interval)
    result = poll(src, cursor)
    assert result.articles == []  # new since the last scan: not yet known to be whole
    cursor = result.cursor
    with story.open("a") as handle:
        handle.write(" and the second half.")
    time.sleep(0.3)
    articles = []
    for _ in range(2):  # changed since the last scan, then unchanged: whole
        result = poll(src, cursor)
        articles += result.articles
        cursor = result.cursor
    assert [a.body for a in articles] == ["The first half and the second half."]


def test_a_file_read_half_written_keeps_its_identity_when_completed(tmp_path):
    """Case 8: read half-written, then complete: the same article id, so it is not alerted twice."""
    folder = tmp_path / "drop"
    folder.mkdir()
    src = source(folder)  # settle 0: read as soon as seen, the worst case
    story = folder / "story.txt"
    story.write_text("Nvidia halts H20 work\n\nThe first")
    [half] = (first := poll(src, {})).articles
    with story.open("a") as handle:
        handle.write(" half and the second half.")
    [whole] = (second := poll(src, first.cursor)).articles
    assert whole.id == half.id and whole.body.endswith("second half.")
    store = open_store("sqlite:///state.db", tmp_path)
    record_poll(store, "wire", first.cursor, [half], [NewArticle(half)])
    assert store.unseen([whole]) == []
    story.write_text("Soybean deal signed\n\nA different story in the same file.")
    [other] = poll(src, second.cursor).articles
    assert other.id != half.id
    assert store.unseen([other]) == [other]
    store.close()


def test_run_once_waits_for_a_file_being_written(tmp_path, caplog):
    """Case 16: in `run --once` a file modified within settle is waited for, then read."""
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "fresh.txt").write_text("Fresh story\n\nBody.")
    result = poll(source(folder, settle=0.3, once=True), {})
    assert [a.title for a in result.articles] == ["Fresh story"]


def test_run_once_says_how_many_files_it_leaves_for_the_next_run(tmp_path, caplog):
    """Case 16: a file still being written when `run --once` ends is named in a count, not lost."""
    folder = tmp_path / "drop"
    folder.mkdir()
    story = folder / "busy.txt"
    story.write_text("Busy story\n\n")
    done = threading.Event()

    def writer():
        while not done.wait(0.05):
            with story.open("a") as handle:
                handle.write("more ")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = poll(source(folder, settle=0.3, once=True), {})
    finally:
        done.set()
        thread.join()
    assert result.articles == []
    assert list(result.cursor.get("waiting", {})) == ["busy.txt"]
    assert "1 files are still being written" in caplog.text
    assert "left for the next run" in caplog.text
