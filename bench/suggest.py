"""What `suggest` costs on a labelled set (issue 11 point 2).

    python bench/suggest.py                      # the 163 real texts, if present; else seeds
    python bench/suggest.py --labelled seeds/labelled.jsonl --runs 5

For each case, `suggest()` runs in this process (rules loaded and the set read once,
outside the timing) and the median of the runs is printed with the number of edits
shown: weakened queries (much to fix: many term candidates and a NEAR to widen) and the
shipped rules (already right on the real texts: the cost of scoring the query alone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.match import load_rules  # noqa: E402
from monitor.match.evaluate import read_labelled  # noqa: E402
from monitor.match.suggest import suggest  # noqa: E402

REAL = Path("/work/shared/testdata/real-trade-texts/labelled.jsonl")
WEAK = """rules:
  - {id: fentanyl-tariffs, query: 'fentanyl NEAR/3 tariff*'}
  - {id: export-controls, query: '"export controls"'}
  - {id: nvidia, query: 'nvidia AND chips'}
"""


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = REAL if REAL.exists() else ROOT / "seeds" / "labelled.jsonl"
    options.add_argument("--labelled", type=Path, default=default)
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    lines = args.labelled.read_text(encoding="utf-8").splitlines()
    cases = read_labelled(lines, args.labelled.name)
    print(f"{len(cases)} labelled articles from {args.labelled}, median of {args.runs} runs")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "weak.yaml").write_text(WEAK)
        sets = {"weakened": load_rules([Path(folder)]), "shipped": load_rules([ROOT / "rules"])}
        for name, rules in sets.items():
            for rule_id in ("fentanyl-tariffs", "export-controls", "nvidia"):
                rule = rules.get(rule_id)
                assert rule is not None
                times, shown = [], 0
                for _ in range(args.runs):
                    start = time.perf_counter()
                    shown = len(suggest(rules, rule, cases).suggestions)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                print(f"{name:<9} {rule_id:<17} {median:6.2f} s  {shown} edits")


if __name__ == "__main__":
    main()
