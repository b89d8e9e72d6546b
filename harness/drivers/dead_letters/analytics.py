"""The run's usage analytics (ClickHouse) made to refuse one tenant's records: a constraint on
the usage table that the tenant's rows break, as a schema change deployed there would; dropped
to take them again, and by :meth:`close` whatever a scenario left. Only this module knows the
table and the statement."""

from __future__ import annotations

import re

from apex import keys
from apex.analytics import ClickHouseGateway

#: what a tenant id may hold, checked before it is written into a statement
_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConstraintRefusals:
    def __init__(self, gateway: ClickHouseGateway) -> None:
        self._gateway = gateway
        self._added: set[str] = set()

    def refuse(self, tenant_id: str) -> None:
        name = self._constraint(tenant_id)
        self._gateway.command(
            f"ALTER TABLE {keys.USAGE_EVENTS_TABLE} ADD CONSTRAINT IF NOT EXISTS {name}"
            f" CHECK tenant_id != '{tenant_id}'"
        )
        self._added.add(tenant_id)

    def accept(self, tenant_id: str) -> None:
        self._gateway.command(
            f"ALTER TABLE {keys.USAGE_EVENTS_TABLE} DROP CONSTRAINT IF EXISTS"
            f" {self._constraint(tenant_id)}"
        )
        self._added.discard(tenant_id)

    def close(self) -> None:
        for tenant_id in list(self._added):
            self.accept(tenant_id)

    @staticmethod
    def _constraint(tenant_id: str) -> str:
        assert _TENANT_ID.match(tenant_id), f"not a tenant id: {tenant_id!r}"
        return "suite_refuses_" + re.sub(r"[^a-z0-9_]", "_", tenant_id)
