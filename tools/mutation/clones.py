"""Scratch clones for a mutation sweep, one per worker, and the proof that a run in a clone
imports that clone's code in every process it starts.

The mutation tool edits files on disk, so it never runs in the working tree: each worker gets a
clone of the committed HEAD under ``.mutation/clones/``, and every process of a run there
(behave and the L4 platform processes it starts) must import ``apex`` from that clone, not from
the working tree the virtualenv was installed from. The canary proves it before any mutant runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / ".mutation"
#: Every agent-run scenario starts 2 gateways and 2 workers besides behave itself.
CANARY_FEATURE = "features/phase1/agent_orchestration_revenue_path.feature"
CANARY_PROCESSES = 5
#: Not an APEX_ variable: the harness hands those to platform processes only as it chooses.
_CANARY_VARIABLE = "SUITE_MUTATION_CANARY"
_CANARY_LINE = (
    "\nimport os as _os\n"
    f"if _os.environ.get({_CANARY_VARIABLE!r}):\n"
    f"    with open(_os.environ[{_CANARY_VARIABLE!r}], 'a') as _canary:\n"
    "        _canary.write(f'{_os.getpid()} {__file__}\\n')\n"
)


@dataclass(frozen=True)
class Clone:
    path: Path

    def environment(self) -> dict[str, str]:
        """What a process needs to import this clone's code (and write no bytecode, so a
        mutated file is never masked by a cached one)."""
        return {**os.environ, "PYTHONPATH": str(self.path), "PYTHONDONTWRITEBYTECODE": "1"}

    def reset(self) -> None:
        """Back to the commit, whatever a mutant left."""
        _git(self.path, "checkout", "--quiet", "--", ".")
        _git(self.path, "clean", "-qfdx", "-e", ".venv")


def head() -> str:
    return _git(REPO, "rev-parse", "HEAD").strip()


def prepare(count: int, commit: str) -> list[Clone]:
    """``count`` clones at ``commit`` (made once, reset and moved to the commit after)."""
    clones = []
    for index in range(count):
        path = WORKSPACE / "clones" / f"worker-{index}"
        if not (path / ".git").exists():
            shutil.rmtree(path, ignore_errors=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(REPO, "clone", "--quiet", "--shared", "--no-checkout", str(REPO), str(path))
        _git(path, "fetch", "--quiet", str(REPO), commit)
        _git(path, "checkout", "--quiet", "--force", commit)
        clone = Clone(path)
        clone.reset()
        clones.append(clone)
    return clones


def prove_isolation(clone: Clone) -> str:
    """Run the canary feature with a canary in the clone's ``apex/__init__.py`` and check
    that every process that imported ``apex`` imported it from the clone. Returns a line for
    the report; raises RuntimeError if any process imported other code."""
    package = clone.path / "apex" / "__init__.py"
    record = WORKSPACE / f"canary-{clone.path.name}.txt"
    record.unlink(missing_ok=True)
    package.write_text(package.read_text() + _CANARY_LINE)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "tools.mutation.guard", CANARY_FEATURE],
            cwd=clone.path, env={**clone.environment(), _CANARY_VARIABLE: str(record)},
            capture_output=True, text=True, check=False,
        )
    finally:
        clone.reset()
    if completed.returncode != 0:
        output = completed.stdout + completed.stderr
        raise RuntimeError(f"the canary run failed in {clone.path}:\n{output[-1500:]}")
    lines = record.read_text().splitlines() if record.exists() else []
    imported = {line.split(" ", 1)[1] for line in lines}
    expected = str(package)
    if len(lines) < CANARY_PROCESSES or imported != {expected}:
        raise RuntimeError(
            f"the canary saw {len(lines)} processes importing {sorted(imported)}; expected at "
            f"least {CANARY_PROCESSES}, all from {expected}"
        )
    return f"canary: {len(lines)} processes, every one importing apex from {clone.path.name}"


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=where, check=True, capture_output=True, text=True
    ).stdout
