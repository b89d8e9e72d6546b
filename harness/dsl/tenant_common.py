"""What the tenant configuration DSL shares: the scenario's state, and how scenario words
("Acme", "Acme's viewer", "EU") become tenant ids, callers and regions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apex.errors import ApexError
from apex.tenancy.model import Principal, Setting
from apex.tenancy.regions import Region
from harness.drivers.tenant_config import ConnectionTrace, TenantConfigDriver
from harness.drivers.tenant_store import Role
from harness.dsl.tenant_attacks import Attempt
from harness.dsl.world import World

API_KEY_SETTING = "llm.provider_api_key"
_CALLER = re.compile(r"(?P<tenant>.+)'s (?P<role>administrator|viewer)")
#: Whose privileges a raw query runs with, as the scenario says it.
ROLES: dict[str, Role] = {"the platform": "platform", "the owner of the store": "owner"}


def tenant_names(words: str) -> list[str]:
    """'Acme', 'Acme and Globex', 'Acme, Globex and Initech' -> the names."""
    return [n.strip() for n in re.split(r",| and ", words) if n.strip()]


def showing(value: object) -> Callable[[], object]:
    """Evidence for business_step: this value, as it was when the check ran."""
    return lambda: value


class TenantDslBase:
    """State of one scenario (a fresh instance per scenario) and the word-to-id helpers; the
    DSL's parts (``TenantConfigDsl`` and its bases) act and check on it."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._error: Exception | None = None
        self._answer: Setting | None = None
        self._seen: list[Any] = []
        self._before: dict[str, list[tuple[Any, ...]]] = {}
        self._trace: ConnectionTrace | None = None
        self._keys: dict[str, str] = {}
        self._asked = ""
        self._job_names: list[str] = []
        self._victim_values: set[str] = set()
        self._attacker = ""
        self._attempts: list[tuple[Attempt, str, list[Setting]]] = []

    @property
    def _driver(self) -> TenantConfigDriver:
        driver = self._world.tenant_config
        assert driver is not None, "tenant configuration is not wired into this run"
        return driver

    def _tenant(self, name: str) -> str:
        return self._world.aliases.known_tenant(name)

    def _home(self, name: str) -> Region:
        return self._driver.primary.directory.region_of(self._tenant(name))

    def _caller(self, name: str, role: str = "administrator") -> Principal:
        return self._driver.principal(self._tenant(name), role)

    def _parse_caller(self, words: str) -> tuple[str, Principal]:
        match = _CALLER.fullmatch(words)
        name, role = (match["tenant"], match["role"]) if match else (words, "administrator")
        return name, self._caller(name, role)

    def _remember(self, name: str) -> None:
        tenant_id = self._tenant(name)
        self._before[tenant_id] = self._driver.probe.settings_rows(self._home(name), tenant_id)

    def _attempt(self, call: Callable[[], Setting]) -> None:
        self._answer, self._error = None, None
        try:
            self._answer = call()
        except ApexError as exc:
            self._error = exc
