import asyncio

from monitor.notify.console import ConsoleConfig, ConsoleNotifier
from tests.builders import alert


def test_one_readable_line_with_severity_rules_headline_source_link(capsys):
    result = asyncio.run(ConsoleNotifier(ConsoleConfig(id="console", type="console")).send(alert()))
    assert result.ok
    out = capsys.readouterr().out
    assert out == (
        "[HIGH] Fentanyl-linked tariffs, China | US doubles fentanyl duties on Chinese goods"
        " | wire | https://x.org/a\n"
    )
