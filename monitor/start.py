"""The program's first instant: SIGTERM and SIGINT are kept from here on.

Importing the program takes a second or more on a busy machine; a daemon sent
SIGTERM meanwhile (restarted, then stopped at once, by a supervisor or by the
chaos test in CI) died by the signal instead of stopping. So the entry points
keep those signals before importing anything heavy: `run` hands them to the
daemon, which stops as soon as it runs; every other command gets them back at
once, as if nothing had been kept. Standard library only, on purpose.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

KEPT: list[int] = []
_KEEPING = False


def keep() -> list[int]:
    """Keep SIGTERM and SIGINT from now on; returns the list they are kept in."""
    global _KEEPING
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _kept)
    _KEEPING = True
    return KEPT


def release() -> None:
    """Back to the default handling; a signal kept meanwhile is delivered now."""
    global _KEEPING
    if not _KEEPING:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _KEEPING = False
    pending = list(dict.fromkeys(KEPT))
    KEPT.clear()
    for signum in pending:
        os.kill(os.getpid(), signum)


def _kept(signum: int, frame: FrameType | None) -> None:
    KEPT.append(signum)


def main() -> int:
    """The `trade-monitor` command."""
    keep()
    from monitor.cli import main as cli_main

    return cli_main()
