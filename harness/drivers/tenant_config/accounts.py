"""Tenants' account records in the main database (subscriptions, charges, API keys, home
regions, agent runs and their saved steps), beneath
the platform: the raw queries and writes a careless or malicious program could run as the
platform's own role, and what the records hold, read as the administrator. Planting records is
the trusted back door of Given-steps. Table names come from ``apex.keys``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from apex import keys
from harness.drivers.tenant_config.contract import (
    AccountChange,
    AccountRecords,
    AccountSnapshot,
)

_TABLES: dict[AccountRecords, str] = {
    "subscriptions": keys.TENANTS_TABLE,
    "charges": keys.BILLING_EVENTS_TABLE,
    "API keys": keys.API_KEYS_TABLE,
    "home regions": keys.TENANT_REGIONS_TABLE,
    "agent runs": keys.AGENT_RUNS_TABLE,
    "saved agent steps": keys.RUN_STEPS_TABLE,
}
_NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _digest() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


#: Each change, as the statement a program acting as the platform would run against ``target``.
_CHANGES: dict[AccountChange, Callable[[str], tuple[str, tuple[Any, ...]]]] = {
    AccountChange.TIER: lambda target: (
        f"UPDATE {keys.TENANTS_TABLE} SET tier = 'free' WHERE tenant_id = %s", (target,)
    ),
    AccountChange.CHARGE: lambda target: (
        f"INSERT INTO {keys.BILLING_EVENTS_TABLE} (tenant_id, kind, reference_id, period, tier,"
        " units, amount, occurred_at) VALUES (%s, 'request', %s, '2026-11', 'enterprise', 1,"
        " 1000, %s)",
        (target, f"planted-{secrets.token_hex(4)}", _NOW),
    ),
    AccountChange.API_KEY: lambda target: (
        f"INSERT INTO {keys.API_KEYS_TABLE} (key_digest, tenant_id, created_at)"
        " VALUES (%s, %s, %s)",
        (_digest(), target, _NOW),
    ),
    AccountChange.CHARGE_AMOUNT: lambda target: (
        f"UPDATE {keys.BILLING_EVENTS_TABLE} SET amount = amount + 1 WHERE tenant_id = %s",
        (target,),
    ),
    AccountChange.CHARGE_REMOVAL: lambda target: (
        f"DELETE FROM {keys.BILLING_EVENTS_TABLE} WHERE tenant_id = %s", (target,)
    ),
    AccountChange.REGION_MOVE: lambda target: (
        f"UPDATE {keys.TENANT_REGIONS_TABLE}"
        " SET region = CASE region WHEN 'eu' THEN 'us' ELSE 'eu' END WHERE tenant_id = %s",
        (target,),
    ),
    AccountChange.KEY_SECRET: lambda target: (
        # another valid digest, as a program swapping in a key it knows would write
        f"UPDATE {keys.API_KEYS_TABLE}"
        " SET key_digest = encode(sha256(key_digest::bytea), 'hex') WHERE tenant_id = %s",
        (target,),
    ),
    AccountChange.RUN_EVENT: lambda target: (
        f"UPDATE {keys.RUN_EVENTS_TABLE} SET body = jsonb_build_object('report', 'rewritten')"
        " WHERE tenant_id = %s",
        (target,),
    ),
    AccountChange.SAVED_STEP: lambda target: (
        # a step's answer swapped after the fact: a take-over would resume from it
        f"UPDATE {keys.RUN_STEPS_TABLE} SET content = 'rewritten' WHERE tenant_id = %s",
        (target,),
    ),
}


class AccountRecordsProbe:
    def __init__(self, app_dsn: str, admin_dsn: str) -> None:
        self._app_dsn = app_dsn
        self._admin_dsn = admin_dsn

    def unfiltered_query(self, records: AccountRecords, tenant: str | None) -> list[str]:
        """The tenant id of every row ``SELECT ... FROM <records>`` (no WHERE) returns, as the
        platform's role, in ``tenant``'s session (or in none)."""
        with self._as_platform(tenant) as conn:
            rows = conn.execute(
                sql.SQL("SELECT tenant_id FROM {}").format(sql.Identifier(_TABLES[records]))
            ).fetchall()
            conn.rollback()
        return [str(row[0]) for row in rows]

    def try_change(self, change: AccountChange, target: str, acting_for: str | None) -> str | None:
        """Run the change against ``target`` as the platform's role, acting for ``acting_for``
        (or for no tenant). Returns how the database refused it, or None if a row changed."""
        statement, parameters = _CHANGES[change](target)
        with self._as_platform(acting_for) as conn:
            try:
                changed = conn.execute(statement.encode(), parameters).rowcount
            except psycopg.Error as exc:
                conn.rollback()
                return f"refused: {exc.sqlstate} {type(exc).__name__}"
            conn.commit()
        return None if changed else "no row was visible to change"

    def snapshot(self, tenant_id: str) -> AccountSnapshot:
        """What the account holds, read as the administrator."""
        with psycopg.connect(self._admin_dsn) as conn:
            tier = conn.execute(
                f"SELECT tier FROM {keys.TENANTS_TABLE} WHERE tenant_id = %s", (tenant_id,)
            ).fetchone()
            charges = conn.execute(
                f"SELECT reference_id, amount FROM {keys.BILLING_EVENTS_TABLE}"
                " WHERE tenant_id = %s ORDER BY reference_id", (tenant_id,),
            ).fetchall()
            api_keys = conn.execute(
                f"SELECT key_digest FROM {keys.API_KEYS_TABLE} WHERE tenant_id = %s"
                " ORDER BY key_digest", (tenant_id,),
            ).fetchall()
            region = conn.execute(
                f"SELECT region FROM {keys.TENANT_REGIONS_TABLE} WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchone()
            events = conn.execute(
                f"SELECT run_id, seq, kind, body::text FROM {keys.RUN_EVENTS_TABLE}"
                " WHERE tenant_id = %s ORDER BY run_id, seq", (tenant_id,),
            ).fetchall()
            steps = conn.execute(
                f"SELECT run_id, step, content FROM {keys.RUN_STEPS_TABLE}"
                " WHERE tenant_id = %s ORDER BY run_id, step", (tenant_id,),
            ).fetchall()
        return AccountSnapshot(
            str(tier[0]) if tier else None,
            tuple((str(r), str(a)) for r, a in charges),
            tuple(str(d) for (d,) in api_keys),
            str(region[0]) if region else None,
            tuple((str(r), int(q), str(k), str(b)) for r, q, k, b in events),
            tuple((str(r), int(s), str(c)) for r, s, c in steps),
        )

    # -- back door (Given-steps) ----------------------------------------------------------

    def plant(self, tenant_id: str, api_keys: int, charges: int, runs: int) -> None:
        """Give the tenant API keys, billed requests and finished agent runs (each with its
        result in the run's log and its first step saved), written as the administrator."""
        with psycopg.connect(self._admin_dsn) as conn:
            for _ in range(api_keys):
                conn.execute(*_CHANGES[AccountChange.API_KEY](tenant_id))
            for _ in range(charges):
                conn.execute(*_CHANGES[AccountChange.CHARGE](tenant_id))
            for _ in range(runs):
                run_id = f"planted-{secrets.token_hex(4)}"
                conn.execute(
                    f"INSERT INTO {keys.AGENT_RUNS_TABLE} (tenant_id, run_id, state, task,"
                    " last_seq, claimed_at, created_at, updated_at)"
                    " VALUES (%s, %s, 'succeeded', 'planted', 1, %s, %s, %s)",
                    (tenant_id, run_id, _NOW, _NOW, _NOW),
                )
                conn.execute(
                    f"INSERT INTO {keys.RUN_EVENTS_TABLE} (tenant_id, run_id, seq, kind, body, at)"
                    " VALUES (%s, %s, 1, 'result', jsonb_build_object('report', 'planted'), %s)",
                    (tenant_id, run_id, _NOW),
                )
                conn.execute(
                    f"INSERT INTO {keys.RUN_STEPS_TABLE} (tenant_id, run_id, step, agent, model,"
                    " content, prompt_tokens, cached_prompt_tokens, completion_tokens,"
                    " cost_micros) VALUES (%s, %s, 1, 'triage', 'small', 'planted', 1200, 0,"
                    " 300, 150)",
                    (tenant_id, run_id),
                )

    def _as_platform(self, tenant: str | None) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._app_dsn)
        if tenant is not None:
            conn.execute("SELECT set_config(%s, %s, true)", (keys.TENANT_SETTING, tenant))
        return conn
