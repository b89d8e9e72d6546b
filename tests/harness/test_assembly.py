"""The one assembly switch: which assembly each feature runs in, what a forced assembly skips
and why, the level a report shows, and the setting it replaced."""

from __future__ import annotations

import pytest

from harness.assembly import Assembly, choose
from harness.errors import SettingsError
from harness.reporting.tags import level_that_ran
from harness.settings import SuiteSettings

L3 = ["phase1", "L3", "mrr:347000"]
L4 = ["phase1", "L4", "mrr:200000"]


@pytest.mark.parametrize(
    ("tags", "setting", "runs_in"),
    [
        (L3, None, Assembly.IN_PROCESS),
        (L4, None, Assembly.NETWORK),
        (L3, Assembly.IN_PROCESS, Assembly.IN_PROCESS),
        (L4, Assembly.IN_PROCESS, Assembly.IN_PROCESS),
        (L4, Assembly.NETWORK, Assembly.NETWORK),
    ],
)
def test_a_feature_runs_in_the_assembly_chosen_or_its_tag_names(
    tags: list[str], setting: Assembly | None, runs_in: Assembly
) -> None:
    choice = choose(tags, setting)
    assert (choice.assembly, choice.skip) == (runs_in, None)


def test_a_feature_with_no_network_driver_is_skipped_under_the_network_assembly() -> None:
    choice = choose(L3, Assembly.NETWORK)
    assert choice.assembly is None
    assert choice.skip is not None
    assert "assembly=network" in choice.skip and "no network driver" in choice.skip


@pytest.mark.parametrize(
    ("declared", "assembly", "label"),
    [("L4", "in_process", "L3"), ("L4", None, "L4"), ("L3", None, "L3"), ("L4", "network", "L4")],
)
def test_the_level_label_says_what_actually_ran(
    declared: str, assembly: str | None, label: str
) -> None:
    assert level_that_ran(declared, assembly) == label


def test_the_assembly_is_one_setting_from_userdata_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SuiteSettings.load({}).assembly is None
    assert SuiteSettings.load({"assembly": "in_process"}).assembly is Assembly.IN_PROCESS
    monkeypatch.setenv("APEX_ASSEMBLY", "network")
    assert SuiteSettings.load({}).assembly is Assembly.NETWORK
    with pytest.raises(SettingsError, match="assembly"):
        SuiteSettings.load({"assembly": "over_carrier_pigeon"})


def test_the_old_agent_runs_setting_names_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SettingsError, match="agent_runs is gone: use assembly"):
        SuiteSettings.load({"agent_runs": "in_process"})
    monkeypatch.setenv("APEX_AGENT_RUNS", "network")
    with pytest.raises(SettingsError, match="agent_runs is gone: use assembly"):
        SuiteSettings.load({})
