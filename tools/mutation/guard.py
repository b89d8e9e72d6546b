"""The test command of a mutation sweep: runs the features that guard a module, in the current
directory (a scratch clone holding one mutant), and tells a kill from a failure of the
infrastructure.

Exit 0: every scenario passed (the mutant survived). Exit 1: a scenario went red (killed), or
the run could not be made (a service did not start, a port clash): then the first line printed
is ``MUTATION-INFRA-FAILURE`` and the sweep's report counts it apart, never as a kill (the
mutation tool itself counts any non-zero exit as a kill).

    python -m tools.mutation.guard FEATURE [FEATURE ...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

INFRA_MARKER = "MUTATION-INFRA-FAILURE"
#: What only a run that could not be made prints (the harness's start errors, a port clash).
_INFRA = re.compile(r"did not start: |Address already in use|could not be applied")
_FAILING = re.compile(r"^\s+(features/\S+:\d+\s+.+)$", re.M)


def main(features: list[str]) -> int:
    if not features:
        print("usage: python -m tools.mutation.guard FEATURE [FEATURE ...]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="apex-mutant-") as scratch:
        completed = subprocess.run(
            [
                sys.executable, "-m", "behave", *features, "--stop", "-f", "plain",
                "--no-junit", "-D", "services=embedded",
                "-D", f"reports_dir={Path(scratch) / 'reports'}",
                "-D", f"allure_results={Path(scratch) / 'allure'}",
            ],
            capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            check=False,
        )
    output = completed.stdout + completed.stderr
    if completed.returncode == 0:
        print("SURVIVED: every guarding scenario passed")
        return 0
    if _INFRA.search(output):
        print(f"{INFRA_MARKER}: the run could not be made")
        print(output[-2000:])
        return 1
    red = _FAILING.findall(output)
    print("KILLED by: " + ("; ".join(red) if red else "a red run (no scenario named)"))
    print(output[-2000:])
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
