"""An embedded PostgreSQL is thrown away at the end of a run: it stops at once, without the
shutdown checkpoint that made an interrupted run's cleanup take seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import psycopg

from harness.services.embedded import stop_postgres_at_once


def test_the_embedded_postgres_stops_at_once_without_a_shutdown_checkpoint(
    tmp_path: Path,
) -> None:
    from pgserver.postgres_server import get_server

    server = get_server(tmp_path / "pg", cleanup_mode=None)
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as connection:
            connection.execute("CREATE TABLE t AS SELECT generate_series(1, 10000) AS n")
        postmaster = server._postmaster_info.process
        stop_postgres_at_once(server)
        assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
        log = server.log.read_text()
        assert "immediate shutdown request" in log, log[-2000:]
        assert "checkpoint starting: shutdown" not in log, log[-2000:]
    finally:
        server.cleanup()
        shutil.rmtree(tmp_path / "pg", ignore_errors=True)
