"""Break the platform on purpose and check the tier feature goes red where it should.

A scenario that stays green when the behaviour it guards is broken protects no revenue. Each
mutant (tests/mutants.py) is applied inside a behave subprocess; the failing scenarios must be
exactly the expected ones.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.behave_runner import REPO

FEATURE = "features/phase1/subscription_tier_enforcement.feature"

EXPECTED_RED = {
    "quota_off_by_one": {
        "The last request of the quota is admitted and the next one is refused with an upgrade"
        " offer -- @1.1 Every capped tier",
        "The last request of the quota is admitted and the next one is refused with an upgrade"
        " offer -- @1.2 Every capped tier",
        "The last request of the quota is admitted and the next one is refused with an upgrade"
        " offer -- @1.3 Every capped tier",
        "A refused request uses no quota and is not billed",
        "A used-up quota at the turn of the billing period -- @1.1 Either side of the period's end",
        "100 simultaneous requests compete for the last 10 requests of the quota",
    },
    "check_then_increment": {
        "100 simultaneous requests compete for the last 10 requests of the quota",
        "A retried request is admitted and billed once",
    },
    "bill_refused_requests": {"A refused request uses no quota and is not billed"},
}


#: Races a mutant may or may not win in one run: red is allowed there, not required.
MAY_ALSO_GO_RED = {
    "check_then_increment": {
        *(f"Simultaneous runs beyond the tier's cap are refused -- @1.{row} Every tier"
          for row in range(1, 5)),
        # the mutant does not turn a lost connection into a retryable refusal
        "Requests are refused with a reason to retry, and nothing is billed",
    },
}


def red_scenarios(output: str) -> set[str]:
    """Names listed under behave's "Failing scenarios:" and "Errored scenarios:"."""
    names = set()
    for heading in ("Failing scenarios:", "Errored scenarios:"):
        if heading not in output:
            continue
        for line in output.split(heading, 1)[1].splitlines()[1:]:
            match = re.match(r"\s+\S+\.feature:\d+\s+(.*)$", line)
            if not match:
                break
            names.add(match.group(1).strip())
    return names


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(EXPECTED_RED))
def test_a_broken_enforcer_turns_the_guarding_scenarios_red(mutant: str, tmp_path: Path) -> None:
    # Outside the repo (its config would write allure-results/), with the repo's steps and hooks.
    for name in ("features", "steps", "environment.py"):
        (tmp_path / name).symlink_to(REPO / name)
    completed = subprocess.run(
        [sys.executable, "-m", "tests.mutants", mutant, FEATURE, "-f", "plain", "--no-junit",
         "-D", "services=embedded", "-D", f"reports_dir={tmp_path / 'reports'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, f"{mutant} went unnoticed:\n{output[-3000:]}"
    red = red_scenarios(output)
    required = EXPECTED_RED[mutant]
    assert required <= red, f"still green under {mutant}: {sorted(required - red)}"
    unexpected = red - required - MAY_ALSO_GO_RED.get(mutant, set())
    assert not unexpected, f"{mutant} also broke unrelated scenarios: {sorted(unexpected)}"
