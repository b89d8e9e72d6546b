"""How scenario words ("Acme", "Acme's viewer", "EU", "the platform") become tenant ids,
callers, regions and database roles, for every part of the tenant-configuration DSL."""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.drivers.tenant_config.contract import Caller, DatabaseRole
from harness.dsl.common.world import World
from harness.dsl.tenant_config.state import TenantConfigState

API_KEY_SETTING = "llm.provider_api_key"
_CALLER = re.compile(r"(?P<tenant>.+)'s (?P<role>administrator|viewer)")
#: Whose privileges a raw query runs with, as the scenario says it.
DATABASE_ROLES: dict[str, DatabaseRole] = {
    "the platform": "platform", "the owner of the store": "owner",
}


def tenant_names(words: str) -> list[str]:
    """'Acme', 'Acme and Globex', 'Acme, Globex and Initech' -> the names."""
    return [n.strip() for n in re.split(r",| and ", words) if n.strip()]


def showing(value: object) -> Callable[[], object]:
    """Evidence for business_step: this value, as it was when the check ran."""
    return lambda: value


def database_role(who: str) -> DatabaseRole:
    role = DATABASE_ROLES.get(who)
    assert role is not None, f"no one called {who!r}; known: {', '.join(DATABASE_ROLES)}"
    return role


class TenantWords:
    """The scenario's tenants, as the driver knows them."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(TenantConfigState)

    def tenant(self, name: str) -> str:
        return self._world.aliases.known_tenant(name)

    def home(self, name: str) -> str:
        return self._world.tenant_config.region_of(self.tenant(name))

    def caller(self, name: str, role: str = "administrator") -> Caller:
        return self._world.tenant_config.caller(self.tenant(name), role)

    def parse_caller(self, words: str) -> tuple[str, Caller]:
        match = _CALLER.fullmatch(words)
        name, role = (match["tenant"], match["role"]) if match else (words, "administrator")
        return name, self.caller(name, role)

    def remember(self, name: str) -> None:
        """Note the tenant's stored settings, for a Then to compare."""
        tenant_id = self.tenant(name)
        self._state.before[tenant_id] = self._world.tenant_stores.settings_rows(
            self.home(name), tenant_id
        )
