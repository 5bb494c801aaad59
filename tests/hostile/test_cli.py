"""The command line against hostile files, state and pipes: a clear error, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_command

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMTP_"))}
ESC = "\x1b"


def cli(*args, stdin=None, cwd=ROOT):
    result = subprocess.run(
        cli_command(*args),
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=ENV,
        timeout=60,
    )
    result.stdout = result.stdout.decode("utf-8", "replace")
    result.stderr = result.stderr.decode("utf-8", "replace")
    return result


def assert_user_error(result, *expected):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def run_once(workspace, title="Nvidia sells more chips"):
    (workspace.articles() / "a.txt").write_text(f"{title}\n\nNvidia said so.")
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles", "backfill": "all", "settle": "0s"}]
    )
    return cli("run", "--once", "--config", str(workspace.config))


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefg", "bcdefgh", strict=True)
)


def test_a_yaml_alias_bomb_in_a_rule_file_is_a_positioned_error(workspace):
    """Case 13: 352 bytes of nested aliases (43 million values) no longer exhaust memory."""
    workspace.write_config([])
    workspace.write_rule("bomb", ALIAS_BOMB)
    result = cli("check", "--config", str(workspace.config))
    assert_user_error(result, "bomb.yaml:5:4: aliases expand to more than 10000 values", "hint:")


def test_yaml_nested_600_deep_is_a_positioned_error(workspace):
    """Case 13: 600 nested lists gave a RecursionError traceback; config and rules alike."""
    workspace.write_config([])
    workspace.write_rule("deep", "id: deep\nquery: nvidia\nx: " + "[" * 600 + "]" * 600 + "\n")
    result = cli("check", "--config", str(workspace.config))
    assert_user_error(result, "deep.yaml:3:", "nested more than 100 levels deep")
    workspace.config.write_text("sources: " + "[" * 600 + "]" * 600 + "\n")
    result = cli("check", "--config", str(workspace.config))
    assert_user_error(result, "config.yaml:1:", "nested more than 100 levels deep")


def test_a_duration_beyond_ten_years_fails_check(workspace):
    """Case 13: `interval: 99999999999999999999d` passed check and crashed run."""
    workspace.write_config([{"id": "f", "type": "rss", "url": "http://127.0.0.1:9/"}])
    text = workspace.config.read_text().replace(
        "dispatch_interval: 1s", "interval: 99999999999999999999d"
    )
    workspace.config.write_text(text)
    for command in ("check", "run"):
        result = cli(command, "--config", str(workspace.config))
        assert_user_error(result, "defaults.interval", "at most ten years")


def test_an_in_memory_state_is_refused(workspace):
    """Case 13: `state: sqlite:///:memory:` kept nothing, so a restart alerted everything again."""
    workspace.write_config([])
    text = workspace.config.read_text().replace(
        "sqlite:///state/monitor.db", "'sqlite:///:memory:'"
    )
    workspace.config.write_text(text)
    result = cli("check", "--config", "config.yaml", cwd=workspace.root)
    assert_user_error(result, "state: state 'sqlite:///:memory:' is not a database file")


@pytest.mark.parametrize("command", [["run", "--once"], ["status"], ["alerts"], ["backtest"]])
def test_a_garbage_state_file_is_named_in_a_clear_error(workspace, command):
    """Case 13: a state file that is not a database gave a traceback in every command."""
    workspace.write_config([])
    workspace.db.parent.mkdir()
    workspace.db.write_bytes(b"not a database at all\n" * 100)
    result = cli(*command, "--config", str(workspace.config))
    assert_user_error(result, str(workspace.db), "not a trade-monitor database")
    assert workspace.db.read_bytes() == b"not a database at all\n" * 100  # never overwritten


@pytest.mark.parametrize("command", [["run", "--once"], ["status"], ["alerts"]])
def test_a_state_file_that_cannot_be_opened_is_a_clear_error(workspace, command):
    """Case 13: the state path is a folder, as a path that cannot be written to."""
    workspace.write_config([])
    workspace.db.mkdir(parents=True)
    result = cli(*command, "--config", str(workspace.config))
    assert_user_error(result, str(workspace.db), "cannot use the state database")


def test_a_state_folder_that_is_a_file_is_a_clear_error(workspace):
    """Case 13: a state folder that cannot be made (a file stands there) in run and status."""
    workspace.write_config([])
    (workspace.root / "state").write_text("")
    result = cli("run", "--once", "--config", str(workspace.config))
    assert_user_error(result, str(workspace.db))


@contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """The paths made unwritable even for root (which ignores file modes): immutable (chattr)
    as root, read-only modes otherwise. Skipped where neither can be done."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("root ignores file modes, and chattr is not installed")
        made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"root ignores file modes, and chattr failed: {made.stderr!r}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        return
    modes = [path.stat().st_mode for path in paths]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in zip(paths, modes, strict=True):
            path.chmod(mode)


@pytest.mark.parametrize("command", [["run", "--once"], ["status"], ["alerts"]])
def test_a_read_only_state_file_and_folder_are_clear_errors(workspace, command):
    """Case 13: a state file that cannot be written, in a folder that cannot be written."""
    assert run_once(workspace).returncode == 0
    for path in (workspace.db.parent / "monitor.db-wal", workspace.db.parent / "monitor.db-shm"):
        path.unlink(missing_ok=True)
    with unwritable(workspace.db, workspace.db.parent):
        result = cli(*command, "--config", str(workspace.config))
    assert_user_error(result, str(workspace.db))


def test_match_stdin_with_deep_json_or_bad_encoding_is_a_clear_error():
    """Case 13: `match -` gave a RecursionError or UnicodeDecodeError traceback."""
    deep = cli("match", "--rules", "rules", "-", stdin=b"[" * 100_000 + b"\n")
    assert deep.returncode == 2 and "Traceback" not in deep.stderr
    assert "stdin: line 1: invalid JSON: nested too deeply" in deep.stderr
    latin = b'{"title": "Nvidia"}\n{"title": "Nvidia caf\xe9"}\n'
    undecodable = cli("match", "--rules", "rules", "-", stdin=latin)
    assert undecodable.returncode == 2 and "Traceback" not in undecodable.stderr
    assert "stdin: line 2: not UTF-8 text" in undecodable.stderr


def test_alerts_retry_with_a_huge_id_is_an_argument_error(workspace):
    """Case 13: `alerts retry 99999999999999999999999` gave an OverflowError traceback."""
    assert run_once(workspace).returncode == 0
    result = cli("alerts", "--config", str(workspace.config), "retry", "99999999999999999999999")
    assert_user_error(result, "expected a number from 1 to")
    result = cli("alerts", "--config", str(workspace.config), "--limit", "1" + "0" * 30)
    assert_user_error(result, "expected a number from 1 to")


def test_control_characters_from_old_rows_are_escaped_in_status_and_alerts(workspace):
    """Case 14: titles and errors stored with terminal escapes are printed escaped."""
    assert run_once(workspace).returncode == 0
    with sqlite3.connect(workspace.db) as db:
        payload = db.execute("SELECT payload FROM outbox").fetchone()[0]
        evil = json.dumps({**json.loads(payload), "title": f"{ESC}[2J{ESC}]0;pwned\x07Nvidia"})
        db.execute("UPDATE outbox SET payload = ?, status = 'dead', last_error = ?",
                   (evil, f"HTTP 500: {ESC}[31mboom\x9b"))  # fmt: skip
        db.execute("UPDATE sources SET error_streak = 1, last_error = ?", (f"{ESC}[1Afake ok",))
    alerts = cli("alerts", "--config", str(workspace.config))
    status = cli("status", "--config", str(workspace.config))
    for result in (alerts, status):
        assert result.returncode == 0, result.stderr
        assert ESC not in result.stdout and "\x07" not in result.stdout
        assert "\\x1b[2J\\x1b]0;pwned\\x07Nvidia" in result.stdout
    assert "last error: HTTP 500: \\x1b[31mboom\\x9b" in alerts.stdout
    assert "failing x1: \\x1b[1Afake ok" in status.stdout


def test_control_characters_never_reach_the_console_or_match_output(workspace, tmp_path):
    """Case 14: a title with escapes prints clean; a file name with escapes prints escaped."""
    result = run_once(workspace, f"{ESC}[2JNvidia{ESC}[8m sells\u202e chips")
    assert result.returncode == 0, result.stderr
    assert ESC not in result.stdout and "\u202e" not in result.stdout
    assert "Nvidia[8m sells chips" in result.stdout
    bad = tmp_path / f"bad{ESC}[31m.json"
    bad.write_text("{not json")
    matched = cli("match", "--rules", "rules", str(bad))
    assert matched.returncode == 2
    assert ESC not in matched.stderr and "bad\\x1b[31m.json" in matched.stderr


def test_a_config_given_to_alerts_is_used_by_retry(workspace, tmp_path):
    """Case 15: `alerts --config prod.yaml retry --all-dead` acted on ./config.yaml."""
    assert run_once(workspace).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("alerts", "--config", str(workspace.config), "retry", "--all-dead", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "0 dead alerts queued again" in result.stdout
    inner = cli("alerts", "retry", "--config", str(workspace.config), "--all-dead", cwd=elsewhere)
    assert inner.returncode == 0, inner.stderr


@pytest.mark.parametrize(
    "command", [["explain", "--rules", "rules", "nvidia"], ["match", "--rules", "rules"]]
)
def test_output_piped_to_a_reader_that_stops_early_ends_quietly(tmp_path, command):
    """Case 16: `trade-monitor explain ... | head` ended in a BrokenPipeError traceback."""
    lines = tmp_path / "many.jsonl"
    record = {"title": "Nvidia halts H20 sales", "body": "Nvidia said so. " * 20}
    lines.write_text((json.dumps(record) + "\n") * 3000)
    with lines.open("rb") as stdin:
        process = subprocess.Popen(
            cli_command(*command, "-"),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=ENV,
        )
        assert process.stdout.readline()  # like `head -1`: read one line, then go away
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.returncode == 1


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_control_characters_never_reach_the_log(workspace, log_format):
    """Case 14: a drop-folder file named with terminal escapes, holding broken JSON, was
    logged raw ("skipped ...") to stderr."""
    name = f"{ESC}]0;pwned\x07{ESC}[2J\u202eevil.json"
    (workspace.articles() / name).write_text("{not json")
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles", "backfill": "all", "settle": "0s"}]
    )
    result = cli("run", "--once", "--log-format", log_format, "--config", str(workspace.config))
    assert "evil.json" in result.stderr  # the file is named, escaped
    assert (
        ESC not in result.stderr and "\x07" not in result.stderr and "\u202e" not in result.stderr
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_to_a_full_disk_is_a_clear_error(workspace):
    """Case 16: `check > /dev/full` ended in an OSError traceback."""
    workspace.write_config([])
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            cli_command("check", "--config", str(workspace.config)),
            stdout=full, stderr=subprocess.PIPE, text=True, env=ENV, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot write the output: No space left on device" in result.stderr
