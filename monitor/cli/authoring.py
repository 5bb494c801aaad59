"""Writing rules: `check`, `match`, `explain`, `eval` and `suggest`."""

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
from monitor.match.diagnose import Reason
from monitor.match.evaluate import (
    Case,
    RuleScore,
    compare_semantic,
    evaluate,
    explain_scores,
    read_labelled,
    semantic_table,
)
from monitor.match.explain import highlighted, semantic_lines, tree
from monitor.match.rules import Rule, RuleSet
from monitor.match.ruletests import run_rule_tests
from monitor.match.suggest import Report, Score, suggest
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
    evaluation.add_argument("--format", choices=["text", "json"], default="text")
    evaluation.add_argument(
        "--semantic-compare",
        action="store_true",
        help="also score rules with `about:` keyword-only, keyword+semantic and semantic-only",
    )
    evaluation.set_defaults(command=cmd_eval)

    suggestion = commands.add_parser(
        "suggest",
        help="edits to a rule's query that fix its mistakes on labelled articles",
        parents=[rules_or_config],
    )
    suggestion.add_argument("rule", metavar="RULE", help="the rule id")
    suggestion.add_argument("labelled", type=Path, metavar="LABELLED.jsonl")
    suggestion.add_argument("--top", type=positive, default=5, help="how many edits to show")
    suggestion.add_argument(
        "--min-support",
        type=positive,
        default=2,
        help="a proposed term must occur in at least this many of the articles it fixes",
    )
    suggestion.add_argument("--format", choices=["text", "json"], default="text")
    suggestion.set_defaults(command=cmd_suggest)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return number


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


def rule_named(rules: RuleSet, rule_id: str, command: str) -> Rule:
    rule = rules.get(rule_id)
    if rule is None:
        hint = did_you_mean(rule_id, [r.id for r in rules.rules])
        raise UserError([Problem(command, f"no rule with id `{rule_id}`", hint=hint)])
    return rule


def cmd_explain(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    rule = rule_named(rules, args.rule, "explain")
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
    cases = labelled_cases(args.labelled)
    scores = evaluate(rules, cases)
    reasons = explain_scores(rules, cases, scores)
    if args.format == "json":
        for score in scores:
            echo(json_line(score_record(score, reasons.get(score.rule_id, []))))
    else:
        print_scores(scores, len(cases))
        for score in scores:
            print_reasons(score.rule_id, reasons.get(score.rule_id, []))
        if args.semantic_compare:
            echo("\n".join(semantic_table(compare_semantic(rules, cases))))
    worst = min((min(s.precision, s.recall) for s in scores), default=1.0)
    return 1 if worst < args.min else 0


def labelled_cases(path: Path) -> list[Case]:
    try:
        return read_labelled(path.read_text(encoding="utf-8").splitlines(), str(path))
    except OSError as exc:
        raise UserError([Problem(str(path), f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise UserError([Problem(str(path), "not UTF-8 text")]) from None
    except SourceError as exc:
        raise UserError([Problem(str(path), str(exc))]) from None


def print_scores(scores: list[RuleScore], cases: int) -> None:
    echo(
        f"{'rule':<24} {'precision':>9} {'recall':>7}  {'tp':>4} {'fp':>4} {'fn':>4}  misclassified"
    )
    for score in scores:
        wrong = [f"+{i}" for i in score.false_positives] + [f"-{i}" for i in score.false_negatives]
        echo(
            f"{score.rule_id:<24} {score.precision:>9.2f} {score.recall:>7.2f}  "
            f"{score.true_positives:>4} {len(score.false_positives):>4} "
            f"{len(score.false_negatives):>4}  {' '.join(wrong)}"
        )
    echo(f"{cases} labelled articles; +id matched but was not expected, -id was missed")


def print_reasons(rule_id: str, reasons: list[Reason]) -> None:
    """Why each misclassified article went wrong, under the rule's id."""
    if not reasons:
        return
    echo(f"\n{rule_id}")
    for reason in reasons:
        sign = "-" if reason.kind == "missed" else "+"
        echo(f"  {sign}{reason.case_id}  {reason.kind}: {reason.detail}")
        if reason.kind == "false alarm":
            echo(f"      fired: {reason.part}")
        if reason.sentence:
            echo(f"      sentence: {reason.sentence}")
        if reason.synonyms:
            echo(f"      likely synonyms: {'; '.join(reason.synonyms)}")


def score_record(score: RuleScore, reasons: list[Reason]) -> dict[str, object]:
    return {
        "rule": score.rule_id,
        "precision": round(score.precision, 4),
        "recall": round(score.recall, 4),
        "tp": score.true_positives,
        "fp": len(score.false_positives),
        "fn": len(score.false_negatives),
        "false_negatives": [r.record() for r in reasons if r.kind == "missed"],
        "false_positives": [r.record() for r in reasons if r.kind != "missed"],
    }


def cmd_suggest(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    rule = rule_named(rules, args.rule, "suggest")
    report = suggest(rules, rule, labelled_cases(args.labelled), args.top, args.min_support)
    if args.format == "json":
        echo(json_line(suggest_record(report)))
        return 0
    now = report.score
    echo(f"{report.rule_id} on {args.labelled}: {report.positives} expected, "
         f"{report.negatives} not")  # fmt: skip
    echo(f"now: {score_line(now)}")
    echo(f"query: {report.query}")
    echo(f"terms are proposed only if they occur in at least {report.min_support} of the "
         "articles they fix (--min-support)")  # fmt: skip
    if not report.suggestions:
        echo("no edit found that fixes more than it breaks on this set")
    for rank, found in enumerate(report.suggestions, 1):
        fixes = f"catches {found.gained} missed, removes {found.removed} false alarms"
        harm = f"; adds {found.added} false alarms, loses {found.lost} matches"
        echo(f"\n{rank}. {found.change}")
        echo(f"   {score_line(found.score)}: {fixes}{harm if found.added + found.lost else ''}")
        echo(f"   why: {found.evidence}")
        echo(f"   query: {found.query}")
    return 0


def score_line(score: Score) -> str:
    return (
        f"precision {score.precision:.2f} recall {score.recall:.2f} "
        f"(tp {score.tp}, fp {score.fp}, fn {score.fn})"
    )


def suggest_record(report: Report) -> dict[str, object]:
    return {
        "rule": report.rule_id,
        "query": report.query,
        "precision": round(report.score.precision, 4),
        "recall": round(report.score.recall, 4),
        "tp": report.score.tp,
        "fp": report.score.fp,
        "fn": report.score.fn,
        "min_support": report.min_support,
        "suggestions": [s.record() for s in report.suggestions],
    }
