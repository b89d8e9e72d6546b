"""Runs behave in a subprocess for the self-tests and reads back what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FORMATTER = "harness.reporting.allure_formatter:ApexAllureFormatter"


@dataclass
class BehaveRun:
    returncode: int
    output: str
    results: list[dict[str, Any]]
    results_dir: Path

    def by_name(self) -> dict[str, dict[str, Any]]:
        named: dict[str, dict[str, Any]] = {}
        for result in self.results:
            assert result["name"] not in named, f"{result['name']!r} reported twice"
            named[result["name"]] = result
        return named


def read_results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*-result.json"))]


def run_behave(
    args: list[str], *, cwd: Path, results_dir: Path, timeout: float = 300
) -> BehaveRun:
    """Run ``python -m behave`` with the project's interpreter; never raises on a red run."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "behave", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout,
    )
    output = completed.stdout + completed.stderr
    return BehaveRun(completed.returncode, output, read_results(results_dir), results_dir)
