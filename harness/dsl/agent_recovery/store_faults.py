"""Store faults in business words: the platform's store restarted with its data, restarted
empty, or not answering for a few seconds, while a tenant's run is under way; the usage
analytics stalled. Works through the store-faults contract (the run's own Redis server), the
agent-run contract (the tenant's client). Then-steps: :mod:`harness.dsl.agent_recovery.checks`.

Every fault's cleanup is registered before the fault: the store running again with the run's
state (the published clock, the catalog), the analytics taking events, every platform process
ready, so the rest of the run finds the platform as it was.
"""

from __future__ import annotations

from enum import StrEnum

from harness.drivers.agent_runs.contract import HeardKind
from harness.dsl.agent_recovery.state import RecoveryState
from harness.dsl.agent_runs.actions import AgentRunsDsl
from harness.dsl.agent_runs.clients import Clients, ending_of, progress_of
from harness.dsl.agent_runs.state import Connection
from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.waiting import eventually


class StoreFault(StrEnum):
    RESTARTED = "restarted"
    DATA_LOST = "data lost"


_FAULT_WORDS = {
    StoreFault.RESTARTED: "is restarted with its data", StoreFault.DATA_LOST: "loses all its data",
}


class StoreFaultsDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(RecoveryState)
        self._clients = Clients(world)

    # -- Given ------------------------------------------------------------------------------

    def run_waiting_on_model(self, name: str) -> None:
        """``name``'s run is under way, its first model call held by the model."""
        agent = self._world.agent_runs.pipeline()[0]
        AgentRunsDsl(self._world).model_takes_its_time(name, agent)
        client = self._clients(name)
        with business_step(f"{name} has a run in progress, waiting on the model", client.seen):
            connection = self._clients.connect(client)
            self._clients.start(client, connection)
            self._clients.receive_until(client, connection, progress_of(agent, "started"))

    def analytics_stopped(self) -> None:
        faults = self._world.store_faults
        with business_step("the usage analytics has stopped taking events"):
            self._world.add_cleanup(faults.restore)
            faults.hold_analytics()

    def run_completed(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} has received the complete report of a run", client.seen):
            connection = self._clients.connect(client)
            self._clients.start(client, connection)
            self._clients.receive_until(client, connection, ending_of(client))
            assert client.run_events()[-1].kind is HeardKind.RESULT, (
                f"{name}'s run {client.request_id} did not complete"
            )

    def usage_record_on_its_way(self, name: str) -> None:
        """The usage record of ``name``'s billed run has been handed on towards the (stopped)
        usage analytics: it waits in the store."""
        faults = self._world.store_faults

        def on_its_way() -> None:
            waiting = faults.usage_records_in_transit()
            assert waiting >= 1, f"{waiting} usage records on their way to the analytics"

        with business_step(f"the usage record of {name}'s run is on its way to the analytics"):
            eventually(
                on_its_way, timeout=self._world.eventually_timeout,
                what=f"the usage record of {name}'s run handed on",
            )

    def store_lost_data(self) -> None:
        with business_step("the store has lost all its data"):
            self._world.add_cleanup(self._world.store_faults.restore)
            self._state.processes_before = self._world.store_faults.processes()
            self._state.readiness = self._world.store_faults.restart_store(keep_data=False)

    # -- When -------------------------------------------------------------------------------

    def store_fault_during(self, fault: str, name: str, agent: str) -> None:
        """While ``agent``'s model call of ``name``'s run is under way, the store is restarted
        (with or without its data); once every platform process is ready again the model
        answers, and the client listens until the run ends."""
        chosen = StoreFault(fault)
        client = self._clients(name)
        faults = self._world.store_faults
        title = f"the store {_FAULT_WORDS[chosen]} during {name}'s {agent} step"
        with business_step(title, client.seen):
            connection = self._fault_coming_during(name, agent)
            self._state.readiness = faults.restart_store(keep_data=chosen is StoreFault.RESTARTED)
            AgentRunsDsl(self._world).release_held_call(name)
            self._clients.receive_until(client, connection, ending_of(client))

    def store_silent_during(self, seconds: int, name: str, agent: str) -> None:
        """While ``agent``'s model call of ``name``'s run is under way, the store stops
        answering; the model answers at once, so the run goes on into the outage; the client
        listens until the run ends."""
        client = self._clients(name)
        faults = self._world.store_faults
        title = f"the store stops answering for {seconds} seconds during {name}'s {agent} step"
        with business_step(title, client.seen):
            connection = self._fault_coming_during(name, agent)
            faults.freeze_store(seconds)
            AgentRunsDsl(self._world).release_held_call(name)

            def answering_again() -> None:
                assert not faults.store_frozen(), "the store is still not answering"

            eventually(answering_again, timeout=seconds + 2, what="the store answering again")
            self._clients.receive_until(client, connection, ending_of(client))

    def store_lost_data_then_analytics_resumed(self) -> None:
        faults = self._world.store_faults
        title = "the store loses all its data, and the usage analytics starts again"
        with business_step(title):
            self._state.processes_before = faults.processes()
            self._state.readiness = faults.restart_store(keep_data=False)
            faults.resume_analytics()

    def _fault_coming_during(self, name: str, agent: str) -> Connection:
        """``name``'s run started and its ``agent`` call held by the model; the store's
        restoration registered and the platform's processes noted, before the fault."""
        connection = AgentRunsDsl(self._world).start_run_until_model_works_on(name, agent)
        faults = self._world.store_faults
        self._world.add_cleanup(faults.restore)
        self._state.processes_before = faults.processes()
        return connection


