"""Then-steps about agent state recovery: how soon a killed worker's run went on, what the
tenant's client heard on the way, and how often the model was asked. Expected values come from
the feature's words; the client's own observations (what it heard, when) are the evidence."""

from __future__ import annotations

from collections import Counter

from harness.drivers.agent_runs.contract import RUN_EVENTS, HeardKind
from harness.dsl.agent_recovery.actions import renewed
from harness.dsl.agent_recovery.state import RecoveryState
from harness.dsl.agent_runs.clients import Clients
from harness.dsl.common.evidence import attach, business_step, in_words
from harness.dsl.common.parameters import parse_count
from harness.dsl.common.world import World
from harness.waiting import eventually


class RecoveryChecks:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(RecoveryState)
        self._clients = Clients(world)

    def taken_over_within(self, name: str, total: int, lease: int, slack: int) -> None:
        assert total == lease + slack, (
            f"the scenario's arithmetic is off: the {lease}-second lease plus {slack} is "
            f"{lease + slack} seconds, not {total}"
        )
        client = self._clients(name)
        self._state.take_over_examined = True
        killed, resumed = self._state.killed, self._state.resumed_at
        title = f"another worker takes {name}'s run over within {total} seconds of the kill"
        with business_step(title, client.seen):
            assert killed is not None and resumed is not None, "no worker was killed"
            configured = self._world.worker_faults.job_lease_seconds
            assert configured == lease, (
                f"the scenario says the lease is {lease}s; the platform's is {configured:g}s"
            )
            took = resumed - killed.died_at
            attach("the take-over", {
                "worker killed": killed.name, "run went on after (s)": round(took, 3),
                "lease (s)": lease, "allowed (s)": total,
            })
            assert took <= total, (
                f"run {client.request_id} of {name} went on {took:.2f}s after {killed.name} "
                f"was killed; expected within {total}s (the {lease}s lease plus {slack}s)"
            )

    def woken_worker_gave_up(self, name: str) -> None:
        """The woken worker says it gave up one run more than before it was paused: it found
        the run taken over and stopped (what it did not do is in the model's call log, the
        bill and the events, checked by the scenario's other Thens)."""
        paused = self._state.paused
        assert paused is not None and self._state.woken, "no paused worker was woken"
        self._state.waking_examined = True
        with business_step(f"the worker that woke up gave {name}'s run up"):
            activity = self._world.worker_faults.activity(paused.name)
            attach(f"{paused.name} after waking", {
                "runs given up before the pause": paused.given_up_before,
                "runs given up now": activity.given_up, "executing": activity.executing,
            })
            assert activity.given_up == paused.given_up_before + 1, (
                f"{paused.name} has given up {activity.given_up} run(s), "
                f"{paused.given_up_before} before it was paused: it did not give "
                f"{name}'s run up"
            )

    def slot_held_throughout(self, name: str, minutes: int, times: int) -> None:
        """Each time the clock moved a renewal period, the run's slot was renewed for a whole
        lease, and the tenant had that one run in progress."""
        assert self._state.slot_lease is not None, "the scenario states no slot lease"
        lease, every = self._state.slot_lease
        assert minutes * 60 == times * every, (
            f"the scenario's arithmetic is off: {minutes} minutes are {minutes * 60 / every:g} "
            f"renewals every {every:g} seconds, not {times}"
        )
        watch = self._state.slot_watch
        self._state.slot_watch_examined = True
        title = (
            f"{name}'s run held its slot all through the {minutes} minutes, renewed {times} times"
        )
        with business_step(title, lambda: watch):
            attach("the slot, each time the clock moved", [
                {"after (s)": w.elapsed_seconds, "lease left (s)": w.lease_left_seconds,
                 "runs in progress": w.runs_in_progress}
                for w in watch
            ])
            for look in watch:
                assert renewed(look, lease), (
                    f"{look.elapsed_seconds:g}s into the step by the platform's clock, "
                    f"{name}'s slot was not renewed: its lease had "
                    f"{in_words(look.lease_left_seconds)}s left, not {lease:g}s"
                )
                assert look.runs_in_progress == 1, (
                    f"{look.elapsed_seconds:g}s into the step, {name} had "
                    f"{look.runs_in_progress} runs in progress, not 1"
                )
            assert len(watch) == times, f"{name}'s slot was renewed {len(watch)} times"

    def heard_every_event_once(self, name: str) -> None:
        """On each connection: the run's events in the order heard are numbered 1, 2, 3...
        (none twice, none missing), and the last one ends the run."""
        client = self._clients(name)
        title = f"{name} heard every event of the run once, in order, without a gap"
        with business_step(title, client.seen):
            for number, connection in enumerate(client.connections, start=1):
                events = [
                    h for h in connection.heard
                    if h.request_id == client.request_id and h.kind in RUN_EVENTS
                ]
                numbers = [e.seq for e in events]
                assert numbers == list(range(1, len(events) + 1)), (
                    f"connection {number} of {name} heard the events of run {client.request_id}"
                    f" numbered {numbers}: a repeat, a gap or out of order"
                )
                ids = [e.message_id for e in events]
                assert len(set(ids)) == len(ids), f"an event heard twice: {ids}"
                assert events and events[-1].kind is HeardKind.RESULT, (
                    f"run {client.request_id} did not end with its result on connection "
                    f"{number}: {in_words(events[-1:] or None)}"
                )

    def model_asked_per_agent(self, name: str, rows: list[dict[str, str]]) -> None:
        """The model's call log for ``name``, by model size, against the times the feature
        says each agent asked (each agent's model as the client heard it in progress)."""
        client = self._clients(name)
        eventually(
            self._runs_settled, timeout=self._world.eventually_timeout,
            what="every queued run finishing",
        )
        calls = self._world.model.calls(client.tenant_id)
        heard_models = {
            e.agent: e.model for e in client.run_events()
            if e.kind is HeardKind.PROGRESS and e.agent is not None
        }
        title = f"the model was asked on {name}'s behalf as the table says"
        with business_step(title, lambda: {"calls": calls, "models heard": heard_models}):
            expected: Counter[str] = Counter()
            for row in rows:
                agent = row["agent"]
                assert agent in heard_models, f"{name} heard no progress from the {agent} agent"
                expected[str(heard_models[agent])] += parse_count(row["times"])
            asked = Counter(call.size for call in calls)
            assert asked == expected, (
                f"the model was asked for {name} ({client.tenant_id}) {dict(asked)} times by "
                f"model; the agents' counts in the table make {dict(expected)}"
            )

    def not_ready_before_rebuilt(self) -> None:
        """No platform process answered ready while the store lacked what the platform keeps
        there (the tier catalog, the consumer groups, the published clock)."""
        readiness = self._state.readiness
        self._state.health_examined = True
        with business_step(
            "no platform process reported ready before the store was rebuilt",
            lambda: readiness,
        ):
            assert readiness is not None, "no store fault was waited out"
            assert not readiness.premature, (
                "platform processes answered their health check ready while the store lacked"
                f" what the platform needs: {list(readiness.premature)}"
            )

    def processes_kept_running(self) -> None:
        """Every platform process is the one that was running before the fault (none died,
        none was restarted), and each answers ready."""
        faults = self._world.store_faults
        before = self._state.processes_before
        self._state.health_examined = True
        with business_step("every platform process kept running through the fault"):
            assert before is not None, "no store fault happened"
            eventually(
                faults.all_ready, timeout=self._world.eventually_timeout,
                what="every platform process ready",
            )
            now = faults.processes()
            changed = sorted(n for n in before if now.get(n) != before[n])
            assert not changed, (
                f"platform processes stopped or were restarted during the fault: {changed}"
                f" (process ids before {before}, after {now})"
            )

    def _runs_settled(self) -> None:
        assert self._world.agent_runs.runs_settled(), "runs are still queued or executing"
