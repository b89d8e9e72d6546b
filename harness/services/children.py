"""What every server process the harness starts needs: a free loopback port, and the promise
that it dies with the suite."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A loopback port nobody listens on at this moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """``preexec_fn`` of a child: SIGTERM if the suite dies without stopping it (kill -9
    included). The signal follows the thread that started the child, so start children from
    the main thread."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
