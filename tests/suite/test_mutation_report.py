"""The mutation sweep's report tells a kill from a timeout, an infrastructure failure and an
equivalent mutant (the mutation tool itself records all but the last as kills)."""

from __future__ import annotations

from typing import Any

from tools.mutation.guard import INFRA_MARKER
from tools.mutation.report import _mutant


def _item(operator: str = "core/ReplaceComparisonOperator_Gt_GtE", occurrence: int = 0) -> Any:
    return {"job_id": "j", "mutations": [{
        "module_path": "apex/refusals.py", "operator_name": operator, "occurrence": occurrence,
        "start_pos": [42, 4], "end_pos": [42, 9], "operator_args": {},
    }]}


def _result(test_outcome: str, output: str, worker: str = "normal") -> Any:
    return {"worker_outcome": worker, "output": output, "test_outcome": test_outcome,
            "diff": "--- a\n+++ b\n-    if x > 1:\n+    if x >= 1:\n"}


def test_a_red_run_is_a_kill() -> None:
    assert _mutant(_item(), _result("killed", "KILLED by: a scenario"), {}).verdict == "killed"


def test_a_green_run_is_a_survivor_unless_listed_as_equivalent() -> None:
    assert _mutant(_item(), _result("survived", "SURVIVED"), {}).verdict == "survived"
    listed = {("core/ReplaceComparisonOperator_Gt_GtE", 0): "x is never 1 here"}
    judged = _mutant(_item(), _result("survived", "SURVIVED"), listed)
    assert (judged.verdict, judged.reason) == ("equivalent", "x is never 1 here")


def test_a_timeout_and_a_failed_run_of_the_infrastructure_are_not_kills() -> None:
    assert _mutant(_item(), _result("killed", "timeout"), {}).verdict == "timeout"
    infra = _result("killed", f"{INFRA_MARKER}: the run could not be made\nPostgreSQL did not")
    assert _mutant(_item(), infra, {}).verdict == "infrastructure"
    crashed = _result("killed", "Traceback", worker="abnormal")
    assert _mutant(_item(), crashed, {}).verdict == "infrastructure"


def test_a_mutant_not_run_yet_is_pending() -> None:
    assert _mutant(_item(), None, {}).verdict == "pending"


def test_a_survivor_only_a_later_capability_can_reach_is_listed_apart() -> None:
    awaiting = {("core/ReplaceComparisonOperator_Gt_GtE", 0): "store faults: Durable runs"}
    judged = _mutant(_item(), _result("survived", "SURVIVED"), {}, awaiting)
    assert (judged.verdict, judged.reason) == ("awaiting", "store faults: Durable runs")


def test_a_mutant_inside_a_postponed_annotation_is_found_equivalent() -> None:
    from tools.mutation.report import _in_annotation, annotation_spans

    postponed = (
        "from __future__ import annotations\n\n"
        "def f(amount: int | str, n: int = 1) -> int:\n    return n | 2\n"
    )
    spans = annotation_spans(postponed)
    assert _in_annotation(spans, (3, 14)), "the | of the parameter's annotation"
    assert not _in_annotation(spans, (4, 13)), "the | of the body is behaviour"
    assert annotation_spans(postponed.split("\n", 2)[2]) == [], "evaluated annotations count"
