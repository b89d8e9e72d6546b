"""The tenants' client applications in an agent-run scenario: their API keys, connections, and
what each connection heard, so that Then-steps can judge what a customer saw.

Receiving always has a deadline (the scenario's ``eventually_timeout``): a client waits on its
connection for the next message, never sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness.drivers.agent_runs.contract import (
    ENDINGS,
    ConnectionClosed,
    Heard,
    HeardKind,
    RunState,
)
from harness.dsl.agent_runs.state import AgentRunsState, Client, Connection
from harness.dsl.common.evidence import in_words
from harness.dsl.common.world import World
from harness.waiting import eventually

TASK = "Find where our AI spend goes and how to cut it without losing quality."
Predicate = Callable[[Heard], bool]


def kind_is(kind: HeardKind) -> Predicate:
    return lambda heard: heard.kind is kind


def progress_of(agent: str, step_state: str) -> Predicate:
    return lambda h: (
        h.kind is HeardKind.PROGRESS and h.agent == agent and h.step_state == step_state
    )


def ending_of(client: Client) -> Predicate:
    """The run's end, or the platform's refusal to run it."""
    return lambda h: h.request_id == client.request_id and h.kind in ENDINGS


class Clients:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(AgentRunsState)

    def __call__(self, name: str) -> Client:
        """The client of tenant ``name``, with a key issued on first use."""
        if name not in self._state.clients:
            tenant_id = self._world.aliases.known_tenant(name)
            api_key = self._world.agent_runs.issue_api_key(tenant_id)
            self._state.clients[name] = Client(name, tenant_id, api_key)
        return self._state.clients[name]

    def connect(self, client: Client, replica: int = 0) -> Connection:
        channel = self._world.agent_runs.connect(client.api_key, replica)
        self._world.add_cleanup(channel.close)
        connection = Connection(channel)
        client.connections.append(connection)
        return connection

    def start(self, client: Client, connection: Connection) -> None:
        """Ask for a new run (a new request id) on ``connection``."""
        client.request_id = self._world.aliases.request_id()
        self.ask_for_run(client, connection)

    @staticmethod
    def ask_for_run(client: Client, connection: Connection) -> None:
        assert client.request_id is not None, f"{client.name} has no request id yet"
        connection.channel.ask_for_run(client.request_id, TASK)

    def receive_until(
        self, client: Client, connection: Connection, done: Predicate, *,
        expect_close: bool = False,
    ) -> Heard | None:
        """Receive on ``connection`` until a message satisfies ``done``; fail on a refusal or
        protocol error nobody expected, on a close (unless ``expect_close``: then None), or at
        the deadline, saying what arrived."""
        timeout = self._world.eventually_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                heard = connection.channel.next_heard(timeout=deadline - time.monotonic())
            except ConnectionClosed as closed:
                connection.closed = closed
                if expect_close:
                    return None
                raise AssertionError(f"{client.name}'s connection closed: {closed}") from None
            except TimeoutError:
                kinds = [h.kind.value for h in connection.heard]
                raise AssertionError(
                    f"{client.name} waited {timeout:.1f}s on run {client.request_id}; "
                    f"the connection heard {kinds}"
                ) from None
            connection.heard.append(heard)
            if done(heard):
                return heard
            if heard.kind in (HeardKind.REFUSED, HeardKind.PROTOCOL_ERROR):
                raise AssertionError(
                    f"{client.name} waited for run {client.request_id}; the platform answered "
                    f"{heard.kind.value}: {in_words(heard)}"
                )

    def ask_state(self, client: Client, connection: Connection) -> Heard:
        assert client.request_id is not None, f"{client.name} asked for no run"
        connection.channel.ask_state(client.request_id)
        answer = self.receive_until(client, connection, kind_is(HeardKind.STATE))
        assert answer is not None
        return answer

    def await_state(self, client: Client, wanted: RunState) -> None:
        """Ask on a connection of its own until the run reaches ``wanted``."""
        probe = self.connect(client)

        def reached() -> None:
            answer = self.ask_state(client, probe)
            assert answer.run_state is wanted, f"run {client.request_id} is {answer.run_state}"

        eventually(reached, timeout=self._world.eventually_timeout, what=f"the run {wanted}")
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
