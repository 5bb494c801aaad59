"""The CLI as a user runs it: a subprocess, its output and its exit code."""

import json
import os
import subprocess

from tests.conftest import ROOT, cli_command

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMTP_"))}


def cli(*args, stdin=None, cwd=ROOT):
    return subprocess.run(
        cli_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=60,
    )


def test_check_passes_on_the_shipped_config_and_rules():
    result = cli("check")
    assert result.returncode == 0, result.stderr
    assert "config.yaml: OK" in result.stdout
    assert "tests:" in result.stdout and " 0 failed" in result.stdout
    assert "notifier slack is off" in result.stdout


def test_check_reports_every_problem_without_a_traceback(workspace):
    workspace.write_config([{"id": "f", "type": "rss", "url": "nope", "interval": "soon"}])
    workspace.write_rule("broken", "id: broken\nquery: (nvidia\nnotify: [slak]\n")
    workspace.write_rule("bad-test", "id: bad-test\nquery: nvidia\ntests:\n  match: [amd]\n")
    result = cli("check", "--config", str(workspace.config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "sources[0].url" in result.stderr and "sources[0].interval" in result.stderr
    assert "broken.yaml:2:8: query: unbalanced parenthesis" in result.stderr


def test_check_of_rules_alone_still_checks_notifiers_against_the_config(workspace, tmp_path):
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles"}],
        [{"id": "console", "type": "console"}, {"id": "desk-slack", "type": "console"}],
    )
    workspace.write_rule("soy", "id: soy\nquery: soybeans\nnotify: [desk-slak]\n")
    rules = str(workspace.config.parent / "rules")
    result = cli("check", "--config", str(workspace.config), "--rules", rules)
    assert result.returncode == 2
    assert "no notifier named `desk-slak`" in result.stderr
    assert "did you mean `desk-slack`?" in result.stderr
    no_config = cli("check", "--config", str(tmp_path / "none.yaml"), "--rules", rules)
    assert no_config.returncode == 0
    assert "rules: OK (notifiers not checked: no " in no_config.stdout


def test_check_runs_rule_tests_and_fails_on_a_failing_case(workspace):
    workspace.write_config([])
    workspace.write_rule("bad-test", "id: bad-test\nquery: nvidia\ntests:\n  match: [amd]\n")
    result = cli("check", "--config", str(workspace.config))
    assert result.returncode == 2
    assert (
        "bad-test.yaml:4" in result.stderr and "expected a match, got none: 'amd'" in result.stderr
    )
    assert "1 failed" in result.stdout


def test_match_json_lines_from_files_and_folders():
    result = cli(
        "match", "--format", "json", "seeds/2025-07-14-nvidia-resumes.json", "seeds/wires.jsonl"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    nvidia = next(r for r in records if r["rule"] == "nvidia" and r["input"].endswith(".json"))
    assert nvidia["id"] == "seed-nvidia-resume-2025-07-14"
    assert nvidia["published"] == "2025-07-14T23:30:00+00:00"
    assert nvidia["severity"] == "medium"
    title_hit = next(h for h in nvidia["hits"] if h["field"] == "title")
    assert title_hit == {"field": "title", "start": 0, "end": 6, "text": "Nvidia"}
    assert nvidia["title"][title_hit["start"] : title_hit["end"]] == "Nvidia"
    folder = cli("match", "--format", "json", "seeds")
    assert len(folder.stdout.splitlines()) > len(records)


def test_match_reads_json_lines_from_stdin():
    lines = "\n".join(
        json.dumps(r)
        for r in [
            {
                "id": "1",
                "title": "Beijing wants the fentanyl tariffs removed",
                "published": "2025-11-01T15:40:00Z",
            },
            {"id": "2", "title": "Overdose deaths fall"},
        ]
    )
    result = cli("match", "--rules", "rules", "--format", "json", "-", stdin=lines)
    assert result.returncode == 0, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (record["input"], record["id"], record["rule"]) == ("-:1", "1", "fentanyl-tariffs")


def test_match_exit_codes():
    assert (
        cli("match", "--rules", "rules", "-", stdin='{"title": "Soybean prices"}').returncode == 1
    )
    bad = cli("match", "--rules", "rules", "-", stdin="{broken")
    assert bad.returncode == 2 and "line 1: invalid JSON" in bad.stderr
    missing = cli("match", "--rules", "rules", "no-such-file.txt")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_text_output_names_input_rule_and_words():
    result = cli(
        "match",
        "--rules",
        "rules",
        "seeds/ohio-overdose-deaths.txt",
        "seeds/2025-08-25-nvidia-h20-halt.txt",
    )
    assert result.stdout.count("\n") == 1
    assert "nvidia-h20-halt.txt: nvidia [medium]" in result.stdout and "H20" in result.stdout


def test_run_once_then_status(workspace):
    folder = workspace.articles()
    (folder / "a.txt").write_text("Nvidia sells more chips\n\nNvidia said so.")
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles", "backfill": "all", "settle": "0s"}]
    )
    run = cli("run", "--once", "--config", str(workspace.config))
    assert run.returncode == 0, run.stderr
    assert "[MEDIUM] Nvidia | Nvidia sells more chips | wire" in run.stdout
    status = cli("status", "--config", str(workspace.config))
    assert status.returncode == 0
    assert "wire" in status.stdout and "ok, 1 items (1 new)" in status.stdout
    assert "outbox: 0 pending, 1 sent" in status.stdout
    assert "Nvidia sells more chips" in status.stdout


def test_status_before_any_run(workspace):
    workspace.write_config([])
    assert "no state yet" in cli("status", "--config", str(workspace.config)).stdout


def test_run_with_a_bad_rule_exits_2(workspace):
    workspace.write_config([])
    workspace.write_rule("broken", "id: broken\nquery: nvidia OR\n")
    result = cli("run", "--once", "--config", str(workspace.config))
    assert result.returncode == 2 and "broken.yaml:2" in result.stderr


def test_shipped_config_runs_offline_and_prints_the_seed_alerts(tmp_path):
    """The README's first command, on a copy of the project: seeds alert, feeds fail once each."""
    for name in ("config.yaml", "rules", "seeds"):
        subprocess.run(["cp", "-rp", str(ROOT / name), str(tmp_path / name)], check=True)
    result = cli("run", "--once", cwd=tmp_path)
    assert result.returncode == 1  # the network feeds are unreachable here
    assert "Traceback" not in result.stderr
    alerts = result.stdout.splitlines()
    assert len(alerts) >= 10
    assert any(line.startswith("[HIGH] Fentanyl-linked tariffs") for line in alerts)
    assert not any("overdose" in line.lower() or "envidia" in line.lower() for line in alerts)
    assert "notifier slack is off" in result.stderr
    assert result.stderr.count("poll failed") == 3
    again = cli("run", "--once", cwd=tmp_path)
    assert again.stdout == ""


def test_version_and_module_entry_point():
    assert cli("--version").stdout.startswith("trade-monitor ")


def test_explain_shows_the_tree_and_marks_the_hits():
    result = cli("explain", "--rules", "rules", "fentanyl-tariffs", "seeds/saved-feed.xml")
    assert result.returncode == 0
    out = result.stdout
    assert "fentanyl-tariffs matches 'Canada says fentanyl levies are unjustified'" in out
    assert "fentanyl-tariffs does not match 'Netherlands tightens licences" in out
    assert "✓ NEAR/12" in out and "✗ NEAR/12" in out
    assert "title: Canada says [[fentanyl]] [[levies]] are unjustified" in out
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_explain_unknown_rule_suggests_one():
    result = cli("explain", "--rules", "rules", "nvidai", "seeds")
    assert result.returncode == 2
    assert "did you mean `nvidia`?" in result.stderr


def test_check_shows_which_part_of_the_query_decided(workspace):
    workspace.write_config([])
    workspace.write_rule(
        "t",
        "id: t\nquery: fentanyl NEAR/3 tariffs -overdose\ntests:\n  match: ['fentanyl tariffs and overdose']\n",
    )
    result = cli("check", "--config", str(workspace.config))
    assert "✗ NOT" in result.stderr and "✓ overdose" in result.stderr
    assert "✓ NEAR/3" in result.stderr


def test_backtest_runs_todays_rules_over_stored_articles(workspace):
    folder = workspace.articles()
    (folder / "a.txt").write_text(
        "Soybean purchases resume\n\nChina resumed buying US soybeans under the truce."
    )
    (folder / "b.txt").write_text("Nvidia sells more chips\n\nNvidia said so.")
    workspace.write_config([{"id": "wire", "type": "files", "path": "articles", "settle": "0s"}])
    assert cli("run", "--once", "--config", str(workspace.config)).returncode == 0
    workspace.write_rule("soy", "id: soy\ntitle: Soy\nquery: soybeans NEAR/5 (buy* OR resum*)\n")
    result = cli("backtest", "--config", str(workspace.config), "--since", "1h")
    assert result.returncode == 0
    assert "soy" in result.stdout and "Soybean purchases resume" in result.stdout
    assert "2 articles since 1h ago; would have fired: nvidia 1, soy 1" in result.stderr
    only = cli("backtest", "--config", str(workspace.config), "--rule", "soy")
    assert "nvidia" not in only.stdout
    bad = cli("backtest", "--config", str(workspace.config), "--rule", "soi")
    assert bad.returncode == 2 and "did you mean `soy`?" in bad.stderr


def test_a_regex_timeout_skips_the_rule_is_logged_and_counted_in_status(workspace):
    folder = workspace.articles()
    (folder / "a.txt").write_text("Nvidia pathological\n\n" + "a" * 40 + "!")
    workspace.write_config(
        [{"id": "wire", "type": "files", "path": "articles", "backfill": "all", "settle": "0s"}]
    )
    workspace.write_rule("slow", "id: slow\nquery: /(a|aa)+$/\n")
    run = cli("run", "--once", "--config", str(workspace.config))
    assert run.returncode == 0
    assert "[MEDIUM] Nvidia | Nvidia pathological" in run.stdout  # the other rules still ran
    assert "rule=slow" in run.stderr and "a regex timed out" in run.stderr
    assert (
        "regex timeouts (article skipped by that rule): slow 1"
        in cli("status", "--config", str(workspace.config)).stdout
    )
    # The count is the state file's, not one run's: a new run (new rule set) adds to it.
    (folder / "b.txt").write_text("Another pathological one\n\n" + "a" * 40 + "!")
    assert cli("run", "--once", "--config", str(workspace.config)).returncode == 0
    assert (
        "regex timeouts (article skipped by that rule): slow 2"
        in cli("status", "--config", str(workspace.config)).stdout
    )


def test_match_and_explain_report_an_unreadable_input_go_on_and_exit_2(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "Nvidia halts H20"}\n{broken\n')
    good = "seeds/2025-08-25-nvidia-h20-halt.txt"
    for command in (["match", "--rules", "rules"], ["explain", "--rules", "rules", "nvidia"]):
        result = cli(*command, str(broken), "no-such-file.txt", good)
        assert result.returncode == 2, (command, result.stderr)
        assert "broken.jsonl: line 2: invalid JSON" in result.stderr
        assert "no-such-file.txt: cannot read" in result.stderr
        assert "Traceback" not in result.stderr
        assert "nvidia-h20-halt.txt: nvidia" in result.stdout  # the good input was still read
        stdin = cli(*command, "-", good, stdin='{"title": "Nvidia"}\n{broken\n')
        assert stdin.returncode == 2 and "stdin: line 2: invalid JSON" in stdin.stderr
        assert "-:1: nvidia" in stdin.stdout and "nvidia-h20-halt.txt: nvidia" in stdin.stdout
