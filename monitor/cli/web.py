"""`trade-monitor web`: the desk's web page against the config's state, without polling.

The same app the daemon mounts on its `http:` listener (monitor/web/), for a
host that only reads the state (a PostgreSQL state the daemons share, or a
SQLite file while its daemon runs, or after it stopped). The rules are read
once at start.
"""

from __future__ import annotations

import argparse
import logging
import threading

from monitor.cli.common import config_path, echo, load_all
from monitor.errors import Problem, UserError
from monitor.listener import Listener, parse_listen, split_listen
from monitor.store import open_store, sqlite_path
from monitor.web import WebApp

log = logging.getLogger("monitor")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], config: argparse.ArgumentParser
) -> None:
    web = commands.add_parser(
        "web", help="serve the web page (alerts, sources, rules, playground)", parents=[config]
    )
    web.add_argument(
        "--listen",
        metavar="ADDRESS",
        help="port or host:port (default: the config's http:, else 127.0.0.1:9464)",
    )
    web.set_defaults(command=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    config, rules = load_all(config_path(args))
    try:
        address = parse_listen(args.listen) if args.listen else None
    except ValueError as exc:
        raise UserError([Problem("web --listen", str(exc))]) from None
    host, port = split_listen(address) if address else (config.http or ("127.0.0.1", 9464))
    path = sqlite_path(config.state, config.base_dir)
    if path is not None and not path.exists():
        hint = "run the daemon first (trade-monitor run), or check state: in the config"
        raise UserError([Problem(str(path), "no state yet: nothing to show", hint=hint)])
    app = WebApp(config, lambda: rules, open_store(config.state, config.base_dir))
    try:
        listener = Listener((host, port), app, str(config.path))
        shown = f"[{host}]" if ":" in host else host
        echo(f"the web page is at http://{shown}:{listener.port}/ (Ctrl-C stops it)")
        try:
            threading.Event().wait()
        finally:
            listener.stop()
    finally:
        app.close()
    return 0
