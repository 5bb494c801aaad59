"""`trade-monitor`: run the daemon, check config and rules, match files, show status.

Exit codes: 0 all well; 1 a poll or delivery failed (`run --once`), nothing
matched (`match`, `explain`), a score under --min (`eval`) or no alert was dead
(alerts retry); 2 a mistake in config, rules or arguments, always shown as
file:line messages and never as a traceback; 2 also an input that could not be
read (match, explain): it is reported as file:line and the other inputs are
still read.

One module per command group: run.py (`run`), authoring.py (`check`, `match`,
`explain`, `eval`, `suggest`, with inputs.py reading their articles), stored.py (`backtest`,
`alerts`, `alerts retry`, `status`), catalog.py (`sources`), web.py (`web`); common.py
holds what they share.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from monitor import __version__, start
from monitor.cli import authoring, catalog, run, stored, web
from monitor.cli.common import (
    config_option,
    echo,
    load_all,
    print_problems,
    read_config,
    rules_or_config_options,
)
from monitor.errors import UserError
from monitor.logs import setup_logging

__all__ = ["echo", "load_all", "main", "parser", "read_config"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is not run.cmd_run:
        start.release()  # signals kept since the program started act now (monitor/start.py)
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="trade-monitor", description="Watch trade and policy news; alert on rule matches."
    )
    top.add_argument("--version", action="version", version=f"trade-monitor {__version__}")
    commands = top.add_subparsers(dest="name", required=True, metavar="COMMAND")
    config, rules_or_config = config_option(), rules_or_config_options()
    run.add_commands(commands, config)
    authoring.add_commands(commands, config, rules_or_config)
    stored.add_commands(commands, config)
    catalog.add_commands(commands)
    web.add_commands(commands, config)
    return top
