"""The tenant configuration stores beneath the platform's API: the contract's
:class:`~harness.drivers.tenant_config.contract.StoreProbe`.

Observations (Then-steps) run the queries a careless or malicious program could run: as the
platform's own role or as the tables' owner, in one tenant's session or in none, without a
tenant filter. They prove what the *database* enforces. ``forget*``, ``copy_stored_secret`` and
``plant_cache_entry`` are the trusted back door of Given-steps and cleanup. Table and key names
come from ``apex.keys``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import redis
from psycopg import sql

from apex import keys
from apex.tenancy.model import Kind
from apex.tenancy.provisioning import OWNER_ROLE
from apex.tenancy.regions import Region, cache_url
from harness.drivers.tenant_config.accounts import AccountRecordsProbe
from harness.drivers.tenant_config.contract import (
    CacheEntry,
    DatabaseRole,
    Holding,
    StoredRecord,
    Table,
)

_TABLES: dict[str, str] = {
    "settings": keys.TENANT_CONFIG_TABLE,
    "audit records": keys.CONFIG_AUDIT_TABLE,
}
_REWRITES: dict[str, str] = {
    "change one of": f"UPDATE {keys.CONFIG_AUDIT_TABLE} SET outcome = 'allowed', actor = 'nobody'"
    f" WHERE id = (SELECT min(id) FROM {keys.CONFIG_AUDIT_TABLE} WHERE tenant_id = %(t)s)",
    "delete one of": f"DELETE FROM {keys.CONFIG_AUDIT_TABLE}"
    f" WHERE id = (SELECT min(id) FROM {keys.CONFIG_AUDIT_TABLE} WHERE tenant_id = %(t)s)",
    "wipe out all": f"TRUNCATE {keys.CONFIG_AUDIT_TABLE}",
}


class TenantStoresProbe:
    def __init__(
        self, redis_url: str, app_dsns: dict[Region, str], admin_dsns: dict[Region, str],
        accounts: AccountRecordsProbe,
    ) -> None:
        self.accounts = accounts
        self._app_dsns = app_dsns
        self._admin_dsns = admin_dsns
        self._caches = {r: redis.Redis.from_url(cache_url(redis_url, r)) for r in Region}

    def close(self) -> None:
        for client in self._caches.values():
            client.close()

    # -- observations ---------------------------------------------------------------------

    def unfiltered_query(
        self, region: str, table: Table, role: DatabaseRole, tenant: str | None
    ) -> list[str]:
        """The tenant id of every row ``SELECT ... FROM table`` (no WHERE) returns, run as
        ``role`` in ``tenant``'s session (or in none)."""
        with self._session(region, role, tenant) as conn:
            rows = conn.execute(
                sql.SQL("SELECT tenant_id FROM {}").format(sql.Identifier(_TABLES[table]))
            ).fetchall()
            conn.rollback()
        return [str(row[0]) for row in rows]

    def holdings(self, tenant_id: str) -> dict[str, Holding]:
        """What each region's database and cache hold of this tenant."""
        found: dict[str, Holding] = {}
        for region in (r.value for r in Region):
            with self._session(region, "owner", tenant_id) as conn:
                counts = [
                    _scalar(conn.execute(
                        sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s").format(
                            sql.Identifier(table)
                        ), (tenant_id,),
                    ).fetchone())
                    for table in (keys.TENANT_CONFIG_TABLE, keys.CONFIG_AUDIT_TABLE)
                ]
                conn.rollback()
            cached = int(self._caches[Region(region)].hlen(keys.tenant_config_cache(tenant_id)))
            found[region] = Holding(counts[0], counts[1], cached)
        return found

    def stored_record(self, region: str, tenant_id: str, name: str) -> StoredRecord:
        """Every column of a stored setting, as text (bytes as hex, and as decoded text)."""
        with self._session(region, "owner", tenant_id) as conn:
            cur = conn.execute(
                f"SELECT * FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s AND name = %s",
                (tenant_id, name),
            )
            row = cur.fetchone()
            columns = [c.name for c in cur.description or []]
            conn.rollback()
        if row is None:
            raise AssertionError(f"no stored setting {name!r} of {tenant_id} in {region}")
        record = {column: _as_text(value) for column, value in zip(columns, row, strict=True)}
        return StoredRecord(
            sealed=record["kind"] == Kind.SECRET.value and bool(record["ciphertext"]),
            text=" ".join(record.values()),
        )

    def cache_entries(self, region: str, tenant_id: str) -> dict[str, CacheEntry]:
        raw = self._caches[Region(region)].hgetall(keys.tenant_config_cache(tenant_id))
        return {_text(k): _cache_entry(_text(v)) for k, v in raw.items()}

    def audit_rows(self, region: str, tenant_id: str) -> list[tuple[Any, ...]]:
        return self._owner_rows(region, tenant_id, keys.CONFIG_AUDIT_TABLE, "id")

    def settings_rows(self, region: str, tenant_id: str) -> list[tuple[Any, ...]]:
        return self._owner_rows(region, tenant_id, keys.TENANT_CONFIG_TABLE, "name")

    def _owner_rows(
        self, region: str, tenant_id: str, table: str, order_by: str
    ) -> list[tuple[Any, ...]]:
        """A tenant's raw rows of ``table``, read as the store's owner in the tenant's session."""
        with self._session(region, "owner", tenant_id) as conn:
            rows = conn.execute(
                f"SELECT * FROM {table} WHERE tenant_id = %s ORDER BY {order_by}", (tenant_id,)
            ).fetchall()
            conn.rollback()
        return rows

    def settings_of(self, region: str, tenant_id: str) -> dict[str, str | None]:
        """Name -> plain value (None for a secret) of the tenant's stored settings."""
        with self._session(region, "owner", tenant_id) as conn:
            rows = conn.execute(
                f"SELECT name, value FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchall()
            conn.rollback()
        return {str(name): value for name, value in rows}

    def rewrite_audit(
        self, region: str, tenant_id: str, role: DatabaseRole, how: str
    ) -> str | None:
        """Try to ``how`` ("change one of", "delete one of", "wipe out all") the tenant's audit
        records as ``role`` in its session, committing if the database lets it; returns the
        refusal, or None."""
        try:
            with self._session(region, role, tenant_id) as conn:
                conn.execute(_REWRITES[how].encode(), {"t": tenant_id})
                conn.commit()
        except psycopg.Error as exc:
            return f"{type(exc).__name__}: {exc}".strip()
        return None

    # -- back door (Given-steps only) -----------------------------------------------------

    def forget_cache(self, region: str, tenant_id: str) -> None:
        """The tenant's cached configuration is lost (as after a cache flush)."""
        self._caches[Region(region)].delete(keys.tenant_config_cache(tenant_id))

    def forget(self, region: str, tenant_id: str) -> None:
        """Cleanup: remove a scenario tenant's cache and settings (its audit trail stays:
        it is append-only by design, and the tenant id is never reused)."""
        self.forget_cache(region, tenant_id)
        with self._session(region, "owner", tenant_id) as conn:
            conn.execute(
                f"DELETE FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s", (tenant_id,)
            )
            conn.commit()

    def copy_stored_secret(self, region: str, name: str, source: str, target: str) -> None:
        """Copy the stored (sealed) record of ``source``'s setting into ``target``'s."""
        with self._session(region, "owner", source) as conn:
            row = conn.execute(
                f"SELECT kind, nonce, ciphertext, key_id, updated_by, updated_at"
                f" FROM {keys.TENANT_CONFIG_TABLE} WHERE tenant_id = %s AND name = %s",
                (source, name),
            ).fetchone()
            conn.rollback()
        assert row is not None, f"{source} has no stored setting {name!r} to copy"
        with self._session(region, "owner", target) as conn:
            conn.execute(
                f"INSERT INTO {keys.TENANT_CONFIG_TABLE} (tenant_id, name, kind, value, nonce,"
                " ciphertext, key_id, version, updated_by, updated_at)"
                " VALUES (%s, %s, %s, NULL, %s, %s, %s, 1, %s, %s)",
                (target, name, *row),
            )
            conn.commit()

    def plant_cache_entry(self, region: str, name: str, source: str, target: str) -> None:
        """Put ``source``'s cached entry for ``name`` under ``target``'s cache, as is."""
        client = self._caches[Region(region)]
        entry = client.hget(keys.tenant_config_cache(source), name)
        assert entry is not None, f"{source} has no cached setting {name!r} to plant"
        client.hset(keys.tenant_config_cache(target), name, entry)

    # -- internals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(
        self, region: str, role: DatabaseRole, tenant: str | None
    ) -> Iterator[psycopg.Connection[Any]]:
        home = Region(region)
        dsn = self._app_dsns[home] if role == "platform" else self._admin_dsns[home]
        with psycopg.connect(dsn) as conn:
            if role == "owner":
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER_ROLE)))
            if tenant is not None:
                conn.execute("SELECT set_config(%s, %s, true)", (keys.TENANT_SETTING, tenant))
            yield conn


def _cache_entry(text: str) -> CacheEntry:
    try:
        entry = json.loads(text)
    except ValueError:
        return CacheEntry(None, None, text)
    if not isinstance(entry, dict):
        return CacheEntry(None, None, text)
    return CacheEntry(entry.get("tenant_id"), entry.get("updated_by"), text)


def _scalar(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row else 0


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return f"{data.hex()} {data.decode('latin-1')}"
    return "" if value is None else str(value)
