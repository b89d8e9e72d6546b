"""``python -m apex.dlq`` as an operator runs it: in its own process, settings from the
environment, exit codes that say what happened, secrets never printed."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from apex.analytics import ClickHouseGateway
from apex.dlq import DeadLetterSettings, DeliveryError, Message, QueueName, Reason
from apex.dlq.cli import Tools, main
from apex.dlq.reconcile import Reconciliation
from harness.services import Services
from tests.apex.dlq.dlq_support import Stores, a_tenant, dlq_stores, text

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def namespace() -> str:
    return f"dlq-{secrets.token_hex(4)}"


@pytest.fixture
def stores(services: Services, namespace: str) -> Iterator[Stores]:
    queues = DeadLetterSettings().queues(namespace)
    with dlq_stores(services, *queues.values()) as stores:
        yield stores


def _environment(services: Services, namespace: str, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("APEX_PLATFORM_", "APEX_DLQ_"))}
    return {
        **keep, "APEX_PLATFORM_REDIS_URL": services.redis_url,
        "APEX_PLATFORM_POSTGRES_DSN": services.postgres.app_dsn,
        "APEX_PLATFORM_NAMESPACE": namespace, **extra,
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apex.dlq", *args], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=60, check=False,
    )


def _dead_job(stores: Stores, tenant: str) -> str:
    queue = stores.queues[QueueName.RUN_JOBS]
    job = json.dumps({"tenant_id": tenant}).encode()
    entry = text(stores.redis.xadd(queue.stream, {b"job": job}))
    return stores.dead_letters.dead_letter(
        Message(queue.name, tenant, entry, entry, {b"job": job}),
        Reason.MAX_DELIVERIES, attempts=3, errors=[DeliveryError(3, "ValueError: bad step")],
    ).id


def test_an_operator_lists_a_tenants_dead_letters_and_redrives_one_exactly_once(
    services: Services, stores: Stores, namespace: str,
) -> None:
    tenant = a_tenant()
    entry = _dead_job(stores, tenant)
    env = _environment(services, namespace)
    listed = _run(env, "list", "--queue", "run-jobs", "--tenant", tenant, "--json")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert (shown["id"], shown["attempts"], shown["last_error"]) == (
        entry, 3, "ValueError: bad step"
    )
    first = _run(env, "redrive", entry)
    second = _run(env, "redrive", entry, "--queue", "run-jobs")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "1 redriven, 0 already redriven" in first.stdout
    assert "0 redriven, 1 already redriven" in second.stdout
    assert stores.redis.xlen(stores.queues[QueueName.RUN_JOBS].stream) == 2  # original + 1
    readable = _run(env, "list", "--tenant", tenant)
    assert readable.stdout.strip().endswith("0 dead letters")
    for out in (listed, first, second, readable):
        assert services.postgres.app_password not in out.stdout + out.stderr


def test_redrive_all_reports_its_progress(
    services: Services, stores: Stores, namespace: str,
) -> None:
    tenant = a_tenant()
    ids = [_dead_job(stores, tenant) for _ in range(3)]
    done = _run(_environment(services, namespace), "redrive", "--all", "--queue", "run-jobs")
    assert done.returncode == 0, done.stderr
    assert all(entry in done.stdout for entry in ids)
    assert "redriving: 3/3" in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["list", "--queue", "jobz"], "unknown queue 'jobz': the queues are run-jobs, usage"),
        (["redrive"], "one of the arguments --all ENTRY_ID is required"),
        (["redrive", "not-an-id"], "is not a dead-letter id"),
        (["list", "--tenant", "Bad Tenant!"], "invalid tenant id"),
        (["frobnicate"], "invalid choice"),
        (["reconcile"], "set APEX_DLQ_CLICKHOUSE_URL"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(
    services: Services, namespace: str, args: list[str], says: str,
) -> None:
    result = _run(_environment(services, namespace), *args)
    assert (result.returncode, says in result.stderr) == (2, True), result.stderr
    assert services.postgres.app_password not in result.stdout + result.stderr


def test_missing_settings_exit_2_and_an_unreachable_store_exits_3_without_its_password(
    services: Services, namespace: str,
) -> None:
    unset = {k: v for k, v in os.environ.items() if not k.startswith("APEX_PLATFORM_")}
    missing = _run(unset, "list")
    password = "s3cret-" + secrets.token_hex(4)
    down = _run(
        _environment(
            services, namespace,
            APEX_PLATFORM_POSTGRES_DSN=f"host=127.0.0.1 port=1 user=apex_app password={password}",
            APEX_PLATFORM_POSTGRES_WAIT_MS="300",
        ),
        "list",
    )
    assert (missing.returncode, "APEX_PLATFORM_REDIS_URL" in missing.stderr) == (2, True)
    assert down.returncode == 3, down.stderr
    assert "a store did not answer" in down.stderr
    assert password not in down.stdout + down.stderr


def test_reconcile_exits_1_while_a_billed_event_is_missing_from_analytics(
    services: Services, stores: Stores,
) -> None:
    tenant = a_tenant()
    clickhouse = ClickHouseGateway(services.clickhouse)
    with psycopg.connect(services.postgres.admin_dsn, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO tenants (tenant_id, display_name, tier, created_at, updated_at)"
            " VALUES (%s, %s, 'mid', now(), now())", (tenant, tenant),
        )
        admin.execute(
            "INSERT INTO billing_events (tenant_id, kind, reference_id, period, tier, units,"
            " amount, occurred_at) VALUES (%s, 'request', 'r-1', '2026-11', 'mid', 1, 1.5,"
            " now())", (tenant,),
        )
    tools = Tools(stores.dead_letters, timedelta(days=14),
                  lambda: Reconciliation(stores.pool, clickhouse, stores.dead_letters))
    out, err = io.StringIO(), io.StringIO()
    status = main(["reconcile", "--tenant", tenant], tools=tools, out=out, err=err)
    assert status == 1, err.getvalue()
    assert f"tenant {tenant}: DIFFERS" in out.getvalue()
    assert "missing from analytics: request r-1" in out.getvalue()
