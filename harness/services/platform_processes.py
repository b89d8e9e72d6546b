"""The platform as running processes: gateway replicas and orchestration workers started as
separate OS processes, on the run's stores and language model.

Started by the run's composition (``harness/assembly``) the first time a feature runs in the
network assembly, and health-checked before its first scenario; stopped and reaped when the run
ends, whether it passed, failed or was interrupted. Each process leads its own process group
(stopping it stops anything it started) and is asked by the kernel to terminate if the suite
dies without cleaning up (PDEATHSIG).
The processes reach Redis and PostgreSQL by URL and DSN, never ClickHouse: their usage events
go through the Redis stream to the analytics sink in the suite's process.

A scenario may stop a process the way an operator's bad day would (:meth:`PlatformProcesses.kill`,
SIGKILL: no cleanup, no goodbye) and start it again under the same name
(:meth:`PlatformProcesses.restart`), so that the rest of the run has every process again; or
pause it (SIGSTOP, as a long garbage collection or a frozen virtual machine would) and let it
go on (:meth:`PlatformProcesses.resume`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

import apex
from apex.dlq import DeadLetterSettings
from apex.settings import ClockSource, PlatformSettings
from harness.errors import NotSatisfied, ServiceStartError
from harness.reporting.redaction import REDACTOR
from harness.services import Services
from harness.services.children import die_with_parent, free_port
from harness.services.language_model import LanguageModel
from harness.waiting import eventually

GATEWAYS = 2
WORKERS = 2
MAX_MESSAGE_BYTES = 64 * 1024
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: The workers' job lease (real time): short, so that a killed worker's run is taken over in
#: seconds, and long enough that a live worker's heartbeats always arrive in time.
JOB_LEASE_SECONDS = 2.0
#: The dead-letter queue: the product's 3 deliveries, with short waits between them (0.05 s,
#: then 0.1 s), so that a message set aside after its last delivery takes well under a second.
DEAD_LETTERS = DeadLetterSettings(max_deliveries=3, initial_backoff_ms=50, max_backoff_ms=1000)
_REPO = Path(apex.__file__).resolve().parents[1]


@dataclass
class PlatformProcess:
    name: str
    module: str
    port: int
    log: Path
    popen: subprocess.Popen[bytes]

    @classmethod
    def spawn(cls, name: str, module: str, env: dict[str, str], logs: Path) -> PlatformProcess:
        port = free_port()
        log = logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", module, "--port", str(port), "--name", name],
                cwd=_REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
            )
        return cls(name, module, port, log, popen)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_healthy(self) -> None:
        """AssertionError until ``/healthz`` answers 200; ServiceStartError if it exited."""
        if self.popen.poll() is not None:
            raise ServiceStartError(
                self.name, f"it exited with code {self.popen.returncode}",
                f"Its log: {self.tail()}",
            )
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
        except OSError as exc:
            raise AssertionError(f"{self.name}: {exc}") from None
        finally:
            connection.close()
        assert status == 200, f"{self.name} health answered {status}"

    def health_report(self) -> dict[str, Any]:
        """The body of ``/healthz`` (whatever its status): what the process says it is doing."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            body = connection.getresponse().read()
        except OSError as exc:
            raise AssertionError(f"{self.name}: {exc}") from None
        finally:
            connection.close()
        report: dict[str, Any] = json.loads(body)
        return report

    def signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def reap(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.popen.wait()
        self.signal_group(signal.SIGKILL)  # anything the process started and left behind

    def tail(self, lines: int = 8, separator: str = " | ") -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return REDACTOR.redact(separator.join(text) or "(empty)")


def stop_all(processes: Iterable[PlatformProcess], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every group at once, then wait for each; SIGKILL what outlives ``timeout``."""
    chosen = list(processes)
    for process in chosen:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in chosen:
        process.reap(max(deadline - time.monotonic(), 0.1))


class PlatformProcesses:
    """Gateway and worker processes on the run's stores, ``namespace`` keeping their queues and
    clock apart from any other run's; :meth:`close` is always safe, also after a failed start."""

    def __init__(self, services: Services, namespace: str, model: LanguageModel) -> None:
        self._services = services
        self._namespace = namespace
        self._model = model
        self._logs: Path | None = None
        self.processes: list[PlatformProcess] = []
        self.max_message_bytes = MAX_MESSAGE_BYTES

    def start(self) -> PlatformProcesses:
        self._logs = Path(tempfile.mkdtemp(prefix="apex-l4-"))
        env = self._environment()
        # Started from this (the main) thread: PDEATHSIG follows the thread that forks.
        roles = [("gateway", "apex.gateway", GATEWAYS), ("worker", "apex.orchestration", WORKERS)]
        for role, module, count in roles:
            for i in range(1, count + 1):
                self.processes.append(
                    PlatformProcess.spawn(f"{role}-{i}", module, env, self._logs)
                )
        self._wait_healthy()
        return self

    @property
    def gateway_urls(self) -> list[str]:
        """WebSocket base URLs of the gateways."""
        return [
            p.url.replace("http://", "ws://") for p in self.processes if p.module == "apex.gateway"
        ]

    def describe(self) -> str:
        return f"{GATEWAYS} gateways, {WORKERS} orchestration workers"

    @property
    def job_lease_seconds(self) -> float:
        return JOB_LEASE_SECONDS

    @property
    def slot_lease_seconds(self) -> float:
        return self.settings().lease_seconds

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` (and its group) and reap it: it dies mid-whatever."""
        process = self._named(name)
        process.signal_group(signal.SIGKILL)
        process.popen.wait(timeout=STOP_TIMEOUT)

    def pause(self, name: str) -> None:
        """SIGSTOP process ``name`` (and its group): it stops on the spot, holding whatever it
        held, and does not know it until :meth:`resume`."""
        self._named(name).signal_group(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """SIGCONT process ``name`` (and its group); nothing happens to one that runs."""
        self._named(name).signal_group(signal.SIGCONT)

    def health_report(self, name: str) -> dict[str, Any]:
        return self._named(name).health_report()

    def restart(self, name: str) -> None:
        """Start process ``name`` again (stopping it first if it still runs), on a new port,
        and wait until it answers its health check."""
        old = self._named(name)
        if old.popen.poll() is None:
            stop_all([old])
        assert self._logs is not None, "the platform processes were never started"
        new = PlatformProcess.spawn(name, old.module, self._environment(), self._logs)
        self.processes[self.processes.index(old)] = new
        self._wait_healthy()

    def identities(self) -> dict[str, int]:
        """Each process's name and process id (a restarted process has a new one)."""
        return {p.name: p.popen.pid for p in self.processes}

    def answering_ready(self) -> dict[str, bool]:
        """Each process's name, and whether its health check answers ready (200) right now."""
        answers = {}
        for process in self.processes:
            try:
                process.check_healthy()
                answers[process.name] = True
            except (AssertionError, ServiceStartError):
                answers[process.name] = False
        return answers

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The last lines of each process's log (redacted), for a failed scenario's report."""
        return {p.name: p.tail(lines, "\n") for p in self.processes}

    def _named(self, name: str) -> PlatformProcess:
        for process in self.processes:
            if process.name == name:
                return process
        known = [p.name for p in self.processes]
        raise ValueError(f"no platform process {name!r}; there are {known}")

    def close(self) -> None:
        stop_all(self.processes)
        self.processes.clear()
        if self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
            self._logs = None

    def settings(self) -> PlatformSettings:
        """The settings every platform process is given."""
        small, medium, large = self._model.models
        return PlatformSettings(
            redis_url=SecretStr(self._services.redis_url),
            postgres_dsn=SecretStr(self._services.postgres.app_dsn),
            namespace=self._namespace, llm_base_url=self._model.base_url,
            llm_api_key=SecretStr(self._model.api_key), llm_model_small=small,
            llm_model_medium=medium, llm_model_large=large, clock=ClockSource.REDIS,
            max_message_bytes=MAX_MESSAGE_BYTES, job_lease_seconds=JOB_LEASE_SECONDS,
            dlq=DEAD_LETTERS,
        )

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("APEX_")}
        settings = self.settings()
        return {
            **inherited, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost",
            **settings.as_environment(),
        }

    def _wait_healthy(self) -> None:
        def all_healthy() -> None:
            for process in self.processes:
                process.check_healthy()

        try:
            eventually(all_healthy, timeout=STARTUP_TIMEOUT, interval=0.05,
                       what="every platform process answering its health check")
        except NotSatisfied as exc:
            logs = "; ".join(f"{p.name}: {p.tail(3)}" for p in self.processes)
            raise ServiceStartError("the L4 platform", str(exc), f"Logs: {logs}") from None
