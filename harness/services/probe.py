"""Is there a Docker engine? Asked once, quickly: creating a testcontainers object already
needs one, so this is asked before any is created."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def docker_available(timeout: float = 1.0) -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=timeout)  # type: ignore[attr-defined]
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception as exc:  # any failure to reach an engine means "no Docker"
        log.debug("no Docker engine: %s", exc)
        return False
