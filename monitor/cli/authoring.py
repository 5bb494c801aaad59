"""Writing rules: `check`, `match`, `explain` and `eval`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC
from pathlib import Path

from monitor.article import Article
from monitor.cli.common import (
    add_rules,
    config_path,
    echo,
    load_all,
    print_problems,
    read_config,
    rules_from,
)
from monitor.cli.inputs import Inputs
from monitor.errors import Problem, UserError, did_you_mean
from monitor.logs import json_line
from monitor.match import Match, load_rules
from monitor.match.evaluate import compare_semantic, evaluate, read_labelled, semantic_table
from monitor.match.explain import highlighted, semantic_lines, tree
from monitor.match.ruletests import run_rule_tests
from monitor.sources import SourceError


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
    rules_or_config: argparse.ArgumentParser,
) -> None:
    check = commands.add_parser(
        "check", help="validate config and rules, run the rules' tests", parents=[config]
    )
    add_rules(check)
    check.set_defaults(command=cmd_check)

    match = commands.add_parser(
        "match", help="run rules against article files or JSON lines", parents=[rules_or_config]
    )
    match.add_argument("--format", choices=["text", "json"], default="text")
    match.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, or - for stdin")
    match.set_defaults(command=cmd_match)

    explain = commands.add_parser(
        "explain",
        help="why a rule does or does not match an article",
        parents=[rules_or_config],
    )
    explain.add_argument("rule", metavar="RULE", help="the rule id")
    explain.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files, folders, or - for stdin"
    )
    explain.set_defaults(command=cmd_explain)

    evaluation = commands.add_parser(
        "eval", help="precision and recall on labelled articles", parents=[rules_or_config]
    )
    evaluation.add_argument("labelled", type=Path, metavar="LABELLED.jsonl")
    evaluation.add_argument(
        "--min", type=float, default=0.0, help="exit 1 if any rule's precision or recall is lower"
    )
    evaluation.add_argument(
        "--semantic-compare",
        action="store_true",
        help="also score rules with `about:` keyword-only, keyword+semantic and semantic-only",
    )
    evaluation.set_defaults(command=cmd_eval)


def cmd_check(args: argparse.Namespace) -> int:
    if args.rules:
        notifiers, note = notifiers_for_check(config_path(args))
        rules = load_rules(args.rules, notifiers)
        echo(f"rules: OK{note}")
    else:
        config, rules = load_all(config_path(args))
        echo(
            f"{config.path}: OK ({len(config.sources)} sources, {len(config.notifiers)} notifiers)"
        )
        for notifier_id, missing in config.disabled.items():
            echo(f"  note: notifier {notifier_id} is off until {' and '.join(missing)} is set")
    files = len({r.file for r in rules.rules})
    echo(f"rules: {len(rules.rules)} rules in {files} files")
    summary = run_rule_tests(rules)
    if summary.failures:
        print_problems(summary.failures)
        echo(f"tests: {summary.passed} passed, {len(summary.failures)} failed")
        return 2
    echo(f"tests: {summary.passed} passed, 0 failed")
    return 0


def notifiers_for_check(path: Path) -> tuple[set[str] | None, str]:
    """The notifiers a rule may name: the config's, when there is a config that loads."""
    if not path.exists():
        return None, f" (notifiers not checked: no {path})"
    try:
        return {n.id for n in read_config(path).notifiers}, ""
    except UserError:
        return None, f" (notifiers not checked: {path} has errors, see `check --config`)"


def cmd_match(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    matched = False
    inputs = Inputs(args.inputs)
    for name, article in inputs:
        for match in rules.match(article):
            matched = True
            if args.format == "json":
                echo(json_line(match_record(name, article, match)))
            else:
                words = ", ".join(dict.fromkeys(h.text for h in match.hits))
                echo(f"{name}: {match.rule.id} [{match.rule.severity}] {article.title!r} ({words})")
    return inputs.exit_code(matched)


def match_record(name: str, article: Article, match: Match) -> dict[str, object]:
    record: dict[str, object] = {"input": name}
    if article.guid:
        record["id"] = article.guid
    record["title"] = article.title
    if article.published_at:
        record["published"] = article.published_at.astimezone(UTC).isoformat()
    rule = match.rule
    record |= {
        "rule": rule.id,
        "severity": rule.severity,
        "hits": [
            {"field": h.field, "start": h.start, "end": h.end, "text": h.text} for h in match.hits
        ],
    }
    return record


def cmd_explain(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    rule = rules.get(args.rule)
    if rule is None:
        hint = did_you_mean(args.rule, [r.id for r in rules.rules])
        raise UserError([Problem("explain", f"no rule with id `{args.rule}`", hint=hint)])
    colour = sys.stdout.isatty()
    matched = False
    inputs = Inputs(args.inputs)
    for name, article in inputs:
        evaluator = rules.evaluator(article)
        result = evaluator.evaluate(rule.root, rule.fields)
        decided, semantic = semantic_lines(rule, article, result.matched)
        matched |= decided
        verdict = "matches" if decided else "does not match"
        echo(f"{name}: {rule.id} {verdict} {article.title!r}")
        echo("\n".join("  " + line for line in tree(evaluator, rule.root, rule.fields)))
        if semantic:
            echo("\n".join("  " + line for line in semantic))
        for line in highlighted(evaluator, result.hits, colour):
            # not echo: our colour codes around article text, cleaned when the Article was made
            print("  " + line.replace("\n", "\n    "))
    return inputs.exit_code(matched)


def cmd_eval(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    try:
        lines = args.labelled.read_text(encoding="utf-8").splitlines()
        cases = read_labelled(lines, str(args.labelled))
    except OSError as exc:
        raise UserError([Problem(str(args.labelled), f"cannot read: {exc.strerror}")]) from None
    except SourceError as exc:
        raise UserError([Problem(str(args.labelled), str(exc))]) from None
    echo(
        f"{'rule':<24} {'precision':>9} {'recall':>7}  {'tp':>4} {'fp':>4} {'fn':>4}  misclassified"
    )
    worst = 1.0
    for score in evaluate(rules, cases):
        wrong = [f"+{i}" for i in score.false_positives] + [f"-{i}" for i in score.false_negatives]
        echo(
            f"{score.rule_id:<24} {score.precision:>9.2f} {score.recall:>7.2f}  "
            f"{score.true_positives:>4} {len(score.false_positives):>4} "
            f"{len(score.false_negatives):>4}  {' '.join(wrong)}"
        )
        worst = min(worst, score.precision, score.recall)
    echo(f"{len(cases)} labelled articles; +id matched but was not expected, -id was missed")
    if args.semantic_compare:
        echo("\n".join(semantic_table(compare_semantic(rules, cases))))
    return 1 if worst < args.min else 0
