"""What one scenario knows: its drivers, aliases, clock and the outcome of its last action.

A fresh World is made for every scenario (environment.py); resources it creates register their
cleanup with behave, so nothing outlives the scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apex.catalog import Tier
from apex.clock import FrozenClock
from apex.requests import RequestResult
from harness.drivers.agent_runs import AgentRunSystem
from harness.drivers.backdoor import BackDoor
from harness.drivers.in_process import InProcessDriver, InProcessPlatform
from harness.drivers.tenant_config import TenantConfigDriver
from harness.dsl.aliases import Aliases


@dataclass
class World:
    platform: InProcessPlatform
    backdoor: BackDoor
    clock: FrozenClock
    add_cleanup: Callable[..., None]
    eventually_timeout: float
    aliases: Aliases = field(default_factory=Aliases)
    #: The instance requests go through, when a Given chose one other than the primary.
    route: InProcessDriver | None = None
    #: How many platform instances a When spreads simultaneous requests over.
    replica_count: int = 1
    catalog: list[Tier] = field(default_factory=list)
    #: Results of the last When, in the order the requests were sent.
    results: list[RequestResult] = field(default_factory=list)
    #: The error the last When raised, when a rule expects an error.
    error: Exception | None = None
    #: Run ids in progress per tenant, and those whose worker crashed.
    runs: dict[str, list[str]] = field(default_factory=dict)
    crashed: set[str] = field(default_factory=set)
    links: list[Any] = field(default_factory=list)
    #: Tenant configuration (run-level driver), when the run wires it in.
    tenant_config: TenantConfigDriver | None = None
    #: Agent runs (L4 platform processes, or in-process), when the run started them.
    agent_runs: AgentRunSystem | None = None

    def take_error(self) -> Exception | None:
        """The error of the last When, marked as examined by a Then."""
        error, self.error = self.error, None
        return error

    def leftovers(self) -> list[str]:
        """What the scenario left unexamined; a scenario with leftovers fails (STYLE 14)."""
        if self.error is not None:
            return [f"an error no Then examined: {self.error!r}"]
        return []

    def driver_for(self, tenant_id: str) -> InProcessDriver:
        """The instance a tenant's requests go to (tenant-independent today)."""
        return self.route or self.platform.primary
