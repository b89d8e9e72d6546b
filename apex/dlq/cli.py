"""The operators' commands: ``python -m apex.dlq list|redrive|reconcile|purge``.

Settings come from the environment like every platform process: ``APEX_PLATFORM_*`` (the
stores, the namespace, the clock; ``apex.settings``) and ``APEX_DLQ_*`` (deliveries, backoff,
retention, and ClickHouse for ``reconcile``; ``apex.dlq.queues``). Secrets are never printed.

Exit status: 0 done (``reconcile``: ledger and analytics agree); 1 ``reconcile`` found
differences; 2 bad arguments or settings, an unknown queue or entry (nothing was changed);
3 a store did not answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from apex import redis_clients
from apex.dlq.reconcile import Reconciliation, ReconciliationReport
from apex.dlq.records import DeadLetter, State
from apex.dlq.store import DeadLetters, Redriven, RedriveOutcome
from apex.errors import InvalidInput, ServiceUnavailable

DONE, DIFFERENCES, BAD_INPUT, STORE_DOWN = 0, 1, 2, 3
#: a progress line at least this often during a long redrive
_PROGRESS_EVERY = 50


@dataclass
class Tools:
    """What the commands work with; built from the environment, or handed in by a test."""

    dead_letters: DeadLetters
    retention: timedelta
    #: the reconciliation, built on first use (it needs ClickHouse, which only it uses)
    reconciliation: Callable[[], Reconciliation]
    #: strings never to print (store addresses, passwords)
    secrets: list[str] = field(default_factory=list)


def main(
    argv: Sequence[str] | None = None, *, tools: Tools | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)  # exits 2 with usage on bad arguments
    with ExitStack() as stack:
        try:
            if tools is None:
                tools = stack.enter_context(_tools_from_environment())
            return int(args.command(args, tools, out, err))
        except InvalidInput as exc:
            print(f"apex.dlq: {_redacted(str(exc), tools)}", file=err)
            return BAD_INPUT
        except (ServiceUnavailable, redis.RedisError, psycopg.Error) as exc:
            print(f"apex.dlq: a store did not answer: {_redacted(_first_line(exc), tools)}",
                  file=err)
            return STORE_DOWN
    raise AssertionError("unreachable")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apex.dlq",
        description="Operate the platform's dead-letter queues (settings: APEX_PLATFORM_*,"
        " APEX_DLQ_*).",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list dead letters waiting for an operator")
    listing.add_argument("--queue", help="one queue (run-jobs, usage); default: every queue")
    listing.add_argument("--tenant", help="one tenant; default: every tenant")
    listing.add_argument("--all-states", action="store_true",
                         help="include entries already redriven")
    listing.add_argument("--json", action="store_true", help="JSON, with payloads and history")
    listing.set_defaults(command=_list)

    redrive = commands.add_parser(
        "redrive", help="put dead letters back on their queue (each exactly once)"
    )
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every waiting dead letter")
    which.add_argument("entries", nargs="*", default=[], metavar="ENTRY_ID",
                       help="ids shown by list")
    redrive.add_argument("--queue", help="only this queue's dead letters")
    redrive.set_defaults(command=_redrive)

    reconcile = commands.add_parser(
        "reconcile", help="billed events missing from analytics, and totals on both sides"
    )
    reconcile.add_argument("--tenant", help="one tenant; default: every billed tenant")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(command=_reconcile)

    purge = commands.add_parser(
        "purge", help="delete dead letters older than the retention (APEX_DLQ_RETENTION_DAYS),"
        " counted from their entry into the dead-letter queue"
    )
    purge.set_defaults(command=_purge)
    return parser


def _list(args: argparse.Namespace, tools: Tools, out: TextIO, _err: TextIO) -> int:
    states = tuple(State) if args.all_states else (State.DEAD, State.REDRIVING)
    letters = tools.dead_letters.list(args.queue, args.tenant, states=states)
    if args.json:
        print(json.dumps([d.as_json() for d in letters], indent=2), file=out)
        return DONE
    for letter in letters:
        print(_line(letter), file=out)
    print(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}", file=out)
    return DONE


def _line(letter: DeadLetter) -> str:
    tenant = letter.tenant_id or "(unattributed)"
    back = f", {len(letter.history)} earlier" if letter.history else ""
    return (
        f"{letter.id}  {letter.queue}  tenant {tenant}  {letter.state.value}  "
        f"{letter.reason.value} after {letter.attempts} deliveries{back}  "
        f"entered {letter.entered_at.isoformat(timespec='seconds')}  "
        f"first error: {letter.first_error}  last error: {letter.last_error}"
    )


def _redrive(args: argparse.Namespace, tools: Tools, out: TextIO, err: TextIO) -> int:
    if not args.all and not args.entries:
        raise InvalidInput("name the entries to redrive (ids shown by list), or --all")

    def progress(done: int, total: int) -> None:
        if done == total or done % _PROGRESS_EVERY == 0:
            print(f"redriving: {done}/{total}", file=err, flush=True)

    if args.all:
        results = tools.dead_letters.redrive_all(args.queue, progress=progress)
    else:
        results = tools.dead_letters.redrive(*args.entries, queue=args.queue)
    for result in results:
        print(_redriven(result), file=out)
    redriven = sum(1 for r in results if r.outcome is RedriveOutcome.REDRIVEN)
    print(f"{redriven} redriven, {len(results) - redriven} already redriven", file=out)
    return DONE


def _redriven(result: Redriven) -> str:
    if result.outcome is RedriveOutcome.REDRIVEN:
        return f"{result.id}  redriven to {result.queue} as entry {result.stream_entry}"
    return f"{result.id}  already redriven to {result.queue} (entry {result.stream_entry})"


def _reconcile(args: argparse.Namespace, tools: Tools, out: TextIO, _err: TextIO) -> int:
    report = tools.reconciliation().report(args.tenant)
    if args.json:
        print(json.dumps(report.as_json(), indent=2), file=out)
    else:
        _print_report(report, out)
    return DONE if report.balanced else DIFFERENCES


def _print_report(report: ReconciliationReport, out: TextIO) -> None:
    for t in report.tenants:
        verdict = "balanced" if t.balanced else "DIFFERS"
        print(
            f"tenant {t.tenant_id}: {verdict}; ledger {t.ledger.events} events,"
            f" {t.ledger.units} units, {t.ledger.amount_micros} micro-dollars; analytics"
            f" {t.analytics.events} events, {t.analytics.units} units,"
            f" {t.analytics.amount_micros} micro-dollars",
            file=out,
        )
        for m in t.missing:
            where = f" (in the dead-letter queue as {m.dead_letter})" if m.dead_letter else ""
            print(
                f"  missing from analytics: {m.event.kind} {m.event.reference_id}"
                f" (event {m.event.event_id}, {m.event.period}, {m.event.units} units,"
                f" {m.event.amount_micros} micro-dollars){where}",
                file=out,
            )
        for unbilled in t.unbilled:
            print(f"  in analytics, not in the ledger: event {unbilled}", file=out)
    print(
        f"{len(report.tenants)} tenant{'' if len(report.tenants) == 1 else 's'};"
        f" {'ledger and analytics agree' if report.balanced else 'differences found'}",
        file=out,
    )


def _purge(_args: argparse.Namespace, tools: Tools, out: TextIO, _err: TextIO) -> int:
    purged = tools.dead_letters.purge_expired(tools.retention)
    print(f"{purged} dead letters older than {tools.retention.days} days purged", file=out)
    return DONE


@contextmanager
def _tools_from_environment() -> Iterator[Tools]:
    from apex.analytics import ClickHouseGateway
    from apex.settings import PlatformSettings

    platform = PlatformSettings.for_process()
    dlq = platform.dlq
    secrets = _secrets(
        platform.postgres_dsn.get_secret_value(), platform.redis_url.get_secret_value(),
        dlq.clickhouse_url.get_secret_value() if dlq.clickhouse_url else None,
    )
    timeout = platform.redis_timeout.total_seconds()
    client = redis_clients.connect(
        platform.redis_url.get_secret_value(), timeout=timeout, connect_timeout=timeout,
    )
    pool: ConnectionPool[Any] = ConnectionPool(
        platform.postgres_dsn.get_secret_value(), min_size=1, max_size=2,
        timeout=platform.postgres_wait_ms / 1000, open=True, kwargs={"autocommit": True},
        name="apex-dlq",
    )
    dead_letters = DeadLetters(pool, client, platform.build_clock(),
                               dlq.queues(platform.namespace))

    def reconciliation() -> Reconciliation:
        if dlq.clickhouse_url is None:
            raise InvalidInput(
                "reconcile reads analytics: set APEX_DLQ_CLICKHOUSE_URL"
                " (http://user:password@host:8123/db)"
            )
        import clickhouse_connect

        url = dlq.clickhouse_url.get_secret_value()
        gateway = ClickHouseGateway(lambda: clickhouse_connect.get_client(dsn=url))
        return Reconciliation(pool, gateway, dead_letters)

    try:
        yield Tools(dead_letters, dlq.retention, reconciliation, secrets)
    finally:
        pool.close()
        client.close()


def _secrets(*addresses: str | None) -> list[str]:
    """The addresses and the passwords inside them."""
    found: list[str] = []
    for address in addresses:
        if not address:
            continue
        found.append(address)
        try:
            password = (
                urlsplit(address).password if "://" in address
                else conninfo_to_dict(address).get("password")
            )
        except (ValueError, psycopg.ProgrammingError):
            password = None
        if password:
            found.append(str(password))
    return sorted(found, key=len, reverse=True)


def _redacted(text: str, tools: Tools | None) -> str:
    for secret in tools.secrets if tools else []:
        text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
