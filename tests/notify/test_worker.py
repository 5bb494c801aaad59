import asyncio
import threading

import pytest

from monitor.notify.worker import Worker


def test_jobs_run_one_at_a_time_on_the_workers_own_daemon_thread():
    worker = Worker("w-test")

    async def main():
        return await asyncio.gather(*(worker.run(threading.current_thread) for _ in "ab"))

    first, second = asyncio.run(main())
    assert first is second and first.name == "w-test" and first.daemon


def test_a_jobs_exception_reaches_the_caller():
    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(Worker("w-fail").run(fail))


def test_a_job_abandoned_before_it_started_never_runs():
    worker, release, ran = Worker("w-busy"), threading.Event(), []

    async def main():
        busy = asyncio.ensure_future(worker.run(release.wait))
        waiting = asyncio.ensure_future(worker.run(lambda: ran.append(1)))
        await asyncio.sleep(0.05)
        waiting.cancel()  # as the dispatcher's deadline does
        await asyncio.sleep(0.05)  # the loop passes the cancel on to the worker's queue
        release.set()
        await busy
        await worker.run(lambda: None)  # the queue has moved past the abandoned job

    asyncio.run(main())
    assert ran == []
