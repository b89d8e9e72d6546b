"""How far inside its SLA the tier check runs: one admission decision against one plain Redis
round trip (SET) measured in the same process, on the same embedded Redis.

    python -m bench.tier_check [--decisions 5000]

Prints p50/p99 of both and their ratio. The SLA (< 100 ms p95) and the platform target
(p99 <= 2 ms, one round trip) are in DESIGN.md; the ratio says how many plain round trips one
decision costs, which stays meaningful on a slow or busy machine.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from apex.clock import FrozenClock
from apex.enforcement import TierEnforcer
from harness.services import start_services
from harness.settings import SuiteSettings


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5000)
    count = parser.parse_args().decisions
    with start_services(SuiteSettings.load({"services": "embedded"})) as services:
        client = redis.Redis.from_url(services.redis_url)
        enforcer = TierEnforcer(client, FrozenClock(datetime(2026, 11, 3, tzinfo=UTC)))
        enforcer.publish_catalog()
        enforcer.set_tier("bench-tenant", "enterprise")
        timed(lambda: client.set("bench:warmup", "1"), 500)  # connections, script cache
        baseline = timed(lambda: client.set("bench:baseline", "1"), count)
        admitted: list[str] = []
        decisions = timed(
            lambda: admitted.append(
                enforcer.admit("bench-tenant", secrets.token_hex(8)).request_id
            ),
            count,
        )
        for run_id in admitted:
            enforcer.release("bench-tenant", run_id)
        client.close()
    base50, base99 = percentiles(baseline)
    dec50, dec99 = percentiles(decisions)
    print(f"plain Redis round trip  p50 {base50:.3f} ms  p99 {base99:.3f} ms")
    print(f"admission decision      p50 {dec50:.3f} ms  p99 {dec99:.3f} ms")
    print(f"ratio decision/baseline p50 {dec50 / base50:.2f}x  p99 {dec99 / base99:.2f}x")


if __name__ == "__main__":
    main()
