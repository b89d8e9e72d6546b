"""The tenant configuration API: what an authenticated caller may read, list, write and delete.

Contract:

* A caller acts only on its own tenant's configuration. Any other tenant id (real, unknown or
  crafted) is refused with the same :class:`AccessDenied`, and a malformed id, setting name or
  filter with :class:`apex.errors.InvalidInput`; nothing is read or changed either way.
* Every read, list, write and delete, and every refusal, is appended to the audit trail of the
  caller's tenant, in the caller's home region, in the same transaction as the work it records.
* Data goes only to the caller's home region: its database, its cache, its key.
* A secret is stored sealed (:mod:`apex.tenancy.cipher`) and returned in plain text only to a
  caller of the owning tenant holding :attr:`Permission.REVEAL_SECRETS`; others get it masked.
  Neither values nor secrets are ever logged or put in an error message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from apex import validation
from apex.clock import Clock
from apex.errors import ApexError, InvalidInput
from apex.tenancy import audit, store
from apex.tenancy.cache import ConfigCache
from apex.tenancy.cipher import SecretCipher
from apex.tenancy.directory import TenantDirectory
from apex.tenancy.errors import AccessDenied, SecretTampered, SettingNotFound
from apex.tenancy.model import (
    MASKED,
    Action,
    AuditRecord,
    Kind,
    Outcome,
    Permission,
    Principal,
    Setting,
)
from apex.tenancy.regions import Region
from apex.tenancy.session import tenant_transaction

_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
_PREFIX = re.compile(r"[a-z0-9_.]*")
MAX_NAME = 64
MAX_VALUE = 4096


class TenantConfigService:
    def __init__(
        self,
        directory: TenantDirectory,
        pools: Mapping[Region, ConnectionPool[Any]],
        cache: ConfigCache,
        cipher: SecretCipher,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._pools = dict(pools)
        self._cache = cache
        self._cipher = cipher
        self._clock = clock

    def put(
        self, caller: Principal, tenant_id: object, name: object, value: object,
        *, secret: bool = False,
    ) -> Setting:
        """Create or replace a setting; a secret is sealed before it leaves this process."""
        home, tid, key = self._admit(caller, Action.WRITE, tenant_id, name, Permission.WRITE)
        text = self._refuse_unless_valid(caller, home, Action.WRITE, tenant_id, key, value)
        kind = Kind.SECRET if secret else Kind.PLAIN
        sealed = self._cipher.seal(home, tid, key, text) if secret else None
        with self._act(home, caller.tenant_id) as conn:
            stored = store.upsert(conn, store.StoredSetting(
                tid, key, kind, None if secret else text, sealed, 1, caller.actor,
                self._clock.now(),
            ))
            self._record(conn, caller, Action.WRITE, tid, key, Outcome.ALLOWED)
        self._cache.put(home, stored)
        return self._shown(caller, home, stored)

    def get(self, caller: Principal, tenant_id: object, name: object) -> Setting:
        """One setting of the caller's tenant, or SettingNotFound."""
        home, tid, key = self._admit(caller, Action.READ, tenant_id, name, Permission.READ)
        cached = self._cache.get(home, tid, key)
        failure: ApexError | None = None
        shown: Setting | None = None
        with self._act(home, caller.tenant_id) as conn:
            stored = cached or store.select_one(conn, tid, key)
            if stored is None:
                failure = SettingNotFound(f"your configuration has no setting {key!r}")
                self._record(conn, caller, Action.READ, tid, key, Outcome.NOT_FOUND)
            else:
                try:
                    shown = self._shown(caller, home, stored)
                    self._record(conn, caller, Action.READ, tid, key, Outcome.ALLOWED)
                except SecretTampered as exc:
                    failure = exc
                    self._record(conn, caller, Action.READ, tid, key, Outcome.REFUSED, str(exc))
        if failure is not None:
            raise failure
        assert stored is not None and shown is not None
        if cached is None:
            self._cache.put(home, stored)
        return shown

    def list_settings(
        self, caller: Principal, tenant_id: object, prefix: object = ""
    ) -> list[Setting]:
        """The caller's settings whose name starts with ``prefix`` (plain text, no patterns)."""
        home, tid, _ = self._admit(caller, Action.LIST, tenant_id, None, Permission.READ)
        if not isinstance(prefix, str) or len(prefix) > MAX_NAME or not _PREFIX.fullmatch(prefix):
            self._refuse(caller, home, Action.LIST, tenant_id, prefix, "invalid filter")
            raise InvalidInput(
                f"invalid filter {_shown(prefix)}: use the start of a setting name"
            )
        with self._act(home, caller.tenant_id) as conn:
            rows = store.select_all(conn, tid, prefix)
            self._record(conn, caller, Action.LIST, tid, prefix or None, Outcome.ALLOWED)
        return [self._shown_or_masked(caller, home, row) for row in rows]

    def delete(self, caller: Principal, tenant_id: object, name: object) -> bool:
        """Remove a setting; whether it existed."""
        home, tid, key = self._admit(caller, Action.DELETE, tenant_id, name, Permission.WRITE)
        with self._act(home, caller.tenant_id) as conn:
            existed = store.delete(conn, tid, key)
            outcome = Outcome.ALLOWED if existed else Outcome.NOT_FOUND
            self._record(conn, caller, Action.DELETE, tid, key, outcome)
        self._cache.forget(home, tid, key)
        return existed

    def audit_trail(self, caller: Principal) -> list[AuditRecord]:
        """The caller's own tenant's audit trail, oldest first (reading it is not audited)."""
        home = self._directory.region_of(caller.tenant_id)
        with self._act(home, caller.tenant_id) as conn:
            return audit.records(conn, caller.tenant_id)

    # -- internals ------------------------------------------------------------------------

    def _admit(
        self, caller: Principal, action: Action, tenant_id: object, name: object,
        permission: Permission,
    ) -> tuple[Region, str, str]:
        """Refuse (audited) anything but the caller's own, well-formed, permitted request."""
        home = self._directory.region_of(caller.tenant_id)
        try:
            tid = validation.tenant_id(tenant_id)
        except InvalidInput:
            self._refuse(caller, home, action, tenant_id, name, "invalid tenant id")
            raise
        if tid != caller.tenant_id:
            self._refuse(caller, home, action, tenant_id, name, "another tenant's configuration")
            raise AccessDenied("you may act only on your own tenant's configuration")
        if not caller.may(permission):
            self._refuse(caller, home, action, tenant_id, name, f"lacks {permission.value}")
            raise AccessDenied(f"your role may not {action.value} configuration")
        # From here on only the caller's own tenant id is used, for the cache as for the
        # database: the addressed id has served its purpose (it was compared, and equal).
        if name is None:
            return home, caller.tenant_id, ""
        if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
            self._refuse(caller, home, action, tenant_id, name, "invalid setting name")
            raise InvalidInput(
                f"invalid setting name {_shown(name)}: use lowercase words joined by '.' or '_'"
            )
        return home, caller.tenant_id, name

    def _refuse_unless_valid(
        self, caller: Principal, home: Region, action: Action, tenant_id: object, name: str,
        value: object,
    ) -> str:
        if isinstance(value, str) and 0 < len(value) <= MAX_VALUE and "\x00" not in value:
            return value
        self._refuse(caller, home, action, tenant_id, name, "invalid value")
        raise InvalidInput(f"a setting's value must be 1-{MAX_VALUE:,} characters of text")

    def _refuse(
        self, caller: Principal, home: Region, action: Action, tenant_id: object, name: object,
        reason: str,
    ) -> None:
        with self._act(home, caller.tenant_id) as conn:
            self._record(
                conn, caller, action, _text(tenant_id),
                None if name is None else _text(name), Outcome.REFUSED, reason,
            )

    def _record(
        self, conn: Connection[Any], caller: Principal, action: Action, target: str,
        setting: str | None, outcome: Outcome, reason: str | None = None,
    ) -> None:
        audit.record(conn, AuditRecord(
            caller.tenant_id, caller.actor, action, target, setting, outcome, reason,
            self._clock.now(),
        ))

    def _act(
        self, home: Region, tenant_id: str
    ) -> contextlib.AbstractContextManager[Connection[Any]]:
        # Always called with the *caller's* tenant, never the one its request addressed: were
        # the check in _admit ever wrong, row-level security would still confine the work to
        # the caller's own rows.
        return tenant_transaction(self._pools[home], tenant_id)

    def _shown(self, caller: Principal, home: Region, row: store.StoredSetting) -> Setting:
        if row.kind is Kind.SECRET:
            assert row.sealed is not None
            value = (
                self._cipher.open(home, row.tenant_id, row.name, row.sealed)
                if caller.may(Permission.REVEAL_SECRETS) else MASKED
            )
        else:
            value = row.value or ""
        return Setting(
            row.tenant_id, row.name, row.kind, value, row.version, row.updated_by, row.updated_at
        )

    def _shown_or_masked(
        self, caller: Principal, home: Region, row: store.StoredSetting
    ) -> Setting:
        """In a listing a secret that fails its check is shown masked rather than failing all."""
        try:
            return self._shown(caller, home, row)
        except SecretTampered:
            return Setting(
                row.tenant_id, row.name, row.kind, MASKED, row.version, row.updated_by,
                row.updated_at,
            )


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
