import asyncio
import os
import time

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
    assert "bad.json: invalid JSON" in caplog.text


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
