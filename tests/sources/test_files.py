import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from monitor.sources import SourceContext, SourceError
from monitor.sources.files import FilesConfig, FilesSource


def source(folder, settle=0, exclude=()):
    config = FilesConfig(
        id="wire", type="files", path=str(folder), settle=settle, exclude=list(exclude)
    )
    return FilesSource(config, SourceContext(None, folder.parent))


def poll(src, cursor):
    return asyncio.run(src.poll(cursor))


def test_new_file_is_new_article_and_unchanged_files_are_not_reread(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("First story\n\nBody one.")
    src = source(folder)
    first = poll(src, {})
    assert [a.title for a in first.articles] == ["First story"]
    second = poll(src, first.cursor)
    assert second.articles == []
    (folder / "b.txt").write_text("Second story\n\nBody two.")
    third = poll(src, second.cursor)
    assert [a.title for a in third.articles] == ["Second story"]


def test_a_file_still_being_written_waits_for_the_next_scan(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fresh.txt").write_text("Half a sto")
    src = source(folder, settle=60)
    assert poll(src, {}).articles == []
    old = time.time() - 120
    os.utime(folder / "fresh.txt", (old, old))
    assert len(poll(src, {}).articles) == 1


def test_a_bad_file_is_skipped_with_a_warning_and_others_are_read(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad.json").write_text("{oops")
    (folder / "good.txt").write_text("Good\n\nBody.")
    (folder / ".hidden.txt").write_text("Hidden\n\nBody.")
    (folder / "notes.pdf").write_text("ignored")
    result = poll(source(folder), {})
    assert [a.title for a in result.articles] == ["Good"]
    assert "skipped bad.json: invalid JSON at line 1" in caplog.text


def test_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        poll(source(tmp_path / "nope"), {})


def test_excluded_files_are_not_read(tmp_path):
    folder = tmp_path / "in"
    (folder / "drafts").mkdir(parents=True)
    (folder / "a.txt").write_text("Story\n\nBody.")
    (folder / "cases.jsonl").write_text('{"title": "Eval case", "body": "x"}\n')
    (folder / "drafts" / "b.txt").write_text("Draft\n\nNot yet.")
    src = source(folder, exclude=["cases.jsonl", "drafts/*"])
    assert [a.title for a in poll(src, {}).articles] == ["Story"]


def test_a_cursor_written_by_the_old_code_still_means_already_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    story = folder / "a.txt"
    story.write_text("Old story\n\nBody.")
    info = story.stat()
    old_cursor = {"files": {"a.txt": [info.st_mtime_ns, info.st_size]}}
    assert poll(source(folder, settle=2), old_cursor).articles == []


def test_a_link_inside_the_folder_is_read_and_a_folder_swapped_for_a_link_is_not(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text("Real story\n\nBody.")
    (folder / "alias.txt").symlink_to("sub/real.txt")
    src = source(folder)
    titles = sorted(a.title for a in poll(src, {}).articles)
    assert titles == ["Real story", "Real story"]  # the store sees the second as a copy
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.txt").write_text("Secret\n\nBody.")
    shutil.rmtree(folder / "sub")
    (folder / "sub").symlink_to(outside)  # swapped after a scan found sub/real.txt
    with pytest.raises(SourceError, match="cannot read"):
        src._load("sub/real.txt")


def test_an_oversized_file_is_skipped_with_its_reason(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "big.txt").write_text("Big\n\n" + "x" * 100)
    config = FilesConfig(id="wire", type="files", path="in", settle=0, max_bytes=50)
    result = poll(FilesSource(config, SourceContext(None, tmp_path)), {})
    assert result.articles == []
    assert "skipped big.txt: over the 50 byte cap" in caplog.text
    assert list(result.cursor["failed"]) == ["big.txt"]


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "w") as handle:
        handle.write("Odd name\n\nBody.")
    [article] = poll(source(folder), {}).articles
    assert article.title == "Odd name" and article.guid.startswith("caf\\xe9.txt#")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching groups needs root")
def test_a_failed_unchanged_file_is_tried_again_after_a_backoff(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="drop-"))
    try:
        folder.chmod(0o755)
        story = folder / "group.txt"
        story.write_text("Group story\n\nBody.")
        story.chmod(0o640)  # root's group may read it, others may not
        src = source(folder)
        with as_nobody(gid=65534):
            first = poll(src, {})
        with as_nobody(gid=0):  # now it can be read, though the file did not change
            second = poll(src, first.cursor)
            src.clock = lambda: time.time() + 61  # past the first backoff (1 min)
            third = poll(src, second.cursor)
    finally:
        shutil.rmtree(folder)
    assert first.articles == second.articles == []
    assert [a.title for a in third.articles] == ["Group story"]


@contextlib.contextmanager
def as_nobody(gid):
    os.setegid(gid)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
