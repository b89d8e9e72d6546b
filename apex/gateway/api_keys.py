"""Per-tenant API keys. A key is shown once, when issued; PostgreSQL keeps only its SHA-256
digest, so a leaked table grants nothing. Keys are issued acting for their tenant; the lookup at
the handshake, before any tenant is known, goes through the database's one cross-tenant
function for it, which returns a tenant id and never a digest."""

from __future__ import annotations

import hashlib
import secrets

from psycopg_pool import ConnectionPool

from apex import keys, validation
from apex.clock import Clock
from apex.tenancy.session import tenant_transaction

#: Issued keys look like ``apex_<43 url-safe characters>`` (256 bits of randomness).
KEY_PREFIX = "apex_"
_MAX_KEY_CHARS = 200


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, pool: ConnectionPool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    def issue(self, tenant_id: str) -> str:
        """A new key for the tenant; the caller must keep it, it cannot be shown again."""
        tenant_id = validation.tenant_id(tenant_id)
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        with tenant_transaction(self._pool, tenant_id) as conn:
            conn.execute(
                f"INSERT INTO {keys.API_KEYS_TABLE} (key_digest, tenant_id, created_at)"
                " VALUES (%s, %s, %s)",
                (digest(api_key), tenant_id, self._clock.now()),
            )
        return api_key

    def revoke(self, tenant_id: str, api_key: str) -> bool:
        """Revoke one of the tenant's keys: it opens no connection from now on. False if the
        tenant has no such live key (unknown, another tenant's, or revoked already)."""
        tenant_id = validation.tenant_id(tenant_id)
        with tenant_transaction(self._pool, tenant_id) as conn:
            revoked = conn.execute(
                f"UPDATE {keys.API_KEYS_TABLE} SET revoked_at = %s"
                " WHERE key_digest = %s AND revoked_at IS NULL",
                (self._clock.now(), digest(api_key)),
            ).rowcount
        return revoked == 1

    def tenant_for(self, api_key: str) -> str | None:
        """The tenant a live key belongs to, or None for an unknown or revoked key."""
        if not api_key.startswith(KEY_PREFIX) or len(api_key) > _MAX_KEY_CHARS:
            return None
        # No tenant is known yet, and the platform's role sees no key without one: the lookup
        # function answers this one question across tenants (0005_main_row_security.sql).
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {keys.API_KEY_LOOKUP_FUNCTION}(%s)", (digest(api_key),)
            ).fetchone()
        return str(row[0]) if row and row[0] is not None else None
