"""Then-steps about the dead-letter queue: what the customer was told, what the operator's list
shows, what redrives answered, and that nothing is left pending. Expected values come from the
feature's words; the times from the suite's own test clock."""

from __future__ import annotations

import re

from harness.drivers.agent_runs.contract import FailureReason
from harness.drivers.dead_letters.contract import (
    DeadLetter,
    MissingUsage,
    Reconciled,
    Redrive,
    SetAsideReason,
)
from harness.dsl.agent_runs.checks import failed_uncharged
from harness.dsl.agent_runs.clients import Clients
from harness.dsl.common.evidence import business_step, in_words
from harness.dsl.common.parameters import parse_count
from harness.dsl.common.world import World
from harness.dsl.dead_letters.actions import (
    SET_ASIDE_TIMEOUT,
    DeadLetterDsl,
    queue_named,
)
from harness.dsl.dead_letters.state import DeadLetterState
from harness.money import format_dollars
from harness.waiting import eventually

#: The errors the feature names, and what the platform's record of such an error must say.
_ERRORS = {
    "a character no record can store": "NUL",
    # ClickHouse's error for a row that breaks a constraint of its table
    "a record the usage analytics refuses": "VIOLATED_CONSTRAINT",
    # the platform's note for a delivery that ended without an error
    "its worker stopped during the attempt": "the consumer stopped during the delivery",
}
#: What the feature calls the message a tenant's dead letter holds.
_HELD = ("run", "usage record")


def listing_words(what: str) -> tuple[list[str], bool]:
    """The tenants whose runs a listing shows, and whether it shows theirs alone: "Acme's run
    and Globex's run", "Acme's run alone", "neither run"."""
    if what == "neither run":
        return [], False
    if found := re.fullmatch(r"(\w+)'s run alone", what):
        return [found.group(1)], True
    if found := re.fullmatch(r"(\w+)'s run and (\w+)'s run", what):
        return [found.group(1), found.group(2)], False
    raise AssertionError(
        f"unknown listing {what!r}; known: <tenant>'s run and <tenant>'s run, "
        "<tenant>'s run alone, neither run"
    )


def error_words(words: str) -> str:
    assert words in _ERRORS, f"no error is called {words!r}; known: {list(_ERRORS)}"
    return _ERRORS[words]


class DeadLetterChecks:
    def __init__(self, world: World) -> None:
        self._world = world
        self._state = world.state(DeadLetterState)
        self._clients = Clients(world)
        self._dsl = DeadLetterDsl(world)

    def told_set_aside(self, name: str, attempts: int) -> None:
        client = self._clients(name)
        title = f"{name} is told its run failed on each of its {attempts} attempts, uncharged"
        with business_step(title, client.seen):
            failed_uncharged(
                client, FailureReason.INTERNAL_ERROR, "on an internal error",
                (f"each of its {attempts} attempts", "not been charged", "does not count"),
            )

    def holds(self, name: str, what: str, rows: list[dict[str, str]]) -> None:
        assert what in _HELD, f"a dead letter holds a {what!r}? known: {_HELD}"
        (row,) = rows
        letter = self._dsl.letter_of(name, waiting=True)
        now = self._world.clock.now()
        with business_step(f"the dead-letter queue holds {name}'s {what}", lambda: letter):
            shown = {
                "queue": letter.queue, "reason": letter.reason, "attempts": letter.attempts,
            }
            wanted = {
                "queue": queue_named(row["queue"]), "reason": SetAsideReason(row["reason"]),
                "attempts": parse_count(row["attempts"]),
            }
            assert shown == wanted, f"{name}'s dead letter shows {shown}, expected {wanted}"
            for column, error in (("first error", letter.first_error),
                                  ("last error", letter.last_error)):
                assert error_words(row[column]) in error, (
                    f"{name}'s dead letter's {column} is {error!r}, not {row[column]}"
                )
            assert letter.entered_at == now, (
                f"{name}'s {what} was set aside at {letter.entered_at.isoformat()}; the platform's "
                f"clock says {now.isoformat()}"
            )

    def holds_run_again(self, name: str, attempts: int, earlier: int) -> None:
        def again() -> DeadLetter:
            letter = self._dsl.letter_of(name, waiting=True)
            assert letter.earlier == earlier, (
                f"{name}'s dead letter was set aside {letter.earlier} times before, "
                f"expected {earlier}"
            )
            return letter

        letter = eventually(again, timeout=SET_ASIDE_TIMEOUT, what=f"{name}'s run set aside again")
        with business_step(f"the dead-letter queue holds {name}'s run again", lambda: letter):
            assert letter.id == self._state.letters.get(name), (
                f"{name}'s run came back as dead letter {letter.id}, not its own "
                f"{self._state.letters.get(name)}"
            )
            assert letter.attempts == attempts, (
                f"{name}'s run was set aside again after {letter.attempts} attempts, "
                f"expected {attempts}"
            )

    def holds_nothing_of(self, name: str) -> None:
        tenant = self._world.aliases.known_tenant(name)
        self._settle()
        waiting = self._world.dead_letters.listed(tenant_id=tenant)
        with business_step(f"the dead-letter queue holds nothing of {name}'s", lambda: waiting):
            assert not waiting, f"{name} ({tenant}) has dead letters waiting: {in_words(waiting)}"

    def none_pending(self, queue: str) -> None:
        chosen = queue_named(queue)

        def none() -> None:
            pending = self._world.dead_letters.pending(chosen)
            assert pending == 0, f"{pending} messages are pending on the {queue} queue"

        with business_step(f"no message is left pending on the {queue} queue"):
            eventually(none, timeout=self._world.eventually_timeout,
                       what=f"the {queue} queue's pending messages acknowledged")

    def operator_sees(self, what: str) -> None:
        names, alone = listing_words(what)
        listed = self._state.listed
        assert listed is not None, "the operator listed nothing"
        self._state.examined_list = True
        ours = {self._world.aliases.known_tenant(n): n for n in self._world.aliases.names()}
        with business_step(f"the operator sees {what}", lambda: listed):
            seen = sorted(ours[d.tenant_id] for d in listed if d.tenant_id in ours)
            assert seen == sorted(names), (
                f"the operator's list ({self._state.listed_what}) shows runs of {seen} among "
                f"this scenario's tenants, expected {sorted(names)}"
            )
            if alone:
                others = [d for d in listed if d.tenant_id not in ours]
                assert not others, f"the list shows other tenants' dead letters: {others}"

    def redrives_answered(self, name: str) -> None:
        self._state.examined_redrives = True
        answers = self._state.redrives
        with business_step(
            f"the first redrive sends {name}'s run through, the second finds it sent",
            lambda: answers,
        ):
            sent = [[r.sent for r in answer] for answer in answers]
            assert sent == [[True], [False]], (
                f"the operator's two redrives of {name}'s dead letter answered {sent} "
                "(sent through or not), expected [[True], [False]]"
            )

    def letter_kept(self, name: str, kept: str) -> None:
        assert kept in ("still kept", "purged"), f"unknown outcome {kept!r}"
        entry = self._state.letters.get(name)
        tenant = self._world.aliases.known_tenant(name)
        listed = self._world.dead_letters.listed(tenant_id=tenant, waiting_only=False)
        with business_step(f"{name}'s dead letter is {kept}", lambda: listed):
            there = any(d.id == entry for d in listed)
            assert there is (kept == "still kept"), (
                f"{name}'s dead letter {entry} is {'there' if there else 'gone'}; expected "
                f"it {kept}"
            )

    def _settle(self) -> None:
        eventually(
            lambda: self._assert_settled(), timeout=SET_ASIDE_TIMEOUT,
            what="every queued run finishing",
        )

    def _assert_settled(self) -> None:
        assert self._world.agent_runs.runs_settled(), "runs are still queued or executing"

    # -- the reconciliation -------------------------------------------------------------------

    def reconciliation_names(self, name: str, charge: int) -> None:
        """The operator's reconciliation finds the charge missing from the analytics, and
        knows the dead letter holding its usage record."""
        tenant = self._world.aliases.known_tenant(name)
        letter = self._dsl.letter_of(name, waiting=True)
        found = self._world.dead_letters.reconcile(tenant)
        title = f"the reconciliation names {name}'s {format_dollars(charge)} charge as missing"
        with business_step(title, lambda: found):
            wanted = (MissingUsage(charge, letter.id),)
            assert not found.balanced and found.missing == wanted, (
                f"the reconciliation of {name} found missing {in_words(found.missing)}, "
                f"expected {in_words(wanted)} (the charge, held by dead letter {letter.id})"
            )
            assert (found.ledger_micros, found.analytics_micros) == (charge, 0), (
                f"the reconciliation of {name} shows the ledger at "
                f"{format_dollars(found.ledger_micros)} and the analytics at "
                f"{format_dollars(found.analytics_micros)}; expected {format_dollars(charge)} "
                "and $0"
            )

    def reconciliation_balanced(self, name: str, charge: int) -> None:
        tenant = self._world.aliases.known_tenant(name)

        def balanced() -> Reconciled:
            found = self._world.dead_letters.reconcile(tenant)
            assert found.balanced and not found.missing, (
                f"the reconciliation of {name} differs: missing {in_words(found.missing)}, "
                f"ledger {format_dollars(found.ledger_micros)}, analytics "
                f"{format_dollars(found.analytics_micros)}"
            )
            return found

        found = eventually(balanced, timeout=self._world.eventually_timeout,
                           what=f"the reconciliation of {name} balanced")
        title = f"the reconciliation finds {name}'s ledger and analytics both at " + (
            format_dollars(charge)
        )
        with business_step(title, lambda: found):
            assert (found.ledger_micros, found.analytics_micros) == (charge, charge), (
                f"the reconciliation of {name} balances at ledger "
                f"{format_dollars(found.ledger_micros)}, analytics "
                f"{format_dollars(found.analytics_micros)}; expected {format_dollars(charge)}"
            )

    def redrive_sent(self, name: str) -> None:
        self._state.examined_redrives = True
        answers = self._state.redrives
        entry = self._state.letters.get(name)
        title = f"the operator's redrive sent {name}'s dead letter through"
        with business_step(title, lambda: answers):
            assert entry is not None, f"nothing of {name}'s was set aside in this scenario"
            assert answers, "the operator redrove nothing"
            mine = [r for r in answers[-1] if r.id == entry]
            assert mine == [Redrive(entry, True)], (
                f"the redrive answered {in_words(mine)} for {name}'s dead letter {entry}, "
                "expected it sent through once"
            )
