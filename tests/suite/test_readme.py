"""The README's opening says what stands today, and its service modes say which versions run:
both checked against the repository and the services themselves, so they stay true as
capabilities land and pins move."""

from __future__ import annotations

import re

import psycopg
import pytest
import redis

from harness.reporting.tags import check_feature_files
from harness.services import docker as docker_mode
from harness.services.embedded import embedded_services
from tests.behave_runner import REPO

README = (REPO / "README.md").read_text()
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
           8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen",
           14: "fourteen", 15: "fifteen"}


def opening() -> str:
    return README[:README.index("## Quick start")]


def test_the_opening_lists_exactly_the_capabilities_that_have_a_feature_with_their_mrr() -> None:
    features = check_feature_files([REPO / "features"])
    names = {}
    for path, tags in features.items():
        title = re.search(r"^Feature: (.+)$", path.read_text(), re.MULTILINE)
        assert title, path
        names[title.group(1).strip()] = tags
    today = opening()[:opening().index("**What is coming")]
    rows = re.findall(r"^\| (\d) \| ([^|]+?) \| (L\d) \| \$([\d,]+) \|$", today, re.MULTILINE)
    assert {name: (int(phase), level, int(mrr.replace(",", ""))) for phase, name, level, mrr
            in rows} == {
        name: (tags.phase.number, tags.level, tags.mrr) for name, tags in names.items()
    }
    total = sum(tags.mrr for tags in names.values())
    phases = sorted({tags.phase.number for tags in names.values()})
    assert (
        f"**What stands today: phase {', '.join(map(str, phases))}, "
        f"{NUMBERS[len(names)]} capabilities, ${total:,} of MRR.**"
    ) in today


def test_the_opening_promises_nothing_as_standing_that_is_only_coming() -> None:
    text = opening()
    coming = text[text.index("**What is coming"):]
    rows = re.findall(r"^\| (\d) \| ([^|]+?) \| \$([\d,]+) \|$", coming, re.MULTILINE)
    total = sum(int(mrr.replace(",", "")) for _, _, mrr in rows)
    assert f"**What is coming: {NUMBERS[len(rows)]} more capabilities, ${total:,} of MRR**" in text
    assert "$1.742M" not in text and "fifteen capabilities" not in text


def test_the_service_modes_state_the_docker_pins() -> None:
    for image, name in ((docker_mode.REDIS_IMAGE, "Redis"),
                        (docker_mode.POSTGRES_IMAGE, "PostgreSQL"),
                        (docker_mode.CLICKHOUSE_IMAGE, "ClickHouse")):
        version = image.rpartition(":")[2].removesuffix("-alpine")
        shown = ".".join(version.split(".")[:3])
        assert f"{name} {shown}" in README, f"{name} {shown} ({image}) not in the README"


@pytest.mark.slow
def test_the_service_modes_state_the_versions_the_embedded_servers_report() -> None:
    with embedded_services() as raw:
        client = redis.Redis.from_url(raw.redis_url)
        try:
            redis_version = str(client.info("server")["redis_version"])
        finally:
            client.close()
        with psycopg.connect(raw.postgres_admin_dsn) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            postgres_version = str(row[0]).split()[0] if row else "unknown"
        clickhouse = raw.clickhouse()
        try:
            clickhouse_version = str(clickhouse.server_version)
        finally:
            clickhouse.close()
    shown = {
        "Redis": ".".join(redis_version.split(".")[:2]),
        "PostgreSQL": postgres_version,
        "ClickHouse": ".".join(clickhouse_version.split(".")[:2]),
    }
    for name, version in shown.items():
        assert f"{name} {version} " in README, f"{name} {version} not stated in the README"
    assert (
        f"(Redis {redis_version}, PostgreSQL {postgres_version}, ClickHouse {clickhouse_version})"
    ) in README
