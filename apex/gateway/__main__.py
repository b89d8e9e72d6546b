"""``python -m apex.gateway --port N``: a gateway process (WebSocket at ``/v1/runs``, health at
``/healthz`` on the same port).

Settings come from ``APEX_PLATFORM_*`` environment variables (``apex.settings``). SIGTERM or
SIGINT closes the listener and the open connections; runs in progress go on in the workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from apex.gateway.server import Gateway
from apex.runtime import configure_logging, parse_arguments, stop_on_signals
from apex.settings import PlatformSettings


async def _serve(host: str, port: int) -> None:
    settings = PlatformSettings.for_process()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(lambda: _call_soon(loop, stop.set))
    gateway = Gateway(settings)
    try:
        await gateway.serve(host, port, stop)
    finally:
        await gateway.close()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)


def main() -> None:
    args = parse_arguments("gateway")
    configure_logging(args.name)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
