"""Agent state recovery in business words: a worker dies mid-run, another takes the run over,
and the tenant's report, events and bill come out as if nothing happened. Works through the
worker-faults contract (the platform's worker processes) and the agent-run contract (the
tenant's client); the Then-steps are in :mod:`harness.dsl.agent_recovery.checks`.

A killed worker is started again when the scenario ends (its cleanup is registered before the
kill), so the rest of the run has every worker again.
"""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import datetime, timedelta

from harness.drivers.agent_runs.contract import RUN_EVENTS, Heard, HeardKind
from harness.dsl.agent_recovery.state import RecoveryState, SlotWatch
from harness.dsl.agent_runs.actions import AgentRunsDsl
from harness.dsl.agent_runs.clients import Clients, ending_of, kind_is
from harness.dsl.agent_runs.state import Connection
from harness.dsl.common.evidence import business_step
from harness.dsl.common.world import World
from harness.errors import NotSatisfied
from harness.waiting import eventually

#: a slot lease counts as renewed when it ends a whole lease after the clock's instant (the
#: platform records its end to the millisecond)
_LEASE_PRECISION = 0.001


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

    def slot_lease_is(self, seconds: int, every: int) -> None:
        configured = self._world.worker_faults.slot_lease_seconds
        title = f"a run holds its slot on a {seconds}-second lease, renewed every {every} seconds"
        with business_step(title):
            assert configured == seconds, (
                f"the scenario says a slot's lease is {seconds}s; the platform's is "
                f"{configured:g}s"
            )
            self._state.slot_lease = (float(seconds), float(every))

    def step_takes(self, name: str, agent: str, minutes: int) -> None:
        """``name`` asks for a run; while ``agent``'s model call is held, the platform's clock
        moves ``minutes`` forward, one renewal period at a time. After each move the scenario
        looks at the run's slot until its lease is renewed (or its deadline passes: the clock
        then stops there, for the Then to say so); then the model answers and the client
        listens until the run ends."""
        assert self._state.slot_lease is not None, "the scenario states no slot lease"
        lease, every = self._state.slot_lease
        client = self._clients(name)
        title = f"{name}'s {agent} step takes {minutes} minutes by the platform's clock"
        with business_step(title, lambda: {"heard": client.seen(), "slot": self._state.slot_watch}):
            connection = AgentRunsDsl(self._world).start_run_until_model_works_on(name, agent)
            for move in range(1, round(minutes * 60 / every) + 1):
                now = self._world.clock.advance(timedelta(seconds=every))
                watch = self._watch_slot(client.tenant_id, now, move * every, lease)
                self._state.slot_watch.append(watch)
                if not renewed(watch, lease):
                    break
            AgentRunsDsl(self._world).release_held_call(name)
            self._clients.receive_until(client, connection, ending_of(client))

    def _watch_slot(self, tenant_id: str, now: datetime, elapsed: float, lease: float) -> SlotWatch:
        runs = self._world.agent_runs
        seen: list[SlotWatch] = []

        def renewed_lease() -> None:
            ends = runs.slot_leases_end(tenant_id)
            left = (ends[0] - now).total_seconds() if len(ends) == 1 else None
            seen[:] = [SlotWatch(elapsed, left, runs.slots_held(tenant_id))]
            assert renewed(seen[0], lease), f"the slot's lease ends {left}s after the clock"

        with suppress(NotSatisfied):  # what was seen last is the evidence
            eventually(renewed_lease, timeout=self._world.eventually_timeout,
                       what="the slot's lease renewed")
        return seen[0]

    def worker_killed_during(self, name: str, agent: str) -> None:
        """``name`` asks for a run; once ``agent`` has started and its model call is under way
        (held by the scripted model), the worker executing it is killed without warning; the
        client listens on until the run ends."""
        client = self._clients(name)
        title = f"the worker running {name}'s run is killed during the {agent} step"
        with business_step(title, client.seen):
            connection = self._kill_worker_during(name, agent)
            self._listen_through_take_over(name, connection)

    def worker_killed_client_back(self, name: str, agent: str) -> None:
        """As :meth:`worker_killed_during`, the client's connection dropping at the same moment;
        the client reconnects at once, while the run waits for another worker, and resumes its
        request from the last event it heard."""
        client = self._clients(name)
        title = (
            f"the worker running {name}'s run is killed during the {agent} step, {name}'s "
            "connection dropping with it; it reconnects at once"
        )
        with business_step(title, client.seen):
            first = self._kill_worker_during(name, agent)
            first.channel.drop()
            last_heard = max((event.seq or 0 for event in client.run_events(first)), default=0)
            second = self._clients.connect(client)
            assert client.request_id is not None
            second.channel.resume(client.request_id, last_heard)
            client.state = self._clients.receive_until(client, second, kind_is(HeardKind.STATE))
            self._listen_through_take_over(name, second)

    def worker_paused_during(self, name: str, agent: str) -> None:
        """``name`` asks for a run; once ``agent``'s model call is under way (held by the
        scripted model), the worker executing it is paused on the spot, and the held call is
        answered (to a worker that cannot read the answer yet). The client listens until the
        run ends: another worker must take it over once the paused one's lease has run out."""
        client = self._clients(name)
        faults = self._world.worker_faults
        runs = AgentRunsDsl(self._world)
        title = (
            f"the worker running {name}'s run is paused during the {agent} step, and another "
            "worker finishes the run"
        )
        with business_step(title, client.seen):
            connection = runs.start_run_until_model_works_on(name, agent)
            paused = faults.pause_worker_running(client.tenant_id)
            self._world.add_cleanup(faults.resume, paused.name)
            self._state.paused = paused
            runs.release_held_call(name)
            self._clients.receive_until(client, connection, ending_of(client))

    def paused_worker_wakes(self) -> None:
        """The paused worker goes on where it stopped; returns once it says it is executing no
        run any more (it gave the run up, or, wrongly, went on with it to the end)."""
        paused = self._state.paused
        assert paused is not None, "no worker was paused"
        faults = self._world.worker_faults
        with business_step(f"the paused worker ({paused.name}) wakes up"):
            faults.resume(paused.name)
            self._state.woken = True

            def idle() -> None:
                executing = faults.activity(paused.name).executing
                assert executing == 0, f"{paused.name} is still executing {executing} run(s)"

            eventually(idle, timeout=self._world.eventually_timeout,
                       what=f"{paused.name} done with the run it held")

    def _kill_worker_during(self, name: str, agent: str) -> Connection:
        """``name`` asks for a run; once ``agent``'s model call is under way (held by the
        scripted model), the worker executing it is killed; the held call is then answered,
        to nobody. The client's connection."""
        client = self._clients(name)
        faults = self._world.worker_faults
        runs = AgentRunsDsl(self._world)
        connection = runs.start_run_until_model_works_on(name, agent)
        killed = faults.kill_worker_running(client.tenant_id)
        self._world.add_cleanup(faults.restart, killed.name)
        self._state.killed = killed
        runs.release_held_call(name)
        return connection

    def _listen_through_take_over(self, name: str, connection: Connection) -> None:
        """Until the run ends, noting when its first event after the kill arrived."""
        client = self._clients(name)

        def next_event(heard: Heard) -> bool:
            return heard.request_id == client.request_id and heard.kind in RUN_EVENTS

        self._clients.receive_until(client, connection, next_event)
        self._state.resumed_at = time.monotonic()
        self._clients.receive_until(client, connection, ending_of(client))



def renewed(watch: SlotWatch, lease: float) -> bool:
    """The slot's lease ended a whole lease after the clock's instant when it was looked at."""
    left = watch.lease_left_seconds
    return left is not None and abs(left - lease) <= _LEASE_PRECISION
