"""`run`: the daemon, or one poll and delivery with `--once`."""

from __future__ import annotations

import argparse
import logging

from monitor import start
from monitor.cli.common import config_path, load_all

log = logging.getLogger("monitor")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], config: argparse.ArgumentParser
) -> None:
    run = commands.add_parser("run", help="run the daemon", parents=[config])
    run.add_argument("--once", action="store_true", help="poll every source once, deliver, exit")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(command=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    # A SIGTERM while the program loads, the config and rules load and the store opens
    # (seconds, on a busy machine) is kept and honoured once the daemon runs, not a death
    # by signal (monitor/start.py). `--once` ends by itself: signals act as usual.
    early: list[int] = []
    if args.once:
        start.release()
    else:
        early = start.keep()
    from monitor.daemon import run

    config, rules = load_all(config_path(args))
    for notifier_id, missing in config.disabled.items():
        log.warning(
            "notifier %s is off: %s not set",
            notifier_id,
            " and ".join(missing),
            extra={"notifier": notifier_id},
        )
    return run(config, rules, args.once, early)
