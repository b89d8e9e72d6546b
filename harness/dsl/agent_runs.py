"""Agent runs in business words: a tenant asks for an AI-spend optimization, watches its agents
work, receives the report and is billed for it. Works through an
:class:`~harness.drivers.agent_runs.AgentRunDriver` (WebSockets at L4, in-process at L3); the
Then-steps are in :mod:`harness.dsl.agent_run_checks`.

Scenario state (the tenants' connections and what they received) lives in this object, made
fresh for every scenario; every connection it opens is closed when the scenario ends, and every
model call it held is released.
"""

from __future__ import annotations

from functools import partial

from apex.catalog import MODEL_PRICES
from apex.gateway.protocol import MessageType
from apex.orchestration.agents import PIPELINE
from apex.orchestration.pricing import MARGIN_PERCENT
from harness.drivers.scripted_llm import Answer, Outage
from harness.dsl.agent_run_checks import AgentRunChecks
from harness.dsl.agent_run_clients import (
    TASK,
    message_id,
    outcome_of,
    progress_of,
    together,
    type_is,
)
from harness.dsl.evidence import business_step
from harness.dsl.parameters import parse_count, parse_money
from harness.dsl.subscriptions import SubscriptionsDsl
from harness.dsl.world import World

#: A plain answer, for steps that do not care about token counts.
_ANY_ANSWER = Answer(100, 50)
_MALFORMED = {
    "a message of a kind nobody defined": '{"type": "run.cancel_everything", "id": "m1"}',
    "text that is not JSON": "{this is not JSON",
    "a run request without a request id": f'{{"type": "run.start", "id": "m1", "task": "{TASK}"}}',
}
_RECONNECT_MOMENTS = {"while the run is still working": False, "after the run has finished": True}


class AgentRunsDsl(AgentRunChecks):
    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._scripts: dict[str, list[Answer | Outage]] = {}

    # -- the product's numbers --------------------------------------------------------------

    def price_list_is(self, rows: list[dict[str, str]]) -> None:
        stated = {
            row["model"]: tuple(parse_money(row[c]) for c in ("input", "cached input", "output"))
            for row in rows
        }
        actual = {
            size.value: (
                p.input_per_million_micros, p.cached_input_per_million_micros,
                p.output_per_million_micros,
            )
            for size, p in MODEL_PRICES.items()
        }
        with business_step("model calls are priced per million tokens as the product says"):
            assert stated == actual, f"the scenario's prices {stated}; the platform's {actual}"

    def margins_are(self, rows: list[dict[str, str]]) -> None:
        stated = {row["tier"]: int(row["margin"].rstrip("%")) for row in rows}
        with business_step("a run is charged its cost plus its tier's margin"):
            assert stated == dict(MARGIN_PERCENT), (
                f"the scenario's margins {stated}; the platform's {dict(MARGIN_PERCENT)}"
            )

    # -- Given: the model -------------------------------------------------------------------

    def model_answers_agents(self, name: str, rows: list[dict[str, str]]) -> None:
        agents = [row["agent"] for row in rows]
        pipeline = [agent.name.value for agent in PIPELINE]
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
        index = _agent_index(agent)
        steps = list(self._scripts.get(name) or [_ANY_ANSWER])
        steps += [steps[-1]] * (len(PIPELINE) - len(steps))
        held = steps[index]
        assert isinstance(held, Answer), f"the {agent} call is scripted to fail, not to wait"
        steps[index] = Answer(
            held.prompt_tokens, held.completion_tokens, held.cached_prompt_tokens,
            hold=self._gate(name),
        )
        self._program(name, steps, f"the model takes its time over {name}'s {agent} call")

    # -- Given: clients ---------------------------------------------------------------------

    def connected(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} is connected to the platform", client.seen):
            self._clients.connect(client)

    def tenant_with_waiting_run(self, name: str, tier: str) -> None:
        """A tenant on a tier whose run is under way, its first model call held."""
        SubscriptionsDsl(self._world).tenant_on_tier(name, tier)
        first = PIPELINE[0].name.value
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
            self._clients.receive_until(client, connection, outcome_of(client))

    def ask_at_once(self, names: list[str]) -> None:
        clients = [self._clients(name) for name in names]
        title = f"{' and '.join(names)} each ask for an AI-spend optimization at the same time"
        with business_step(title, lambda: [c.seen() for c in clients]):
            pairs = [(client, self._clients.connect(client)) for client in clients]
            together([partial(self._clients.start, c, conn) for c, conn in pairs])
            for client, connection in pairs:
                self._clients.receive_until(client, connection, outcome_of(client))

    def same_request_twice(self, name: str, instances: int) -> None:
        replicas = self._system.driver.replicas
        assert replicas >= instances, (
            f"the platform runs {replicas} gateway instances; the scenario needs {instances}"
        )
        client = self._clients(name)
        title = f"{name} sends the same request twice at once, through {instances} instances"
        with business_step(title, client.seen):
            connections = [self._clients.connect(client, replica=i) for i in range(instances)]
            client.request_id = self._world.aliases.request_id()
            together([partial(self._clients.send_start, client, c) for c in connections])
            for connection in connections:
                self._clients.receive_until(client, connection, outcome_of(client))

    def drop_and_reconnect(self, name: str, agent: str, moment: str) -> None:
        """The connection drops once the agent has started; the client reconnects (before or
        after the run ends) and resumes from the last event it saw."""
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
            last_seen = max(event["seq"] for event in client.run_events(first))
            if _RECONNECT_MOMENTS[moment]:
                self._release(name)
                self._clients.await_state(client, "succeeded")
            second = self._clients.connect(client)
            second.channel.send(
                {
                    "type": MessageType.RESUME, "id": message_id(),
                    "request_id": client.request_id, "after": last_seen,
                }
            )
            client.state = self._clients.receive_until(client, second, type_is(MessageType.STATE))
            self._release(name)
            self._clients.receive_until(client, second, outcome_of(client))

    def connect_with_unknown_key(self) -> None:
        with business_step("a client connects with a key the platform never issued"):
            self.refusal = None
            try:
                self._system.driver.connect("apex_" + "x" * 43).close()
            except Exception as exc:  # what the refusal was is the Then's to judge
                self.refusal = exc

    def send_malformed(self, name: str, malformation: str) -> None:
        assert malformation in _MALFORMED, (
            f"no malformed message {malformation!r}; known: {list(_MALFORMED)}"
        )
        client = self._clients(name)
        with business_step(f"{name} sends {malformation}", client.seen):
            client.current.channel.send_text(_MALFORMED[malformation])
            self._clients.receive_until(
                client, client.current, type_is(MessageType.ERROR)
            )

    def send_oversized(self, name: str, kib: int, limit_kib: int) -> None:
        limit = self._system.driver.max_message_bytes
        assert limit == limit_kib * 1024, (
            f"the scenario says the limit is {limit_kib} KiB; the platform's is {limit / 1024:g}"
        )
        client = self._clients(name)
        with business_step(f"{name} sends a message of {kib} KiB", client.seen):
            connection = self._clients.connect(client)
            padding = "x" * (kib * 1024)
            connection.channel.send_text(
                f'{{"type": "run.status", "id": "big", "request_id": "r1", "pad": "{padding}"}}'
            )
            self._clients.receive_until(client, connection, lambda _m: False, expect_close=True)

    # -- Then, acting first -----------------------------------------------------------------

    def still_works_on_same_connection(self, name: str) -> None:
        client = self._clients(name)
        title = f"{name} still gets a complete report over the same connection"
        with business_step(title, client.seen):
            assert client.current.closed is None, f"the connection closed: {client.current.closed}"
            self._clients.start(client, client.current)
            self._clients.receive_until(client, client.current, outcome_of(client))
        self.receives_complete_report(name)

    def receives_report_once_model_answers(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"once the model answers, {name}'s run completes", client.seen):
            self._release(name)
            self._clients.receive_until(client, client.current, outcome_of(client))
        self.receives_complete_report(name)

    def connects_again_and_gets_report(self, name: str) -> None:
        client = self._clients(name)
        with business_step(f"{name} connects again", client.seen):
            self._clients.connect(client)
        self.still_works_on_same_connection(name)

    # -- internals --------------------------------------------------------------------------

    def _program(self, name: str, steps: list[Answer | Outage], title: str) -> None:
        tenant_id = self._world.aliases.known_tenant(name)
        with business_step(title, lambda: steps):
            self._model.script(tenant_id, steps)
        if name not in self._scripts:
            self._world.add_cleanup(self._release, name)
        self._scripts[name] = steps

    def _gate(self, name: str) -> str:
        return f"{self._world.aliases.known_tenant(name)}-held"

    def _release(self, name: str) -> None:
        if self._system.model is not None and name in self._scripts:
            self._model.release(self._gate(name))


def _agent_index(agent: str) -> int:
    names = [a.name.value for a in PIPELINE]
    assert agent in names, f"no agent {agent!r}; the pipeline is {names}"
    return names.index(agent)
