"""The append-only audit trail of configuration reads, writes and refused attempts.

Records go to the acting tenant's region database, in the acting tenant's name (row-level
security forbids anything else). The platform's role may only insert and select; a trigger
refuses any update, delete or truncate, even by the tables' owner.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from apex import keys
from apex.tenancy.model import Action, AuditRecord, Outcome

#: Caller-supplied text is kept as sent (it may be an attack) but bounded.
MAX_SHOWN = 200


def record(conn: Connection[Any], entry: AuditRecord) -> None:
    """Append one record (the connection acts for ``entry.tenant_id``)."""
    conn.execute(
        f"INSERT INTO {keys.CONFIG_AUDIT_TABLE}"
        " (tenant_id, actor, action, target_tenant, setting, outcome, reason, at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            entry.tenant_id, entry.actor, entry.action.value, bounded(entry.target_tenant),
            bounded(entry.setting) if entry.setting is not None else None,
            entry.outcome.value, entry.reason, entry.at,
        ),
    )


def records(conn: Connection[Any], tenant_id: str) -> list[AuditRecord]:
    """The tenant's trail, oldest first."""
    rows = conn.execute(
        "SELECT tenant_id, actor, action, target_tenant, setting, outcome, reason, at"
        f" FROM {keys.CONFIG_AUDIT_TABLE} WHERE tenant_id = %s ORDER BY id",
        (tenant_id,),
    ).fetchall()
    return [
        AuditRecord(
            str(t), str(actor), Action(action), str(target), setting, Outcome(outcome), reason, at
        )
        for t, actor, action, target, setting, outcome, reason, at in rows
    ]


def bounded(text: str) -> str:
    """Untrusted text made storable: NUL removed (PostgreSQL text refuses it), length bounded."""
    cleaned = text.replace("\x00", "\\0")
    return cleaned if len(cleaned) <= MAX_SHOWN else cleaned[: MAX_SHOWN - 3] + "..."
