"""``python -m apex.orchestration --port N``: an orchestration worker process.

Settings come from ``APEX_PLATFORM_*`` environment variables (``apex.settings``); ``--port``
serves ``GET /healthz``: 200 while every loop of the worker is serving, the stores answer and
the store holds what the platform needs (``apex.recovery``), 503 otherwise; its body says how
many runs the worker is executing, and how many it gave up because another worker had taken
them over (it was paused or cut off longer than the job lease). Besides its job
loops, the worker runs an upkeep loop: it rebuilds the store after it lost its data, and relays
the usage outbox (``apex.outbox``). SIGTERM or SIGINT stops it after its in-flight runs.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from apex.errors import InvalidInput
from apex.llm.client import LlmClient
from apex.orchestration.supervisor import Supervisor
from apex.orchestration.worker import OrchestrationWorker
from apex.platform import Platform
from apex.recovery import Upkeep
from apex.runs import RunDispatch
from apex.runtime import configure_logging, health_endpoint, parse_arguments, stop_on_signals
from apex.settings import PlatformSettings


def main() -> None:
    args = parse_arguments("orchestration")
    configure_logging(args.name)
    settings = PlatformSettings.for_process()
    try:
        base_url, api_key = settings.llm_endpoint()
    except InvalidInput as exc:
        print(f"not started: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    stop = threading.Event()
    stop_on_signals(stop.set)
    platform = Platform(settings, settings.build_clock())
    llm = LlmClient(
        base_url, api_key, settings.model_names(), timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )
    jobs = platform.stream_client()
    upkeep = Upkeep(args.name, platform.recovery, platform.relay.relay_once)
    try:
        dispatch = RunDispatch(jobs, settings.namespace, claim_idle=settings.job_lease)
        worker = OrchestrationWorker(
            platform, dispatch, Supervisor(llm), name=args.name, threads=settings.worker_threads,
        )

        def health() -> tuple[bool, dict[str, Any]]:
            platform.redis.ping()
            loops = worker.health()
            activity = worker.activity()
            ready = platform.recovery.ready()
            return loops.serving and upkeep.health().serving and ready, {
                "role": "orchestration", "name": args.name, "loops": loops.loops,
                "alive": loops.alive, "failing": loops.failing, "restarts": loops.restarts,
                "store": "ready" if ready else "rebuilding",
                "executing": activity.executing, "given_up": activity.given_up,
            }

        upkeep.start()
        with health_endpoint(args.host, args.port, health):
            worker.run(stop)
    finally:
        upkeep.close()
        llm.close()
        jobs.close()
        platform.close()


if __name__ == "__main__":
    main()
