"""Every capability's scenario state says what a scenario left unexamined, and such a scenario
fails, whichever capability it is about."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.drivers.agent_runs.contract import Heard, HeardKind, Malformation
from harness.dsl.agent_runs.state import AgentRunsState, Client, Connection

REPO = Path(__file__).resolve().parents[2]

CASES = {
    "tenant configuration": (
        "@phase1 @L3 @mrr:1",
        "    Given Acme is a tenant hosted in the EU region\n"
        '    When Acme reads its setting "never.stored"\n',
        "an error no Then examined: SettingNotFound",
    ),
    "agent runs": (
        "@phase1 @L4 @mrr:1",
        "    Given Acme is on the mid tier\n"
        "    When a client connects with a key the platform never issued\n",
        "an error no Then examined: HandshakeRefused",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("capability", list(CASES))
def test_a_scenario_that_leaves_an_error_unexamined_fails(tmp_path: Path, capability: str) -> None:
    tags, steps, expected = CASES[capability]
    (tmp_path / "steps").symlink_to(REPO / "steps")
    (tmp_path / "environment.py").symlink_to(REPO / "environment.py")
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "x.feature").write_text(
        f"{tags}\nFeature: X\n\n  Scenario: An error nobody looks at\n{steps}"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "behave", "features", "-D", "services=embedded",
         "-D", "assembly=in_process", "-f", "plain", "--no-junit",
         "-D", f"reports_dir={tmp_path / 'reports'}",
         "-D", f"allure_results={tmp_path / 'allure-results'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert f"scenario left work unexamined: {expected}" in output, output[-3000:]


class Waiting:
    """A connection on which the platform sent ``queued`` and nobody read it yet."""

    def __init__(self, queued: list[Heard]) -> None:
        self.queued = queued

    def next_heard(self, timeout: float) -> Heard:
        if not self.queued:
            raise TimeoutError
        return self.queued.pop(0)

    def ask_for_run(self, request_id: str, task: str) -> None: ...
    def resume(self, request_id: str, after_seq: int) -> None: ...
    def ask_state(self, request_id: str) -> None: ...
    def send_malformed(self, malformation: Malformation) -> None: ...
    def send_oversized(self, size_bytes: int) -> None: ...
    def drop(self) -> None: ...
    def close(self) -> None: ...


def test_a_message_nobody_read_is_left_over_but_a_replay_of_one_heard_is_not() -> None:
    result = Heard(HeardKind.RESULT, "r1-e9", "r1", seq=9)
    state = AgentRunsState()
    client = Client("Acme", "acme-1", "key", request_id="r1")
    state.clients["Acme"] = client
    client.connections.append(Connection(Waiting([result]), heard=[result]))
    assert state.leftovers() == []
    client.connections.append(Connection(Waiting([Heard(HeardKind.REFUSED, "m7", "r1")])))
    (leftover,) = state.leftovers()
    assert leftover.startswith("Acme's connection 2 has an unread message: refused of request r1")
