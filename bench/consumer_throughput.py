"""What the stream framework costs per delivery: attempts per second of ``apex.streams``'
ConsumerGroup (stale-claim check, read, ack) against plain ``XREADGROUP`` + ``XACK`` on the same
embedded Redis, measured in the same process, one entry per read as the orchestration worker
reads them.

    python -m bench.consumer_throughput [--entries 3000] [--rounds 3]

Prints each side's attempts per second and their ratio (framework over plain). The framework
does one more round trip per read (XPENDING, to take over entries whose consumer died), so a
ratio near 0.5 is what that design costs; the ratio, not the absolute figures, is comparable
across machines.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis

from apex.streams import ConsumerGroup
from harness.services import start_services
from harness.settings import SuiteSettings

_GROUP = "bench"


def fill(client: redis.Redis, stream: str, entries: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for n in range(entries):
            pipe.xadd(stream, {"n": n})
        pipe.execute()
    client.xgroup_create(stream, _GROUP, id="0")


def plain(client: redis.Redis, stream: str) -> Callable[[], int]:
    def attempt() -> int:
        found: Any = client.xreadgroup(_GROUP, "plain", {stream: ">"}, count=1)
        if not found:
            return 0
        entry_id = found[0][1][0][0]
        client.xack(stream, _GROUP, entry_id)
        return 1

    return attempt


def framework(client: redis.Redis, stream: str) -> Callable[[], int]:
    group = ConsumerGroup(client, stream, _GROUP, "framework", claim_idle=timedelta(seconds=30))

    def attempt() -> int:
        deliveries = group.read(1)
        for delivery in deliveries:
            group.ack(delivery.entry_id)
        return len(deliveries)

    return attempt


def rate(client: redis.Redis, entries: int, make: Callable[[redis.Redis, str], Callable[[], int]]
         ) -> float:
    """Deliveries per second draining ``entries`` entries, one read and one ack each."""
    stream = f"bench:{secrets.token_hex(4)}"
    fill(client, stream, entries)
    attempt = make(client, stream)
    done = 0
    started = time.perf_counter()
    while done < entries:
        got = attempt()
        if not got:
            raise SystemExit(f"the stream ran dry after {done} of {entries} entries")
        done += got
    elapsed = time.perf_counter() - started
    client.delete(stream)
    return entries / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.entries < 1 or args.rounds < 1:
        parser.error("--entries and --rounds must be at least 1")
    with start_services(SuiteSettings.load({"services": "embedded"})) as services:
        client = redis.Redis.from_url(services.redis_url)
        try:
            # alternate the two so that a machine's slow spell hits both alike
            plain_rates, framework_rates = [], []
            for round_ in range(1, args.rounds + 1):
                plain_rates.append(rate(client, args.entries, plain))
                framework_rates.append(rate(client, args.entries, framework))
                print(f"round {round_}: plain {plain_rates[-1]:,.0f}/s,"
                      f" framework {framework_rates[-1]:,.0f}/s", flush=True)
        finally:
            client.close()
    base, ours = statistics.median(plain_rates), statistics.median(framework_rates)
    print(f"plain XREADGROUP+XACK: {base:,.0f} deliveries/s (median of {args.rounds})")
    print(f"ConsumerGroup:         {ours:,.0f} deliveries/s")
    print(f"ratio framework/plain: {ours / base:.2f}")


if __name__ == "__main__":
    main()
