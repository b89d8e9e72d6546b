"""Then-steps about agent runs: what the tenant saw, what it was billed, what analytics show.

Every check that counts charges first waits until the platform has executed every queued run
(``runs_settled``), so a second charge that would arrive late is counted, not missed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apex.gateway.protocol import CLOSE_MESSAGE_TOO_BIG, MessageType
from apex.money import dollars_to_micros, format_dollars, round_micros
from apex.orchestration.agents import PIPELINE
from harness.drivers.agent_runs import AgentRunSystem
from harness.drivers.scripted_llm import ScriptedModel
from harness.dsl.agent_run_clients import Client, Clients
from harness.dsl.evidence import business_step
from harness.dsl.parameters import parse_money
from harness.dsl.world import World
from harness.waiting import eventually

_STATES = {"is still in progress": "running", "has finished": "succeeded"}
_PROTOCOL_PROBLEMS = {
    "the message type is unknown": ("unknown_type", "unknown message type"),
    "the message is not valid JSON": ("malformed_json", "not valid JSON"),
    "a request id is needed": ("invalid_message", "request_id"),
}


class AgentRunChecks:
    def __init__(self, world: World) -> None:
        self._world = world
        self._clients = Clients(world, lambda: self._system.driver)
        #: what happened when a client tried to connect, for a Then to examine
        self.refusal: Exception | None = None

    def receives_complete_report(self, name: str, rows: list[dict[str, str]] | None = None) -> None:
        """The report has every agent's section; progress came from every agent in order,
        numbered without gap or repeat; with ``rows``, each agent's model and call cost."""
        client = self._clients(name)
        with business_step(f"{name} receives the complete report", client.seen):
            result = self._result(client)
            for agent in PIPELINE:
                assert f"## {agent.name.value.capitalize()}" in result["report"], (
                    f"the report of run {client.request_id} has no {agent.name} section"
                )
            events = client.run_events()
            progress = [
                (e["agent"], e["state"]) for e in events if e["type"] == MessageType.PROGRESS
            ]
            expected = [(a.name.value, s) for a in PIPELINE for s in ("started", "finished")]
            assert progress == expected, f"progress arrived as {progress}, expected {expected}"
            numbers = [e["seq"] for e in events]
            assert numbers == list(range(1, len(events) + 1)), (
                f"events of run {client.request_id} numbered {numbers}: a gap or a repeat"
            )
            if rows is not None:
                finished = [e for e in events if e.get("state") == "finished"]
                shown = [
                    {"agent": e["agent"], "model": e["model"],
                     "cost": format_dollars(dollars_to_micros(e["cost"]))}
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
            told = (
                dollars_to_micros(result["cost"]), result["margin_percent"],
                dollars_to_micros(result["charge"]),
            )
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
            seen = self._system.driver.analytics_totals(client.tenant_id)
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
                    seen = self._system.driver.analytics_totals(client.tenant_id)
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
            outcome = client.outcome()
            assert outcome is not None and outcome["type"] == MessageType.FAILED, (
                f"{name}'s run {client.request_id} ended with {outcome}, expected a failure"
            )
            assert outcome["reason"] == "model_unavailable", f"failed for {outcome['reason']}"
            assert dollars_to_micros(outcome["charge"]) == 0, f"charged {outcome['charge']}"
            for words in ("could not be completed", "not been charged", "does not count"):
                assert words in outcome["message"], f"no {words!r} in: {outcome['message']}"

    def no_runs_in_progress(self, name: str) -> None:
        client = self._clients(name)
        running = self._system.driver.runs_in_progress(client.tenant_id)
        with business_step(f"{name} has no runs in progress", lambda: running):
            assert running == 0, f"{name} ({client.tenant_id}) still holds {running} run slots"

    def told_run_state(self, name: str, words: str) -> None:
        assert words in _STATES, f"unknown run state {words!r}; known: {list(_STATES)}"
        client = self._clients(name)
        with business_step(f"{name} is told the run {words}", client.seen):
            told = client.state
            assert told is not None, f"{name} was told nothing about run {client.request_id}"
            assert told["state"] == _STATES[words], (
                f"{name} was told run {client.request_id} is {told['state']!r}, "
                f"expected {_STATES[words]!r}"
            )

    def model_asked_only_for(self, name: str, size: str) -> None:
        client = self._clients(name)
        calls = self._model.calls(client.tenant_id)
        sizes = [self._model.model_sizes.get(call.model, call.model) for call in calls]
        title = f"the model was asked only for the {size} model for {name}"
        with business_step(title, lambda: calls):
            assert sizes and set(sizes) == {size}, f"{name}'s calls asked for {sizes}"

    def model_called(self, name: str, times: int) -> None:
        client = self._clients(name)
        self._settle()
        calls = self._model.calls(client.tenant_id)
        with business_step(f"the model was called {times} times for {name}", lambda: calls):
            assert len(calls) == times, f"the model served {len(calls)} calls for {name}: {calls}"

    def each_connection_gets_same_report(self, name: str) -> None:
        client = self._clients(name)
        title = f"each of {name}'s connections receives the same complete report"
        with business_step(title, client.seen):
            outcomes = [client.outcome(c) for c in client.connections]
            results = [o for o in outcomes if o and o["type"] == MessageType.RESULT]
            assert len(results) == len(outcomes) > 1, f"not every connection got one: {outcomes}"
            distinct = {(r["id"], r["report"], r["charge"]) for r in results}
            assert len(distinct) == 1, f"the connections received different results: {results}"
        self.receives_complete_report(name)

    def refused_as(self, reason: str) -> None:
        with business_step(f"the connection is refused as {reason}", lambda: repr(self.refusal)):
            assert self.refusal is not None, "the connection was opened"
            assert getattr(self.refusal, "reason", None) == reason, f"refused: {self.refusal!r}"

    def protocol_error(self, name: str, problem: str) -> None:
        assert problem in _PROTOCOL_PROBLEMS, (
            f"unknown protocol problem {problem!r}; known: {list(_PROTOCOL_PROBLEMS)}"
        )
        code, words = _PROTOCOL_PROBLEMS[problem]
        client = self._clients(name)
        with business_step(f"{name} gets a protocol error: {problem}", client.seen):
            error = client.current.received[-1]
            assert error["type"] == MessageType.ERROR and error["code"] == code, (
                f"expected a {code} error, got {error}"
            )
            assert words in error["message"], f"the error does not say {words!r}: {error}"
            assert error.get("id"), f"the error has no id: {error}"

    def closed_as_too_big(self, name: str) -> None:
        client = self._clients(name)
        title = f"{name}'s connection is closed because the message is too big"
        with business_step(title, client.seen):
            closed = client.current.closed
            assert closed is not None, f"{name}'s connection is still open"
            assert closed.code == CLOSE_MESSAGE_TOO_BIG, (
                f"closed with code {closed.code} ({closed.reason}), expected "
                f"{CLOSE_MESSAGE_TOO_BIG} (message too big)"
            )

    # -- shared -----------------------------------------------------------------------------

    @property
    def _system(self) -> AgentRunSystem:
        system = self._world.agent_runs
        assert system is not None, "agent runs need the platform processes: tag the feature @L4"
        return system

    @property
    def _model(self) -> ScriptedModel:
        model = self._system.model
        assert model is not None, "this step needs the scripted model: tag it @scripted_llm"
        return model

    def _ledger_shows(self, client: Client, *, charges: int, amount: int) -> None:
        self._settle()
        ledger = self._system.driver.ledger_totals(client.tenant_id)
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
        assert self._system.driver.runs_settled(), "runs are still queued or executing"

    def _analytics_caught_up(self) -> None:
        assert self._system.driver.analytics_caught_up(), "usage events are still in the stream"

    @staticmethod
    def _result(client: Client) -> dict[str, Any]:
        outcome = client.outcome()
        assert outcome is not None and outcome["type"] == MessageType.RESULT, (
            f"{client.name}'s run {client.request_id} ended with {outcome}, expected a report"
        )
        return outcome
