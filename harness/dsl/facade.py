"""One object per scenario giving steps every DSL area: ``context.dsl``."""

from __future__ import annotations

from harness.dsl.agent_runs import AgentRunsDsl
from harness.dsl.billing import BillingDsl
from harness.dsl.clock import ClockDsl
from harness.dsl.requests import RequestsDsl
from harness.dsl.subscriptions import SubscriptionsDsl
from harness.dsl.tenant_config import TenantConfigDsl
from harness.dsl.world import World


class Dsl:
    def __init__(self, world: World) -> None:
        self.world = world
        self.subscriptions = SubscriptionsDsl(world)
        self.requests = RequestsDsl(world)
        self.billing = BillingDsl(world)
        self.clock = ClockDsl(world)
        self.agent_runs = AgentRunsDsl(world)
        self.tenant_config = TenantConfigDsl(world)

    def tenant_with_runs(self, name: str, tier: str, runs: int) -> None:
        """A tenant on a tier with ``runs`` runs in progress."""
        self.subscriptions.tenant_on_tier(name, tier)
        self.requests.runs_in_progress(name, runs)
