"""The gateway's protocol, over real WebSocket connections to running gateway processes:
authentication at the handshake, protocol errors that leave the connection usable, the size
limit, and a complete run with its events in order. Parsing is tested on its own first."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from websockets.sync.client import connect

from apex.gateway import protocol
from apex.gateway.protocol import ErrorCode, ProtocolError, ResumeRun, StartRun
from harness.assembly import Assembly, RunComposition
from harness.drivers.agent_runs.contract import (
    Answer,
    CloseReason,
    ConnectionClosed,
    HandshakeRefused,
)
from harness.drivers.agent_runs.network import WebSocketTransport
from harness.drivers.bundle import Drivers
from harness.services import Services
from harness.services.clock import PublishedClock
from harness.services.platform_processes import PlatformProcess
from harness.settings import SuiteSettings
from tests.sinks import queries_only

#: Far from today, so a process reading the system clock instead of the suite's would show.
CLOCK_START = datetime(2031, 1, 15, 9, 0, tzinfo=UTC)
L4_FEATURE = ["phase1", "L4", "mrr:1"]

# -- parsing ------------------------------------------------------------------------------


def test_a_start_message_is_parsed() -> None:
    message = protocol.parse('{"type": "run.start", "id": "m1", "request_id": "r1", "task": "t"}')
    assert message == StartRun("m1", "r1", "t")


def test_resume_defaults_to_replaying_every_event() -> None:
    assert protocol.parse('{"type": "run.resume", "id": "m", "request_id": "r"}') == ResumeRun(
        "m", "r", 0
    )


_INVALID = ErrorCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{nope", ErrorCode.MALFORMED_JSON),
        ("[1, 2]", _INVALID),
        ('{"type": "run.start"}', _INVALID),
        ('{"type": "run.start", "id": "a b"}', _INVALID),
        ('{"type": "run.explode", "id": "m"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "run.start", "id": "m", "task": "t"}', _INVALID),
        ('{"type": "run.start", "id": "m", "request_id": "r", "task": " "}', _INVALID),
        ('{"type": "run.resume", "id": "m", "request_id": "r", "after": -1}', _INVALID),
        ('{"type": "run.resume", "id": "m", "request_id": "r", "after": true}', _INVALID),
    ],
)
def test_a_malformed_message_is_a_protocol_error_with_its_code(text: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as raised:
        protocol.parse(text)
    assert raised.value.code is code


def test_a_run_event_has_the_same_id_every_time_it_is_sent() -> None:
    first = protocol.run_event(protocol.MessageType.PROGRESS, "r1", 3, agent="triage")
    again = protocol.run_event(protocol.MessageType.PROGRESS, "r1", 3, agent="triage")
    assert first["id"] == again["id"] == "r1-e3"


# -- over the network ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def l4(services: Services) -> Iterator[RunComposition]:
    run = RunComposition(
        SuiteSettings.load({"services": "embedded"}), services, PublishedClock(CLOCK_START),
        start_sink=queries_only,
    )
    try:
        run.drivers_for(L4_FEATURE, Assembly.NETWORK)
        yield run
    finally:
        run.close()


@pytest.fixture(scope="module")
def system(l4: RunComposition) -> Drivers:
    return l4.drivers_for(L4_FEATURE, Assembly.NETWORK)


@pytest.fixture(scope="module")
def api_key(system: Drivers) -> str:
    assert system.tiers is not None and system.agent_runs is not None
    system.tiers.subscribe("protocol-test", "Protocol Test", "mid")
    return system.agent_runs.issue_api_key("protocol-test")


def gateways(l4: RunComposition) -> list[PlatformProcess]:
    assert l4.processes is not None
    return [p for p in l4.processes.processes if p.module == "apex.gateway"]


def open_transport(l4: RunComposition, api_key: str) -> WebSocketTransport:
    return WebSocketTransport(gateways(l4)[0].url.replace("http", "ws") + protocol.PATH, api_key)


@pytest.fixture
def channel(l4: RunComposition, api_key: str) -> Iterator[WebSocketTransport]:
    opened = open_transport(l4, api_key)
    try:
        yield opened
    finally:
        opened.close()


def test_each_gateway_answers_its_health_check(l4: RunComposition) -> None:
    assert l4.processes is not None
    for process in l4.processes.processes:
        with urllib.request.urlopen(process.url + "/healthz", timeout=2) as response:
            assert response.status == 200


@pytest.mark.parametrize("key", ["apex_" + "x" * 43, "", "not-even-shaped-like-a-key"])
def test_a_key_the_platform_never_issued_is_refused_at_the_handshake(
    system: Drivers, key: str
) -> None:
    assert system.agent_runs is not None
    with pytest.raises(HandshakeRefused) as raised:
        system.agent_runs.connect(key)
    assert raised.value.reason == "unauthorised"


def test_a_connection_elsewhere_than_the_runs_path_is_refused(
    l4: RunComposition, api_key: str
) -> None:
    with pytest.raises(HandshakeRefused) as raised:
        WebSocketTransport(gateways(l4)[0].url.replace("http", "ws") + "/v2/elsewhere", api_key)
    assert raised.value.reason == "not found"


def test_an_unknown_type_gets_an_error_naming_it_and_the_connection_stays_usable(
    channel: WebSocketTransport,
) -> None:
    channel.send({"type": "run.cancel_everything", "id": "m1"})
    error = channel.receive(timeout=5)
    assert (error["type"], error["code"], error["reply_to"]) == ("error", "unknown_type", "m1")
    assert error["id"]
    channel.send({"type": "run.status", "id": "m2", "request_id": "never-started"})
    assert channel.receive(timeout=5)["code"] == "unknown_run"


def test_malformed_json_gets_an_error_and_the_connection_stays_usable(
    channel: WebSocketTransport,
) -> None:
    channel.send_text("{not json")
    assert channel.receive(timeout=5)["code"] == "malformed_json"
    channel.send({"type": "run.status", "id": "m2", "request_id": "never-started"})
    assert channel.receive(timeout=5)["reply_to"] == "m2"


def test_a_binary_frame_gets_an_error(l4: RunComposition, api_key: str) -> None:
    url = gateways(l4)[0].url.replace("http", "ws") + protocol.PATH
    with connect(url, additional_headers={"Authorization": f"Bearer {api_key}"}, proxy=None) as ws:
        ws.send(b"\x00\x01")
        assert json.loads(ws.recv(timeout=5))["code"] == "binary_not_supported"


def test_an_oversized_message_closes_that_connection_with_1009_and_no_other(
    l4: RunComposition, system: Drivers, api_key: str
) -> None:
    assert system.agent_runs is not None
    bystander = open_transport(l4, api_key)
    sender = open_transport(l4, api_key)
    try:
        sender.send_text("x" * (system.agent_runs.max_message_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            sender.receive(timeout=5)
        assert closed.value.why is CloseReason.MESSAGE_TOO_BIG
        bystander.send({"type": "run.status", "id": "m3", "request_id": "never-started"})
        assert bystander.receive(timeout=5)["reply_to"] == "m3"
    finally:
        bystander.close()
        sender.close()


def test_a_run_streams_its_progress_in_order_and_ends_with_its_bill(
    services: Services, system: Drivers, channel: WebSocketTransport
) -> None:
    assert system.model is not None and system.agent_runs is not None
    system.model.script("protocol-test", [Answer(1_000, 100)])
    channel.send({"type": "run.start", "id": "s1", "request_id": "proto-run-1", "task": "t"})
    received = [channel.receive(timeout=5)]
    while received[-1]["type"] not in ("run.result", "run.failed"):
        received.append(channel.receive(timeout=5))
    assert received[0] == {**received[0], "type": "run.accepted", "reply_to": "s1",
                           "duplicate": False}
    events = received[1:]
    assert [e["seq"] for e in events] == list(range(1, 10))
    assert [(e.get("agent"), e.get("state")) for e in events[:-1]] == [
        (agent, state)
        for agent in ("triage", "data analysis", "optimization", "report")
        for state in ("started", "finished")
    ]
    result = events[-1]
    assert result["type"] == "run.result" and isinstance(result["charge"], str)
    # 1,000 prompt + 100 completion tokens on small, medium, large, medium; plus 20% (mid)
    assert result["cost"] == "0.045105" and result["charge"] == "0.054126"

    channel.send({"type": "run.start", "id": "s2", "request_id": "proto-run-1", "task": "t"})
    again = channel.receive(timeout=5)
    assert (again["type"], again["duplicate"]) == ("run.accepted", True)
    replayed = [channel.receive(timeout=5) for _ in range(9)]
    assert [e["id"] for e in replayed] == [e["id"] for e in events]
    assert system.agent_runs.ledger_totals("protocol-test").events == 1
    with psycopg.connect(services.postgres.admin_dsn) as conn:
        row = conn.execute(
            "SELECT period FROM billing_events WHERE tenant_id = %s AND reference_id = %s",
            ("protocol-test", "proto-run-1"),
        ).fetchone()
    assert row == ("2031-01",), "the processes billed by another clock than the suite's"
