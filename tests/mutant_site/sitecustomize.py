"""Applies a deliberate defect to every Python process of a mutation run, at interpreter start.

The L4 platform runs as separate interpreters (``python -m apex.gateway``, ``python -m
apex.orchestration``) that the suite starts with its environment minus ``APEX_*`` variables, so a
monkeypatch made in the behave process never reaches them. Python imports ``sitecustomize`` from
``sys.path`` at startup; with this directory on ``PYTHONPATH`` and ``SUITE_MUTANT=<name>`` set
(test_mutations.py does both), every interpreter of the run applies
``tests.mutants.MUTANTS[name]`` before it runs anything else.

Without ``SUITE_MUTANT`` this does nothing. A mutant that cannot be applied ends the process
with the traceback: ``site`` would otherwise print one line and run the platform unmutated,
and the mutation test would judge a platform nobody broke.
"""

from __future__ import annotations

import os

_MUTANT = os.environ.get("SUITE_MUTANT")

if _MUTANT:
    import sys
    import traceback
    from pathlib import Path

    try:
        _repo = str(Path(__file__).resolve().parents[2])
        if _repo not in sys.path:
            sys.path.insert(0, _repo)
        from tests.mutants import apply

        apply(_MUTANT)
    except BaseException:
        print(f"mutant {_MUTANT!r} could not be applied:", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)
