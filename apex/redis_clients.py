"""Redis clients as every platform process makes them.

A pooled connection outlives the server it was opened to: after the store restarts (or closes
an idle connection), the next command sent on it meets "Connection closed by server". Clients
built with ``Redis.from_url`` alone do not try again (redis-py gives pooled connections no
retries unless told), so a gateway that had served runs before a store restart refused the
next run it queued on an old connection. Every client here tries a command again on a fresh
connection, a few times, briefly, when the connection drops; a store that does not answer
(a timeout) still fails at once, within the caller's timeout.

A command retried after its connection dropped may have been executed once already (the reply
was lost, not the command). Admissions and refunds are keyed by request and leases by run, so
repeating them changes nothing; a job queued twice is billed once and its events are stored
once (effect keys), though a copy delivered while the first still runs is executed as a
take-over and may ask the model again for the step in progress.
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

#: how many times a command is tried again after its connection dropped, and the waits between
#: (doubling from the base, capped): enough for a restarted store to accept connections again
RECONNECTS = 3
_BACKOFF_BASE_SECONDS = 0.025
_BACKOFF_CAP_SECONDS = 0.25


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=_BACKOFF_CAP_SECONDS, base=_BACKOFF_BASE_SECONDS)


def connect(
    url: str, *, timeout: float | None = None, connect_timeout: float | None = None
) -> redis.Redis:
    """A client of the Redis at ``url``: ``timeout`` bounds each reply (None: no bound)."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout,
        retry=Retry(_backoff(), RECONNECTS, supported_errors=(redis.ConnectionError,)),
    )


def connect_async(
    url: str, *, timeout: float | None = None, connect_timeout: float | None = None
) -> redis.asyncio.Redis:
    """The asyncio client of the Redis at ``url``, retrying as :func:`connect` does."""
    return redis.asyncio.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout,
        retry=AsyncRetry(_backoff(), RECONNECTS, supported_errors=(redis.ConnectionError,)),
    )
