"""Configuration: file, environment, overrides, types, unknown keys and plugin sections."""

from __future__ import annotations

import pytest

from colony.core.config import Config, ConfigError, Option


def test_defaults_work_offline():
    config = Config(environ={})
    assert config["heartbeat.interval"] == 2.0 and config["plugins.load"] is None


def test_file_then_env_then_overrides(tmp_path):
    path = tmp_path / "colony.toml"
    path.write_text('[heartbeat]\ninterval = 5\nenabled = false\n[node]\nname = "alpha"\n')
    environ = {"COLONY_HEARTBEAT__INTERVAL": "0.5", "COLONY_LOAD_PLUGINS": "pulse, greeter", "COLONY_DISABLE_PLUGINS": ""}
    config = Config.load(path, environ=environ, overrides={"node": {"name": "beta"}})
    assert config["heartbeat.interval"] == 0.5
    assert config["heartbeat.enabled"] is False
    assert config["plugins.load"] == ["pulse", "greeter"] and config["plugins.disable"] == []
    assert config["node.name"] == "beta"


def test_empty_allowlist_env_means_none():
    assert Config(environ={"COLONY_LOAD_PLUGINS": ""})["plugins.load"] == []


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[heartbeat]\ninterval = 'fast'\n", "heartbeat.interval: expected float"),
        ("[heartbeat]\nkeep_ticks = true\n", "expected int, got a boolean"),
        ("[heartbeat]\nintervall = 3\n", "unknown option 'heartbeat.intervall'"),
        ("[plugins]\ndisable = [1]\n", "list of strings"),
        ("not toml at all [", "colony.toml"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, toml, message):
    path = tmp_path / "colony.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        Config.load(path, environ={})


def test_bad_env_values_get_clear_errors():
    with pytest.raises(ConfigError, match="expected a boolean"):
        Config(environ={"COLONY_HEARTBEAT__ENABLED": "maybe"})
    with pytest.raises(ConfigError, match="COLONY_STORE__BATCH_MAX: expected int"):
        Config(environ={"COLONY_STORE__BATCH_MAX": "lots"})
    with pytest.raises(ConfigError, match="COLONY_HEARTBEAT__INTERVL: unknown option 'heartbeat.intervl'"):
        Config(environ={"COLONY_HEARTBEAT__INTERVL": "5"})


def test_plugin_sections_are_checked_against_the_schema():
    schema = {"window": Option(60, "ticks"), "label": Option("x", "name")}
    config = Config({"plugin": {"pulse": {"window": 5}}}, environ={"COLONY_PLUGIN__PULSE__LABEL": "y"})
    assert config.plugin_section("pulse", schema) == {"window": 5, "label": "y"}
    with pytest.raises(ConfigError, match="no option 'colour'"):
        Config({"plugin": {"pulse": {"colour": 1}}}, environ={}).plugin_section("pulse", schema)
