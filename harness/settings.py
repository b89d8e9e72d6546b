"""One typed settings object for a run. Each setting comes from, first found: the command line
(``-D key=value``), the environment (``APEX_<KEY>``), the project's behave configuration
(``[tool.behave.userdata]``), the default here. Bad values stop the run before anything
starts, and an unknown name is answered with the setting it resembles."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.errors import SettingsError


class ServiceMode(StrEnum):
    AUTO = "auto"
    DOCKER = "docker"
    EMBEDDED = "embedded"
    EXTERNAL = "external"


class Assembly(StrEnum):
    """How the drivers of every capability reach the platform (``harness/assembly``)."""

    #: the platform's code in the suite's own process, on the real stores (level L3)
    IN_PROCESS = "in_process"
    #: the platform as processes the harness starts, over HTTP and WebSocket (level L4)
    NETWORK = "network"

    @property
    def level(self) -> str:
        return "L4" if self is Assembly.NETWORK else "L3"


#: Settings that were replaced, and by what: using one stops the run with this advice.
REPLACED = {
    "agent_runs": "assembly (-D assembly=in_process|network, or APEX_ASSEMBLY), which now picks "
    "the drivers of every capability",
}


class SuiteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APEX_", extra="forbid", frozen=True)

    services: ServiceMode = Field(
        ServiceMode.AUTO, description="where Redis, PostgreSQL and ClickHouse come from"
    )
    docker_probe_timeout: float = Field(1.0, gt=0, le=30)
    #: external mode only: the three services' addresses (secrets: never printed).
    redis_url: SecretStr | None = None
    postgres_dsn: SecretStr | None = None
    clickhouse_url: SecretStr | None = None
    #: the password of the platform's role ``apex_app`` (a secret: never printed). A role keeps
    #: the password it was created with, so external mode must be told it; unset in embedded
    #: and docker modes, whose servers are new each run, a fresh one is generated.
    app_password: SecretStr | None = None
    allure_results: Path = Path("allure-results")
    reports_dir: Path = Path("reports")
    #: L4: an OpenAI-compatible endpoint for the agents (unset: the scripted LLM server), its key
    #: (a secret: never printed) and its model names for the small, medium and large sizes.
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_models: str = "apex-small,apex-medium,apex-large"
    #: unset: each feature runs in the assembly its level tag names (@L3 in-process, @L4 network)
    assembly: Assembly | None = Field(
        None, description="in_process or network for every feature; unset: from each feature's tag"
    )
    #: default deadline of ``eventually`` in Then-steps (seconds).
    eventually_timeout: float = Field(5.0, gt=0, le=120)
    #: a run that selects or executes no scenario is an error, unless this is set: a parallel
    #: runner sets ``APEX_ALLOW_EMPTY_RUN=1`` for its workers (a worker that got no feature is
    #: fine) and judges the run as a whole itself.
    allow_empty_run: bool = False

    @classmethod
    def load(
        cls, command_line: Mapping[str, str], configured: Mapping[str, str] | None = None
    ) -> SuiteSettings:
        """Settings from ``-D`` values (``command_line``) over ``APEX_*`` environment variables
        over ``configured`` (the behave configuration file's userdata) over the defaults. Keys
        with a dot belong to formatters and reporters: ignored."""
        ours = _suite_keys(configured or {})
        ours = {k: v for k, v in ours.items() if f"APEX_{k.upper()}" not in os.environ}
        ours.update(_suite_keys(command_line))
        for old, new in REPLACED.items():
            if old in ours or f"APEX_{old.upper()}" in os.environ:
                raise SettingsError(f"the setting {old} is gone: use {new}")
        unknown = [k for k in ours if k not in cls.model_fields]
        if unknown:
            raise SettingsError("; ".join(cls._unknown(name) for name in unknown))
        try:
            return cls(**cast(dict[str, Any], ours))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"bad suite settings ({problems})") from None

    @classmethod
    def _unknown(cls, name: str) -> str:
        close = difflib.get_close_matches(name, list(cls.model_fields), n=1)
        hint = f": did you mean {close[0]}?" if close else ""
        return f"unknown suite setting {name}{hint} (settings: {', '.join(cls.model_fields)})"

    def describe(self) -> str:
        """One line for the start of a run; secrets are shown as set/unset only."""
        parts = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) or value is None:
                value = "set" if value is not None else "unset"
            parts.append(f"{name}={value}")
        return "suite settings: " + ", ".join(parts)


def _suite_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if "." not in k}
