"""What every server process the harness starts needs: a free loopback port, the promise that
it dies with the suite, the last lines of its log for a failure message, and a way to stop one
that outlived the run that started it."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from harness.errors import NotSatisfied
from harness.waiting import eventually

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A loopback port nobody listens on at this moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """``preexec_fn`` of a child: SIGTERM if the suite dies without stopping it (kill -9
    included). The signal follows the thread that started the child, so start children from
    the main thread. A server that daemonizes (PostgreSQL's postmaster, through ``pg_ctl``)
    escapes this; :func:`stop_processes_working_in` is what stops it later."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def log_tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` of a server's log on one line, for a message saying why it failed."""
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(no log)"


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if there is none (a
    zombie counts as none). With its pid, this names a process even after the pid is reused."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except psutil.NoSuchProcess:
        return None


def stop_processes_working_in(
    directory: Path, *, timeout: float, signals: Mapping[int, signal.Signals] | None = None
) -> list[str]:
    """Stop every process whose working directory is ``directory`` or beneath it (servers
    work in their data directory: PostgreSQL's postmaster and backends, redis-server with
    ``--dir``), and wait for them to be gone; returns those still running after ``timeout``
    twice over, as ``"<pid> <name>"`` (empty when all are gone).

    Only the top of each process tree is signalled, so that a server shuts its own children
    down: SIGTERM, or the signal ``signals`` names for its pid (SIGQUIT makes a postmaster stop
    at once and clean up after itself). Whatever still runs after ``timeout`` gets SIGKILL."""
    found = _working_in(directory.resolve())
    pids = {process.pid for process in found}
    for process in found:
        with contextlib.suppress(psutil.Error):
            if process.ppid() not in pids:
                process.send_signal((signals or {}).get(process.pid, signal.SIGTERM))
    alive = _wait_gone(found, timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return [f"{process.pid} {_name(process)}" for process in _wait_gone(alive, timeout)]


def _wait_gone(processes: list[Any], timeout: float) -> list[Any]:
    """Wait until none of ``processes`` runs; those still running at the deadline."""

    def all_gone() -> None:
        running = [process.pid for process in processes if _running(process)]
        assert not running, f"still running: {running}"

    try:
        eventually(all_gone, timeout=timeout, interval=0.05, what="the processes stopping")
    except NotSatisfied:
        return [process for process in processes if _running(process)]
    return []


def _running(process: Any) -> bool:
    # Not our children, so nobody here reaps them: a zombie has stopped.
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _working_in(directory: Path) -> list[Any]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ValueError):
            if Path(process.cwd()).is_relative_to(directory):
                found.append(process)
    return found


def _name(process: Any) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return "?"
