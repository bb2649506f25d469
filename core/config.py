"""Configuration: `colony.toml` overlaid by `COLONY_*` environment variables, checked against schemas."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value or file is invalid."""


@dataclass(frozen=True)
class Option:
    """One configuration option: its default, its type and what it is for."""

    default: Any
    help: str
    type: type | None = None
    secret: bool = False  # never shown by the protocol: `plugins.info` says only whether it is set

    @property
    def kind(self) -> type:
        """The option's value type, taken from the default when not given."""
        return self.type or type(self.default)


def shown(options: Mapping[str, Option], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as the protocol may show them: a secret option's value becomes `"<set>"` or `""`."""
    return {key: ("<set>" if value else "") if key in options and options[key].secret else value for key, value in values.items()}


# Environment variables that are not spelled COLONY_<SECTION>__<KEY>.
ENV_ALIASES = {
    "COLONY_LOAD_PLUGINS": "plugins.load",
    "COLONY_DISABLE_PLUGINS": "plugins.disable",
}
# Read elsewhere (paths, identity); never configuration keys.
ENV_IGNORED = {"COLONY_HOME", "COLONY_KEY_PASSPHRASE"}

KERNEL_OPTIONS: dict[str, Option] = {
    "node.name": Option("default", "Node name; it names the home folder and the control socket."),
    "node.shutdown_timeout": Option(5.0, "Seconds allowed for a clean shutdown before tasks are cancelled."),
    "heartbeat.enabled": Option(True, "Run the heartbeat; when false, ticks run only on `node.tick`."),
    "heartbeat.interval": Option(2.0, "Seconds between the starts of two ticks."),
    "heartbeat.keep_ticks": Option(1000, "How many tick records the store keeps."),
    "heartbeat.tick_timeout": Option(30.0, "Seconds one tick may take before it is cancelled."),
    "budgets.tool_calls.per_tick": Option(20, "Tool calls allowed per tick (heartbeat steps and LLM function calls); 0 is unlimited."),
    "budgets.tool_calls.per_day": Option(5000, "Tool calls allowed per UTC day; 0 is unlimited."),
    "budgets.tokens.per_tick": Option(0, "LLM tokens allowed per tick; 0 is unlimited."),
    "budgets.tokens.per_day": Option(1_000_000, "LLM tokens allowed per UTC day; 0 is unlimited."),
    "budgets.llm_micro_usd.per_tick": Option(0, "LLM cost allowed per tick, in millionths of a US dollar; 0 is unlimited."),
    "budgets.llm_micro_usd.per_day": Option(2_000_000, "LLM cost allowed per UTC day, in millionths of a US dollar; 0 is unlimited."),
    "budgets.money.per_tick": Option(0, "Money the node may spend per tick, in atomic units of the payment asset; 0 is unlimited."),
    "budgets.money.per_day": Option(1_000_000, "Money the node may spend per UTC day, in atomic units; 0 is unlimited."),
    "guard.repeat_limit": Option(3, "Most times in a row the same action with the same params may run."),
    "plugins.load": Option(None, "Allowlist of plugin names; unset loads all, empty loads none.", list),
    "plugins.disable": Option([], "Plugin names never to load."),
    "plugins.dropin_dir": Option("", "Folder of drop-in `.py` plugins; empty means `<home>/plugins`."),
    "plugins.quarantine_after": Option(5, "Consecutive failures after which a plugin is quarantined."),
    "plugins.start_timeout": Option(10.0, "Seconds a plugin's `colony_start` may take."),
    "plugins.stop_timeout": Option(5.0, "Seconds a plugin's `colony_stop` may take."),
    "plugins.health_timeout": Option(5.0, "Seconds a plugin's `colony_health` may take."),
    "store.map_size": Option(1 << 30, "Initial LMDB map size in bytes; it doubles when full."),
    "store.max_dbs": Option(256, "Most named databases (plugin namespaces) in the store."),
    "store.batch_max": Option(1000, "Most write operations committed in one LMDB transaction."),
    "bus.channel_size": Option(1024, "Events buffered per subscriber before the oldest are dropped."),
    "bus.recent": Option(1000, "Recent events kept in memory for `events.recent`."),
    "audit.topics": Option(["plugin.*", "node.*", "rpc.audit"], "Event topics appended to the hash-chained log."),
    "control.socket": Option(
        "", "Control socket path; empty means `$XDG_RUNTIME_DIR/colony/<node>.sock`, or `/tmp/colony-<uid>/<node>.sock`."
    ),
    "control.max_line": Option(1 << 20, "Longest accepted protocol line, in bytes."),
    "control.max_connections": Option(4096, "Most simultaneous control connections."),
    "control.max_inflight": Option(64, "Most requests one connection may have running at once."),
    "control.tcp": Option("", "`host:port` of an optional token-protected TCP listener; empty means none."),
    "control.token": Option("", "Token TCP clients must give in `rpc.hello`; empty generates one in `<home>`."),
}


def parse_env_value(raw: str, kind: type, name: str) -> Any:
    """Turn an environment string into a value of `kind`."""
    if kind is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    if kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from None
    return raw


def check_value(value: Any, option: Option, name: str) -> Any:
    """Validate a value from a file or from code against its option."""
    kind = option.kind
    if value is None and option.default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{name}: expected int, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    if kind is list and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{name}: expected a list of strings")
    return value


def env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Dotted keys given by `COLONY_*` environment variables, with the variable and its raw string."""
    found: dict[str, tuple[str, str]] = {}
    for var, raw in environ.items():
        if not var.startswith("COLONY_") or var in ENV_IGNORED:
            continue
        if var in ENV_ALIASES:
            found[ENV_ALIASES[var]] = (var, raw)
        elif "__" in var:
            found[".".join(var[len("COLONY_") :].lower().split("__"))] = (var, raw)
    return found


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` becomes `{"a.b": 1}`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


class Config:
    """Resolved configuration: the kernel's options plus raw plugin sections."""

    def __init__(
        self,
        file_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        source: str = "colony.toml",
    ) -> None:
        self._file = flatten(file_values or {})
        self._environ = dict(os.environ if environ is None else environ)
        self._env = env_overrides(self._environ)
        self._overrides = flatten(overrides or {})
        self.source = source
        for key in (*self._file, *self._overrides):
            if not key.startswith("plugin.") and key not in KERNEL_OPTIONS:
                raise ConfigError(f"{source}: unknown option {key!r}")
        for key, (var, _) in self._env.items():
            if not key.startswith("plugin.") and key not in KERNEL_OPTIONS:
                raise ConfigError(f"{var}: unknown option {key!r}")
        self.values = {key: self._resolve(key, opt) for key, opt in KERNEL_OPTIONS.items()}

    @classmethod
    def load(
        cls,
        path: Path | None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Config:
        """Read `path` when it exists, then overlay the environment and `overrides`."""
        values: dict[str, Any] = {}
        if path is not None and path.exists():
            try:
                values = tomllib.loads(path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: {exc}") from None
        return cls(values, environ, overrides, source=str(path) if path else "colony.toml")

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """The same configuration with `overrides` applied on top."""
        return Config(self._file, self._environ, {**self._overrides, **flatten(overrides)}, self.source)

    def _resolve(self, key: str, option: Option) -> Any:
        if key in self._overrides:
            return check_value(self._overrides[key], option, key)
        if key in self._env:
            var, raw = self._env[key]
            return parse_env_value(raw, option.kind, var)
        if key in self._file:
            return check_value(self._file[key], option, f"{self.source}: {key}")
        return option.default

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def plugin_section(self, plugin: str, schema: Mapping[str, Option]) -> dict[str, Any]:
        """The `[plugin.<name>]` section, checked against the plugin's schema."""
        prefix = f"plugin.{plugin}."
        for key in (*self._file, *self._overrides, *self._env):
            if key.startswith(prefix) and key[len(prefix) :] not in schema:
                raise ConfigError(f"plugin {plugin!r} has no option {key[len(prefix):]!r}")
        return {name: self._resolve(prefix + name, option) for name, option in schema.items()}
