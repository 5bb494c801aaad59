"""What the daemon stored: `backtest`, `alerts` (and `alerts retry`) and `status`."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from monitor.cli.common import alert_id, config_path, echo, load_all, read_config, state
from monitor.config import Config
from monitor.errors import Problem, UserError, did_you_mean
from monitor.match import RuleSet
from monitor.settings import parse_duration, rough_duration
from monitor.store import Store
from monitor.store.outbox import STATUSES


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], config: argparse.ArgumentParser
) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="run the rules over stored articles: what would have fired?",
        parents=[config],
    )
    backtest.add_argument("--rule", action="append", metavar="ID", help="only this rule")
    backtest.add_argument("--since", default="30d", help="how far back (default 30d)")
    backtest.set_defaults(command=cmd_backtest)

    alerts = commands.add_parser(
        "alerts", help="list alerts with their state; retry dead ones", parents=[config]
    )
    alerts.add_argument("--status", choices=STATUSES, help="only alerts in this state")
    alerts.add_argument(
        "--limit", type=alert_id, default=50, help="how many, newest first (default 50)"
    )
    alerts.set_defaults(command=cmd_alerts)
    actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="queue dead alerts again", parents=[config])
    retry.add_argument("ids", nargs="*", type=alert_id, metavar="ID", help="alert ids")
    retry.add_argument("--all-dead", action="store_true", help="every dead alert")
    retry.set_defaults(command=cmd_retry)

    status = commands.add_parser(
        "status", help="sources, outbox and recent alerts", parents=[config]
    )
    status.set_defaults(command=cmd_status)


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
    fired: dict[str, int] = {}
    done = 0
    with state(args) as store:
        if store is None:
            return 0
        start = time.time() - since
        # Streamed in batches, matched as read: memory stays flat in the store's size.
        total = store.count_articles_since(start) if sys.stderr.isatty() else 0
        for done, article in enumerate(store.articles_since(start), 1):
            for match in rules.match(article):
                fired[match.rule.id] = fired.get(match.rule.id, 0) + 1
                when = article.when.strftime("%Y-%m-%d %H:%M")
                echo(f"{when}  {match.rule.id:<22} {article.title[:80]}  {article.url}".rstrip())
            progress(done, max(total, done))
    counts = ", ".join(f"{rule} {n}" for rule, n in sorted(fired.items())) or "nothing"
    echo(f"{done} articles since {args.since} ago; would have fired: {counts}",
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
    with state(args) as store:
        if store is None:
            return 0
        rows = store.outbox.recent(args.limit, args.status)
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
    with state(args) as store:
        if store is None:
            return 0
        count = store.outbox.requeue(args.ids, all_dead=args.all_dead)
    echo(f"{count} dead alert{'s' if count != 1 else ''} queued again")
    return 0 if count or args.all_dead else 1


def cmd_status(args: argparse.Namespace) -> int:
    config = read_config(config_path(args))
    with state(args) as store:
        if store is None:
            return 0
        print_status(config, store)
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
        line = (
            f"  {source.id:<28} last poll {ago(state.last_poll_at)}, {result},"
            f" {state.item_count} items ({state.new_count} new)"
        )
        if state.next_due_at and state.next_due_at > time.time():
            next_poll = "next try" if state.error_streak else "next poll"
            line += f"; {next_poll} {until(state.next_due_at)} ({state.due_reason or 'due'})"
        echo(line)
    if live := store.get_meta("rules"):
        echo(
            f"rules: {live['version']} ({live['rules']} rules in {live['files']} files),"
            f" loaded {ago(live['loaded_at'])}"
        )
    print_daemons(store)
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


def print_daemons(store: Store) -> None:
    """The daemons heard from lately; a warning when they run different rules."""
    running = store.sharing.daemons()
    if not running:
        return
    echo("daemons:")
    for daemon in running:
        echo(
            f"  {daemon.host} pid {daemon.pid}: {daemon.version}, rules {daemon.rules},"
            f" up since {ago(daemon.started_at)}, last heartbeat {ago(daemon.seen_at)}"
        )
    if len({daemon.rules for daemon in running}) > 1:
        echo(
            "warning: the daemons run different rule files (the rules hashes differ):"
            " deploy the same rules to every host",
            err=True,
        )


def until(timestamp: float) -> str:
    return f"in {rough_duration(timestamp - time.time())}"


def ago(timestamp: float) -> str:
    seconds = max(0, int(time.time() - timestamp))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
