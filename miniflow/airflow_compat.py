"""Let DAG files written for Airflow import miniflow instead.

While miniflow loads DAG files (and only if the real Airflow is not installed), an
import hook answers ``import airflow...`` for the core API of Airflow 1.x, 2.x and 3.x
with miniflow's own classes. An import outside that core fails with an error that
names it, instead of a confusing ``ModuleNotFoundError`` deep inside a provider.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

from miniflow.exceptions import UnsupportedAirflowImportError

__all__ = ["install", "AIRFLOW_MODULES", "REMOVED_MODULES"]

_DAG = "miniflow.dag:DAG"
_BASE = ["miniflow.baseoperator:BaseOperator", "miniflow.baseoperator:chain",
         "miniflow.baseoperator:chain_linear", "miniflow.baseoperator:cross_downstream",
         "miniflow.operator_links:BaseOperatorLink"]
_BASH = ["miniflow.operators.bash:BashOperator"]
_PYTHON = ["miniflow.operators.python:PythonOperator", "miniflow.operators.python:BranchPythonOperator",
           "miniflow.operators.python:ShortCircuitOperator", "miniflow.operators.python:get_current_context",
           "miniflow.operators.virtualenv:PythonVirtualenvOperator",
           "miniflow.operators.virtualenv:BranchPythonVirtualenvOperator",
           "miniflow.operators.virtualenv:ExternalPythonOperator",
           "miniflow.operators.virtualenv:BranchExternalPythonOperator",
           "miniflow.operators.virtualenv:is_venv_installed"]
_EMPTY = ["miniflow.operators.empty:EmptyOperator", "miniflow.operators.empty:DummyOperator"]
_FILE_SENSOR = ["miniflow.sensors.filesystem:FileSensor"]
_PYTHON_SENSOR = ["miniflow.sensors.python:PythonSensor", "miniflow.sensors.base:PokeReturnValue"]
_SENSOR_BASE = ["miniflow.sensors.base:BaseSensorOperator", "miniflow.sensors.base:PokeReturnValue"]
_DECORATORS = ["miniflow.decorators:dag", "miniflow.decorators:task", "miniflow.decorators:task_group",
               "miniflow.decorators:setup", "miniflow.decorators:teardown"]
_LABEL = ["miniflow.edge_label:Label", "miniflow.edge_label:EdgeModifier"]
_PARAM = ["miniflow.params:Param"]
_VARIABLE = ["miniflow.variables:Variable"]
_TASK_GROUP = ["miniflow.task_group:TaskGroup", "miniflow.task_group:MappedTaskGroup"]
_XCOM_ARG = ["miniflow.xcom:XComArg"]
_NOTIFIER = ["miniflow.notifications:BaseNotifier"]
_PARSING_CONTEXT = ["miniflow.dagbag:AirflowParsingContext", "miniflow.dagbag:get_parsing_context"]
_XCOM = ["miniflow.xcom:XCom", "miniflow.xcom:XCOM_RETURN_KEY"]
_PARAMS = ["miniflow.params:Param", "miniflow.params:ParamsDict"]
_TI = ["miniflow.taskinstance:TaskInstance"]
_DAG_RUN = ["miniflow.taskinstance:DagRun"]
_CONTEXT = ["miniflow.context:Context"]
_STATE = ["miniflow.state:State", "miniflow.state:TaskInstanceState", "miniflow.state:DagRunState"]
_TT = "miniflow.timetables:"
_TIMETABLE_BASE = [f"{_TT}Timetable", f"{_TT}DataInterval", f"{_TT}DagRunInfo", f"{_TT}TimeRestriction"]
_TRIGGER_TIMETABLES = [f"{_TT}CronTriggerTimetable", f"{_TT}DeltaTriggerTimetable",
                       f"{_TT}MultipleCronTriggerTimetable"]
_INTERVAL_TIMETABLES = [f"{_TT}CronTimetable:CronDataIntervalTimetable",
                        f"{_TT}DeltaTimetable:DeltaDataIntervalTimetable"]
_OBJECT_STORAGE = ["miniflow.object_storage:ObjectStoragePath"]
_SKIP_MIXIN = ["miniflow.operators.skip:SkipMixin", "miniflow.operators.skip:XCOM_SKIPMIXIN_KEY",
               "miniflow.operators.skip:XCOM_SKIPMIXIN_SKIPPED", "miniflow.operators.skip:XCOM_SKIPMIXIN_FOLLOWED"]
_BRANCH = ["miniflow.operators.branch:BaseBranchOperator"]
_BRANCH_DATETIME = ["miniflow.operators.branch:BranchDateTimeOperator", "miniflow.operators.branch:target_times_as_dates"]
_BRANCH_WEEKDAY = ["miniflow.operators.branch:BranchDayOfWeekOperator"]
_WEEKDAY = ["miniflow.utils.weekday:WeekDay"]
_TS = "miniflow.sensors.time:"
_TIME_DELTA_SENSOR = [f"{_TS}TimeDeltaSensor", f"{_TS}TimeDeltaSensorAsync"]
_TIME_SENSOR = [f"{_TS}TimeSensor", f"{_TS}TimeSensorAsync"]
_DATE_TIME_SENSOR = [f"{_TS}DateTimeSensor", f"{_TS}DateTimeSensorAsync"]
_WEEKDAY_SENSOR = [f"{_TS}DayOfWeekSensor"]
_BASH_SENSOR = ["miniflow.sensors.bash:BashSensor"]
_EMAIL = ["miniflow.operators.email:EmailOperator"]

_DS = "miniflow.datasets:"
_DATASETS = [f"{_DS}Dataset", f"{_DS}DatasetAlias", f"{_DS}DatasetAll", f"{_DS}DatasetAny"]
_ASSETS = [f"{_DS}Asset", f"{_DS}AssetAlias", f"{_DS}AssetAll", f"{_DS}AssetAny"]

_LATEST_ONLY = ["miniflow.operators.latest_only:LatestOnlyOperator"]
_TRIGGER = ["miniflow.operators.trigger_dagrun:TriggerDagRunOperator"]
_EXTERNAL = ["miniflow.sensors.external_task:ExternalTaskSensor", "miniflow.sensors.external_task:ExternalTaskMarker"]

_SQL = "miniflow.operators.sql:"
_SQL_CHECKS = [f"{_SQL}{n}" for n in ("SQLCheckOperator", "SQLValueCheckOperator", "SQLIntervalCheckOperator",
                                       "SQLThresholdCheckOperator")]
_SQL_OPERATORS = [f"{_SQL}SQLExecuteQueryOperator", *_SQL_CHECKS, f"{_SQL}SQLColumnCheckOperator",
                  f"{_SQL}SQLTableCheckOperator", f"{_SQL}BaseSQLOperator", f"{_SQL}BranchSQLOperator"]
_DBAPI = ["miniflow.hooks.dbapi:DbApiHook", "miniflow.hooks.dbapi:fetch_all_handler",
          "miniflow.hooks.dbapi:fetch_one_handler"]
_BASE_HOOK = ["miniflow.hooks.base:BaseHook"]
_CONNECTION = ["miniflow.connections:Connection"]
_PG_HOOK = ["miniflow.hooks.postgres:PostgresHook"]
_PG_OPERATOR = [f"{_SQL}PostgresOperator"]
_MYSQL_HOOK = ["miniflow.hooks.mysql:MySqlHook"]
_MYSQL_OPERATOR = [f"{_SQL}MySqlOperator"]
_SQLITE_HOOK = ["miniflow.hooks.sqlite:SqliteHook"]
_SQLITE_OPERATOR = [f"{_SQL}SqliteOperator"]
_HTTP_HOOK = ["miniflow.hooks.http:HttpHook"]
_FS_HOOK = ["miniflow.hooks.filesystem:FSHook"]
_SLACK_HOOK = ["miniflow.hooks.slack:SlackWebhookHook"]
_SLACK_OPERATOR = ["miniflow.operators.slack:SlackWebhookOperator"]
_SUBPROCESS_HOOK = ["miniflow.hooks.subprocess:SubprocessHook", "miniflow.hooks.subprocess:SubprocessResult",
                    "miniflow.hooks.subprocess:working_directory"]
_HTTP_OPERATOR = ["miniflow.operators.http:HttpOperator", "miniflow.operators.http:SimpleHttpOperator"]
_HTTP_SENSOR = ["miniflow.sensors.http:HttpSensor"]
_SQL_SENSOR = ["miniflow.sensors.sql:SqlSensor"]
_CHECKS_1X = [f"{_SQL}SQLCheckOperator:CheckOperator", f"{_SQL}SQLValueCheckOperator:ValueCheckOperator",
              f"{_SQL}SQLIntervalCheckOperator:IntervalCheckOperator",
              f"{_SQL}SQLThresholdCheckOperator:ThresholdCheckOperator"]

# Airflow module -> the miniflow objects it exposes ("module:attribute", or
# "module:attribute:name" where Airflow's name differs).
AIRFLOW_MODULES: dict[str, list[str]] = {
    "airflow": [_DAG, f"{_DS}Dataset", *_XCOM_ARG, "miniflow.exceptions:AirflowException",
                "miniflow.compat_values:__version__"],
    "airflow.models": [_DAG, *_BASE, *_PARAM, *_VARIABLE, *_TI, *_DAG_RUN, *_XCOM_ARG, *_CONNECTION, *_XCOM],
    "airflow.models.dag": [_DAG],
    "airflow.models.baseoperator": _BASE,
    "airflow.models.param": _PARAMS,
    "airflow.models.xcom_arg": [*_XCOM_ARG, "miniflow.xcom:XComArg:PlainXComArg", "miniflow.xcom:_MapXComArg:MapXComArg",
                                "miniflow.xcom:_ZipXComArg:ZipXComArg"],
    "airflow.models.xcom": _XCOM,
    "airflow.models.taskinstance": _TI,
    "airflow.models.dagrun": _DAG_RUN,
    "airflow.triggers.base": [f"miniflow.triggers:{name}" for name in (
        "BaseTrigger", "TriggerEvent", "BaseTaskEndEvent", "TaskSuccessEvent", "TaskFailedEvent", "TaskSkippedEvent")],
    "airflow.triggers.temporal": ["miniflow.triggers:DateTimeTrigger", "miniflow.triggers:TimeDeltaTrigger"],
    "airflow.api.common.trigger_dag": ["miniflow.triggering:trigger_dag"],
    "airflow.api.common.experimental.trigger_dag": ["miniflow.triggering:trigger_dag"],
    "airflow.utils.context": _CONTEXT,
    "airflow.utils.state": _STATE,
    "airflow.configuration": ["miniflow.config:conf"],
    "airflow.timetables.base": _TIMETABLE_BASE,
    "airflow.timetables.trigger": _TRIGGER_TIMETABLES,
    "airflow.timetables.events": [f"{_TT}EventsTimetable"],
    "airflow.timetables.interval": _INTERVAL_TIMETABLES,
    "airflow.timetables.simple": [f"{_TT}NullTimetable", f"{_TT}OnceTimetable", f"{_TT}ContinuousTimetable"],
    "airflow.io.path": _OBJECT_STORAGE,
    "airflow.models.variable": _VARIABLE,
    "airflow.models.mappedoperator": ["miniflow.mapping:MappedOperator"],
    "airflow.datasets": [*_DATASETS, f"{_DS}BaseDataset"],
    "airflow.providers.common.sql.operators.sql": _SQL_OPERATORS,
    "airflow.providers.common.sql.hooks.sql": _DBAPI,
    "airflow.providers.common.sql.sensors.sql": _SQL_SENSOR,
    "airflow.providers.postgres.hooks.postgres": _PG_HOOK,
    "airflow.providers.postgres.operators.postgres": _PG_OPERATOR,
    "airflow.providers.mysql.hooks.mysql": _MYSQL_HOOK,
    "airflow.providers.mysql.operators.mysql": _MYSQL_OPERATOR,
    "airflow.providers.sqlite.hooks.sqlite": _SQLITE_HOOK,
    "airflow.providers.sqlite.operators.sqlite": _SQLITE_OPERATOR,
    "airflow.providers.http.hooks.http": _HTTP_HOOK,
    "airflow.providers.http.operators.http": _HTTP_OPERATOR,
    "airflow.providers.http.sensors.http": _HTTP_SENSOR,
    "airflow.hooks.base": _BASE_HOOK,
    "airflow.hooks.base_hook": _BASE_HOOK,
    "airflow.hooks.dbapi": _DBAPI,
    "airflow.hooks.dbapi_hook": _DBAPI,
    "airflow.hooks.postgres_hook": _PG_HOOK,
    "airflow.hooks.mysql_hook": _MYSQL_HOOK,
    "airflow.hooks.sqlite_hook": _SQLITE_HOOK,
    "airflow.hooks.http_hook": _HTTP_HOOK,
    "airflow.hooks.filesystem": _FS_HOOK,
    "airflow.providers.standard.hooks.filesystem": _FS_HOOK,
    "airflow.operators.postgres_operator": _PG_OPERATOR,
    "airflow.operators.mysql_operator": _MYSQL_OPERATOR,
    "airflow.operators.sqlite_operator": _SQLITE_OPERATOR,
    "airflow.operators.http_operator": _HTTP_OPERATOR,
    "airflow.operators.sql": [*_SQL_OPERATORS[1:], *_CHECKS_1X],
    "airflow.operators.check_operator": [*_SQL_CHECKS, *_CHECKS_1X],
    "airflow.operators.generic_transfer": [f"{_SQL}GenericTransfer"],
    "airflow.providers.common.sql.operators.generic_transfer": [f"{_SQL}GenericTransfer"],
    "airflow.operators.sql_branch_operator": [f"{_SQL}BranchSQLOperator", f"{_SQL}BranchSQLOperator:BranchSqlOperator"],
    "airflow.sensors.http_sensor": _HTTP_SENSOR,
    "airflow.sensors.sql": _SQL_SENSOR,
    "airflow.sensors.sql_sensor": _SQL_SENSOR,
    "airflow.models.connection": _CONNECTION,
    "airflow.operators.latest_only": _LATEST_ONLY,
    "airflow.operators.latest_only_operator": _LATEST_ONLY,
    "airflow.providers.standard.operators.latest_only": _LATEST_ONLY,
    "airflow.operators.trigger_dagrun": _TRIGGER,
    "airflow.operators.dagrun_operator": _TRIGGER,
    "airflow.providers.standard.operators.trigger_dagrun": _TRIGGER,
    "airflow.sensors.external_task": _EXTERNAL,
    "airflow.sensors.external_task_sensor": _EXTERNAL,
    "airflow.providers.standard.sensors.external_task": _EXTERNAL,
    "airflow.datasets.metadata": [f"{_DS}Metadata"],
    "airflow.timetables.datasets": [f"{_DS}DatasetOrTimeSchedule"],
    "airflow.assets": [*_ASSETS],
    "airflow.sdk.definitions.asset": [*_ASSETS],
    "airflow.sdk.definitions.asset.metadata": [f"{_DS}Metadata"],
    "airflow.timetables.assets": [f"{_DS}AssetOrTimeSchedule"],
    # Airflow 3's own modules behind ``airflow.sdk``, which custom operators import.
    "airflow.sdk.bases.operator": _BASE,
    "airflow.sdk.bases.sensor": _SENSOR_BASE,
    "airflow.sdk.bases.hook": _BASE_HOOK,
    "airflow.sdk.definitions.dag": [_DAG, "miniflow.decorators:dag"],
    "airflow.sdk.definitions.decorators": _DECORATORS,
    "airflow.sdk.definitions.taskgroup": _TASK_GROUP,
    "airflow.sdk.definitions.param": _PARAMS,
    "airflow.sdk.definitions.edges": _LABEL,
    "airflow.sdk.definitions.context": [*_CONTEXT, "miniflow.operators.python:get_current_context",
                                        "miniflow.dagbag:get_parsing_context"],
    "airflow.sdk.definitions.variable": _VARIABLE,
    "airflow.sdk.definitions.connection": _CONNECTION,
    "airflow.sdk": [_DAG, *_BASE, *_DECORATORS, *_PARAM, *_VARIABLE, *_TASK_GROUP, *_CONTEXT, *_OBJECT_STORAGE,
                    "miniflow.edge_label:Label", *_ASSETS, f"{_DS}Metadata", *_BASE_HOOK, *_CONNECTION,
                    *_XCOM_ARG, *_TRIGGER_TIMETABLES,
                    *_INTERVAL_TIMETABLES, f"{_TT}EventsTimetable",
                    "miniflow.operators.python:get_current_context", *_NOTIFIER, "miniflow.dagbag:get_parsing_context",
                    *_SENSOR_BASE, *_BRANCH, "miniflow.trigger_rules:TriggerRule", "miniflow.compat_values:WeightRule",
                    "miniflow.state:DagRunState", "miniflow.state:TaskInstanceState", "miniflow.edge_label:EdgeModifier",
                    "miniflow.params:ParamsDict", "miniflow.config:conf", *_TI],
    "airflow.decorators": _DECORATORS,
    "airflow.decorators.condition": ["miniflow.decorators:run_if", "miniflow.decorators:skip_if"],
    "airflow.decorators.task_group": ["miniflow.decorators:task_group"],
    "airflow.decorators.setup_teardown": ["miniflow.decorators:setup", "miniflow.decorators:teardown"],
    "airflow.utils.edgemodifier": _LABEL,
    "airflow.exceptions": ["miniflow.exceptions:*"],
    "airflow.utils.trigger_rule": ["miniflow.trigger_rules:TriggerRule"],
    "airflow.utils.dates": ["miniflow.compat_values:days_ago", "miniflow.macros:datetime", "miniflow.macros:timedelta"],
    "airflow.settings": ["miniflow.compat_values:AIRFLOW_HOME", "miniflow.compat_values:DAGS_FOLDER",
                         "miniflow.db.session:Session"],
    "airflow.utils.session": ["miniflow.db.session:provide_session", "miniflow.db.session:create_session",
                              "miniflow.db.session:NEW_SESSION"],
    "airflow.utils.db": ["miniflow.db.session:provide_session", "miniflow.db.session:create_session",
                         "miniflow.db.session:NEW_SESSION"],
    "airflow.providers.slack.hooks.slack_webhook": _SLACK_HOOK,
    "airflow.contrib.hooks.slack_webhook_hook": _SLACK_HOOK,
    "airflow.providers.slack.operators.slack_webhook": _SLACK_OPERATOR,
    "airflow.contrib.operators.slack_webhook_operator": _SLACK_OPERATOR,
    "airflow.providers.slack.hooks.slack": ["miniflow.hooks.slack:SlackHook"],
    "airflow.contrib.hooks.slack_hook": ["miniflow.hooks.slack:SlackHook"],
    "airflow.providers.slack.operators.slack": ["miniflow.operators.slack:SlackAPIOperator",
                                                "miniflow.operators.slack:SlackAPIPostOperator"],
    "airflow.contrib.operators.slack_operator": ["miniflow.operators.slack:SlackAPIOperator",
                                                 "miniflow.operators.slack:SlackAPIPostOperator"],
    "airflow.operators.slack_operator": ["miniflow.operators.slack:SlackAPIOperator",
                                         "miniflow.operators.slack:SlackAPIPostOperator"],
    "airflow.providers.slack.notifications.slack": ["miniflow.operators.slack:SlackNotifier",
                                                    "miniflow.operators.slack:send_slack_notification"],
    "airflow.providers.slack.notifications.slack_webhook": ["miniflow.operators.slack:SlackWebhookNotifier",
                                                            "miniflow.operators.slack:send_slack_webhook_notification"],
    "airflow.providers.smtp.notifications.smtp": ["miniflow.operators.email:SmtpNotifier",
                                                  "miniflow.operators.email:send_smtp_notification"],
    "airflow.models.baseoperatorlink": ["miniflow.operator_links:BaseOperatorLink"],
    "airflow.models.skipmixin": _SKIP_MIXIN,
    "airflow.providers.standard.utils.skipmixin": _SKIP_MIXIN,
    "airflow.utils.operator_helpers": ["miniflow.context:context_to_airflow_vars"],
    "airflow.utils.module_loading": ["miniflow.compat_values:import_string"],
    "airflow.utils.xcom": ["miniflow.xcom:XCOM_RETURN_KEY"],
    "airflow.version": ["miniflow.compat_values:__version__:version"],
    "airflow.hooks.subprocess": _SUBPROCESS_HOOK,
    "airflow.providers.standard.hooks.subprocess": _SUBPROCESS_HOOK,
    "airflow.utils.helpers": ["miniflow.baseoperator:chain", "miniflow.baseoperator:cross_downstream"],
    "airflow.utils.task_group": _TASK_GROUP,
    "airflow.utils.timezone": ["miniflow.utils.timezone:*"],
    "airflow.sdk.timezone": ["miniflow.utils.timezone:*"],
    "airflow.operators.bash": _BASH,
    "airflow.operators.bash_operator": _BASH,
    "airflow.operators.python": _PYTHON,
    "airflow.operators.python_operator": _PYTHON,
    "airflow.operators.empty": _EMPTY,
    "airflow.operators.dummy": _EMPTY,
    "airflow.operators.dummy_operator": _EMPTY,
    "airflow.providers.standard.operators.bash": _BASH,
    "airflow.providers.standard.operators.python": _PYTHON,
    "airflow.providers.standard.operators.empty": _EMPTY,
    "airflow.providers.standard.sensors.filesystem": _FILE_SENSOR,
    "airflow.providers.standard.sensors.python": _PYTHON_SENSOR,
    "airflow.sensors.filesystem": _FILE_SENSOR,
    "airflow.sensors.python": _PYTHON_SENSOR,
    "airflow.sensors.base": _SENSOR_BASE,
    "airflow.sensors.base_sensor_operator": _SENSOR_BASE,
    "airflow.contrib.sensors.file_sensor": _FILE_SENSOR,
    "airflow.operators.branch": _BRANCH,
    "airflow.operators.branch_operator": _BRANCH,
    "airflow.operators.datetime": _BRANCH_DATETIME,
    "airflow.operators.weekday": _BRANCH_WEEKDAY,
    "airflow.utils.weekday": _WEEKDAY,
    "airflow.sensors.time_delta": _TIME_DELTA_SENSOR,
    "airflow.sensors.time_delta_sensor": _TIME_DELTA_SENSOR,
    "airflow.sensors.time_sensor": _TIME_SENSOR,
    "airflow.sensors.date_time": _DATE_TIME_SENSOR,
    "airflow.sensors.date_time_sensor": _DATE_TIME_SENSOR,
    "airflow.sensors.weekday": _WEEKDAY_SENSOR,
    "airflow.sensors.weekday_sensor": _WEEKDAY_SENSOR,
    "airflow.contrib.sensors.weekday_sensor": _WEEKDAY_SENSOR,
    "airflow.sensors.bash": _BASH_SENSOR,
    "airflow.sensors.bash_sensor": _BASH_SENSOR,
    "airflow.contrib.sensors.bash_sensor": _BASH_SENSOR,
    "airflow.providers.standard.operators.branch": _BRANCH,
    "airflow.providers.standard.operators.datetime": _BRANCH_DATETIME,
    "airflow.providers.standard.operators.weekday": _BRANCH_WEEKDAY,
    "airflow.providers.standard.utils.weekday": _WEEKDAY,
    "airflow.providers.standard.sensors.time_delta": _TIME_DELTA_SENSOR,
    "airflow.providers.standard.sensors.time": _TIME_SENSOR,
    "airflow.providers.standard.sensors.date_time": _DATE_TIME_SENSOR,
    "airflow.providers.standard.sensors.weekday": _WEEKDAY_SENSOR,
    "airflow.providers.standard.sensors.bash": _BASH_SENSOR,
    "airflow.operators.email": _EMAIL,
    "airflow.operators.email_operator": _EMAIL,
    "airflow.providers.smtp.operators.smtp": _EMAIL,
    "airflow.utils.email": ["miniflow.email:send_email"],
    "airflow.notifications.basenotifier": _NOTIFIER,
    "airflow.sdk.bases.notifier": _NOTIFIER,
    "airflow.utils.decorators": ["miniflow.compat_values:apply_defaults"],
    "airflow.utils.log.logging_mixin": ["miniflow.compat_values:LoggingMixin"],
    "airflow.utils.types": ["miniflow.compat_values:DagRunType"],
    "airflow.utils.weight_rule": ["miniflow.compat_values:WeightRule"],
    "airflow.plugins_manager": ["miniflow.compat_values:AirflowPlugin"],
    "airflow.utils.dag_parsing_context": _PARSING_CONTEXT,
    "airflow.macros": [f"miniflow.macros:{name}" for name in
                       ("ds_add", "ds_format", "datetime", "timedelta", "dateutil", "json", "random", "time", "uuid")],
}

# Modules Airflow removed, with what to use instead: importing one fails the file with that advice.
REMOVED_MODULES: dict[str, str] = {
    name: "SubDagOperator was removed in Airflow 3 and miniflow does not provide it; group the tasks "
          "with TaskGroup (from airflow.utils.task_group import TaskGroup) instead"
    for name in ("airflow.operators.subdag", "airflow.operators.subdag_operator")
}
_PACKAGES = {name.rsplit(".", i)[0] for name in AIRFLOW_MODULES for i in range(name.count(".") + 1)}
# Providers named by two parts (apache-airflow-providers-cncf-kubernetes, -microsoft-azure...).
_PROVIDER_NAMESPACES = frozenset({"apache", "atlassian", "cncf", "common", "dbt", "microsoft"})


def _exposed(module: str) -> list[str]:
    names = []
    for ref in AIRFLOW_MODULES[module]:
        source, attr, *alias = ref.split(":")
        names.append(alias[0] if alias else attr)
    return sorted(set(names))


class _AirflowFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        if fullname in REMOVED_MODULES:
            raise UnsupportedAirflowImportError(f"'{fullname}': {REMOVED_MODULES[fullname]}")
        if fullname not in _PACKAGES and fullname.startswith("airflow.providers."):
            parts = fullname.split(".")
            if parts[2] in _PROVIDER_NAMESPACES:
                if len(parts) == 3:  # the next part names the provider: let it be imported
                    return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
                parts = [*parts[:2], f"{parts[2]}.{parts[3]}"]
            package = "apache-airflow-providers-" + parts[2].replace(".", "-").replace("_", "-")
            raise UnsupportedAirflowImportError(
                f"'{fullname}' is not supported by miniflow: it comes from {package}, and miniflow provides "
                "only the providers standard, common.sql, postgres, mysql, sqlite, http, smtp and slack (messages); "
                "see docs/airflow-comparison.md"
            )
        if fullname not in _PACKAGES:
            raise UnsupportedAirflowImportError(
                f"'{fullname}' is not supported by miniflow: it provides Airflow's core API "
                "only (DAG, BashOperator, PythonOperator, EmptyOperator, sensors, @dag/@task, "
                "exceptions, TriggerRule); see docs/airflow-comparison.md"
            )
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []  # a package, so its submodules resolve through this finder

        def submodule(attr: str) -> types.ModuleType:  # ``import airflow; airflow.utils.dates``
            child = f"{spec.name}.{attr}"
            if child in _PACKAGES:
                return importlib.import_module(child)
            if attr.startswith("__") or not AIRFLOW_MODULES.get(spec.name):
                raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")
            raise UnsupportedAirflowImportError(
                f"'{spec.name}.{attr}' is not supported by miniflow: {spec.name} provides "
                f"{', '.join(_exposed(spec.name))} here; see docs/airflow-comparison.md"
            )

        module.__getattr__ = submodule  # type: ignore[method-assign]
        for ref in AIRFLOW_MODULES.get(spec.name, []):
            source, attr, *alias = ref.split(":")
            src = importlib.import_module(source)
            names = getattr(src, "__all__", []) if attr == "*" else [attr]
            for name in names:
                setattr(module, alias[0] if alias else name, getattr(src, name))
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_FINDER = _AirflowFinder()


def install() -> bool:
    """Answer ``airflow`` imports with miniflow, unless the real Airflow is installed."""
    if _FINDER in sys.meta_path:
        return True
    if "airflow" not in sys.modules and importlib.util.find_spec("airflow") is not None:
        return False
    sys.meta_path.insert(0, _FINDER)
    return True
