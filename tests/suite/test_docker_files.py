"""The Docker path, as far as it can be checked without an engine: the compose file and the
testcontainers module agree on images, and compose points at the shared schema files."""

from __future__ import annotations

import re

from harness.services import docker as docker_mode
from tests.behave_runner import REPO

COMPOSE = (REPO / "docker" / "docker-compose.yml").read_text()


def test_compose_and_testcontainers_pin_the_same_images() -> None:
    images = set(re.findall(r"^\s+image:\s*(\S+)", COMPOSE, re.MULTILINE))
    assert images == {
        docker_mode.REDIS_IMAGE, docker_mode.POSTGRES_IMAGE, docker_mode.CLICKHOUSE_IMAGE
    }
    for image in images:
        assert ":" in image and not image.endswith(":latest"), f"{image} is not pinned"


def test_compose_mounts_the_schema_files_the_embedded_mode_applies() -> None:
    assert "../apex/schema:" in COMPOSE
    assert (REPO / "apex" / "schema" / "postgres").is_dir()


def test_the_docker_module_uses_the_community_imports() -> None:
    source = (REPO / "harness" / "services" / "docker.py").read_text()
    assert "testcontainers.community.redis" in source
    assert "from testcontainers.redis" not in source
