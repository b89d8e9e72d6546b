"""The drivers of every capability, as one assembly built them: what a scenario's World holds.
Typed by the capabilities' contracts only; None where the assembly has no driver for a
capability (and then ``missing`` says why)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.agent_recovery.contract import StoreFaults, WorkerFaults
from harness.drivers.agent_runs.contract import AgentRunsDriver, ModelControl
from harness.drivers.clock import TestClock
from harness.drivers.dead_letters.contract import AnalyticsRefusals, DeadLetterDesk
from harness.drivers.tenant_config.contract import StoreProbe, TenantConfigDriver
from harness.drivers.tiers.contract import TiersBackDoor, TiersDriver


@dataclass(frozen=True)
class Drivers:
    #: "in_process" or "network"
    assembly: str
    clock: TestClock
    tiers: TiersDriver | None = None
    tiers_backdoor: TiersBackDoor | None = None
    agent_runs: AgentRunsDriver | None = None
    #: the scripted model, or None against a real endpoint
    model: ModelControl | None = None
    tenant_config: TenantConfigDriver | None = None
    tenant_stores: StoreProbe | None = None
    #: capability -> why this assembly has no driver for it
    missing: dict[str, str] = field(default_factory=dict)
    #: the platform's workers, to be killed and restarted (agent state recovery)
    worker_faults: WorkerFaults | None = None
    #: the platform's store, to be restarted or paused (agent state recovery)
    store_faults: StoreFaults | None = None
    #: the dead-letter queue's operator commands (message processing dead-letter queue)
    dead_letters: DeadLetterDesk | None = None
    #: the usage analytics made to refuse a tenant's records (message processing DLQ)
    analytics_refusals: AnalyticsRefusals | None = None
