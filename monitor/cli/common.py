"""What every command group shares: printing, the `--config`/`--rules` options, loading
config and rules with every problem reported together, and the state as a context."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from monitor.article import terminal_safe
from monitor.config import Config, load_config
from monitor.errors import Problem, UserError
from monitor.logs import redact, redacted
from monitor.match import RuleSet, load_rules
from monitor.store import Store, open_store, sqlite_path
from monitor.yamlsrc import load_yaml

DEFAULT_CONFIG = os.environ.get("TRADE_MONITOR_CONFIG", "config.yaml")


def echo(text: str = "", *, err: bool = False) -> None:
    """Print a line with its control characters shown escaped (titles, server errors and
    file names come from outside, and an escape sequence would rewrite the terminal), and
    with every secret of the config read replaced by `***`."""
    print(redacted(terminal_safe(text)), file=sys.stderr if err else sys.stdout)


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        echo(f"error: {problem}", err=True)
    count = len(problems)
    echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)


def alert_id(text: str) -> int:
    """A positive integer that SQLite can hold, for ids and counts given on the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {2**63 - 1}, got {text}")
    return value


# The options, written once and shared through `add_parser(..., parents=[...])`.


def add_config(command: argparse._ActionsContainer) -> None:
    """`--config`, with no default: a subcommand's default would overwrite the value given
    to its parent (`alerts --config prod.yaml retry` would act on ./config.yaml)."""
    command.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"config file (default: {DEFAULT_CONFIG})",
    )


def add_rules(command: argparse._ActionsContainer) -> None:
    command.add_argument("--rules", type=Path, action="append", help="rule files or folders")


def config_option() -> argparse.ArgumentParser:
    """The parent parser of every command that reads the config: `--config`."""
    parent = argparse.ArgumentParser(add_help=False)
    add_config(parent)
    return parent


def rules_or_config_options() -> argparse.ArgumentParser:
    """The parent parser of the commands that need only rules: `--rules PATH | --config PATH`."""
    parent = argparse.ArgumentParser(add_help=False)
    source = parent.add_mutually_exclusive_group()
    add_rules(source)
    add_config(source)
    return parent


def config_path(args: argparse.Namespace) -> Path:
    return getattr(args, "config", None) or Path(DEFAULT_CONFIG)


# Loading.


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


def rules_from(args: argparse.Namespace) -> RuleSet:
    """The rules of `--rules`, or else of the config."""
    return load_rules(args.rules) if args.rules else load_all(config_path(args))[1]


@contextmanager
def state(args: argparse.Namespace) -> Iterator[Store | None]:
    """The config's state, closed at the end of the block; None, after saying so, when
    the daemon has not made one yet (the command then has nothing to show: exit 0)."""
    config = read_config(config_path(args))
    path = sqlite_path(config.state, config.base_dir)
    if path is not None and not path.exists():
        echo("no state yet: the daemon has not run with this config")
        yield None
        return
    store = open_store(config.state, config.base_dir)
    try:
        yield store
    finally:
        store.close()
