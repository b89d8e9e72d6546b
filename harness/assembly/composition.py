"""The run's composition root: what is running, and the drivers each assembly builds on it.

Run-level services, started on first need and closed (last started, first stopped) when the run
ends, whether it passed, failed or was interrupted:

==========================  ==================================================================
service                     started
==========================  ==================================================================
analytics sink              at once (a thread moving usage events into ClickHouse)
language model              with the first agent-run driver: a real endpoint, or the scripted
                            LLM server
platform processes          with the network assembly: gateways and orchestration workers
clock publishing            with the network assembly: the test clock written to Redis
==========================  ==================================================================

Drivers per assembly (``Drivers``; a capability missing from an assembly says why):

==================  =============================  ===========================================
capability          in_process                     network
==================  =============================  ===========================================
tiers               InProcessTiersDriver           the same: tiers have no network driver;
                                                   agent-run Givens subscribe and Thens read
                                                   the quota through it (its stores are shared)
agent runs          InProcessRunsDriver            NetworkRunsDriver
tenant config       InProcessTenantConfigDriver    none
worker faults       none: no worker processes      ProcessWorkerFaults (kills, restarts,
                                                   pauses and wakes the platform's worker
                                                   processes)
store faults        none: no worker processes      ProcessStoreFaults (restarts or pauses the
                                                   run's Redis: embedded or docker services)
==================  =============================  ===========================================

Scenarios tagged ``@faults`` kill platform processes: they run only where the suite started the
stack itself (embedded or docker services) and in the network assembly; elsewhere they are
skipped, saying why. Those also tagged ``@store_faults`` break the run's Redis, which the
suite can do only to one it started: embedded services' redis-server process, docker services'
container (``Services.redis_control``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from harness.assembly.choice import Choice, choose
from harness.drivers.agent_recovery.contract import StoreFaults
from harness.drivers.agent_recovery.processes import ProcessWorkerFaults
from harness.drivers.agent_recovery.stores import ProcessStoreFaults
from harness.drivers.agent_runs.contract import AgentRunsDriver
from harness.drivers.agent_runs.in_process import InProcessRunsDriver
from harness.drivers.agent_runs.network import NetworkRunsDriver
from harness.drivers.agent_runs.scripted_model import ScriptedModel
from harness.drivers.agent_runs.stores import PlatformStores
from harness.drivers.bundle import Drivers
from harness.drivers.dead_letters.analytics import ConstraintRefusals
from harness.drivers.dead_letters.operator import OperatorCommands
from harness.drivers.tenant_config.accounts import AccountRecordsProbe
from harness.drivers.tenant_config.backdoor import TenantStoresProbe
from harness.drivers.tenant_config.in_process import InProcessTenantConfigDriver
from harness.drivers.tiers.backdoor import StoresBackDoor
from harness.drivers.tiers.in_process import InProcessTiersDriver
from harness.reporting import announce
from harness.services import Services
from harness.services.analytics_sink import AnalyticsSink, start_analytics_sink
from harness.services.clock import PublishedClock
from harness.services.language_model import LanguageModel, start_language_model
from harness.services.platform_processes import GATEWAYS, MAX_MESSAGE_BYTES, PlatformProcesses
from harness.services.regions import region_admin_dsns, region_dsns
from harness.settings import Assembly, ServiceMode, SuiteSettings

_NO_NETWORK_TENANT_CONFIG = "tenant configuration has no network driver"
_NO_WORKER_PROCESSES = "the in-process assembly runs no worker processes to stop"
_NO_STORE_CONTROL = (
    "only a Redis the suite started (embedded or docker services) can be restarted or paused"
)


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


#: why a run has no analytics refusals, where it has none (only a missing driver is looked up)
_REFUSALS = {"analytics refusals": "the usage analytics is not the suite's own (external)"}


class RunComposition:
    """One per run (environment.py). :meth:`drivers_for` gives a feature the drivers of the
    assembly it runs in; :meth:`close` stops everything, and is always safe."""

    def __init__(
        self, settings: SuiteSettings, services: Services, clock: PublishedClock, *,
        start_sink: Callable[[Services, PublishedClock], AnalyticsSink] = start_analytics_sink,
    ) -> None:
        self._settings = settings
        self._services = services
        self._clock = clock
        self._namespace = f"suite-{secrets.token_hex(4)}"
        self._stack = contextlib.ExitStack()
        self._built: dict[tuple[Assembly, bool], Drivers] = {}
        self._failures: dict[tuple[Assembly, bool], Exception] = {}
        self._model: LanguageModel | None = None
        self._stores: PlatformStores | None = None
        self._tenant_config: tuple[InProcessTenantConfigDriver, TenantStoresProbe] | None = None
        self.processes: PlatformProcesses | None = None
        self._analytics_refusals: ConstraintRefusals | None = None
        try:
            self.analytics_sink = start_sink(services, clock)
            self._stack.callback(self.analytics_sink.close)
            app_dsn = services.postgres.app_dsn
            self._tiers = self._closing(InProcessTiersDriver(
                services.redis_url, app_dsn, clock, self.analytics_sink.queries
            ))
            self._tiers_backdoor = self._closing(StoresBackDoor(services.redis_url, clock))
        except BaseException:
            self._stack.close()
            raise

    # -- what runs --------------------------------------------------------------------------

    def choose(self, feature_tags: list[str]) -> Choice:
        return choose(feature_tags, self._settings.assembly)

    def scenario_skip_reason(self, tags: list[str], drivers: Drivers | None = None) -> str | None:
        if "scripted_llm" in tags and self._settings.llm_base_url is not None:
            return "needs the scripted LLM; a real LLM endpoint is configured (llm_base_url)"
        if "faults" in tags:
            if self._services.mode is ServiceMode.EXTERNAL:
                return "kills platform processes: only on a stack the suite started itself"
            if drivers is not None and drivers.worker_faults is None:
                return drivers.missing.get("worker faults", "no worker processes to stop")
        if "store_faults" in tags and drivers is not None and drivers.store_faults is None:
            return drivers.missing.get("store faults", _NO_STORE_CONTROL)
        return None

    def platform_logs(self) -> dict[str, str]:
        """The last lines of every platform process's log, if any run (for failed scenarios)."""
        return self.processes.log_tails() if self.processes is not None else {}

    def drivers_for(self, feature_tags: list[str], assembly: Assembly) -> Drivers:
        """The drivers of ``assembly``, built on first need; an ``@L4`` feature's include the
        agent-run drivers. A failed start fails every later feature that needs it the same way."""
        key = (assembly, "L4" in feature_tags)
        if key in self._failures:
            raise self._failures[key]
        if key not in self._built:
            try:
                self._built[key] = self._build(*key)
            except Exception as exc:
                self._failures[key] = exc
                raise
        return self._built[key]

    def close(self) -> None:
        self._stack.close()

    # -- building ---------------------------------------------------------------------------

    def _build(self, assembly: Assembly, agent_runs: bool) -> Drivers:
        if assembly is Assembly.NETWORK:
            network_runs, network_model = self._network_runs()
            assert self.processes is not None
            faults = self._closing(ProcessWorkerFaults(
                self.processes, self._services.redis_url, self._namespace
            ))
            missing = {"tenant configuration": _NO_NETWORK_TENANT_CONFIG, **_REFUSALS}
            store_faults = self._store_faults()
            if store_faults is None:
                missing["store faults"] = _NO_STORE_CONTROL
            return Drivers(
                assembly.value, self._clock, self._tiers, self._tiers_backdoor, network_runs,
                network_model, missing=missing, worker_faults=faults, store_faults=store_faults,
                dead_letters=self._closing(OperatorCommands(
                    self.processes.settings(), self._clock, self.analytics_sink.gateway
                )),
                analytics_refusals=self._refusals(),
            )
        tenant_config, probe = self._in_process_tenant_config()
        runs, model = self._in_process_runs() if agent_runs else (None, None)
        missing = {
            "worker faults": _NO_WORKER_PROCESSES, "store faults": _NO_WORKER_PROCESSES,
            **_REFUSALS,
        }
        if not agent_runs:
            missing["agent runs"] = "this @L3 feature runs no agent runs"
        return Drivers(
            assembly.value, self._clock, self._tiers, self._tiers_backdoor, runs, model,
            tenant_config, probe, missing,
            dead_letters=self._closing(OperatorCommands.of_platform(
                self._services.redis_url, self._services.postgres.app_dsn, self._namespace,
                self._clock, self.analytics_sink.gateway,
            )),
            analytics_refusals=self._refusals(),
        )

    def _refusals(self) -> ConstraintRefusals | None:
        """Only on analytics the suite started itself: a shared one is not the suite's to
        change."""
        if self._services.mode is ServiceMode.EXTERNAL:
            return None
        if self._analytics_refusals is None:
            self._analytics_refusals = self._closing(
                ConstraintRefusals(self.analytics_sink.gateway)
            )
        return self._analytics_refusals

    def _store_faults(self) -> StoreFaults | None:
        control = self._services.redis_control
        if control is None or self.processes is None:
            return None
        sink = self.analytics_sink
        return self._closing(ProcessStoreFaults(
            control, self.processes, sink, self._clock.republish, self._services.redis_url,
            self._namespace,
        ))

    def _network_runs(self) -> tuple[AgentRunsDriver, ScriptedModel | None]:
        started = time.monotonic()
        model, stores = self._agent_run_basics()
        self._clock.publish_for(self._services.redis_url, self._namespace)
        self._stack.callback(self._clock.stop_publishing)
        processes = self._closing(PlatformProcesses(self._services, self._namespace, model))
        self.processes = processes  # visible even if the start fails, to say what was left
        self._stack.callback(model.release_held_calls)  # before the processes stop
        processes.start()
        driver = NetworkRunsDriver(processes.gateway_urls, stores, MAX_MESSAGE_BYTES)
        self._announce(processes.describe(), started)
        return driver, self._model_control()

    def _in_process_runs(self) -> tuple[AgentRunsDriver, ScriptedModel | None]:
        started = time.monotonic()
        model, stores = self._agent_run_basics()
        driver = self._closing(InProcessRunsDriver(
            stores, self._services.redis_url, self._services.postgres.app_dsn, self._clock,
            namespace=self._namespace, llm_base_url=model.base_url, llm_api_key=model.api_key,
            models=model.models, max_message_bytes=MAX_MESSAGE_BYTES, replicas=GATEWAYS,
        ))
        self._stack.callback(model.release_held_calls)  # before the worker stops
        self._announce("gateway sessions and an orchestration worker in this process (L3)", started)
        return driver, self._model_control()

    def _agent_run_basics(self) -> tuple[LanguageModel, PlatformStores]:
        if self._model is None:
            self._model = self._closing(start_language_model(self._settings))
        if self._stores is None:
            self._stores = self._closing(PlatformStores(
                self._services.redis_url, self._services.postgres.app_dsn,
                self.analytics_sink.queries, self._clock, self._namespace,
            ))
        return self._model, self._stores

    def _model_control(self) -> ScriptedModel | None:
        model = self._model
        if model is None or model.scripted is None:
            return None
        return ScriptedModel(model.scripted.control_url, model.api_key, model.sizes)

    def _in_process_tenant_config(
        self,
    ) -> tuple[InProcessTenantConfigDriver, TenantStoresProbe]:
        if self._tenant_config is None:
            postgres = self._services.postgres
            driver = self._closing(InProcessTenantConfigDriver(
                self._services.redis_url, postgres.app_dsn, region_dsns(postgres), self._clock
            ))
            probe = self._closing(TenantStoresProbe(
                self._services.redis_url, region_dsns(postgres), region_admin_dsns(postgres),
                AccountRecordsProbe(postgres.app_dsn, postgres.admin_dsn),
            ))
            self._tenant_config = driver, probe
        return self._tenant_config

    def _announce(self, what: str, started: float) -> None:
        model = self._model.describe() if self._model else "no language model"
        announce(f"agent-run platform: {what}, {model}; ready in {time.monotonic() - started:.2f}s")

    def _closing(self, resource: C) -> C:
        self._stack.callback(resource.close)
        return resource
