"""The benchmarks stay runnable: each runs once, briefly, and prints its verdict line. (Their
figures are read by people, on a quiet machine; a test asserts no speed.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.behave_runner import REPO


@pytest.mark.parametrize(
    ("module", "arguments", "verdict"),
    [
        ("bench.takeover", ["--lease", "0.6", "--rounds", "1"], "ratio take-over/lease"),
        ("bench.consumer_throughput", ["--entries", "200", "--rounds", "1"],
         "ratio framework/plain"),
    ],
)
def test_a_benchmark_runs_to_its_verdict(module: str, arguments: list[str], verdict: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments], cwd=REPO, capture_output=True, text=True,
        timeout=180, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert verdict in completed.stdout


def test_a_benchmark_rejects_a_nonsense_argument() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.takeover", "--rounds", "0"], cwd=REPO,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert completed.returncode == 2
    assert "--rounds" in completed.stderr
