"""SQL on a region's ``tenant_config`` table. Every function takes a connection already acting
for a tenant (see :mod:`apex.tenancy.session`); row-level security confines it to that tenant
even where a query names the tenant as well (it always does: defence in depth)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection

from apex import keys
from apex.tenancy.cipher import SealedSecret
from apex.tenancy.model import Kind

_COLUMNS = (
    "tenant_id, name, kind, value, nonce, ciphertext, key_id, version, updated_by, updated_at"
)


@dataclass(frozen=True, slots=True)
class StoredSetting:
    """A row as stored: a secret's value is only its sealed form."""

    tenant_id: str
    name: str
    kind: Kind
    value: str | None
    sealed: SealedSecret | None
    version: int
    updated_by: str
    updated_at: datetime


def select_one(conn: Connection[Any], tenant_id: str, name: str) -> StoredSetting | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s AND name = %s",
        (tenant_id, name),
    ).fetchone()
    return _stored(row) if row else None


def select_all(conn: Connection[Any], tenant_id: str, prefix: str) -> list[StoredSetting]:
    """The tenant's settings whose name starts with ``prefix`` (no pattern syntax), by name."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM {keys.TENANT_CONFIG_TABLE}"
        " WHERE tenant_id = %s AND starts_with(name, %s) ORDER BY name",
        (tenant_id, prefix),
    ).fetchall()
    return [_stored(row) for row in rows]


def upsert(conn: Connection[Any], setting: StoredSetting) -> StoredSetting:
    """Insert or replace; the version counts writes. Returns the row as stored."""
    sealed = setting.sealed
    row = conn.execute(
        f"INSERT INTO {keys.TENANT_CONFIG_TABLE} ({_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s)"
        " ON CONFLICT (tenant_id, name) DO UPDATE SET kind = EXCLUDED.kind,"
        " value = EXCLUDED.value, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,"
        f" key_id = EXCLUDED.key_id, version = {keys.TENANT_CONFIG_TABLE}.version + 1,"
        " updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at"
        f" RETURNING {_COLUMNS}",
        (
            setting.tenant_id, setting.name, setting.kind.value, setting.value,
            sealed.nonce if sealed else None, sealed.ciphertext if sealed else None,
            sealed.key_id if sealed else None, setting.updated_by, setting.updated_at,
        ),
    ).fetchone()
    assert row is not None
    return _stored(row)


def delete(conn: Connection[Any], tenant_id: str, name: str) -> bool:
    """Remove the setting; whether there was one."""
    cur = conn.execute(
        f"DELETE FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s AND name = %s",
        (tenant_id, name),
    )
    return cur.rowcount == 1


def _stored(row: tuple[Any, ...]) -> StoredSetting:
    tenant_id, name, kind, value, nonce, ciphertext, key_id, version, by, at = row
    sealed = (
        SealedSecret(bytes(nonce), bytes(ciphertext), str(key_id))
        if ciphertext is not None else None
    )
    return StoredSetting(
        str(tenant_id), str(name), Kind(kind), value, sealed, int(version), str(by), at
    )
