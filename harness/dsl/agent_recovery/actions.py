"""Agent state recovery in business words: a worker dies mid-run, another takes the run over,
and the tenant's report, events and bill come out as if nothing happened. Works through the
worker-faults contract (the platform's worker processes) and the agent-run contract (the
tenant's client); the Then-steps are in :mod:`harness.dsl.agent_recovery.checks`.

A killed worker is started again when the scenario ends (its cleanup is registered before the
kill), so the rest of the run has every worker again.
"""

from __future__ import annotations

import time

from harness.drivers.agent_runs.contract import RUN_EVENTS, Heard
from harness.dsl.agent_recovery.state import RecoveryState
from harness.dsl.agent_runs.actions import AgentRunsDsl
from harness.dsl.agent_runs.clients import Clients, ending_of, progress_of
from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.waiting import eventually


class RecoveryDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(RecoveryState)
        self._clients = Clients(world)

    def job_lease_is(self, seconds: int) -> None:
        configured = self._world.worker_faults.job_lease_seconds
        with business_step(f"a worker holds each run on a {seconds}-second lease"):
            assert configured == seconds, (
                f"the scenario says a worker's lease is {seconds}s; the platform's is "
                f"{configured:g}s"
            )

    def worker_killed_during(self, name: str, agent: str) -> None:
        """``name`` asks for a run; once ``agent`` has started and its model call is under way
        (held by the scripted model), the worker executing it is killed without warning; the
        client listens on until the run ends."""
        client = self._clients(name)
        faults = self._world.worker_faults
        title = f"the worker running {name}'s run is killed during the {agent} step"
        with business_step(title, client.seen):
            connection = self._clients.connect(client)
            self._clients.start(client, connection)
            self._clients.receive_until(client, connection, progress_of(agent, "started"))
            eventually(
                lambda: self._model_working_on_call(client.tenant_id),
                timeout=self._world.eventually_timeout, what=f"the model working on {agent}",
            )
            killed = faults.kill_worker_running(client.tenant_id)
            self._world.add_cleanup(faults.restart, killed.name)
            self._state.killed = killed
            # The call the dead worker was waiting on is answered, to nobody.
            AgentRunsDsl(self._world).release_held_call(name)

            def next_event(heard: Heard) -> bool:
                return heard.request_id == client.request_id and heard.kind in RUN_EVENTS

            self._clients.receive_until(client, connection, next_event)
            self._state.resumed_at = time.monotonic()
            self._clients.receive_until(client, connection, ending_of(client))

    def _model_working_on_call(self, tenant_id: str) -> None:
        held = self._world.model.held(tenant_id)
        assert held == 1, f"the model is taking its time over {held} calls of {tenant_id}"
