"""The dead-letter queue in business words: runs set aside after their attempts, and what the
operator does with them (list, redrive, purge). Works through the dead-letter contract (the
platform's operator commands) and the agent-run contract (the tenants' clients); the
Then-steps are in :mod:`harness.dsl.dead_letters.checks`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial

from harness.drivers.agent_runs.contract import HeardKind
from harness.drivers.dead_letters.contract import DeadLetter, Queue
from harness.dsl.agent_runs.actions import AgentRunsDsl
from harness.dsl.agent_runs.checks import AgentRunChecks
from harness.dsl.agent_runs.clients import Clients, ending_of, together
from harness.dsl.agent_runs.state import Connection
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.world import World
from harness.dsl.dead_letters.state import DeadLetterState
from harness.waiting import eventually

#: the agent whose call the scenarios' runs fail in
FAILING_AGENT = "optimization"
#: a run set aside takes its attempts and the waits between them (well under a second in the
#: suite: 0.05 s, then 0.1 s), longer than one answer; generous, as a mutant waits it in full
SET_ASIDE_TIMEOUT = 5.0


def queue_named(words: str) -> Queue:
    try:
        return Queue(words)
    except ValueError:
        raise AssertionError(
            f"no queue is called {words!r}; known: {[q.value for q in Queue]}"
        ) from None


class DeadLetterDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(DeadLetterState)
        self._clients = Clients(world)

    # -- the product's numbers --------------------------------------------------------------

    def attempts_are(self, rows: list[dict[str, str]]) -> None:
        stated = {queue_named(row["queue"]): int(row["attempts"]) for row in rows}
        actual = self._world.dead_letters.attempts_per_queue()
        with business_step("each queue gives a message the attempts the product says"):
            assert stated == actual, f"the scenario's attempts {stated}; the platform's {actual}"

    def retention_is(self, days: int) -> None:
        actual = self._world.dead_letters.retention_days()
        with business_step(f"a dead letter is kept {days} days from when it was set aside"):
            assert actual == days, f"the scenario says {days} days; the platform keeps {actual:g}"

    # -- Given ------------------------------------------------------------------------------

    def runs_set_aside(self, names: list[str], attempts: int) -> None:
        """Each tenant asks for a run whose failing agent's answer can never be stored; every
        attempt fails, the customer is told, and the run is found in the dead-letter queue."""
        runs = AgentRunsDsl(self._world)
        clients = [self._clients(name) for name in names]
        title = f"a run of each of {', '.join(names)} was set aside after {attempts} attempts"
        with business_step(title, lambda: [c.seen() for c in clients]):
            for name in names:
                runs.model_answer_unstorable(name, FAILING_AGENT, always=True)
            pairs = [(client, self._clients.connect(client)) for client in clients]
            together([partial(self._clients.start, c, conn) for c, conn in pairs])
            for client, connection in pairs:
                self._receive_ending(client.name, connection)
                ending = client.ending(connection)
                assert ending is not None and ending.kind is HeardKind.FAILED, (
                    f"{client.name}'s run {client.request_id} was not failed: it ended "
                    f"{in_words(ending) if ending else 'silently'}"
                )
                letter = self.letter_of(client.name, waiting=True)
                assert letter.attempts == attempts, (
                    f"{client.name}'s run was set aside after {letter.attempts} attempts, "
                    f"expected {attempts}"
                )
                self._state.letters[client.name] = letter.id

    def analytics_refuses(self, name: str) -> None:
        """The usage analytics refuses every record of the tenant's, until the scenario ends
        (or :meth:`analytics_accepts`)."""
        tenant = self._world.aliases.known_tenant(name)
        refusals = self._world.analytics_refusals
        with business_step(f"the usage analytics refuses every record of {name}'s"):
            self._world.add_cleanup(refusals.accept, tenant)
            refusals.refuse(tenant)

    def analytics_accepts(self, name: str) -> None:
        tenant = self._world.aliases.known_tenant(name)
        with business_step(f"the usage analytics takes {name}'s records again"):
            self._world.analytics_refusals.accept(tenant)

    def usage_set_aside(self, name: str, attempts: int) -> None:
        """The tenant's run is billed while the usage analytics refuses its records: the run's
        usage record is found in the dead-letter queue after its attempts."""
        client = self._clients(name)
        with business_step(f"{name}'s usage record was set aside after {attempts} attempts",
                           client.seen):
            self.analytics_refuses(name)
            AgentRunsDsl(self._world).ask_for_optimization(name)
            ending = client.outcome()
            assert ending is not None and ending.kind is HeardKind.RESULT, (
                f"{name}'s run {client.request_id} did not end with its report: {in_words(ending)}"
            )
            letter = self.letter_of(name, waiting=True)
            assert (letter.queue, letter.attempts) == (Queue.USAGE_EVENTS, attempts), (
                f"{name}'s dead letter is of the {letter.queue} queue after {letter.attempts} "
                f"attempts, expected the usage events after {attempts}"
            )
            self._state.letters[name] = letter.id

    # -- When -------------------------------------------------------------------------------

    def operator_lists(self, which: str) -> None:
        desk = self._world.dead_letters
        with business_step(f"the operator lists {which}", lambda: self._state.listed):
            if which == "the dead-letter queue":
                listed = desk.listed()
            elif found := re.fullmatch(r"the dead letters of the (.+)", which):
                listed = desk.listed(queue=queue_named(found.group(1)))
            elif found := re.fullmatch(r"(\w+)'s dead letters", which):
                tenant = self._world.aliases.known_tenant(found.group(1))
                listed = desk.listed(tenant_id=tenant)
            else:
                raise AssertionError(
                    f"the operator cannot list {which!r}; known: the dead-letter queue, "
                    "the dead letters of <queue>, <tenant>'s dead letters"
                )
            self._state.listed, self._state.listed_what = listed, which

    def worker_killed_while_model_works(self, name: str) -> None:
        """The tenant asks for a run; once the model takes its time over one of the run's calls
        (the attempt the model's script holds), the worker running it is killed; the client
        listens until the run ends, however many attempts that takes."""
        client = self._clients(name)
        faults = self._world.worker_faults
        title = (
            f"{name} asks for an AI-spend optimization; the worker running it is killed while "
            "the model takes its time"
        )
        with business_step(title, client.seen):
            connection = self._clients.connect(client)
            self._clients.start(client, connection)

            def model_working() -> None:
                held = self._world.model.held(client.tenant_id)
                assert held == 1, f"the model is taking its time over {held} calls"

            eventually(model_working, timeout=SET_ASIDE_TIMEOUT, what="the model taking its time")
            killed = faults.kill_worker_running(client.tenant_id)
            self._world.add_cleanup(faults.restart, killed.name)
            AgentRunsDsl(self._world).release_held_call(name)  # answered, to nobody
            # the next attempt waits for the dead worker's job lease to run out
            self._receive_ending(name, connection, SET_ASIDE_TIMEOUT + faults.job_lease_seconds)

    def redrive(self, name: str, times: int) -> None:
        entry = self._letter_id(name)
        title = f"the operator redrives {name}'s dead letter {entry}, {times} times"
        with business_step(title, lambda: self._state.redrives):
            for _ in range(times):
                self._state.redrives.append(self._world.dead_letters.redrive(entry))

    def redrive_every(self, queue: str) -> None:
        chosen = queue_named(queue)
        title = f"the operator redrives every dead letter of the {queue}"
        with business_step(title, lambda: self._state.redrives):
            self._state.redrives.append(self._world.dead_letters.redrive_all(chosen))

    def purge_after(self, days: int) -> None:
        clock = self._world.clock  # it moves forward only, as the billing scenarios move it
        with business_step(f"{days} days pass; the operator purges expired dead letters"):
            clock.advance(timedelta(days=days))
            self._world.dead_letters.purge()

    # -- Then, acting first -----------------------------------------------------------------

    def finds_report(self, name: str) -> None:
        """The client asks for its request again (a new connection resuming after the last
        event it heard) and listens until the run's report."""
        client = self._clients(name)
        with business_step(f"{name} asks again for request {client.request_id}", client.seen):
            heard = [e.seq or 0 for e in client.run_events()]
            connection = self._clients.connect(client)
            assert client.request_id is not None, f"{name} asked for no run"
            connection.channel.resume(client.request_id, max(heard, default=0))
            eventually(
                lambda: self._receive_until_result(name, connection),
                timeout=SET_ASIDE_TIMEOUT, what=f"{name}'s report",
            )
        AgentRunChecks(self._world).receives_complete_report(name)

    # -- shared -----------------------------------------------------------------------------

    def letter_of(self, name: str, *, waiting: bool) -> DeadLetter:
        """The tenant's one dead letter, once the operator's list shows it (waiting, or kept
        for the record)."""
        tenant = self._world.aliases.known_tenant(name)

        def listed() -> DeadLetter:
            found = self._world.dead_letters.listed(tenant_id=tenant, waiting_only=False)
            found = [d for d in found if d.waiting or not waiting]
            assert len(found) == 1, f"the list shows {len(found)} dead letters of {name}: {found}"
            return found[0]

        return eventually(listed, timeout=SET_ASIDE_TIMEOUT, what=f"{name}'s dead letter")

    def _letter_id(self, name: str) -> str:
        assert name in self._state.letters, f"no run of {name}'s was set aside in this scenario"
        return self._state.letters[name]

    def _receive_ending(
        self, name: str, connection: Connection, timeout: float = SET_ASIDE_TIMEOUT
    ) -> None:
        client = self._clients(name)
        eventually(
            lambda: self._clients.receive_until(client, connection, ending_of(client)),
            timeout=timeout, what=f"the end of {name}'s run",
        )

    def _receive_until_result(self, name: str, connection: Connection) -> None:
        client = self._clients(name)
        self._clients.receive_until(
            client, connection,
            lambda h: h.request_id == client.request_id and h.kind is HeardKind.RESULT,
        )
