"""The platform as running processes (L4): gateway replicas and orchestration workers started as
separate OS processes, plus the scripted language model unless a real endpoint is configured.
With ``agent_runs=in_process`` the same gateway session and worker code runs in the suite's
process instead (L3), behind the same driver contract, so the same DSL and feature reach it.

Started once, the first time a run reaches an ``@L4`` feature, and health-checked before its
first scenario; stopped and reaped when the run ends, whether it passed, failed or was
interrupted. Each process leads its own process group (stopping it stops anything it started)
and is asked by the kernel to terminate if the suite dies without cleaning up (PDEATHSIG).
The processes reach Redis and PostgreSQL by URL and DSN, never ClickHouse: their usage events
go through the Redis stream to the analytics sink in the suite's process.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import apex
from apex import keys
from apex.analytics import AnalyticsQueries
from apex.catalog import ModelSize
from apex.platform import PlatformConfig
from harness.drivers.agent_runs import AgentRunDriver, AgentRunSystem
from harness.drivers.in_process_runs import InProcessRunsDriver
from harness.drivers.network import NetworkDriver
from harness.drivers.published_clock import PublishedClock
from harness.drivers.scripted_llm import ScriptedModel
from harness.drivers.stores import PlatformStores
from harness.errors import NotSatisfied, ServiceStartError, SettingsError
from harness.reporting import announce
from harness.reporting.redaction import REDACTOR
from harness.services import Services
from harness.services.children import die_with_parent, free_port
from harness.services.scripted_llm import ScriptedLlmServer
from harness.settings import AgentRunsChannel, SuiteSettings
from harness.waiting import eventually

GATEWAYS = 2
WORKERS = 2
MAX_MESSAGE_BYTES = 64 * 1024
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
SCRIPTED_MODELS = ("apex-small", "apex-medium", "apex-large")
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

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return REDACTOR.redact(" | ".join(text) or "(empty)")


def stop_all(processes: Iterable[PlatformProcess], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every group at once, then wait for each; SIGKILL what outlives ``timeout``."""
    chosen = list(processes)
    for process in chosen:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in chosen:
        process.reap(max(deadline - time.monotonic(), 0.1))


class L4Platform:
    """The run's agent-run platform, started at the first ``@L4`` feature: processes, or the
    same code in this process with ``agent_runs=in_process``; :meth:`close` is always safe."""

    def __init__(
        self, settings: SuiteSettings, services: Services, clock: PublishedClock,
        analytics: AnalyticsQueries,
    ) -> None:
        self._settings = settings
        self._services = services
        self._clock = clock
        self._analytics = analytics
        self._namespace = f"suite-{secrets.token_hex(4)}"
        self._logs: Path | None = None
        self._llm: ScriptedLlmServer | None = None
        self._stores: PlatformStores | None = None
        self.processes: list[PlatformProcess] = []
        self._in_process: InProcessRunsDriver | None = None
        self.system: AgentRunSystem | None = None
        self.startup_seconds: float | None = None
        self._failure: Exception | None = None
        if settings.llm_api_key is not None:
            REDACTOR.register(settings.llm_api_key.get_secret_value())

    @property
    def real_llm(self) -> bool:
        return self._settings.llm_base_url is not None

    def skip_reason(self, tags: Iterable[str]) -> str | None:
        if "scripted_llm" in tags and self.real_llm:
            return "needs the scripted LLM; a real LLM endpoint is configured (llm_base_url)"
        return None

    def start_for(self, feature_tags: Iterable[str]) -> None:
        """Start the processes if this is the run's first ``@L4`` feature."""
        if "L4" not in feature_tags or self.system is not None:
            return
        if self._failure is not None:
            raise self._failure
        try:
            self.start()
        except Exception as exc:
            self._failure = exc
            raise

    def start(self) -> None:
        started = time.monotonic()
        base_url, api_key, models, model = self._language_model()
        self._stores = PlatformStores(
            self._services.redis_url, self._services.postgres.app_dsn, self._analytics,
            self._clock, self._namespace,
        )
        if self._settings.agent_runs is AgentRunsChannel.IN_PROCESS:
            driver: AgentRunDriver = self._start_in_process(base_url, api_key, models)
            what = "gateway sessions and an orchestration worker in this process (L3)"
        else:
            driver = self._start_processes(base_url, api_key, models)
            what = f"{GATEWAYS} gateways, {WORKERS} orchestration workers"
        self.system = AgentRunSystem(driver, model)
        self.startup_seconds = time.monotonic() - started
        announce(
            f"agent-run platform: {what}, "
            f"{'a real LLM endpoint' if self.real_llm else 'the scripted LLM'}; "
            f"ready in {self.startup_seconds:.2f}s"
        )

    def _start_processes(self, base_url: str, api_key: str, models: list[str]) -> NetworkDriver:
        assert self._stores is not None
        self._logs = Path(tempfile.mkdtemp(prefix="apex-l4-"))
        self._clock.publish_to(self._services.redis_url, keys.test_clock(self._namespace))
        env = self._environment(base_url, api_key, models)
        # Started from this (the main) thread: PDEATHSIG follows the thread that forks.
        roles = [("gateway", "apex.gateway", GATEWAYS), ("worker", "apex.orchestration", WORKERS)]
        for role, module, count in roles:
            for i in range(1, count + 1):
                self.processes.append(
                    PlatformProcess.spawn(f"{role}-{i}", module, env, self._logs)
                )
        self._wait_healthy()
        gateways = [
            p.url.replace("http://", "ws://") for p in self.processes if p.module == "apex.gateway"
        ]
        return NetworkDriver(gateways, self._stores, MAX_MESSAGE_BYTES)

    def _start_in_process(
        self, base_url: str, api_key: str, models: list[str]
    ) -> InProcessRunsDriver:
        assert self._stores is not None
        self._in_process = InProcessRunsDriver(
            self._stores, PlatformConfig(self._services.redis_url, self._services.postgres.app_dsn),
            self._clock, namespace=self._namespace, llm_base_url=base_url, llm_api_key=api_key,
            models=dict(zip(ModelSize, models, strict=True)), max_message_bytes=MAX_MESSAGE_BYTES,
            replicas=GATEWAYS,
        )
        return self._in_process

    def close(self) -> None:
        if self._llm is not None:
            self._llm.book.release_all()  # held model calls end, so workers stop promptly
        stop_all(self.processes)
        self.processes.clear()
        if self._in_process is not None:
            self._in_process.close()
            self._in_process = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None
        if self._stores is not None:
            self._stores.close()
            self._stores = None
        self._clock.stop_publishing()
        if self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
            self._logs = None
        self.system = None

    def _language_model(self) -> tuple[str, str, list[str], ScriptedModel | None]:
        models = [m.strip() for m in self._settings.llm_models.split(",")]
        if len(models) != 3 or not all(models):
            raise SettingsError(
                f"llm_models needs three names (small, medium, large), not "
                f"{self._settings.llm_models!r}"
            )
        if self._settings.llm_base_url is not None:
            if self._settings.llm_api_key is None:
                raise SettingsError("llm_base_url is set but llm_api_key is not")
            return (
                self._settings.llm_base_url, self._settings.llm_api_key.get_secret_value(),
                models, None,
            )
        api_key = "sk-scripted-" + secrets.token_urlsafe(24)
        REDACTOR.register(api_key)
        self._llm = ScriptedLlmServer(api_key).start()
        sizes = dict(zip(SCRIPTED_MODELS, ("small", "medium", "large"), strict=True))
        scripted = ScriptedModel(self._llm.control_url, api_key, sizes)
        return self._llm.base_url, api_key, list(SCRIPTED_MODELS), scripted

    def _environment(self, base_url: str, api_key: str, models: list[str]) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("APEX_")}
        return {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "APEX_PLATFORM_REDIS_URL": self._services.redis_url,
            "APEX_PLATFORM_POSTGRES_DSN": self._services.postgres.app_dsn,
            "APEX_PLATFORM_NAMESPACE": self._namespace,
            "APEX_PLATFORM_LLM_BASE_URL": base_url,
            "APEX_PLATFORM_LLM_API_KEY": api_key,
            "APEX_PLATFORM_LLM_MODEL_SMALL": models[0],
            "APEX_PLATFORM_LLM_MODEL_MEDIUM": models[1],
            "APEX_PLATFORM_LLM_MODEL_LARGE": models[2],
            "APEX_PLATFORM_CLOCK": "redis",
            "APEX_PLATFORM_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
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
