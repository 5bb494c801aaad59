"""A daemon that stops answering (SIGSTOP, a paused VM, a network partition) inside a
serial transaction. kill -9 closes its socket and PostgreSQL frees its locks; a frozen
daemon keeps its session, and its advisory lock held every other daemon's serial
transactions (each poll's record, retention, digests) until the kernel gave up on the
socket, about two hours. The server now ends a transaction idle for 10 s."""

from __future__ import annotations

import threading

import psycopg
import pytest

from monitor.store import open_store


def test_a_frozen_daemon_does_not_stop_every_other_daemon(postgres_url, tmp_path):
    frozen, alive = open_store(postgres_url, tmp_path), open_store(postgres_url, tmp_path)
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (alive.record_failure("wire", "timed out"), done.set()), daemon=True
    )

    def freeze_mid_record() -> bool:
        with frozen.db.transaction():  # takes the serial lock, then says nothing more
            worker.start()
            return done.wait(timeout=30)  # the idle frozen one is ended after 10 s

    try:
        with pytest.raises(psycopg.Error):  # told at its COMMIT: rolled back
            freeze_mid_record()
        assert done.wait(timeout=30), "a serial transaction waited on a frozen daemon's lock"
        assert alive.source_state("wire").error_streak == 1
    finally:
        worker.join(timeout=10)
        frozen.close()
        alive.close()
