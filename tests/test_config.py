from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import UserError
from monitor.settings import parse_duration, parse_size

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(path):
    with pytest.raises(UserError) as info:
        load_config(path)
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1.5h", 5400),
        (45, 45),
        ("250ms", 0.25),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "10 minutes", "-5s", "", True])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_sizes():
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524288
    assert parse_size(100) == 100


def test_shipped_config_loads_and_switches_off_unset_secrets(monkeypatch):
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(ROOT / "config.yaml")
    seeds = next(s for s in config.sources if s.id == "seeds")
    assert seeds.type == "files" and seeds.backfill == float("inf") and seeds.interval == 30
    feeds = [s for s in config.sources if s.type == "rss"]
    assert feeds and all(s.backfill == 0 and s.timeout == 20 for s in feeds)
    assert set(config.disabled) == {"slack", "desk-email"}
    assert [n.id for n in config.enabled_notifiers] == ["console"]


def test_environment_variables_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK", "https://hooks.example/T/B/abc123")
    monkeypatch.delenv("NOT_SET", raising=False)
    path = write(
        tmp_path,
        """
sources: []
notifiers:
  - {id: slack, type: slack, webhook_url: "${HOOK}", channel: "${NOT_SET:-#fallback}"}
defaults: {notify: [slack]}
""",
    )
    config = load_config(path)
    slack = config.notifiers[0]
    assert slack.webhook_url.get_secret_value() == "https://hooks.example/T/B/abc123"
    assert slack.channel == "#fallback"
    assert {"https://hooks.example/T/B/abc123", "/T/B/abc123"} <= set(config.secrets())


def test_unset_variable_without_default_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    path = write(
        tmp_path,
        "defaults: {notify: [m]}\nnotifiers:\n  - {id: m, type: email, host: h, to: [a@b.c], password: '${SMTP_PASSWORD}'}\n",
    )
    [problem] = problems(path)
    assert "SMTP_PASSWORD is not set" in problem.message
    assert problem.key == "notifiers[0].password" and problem.line == 3


def test_every_error_names_file_line_and_key_path(tmp_path):
    path = write(
        tmp_path,
        """state: sqlite:///s.db
defaults:
  interval: soon
  notify: [consol]
sources:
  - id: feed
    type: rss
    url: https://example.org/feed
    intervall: 5m
  - id: feed
    type: rss
    url: https://example.org/other
  - id: wire
    type: fils
    path: x
  - id: gov
    type: rss
    url: not a url
    timeout: forever
notifiers:
  - id: console
    type: console
""",
    )
    found = problems(path)
    by_key = {p.key: p for p in found}
    assert by_key["defaults.interval"].line == 3
    assert "expected a duration" in by_key["defaults.interval"].message
    assert by_key["sources[0].intervall"].hint == "did you mean `interval`?"
    assert by_key["sources[0].intervall"].line == 9
    assert "duplicate id `feed`" in by_key["sources[1].id"].message
    assert by_key["sources[2].type"].hint == "did you mean `files`?"
    assert {"sources[3].url", "sources[3].timeout"} <= set(by_key)
    assert all(p.file == str(path) for p in found)


def test_top_level_problems_are_collected_before_stopping(tmp_path):
    path = write(tmp_path, "stat: x\nrules: rules/\n")
    keys = {p.key for p in problems(path)}
    assert keys == {"stat", "rules"}


def test_defaults_notify_must_name_a_notifier(tmp_path):
    path = write(
        tmp_path, "defaults: {notify: [consol]}\nnotifiers: [{id: console, type: console}]\n"
    )
    [problem] = problems(path)
    assert problem.key == "defaults.notify[0]" and problem.hint == "did you mean `console`?"


def test_a_postgres_state_needs_a_database_and_a_valid_url(tmp_path):
    [problem] = problems(write(tmp_path, "state: postgresql://u:secretpw@h\n"))
    assert problem.key == "state" and "names no database" in problem.message
    [problem] = problems(write(tmp_path, "state: postgresql://u:secretpw@h/db?badoption=1\n"))
    assert problem.key == "state" and "not a valid PostgreSQL URL" in problem.message
    assert "secretpw" not in f"{problem.message} {problem.hint} {problem.source_line}"


def test_a_state_url_of_another_kind_is_refused_without_its_password(tmp_path):
    [problem] = problems(write(tmp_path, "state: mysql://u:secretpw@h/db\n"))
    assert problem.key == "state" and "postgresql://" in problem.hint
    assert "mysql://u:***@h/db" in problem.message and "secretpw" not in problem.message


def test_invalid_yaml_points_at_the_line(tmp_path):
    [problem] = problems(write(tmp_path, "sources:\n  - id: a\n   type: rss\n"))
    assert problem.line == 3 and "invalid YAML" in problem.message


def test_missing_file(tmp_path):
    [problem] = problems(tmp_path / "nope.yaml")
    assert "cannot read file" in problem.message


def test_source_settings_fall_back_to_defaults(tmp_path):
    path = write(
        tmp_path,
        """defaults: {interval: 15m, timeout: 5s, max_bytes: 1MB, backfill: 24h}
sources:
  - {id: a, type: rss, url: "https://example.org/a"}
  - {id: b, type: rss, url: "https://example.org/b", interval: 1m, backfill: all}
""",
    )
    a, b = load_config(path).sources
    assert (a.interval, a.timeout, a.max_bytes, a.backfill) == (900, 5, 1_000_000, 86400)
    assert (b.interval, b.backfill) == (60, float("inf"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "3661d", "9" * 400 + "d"])
def test_a_duration_must_be_finite_and_at_most_ten_years(value):
    with pytest.raises(ValueError, match="at most ten years"):
        parse_duration(value)
    assert parse_duration("3660d") == 3660 * 86400


@pytest.mark.parametrize("value", [-1, 2**30 + 1, "2GB", "9" * 400, True])
def test_a_size_must_be_between_zero_and_one_gib(value):
    with pytest.raises(ValueError, match="size"):
        parse_size(value)
    assert parse_size("1GiB") == 2**30


def test_a_zero_interval_or_timeout_is_refused(tmp_path):
    """0 was swapped for the default by `or` fallbacks: the config said one thing, the daemon
    did another. A source's interval and timeout are more than 0."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "defaults: {interval: 0s}\n"
        "sources:\n  - {id: a, type: rss, url: 'https://x.example/f', timeout: 0}\n"
    )
    with pytest.raises(UserError) as raised:
        load_config(path)
    keys = {problem.key for problem in raised.value.problems}
    assert keys == {"defaults.interval", "sources[0].timeout"}


def problems_of(tmp_path, text):
    with pytest.raises(UserError) as raised:
        load_config(write(tmp_path, text))
    return {problem.key: problem for problem in raised.value.problems}


def test_a_feed_on_another_host_is_polled_at_most_every_30_seconds(tmp_path):
    found = problems_of(
        tmp_path,
        "defaults: {interval: 10s}\n"
        "sources:\n"
        "  - {id: a, type: rss, url: 'https://x.example/a'}\n"
        "  - {id: b, type: rss, url: 'https://x.example/b', interval: 5m, min_interval: 20s}\n"
        "  - {id: c, type: rss, url: 'http://127.0.0.1:8080/c', interval: 500ms}\n"
        "  - {id: d, type: rss, url: 'http://localhost/d'}\n",
    )
    assert set(found) == {"defaults.interval", "sources[1].min_interval"}
    assert "source a would be polled every 10s, more often than every 30s" in str(
        found["defaults.interval"]
    )
    assert found["sources[1].min_interval"].line == 4
    assert "another host" in found["sources[1].min_interval"].hint


def test_schedule_and_politeness_keys(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "defaults: {per_host: 1, host_gap: 2s, max_concurrent: 5, alert_after: 1h,"
            " max_interval: 4h}\n"
            "sources:\n"
            "  - {id: a, type: rss, url: 'https://x.example/a', alert_after: 15m,"
            " min_interval: 1m, max_backoff: 1h}\n"
            "  - {id: b, type: rss, url: 'https://x.example/b', interval: 8h}\n",
        )
    )
    a, b = config.sources
    assert (config.defaults.per_host, config.defaults.host_gap) == (1, 2.0)
    assert config.defaults.max_concurrent == 5
    assert (a.alert_after, b.alert_after, a.max_backoff, b.max_backoff) == (900, 3600, 3600, 21600)
    assert a.interval_bounds == (60, 4 * 3600)
    assert b.interval_bounds == (8 * 3600, 8 * 3600)  # the interval is always within


@pytest.mark.parametrize("bad", ["{per_host: 0}", "{max_concurrent: -1}", "{host_gap: soon}"])
def test_bad_politeness_keys_are_errors(tmp_path, bad):
    assert set(problems_of(tmp_path, f"defaults: {bad}\n")) <= {
        "defaults.per_host", "defaults.max_concurrent", "defaults.host_gap"
    }  # fmt: skip
