"""The one switch: which assembly of drivers every capability runs with.

``assembly`` (``-D assembly=in_process|network`` or ``APEX_ASSEMBLY``; unset: each feature's
``@L3``/``@L4`` tag) picks, for a whole run, how every capability's drivers reach the platform.
:mod:`harness.assembly.composition` is the run's composition root: the run-level services and
the drivers built on them, visible in one module; :mod:`harness.assembly.choice` decides which
assembly a feature runs in, or why it is skipped.
"""

from harness.assembly.choice import Choice, choose
from harness.assembly.composition import RunComposition
from harness.settings import Assembly

__all__ = ["Assembly", "Choice", "RunComposition", "choose"]
