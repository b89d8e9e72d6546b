"""What a module's sweep found: each mutant killed, survived, judged equivalent, timed out or
lost to the infrastructure, and the score over the non-equivalent mutants.

The mutation tool records a timeout and any failed run as a kill; here they are told apart:
a timeout by the tool's own ``timeout`` output, an infrastructure failure by the guard's
marker. Neither counts as a kill: both are listed to be run again.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tools.mutation.guard import INFRA_MARKER

EQUIVALENTS = Path(__file__).with_name("equivalent.toml")


@dataclass(frozen=True)
class Mutant:
    operator: str
    occurrence: int
    line: int
    verdict: str
    diff: str = ""
    reason: str = ""


@dataclass
class ModuleResult:
    module: str
    commit: str
    features: list[str]
    baseline_seconds: float
    timeout_seconds: float
    canary: str
    counts: dict[str, int] = field(default_factory=dict)
    score_percent: float | None = None
    survivors: list[Mutant] = field(default_factory=list)
    timeouts: list[Mutant] = field(default_factory=list)
    infrastructure: list[Mutant] = field(default_factory=list)
    equivalent: list[Mutant] = field(default_factory=list)
    #: survivors only a capability still to come can kill (named in their reason)
    awaiting: list[Mutant] = field(default_factory=list)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (self.module.replace("/", ".").removesuffix(".py") + ".json")
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    def text(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        score = "n/a" if self.score_percent is None else f"{self.score_percent:.1f}%"
        lines = [f"{self.module}: score {score} ({counts})"]
        for title, mutants in (("survived", self.survivors), ("timed out", self.timeouts),
                               ("infrastructure failed", self.infrastructure),
                               ("awaiting a later capability", self.awaiting)):
            for m in mutants:
                lines.append(f"  {title}: line {m.line} {m.operator} #{m.occurrence}")
                lines.extend(f"      {d}" for d in m.diff.splitlines() if d[:1] in "+-"
                             and not d.startswith(("+++", "---")))
        return "\n".join(lines)


def listed(module: str, kind: str) -> dict[tuple[str, int], str]:
    """(operator, occurrence) -> the reason, for the module's mutants listed as ``kind``:
    "equivalent" (behaves exactly as the original) or "awaiting" (only a capability still to
    come can reach the changed behaviour; the reason names it)."""
    if not EQUIVALENTS.exists():
        return {}
    entries = tomllib.loads(EQUIVALENTS.read_text()).get(kind, [])
    return {
        (e["operator"], int(e["occurrence"])): str(e["reason"])
        for e in entries if e["module"] == module
    }


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's annotations are, if it postpones them (``from __future__ import
    annotations``): there they are strings nobody evaluates, so a mutant inside one changes
    no behaviour."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom) and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    return [
        ((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0))
        for a in annotations
    ]


def _in_annotation(
    spans: list[tuple[tuple[int, int], tuple[int, int]]], position: tuple[int, int]
) -> bool:
    return any(start <= position < end for start, end in spans)


def judge(result: ModuleResult, session: Path) -> ModuleResult:
    source = subprocess.run(
        ["git", "show", f"{result.commit}:{result.module}"], capture_output=True, text=True,
        check=True,
    ).stdout
    spans = annotation_spans(source)
    dumped = subprocess.run(
        [sys.executable, "-m", "cosmic_ray.cli", "dump", str(session)],
        capture_output=True, text=True, check=True,
    ).stdout
    known = listed(result.module, "equivalent")
    awaiting = listed(result.module, "awaiting")
    verdicts: dict[str, int] = {}
    for line in dumped.splitlines():
        item, outcome = json.loads(line)
        mutant = _mutant(item, outcome, known, awaiting)
        position = tuple(item["mutations"][0]["start_pos"])
        if mutant.verdict == "survived" and _in_annotation(spans, (position[0], position[1])):
            mutant = replace(mutant, verdict="equivalent",
                             reason="inside an annotation, which is never evaluated")
        verdicts[mutant.verdict] = verdicts.get(mutant.verdict, 0) + 1
        {"survived": result.survivors, "timeout": result.timeouts,
         "infrastructure": result.infrastructure, "equivalent": result.equivalent,
         "awaiting": result.awaiting}.get(mutant.verdict, []).append(mutant)
    result.counts = dict(sorted(verdicts.items()))
    judged = verdicts.get("killed", 0) + verdicts.get("survived", 0)
    result.score_percent = 100 * verdicts.get("killed", 0) / judged if judged else None
    return result


def _mutant(item: dict[str, Any], outcome: dict[str, Any] | None,
            known: dict[tuple[str, int], str],
            awaiting: dict[tuple[str, int], str] | None = None) -> Mutant:
    spec = item["mutations"][0]
    key = (spec["operator_name"], int(spec["occurrence"]))
    line = int(spec["start_pos"][0])
    if outcome is None:
        return Mutant(*key, line, "pending")
    diff = outcome.get("diff") or ""
    output = outcome.get("output") or ""
    if key in known:
        verdict, reason = "equivalent", known[key]
    elif outcome.get("test_outcome") == "survived" and key in (awaiting or {}):
        verdict, reason = "awaiting", (awaiting or {})[key]
    elif outcome.get("test_outcome") == "survived":
        verdict, reason = "survived", ""
    elif output.strip() == "timeout":
        verdict, reason = "timeout", ""
    elif INFRA_MARKER in output or outcome.get("worker_outcome") != "normal":
        verdict, reason = "infrastructure", output[-1500:]
    elif outcome.get("test_outcome") == "killed":
        verdict, reason = "killed", ""
    else:
        verdict, reason = "incompetent", output[-1500:]
    return Mutant(*key, line, verdict, diff, reason)
