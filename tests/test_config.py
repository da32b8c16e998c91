"""miniflow.config: defaults, then miniflow.toml, then MINIFLOW__SECTION__KEY, each with its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miniflow.config import Config, get_config, reset_config
from miniflow.config import miniflow_home as home_from_environment
from miniflow.defaults import DEFAULTS
from miniflow.exceptions import ConfigError


def _write_toml(home: Path, text: str) -> Path:
    path = home / "miniflow.toml"
    path.write_text(text)
    return path


def test_miniflow_home_comes_from_the_environment(miniflow_home: Path) -> None:
    assert home_from_environment() == miniflow_home


def test_miniflow_home_defaults_to_home_miniflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MINIFLOW_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert home_from_environment() == tmp_path / "miniflow"


def test_defaults(miniflow_home: Path) -> None:
    config = Config()
    assert config.lookup("core", "parallelism").value == 32
    assert config.lookup("core", "parallelism").source == "default"
    assert config.get("core", "dags_folder") == f"{miniflow_home}/dags"
    assert config.dags_folder == miniflow_home / "dags"
    assert config.get("database", "sql_alchemy_conn") == f"sqlite:///{miniflow_home}/miniflow.db"
    assert config.get("core", "load_examples") is False
    assert config.get("core", "dagbag_import_timeout") == 30.0
    assert config.get("core", "max_active_runs_per_dag") == 16
    assert config.get("core", "max_active_tasks_per_dag") == 16


def test_every_default_is_listed_with_a_sentence() -> None:
    config = Config()
    listed = {(s, k) for s, k, _ in config.items()}
    assert listed == {(s, k) for s, keys in DEFAULTS.items() for k in keys}
    for section, keys in DEFAULTS.items():
        for key, setting in keys.items():
            assert setting.help.strip(), f"[{section}] {key} has no help text"
            assert config.lookup(section, key).source == "default"


def test_toml_file_overrides_defaults(miniflow_home: Path) -> None:
    path = _write_toml(miniflow_home, """
        [core]
        parallelism = 8
        load_examples = true
        dags_folder = "/srv/dags"

        [webserver]
        port = 9090
    """.replace("\n        ", "\n"))
    config = Config()
    assert config.lookup("core", "parallelism").value == 8
    assert config.lookup("core", "parallelism").source == str(path)
    assert config.get("core", "load_examples") is True
    assert config.dags_folder == Path("/srv/dags")
    assert config.get("webserver", "port") == 9090
    assert config.lookup("core", "executor").source == "default"


def test_environment_overrides_file_and_defaults(miniflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_toml(miniflow_home, "[core]\nparallelism = 8\n")
    monkeypatch.setenv("MINIFLOW__CORE__PARALLELISM", "4")
    monkeypatch.setenv("MINIFLOW__SCHEDULER__LOOP_INTERVAL", "0.25")
    config = Config()
    assert config.lookup("core", "parallelism").value == 4
    assert config.lookup("core", "parallelism").source == "MINIFLOW__CORE__PARALLELISM"
    assert config.lookup("scheduler", "loop_interval").value == 0.25
    assert config.lookup("scheduler", "loop_interval").source == "MINIFLOW__SCHEDULER__LOOP_INTERVAL"


def test_environment_can_be_passed_explicitly(miniflow_home: Path) -> None:
    config = Config(environ={"MINIFLOW__CORE__EXECUTOR": "sequential"})
    assert config.lookup("core", "executor").value == "sequential"
    assert config.lookup("core", "executor").source == "MINIFLOW__CORE__EXECUTOR"


def test_miniflow_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://user@db:5432/miniflow"
    monkeypatch.setenv("MINIFLOW_DATABASE_URL", url)
    config = Config()
    assert config.lookup("database", "sql_alchemy_conn").value == url
    assert config.lookup("database", "sql_alchemy_conn").source == "MINIFLOW_DATABASE_URL"


def test_get_config_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_config()
    assert get_config() is first
    monkeypatch.setenv("MINIFLOW__CORE__PARALLELISM", "3")
    assert get_config().get("core", "parallelism") == 32
    reset_config()
    assert get_config().get("core", "parallelism") == 3


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        (("core", "parallelism"), "8", 8),
        (("core", "parallelism"), " 12 ", 12),
        (("core", "dagbag_import_timeout"), "2.5", 2.5),
        (("core", "dagbag_import_timeout"), "7", 7.0),
        (("core", "load_examples"), "true", True),
        (("core", "load_examples"), "True", True),
        (("core", "load_examples"), "1", True),
        (("core", "load_examples"), "yes", True),
        (("core", "load_examples"), "off", False),
        (("core", "load_examples"), "False", False),
        (("core", "load_examples"), "0", False),
        (("core", "executor"), "celery", "celery"),
    ],
)
def test_environment_values_are_converted_to_the_type_of_the_default(
    key: tuple[str, str], raw: str, expected: object, monkeypatch: pytest.MonkeyPatch,
) -> None:
    section, name = key
    monkeypatch.setenv(f"MINIFLOW__{section.upper()}__{name.upper()}", raw)
    value = Config().get(section, name)
    assert value == expected
    assert type(value) is type(expected)


def test_toml_values_are_converted_to_the_type_of_the_default(miniflow_home: Path) -> None:
    _write_toml(miniflow_home, '[core]\ndagbag_import_timeout = 5\nparallelism = "6"\n[webserver]\nport = "8081"\n')
    config = Config()
    assert config.get("core", "dagbag_import_timeout") == 5.0
    assert type(config.get("core", "dagbag_import_timeout")) is float
    assert config.get("core", "parallelism") == 6
    assert config.get("webserver", "port") == 8081


def test_bad_value_in_file_names_setting_and_source(miniflow_home: Path) -> None:
    path = _write_toml(miniflow_home, '[core]\nparallelism = "lots"\n')
    with pytest.raises(ConfigError) as info:
        Config()
    message = str(info.value)
    assert "parallelism" in message and "[core]" in message
    assert "'lots'" in message
    assert str(path) in message
    assert "int" in message


def test_bad_value_in_environment_names_setting_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIFLOW__CORE__PARALLELISM", "lots")
    with pytest.raises(ConfigError) as info:
        Config()
    message = str(info.value)
    assert "parallelism" in message and "'lots'" in message
    assert "MINIFLOW__CORE__PARALLELISM" in message


@pytest.mark.parametrize(
    ("toml", "setting"),
    [
        ("[core]\nload_examples = \"maybe\"\n", "load_examples"),
        ("[core]\ndagbag_import_timeout = \"soon\"\n", "dagbag_import_timeout"),
        # Airflow's getint refuses these too rather than truncating or counting True as 1.
        ("[core]\nparallelism = 8.5\n", "parallelism"),
        ("[core]\nparallelism = true\n", "parallelism"),
    ],
)
def test_values_of_the_wrong_type_are_errors(toml: str, setting: str, miniflow_home: Path) -> None:
    _write_toml(miniflow_home, toml)
    with pytest.raises(ConfigError, match=setting):
        Config()


def test_unknown_key_in_file_is_an_error(miniflow_home: Path) -> None:
    path = _write_toml(miniflow_home, "[core]\nparalelism = 8\n")
    with pytest.raises(ConfigError) as info:
        Config()
    assert "paralelism" in str(info.value) and str(path) in str(info.value)
    assert "config list" in str(info.value)


def test_unknown_section_in_file_is_an_error(miniflow_home: Path) -> None:
    _write_toml(miniflow_home, "[kore]\nparallelism = 8\n")
    with pytest.raises(ConfigError, match="kore"):
        Config()


def test_unknown_key_in_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIFLOW__CORE__NO_SUCH_SETTING", "1")
    with pytest.raises(ConfigError) as info:
        Config()
    assert "no_such_setting" in str(info.value) and "MINIFLOW__CORE__NO_SUCH_SETTING" in str(info.value)


def test_unknown_key_lookup_is_an_error() -> None:
    with pytest.raises(ConfigError, match="nope"):
        Config().get("core", "nope")


def test_invalid_toml_is_an_error_naming_the_file(miniflow_home: Path) -> None:
    path = _write_toml(miniflow_home, "[core\nparallelism = \n")
    with pytest.raises(ConfigError) as info:
        Config()
    assert str(path) in str(info.value) and "TOML" in str(info.value)


def test_top_level_key_outside_a_section_is_an_error(miniflow_home: Path) -> None:
    _write_toml(miniflow_home, "parallelism = 8\n")
    with pytest.raises(ConfigError, match="parallelism"):
        Config()


# --- the CLI -------------------------------------------------------------------------


def test_config_list_json_shows_values_and_sources(miniflow_home: Path, run_cli) -> None:
    path = _write_toml(miniflow_home, "[core]\nparallelism = 8\n")
    result = run_cli("config", "list", "--output", "json", env={"MINIFLOW__WEBSERVER__PORT": "9000"})
    assert result.returncode == 0, result.stderr
    rows = {(r["section"], r["key"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {(s, k) for s, keys in DEFAULTS.items() for k in keys}
    for row in rows.values():
        assert set(row) == {"section", "key", "value", "source", "help"}
    assert rows["core", "parallelism"]["value"] == 8
    assert rows["core", "parallelism"]["source"] == str(path)
    assert rows["webserver", "port"]["value"] == 9000
    assert rows["webserver", "port"]["source"] == "MINIFLOW__WEBSERVER__PORT"
    assert rows["core", "executor"] == {
        "section": "core", "key": "executor", "value": "local", "source": "default",
        "help": DEFAULTS["core"]["executor"].help,
    }
    assert rows["core", "load_examples"]["value"] is False


def test_config_list_section_filter_and_table(run_cli) -> None:
    result = run_cli("config", "list", "--section", "celery", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert {r["section"] for r in json.loads(result.stdout)} == {"celery"}
    table = run_cli("config", "list")
    assert table.returncode == 0, table.stderr
    assert "parallelism" in table.stdout and "default" in table.stdout


def test_config_get_shows_value_and_source(miniflow_home: Path, run_cli) -> None:
    result = run_cli("config", "get", "core", "parallelism", env={"MINIFLOW__CORE__PARALLELISM": "5"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "5\n"
    result = run_cli("config", "get", "core", "parallelism", "--source",
                     env={"MINIFLOW__CORE__PARALLELISM": "5"})
    assert result.stdout == "5\tMINIFLOW__CORE__PARALLELISM\n"
    result = run_cli("config", "get", "core", "dags_folder", "--source")
    assert result.stdout == f"{miniflow_home}/dags\tdefault\n"


def test_config_get_unknown_key_is_a_one_line_error(run_cli) -> None:
    result = run_cli("config", "get", "core", "nope")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "Traceback" not in result.stderr


def test_bad_config_value_is_a_one_line_cli_error(miniflow_home: Path, run_cli) -> None:
    path = _write_toml(miniflow_home, '[core]\nparallelism = "lots"\n')
    result = run_cli("config", "list")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "parallelism" in lines[0] and "'lots'" in lines[0] and str(path) in lines[0]


def test_airflow_conf_reads_miniflows_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from miniflow.config import conf

    monkeypatch.setenv("MINIFLOW__CORE__PARALLELISM", "7")
    reset_config()
    assert conf.get("core", "parallelism") == 7 and conf.getint("CORE", "PARALLELISM") == 7
    assert conf.getfloat("core", "parallelism") == 7.0
    assert conf.getboolean("core", "load_examples") is get_config().get("core", "load_examples")
    assert conf.get("core", "dags_folder") == str(get_config().dags_folder)
    assert conf.get("smtp", "no_such_key", fallback="x") == "x"
    assert not conf.has_option("smtp", "no_such_key")
    assert conf.getsection("core")["parallelism"] == 7
    with pytest.raises(Exception, match="unknown setting"):
        conf.get("core", "no_such_key")


@pytest.mark.parametrize(("name", "kind"), [
    ("sequential", "SequentialExecutor"), ("SequentialExecutor", "SequentialExecutor"),
    ("LocalExecutor", "LocalExecutor"), ("airflow.executors.local_executor.LocalExecutor", "LocalExecutor"),
    (" Local ", "LocalExecutor"),
])
def test_core_executor_takes_airflows_names_too(name: str, kind: str) -> None:
    from miniflow.executors import get_executor

    assert type(get_executor(name, 4)).__name__ == kind


def test_an_unknown_executor_is_a_one_line_error() -> None:
    from miniflow.executors import get_executor

    with pytest.raises(ConfigError, match="unknown executor 'KubernetesExecutor'; use sequential, local or celery"):
        get_executor("KubernetesExecutor", 4)
