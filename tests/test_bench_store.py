"""bench/store.py --one-new runs and reports one new article's cost at each stored count
(the figures themselves are measured by running it, never asserted here)."""

from __future__ import annotations

import re

from bench import store as store_bench


def test_one_new_reports_each_stored_count(tmp_path, capsys):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text("id: chips\nquery: nvidia\n")
    rules = store_bench.load_rules([tmp_path / "rules"])
    store_bench.one_new(rules, [100, 300], 3, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("recording one new article")
    assert [
        re.match(r"\s+([\d,]+) stored: +[\d.]+ ms CPU +[\d.]+ ms wall$", line)[1]
        for line in lines[1:]
    ] == ["100", "300"]
