import asyncio

from monitor.alerts import Alert, AlertRule
from monitor.notify.console import ConsoleConfig, ConsoleNotifier


def alert(**overrides):
    values = dict(
        article_id="a1",
        notifier_id="console",
        source_id="wire",
        title="US doubles fentanyl duties\non Chinese goods",
        url="https://x.org/a",
        published_at="2025-03-04T21:15:00+00:00",
        rules=(
            AlertRule("fentanyl-tariffs", "Fentanyl-linked tariffs", "high", ("fentanyl",)),
            AlertRule("china", "China", "low", ("chinese",)),
        ),
        snippet="The fentanyl levy rises.",
        snippet_marks=((4, 12),),
    )
    return Alert(**{**values, **overrides})


def test_one_readable_line_with_severity_rules_headline_source_link(capsys):
    result = asyncio.run(ConsoleNotifier(ConsoleConfig(id="console", type="console")).send(alert()))
    assert result.ok
    out = capsys.readouterr().out
    assert out == (
        "[HIGH] Fentanyl-linked tariffs, China | US doubles fentanyl duties on Chinese goods"
        " | wire | https://x.org/a\n"
    )
