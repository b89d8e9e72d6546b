"""Agent runs in business words: a tenant asks for an AI-spend optimization, watches its agents
work, receives the report and is billed for it. Works through the agent-run driver contract
(WebSockets in the network assembly, the same code in-process otherwise); the Then-steps are
in :mod:`harness.dsl.agent_runs.checks`.

Scenario state (the tenants' clients and what they heard) is the World's
:class:`~harness.dsl.agent_runs.state.AgentRunsState`; every connection opened is closed when
the scenario ends, and every model call held is released.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial

from harness.drivers.agent_runs.contract import Answer, HeardKind, Malformation, Outage, RunState
from harness.dsl.agent_runs.checks import (
    AgentRunChecks,
    close_suffered,
    protocol_error_heard,
    refusal_reason,
)
from harness.dsl.agent_runs.clients import Clients, ending_of, kind_is, progress_of, together
from harness.dsl.agent_runs.state import AgentRunsState, Connection
from harness.dsl.common.evidence import business_step
from harness.dsl.common.parameters import parse_count, parse_money
from harness.dsl.common.world import World
from harness.dsl.tiers.subscriptions import SubscriptionsDsl
from harness.waiting import eventually

#: A plain answer, for steps that do not care about token counts.
_ANY_ANSWER = Answer(100, 50)
#: An answer holding a character no record can store: PostgreSQL's text refuses NUL.
_UNSTORABLE = "Savings found in \x00 three areas."
_RECONNECT_MOMENTS = {"while the run is still working": False, "after the run has finished": True}
#: A key shaped like the platform's, that it never issued.
_UNKNOWN_KEY = "apex_" + "x" * 43


class AgentRunsDsl:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(AgentRunsState)
        self._clients = Clients(world)
        self._checks = AgentRunChecks(world)

    # -- the product's numbers --------------------------------------------------------------

    def price_list_is(self, rows: list[dict[str, str]]) -> None:
        stated = {
            row["model"]: tuple(parse_money(row[c]) for c in ("input", "cached input", "output"))
            for row in rows
        }
        actual = {
            size: (p.input, p.cached_input, p.output)
            for size, p in self._world.agent_runs.model_prices().items()
        }
        with business_step("model calls are priced per million tokens as the product says"):
            assert stated == actual, f"the scenario's prices {stated}; the platform's {actual}"

    def margins_are(self, rows: list[dict[str, str]]) -> None:
        stated = {row["tier"]: int(row["margin"].rstrip("%")) for row in rows}
        actual = self._world.agent_runs.margins()
        with business_step("a run is charged its cost plus its tier's margin"):
            assert stated == actual, f"the scenario's margins {stated}; the platform's {actual}"

    # -- Given: the model -------------------------------------------------------------------

    def model_answers_agents(self, name: str, rows: list[dict[str, str]]) -> None:
        agents = [row["agent"] for row in rows]
        pipeline = self._world.agent_runs.pipeline()
        assert agents == pipeline, f"the table lists agents {agents}; the pipeline is {pipeline}"
        steps: list[Answer | Outage] = [
            Answer(
                parse_count(row["prompt tokens"]), parse_count(row["completion tokens"]),
                parse_count(row.get("of which cached") or "0"),
            )
            for row in rows
        ]
        self._program(name, steps, f"the model answers {name}'s agents as the table says")

    def model_answers_every_call(self, prompt: int, completion: int) -> None:
        """Every call made for any tenant set up so far in the scenario."""
        names = list(self._world.aliases.names())
        assert names, "no tenant is set up yet: put this step after the tenants"
        for name in names:
            self._program(
                name, [Answer(prompt, completion)],
                f"the model answers every call for {name} with {prompt:,} prompt and "
                f"{completion:,} completion tokens",
            )

    def model_answers_then_down(self, name: str, calls: int, prompt: int, completion: int) -> None:
        steps: list[Answer | Outage] = [Answer(prompt, completion) for _ in range(calls)]
        self._program(name, [*steps, Outage()], f"the model answers {calls} calls, then is down")

    def model_takes_its_time(self, name: str, agent: str) -> None:
        """The agent's call waits at a gate until the scenario releases it."""
        steps, index, held = self._script_so_far(name, agent)
        steps[index] = Answer(
            held.prompt_tokens, held.completion_tokens, held.cached_prompt_tokens,
            hold=self._gate(name),
        )
        self._program(name, steps, f"the model takes its time over {name}'s {agent} call")

    def model_answer_unstorable(self, name: str, agent: str, *, always: bool) -> None:
        """The model's answer to the agent's call (its first one, or every one) holds a
        character no record can store (NUL): a step that raises whatever the platform retries
        within it. The other calls answer as scripted so far."""
        steps, index, plain = self._script_so_far(name, agent)
        unstorable = replace(plain, content=_UNSTORABLE)
        steps = [*steps[:index], unstorable] if always else [
            *steps[:index], unstorable, *steps[index:]
        ]
        which = "every answer" if always else "the first answer"
        self._program(name, steps, f"{which} to {name}'s {agent} call holds a NUL character")

    def model_answers_in_turn(self, name: str, agent: str, rows: list[dict[str, str]]) -> None:
        """The agent's calls answered in turn, as the rows say ("1st", "2nd"... then "later",
        for every call after them): plainly, with a character no record can store, or held
        until the scenario releases the call."""
        steps, index, plain = self._script_so_far(name, agent)
        calls = [row["call"] for row in rows]
        expected = [_ordinal(n) for n in range(1, len(rows))] + ["later"]
        assert calls == expected, f"the calls are listed as {calls}, expected {expected}"
        answers = {
            "is plain": plain,
            "holds a character no record can store": replace(plain, content=_UNSTORABLE),
            "takes its time": replace(plain, hold=self._gate(name)),
        }
        in_turn: list[Answer | Outage] = []
        for row in rows:
            assert row["answer"] in answers, (
                f"the model cannot answer {row['answer']!r}; known: {list(answers)}"
            )
            in_turn.append(answers[row["answer"]])
        self._program(name, [*steps[:index], *in_turn], f"{name}'s {agent} calls answered in turn")

    def model_answer_storable(self, name: str, agent: str) -> None:
        """The agent's call is answered as scripted again, without the unstorable character
        (the script starts over: the calls are alike but for their text)."""
        steps = [replace(s, content=None) if isinstance(s, Answer) else s
                 for s in self._state.scripts.get(name) or [_ANY_ANSWER]]
        self._program(name, steps, f"the answers to {name}'s {agent} call can be stored again")

    # -- Given: clients ---------------------------------------------------------------------

    def connected(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} is connected to the platform", client.seen):
            self._clients.connect(client)

    def tenant_with_waiting_run(self, name: str, tier: str) -> None:
        """A tenant on a tier whose run is under way, its first model call held."""
        SubscriptionsDsl(self._world).tenant_on_tier(name, tier)
        first = self._world.agent_runs.pipeline()[0]
        self.model_takes_its_time(name, first)
        client = self._clients(name)
        with business_step(f"{name} has a run waiting on the model", client.seen):
            connection = self._clients.connect(client)
            self._clients.start(client, connection)
            self._clients.receive_until(client, connection, progress_of(first, "started"))

    # -- When -------------------------------------------------------------------------------

    def ask_for_optimization(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} asks for an AI-spend optimization", client.seen):
            connection = client.current if client.connections else self._clients.connect(client)
            self._clients.start(client, connection)
            self._clients.receive_until(client, connection, ending_of(client))

    def ask_at_once(self, names: list[str]) -> None:
        clients = [self._clients(name) for name in names]
        title = f"{' and '.join(names)} each ask for an AI-spend optimization at the same time"
        with business_step(title, lambda: [c.seen() for c in clients]):
            pairs = [(client, self._clients.connect(client)) for client in clients]
            together([partial(self._clients.start, c, conn) for c, conn in pairs])
            for client, connection in pairs:
                self._clients.receive_until(client, connection, ending_of(client))

    def same_request_twice(self, name: str, instances: int) -> None:
        replicas = self._world.agent_runs.replicas
        assert replicas >= instances, (
            f"the platform runs {replicas} gateway instances; the scenario needs {instances}"
        )
        client = self._clients(name)
        title = f"{name} sends the same request twice at once, through {instances} instances"
        with business_step(title, client.seen):
            connections = [self._clients.connect(client, replica=i) for i in range(instances)]
            client.request_id = self._world.aliases.request_id()
            together([partial(self._clients.ask_for_run, client, c) for c in connections])
            for connection in connections:
                self._clients.receive_until(client, connection, ending_of(client))

    def request_was_refused(self, name: str, reason: str) -> None:
        """A request of ``name`` the platform refused for ``reason`` (its request id kept)."""
        expected = refusal_reason(reason)
        client = self._clients(name)
        with business_step(f"{name}'s optimization request was refused: {reason}", client.seen):
            connection = client.current if client.connections else self._clients.connect(client)
            self._clients.start(client, connection)
            ending = self._clients.receive_until(client, connection, ending_of(client))
            assert ending is not None and ending.refusal is expected, (
                f"{name}'s request {client.request_id} was not refused for {reason}: {ending}"
            )

    def send_refused_request_again(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} sends request {client.request_id} again", client.seen):
            connection = client.current
            self._clients.ask_for_run(client, connection)
            self._clients.receive_until(client, connection, ending_of(client))

    def drop_and_reconnect(self, name: str, agent: str, moment: str) -> None:
        """The connection drops once the agent has started; the client reconnects (before or
        after the run ends) and resumes from the last event it heard."""
        assert moment in _RECONNECT_MOMENTS, (
            f"unknown moment {moment!r}; known: {list(_RECONNECT_MOMENTS)}"
        )
        client = self._clients(name)
        title = f"{name}'s connection drops during the {agent} step; {name} reconnects {moment}"
        with business_step(title, client.seen):
            first = self._clients.connect(client)
            self._clients.start(client, first)
            self._clients.receive_until(client, first, progress_of(agent, "started"))
            first.channel.drop()
            last_seen = max(event.seq or 0 for event in client.run_events(first))
            if _RECONNECT_MOMENTS[moment]:
                self._release(name)
                self._clients.await_state(client, RunState.FINISHED)
            second = self._clients.connect(client)
            assert client.request_id is not None
            second.channel.resume(client.request_id, last_seen)
            client.state = self._clients.receive_until(client, second, kind_is(HeardKind.STATE))
            self._release(name)
            self._clients.receive_until(client, second, ending_of(client))

    def connect_with(self, key: str) -> None:
        """A client connects with one of the keys that must open nothing (the feature's words:
        "a key the platform never issued", "Acme's key, after Acme revoked it", ...)."""
        api_key = self._key_that_opens_nothing(key)
        with business_step(f"a client connects with {key}"):
            self._state.refusal.put(None)
            try:
                self._world.agent_runs.connect(api_key).close()
            except Exception as exc:  # what the refusal was is the Then's to judge
                self._state.refusal.put(exc)

    def _key_that_opens_nothing(self, key: str) -> str:
        if key == "a key the platform never issued":
            return _UNKNOWN_KEY
        if key == "no key at all":
            return ""
        revoked = re.fullmatch(r"(\w+)'s key, after \1 revoked it", key)
        if revoked:
            client = self._clients(revoked.group(1))
            self._world.agent_runs.revoke_api_key(client.tenant_id, client.api_key)
            return client.api_key
        altered = re.fullmatch(r"(\w+)'s key with its last character changed", key)
        if altered:
            issued = self._clients(altered.group(1)).api_key
            return issued[:-1] + ("B" if issued[-1] == "A" else "A")
        raise AssertionError(
            f"no key {key!r}; known: a key the platform never issued, no key at all,"
            " <tenant>'s key, after <tenant> revoked it,"
            " <tenant>'s key with its last character changed"
        )

    def send_malformed(self, name: str, malformation: str) -> None:
        try:
            kind = Malformation(malformation)
        except ValueError:
            known = [m.value for m in Malformation]
            raise AssertionError(f"no malformed message {malformation!r}; known: {known}") from None
        client = self._clients(name)
        with business_step(f"{name} sends {malformation}", client.seen):
            client.current.channel.send_malformed(kind)
            self._clients.receive_until(
                client, client.current, kind_is(HeardKind.PROTOCOL_ERROR)
            )
            self._state.unexamined.append(protocol_error_heard(name))

    def send_oversized(self, name: str, kib: int, limit_kib: int) -> None:
        limit = self._world.agent_runs.max_message_bytes
        assert limit == limit_kib * 1024, (
            f"the scenario says the limit is {limit_kib} KiB; the platform's is {limit / 1024:g}"
        )
        client = self._clients(name)
        with business_step(f"{name} sends a message of {kib} KiB", client.seen):
            connection = self._clients.connect(client)
            connection.channel.send_oversized(kib * 1024)
            self._clients.receive_until(client, connection, lambda _h: False, expect_close=True)
            self._state.unexamined.append(close_suffered(name))

    # -- Then, acting first -----------------------------------------------------------------

    def still_works_on_same_connection(self, name: str) -> None:
        client = self._clients(name)
        title = f"{name} still gets a complete report over the same connection"
        with business_step(title, client.seen):
            assert client.current.closed is None, f"the connection closed: {client.current.closed}"
            self._clients.start(client, client.current)
            self._clients.receive_until(client, client.current, ending_of(client))
        self._checks.receives_complete_report(name)

    def receives_report_once_model_answers(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"once the model answers, {name}'s run completes", client.seen):
            self._release(name)
            self._clients.receive_until(client, client.current, ending_of(client))
        self._checks.receives_complete_report(name)

    def connects_again_and_gets_report(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} connects again", client.seen):
            self._clients.connect(client)
        self.still_works_on_same_connection(name)

    # -- internals --------------------------------------------------------------------------

    def start_run_until_model_works_on(self, name: str, agent: str) -> Connection:
        """``name`` asks for a run on a new connection; returns once ``agent`` has started and
        the scripted model is taking its time over its call."""
        client = self._clients(name)
        connection = self._clients.connect(client)
        self._clients.start(client, connection)
        self._clients.receive_until(client, connection, progress_of(agent, "started"))

        def working() -> None:
            held = self._world.model.held(client.tenant_id)
            assert held == 1, f"the model is taking its time over {held} calls of {name}"

        eventually(working, timeout=self._world.eventually_timeout,
                   what=f"the model working on {agent}")
        return connection

    def _script_so_far(self, name: str, agent: str) -> tuple[list[Answer | Outage], int, Answer]:
        """The tenant's script so far, one step per agent at least; the agent's place in it,
        and the answer scripted there (AssertionError if the call is scripted to fail)."""
        pipeline = self._world.agent_runs.pipeline()
        assert agent in pipeline, f"no agent {agent!r}; the pipeline is {pipeline}"
        index = pipeline.index(agent)
        steps = list(self._state.scripts.get(name) or [_ANY_ANSWER])
        steps += [steps[-1]] * (len(pipeline) - len(steps))
        scripted = steps[index]
        assert isinstance(scripted, Answer), f"the {agent} call is scripted to fail already"
        return steps, index, scripted

    def _program(self, name: str, steps: list[Answer | Outage], title: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(title, lambda: steps):
            self._world.model.script(tenant_id, steps)
        if name not in self._state.scripts:
            self._world.add_cleanup(self._release, name)
        self._state.scripts[name] = steps

    def release_held_call(self, name: str) -> None:
        """The model answers the call it was taking its time over for ``name``."""
        self._release(name)

    def _gate(self, name: str) -> str:
        return f"{self._world.aliases.known_tenant(name)}-held"

    def _release(self, name: str) -> None:
        if self._world.has_scripted_model and name in self._state.scripts:
            self._world.model.release(self._gate(name))


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th... (the calls of a scripted agent, as a feature counts them)."""
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number if number < 20 else number % 10, "th")
    return f"{number}{suffix}"
