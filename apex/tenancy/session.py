"""Acting for one tenant in the database: the only way the platform touches a tenant table.

``tenant_transaction(pool, tenant_id)`` opens a transaction and sets the tenant with
``set_config(..., is_local => true)``, i.e. ``SET LOCAL``: the setting ends with the
transaction, commit or rollback, so a pooled connection handed to the next request (another
tenant's, or a job's) carries no trace of this one. Row-level security reads that setting; a
connection with no tenant set sees no tenant rows at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from apex import keys, validation


@contextlib.contextmanager
def tenant_transaction(
    pool: ConnectionPool[Any], tenant_id: str
) -> Iterator[Connection[Any]]:
    """A connection inside a transaction acting for ``tenant_id`` (validated)."""
    tenant_id = validation.tenant_id(tenant_id)
    with pool.connection() as conn, conn.transaction():
        act_for(conn, tenant_id)
        yield conn


def act_for(conn: Connection[Any], tenant_id: str) -> None:
    """Set the tenant for the rest of the current transaction only (must be inside one)."""
    conn.execute("SELECT set_config(%s, %s, true)", (keys.TENANT_SETTING, tenant_id))


def current_tenant(conn: Connection[Any]) -> str:
    """The tenant the connection acts for right now ('' when none)."""
    row = conn.execute("SELECT current_setting(%s, true)", (keys.TENANT_SETTING,)).fetchone()
    return str(row[0]) if row and row[0] else ""
