"""``python -m apex.orchestration --port N``: an orchestration worker process.

Settings come from ``APEX_PLATFORM_*`` environment variables (``apex.runtime``); ``--port``
serves ``GET /healthz``. SIGTERM or SIGINT stops it after its in-flight runs.
"""

from __future__ import annotations

import threading

import redis

from apex.llm.client import LlmClient
from apex.orchestration.runs import RunStore
from apex.orchestration.supervisor import Supervisor
from apex.orchestration.worker import OrchestrationWorker
from apex.platform import Platform, PlatformConfig
from apex.runtime import (
    ProcessSettings,
    configure_logging,
    health_endpoint,
    parse_arguments,
    stop_on_signals,
)


def main() -> None:
    args = parse_arguments("orchestration")
    configure_logging(args.name)
    settings = ProcessSettings.for_process()
    stop = threading.Event()
    stop_on_signals(stop.set)
    config = PlatformConfig(
        redis_url=settings.redis_url.get_secret_value(),
        postgres_dsn=settings.postgres_dsn.get_secret_value(),
        lease=settings.lease,
    )
    platform = Platform(config, settings.build_clock())
    llm = LlmClient(
        settings.llm_base_url, settings.llm_api_key.get_secret_value(), settings.model_names(),
        timeout=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries,
    )
    jobs = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        worker = OrchestrationWorker(
            platform, RunStore(jobs, settings.namespace), Supervisor(llm),
            name=args.name, threads=settings.worker_threads,
        )

        def health() -> dict[str, object]:
            platform.redis.ping()
            return {"role": "orchestration", "name": args.name}

        with health_endpoint(args.host, args.port, health):
            worker.run(stop)
    finally:
        llm.close()
        jobs.close()
        platform.close()


if __name__ == "__main__":
    main()
