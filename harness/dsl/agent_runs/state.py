"""The agent-run DSL's scenario state: the tenants' clients (keys, connections, what each
connection heard), the model's scripts, and what a Then has yet to examine."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.drivers.agent_runs.contract import (
    ENDINGS,
    RUN_EVENTS,
    Answer,
    ConnectionClosed,
    Heard,
    HeardKind,
    Outage,
    RunConnection,
)
from harness.dsl.common.world import ErrorSlot

#: How long a connection is listened to at the end of a scenario for messages nobody read.
_UNREAD_WAIT = 0.1


@dataclass
class Connection:
    channel: RunConnection
    heard: list[Heard] = field(default_factory=list)
    closed: ConnectionClosed | None = None


@dataclass
class Client:
    """A tenant's client application: its key, its connections, the run it asked for."""

    name: str
    tenant_id: str
    api_key: str
    connections: list[Connection] = field(default_factory=list)
    request_id: str | None = None
    #: the platform's answer when the client asked where its run is (or resumed it)
    state: Heard | None = None

    @property
    def current(self) -> Connection:
        assert self.connections, f"{self.name} has no connection"
        return self.connections[-1]

    def run_events(self, connection: Connection | None = None) -> list[Heard]:
        """Events of the client's run, each once (by id), in the order they first arrived."""
        chosen = [connection] if connection else self.connections
        seen: dict[str, Heard] = {}
        for conn in chosen:
            for heard in conn.heard:
                if heard.request_id == self.request_id and heard.kind in RUN_EVENTS:
                    seen.setdefault(heard.message_id, heard)
        return list(seen.values())

    def outcome(self, connection: Connection | None = None) -> Heard | None:
        """The run's result or failure, as heard (on ``connection``, or on any): the latest,
        for a run that failed and was then sent through again."""
        endings = [
            event for event in self.run_events(connection)
            if event.kind in (HeardKind.RESULT, HeardKind.FAILED)
        ]
        return endings[-1] if endings else None

    def ending(self, connection: Connection) -> Heard | None:
        """What ended the client's request on ``connection``: its outcome, or a refusal."""
        for heard in connection.heard:
            if heard.request_id == self.request_id and heard.kind in ENDINGS:
                return heard
        return None

    def seen(self) -> dict[str, Any]:
        """Evidence for a failed step: everything this client heard."""
        return {
            "tenant": self.tenant_id, "request": self.request_id,
            "state": self.state.raw if self.state else None,
            "connections": [
                {"heard": [h.raw for h in c.heard], "closed": str(c.closed) if c.closed else None}
                for c in self.connections
            ],
        }


@dataclass
class AgentRunsState:
    clients: dict[str, Client] = field(default_factory=dict)
    #: the model's script per tenant name
    scripts: dict[str, list[Answer | Outage]] = field(default_factory=dict)
    #: what happened when a client tried to connect, for a Then to examine
    refusal: ErrorSlot = field(default_factory=ErrorSlot)
    #: what a client heard or suffered that a Then must examine (protocol errors, closes)
    unexamined: list[str] = field(default_factory=list)

    def leftovers(self) -> list[str]:
        unexamined = [f"not examined by any Then: {what}" for what in self.unexamined]
        return self.refusal.leftovers() + unexamined + self._unread()

    def _unread(self) -> list[str]:
        """Messages still waiting on a client's open connections. A run event heard before (by
        its id) is a replay the protocol allows, not something new."""
        found = []
        # One wait shared by every connection: a message in flight to any of them arrives
        # within it, and the connections looked at later take what was already there.
        deadline = time.monotonic() + _UNREAD_WAIT
        for client in self.clients.values():
            known = {h.message_id for c in client.connections for h in c.heard}
            for number, connection in enumerate(client.connections, start=1):
                while connection.closed is None:
                    try:
                        heard = connection.channel.next_heard(
                            timeout=max(deadline - time.monotonic(), 0.0)
                        )
                    except (TimeoutError, ConnectionClosed):
                        break
                    if heard.kind in RUN_EVENTS and heard.message_id in known:
                        continue
                    found.append(
                        f"{client.name}'s connection {number} has an unread message: "
                        f"{heard.kind.value} of request {heard.request_id} {heard.raw}"
                    )
        return found
