"""A real PostgreSQL server for the tests: its own data folder, port and password.

`PostgresServer` runs the machine's PostgreSQL binaries (`pg_config --bindir`,
else /usr/lib/postgresql/*/bin) on a free TCP port of 127.0.0.1, with its unix
socket and data in a temporary folder. The server refuses to run as root, so
under root it runs as the `postgres` user, in a folder that user owns. One
superuser logs in with a password over TCP (scram-sha-256), so tests can check
that a password never shows in an error. fsync is off: the data only has to
survive a clean restart(), not a power cut.

    server = PostgresServer().start()
    url = server.create_database()  # a fresh, empty database: postgresql://...
    server.restart()                # same port, same data, same URLs
    server.close()                  # stops it and removes the folder

Nothing may outlive the test run: every started server is stopped at exit
(atexit), and a server started from the main thread also dies with the process
that started it (Linux PR_SET_PDEATHSIG), even on kill -9. psycopg is imported
only when a server is used, so importing this module never fails.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The prefix of every server folder; .ci/run finds leftover servers by it.
DIR_PREFIX = "trade-monitor-pg-"
RUN_AS = "postgres"  # the account the server runs as when we are root
START_TIMEOUT = 30.0  # seconds for the server to accept connections


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; says why, with its log's tail."""


def find_bindir() -> Path | None:
    """The folder of initdb and postgres, or None when PostgreSQL is not installed."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "postgres")):
            return folder
    return None


def unavailable_reason() -> str | None:
    """Why no test server can run here, or None when one can."""
    if find_bindir() is None:
        return (
            "PostgreSQL is not installed: no initdb/postgres under `pg_config --bindir`, "
            "$PG_BINDIR or /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root, and there is no {RUN_AS!r} user to run PostgreSQL as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def base_dir() -> str:
    """Where server folders go: $PG_TEST_TMPDIR, else /dev/shm when it is a roomy tmpfs
    (databases are created and dropped per test; a shared disk makes that 5-10x slower
    and noisy), else the system's temporary folder."""
    if os.environ.get("PG_TEST_TMPDIR"):
        return os.environ["PG_TEST_TMPDIR"]
    shm = "/dev/shm"
    with contextlib.suppress(OSError):
        if os.access(shm, os.W_OK | os.X_OK) and shutil.disk_usage(shm).free >= 1 << 30:
            return shm
    return tempfile.gettempdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours to signal
    return True


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def remove_stale(base: str) -> None:
    """Remove server folders left by a test process that was killed (kill -9 skips atexit):
    those whose owner process and postmaster are both gone."""
    for folder in Path(base).glob(DIR_PREFIX + "*"):
        owner = _pid_in(folder / "owner.pid")
        if owner is None or _alive(owner):
            continue
        postmaster = _pid_in(folder / "data" / "postmaster.pid")
        if postmaster is None or not _alive(postmaster):
            shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child, after it has become the postgres user
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


_live: set[PostgresServer] = set()
_owner_pid = os.getpid()


@atexit.register
def _stop_all() -> None:
    if os.getpid() != _owner_pid:  # a forked child must not stop its parent's servers
        return
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.close()


class PostgresServer:
    """One throwaway PostgreSQL server. start(), stop(), restart(), close()."""

    def __init__(self, user: str = "monitor", settings: dict[str, str] | None = None) -> None:
        self.user = user
        self.password = "pw-" + secrets.token_hex(12)  # distinctive: easy to look for in errors
        self.host = "127.0.0.1"
        self.port = 0
        self.settings = dict(settings or {})
        self.bindir: Path | None = None
        self.root: Path | None = None  # the temporary folder: data/, the socket, the log
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._owner = pwd.getpwnam(RUN_AS) if os.geteuid() == 0 else None

    # -- paths and URLs ----------------------------------------------------

    @property
    def data(self) -> Path:
        assert self.root is not None, "server not set up: call start()"
        return self.root / "data"

    @property
    def log(self) -> Path:
        assert self.root is not None, "server not set up: call start()"
        return self.root / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        """postgresql://user:password@127.0.0.1:port/dbname"""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except (OSError, AssertionError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- life cycle ----------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the data folder on first use, then start the server and wait until it answers."""
        if self.running:
            return self
        if self.root is None:
            self._init()
        first = self.port == 0
        for attempt in range(3):
            if first:
                self.port = _free_port()
            try:
                self._launch()
                return self
            except PostgresError:
                # Another process may have taken the port between _free_port() and bind().
                if not first or attempt == 2 or "could not bind" not in self.log_tail(10):
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (fast shutdown), keeping its data for a later start()."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0)):
                if proc.poll() is not None:
                    break
                proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(wait)
            if proc.poll() is None:  # last resort: the whole process group is ours
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        finally:
            if proc.stdout:
                proc.stdout.close()

    def restart(self) -> PostgresServer:
        """stop() then start(): same port, same data, so every URL stays valid."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its folder. The object cannot be started again."""
        try:
            self.stop()
        finally:
            _live.discard(self)
            root, self.root = self.root, None
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- databases -----------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database (a copy of template0); returns its URL. About 20-30 ms."""
        if name is None:
            with self._lock:
                name = f"test_{os.getpid()}_{next(self._names)}"
        with self._admin() as conn:
            # FILE_COPY (PostgreSQL 15+) copies a small template faster than the default WAL_LOG.
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0{strategy}')
        return self.url(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database, closing its open connections first (PostgreSQL 13+)."""
        name = urlsplit(name_or_url).path.lstrip("/") if "://" in name_or_url else name_or_url
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals -----------------------------------------------------------

    def _admin(self) -> Any:
        """An autocommit superuser connection over the unix socket (trust: no scram round trip)."""
        import psycopg

        assert self.root is not None, "server not set up: call start()"
        return psycopg.connect(
            host=str(self.root),
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def _as_owner(self) -> dict[str, Any]:
        """subprocess arguments that run a command as the server's account."""
        if self._owner is None:
            return {}
        return {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}

    def _init(self) -> None:
        self.bindir = find_bindir()
        if self.bindir is None:
            raise PostgresError(unavailable_reason() or "PostgreSQL is not installed")
        base = base_dir()
        remove_stale(base)
        root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=base))
        self.root = root
        (root / "owner.pid").write_text(f"{os.getpid()}\n")
        _live.add(self)
        if self._owner is not None:
            os.chown(root, self._owner.pw_uid, self._owner.pw_gid)
        root.chmod(0o700)
        pwfile = root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._owner is not None:
            os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
        pwfile.chmod(0o600)
        command = [
            str(self.bindir / "initdb"),
            f"--pgdata={self.data}",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--auth-local=trust",  # the unix socket lives in our 0700 folder
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=root,
                env=self._env(),
                **self._as_owner(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
            self.close()
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n{tail}")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _launch(self) -> None:
        assert self.bindir is not None and self.root is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
            **self.settings,
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        main_thread = threading.current_thread() is threading.main_thread()
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env(),
                start_new_session=True,  # Ctrl-C reaches pytest, which stops us in order
                # PR_SET_PDEATHSIG is tied to the thread that forks: only from the main one.
                preexec_fn=_die_with_parent if main_thread and sys.platform == "linux" else None,
                **self._as_owner(),
            )
        self.proc = proc
        self._wait_ready(proc)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.proc = None
                raise PostgresError(
                    f"PostgreSQL exited with code {proc.returncode} while starting "
                    f"(port {self.port}, data {self.data}); log tail:\n{self.log_tail()}"
                )
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                last = error
                time.sleep(0.05)
        self.stop()
        raise PostgresError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s "
            f"(last error: {last}); log tail:\n{self.log_tail()}"
        )
