"""One object per scenario giving steps every capability's DSL: ``context.dsl``."""

from __future__ import annotations

from harness.dsl.agent_recovery.actions import RecoveryDsl
from harness.dsl.agent_recovery.checks import RecoveryChecks
from harness.dsl.agent_recovery.store_faults import StoreFaultsDsl
from harness.dsl.agent_recovery.usage_copies import UsageCopiesDsl
from harness.dsl.agent_runs.actions import AgentRunsDsl
from harness.dsl.agent_runs.checks import AgentRunChecks
from harness.dsl.common.world import World
from harness.dsl.dead_letters.actions import DeadLetterDsl
from harness.dsl.dead_letters.checks import DeadLetterChecks
from harness.dsl.tenant_config.accounts import AccountsDsl
from harness.dsl.tenant_config.cross_tenant import CrossTenantDsl
from harness.dsl.tenant_config.own import OwnConfigDsl
from harness.dsl.tenant_config.stores import StoresDsl
from harness.dsl.tiers.billing import BillingDsl
from harness.dsl.tiers.clock import ClockDsl
from harness.dsl.tiers.requests import RequestsDsl
from harness.dsl.tiers.subscriptions import SubscriptionsDsl


class Dsl:
    def __init__(self, world: World) -> None:
        self.world = world
        # tier enforcement
        self.subscriptions = SubscriptionsDsl(world)
        self.requests = RequestsDsl(world)
        self.billing = BillingDsl(world)
        self.clock = ClockDsl(world)
        # agent runs
        self.agent_runs = AgentRunsDsl(world)
        self.agent_run_checks = AgentRunChecks(world)
        # agent state recovery
        self.recovery = RecoveryDsl(world)
        self.recovery_checks = RecoveryChecks(world)
        self.store_faults = StoreFaultsDsl(world)
        self.usage_copies = UsageCopiesDsl(world)
        # the dead-letter queue
        self.dead_letters = DeadLetterDsl(world)
        self.dead_letter_checks = DeadLetterChecks(world)
        # tenant configuration
        self.tenant_config = OwnConfigDsl(world)
        self.cross_tenant = CrossTenantDsl(world)
        self.tenant_stores = StoresDsl(world)
        self.tenant_accounts = AccountsDsl(world)
