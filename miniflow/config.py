"""Configuration, layered: defaults, then the config file, then the environment.

* Defaults live in `miniflow.defaults`, each with a sentence.
* ``$MINIFLOW_HOME/miniflow.toml`` (``MINIFLOW_HOME`` defaults to ``~/miniflow``)
  overrides them, one TOML table per section::

      [core]
      parallelism = 8

* Environment variables ``MINIFLOW__SECTION__KEY`` override both, e.g.
  ``MINIFLOW__CORE__DAGS_FOLDER=/srv/dags``. ``MINIFLOW_DATABASE_URL`` is a short
  form of ``MINIFLOW__DATABASE__SQL_ALCHEMY_CONN``.

Each value is converted to the type of its default; a value that does not convert
is a `ConfigError` naming the setting and where the value came from.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniflow.defaults import DEFAULTS
from miniflow.exceptions import ConfigError

__all__ = ["Config", "ConfigValue", "miniflow_home", "get_config", "reset_config", "ui_url", "AirflowConf", "conf"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def miniflow_home() -> Path:
    return Path(os.environ.get("MINIFLOW_HOME") or Path.home() / "miniflow").expanduser()


@dataclass(frozen=True)
class ConfigValue:
    value: Any
    source: str  # "default", the config file's path, or the environment variable's name


def _convert(raw: Any, default: Any, name: str, source: str) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            if isinstance(raw, (bool, float)):  # 8.5 or true is not a whole number
                raise ValueError
            return int(raw)
        if isinstance(default, float):
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        kind = type(default).__name__
        raise ConfigError(
            f"{name} = {raw!r} (from {source}) is not a valid {kind}; "
            f"set it to a {kind} like {default!r}"
        ) from None


class Config:
    """The settings in force, each with the place it came from."""

    def __init__(self, home: Path | None = None, environ: dict[str, str] | None = None) -> None:
        self.home = home or miniflow_home()
        self.path = self.home / "miniflow.toml"
        environ = dict(os.environ if environ is None else environ)
        self._values: dict[tuple[str, str], ConfigValue] = {}
        for section, settings in DEFAULTS.items():
            for key, setting in settings.items():
                default = setting.default
                if isinstance(default, str):
                    default = default.replace("{home}", str(self.home))
                self._values[section, key] = ConfigValue(default, "default")
        self._load_file()
        self._load_environ(environ)

    def _load_file(self) -> None:
        if not self.path.exists():
            return
        try:
            data = tomllib.loads(self.path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{self.path}: not valid TOML: {exc}") from None
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{self.path}: {section!r} must be a [section] table")
            for key, raw in table.items():
                self._set(section, key, raw, str(self.path))

    def _load_environ(self, environ: dict[str, str]) -> None:
        for name, raw in environ.items():
            if name.startswith("MINIFLOW__") and name.count("__") == 2:
                _, section, key = name.split("__")
                self._set(section.lower(), key.lower(), raw, name)
        if environ.get("MINIFLOW_DATABASE_URL"):
            self._set("database", "sql_alchemy_conn", environ["MINIFLOW_DATABASE_URL"], "MINIFLOW_DATABASE_URL")

    def _set(self, section: str, key: str, raw: Any, source: str) -> None:
        if (section, key) not in self._values:
            raise ConfigError(
                f"unknown setting [{section}] {key} (from {source}); "
                "'miniflow config list' shows the settings there are"
            )
        default = self._values[section, key].value
        self._values[section, key] = ConfigValue(_convert(raw, default, f"[{section}] {key}", source), source)

    def get(self, section: str, key: str) -> Any:
        return self.lookup(section, key).value

    def lookup(self, section: str, key: str) -> ConfigValue:
        try:
            return self._values[section, key]
        except KeyError:
            raise ConfigError(
                f"unknown setting [{section}] {key}; 'miniflow config list' shows them all"
            ) from None

    def items(self) -> list[tuple[str, str, ConfigValue]]:
        return [(s, k, v) for (s, k), v in self._values.items()]

    @property
    def dags_folder(self) -> Path:
        return Path(self.get("core", "dags_folder")).expanduser()


_config: Config | None = None
_NO_FALLBACK: Any = object()


def get_config() -> Config:
    """The process-wide configuration, read once."""
    global _config
    if _config is None:
        _config = Config()
    return _config


def ui_url() -> str:
    """Where the UI is reached, for links in e-mails: ``webserver.base_url``, or its host and port."""
    config = get_config()
    base = config.get("webserver", "base_url") or (
        f"http://{config.get('webserver', 'host')}:{config.get('webserver', 'port')}")
    return str(base).rstrip("/")


def reset_config() -> None:
    """Forget the cached configuration (tests change the environment between cases)."""
    global _config
    _config = None


class AirflowConf:
    """``airflow.configuration.conf`` for DAG files: Airflow's reader methods over
    miniflow's configuration. An unknown setting is an error unless ``fallback`` is given."""

    def get(self, section: str, key: str, fallback: Any = _NO_FALLBACK, **kwargs: Any) -> Any:
        try:
            return get_config().get(section.lower(), key.lower())
        except ConfigError:
            if fallback is _NO_FALLBACK:
                raise
            return fallback

    def getboolean(self, section: str, key: str, fallback: Any = _NO_FALLBACK, **kwargs: Any) -> bool:
        value = self.get(section, key, fallback)
        return value.strip().lower() in ("true", "t", "1") if isinstance(value, str) else bool(value)

    def getint(self, section: str, key: str, fallback: Any = _NO_FALLBACK, **kwargs: Any) -> int:
        return int(self.get(section, key, fallback))

    def getfloat(self, section: str, key: str, fallback: Any = _NO_FALLBACK, **kwargs: Any) -> float:
        return float(self.get(section, key, fallback))

    def has_option(self, section: str, key: str) -> bool:
        return self.get(section, key, None) is not None

    def getsection(self, section: str) -> dict[str, Any]:
        return {key: value.value for sec, key, value in get_config().items() if sec == section.lower()}


conf = AirflowConf()
