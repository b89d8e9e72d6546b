"""The sweep at the start of an embedded run: what an earlier run killed outright left behind
(its PostgreSQL keeps running: ``pg_ctl`` daemonized it) is stopped and removed, and nothing
of a run that is still going, in this suite or another, is touched."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from harness.services.embedded import Owner, sweep_abandoned_roots
from tests.behave_runner import REPO

#: A run of the suite, reduced to what matters here: it starts the embedded services the way
#: the suite does, says where they answer, and holds them until its stdin closes.
_RUN = """
import json, sys
from harness.services.embedded import embedded_services
with embedded_services() as raw:
    print(json.dumps({"redis": raw.redis_url, "postgres": raw.postgres_admin_dsn}), flush=True)
    sys.stdin.readline()
"""


@dataclass
class EmbeddedRun:
    process: subprocess.Popen[str]
    root: Path
    redis_url: str
    postgres_dsn: str

    def servers(self) -> list[psutil.Process]:
        """Its redis-server, and its postmaster with the postmaster's children."""
        postmaster = self.postmaster()
        redis_server = [
            p for p in psutil.Process(self.process.pid).children() if "redis" in p.name()
        ]
        return [*redis_server, postmaster, *postmaster.children(recursive=True)]

    def postmaster(self) -> psutil.Process:
        return psutil.Process(int((self.root / "pg" / "postmaster.pid").read_text().split()[0]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.communicate("stop\n", timeout=60)


def start_run(tmp: Path) -> EmbeddedRun:
    """A run whose temporary directory (and so its sweep) is ``tmp``."""
    before = set(tmp.glob("apex-services-*"))
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN], cwd=REPO, env={**os.environ, "TMPDIR": str(tmp)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    announced = process.stdout.readline()
    assert announced, f"the run ended before its services answered (exit {process.wait()})"
    address = json.loads(announced)
    (root,) = set(tmp.glob("apex-services-*")) - before
    return EmbeddedRun(process, root, address["redis"], address["postgres"])


def running(process: psutil.Process) -> bool:
    # A server orphaned by its run is nobody's child here: once stopped it may stay a zombie.
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_any_still_running(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


def answers(run: EmbeddedRun) -> bool:
    with psycopg.connect(run.postgres_dsn, connect_timeout=5) as conn:
        postgres = conn.execute("SELECT 1").fetchone() == (1,)
    client = redis.Redis.from_url(run.redis_url, socket_connect_timeout=5)
    try:
        return postgres and bool(client.ping())
    finally:
        client.close()


@pytest.mark.slow
def test_the_postgres_of_a_run_killed_outright_is_stopped_and_removed_and_a_live_run_kept(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as cleanup:
        killed = start_run(tmp_path)
        cleanup.callback(killed.stop)
        killed_servers = killed.servers()
        # Whatever the sweep does, no server of this test outlives it.
        cleanup.callback(kill_any_still_running, killed_servers)
        live = start_run(tmp_path)
        cleanup.callback(live.stop)
        live_servers = live.servers()
        postmaster = killed.postmaster()
        killed.process.kill()
        killed.process.wait()
        assert running(postmaster), "the killed run's postmaster should have outlived it"

        assert sweep_abandoned_roots(tmp_path) == [killed.root]

        left = [p for p in killed_servers if running(p)]
        assert left == [], f"the killed run's servers still run: {left}"
        assert not killed.root.exists(), f"the killed run's directory is left: {killed.root}"
        stopped = [p for p in live_servers if not running(p)]
        assert stopped == [], f"the sweep stopped servers of a live run: {stopped}"
        assert live.root.exists() and answers(live)
    assert not live.root.exists()


def test_servers_left_behind_are_stopped_only_where_the_owner_is_gone(tmp_path: Path) -> None:
    """A left-over server is whatever works in a run's directory (a redis-server works in its
    --dir); a stand-in sleeps in each, in its own session as an orphaned server would be."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    this = Owner.this_process()
    owners: dict[str, Owner | None] = {
        "abandoned": Owner(dead.pid, this.started),
        "live": this,
        # the owner's pid now names another process (this one): the owner is gone all the same
        "pid-reused": Owner(this.pid, this.started - 3600),
        "no-owner-yet": None,
    }
    servers: dict[str, subprocess.Popen[bytes]] = {}
    for name, owner in owners.items():
        root = tmp_path / f"apex-services-{name}"
        (root / "redis").mkdir(parents=True)
        if owner is not None:
            owner.write(root / "owner.json")
        servers[name] = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], cwd=root / "redis",
            start_new_session=True,
        )
    try:
        removed = sweep_abandoned_roots(tmp_path)
        assert removed == [tmp_path / f"apex-services-{n}" for n in ("abandoned", "pid-reused")]
        assert [n for n, s in servers.items() if s.poll() is None] == ["live", "no-owner-yet"]
        kept = sorted(p.name for p in tmp_path.iterdir())
        assert kept == ["apex-services-live", "apex-services-no-owner-yet"]
    finally:
        for server in servers.values():
            server.kill()
            server.wait()
