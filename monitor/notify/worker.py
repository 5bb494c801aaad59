"""A blocking notifier's own thread: one per notifier, one send at a time.

smtplib and Apprise block. Run on the event loop's shared executor, a peer
that never finishes answering would hold one of its threads per attempt until
DNS lookups and every other blocking client starve. With a thread of its own,
a stuck send holds only that thread and delays only its notifier (whose sends
wait behind it, each under the dispatcher's deadline), and since the thread is
a daemon it never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
Job = tuple[Future[Any], Callable[[], Any]]


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` on this worker's thread. Cancelling the await drops a job not yet
        started; one already running goes on (the caller ends it if it can)."""
        future: Future[T] = Future()
        self.jobs.put((future, job))
        self._start()
        return await asyncio.wrap_future(future)

    def _start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self.thread.start()

    def _serve(self) -> None:
        while True:
            future, job = self.jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its send was abandoned before it started
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the awaiting send, as asyncio would
                future.set_exception(exc)
