"""`trade-monitor`: run the daemon, check config and rules, match files, show status.

Exit codes: 0 all well; 1 a poll or delivery failed (`run --once`), nothing
matched (`match`, `explain`), a score under --min (`eval`) or no alert was dead
(alerts retry); 2 a mistake in config, rules or arguments, always shown as
file:line messages and never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor import __version__
from monitor.article import Article, terminal_safe
from monitor.config import Config, load_config
from monitor.errors import Problem, UserError, did_you_mean
from monitor.logs import json_line, redact, redacted, setup_logging
from monitor.match import Match, RuleSet, load_rules
from monitor.match.evaluate import evaluate, read_labelled
from monitor.match.explain import highlighted, tree
from monitor.match.ruletests import run_rule_tests
from monitor.settings import parse_duration
from monitor.sources import SourceError
from monitor.sources.formats import READERS, read_json_lines, read_path
from monitor.store import Store, open_store, sqlite_path
from monitor.store.outbox import STATUSES
from monitor.yamlsrc import load_yaml

log = logging.getLogger("monitor")
DEFAULT_CONFIG = os.environ.get("TRADE_MONITOR_CONFIG", "config.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(getattr(args, "log_format", "text"), getattr(args, "log_level", "INFO"))
    try:
        code = int(args.command(args))
        sys.stdout.flush()  # here, so a reader gone early is a BrokenPipeError we can catch
        return code
    except UserError as exc:
        print_problems(exc.problems)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return quiet_exit()
    except OSError as exc:
        if exc.errno not in OUTPUT_FULL:
            raise
        print(f"error: cannot write the output: {exc.strerror}", file=sys.stderr)
        return quiet_exit()


OUTPUT_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EIO)  # `> /dev/full`, a full disk


def quiet_exit() -> int:
    """stdout was closed early (`... | head`): end quietly, as the Python docs advise,
    pointing stdout at devnull so that the flush at exit raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


def echo(text: str = "", *, err: bool = False) -> None:
    """Print a line with its control characters shown escaped (titles, server errors and
    file names come from outside, and an escape sequence would rewrite the terminal), and
    with every secret of the config read replaced by `***`."""
    print(redacted(terminal_safe(text)), file=sys.stderr if err else sys.stdout)


def alert_id(text: str) -> int:
    """A positive integer that SQLite can hold, for ids and counts given on the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {2**63 - 1}, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="trade-monitor", description="Watch trade and policy news; alert on rule matches."
    )
    top.add_argument("--version", action="version", version=f"trade-monitor {__version__}")
    commands = top.add_subparsers(dest="name", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    add_config(run)
    run.add_argument("--once", action="store_true", help="poll every source once, deliver, exit")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(command=cmd_run)

    check = commands.add_parser("check", help="validate config and rules, run the rules' tests")
    add_config(check)
    check.add_argument("--rules", type=Path, action="append", help="rule files or folders")
    check.set_defaults(command=cmd_check)

    match = commands.add_parser("match", help="run rules against article files or JSON lines")
    source = match.add_mutually_exclusive_group()
    source.add_argument("--rules", type=Path, action="append", help="rule files or folders")
    add_config(source)
    match.add_argument("--format", choices=["text", "json"], default="text")
    match.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, or - for stdin")
    match.set_defaults(command=cmd_match)

    explain = commands.add_parser("explain", help="why a rule does or does not match an article")
    source = explain.add_mutually_exclusive_group()
    source.add_argument("--rules", type=Path, action="append", help="rule files or folders")
    add_config(source)
    explain.add_argument("rule", metavar="RULE", help="the rule id")
    explain.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files, folders, or - for stdin"
    )
    explain.set_defaults(command=cmd_explain)

    evaluation = commands.add_parser("eval", help="precision and recall on labelled articles")
    source = evaluation.add_mutually_exclusive_group()
    source.add_argument("--rules", type=Path, action="append", help="rule files or folders")
    add_config(source)
    evaluation.add_argument("labelled", type=Path, metavar="LABELLED.jsonl")
    evaluation.add_argument(
        "--min", type=float, default=0.0, help="exit 1 if any rule's precision or recall is lower"
    )
    evaluation.set_defaults(command=cmd_eval)

    backtest = commands.add_parser(
        "backtest", help="run the rules over stored articles: what would have fired?"
    )
    add_config(backtest)
    backtest.add_argument("--rule", action="append", metavar="ID", help="only this rule")
    backtest.add_argument("--since", default="30d", help="how far back (default 30d)")
    backtest.set_defaults(command=cmd_backtest)

    alerts = commands.add_parser("alerts", help="list alerts with their state; retry dead ones")
    add_config(alerts)
    alerts.add_argument("--status", choices=STATUSES, help="only alerts in this state")
    alerts.add_argument(
        "--limit", type=alert_id, default=50, help="how many, newest first (default 50)"
    )
    alerts.set_defaults(command=cmd_alerts)
    actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="queue dead alerts again")
    add_config(retry)
    retry.add_argument("ids", nargs="*", type=alert_id, metavar="ID", help="alert ids")
    retry.add_argument("--all-dead", action="store_true", help="every dead alert")
    retry.set_defaults(command=cmd_retry)

    status = commands.add_parser("status", help="sources, outbox and recent alerts")
    add_config(status)
    status.set_defaults(command=cmd_status)
    return top


def add_config(command: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    """`--config`, with no default: a subcommand's default would overwrite the value given
    to its parent (`alerts --config prod.yaml retry` would act on ./config.yaml)."""
    command.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"config file (default: {DEFAULT_CONFIG})",
    )


def config_path(args: argparse.Namespace) -> Path:
    return getattr(args, "config", None) or Path(DEFAULT_CONFIG)


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        echo(f"error: {problem}", err=True)
    count = len(problems)
    echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)


def read_config(path: Path) -> Config:
    """The config, its secrets (found by their type) kept out of every line printed or logged."""
    config = load_config(path)
    redact(config.secrets())
    return config


def load_all(path: Path) -> tuple[Config, RuleSet]:
    """Config and rules, with every problem of both reported together."""
    problems: list[Problem] = []
    config = rules = None
    try:
        config = read_config(path)
    except UserError as exc:
        problems.extend(exc.problems)
    rule_paths = config.rule_paths if config else fallback_rule_paths(path)
    notifier_ids = {n.id for n in config.notifiers} if config else None
    try:
        rules = load_rules(rule_paths, notifier_ids, display_root=path.parent)
    except UserError as exc:
        problems.extend(exc.problems)
    if problems or config is None or rules is None:
        raise UserError(problems)
    return config, rules


def fallback_rule_paths(path: Path) -> list[Path]:
    """Where the rules are when the config has errors, so their problems show too."""
    try:
        data = load_yaml(path).data  # its limits on depth and aliases hold here too
    except UserError:
        return []
    paths = data.get("rules", ["rules/"]) if isinstance(data, dict) else ["rules/"]
    return [path.parent / str(p) for p in paths] if isinstance(paths, list) else []


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import run

    config, rules = load_all(config_path(args))
    for notifier_id, missing in config.disabled.items():
        log.warning(
            "notifier %s is off: %s not set",
            notifier_id,
            " and ".join(missing),
            extra={"notifier": notifier_id},
        )
    return run(config, rules, args.once)


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
    failed = False
    for name, article in iter_inputs(args.inputs):
        if article is None:
            failed = True
            continue
        for match in rules.match(article):
            matched = True
            if args.format == "json":
                echo(json_line(match_record(name, article, match)))
            else:
                words = ", ".join(dict.fromkeys(h.text for h in match.hits))
                echo(f"{name}: {match.rule.id} [{match.rule.severity}] {article.title!r} ({words})")
    if failed:
        return 2
    return 0 if matched else 1


def rules_from(args: argparse.Namespace) -> RuleSet:
    return load_rules(args.rules) if args.rules else load_all(config_path(args))[1]


def cmd_explain(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    rule = rules.get(args.rule)
    if rule is None:
        hint = did_you_mean(args.rule, [r.id for r in rules.rules])
        raise UserError([Problem("explain", f"no rule with id `{args.rule}`", hint=hint)])
    colour = sys.stdout.isatty()
    matched = False
    for name, article in iter_inputs(args.inputs):
        if article is None:
            continue
        evaluator = rules.evaluator(article)
        result = evaluator.evaluate(rule.root, rule.fields)
        matched |= result.matched
        verdict = "matches" if result.matched else "does not match"
        echo(f"{name}: {rule.id} {verdict} {article.title!r}")
        echo("\n".join("  " + line for line in tree(evaluator, rule.root, rule.fields)))
        for line in highlighted(evaluator, result.hits, colour):
            # not echo: our colour codes around article text, cleaned when the Article was made
            print("  " + line.replace("\n", "\n    "))
    return 0 if matched else 1


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


def iter_inputs(inputs: Sequence[str]) -> Iterator[tuple[str, Article | None]]:
    """(input name, article) for each article; (name, None) after reporting an unreadable one."""
    for item in inputs:
        if item == "-":
            try:
                for i, article in enumerate(read_json_lines(stdin_lines(), "stdin"), 1):
                    yield f"-:{i}", article
            except SourceError as exc:
                echo(f"error: stdin: {exc}", err=True)
                yield "-", None
            continue
        path = Path(item)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in READERS and p.is_file())
        for file in files if path.is_dir() else [path]:
            try:
                articles = read_path(file, "files")
            except SourceError as exc:
                echo(
                    f"error: {file.parent}/{exc}" if file.parent != Path() else f"error: {exc}",
                    err=True,
                )
                yield str(file), None
                continue
            for article in articles:
                yield str(file), article


def stdin_lines() -> Iterator[str]:
    """Standard input as UTF-8 lines, whatever the locale says (it may say ASCII, or let
    bad bytes through as surrogates); SourceError at the first line that is not UTF-8."""
    for number, line in enumerate(sys.stdin.buffer, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"line {number}: not UTF-8 text") from None


def open_state(args: argparse.Namespace) -> Store | None:
    config = read_config(config_path(args))
    if not sqlite_path(config.state, config.base_dir).exists():
        echo("no state yet: the daemon has not run with this config")
        return None
    return open_store(config.state, config.base_dir)


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
    return 1 if worst < args.min else 0


def cmd_backtest(args: argparse.Namespace) -> int:
    rules = load_all(config_path(args))[1]
    if args.rule:
        unknown = [r for r in args.rule if rules.get(r) is None]
        if unknown:
            hint = did_you_mean(unknown[0], [r.id for r in rules.rules])
            raise UserError([Problem("backtest", f"no rule with id `{unknown[0]}`", hint=hint)])
        rules = RuleSet([r for r in rules.rules if r.id in args.rule], rules.lists)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise UserError([Problem("backtest --since", str(exc))]) from None
    store = open_state(args)
    if store is None:
        return 0
    try:
        articles = store.articles_since(time.time() - since)
    finally:
        store.close()
    fired: dict[str, int] = {}
    for done, article in enumerate(articles, 1):
        for match in rules.match(article):
            fired[match.rule.id] = fired.get(match.rule.id, 0) + 1
            when = article.when.strftime("%Y-%m-%d %H:%M")
            echo(f"{when}  {match.rule.id:<22} {article.title[:80]}  {article.url}".rstrip())
        progress(done, len(articles))
    counts = ", ".join(f"{rule} {n}" for rule, n in sorted(fired.items())) or "nothing"
    echo(f"{len(articles)} articles since {args.since} ago; would have fired: {counts}",
         err=True)  # fmt: skip
    return 0


def progress(done: int, total: int) -> None:
    """A progress bar on a terminal; nothing when stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        return
    filled = 30 * done // max(total, 1)
    end = "\n" if done == total else ""
    print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end=end, file=sys.stderr)


def cmd_alerts(args: argparse.Namespace) -> int:
    store = open_state(args)
    if store is None:
        return 0
    try:
        rows = store.outbox.recent(args.limit, args.status)
    finally:
        store.close()
    echo(
        f"{'id':>6}  {'status':<10} {'notifier':<12} {'tries':>5}  {'queued':<16}  rules / headline"
    )
    for row in rows:
        queued = datetime.fromtimestamp(row.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        rules = ",".join(r.id for r in row.alert.rules)
        echo(
            f"{row.id:>6}  {row.status:<10} {row.notifier_id:<12} {row.attempts:>5}  {queued:<16}"
            f"  {rules}: {row.alert.title[:70]}"
        )
        if row.last_error and row.status != "sent":
            echo(f"{'':>8}last error: {row.last_error}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all_dead:
        raise UserError([Problem("alerts retry", "name alert ids, or --all-dead")])
    store = open_state(args)
    if store is None:
        return 0
    try:
        count = store.outbox.requeue(args.ids, all_dead=args.all_dead)
    finally:
        store.close()
    echo(f"{count} dead alert{'s' if count != 1 else ''} queued again")
    return 0 if count or args.all_dead else 1


def cmd_status(args: argparse.Namespace) -> int:
    config = read_config(config_path(args))
    store = open_state(args)
    if store is None:
        return 0
    try:
        print_status(config, store)
    finally:
        store.close()
    return 0


def print_status(config: Config, store: Store) -> None:
    states = {s.source_id: s for s in store.source_states()}
    echo("sources:")
    for source in config.sources:
        state = states.get(source.id)
        if state is None or state.last_poll_at is None:
            echo(f"  {source.id:<28} never polled")
            continue
        result = (
            "ok" if not state.error_streak else f"failing x{state.error_streak}: {state.last_error}"
        )
        echo(
            f"  {source.id:<28} last poll {ago(state.last_poll_at)}, {result},"
            f" {state.item_count} items ({state.new_count} new)"
        )
    if live := store.get_meta("rules"):
        echo(
            f"rules: {live['version']} ({live['rules']} rules in {live['files']} files),"
            f" loaded {ago(live['loaded_at'])}"
        )
    if timeouts := store.get_meta("regex_timeouts"):
        listed = ", ".join(f"{rule} {n}" for rule, n in sorted(timeouts.items()))
        echo(f"regex timeouts (article skipped by that rule): {listed}")
    counts = store.outbox.counts()
    shown = [f"{n} {status}" for status, n in counts.items() if n or status in ("pending", "sent")]
    echo("outbox: " + ", ".join(shown))
    echo("last alerts:")
    for row in store.outbox.recent(10):
        rules = ",".join(r.id for r in row.alert.rules)
        echo(
            f"  #{row.id} {row.status:<7} {row.notifier_id:<12} {rules:<24} {row.alert.title[:70]}"
        )


def ago(timestamp: float) -> str:
    seconds = max(0, int(time.time() - timestamp))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
