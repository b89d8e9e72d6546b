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


#: The host port of each service: a variable, defaulting to the service's own port.
PORTS = {"REDIS_HOST_PORT": "6379", "POSTGRES_HOST_PORT": "5432", "CLICKHOUSE_HOST_PORT": "8123"}
README = (REPO / "README.md").read_text()


def published_ports(compose: str) -> list[tuple[str, str, str]]:
    """(variable, default, container port) of every published port."""
    found = re.findall(r"^\s+ports:\s*\[(.*)\]", compose, re.MULTILINE)
    ports = [p.strip().strip('"') for line in found for p in line.split(",")]
    parsed = [re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", p) for p in ports]
    assert all(parsed), f"a port is not 127.0.0.1:${{VARIABLE:-default}}:port: {ports}"
    return [m.groups() for m in parsed if m]


def test_every_host_port_is_a_variable_defaulting_to_the_service_port() -> None:
    assert {var: (default, inner) for var, default, inner in published_ports(COMPOSE)} == {
        var: (port, port) for var, port in PORTS.items()
    }


def recipe(text: str) -> str:
    """The README's external recipe: the sh block after its heading."""
    start = text.index("**The `external` recipe")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block, "the README's external recipe has no sh block"
    return block.group(1)


def test_the_readme_recipe_starts_the_stack_and_sets_everything_external_mode_needs() -> None:
    commands = recipe(README)
    assert "docker compose -f docker/docker-compose.yml up -d --wait" in commands
    assert "docker compose -f docker/docker-compose.yml down" in commands
    needed = set(re.findall(r'"(APEX_[A-Z_]+)"', (REPO / "harness" / "services" /
                                                   "external.py").read_text()))
    assert needed == {"APEX_REDIS_URL", "APEX_POSTGRES_DSN", "APEX_CLICKHOUSE_URL"}
    exported = set(re.findall(r"^export (APEX_\w+)=", commands, re.MULTILINE))
    assert exported >= needed | {"APEX_SERVICES", "APEX_APP_PASSWORD"}
    assert "export APEX_SERVICES=external" in commands


def test_the_recipe_urls_reach_the_published_ports_with_the_compose_credentials() -> None:
    env = {
        "POSTGRES_USER": re.search(r"POSTGRES_USER: (\w+)", COMPOSE),
        "POSTGRES_PASSWORD": re.search(r"POSTGRES_PASSWORD: (\w+)", COMPOSE),
        "POSTGRES_DB": re.search(r"POSTGRES_DB: (\w+)", COMPOSE),
        "CLICKHOUSE_USER": re.search(r"CLICKHOUSE_USER: (\w+)", COMPOSE),
        "CLICKHOUSE_PASSWORD": re.search(r"CLICKHOUSE_PASSWORD: (\w+)", COMPOSE),
    }
    creds = {k: m.group(1) for k, m in env.items() if m}
    for text in (recipe(README), COMPOSE):  # the README and the compose file's own header
        assert "redis://127.0.0.1:${REDIS_HOST_PORT:-6379}/0" in text
        assert (
            f"postgresql://{creds['POSTGRES_USER']}:{creds['POSTGRES_PASSWORD']}@127.0.0.1:"
            f"${{POSTGRES_HOST_PORT:-5432}}/{creds['POSTGRES_DB']}"
        ) in text
        assert (
            f"http://{creds['CLICKHOUSE_USER']}:{creds['CLICKHOUSE_PASSWORD']}@127.0.0.1:"
            "${CLICKHOUSE_HOST_PORT:-8123}/default"
        ) in text
    for variable in PORTS:
        assert re.search(rf"\b{variable}=\d+", recipe(README)), f"{variable} not shown in use"
