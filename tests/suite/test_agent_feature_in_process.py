"""The agent-run driver contract in-process (L3): the same gateway session and orchestration
worker as the L4 processes, in this process, against the scripted model over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apex.analytics import AnalyticsQueries, ClickHouseGateway
from apex.platform import Platform, PlatformSettings
from harness.drivers.agent_runs.contract import (
    ENDINGS,
    Answer,
    CloseReason,
    ConnectionClosed,
    HandshakeRefused,
    Heard,
    HeardKind,
    Outage,
)
from harness.drivers.agent_runs.in_process import InProcessRunsDriver
from harness.drivers.agent_runs.scripted_model import ScriptedModel
from harness.drivers.agent_runs.stores import PlatformStores
from harness.services import Services
from harness.services.clock import PublishedClock
from harness.services.scripted_llm import ScriptedLlmServer
from tests.behave_runner import REPO, run_behave

KEY = "sk-scripted-" + secrets.token_urlsafe(16)
MODELS = ("s", "m", "l")
FEATURE = "features/phase1/agent_orchestration_revenue_path.feature"
#: scenarios the feature runs (outline rows counted one by one)
FEATURE_SCENARIOS = 20


@pytest.fixture(scope="module")
def parts(services: Services) -> Iterator[tuple[InProcessRunsDriver, ScriptedModel]]:
    clock = PublishedClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    namespace = "l3-" + secrets.token_hex(3)
    # Queries only, no sink: usage events stay in this test's Redis stream, so the shared
    # in-process ClickHouse (one chDB engine per process) is left as other tests expect.
    analytics = AnalyticsQueries(ClickHouseGateway(services.clickhouse))
    llm = ScriptedLlmServer(KEY).start()
    settings = PlatformSettings(
        redis_url=services.redis_url, postgres_dsn=services.postgres.app_dsn
    )
    stores = PlatformStores(
        services.redis_url, services.postgres.app_dsn, analytics, clock, namespace
    )
    driver = InProcessRunsDriver(
        stores, services.redis_url, services.postgres.app_dsn, clock, namespace=namespace,
        llm_base_url=llm.base_url, llm_api_key=KEY, models=MODELS,
    )
    platform = Platform(settings, clock).start()
    for tenant in ("l3-acme", "l3-globex"):
        platform.tenants.subscribe(tenant, tenant, "free")
    platform.close()
    try:
        yield driver, ScriptedModel(llm.control_url, KEY, {})
    finally:
        llm.book.release_all()
        driver.close()
        llm.close()
        stores.close()


def run(driver: InProcessRunsDriver, tenant: str, request_id: str) -> list[Heard]:
    channel = driver.connect(driver.issue_api_key(tenant))
    channel.ask_for_run(request_id, "t")
    heard = [channel.next_heard(timeout=5)]
    while heard[-1].kind not in {*ENDINGS, HeardKind.PROTOCOL_ERROR}:
        heard.append(channel.next_heard(timeout=5))
    channel.close()
    return heard


def test_a_run_completes_and_is_billed_once_in_process(
    parts: tuple[InProcessRunsDriver, ScriptedModel],
) -> None:
    driver, model = parts
    model.script("l3-acme", [Answer(1_260, 20)])
    heard = run(driver, "l3-acme", "l3-run-1")
    result = heard[-1]
    assert result.kind is HeardKind.RESULT, heard
    assert (result.cost_micros, result.charge_micros) == (400, 600)  # free: small, +50%
    assert {h.model for h in heard if h.kind is HeardKind.PROGRESS} == {"small"}
    assert driver.ledger_totals("l3-acme").amount_micros == 600
    assert driver.slots_held("l3-acme") == 0


def test_a_failed_run_is_not_billed_and_its_request_is_given_back_in_process(
    parts: tuple[InProcessRunsDriver, ScriptedModel],
) -> None:
    driver, model = parts
    model.script("l3-globex", [Answer(10, 10), Outage()])
    before = driver.quota_used("l3-globex")
    heard = run(driver, "l3-globex", "l3-run-2")
    assert heard[-1].kind is HeardKind.FAILED, heard
    assert driver.ledger_totals("l3-globex").events == 0
    assert driver.quota_used("l3-globex") == before
    assert driver.slots_held("l3-globex") == 0


def test_an_unknown_key_is_refused_in_process(
    parts: tuple[InProcessRunsDriver, ScriptedModel],
) -> None:
    with pytest.raises(HandshakeRefused):
        parts[0].connect("apex_" + "y" * 43)


def test_an_oversized_message_closes_the_connection_as_too_big_in_process(
    parts: tuple[InProcessRunsDriver, ScriptedModel],
) -> None:
    driver, _model = parts
    channel = driver.connect(driver.issue_api_key("l3-acme"))
    channel.send_oversized(driver.max_message_bytes + 1)
    with pytest.raises(ConnectionClosed) as closed:
        channel.next_heard(timeout=1)
    assert closed.value.why is CloseReason.MESSAGE_TOO_BIG


@pytest.mark.slow
def test_the_agent_feature_passes_in_process_through_the_same_dsl(tmp_path: Path) -> None:
    """The L4 feature's scenarios, unchanged, against the gateway session and worker in the
    suite's process: the DSL does not know which channel it drives."""
    results = tmp_path / "allure-results"
    run = run_behave(
        [FEATURE, "-f", "plain", "--no-junit", "-D", "services=embedded",
         "-D", "assembly=in_process", "-D", f"allure_results={results}",
         "-D", f"reports_dir={tmp_path / 'reports'}"],
        cwd=REPO, results_dir=results,
    )
    assert run.returncode == 0, run.output[-4000:]
    assert "in this process (L3)" in run.output
    assert "L4 platform" not in run.output and "gateways," not in run.output
    statuses = [r["status"] for r in run.results]
    assert statuses and set(statuses) == {"passed"}, statuses
    assert len(statuses) == FEATURE_SCENARIOS
    levels = {
        label["value"] for r in run.results for label in r["labels"] if label["name"] == "level"
    }
    assert levels == {"L3"}, f"an @L4 feature run in-process is labelled {levels}"
