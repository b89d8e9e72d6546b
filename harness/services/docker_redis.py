"""The run's Redis container as a fault scenario breaks it (``@store_faults``): Docker mode's
:class:`~harness.services.RedisControl`, each fault a Docker operation on the one container.

=====================  =====================================================================
fault                  Docker operations
=====================  =====================================================================
restarted, data kept   ``SHUTDOWN SAVE``: redis-server is the container's main process, so
                       the container exits with it, its dump saved in its data directory (a
                       volume of the container, kept while the container is); ``start``
restarted empty        ``SHUTDOWN NOSAVE``; once the container has exited, the dump in its
                       data directory is replaced (``put_archive``) by one holding only the
                       seed keys (no seed: an empty one); ``start``
paused, resumed        ``pause``, ``unpause`` (the cgroup freezer: the kernel still accepts
                       connections, nothing answers them)
ensure_running         ``unpause`` if paused, ``start`` if not running
=====================  =====================================================================

The container's host port was fixed before its first start (``docker.py``), and Docker binds
the same one at every start, so the address the platform's processes were given stays true.
Every start returns once the server answers PING there, or raises :class:`ServiceStartError`
saying why, with the container's last log lines.

Why the dump is replaced after the exit, not deleted before it: nothing writes the data
directory of an exited container, so the server loads exactly the dump put there, seed keys
included, before it serves any client; a file deleted while the server runs can be written
again by a save before the server stops.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import redis
from docker.errors import DockerException
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.errors import NotSatisfied, ServiceStartError
from harness.services.redis_server import write_dump
from harness.waiting import eventually

#: how long the container gets to exit after SHUTDOWN, and to answer after a start
STOP_TIMEOUT = 10.0
START_TIMEOUT = 30.0
_POLL = 0.05
_HINT = "Check `docker ps -a` and the container's log, or use -D services=embedded."


class Container(Protocol):
    """What the control uses of a Docker SDK container (``docker.models.containers``)."""

    @property
    def status(self) -> str: ...

    def reload(self) -> None: ...

    def start(self) -> None: ...

    def pause(self) -> None: ...

    def unpause(self) -> None: ...

    def put_archive(self, path: str, data: bytes) -> bool: ...

    def logs(self, *, tail: int) -> bytes: ...


class ContainerRedis:
    """The Redis server in ``container``, reached by the run at ``url``; ``address`` says
    where Docker places the server now (asked only to explain a server that does not answer)."""

    def __init__(
        self, container: Container, url: str, address: Callable[[], str], *,
        stop_timeout: float = STOP_TIMEOUT, start_timeout: float = START_TIMEOUT,
    ) -> None:
        self._container = container
        self.url = url
        self._address = address
        self._stop_timeout = stop_timeout
        self._start_timeout = start_timeout
        # No retries: SHUTDOWN drops the connection on purpose, and a PING that fails is
        # tried again by the poll, within its deadline.
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )
        # A frozen store is thawed by a timer thread while a cleanup may be starting it.
        self._lock = threading.RLock()
        self._data_dir, self._dump_file = self._dump_location()

    def _dump_location(self) -> tuple[str, str]:
        """Where the server keeps its dump, asked of the server. One that also wrote an
        append-only file would load that at its start and ignore the dump, so it is refused
        (the container is started with ``--appendonly no``, as the image's default is)."""
        config = {name: self._config(name) for name in ("dir", "dbfilename", "appendonly")}
        if config["appendonly"] != "no":
            raise ServiceStartError(
                "Redis", f"its container has appendonly {config['appendonly']}: a restart"
                " would load the append-only file instead of the dump", "Start it with"
                " --appendonly no.",
            )
        return config["dir"], config["dbfilename"]

    def _config(self, name: str) -> str:
        # redis-py decodes CONFIG GET's names and values, whatever the client's decoding
        return str(self._client.config_get(name).get(name) or "")

    def restart(
        self, *, keep_data: bool, seed: Mapping[str, tuple[str, int]] | None = None
    ) -> None:
        """Stop the server (saving its data first, or not) and start the container again;
        returns once it answers. Emptied, it starts holding only the ``seed`` keys (name ->
        value, expiry in milliseconds)."""
        with self._lock:
            self._thaw()
            self._shutdown(save=keep_data)
            self._await_exit()
            if not keep_data:
                self._replace_dump(seed or {})
            self._start()
            self._await_answer()

    def pause(self) -> None:
        with self._lock:
            self._container.pause()

    def resume(self) -> None:
        with self._lock:
            self._thaw()

    def ensure_running(self) -> None:
        """Unpaused if paused, started if it is not running (a fault's cleanup); returns once
        it answers."""
        with self._lock:
            status = self._status()
            if status == "paused":
                self._container.unpause()
            elif status != "running":
                self._start()
            self._await_answer()

    def close(self) -> None:
        self._client.close()

    def _thaw(self) -> None:
        if self._status() == "paused":
            self._container.unpause()

    def _shutdown(self, *, save: bool) -> None:
        try:
            # redis-py returns when the server drops the connection, as it does on SHUTDOWN
            self._client.shutdown(save=save, nosave=not save)
        except redis.RedisError as exc:
            raise ServiceStartError(
                "Redis", f"SHUTDOWN {'SAVE' if save else 'NOSAVE'} failed ({exc}), so it was"
                " not restarted", f"Its log: {self._log_tail()}",
            ) from None

    def _await_exit(self) -> None:
        def exited() -> None:
            status = self._status()
            assert status == "exited", f"the container is {status}"

        try:
            eventually(
                exited, timeout=self._stop_timeout, interval=_POLL,
                what="the Redis container exiting after SHUTDOWN",
            )
        except NotSatisfied as exc:
            raise ServiceStartError("Redis", str(exc), _HINT) from None

    def _replace_dump(self, seed: Mapping[str, tuple[str, int]]) -> None:
        with tempfile.TemporaryDirectory(prefix="apex-redis-seed-") as directory:
            dump = write_dump(Path(directory), seed).read_bytes()
        archive = _archive(self._dump_file, dump)
        try:
            placed = self._container.put_archive(self._data_dir, archive)
        except DockerException as exc:
            raise ServiceStartError(
                "Redis", f"the emptied dump could not be put in {self._data_dir} ({exc})", _HINT
            ) from None
        if not placed:
            raise ServiceStartError(
                "Redis", f"Docker did not put the emptied dump in {self._data_dir}", _HINT
            )

    def _start(self) -> None:
        try:
            self._container.start()
        except DockerException as exc:
            raise ServiceStartError(
                "Redis", f"its container did not start again ({exc})",
                f"Its host port is fixed for the run: is another process using it? {_HINT}",
            ) from None

    def _await_answer(self) -> None:
        def answers() -> None:
            status = self._status()
            if status in ("exited", "dead"):
                raise ServiceStartError(
                    "Redis", f"its container {status} as it started",
                    f"Its log: {self._log_tail()}",
                )
            try:
                self._client.ping()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise AssertionError(f"the container is {status}; {exc}") from None

        try:
            eventually(
                answers, timeout=self._start_timeout, interval=_POLL,
                what=f"the Redis container answering PING at {self.url}",
            )
        except NotSatisfied as exc:
            raise ServiceStartError("Redis", str(exc), self._diagnosis()) from None

    def _diagnosis(self) -> str:
        """Why a running container may not answer at the run's address: Docker placed it
        elsewhere (a container reached by its own network address gets a new one at each
        start), else what its log says."""
        try:
            now = self._address() if self._status() == "running" else self.url
        except Exception:  # only an explanation: the failure is reported either way
            now = self.url
        moved = (
            f"Docker gives its address as {now} now, not the run's, which the platform's"
            " processes hold: set TESTCONTAINERS_CONNECTION_MODE=docker_host, or use"
            " -D services=embedded. " if now != self.url else ""
        )
        return f"{moved}Its log: {self._log_tail()}"

    def _status(self) -> str:
        self._container.reload()
        return self._container.status

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self._container.logs(tail=lines).decode(errors="replace")
        except DockerException:
            return "(no log)"
        return " | ".join(text.splitlines()) or "(empty)"


def _archive(name: str, content: bytes) -> bytes:
    """A tar archive of one file, as Docker's archive endpoint takes it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo(name)
        member.size = len(content)
        # Readable by the server's user whoever owns it (the image's entrypoint gives the data
        # directory's files to that user at each start anyway).
        member.mode = 0o644
        member.mtime = int(time.time())
        tar.addfile(member, io.BytesIO(content))
    return buffer.getvalue()
