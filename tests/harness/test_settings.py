"""Where each suite setting comes from: ``-D`` over ``APEX_*`` over the configuration file over
the defaults, for every setting; and what a bad one is told."""

from __future__ import annotations

import tomllib

import pytest

from harness.errors import SettingsError
from harness.settings import SuiteSettings
from tests.behave_runner import REPO

#: One valid value per setting, as text (what ``-D`` and the environment give), and two more
#: that differ from it and from the default.
VALUES: dict[str, tuple[str, str, str]] = {
    "services": ("embedded", "docker", "external"),
    "docker_probe_timeout": ("2.0", "3.0", "4.0"),
    "redis_url": ("redis://a", "redis://b", "redis://c"),
    "postgres_dsn": ("postgresql://a", "postgresql://b", "postgresql://c"),
    "clickhouse_url": ("http://a", "http://b", "http://c"),
    "app_password": ("pa", "pb", "pc"),
    "allure_results": ("ra", "rb", "rc"),
    "reports_dir": ("da", "db", "dc"),
    "llm_base_url": ("http://la", "http://lb", "http://lc"),
    "llm_api_key": ("ka", "kb", "kc"),
    "llm_models": ("a,b,c", "d,e,f", "g,h,i"),
    "assembly": ("in_process", "network", "in_process"),
    "eventually_timeout": ("6.0", "7.0", "8.0"),
    "allow_empty_run": ("true", "false", "true"),
}


def shown(settings: SuiteSettings, name: str) -> str:
    value = getattr(settings, name)
    value = getattr(value, "get_secret_value", lambda: value)()
    return str(getattr(value, "value", value)).lower()


def test_every_setting_is_listed_here() -> None:
    assert set(VALUES) == set(SuiteSettings.model_fields)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_command_line_beats_the_environment_which_beats_the_configuration_file(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    command_line, environment, configured = VALUES[name]
    monkeypatch.setenv(f"APEX_{name.upper()}", environment)
    assert shown(SuiteSettings.load({name: command_line}, {name: configured}), name) == (
        command_line.lower()
    )
    assert shown(SuiteSettings.load({}, {name: configured}), name) == environment.lower()
    monkeypatch.delenv(f"APEX_{name.upper()}")
    assert shown(SuiteSettings.load({}, {name: configured}), name) == configured.lower()


def test_the_project_configuration_sets_no_suite_setting() -> None:
    # A value there once hid APEX_SERVICES: keep the defaults in harness/settings.py.
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["behave"]
    assert set(config.get("userdata", {})) & set(SuiteSettings.model_fields) == set()


def test_a_misspelt_setting_is_answered_with_the_one_it_resembles() -> None:
    with pytest.raises(SettingsError, match="unknown suite setting servces: did you mean services"):
        SuiteSettings.load({"servces": "embedded"})
    with pytest.raises(SettingsError, match=r"unknown suite setting zzz \(settings: services"):
        SuiteSettings.load({"zzz": "1"})


def test_keys_of_formatters_and_reporters_are_not_suite_settings() -> None:
    assert SuiteSettings.load({"behave.reporter.summary.output_format": "v2"}).services.value
