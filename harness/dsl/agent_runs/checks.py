"""Then-steps about agent runs: what the tenant heard, what it was billed, what analytics show.

Every check that counts charges first waits until the platform has executed every queued run
(``runs_settled``), so a second charge that would arrive late is counted, not missed. Expected
amounts come from the feature's words, and the arithmetic that relates them is the harness's.
"""

from __future__ import annotations

from decimal import Decimal

from harness.drivers.agent_runs.contract import (
    CloseReason,
    FailureReason,
    HandshakeRefused,
    Heard,
    HeardKind,
    ProtocolProblem,
    RefusalReason,
    RunState,
)
from harness.dsl.agent_runs.clients import Clients
from harness.dsl.agent_runs.state import AgentRunsState, Client
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.parameters import parse_money
from harness.dsl.common.world import World
from harness.money import format_dollars, round_micros
from harness.waiting import eventually

_STATES = {"is still in progress": RunState.IN_PROGRESS, "has finished": RunState.FINISHED}
#: Per problem the feature names: what the platform must call it, and words its message holds.
_PROTOCOL_PROBLEMS = {
    "the message type is unknown": (ProtocolProblem.UNKNOWN_KIND, "unknown message type"),
    "the message is not valid JSON": (ProtocolProblem.NOT_JSON, "not valid JSON"),
    "a request id is needed": (ProtocolProblem.INVALID, "request_id"),
    "the message is nested too deeply": (ProtocolProblem.NOT_JSON, "nested too deeply"),
}


def refusal_reason(words: str) -> RefusalReason:
    """The refusal reason the feature names ("the tier's runs at once are all in use")."""
    try:
        return RefusalReason(words)
    except ValueError:
        known = [r.value for r in RefusalReason if r is not RefusalReason.OTHER]
        raise AssertionError(f"no refusal reason is called {words!r}; known: {known}") from None


def protocol_error_heard(name: str) -> str:
    return f"the protocol error {name} got"


def close_suffered(name: str) -> str:
    return f"the close of {name}'s connection"


class AgentRunChecks:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(AgentRunsState)
        self._clients = Clients(world)

    def receives_complete_report(self, name: str, rows: list[dict[str, str]] | None = None) -> None:
        """The report has every agent's section; progress came from every agent in order,
        numbered without gap or repeat; with ``rows``, each agent's model and call cost."""
        client = self._clients(name)
        pipeline = self._world.agent_runs.pipeline()
        with business_step(f"{name} receives the complete report", client.seen):
            result = self._result(client)
            for agent in pipeline:
                assert f"## {agent.capitalize()}" in (result.report or ""), (
                    f"the report of run {client.request_id} has no {agent} section"
                )
            events = client.run_events()
            progress = [(e.agent, e.step_state) for e in events if e.kind is HeardKind.PROGRESS]
            expected = [(a, s) for a in pipeline for s in ("started", "finished")]
            assert progress == expected, f"progress arrived as {progress}, expected {expected}"
            numbers = [e.seq for e in events]
            assert numbers == list(range(1, len(events) + 1)), (
                f"events of run {client.request_id} numbered {numbers}: a gap or a repeat"
            )
            if rows is not None:
                finished = [e for e in events if e.step_state == "finished"]
                shown = [
                    {"agent": e.agent, "model": e.model,
                     "cost": format_dollars(e.cost_micros or 0)}
                    for e in finished
                ]
                wanted = [{k: row[k] for k in ("agent", "model", "cost")} for row in rows]
                assert shown == wanted, f"the agents ran as {shown}, expected {wanted}"

    def billed_once(self, name: str, cost: int, margin: int, charge: int) -> None:
        client = self._clients(name)
        title = (
            f"{name} is billed once: {format_dollars(cost)} of model cost plus {margin}%, "
            f"{format_dollars(charge)}"
        )
        with business_step(title, client.seen):
            sum_of_parts = round_micros(Decimal(cost) * (100 + margin) / 100)
            assert sum_of_parts == charge, (
                f"the scenario's arithmetic is off: {format_dollars(cost)} plus {margin}% is "
                f"{format_dollars(sum_of_parts)}, not {format_dollars(charge)}"
            )
            result = self._result(client)
            told = (result.cost_micros, result.margin_percent, result.charge_micros)
            assert told == (cost, margin, charge), (
                f"{name} was told (cost, margin, charge) = {told}, expected "
                f"{(cost, margin, charge)}"
            )
            self._ledger_shows(client, charges=1, amount=charge)

    def charged_nothing(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} has been charged nothing", client.seen):
            self._ledger_shows(client, charges=0, amount=0)

    def analytics_show_nothing(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"the usage analytics show nothing for {name}"):
            self._settle()
            eventually(
                self._analytics_caught_up, timeout=self._world.eventually_timeout,
                what="the analytics sink catching up with the usage stream",
            )
            seen = self._world.agent_runs.analytics_totals(client.tenant_id)
            assert (seen.events, seen.amount_micros) == (0, 0), (
                f"analytics of {name} ({client.tenant_id}): {seen.events} events, "
                f"{format_dollars(seen.amount_micros)}; expected nothing"
            )

    def ledger_and_analytics_show_runs(self, rows: list[dict[str, str]]) -> None:
        for row in rows:
            client = self._clients(row["tenant"])
            charge = parse_money(row["charge"])
            title = f"{client.name}: one run at {format_dollars(charge)} in ledger and analytics"
            with business_step(title, client.seen):
                self._ledger_shows(client, charges=1, amount=charge)

                def agree(client: Client = client, charge: int = charge) -> None:
                    seen = self._world.agent_runs.analytics_totals(client.tenant_id)
                    assert (seen.events, seen.units, seen.amount_micros) == (1, 1, charge), (
                        f"analytics of {client.name} ({client.tenant_id}): {seen.events} events, "
                        f"{seen.units} runs, {format_dollars(seen.amount_micros)}; the ledger "
                        f"has 1 run at {format_dollars(charge)}"
                    )

                eventually(
                    agree, timeout=self._world.eventually_timeout,
                    what=f"analytics of {client.name} matching the ledger",
                )

    def told_run_failed(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} is told the run failed and was not charged", client.seen):
            failed_uncharged(
                client, FailureReason.MODEL_UNAVAILABLE, "because the model was unavailable",
                ("could not be completed", "not been charged", "does not count"),
            )

    def no_runs_in_progress(self, name: str) -> None:
        client = self._clients(name)
        held = self._world.agent_runs.slots_held(client.tenant_id)
        with business_step(f"{name} has no runs in progress", lambda: held):
            assert held == 0, f"{name} ({client.tenant_id}) still holds {held} run slots"

    def told_run_state(self, name: str, words: str) -> None:
        assert words in _STATES, f"unknown run state {words!r}; known: {list(_STATES)}"
        client = self._clients(name)
        with business_step(f"{name} is told the run {words}", client.seen):
            told = client.state
            assert told is not None, f"{name} was told nothing about run {client.request_id}"
            assert told.run_state is _STATES[words], (
                f"{name} was told run {client.request_id} is {told.run_state}, "
                f"expected {_STATES[words]}"
            )

    def model_asked_only_for(self, name: str, size: str) -> None:
        client = self._clients(name)
        calls = self._world.model.calls(client.tenant_id)
        sizes = [call.size for call in calls]
        title = f"the model was asked only for the {size} model for {name}"
        with business_step(title, lambda: calls):
            assert sizes and set(sizes) == {size}, f"{name}'s calls asked for {sizes}"

    def model_called(self, name: str, times: int) -> None:
        client = self._clients(name)
        self._settle()
        calls = self._world.model.calls(client.tenant_id)
        with business_step(f"the model was called {times} times for {name}", lambda: calls):
            assert len(calls) == times, (
                f"expected {times} model calls for {name} ({client.tenant_id}), the model "
                f"served {len(calls)}: {in_words(calls)}"
            )

    def each_connection_gets_same_report(self, name: str) -> None:
        client = self._clients(name)
        title = f"each of {name}'s connections receives the same complete report"
        with business_step(title, client.seen):
            outcomes = [client.outcome(c) for c in client.connections]
            results = [o for o in outcomes if o and o.kind is HeardKind.RESULT]
            assert len(results) == len(outcomes) > 1, (
                f"expected each of {name}'s connections to receive the report of run "
                f"{client.request_id}; they heard: {in_words(outcomes)}"
            )
            distinct = {(r.message_id, r.report, r.charge_micros) for r in results}
            assert len(distinct) == 1, (
                f"{name}'s connections received different results for run {client.request_id}: "
                f"{in_words(results)}"
            )
        self.receives_complete_report(name)

    def each_connection_refused(self, name: str, reason: str) -> None:
        """Every connection that sent the request heard one refusal, the same, for ``reason``."""
        expected = refusal_reason(reason)
        client = self._clients(name)
        title = f"each of {name}'s connections is refused: {reason}"
        with business_step(title, client.seen):
            endings = [client.ending(c) for c in client.connections]
            assert len(endings) > 1, f"{name} sent the request on {len(endings)} connection"
            wrong = [e for e in endings if e is None or e.refusal is not expected]
            assert not wrong, (
                f"expected every connection of {name} refused because {reason}; they heard: "
                f"{in_words(endings)}"
            )
            texts = {e.message for e in endings if e is not None}
            assert len(texts) == 1, f"the connections were told different things: {texts}"

    def refused_as(self, reason: str) -> None:
        refusal = self._state.refusal.take()
        with business_step(f"the connection is refused as {reason}", lambda: repr(refusal)):
            assert refusal is not None, "the connection was opened"
            assert isinstance(refusal, HandshakeRefused) and refusal.reason == reason, (
                f"expected the connection refused as {reason}; {in_words(refusal)}"
            )

    def protocol_error(self, name: str, problem: str) -> None:
        assert problem in _PROTOCOL_PROBLEMS, (
            f"unknown protocol problem {problem!r}; known: {list(_PROTOCOL_PROBLEMS)}"
        )
        expected, words = _PROTOCOL_PROBLEMS[problem]
        client = self._clients(name)
        self._examined(protocol_error_heard(name))
        with business_step(f"{name} gets a protocol error: {problem}", client.seen):
            error = client.current.heard[-1]
            assert error.kind is HeardKind.PROTOCOL_ERROR and error.problem is expected, (
                f"expected a protocol error ({expected.value}), {name} heard "
                f"{error.kind.value}: {in_words(error)}"
            )
            assert words in error.message, (
                f"expected the protocol error to say {words!r}; it said {error.message!r}"
            )
            assert error.message_id, f"the protocol error {error.message!r} carries no id"

    def closed_as_too_big(self, name: str) -> None:
        client = self._clients(name)
        self._examined(close_suffered(name))
        title = f"{name}'s connection is closed because the message is too big"
        with business_step(title, client.seen):
            closed = client.current.closed
            assert closed is not None, f"{name}'s connection is still open"
            assert closed.why is CloseReason.MESSAGE_TOO_BIG, (
                f"closed as {closed.why.value} ({closed.detail}), expected: message too big"
            )

    # -- shared -----------------------------------------------------------------------------

    def _examined(self, what: str) -> None:
        if what in self._state.unexamined:
            self._state.unexamined.remove(what)

    def _ledger_shows(self, client: Client, *, charges: int, amount: int) -> None:
        self._settle()
        ledger = self._world.agent_runs.ledger_totals(client.tenant_id)
        assert (ledger.events, ledger.amount_micros) == (charges, amount), (
            f"the ledger of {client.name} ({client.tenant_id}) has {ledger.events} charges, "
            f"{format_dollars(ledger.amount_micros)} in all; expected {charges}, "
            f"{format_dollars(amount)}"
        )

    def _settle(self) -> None:
        """Wait until every queued run was executed, so a late second charge would show."""
        eventually(
            self._runs_settled, timeout=self._world.eventually_timeout,
            what="every queued run finishing",
        )

    def _runs_settled(self) -> None:
        assert self._world.agent_runs.runs_settled(), "runs are still queued or executing"

    def _analytics_caught_up(self) -> None:
        assert self._world.agent_runs.analytics_caught_up(), "usage events are still in the stream"

    @staticmethod
    def _result(client: Client) -> Heard:
        outcome = client.outcome()
        assert outcome is not None and outcome.kind is HeardKind.RESULT, (
            f"{client.name}'s run {client.request_id} ended with {outcome}, expected a report"
        )
        return outcome


def failed_uncharged(
    client: Client, reason: FailureReason, because: str, words: tuple[str, ...]
) -> None:
    """The client's run ended failed for ``reason``, charged nothing, and its message says
    each of ``words``."""
    outcome = client.outcome()
    assert outcome is not None and outcome.kind is HeardKind.FAILED, (
        f"expected {client.name}'s run {client.request_id} to fail; it ended with "
        f"{in_words(outcome)}"
    )
    assert outcome.failure is reason, (
        f"expected run {client.request_id} to fail {because}; "
        f"it failed for {in_words(outcome.failure)}: {outcome.message!r}"
    )
    assert outcome.charge_micros == 0, (
        f"expected run {client.request_id} not charged; it was charged "
        f"{format_dollars(outcome.charge_micros or 0)}"
    )
    for expected in words:
        assert expected in outcome.message, f"no {expected!r} in: {outcome.message}"
