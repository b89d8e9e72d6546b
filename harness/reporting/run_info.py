"""Environment and executor information for the Allure report (allure-behave writes none)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from harness.reporting.redaction import REDACTOR


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
            timeout=5, check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_properties(mode: str, versions: dict[str, str]) -> dict[str, str]:
    props = {
        "service.mode": mode,
        **{f"service.{name.lower()}": version for name, version in versions.items()},
        "python": platform.python_version(),
        "behave": metadata.version("behave"),
        "allure-behave": metadata.version("allure-behave"),
        "git.commit": git_commit(),
        "os": f"{platform.system()} {platform.release()}",
    }
    return {k: REDACTOR.redact(v) for k, v in props.items()}


def write_environment(results: Path, props: dict[str, str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={_escape(value)}\n" for key, value in props.items())
    (results / "environment.properties").write_text(text, encoding="utf-8")


def write_executor(results: Path) -> None:
    ci = os.environ.get("CI") == "true"
    executor = {
        "name": "CI" if ci else "local run",
        "type": "ci" if ci else "local",
        "buildName": f"Apex revenue acceptance @ {git_commit()}",
        "reportName": "Apex revenue acceptance",
    }
    (results / "executor.json").write_text(json.dumps(executor, indent=2), encoding="utf-8")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")
