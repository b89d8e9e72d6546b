"""The tenants' client applications in an agent-run scenario: their API keys, connections, and
every message each connection received, so that Then-steps can judge what a customer saw.

Receiving always has a deadline (the scenario's ``eventually_timeout``): a client waits on its
connection for the next message, never sleeps.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apex.gateway.protocol import MessageType
from harness.drivers.agent_runs import AgentRunDriver, ChannelClosed, RunChannel
from harness.dsl.world import World
from harness.waiting import eventually

TASK = "Find where our AI spend goes and how to cut it without losing quality."
EVENTS = frozenset({MessageType.PROGRESS, MessageType.RESULT, MessageType.FAILED})
Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Connection:
    channel: RunChannel
    received: list[dict[str, Any]] = field(default_factory=list)
    closed: ChannelClosed | None = None


@dataclass
class Client:
    """A tenant's client application: its key, its connections, the run it asked for."""

    name: str
    tenant_id: str
    api_key: str
    connections: list[Connection] = field(default_factory=list)
    request_id: str | None = None
    #: the platform's answer when the client asked where its run is (or resumed it)
    state: dict[str, Any] | None = None

    @property
    def current(self) -> Connection:
        assert self.connections, f"{self.name} has no connection"
        return self.connections[-1]

    def run_events(self, connection: Connection | None = None) -> list[dict[str, Any]]:
        """Events of the client's run, each once (by id), in the order they first arrived."""
        chosen = [connection] if connection else self.connections
        seen: dict[str, dict[str, Any]] = {}
        for conn in chosen:
            for message in conn.received:
                if message.get("request_id") == self.request_id and message["type"] in EVENTS:
                    seen.setdefault(message["id"], message)
        return list(seen.values())

    def outcome(self, connection: Connection | None = None) -> dict[str, Any] | None:
        """The run's result or failure, as received (on ``connection``, or on any)."""
        for event in self.run_events(connection):
            if event["type"] in (MessageType.RESULT, MessageType.FAILED):
                return event
        return None

    def seen(self) -> dict[str, Any]:
        """Evidence for a failed step: everything this client received."""
        return {
            "tenant": self.tenant_id, "request": self.request_id, "state": self.state,
            "connections": [
                {"received": c.received, "closed": str(c.closed) if c.closed else None}
                for c in self.connections
            ],
        }


def message_id() -> str:
    return uuid.uuid4().hex


def type_is(kind: MessageType) -> Predicate:
    return lambda message: message["type"] == kind


def progress_of(agent: str, state: str) -> Predicate:
    return lambda m: (
        m["type"] == MessageType.PROGRESS and m["agent"] == agent and m["state"] == state
    )


def outcome_of(client: Client) -> Predicate:
    """The run's end, or the platform's refusal to run it."""
    ends = (MessageType.RESULT, MessageType.FAILED, MessageType.REFUSED)
    return lambda m: m.get("request_id") == client.request_id and m["type"] in ends


class Clients:
    def __init__(self, world: World, driver: Callable[[], AgentRunDriver]) -> None:
        self._world = world
        self._driver = driver
        self._clients: dict[str, Client] = {}

    def __call__(self, name: str) -> Client:
        """The client of tenant ``name``, with a key issued on first use."""
        if name not in self._clients:
            tenant_id = self._world.aliases.known_tenant(name)
            api_key = self._driver().issue_api_key(tenant_id)
            self._clients[name] = Client(name, tenant_id, api_key)
        return self._clients[name]

    def connect(self, client: Client, replica: int = 0) -> Connection:
        channel = self._driver().connect(client.api_key, replica)
        self._world.add_cleanup(channel.close)
        connection = Connection(channel)
        client.connections.append(connection)
        return connection

    def start(self, client: Client, connection: Connection) -> None:
        """Ask for a new run (a new request id) on ``connection``."""
        client.request_id = self._world.aliases.request_id()
        self.send_start(client, connection)

    @staticmethod
    def send_start(client: Client, connection: Connection) -> None:
        connection.channel.send(
            {
                "type": MessageType.START, "id": message_id(), "request_id": client.request_id,
                "task": TASK,
            }
        )

    def receive_until(
        self, client: Client, connection: Connection, done: Predicate, *,
        expect_close: bool = False,
    ) -> dict[str, Any]:
        """Receive on ``connection`` until a message satisfies ``done``; fail on a refusal or
        protocol error nobody expected, on a close (unless ``expect_close``), or at the
        deadline, saying what arrived."""
        timeout = self._world.eventually_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = connection.channel.receive(timeout=deadline - time.monotonic())
            except ChannelClosed as closed:
                connection.closed = closed
                if expect_close:
                    return {}
                raise AssertionError(f"{client.name}'s connection closed: {closed}") from None
            except TimeoutError:
                kinds = [m.get("type") for m in connection.received]
                raise AssertionError(
                    f"{client.name} waited {timeout:.1f}s on run {client.request_id}; "
                    f"the connection received {kinds}"
                ) from None
            connection.received.append(message)
            if done(message):
                return message
            if message["type"] in (MessageType.REFUSED, MessageType.ERROR):
                raise AssertionError(f"the platform answered {client.name} with {message}")

    def ask_state(self, client: Client, connection: Connection) -> dict[str, Any]:
        connection.channel.send(
            {"type": MessageType.STATUS, "id": message_id(), "request_id": client.request_id}
        )
        return self.receive_until(client, connection, type_is(MessageType.STATE))

    def await_state(self, client: Client, wanted: str) -> None:
        """Ask on a connection of its own until the run reaches ``wanted``."""
        probe = self.connect(client)

        def reached() -> None:
            answer = self.ask_state(client, probe)
            assert answer["state"] == wanted, f"run {client.request_id} is {answer['state']}"

        eventually(reached, timeout=self._world.eventually_timeout, what=f"the run being {wanted}")
        probe.channel.close()


def together(calls: list[Callable[[], None]]) -> None:
    """Run the calls on as many threads, released at the same instant; re-raise a failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=10)
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
