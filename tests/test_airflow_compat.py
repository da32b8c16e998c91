"""DAG files written for Airflow 1.x, 2.x and 3.x load unchanged (miniflow.airflow_compat)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miniflow.dagbag import DagBag

# The classic Airflow 1.x tutorial, as people still have it on disk.
AIRFLOW_1_TUTORIAL = """
    from datetime import timedelta

    from airflow import DAG
    from airflow.operators.bash_operator import BashOperator
    from airflow.operators.dummy_operator import DummyOperator
    from airflow.utils.dates import days_ago

    default_args = {
        'owner': 'airflow',
        'depends_on_past': False,
        'start_date': days_ago(2),
        'email': ['airflow@example.com'],
        'email_on_failure': False,
        'email_on_retry': False,
        'retries': 1,
        'retry_delay': timedelta(minutes=5),
    }

    dag = DAG(
        'tutorial',
        default_args=default_args,
        description='A simple tutorial DAG',
        schedule_interval='@daily',
    )

    t1 = BashOperator(
        task_id='print_date',
        bash_command='date',
        dag=dag,
    )

    t2 = BashOperator(
        task_id='sleep',
        depends_on_past=False,
        bash_command='sleep 5',
        retries=3,
        dag=dag,
    )

    templated_command = \"\"\"
    {% for i in range(5) %}
        echo "{{ ds }}"
        echo "{{ macros.ds_add(ds, 7)}}"
        echo "{{ params.my_param }}"
    {% endfor %}
    \"\"\"

    t3 = BashOperator(
        task_id='templated',
        depends_on_past=False,
        bash_command=templated_command,
        params={'my_param': 'Parameter I passed in'},
        dag=dag,
    )

    done = DummyOperator(task_id='done', dag=dag)

    t1 >> t2 >> t3 >> done
"""

AIRFLOW_2 = """
    import pendulum
    from datetime import timedelta

    from airflow import DAG
    from airflow.decorators import task
    from airflow.exceptions import AirflowSkipException, AirflowFailException, AirflowException
    from airflow.models.baseoperator import chain
    from airflow.operators.bash import BashOperator
    from airflow.operators.empty import EmptyOperator
    from airflow.operators.python import PythonOperator, BranchPythonOperator, ShortCircuitOperator
    from airflow.sensors.filesystem import FileSensor
    from airflow.sensors.python import PythonSensor
    from airflow.utils.trigger_rule import TriggerRule

    def _extract(**context):
        if context.get("skip"):
            raise AirflowSkipException("nothing to do")
        return [1, 2, 3]

    with DAG(
        dag_id="airflow2_etl",
        schedule="0 2 * * *",
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        tags=["etl", "v2"],
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    ) as dag:
        wait_file = FileSensor(task_id="wait_file", filepath="/tmp/in.csv", poke_interval=5, timeout=60)
        wait_py = PythonSensor(task_id="wait_py", python_callable=lambda: True, poke_interval=5)
        extract = PythonOperator(task_id="extract", python_callable=_extract)
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "transform")
        gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: True)

        @task
        def transform(rows: list[int]) -> int:
            return sum(rows)

        summed = transform(extract.output)
        load = BashOperator(task_id="load", bash_command="echo {{ ds }}")
        done = EmptyOperator(task_id="done", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

        chain([wait_file, wait_py], extract, branch, summed, gate, load, done)
"""

AIRFLOW_3 = """
    import pendulum

    from airflow.sdk import DAG, chain, dag, task
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.providers.standard.sensors.filesystem import FileSensor

    @dag(schedule="@hourly", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
    def airflow3_taskflow():
        @task
        def extract() -> dict[str, int]:
            return {"a": 1}

        @task
        def load(a: int) -> None:
            print(a)

        begin = EmptyOperator(task_id="begin")
        begin >> load(extract()["a"])

    airflow3_taskflow()

    with DAG("airflow3_classic", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
        wait = FileSensor(task_id="wait", filepath="/tmp/x")
        py = PythonOperator(task_id="py", python_callable=print)
        sh = BashOperator(task_id="sh", bash_command="echo 3")
        chain(wait, py, sh)
"""

EXPECTED = {
    "airflow1_tutorial.py": {
        "tutorial": {
            "print_date": ("BashOperator", [], ["sleep"]),
            "sleep": ("BashOperator", ["print_date"], ["templated"]),
            "templated": ("BashOperator", ["sleep"], ["done"]),
            "done": ("EmptyOperator", ["templated"], []),
        },
    },
    "airflow2_etl.py": {
        "airflow2_etl": {
            "wait_file": ("FileSensor", [], ["extract"]),
            "wait_py": ("PythonSensor", [], ["extract"]),
            "extract": ("PythonOperator", ["wait_file", "wait_py"], ["branch", "transform"]),
            "branch": ("BranchPythonOperator", ["extract"], ["transform"]),
            "transform": (None, ["branch", "extract"], ["gate"]),
            "gate": ("ShortCircuitOperator", ["transform"], ["load"]),
            "load": ("BashOperator", ["gate"], ["done"]),
            "done": ("EmptyOperator", ["load"], []),
        },
    },
    "airflow3_dags.py": {
        "airflow3_taskflow": {
            "begin": ("EmptyOperator", [], ["load"]),
            "extract": (None, [], ["load"]),
            "load": (None, ["begin", "extract"], []),
        },
        "airflow3_classic": {
            "wait": ("FileSensor", [], ["py"]),
            "py": ("PythonOperator", ["wait"], ["sh"]),
            "sh": ("BashOperator", ["py"], []),
        },
    },
}
SOURCES = {"airflow1_tutorial.py": AIRFLOW_1_TUTORIAL, "airflow2_etl.py": AIRFLOW_2, "airflow3_dags.py": AIRFLOW_3}


@pytest.mark.parametrize("filename", sorted(SOURCES))
def test_airflow_dag_file_loads_through_the_dagbag(filename: str, write_dag, dags_folder: Path) -> None:
    path = write_dag(filename, SOURCES[filename])
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}, bag.import_errors
    assert bag.dag_ids == sorted(EXPECTED[filename])
    for dag_id, tasks in EXPECTED[filename].items():
        dag = bag.get_dag(dag_id)
        assert dag.fileloc == str(path.resolve())
        assert sorted(dag.task_ids) == sorted(tasks)
        for task_id, (operator, upstream, downstream) in tasks.items():
            task = dag.get_task(task_id)
            if operator is not None:
                assert type(task).__name__ == operator, task_id
            assert sorted(task.upstream_task_ids) == upstream, task_id
            assert sorted(task.downstream_task_ids) == downstream, task_id


@pytest.mark.parametrize("filename", sorted(SOURCES))
def test_airflow_dag_file_shows_up_in_the_cli(filename: str, write_dag, run_cli) -> None:
    write_dag(filename, SOURCES[filename])
    listed = run_cli("dags", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(row["dag_id"] for row in json.loads(listed.stdout)) == sorted(EXPECTED[filename])
    for dag_id, tasks in EXPECTED[filename].items():
        result = run_cli("tasks", "list", dag_id, "--output", "json")
        assert result.returncode == 0, result.stderr
        rows = {row["task_id"]: row for row in json.loads(result.stdout)}
        assert set(rows) == set(tasks)
        for task_id, (operator, upstream, downstream) in tasks.items():
            if operator is not None:
                assert rows[task_id]["operator"] == operator
            assert rows[task_id]["upstream"] == upstream
            assert rows[task_id]["downstream"] == downstream


def test_airflow_1_tutorial_details(write_dag, dags_folder: Path) -> None:
    write_dag("tutorial.py", AIRFLOW_1_TUTORIAL)
    dag = DagBag(dags_folder).get_dag("tutorial")
    assert dag.schedule_interval == "@daily"
    assert dag.description == "A simple tutorial DAG"
    assert dag.start_date is not None and dag.start_date.utcoffset().total_seconds() == 0
    assert (dag.start_date.hour, dag.start_date.minute) == (0, 0)  # days_ago(2) is a midnight
    sleep, templated = dag.get_task("sleep"), dag.get_task("templated")
    assert sleep.retries == 3 and dag.get_task("print_date").retries == 1
    assert sleep.email_on_failure is False
    assert templated.params["my_param"] == "Parameter I passed in"


def test_airflow_1_tutorial_default_args_reach_the_dummy_operator(write_dag, dags_folder: Path) -> None:
    write_dag("tutorial.py", AIRFLOW_1_TUTORIAL)
    done = DagBag(dags_folder).get_dag("tutorial").get_task("done")
    assert (done.retries, done.email_on_failure, done.retry_delay.total_seconds()) == (1, False, 300)


def test_provide_context_as_airflow_2_takes_it(write_dag, dags_folder: Path) -> None:
    template = """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.python import PythonOperator

        with DAG("{dag_id}", start_date=datetime(2024, 1, 1), default_args={{"provide_context": False}}) as dag:
            PythonOperator(task_id="t", python_callable=print{extra})
    """
    write_dag("defaults.py", template.format(dag_id="in_defaults", extra=""))
    write_dag("true.py", template.format(dag_id="true", extra=", provide_context=True"))
    write_dag("false.py", template.format(dag_id="false", extra=", provide_context=False"))
    with pytest.warns(DeprecationWarning, match="provide_context is deprecated"):
        bag = DagBag(dags_folder)
    assert bag.dag_ids == ["in_defaults", "true"]
    [error] = bag.import_errors.values()
    assert "invalid argument(s) passed to PythonOperator: provide_context" in str(error)


def test_airflow_2_details(write_dag, dags_folder: Path) -> None:
    write_dag("etl.py", AIRFLOW_2)
    dag = DagBag(dags_folder).get_dag("airflow2_etl")
    assert dag.catchup is False
    assert dag.tags == ["etl", "v2"]
    assert str(dag.get_task("done").trigger_rule) == "none_failed_min_one_success"
    assert dag.get_task("load").retries == 2
    assert dag.start_date is not None and dag.start_date.isoformat() == "2024-01-01T00:00:00+00:00"


def test_airflow_exceptions_are_miniflows(write_dag, dags_folder: Path) -> None:
    write_dag("exc.py", """
        from datetime import datetime
        from airflow import DAG
        import warnings
        from airflow.configuration import conf
        from airflow.exceptions import AirflowException, AirflowSkipException, AirflowFailException
        from airflow.exceptions import AirflowConfigException, AirflowBadRequest, ParamValidationError
        from airflow.exceptions import TaskNotFound, DagNotFound, AirflowDagCycleException
        from airflow.exceptions import RemovedInAirflow3Warning, AirflowProviderDeprecationWarning
        from miniflow.exceptions import MiniflowError, TaskSkipped, TaskFailNow

        assert issubclass(AirflowException, MiniflowError)
        assert AirflowSkipException is TaskSkipped
        assert AirflowFailException is TaskFailNow
        assert issubclass(AirflowBadRequest, AirflowException)
        assert issubclass(AirflowProviderDeprecationWarning, DeprecationWarning)
        try:
            conf.get("core", "no_such_option")
            raise AssertionError("conf.get of an unknown option did not raise")
        except AirflowConfigException as exc:
            assert "no_such_option" in str(exc)
        warnings.filterwarnings("ignore", category=RemovedInAirflow3Warning)

        dag = DAG("exceptions_ok", start_date=datetime(2024, 1, 1))
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["exceptions_ok"]


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow; airflow.utils.dates.days_ago(1)",
        "from airflow.models import DAG, BaseOperator, Variable, Param",
        "from airflow.models.dag import DAG",
        "from airflow.operators.python_operator import PythonOperator",
        "from airflow.operators.dummy import DummyOperator",
        "from airflow.utils.helpers import chain, cross_downstream",
        "from airflow.utils.task_group import TaskGroup",
        "from airflow.sensors.base import BaseSensorOperator, PokeReturnValue",
        "from airflow.contrib.sensors.file_sensor import FileSensor",
        "from airflow.providers.standard.sensors.python import PythonSensor",
        "from airflow.sdk import TaskGroup, Param, Variable, get_current_context",
        "import airflow; assert airflow.__version__.startswith('2.')",
        "from airflow.models.xcom_arg import XComArg",
        "from airflow.models.param import Param, ParamsDict",
        "from airflow.models import TaskInstance, DagRun, XComArg",
        "from airflow.models.taskinstance import TaskInstance",
        "from airflow.models.dagrun import DagRun",
        "from airflow.utils.context import Context",
        "from airflow.sdk import Context, PokeReturnValue, ObjectStoragePath",
        "from airflow.utils.state import State, TaskInstanceState, DagRunState; assert State.SUCCESS == 'success'",
        "from airflow.configuration import conf; assert conf.getint('core', 'parallelism') > 0",
        "from airflow.timetables.base import Timetable, DataInterval, DagRunInfo, TimeRestriction",
        "from airflow.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable, "
        "MultipleCronTriggerTimetable",
        "from airflow.timetables.events import EventsTimetable",
        "from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable",
        "from airflow.timetables.simple import NullTimetable, OnceTimetable",
        "from airflow.io.path import ObjectStoragePath",
        "from airflow.macros import ds_add, ds_format, datetime as dt_class; "
        "assert (ds_add('2024-01-05', -4), ds_format('2024-01-05', '%Y-%m-%d', '%d/%m')) == ('2024-01-01', '05/01')",
        "from airflow.utils.weight_rule import WeightRule; from airflow.operators.empty import EmptyOperator; "
        "assert str(EmptyOperator(task_id='w', weight_rule=WeightRule.ABSOLUTE).weight_rule) == 'absolute'",
        "from airflow.utils.types import DagRunType; "
        "assert DagRunType.MANUAL == 'manual' and DagRunType('backfill') is DagRunType.BACKFILL_JOB",
        "from airflow import Dataset, XComArg, AirflowException; from airflow.datasets import Dataset as D; "
        "from airflow.exceptions import AirflowException as E; assert (Dataset, AirflowException) == (D, E)",
        "from airflow.operators.sql_branch_operator import BranchSqlOperator; "
        "from airflow.operators.check_operator import IntervalCheckOperator, SQLIntervalCheckOperator; "
        "from airflow.providers.common.sql.operators.sql import BranchSQLOperator; "
        "assert BranchSqlOperator is BranchSQLOperator and IntervalCheckOperator is SQLIntervalCheckOperator",
        "from airflow.plugins_manager import AirflowPlugin; assert AirflowPlugin.timetables == []",
        "from airflow.operators.generic_transfer import GenericTransfer",
        "from airflow.utils import timezone; "
        "assert timezone.parse('2024-01-02 03:00').isoformat() == '2024-01-02T03:00:00+00:00'",
        "from airflow.sdk import timezone, BaseSensorOperator, TriggerRule, WeightRule, DagRunState, EdgeModifier, conf",
        "from airflow.utils.dag_parsing_context import get_parsing_context; "
        "from airflow.sdk import get_parsing_context as sdk_context; "
        "assert get_parsing_context() == sdk_context() == (None, None)",
        "from airflow.notifications.basenotifier import BaseNotifier; from airflow.sdk import BaseNotifier as B; "
        "assert B is BaseNotifier",
        "from airflow.version import version; from packaging.version import Version; "
        "assert Version(version).release[:2] == (2, 10)",
        "from airflow.utils.module_loading import import_string; "
        "assert import_string('airflow.operators.bash.BashOperator').__name__ == 'BashOperator'",
        "from airflow.utils.xcom import XCOM_RETURN_KEY; assert XCOM_RETURN_KEY == 'return_value'",
        "from airflow.hooks.subprocess import SubprocessHook, SubprocessResult; "
        "from airflow.providers.standard.hooks.subprocess import SubprocessHook as S; assert S is SubprocessHook",
        "from airflow.utils.operator_helpers import context_to_airflow_vars",
        "from airflow.sdk.bases.operator import BaseOperator; from airflow.sdk.bases.sensor import BaseSensorOperator; "
        "from airflow.sdk.bases.hook import BaseHook; from airflow.sdk.definitions.dag import DAG as D, dag; "
        "from airflow.sdk.definitions.context import Context, get_current_context; "
        "from airflow.providers.standard.utils.skipmixin import SkipMixin; assert D is DAG",
        "from airflow.providers.smtp.notifications.smtp import send_smtp_notification, SmtpNotifier; "
        "assert send_smtp_notification is SmtpNotifier",
        "from airflow.providers.slack.operators.slack_webhook import SlackWebhookOperator; "
        "from airflow.contrib.operators.slack_webhook_operator import SlackWebhookOperator as C; "
        "from airflow.providers.slack.notifications.slack_webhook import send_slack_webhook_notification; "
        "from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook; "
        "assert C is SlackWebhookOperator and SlackWebhookHook.conn_type == 'slackwebhook'",
        "from airflow.models.xcom_arg import PlainXComArg, MapXComArg, ZipXComArg, XComArg; "
        "from airflow.operators.empty import EmptyOperator; "
        "assert isinstance(EmptyOperator(task_id='o').output, PlainXComArg) and issubclass(MapXComArg, XComArg)",
    ],
)
def test_other_core_import_paths(statement: str, write_dag, dags_folder: Path) -> None:
    write_dag("paths.py", f"""
        from datetime import datetime
        from airflow import DAG
        {statement}

        dag = DAG("paths_ok", start_date=datetime(2024, 1, 1))
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}, bag.import_errors
    assert bag.dag_ids == ["paths_ok"]


def test_an_airflow_1_custom_operator_with_apply_defaults_and_a_logging_mixin(write_dag, dags_folder: Path) -> None:
    write_dag("custom.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.models import BaseOperator
        from airflow.utils.decorators import apply_defaults
        from airflow.utils.log.logging_mixin import LoggingMixin

        class Greeter(LoggingMixin):
            def greet(self):
                self.log.info("hello")
                return self.log.name

        class GreetOperator(BaseOperator):
            @apply_defaults
            def __init__(self, name, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.name = name

            def execute(self, context):
                return Greeter().greet()

        with DAG("custom_ok", start_date=datetime(2024, 1, 1), default_args={"retries": 2}) as dag:
            GreetOperator(task_id="greet", name="ana")
    """)
    with pytest.warns(DeprecationWarning, match="apply_defaults"):
        bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    task = bag.get_dag("custom_ok").get_task("greet")
    assert (task.name, task.retries) == ("ana", 2)  # default_args still reach it
    assert task.execute({}).endswith(".Greeter")


@pytest.mark.parametrize(
    "module",
    [
        "airflow.providers.amazon.aws.operators.s3",
        "airflow.providers.mssql.operators.mssql",
        "airflow.operators.docker_operator",
        "airflow.contrib.hooks.gcs_hook",
    ],
)
def test_unsupported_airflow_import_is_an_error_naming_the_module(
    module: str, write_dag, dags_folder: Path,
) -> None:
    write_dag("good.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("still_good", start_date=datetime(2024, 1, 1)) as dag:
            BashOperator(task_id="t", bash_command="echo")
    """)
    path = write_dag("provider.py", f"""
        from datetime import datetime
        from airflow import DAG
        import {module}

        dag = DAG("provider", start_date=datetime(2024, 1, 1))
    """)
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["still_good"]
    error = bag.import_errors[str(path.resolve())]
    assert error.lineno == 4
    # The message names the first unsupported package of the dotted path.
    top = module.split(".")
    named = [".".join(top[:i]) for i in range(2, len(top) + 1)]
    assert any(f"'{name}'" in error.message for name in named), error.message
    assert "not supported" in error.message


@pytest.mark.parametrize(("module", "package"), [
    ("airflow.providers.amazon.aws.hooks.s3", "apache-airflow-providers-amazon"),
    ("airflow.providers.cncf.kubernetes.operators.pod", "apache-airflow-providers-cncf-kubernetes"),
    ("airflow.providers.microsoft.azure.hooks.wasb", "apache-airflow-providers-microsoft-azure"),
    ("airflow.providers.apache.spark.operators.spark_submit", "apache-airflow-providers-apache-spark"),
    ("airflow.providers.common.io.operators.file_transfer", "apache-airflow-providers-common-io"),
])
def test_an_unsupported_provider_is_named_by_its_package(module: str, package: str, write_dag,
                                                         dags_folder: Path) -> None:
    """Providers under a namespace (apache, cncf, microsoft...) are named by two parts."""
    path = write_dag("provider.py", f"from airflow import DAG\nimport {module}\n")
    message = DagBag(dags_folder).import_errors[str(path.resolve())].message
    assert f"comes from {package}, and" in message, message


def test_a_name_miniflow_lacks_in_a_supported_module_is_named_in_full(write_dag, dags_folder: Path) -> None:
    path = write_dag("missing_name.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.utils.state import NoSuchState

        dag = DAG("missing_name", start_date=datetime(2024, 1, 1))
    """)
    error = DagBag(dags_folder).import_errors[str(path.resolve())]
    assert error.lineno == 4
    assert "UnsupportedAirflowImportError: 'airflow.utils.state.NoSuchState' is not supported" in error.message
    assert "DagRunState, State, TaskInstanceState" in error.message


def test_a_timetable_dag_from_airflow_runs_at_its_ticks(write_dag, dags_folder: Path) -> None:
    write_dag("trigger_tt.py", """
        import pendulum
        from airflow import DAG
        from airflow.operators.empty import EmptyOperator
        from airflow.timetables.trigger import CronTriggerTimetable

        with DAG("trigger_tt", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
                 schedule=CronTriggerTimetable("0 6 * * 1-5", timezone="UTC"), catchup=True) as dag:
            EmptyOperator(task_id="t")
    """)
    import datetime as dt

    from miniflow.timetables import due_runs

    dag = DagBag(dags_folder).get_dag("trigger_tt")
    runs = due_runs(dag.timetable, dag.time_restriction, dt.datetime(2024, 1, 8, 6, tzinfo=dt.timezone.utc))
    assert [r.logical_date.isoformat() for r in runs] == [
        f"2024-01-0{d}T06:00:00+00:00" for d in (1, 2, 3, 4, 5, 8)]


def test_unsupported_import_shows_in_cli_import_errors(write_dag, run_cli) -> None:
    path = write_dag("s3.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator

        dag = DAG("s3", start_date=datetime(2024, 1, 1))
    """)
    result = run_cli("dags", "list-import-errors", "--output", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    assert rows[0]["filepath"] == str(path.resolve())
    assert rows[0]["lineno"] == 4
    assert "airflow.providers.amazon" in rows[0]["error"]


AIRFLOW_TIME_AND_BRANCH = """
    import datetime

    import pendulum
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator
    from airflow.operators.weekday import BranchDayOfWeekOperator
    from airflow.operators.datetime import BranchDateTimeOperator
    from airflow.sensors.bash import BashSensor
    from airflow.sensors.date_time import DateTimeSensorAsync
    from airflow.sensors.time_delta import TimeDeltaSensor
    from airflow.sensors.weekday import DayOfWeekSensor
    from airflow.utils.weekday import WeekDay

    with DAG("time_and_branch", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             schedule="@daily", catchup=False) as dag:
        settled = TimeDeltaSensor(task_id="settled", delta=datetime.timedelta(hours=1))
        at_eleven = DateTimeSensorAsync(task_id="at_eleven",
                                        target_time="{{ data_interval_end.replace(hour=11) }}")
        ready = BashSensor(task_id="ready", bash_command="test -n '{{ ds }}'", poke_interval=1)
        weekday = DayOfWeekSensor(task_id="weekday", week_day={WeekDay.SATURDAY},
                                  use_task_logical_date=True, mode="reschedule")
        which_day = BranchDayOfWeekOperator(
            task_id="which_day", week_day={"Saturday", "Sunday"}, use_task_logical_date=True,
            follow_task_ids_if_true="weekend", follow_task_ids_if_false="workday")
        morning = BranchDateTimeOperator(
            task_id="morning", target_lower=datetime.time(0), target_upper=datetime.time(11),
            use_task_logical_date=True, follow_task_ids_if_true="early", follow_task_ids_if_false="late")
        sensors = [settled, at_eleven, ready, weekday]
        sensors >> which_day >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="workday")]
        sensors >> morning >> [EmptyOperator(task_id="early"), EmptyOperator(task_id="late")]
"""


def test_time_sensors_and_branches_from_an_airflow_file(write_dag, run_cli) -> None:
    """The final states that Airflow 2.10.5's semantics give this run (logical date Saturday 2024-01-06)."""
    write_dag("time_and_branch.py", AIRFLOW_TIME_AND_BRANCH)
    assert run_cli("db", "migrate").returncode == 0
    done = run_cli("dags", "test", "time_and_branch", "2024-01-06", "--output", "json")
    assert done.returncode == 0, done.stderr
    states = {ti["task_id"]: ti["state"] for ti in json.loads(done.stdout)}
    assert states == {
        "settled": "success", "at_eleven": "success", "ready": "success", "weekday": "success",
        "which_day": "success", "weekend": "success", "workday": "skipped",
        "morning": "success", "early": "success", "late": "skipped",
    }


@pytest.mark.parametrize("module", ["airflow.operators.subdag", "airflow.operators.subdag_operator"])
def test_subdag_operator_is_a_one_line_error_naming_task_group(module: str, write_dag, dags_folder: Path) -> None:
    path = write_dag("subdag.py", f"""
        from datetime import datetime
        from airflow import DAG
        from {module} import SubDagOperator

        dag = DAG("with_subdag", start_date=datetime(2024, 1, 1))
    """)
    error = DagBag(dags_folder).import_errors[str(path.resolve())]
    assert error.lineno == 4
    assert "\n" not in error.message
    assert error.message.startswith(f"UnsupportedAirflowImportError: '{module}': SubDagOperator was removed")
    assert "TaskGroup" in error.message


def test_email_names_load_from_airflow_paths(write_dag, dags_folder: Path) -> None:
    write_dag("mail_paths.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.email import EmailOperator
        from airflow.operators.email_operator import EmailOperator as Old
        from airflow.providers.smtp.operators.smtp import EmailOperator as New
        from airflow.utils.email import send_email

        assert EmailOperator is Old is New and callable(send_email)
        with DAG("mail_paths", start_date=datetime(2024, 1, 1), default_args={"email": ["a@example.com"]}) as dag:
            EmailOperator(task_id="m", to="a@example.com", subject="s", html_content="h")
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.get_dag("mail_paths").get_task("m").email == ["a@example.com"]


def test_a_deferrable_sensor_waits_in_reschedule_mode() -> None:
    """No triggerer: ``deferrable=True`` (Airflow's example_sensors uses it on FileSensor)
    makes the sensor reschedule, which frees its worker slot between pokes as deferral does."""
    from miniflow import DAG
    from miniflow.sensors.filesystem import FileSensor

    with DAG("deferred", schedule=None):
        waiting = FileSensor(task_id="wait", filepath="/tmp/in.csv", deferrable=True)
        poking = FileSensor(task_id="poke", filepath="/tmp/in.csv")
    assert (waiting.mode, waiting.deferrable, poking.mode) == ("reschedule", True, "poke")


XCOM_MODEL_DAG = """
    from datetime import datetime
    from airflow import DAG
    from airflow.models import XCom
    from airflow.models.xcom import XCOM_RETURN_KEY
    from airflow.operators.python import PythonOperator

    def produce(**context):
        XCom.set("extra", {"n": 1}, task_id="produce", dag_id="xcom_model", run_id=context["run_id"])
        return 41

    def consume(**context):
        run_id, date = context["run_id"], context["logical_date"]
        got = XCom.get_one(run_id=run_id, dag_id="xcom_model", task_id="produce", key=XCOM_RETURN_KEY)
        extra = XCom.get_one(execution_date=date, dag_id="xcom_model", task_id="produce", key="extra")
        XCom.clear(dag_id="xcom_model", task_id="produce", run_id=run_id)
        gone = XCom.get_one(run_id=run_id, dag_id="xcom_model", task_id="produce")
        earlier = XCom.get_one(run_id=run_id, dag_id="xcom_model", task_id="consume", include_prior_dates=True)
        return [got + 1, extra, gone, earlier and earlier[0]]

    with DAG("xcom_model", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        PythonOperator(task_id="produce", python_callable=produce) >> PythonOperator(
            task_id="consume", python_callable=consume)
"""


def test_the_xcom_model_sets_gets_and_clears_values_from_task_code(store, write_dag, dags_folder: Path) -> None:
    import datetime as dt

    from miniflow.dag_test import run_dag_test
    from miniflow.taskinstancekey import TaskInstanceKey
    from miniflow.xcom import XCom

    write_dag("xcom_model.py", XCOM_MODEL_DAG)
    dag = DagBag(dags_folder).get_dag("xcom_model")
    first = run_dag_test(dag, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), store=store)
    assert first.state == "success"
    [value] = store.xcom_pull("xcom_model", first.run_id, ["consume"], "return_value")
    assert json.loads(value.value) == [42, {"n": 1}, None, None]  # no earlier run to fall back on

    second = run_dag_test(dag, dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), store=store)
    [value] = store.xcom_pull("xcom_model", second.run_id, ["consume"], "return_value")
    assert json.loads(value.value) == [42, {"n": 1}, None, 42]  # the first run's consume, found by prior dates
    key = TaskInstanceKey("xcom_model", first.run_id, "consume", -1)
    assert XCom.get_value(ti_key=key) == [42, {"n": 1}, None, None]
    with pytest.raises(ValueError, match="exactly one of run_id and execution_date"):
        XCom.get_one(dag_id="xcom_model", task_id="consume")
    with pytest.raises(ValueError, match="has no run 'nope'"):
        XCom.set("k", 1, task_id="consume", dag_id="xcom_model", run_id="nope")


SESSION_DAG = """
from datetime import datetime
from sqlalchemy import text
from airflow import DAG, settings
from airflow.decorators import task
from airflow.models import TaskInstance
from airflow.settings import AIRFLOW_HOME, DAGS_FOLDER, Session
from airflow.utils.session import NEW_SESSION, create_session, provide_session

@provide_session
def runs_of(dag_id, session=NEW_SESSION):
    return session.execute(text("SELECT count(*) FROM dag_run WHERE dag_id = :d"), {"d": dag_id}).scalar()

with DAG("orm_session", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    @task
    def count():
        return [runs_of("orm_session"), AIRFLOW_HOME, DAGS_FOLDER]

    @task
    def write():
        with create_session() as session:
            session.execute(text("INSERT INTO variable (key, val) VALUES ('from_orm', 'yes')"))
        assert settings.Session() is Session()  # one session per thread

    @task(retries=0)
    def query_models():
        return Session().query(TaskInstance).count()

    count() >> write() >> query_models()
"""


def test_task_code_gets_orm_sessions_on_the_metadata_db(store, write_dag, dags_folder: Path, miniflow_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import sys

    monkeypatch.delitem(sys.modules, "airflow.settings", raising=False)  # its paths are read at import

    from miniflow.dag_test import run_dag_test
    from miniflow.variables import Variable

    write_dag("orm_session.py", SESSION_DAG)
    dag = DagBag(dags_folder).get_dag("orm_session")
    result = run_dag_test(dag, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), store=store)
    states = {ti.task_id: ti.state for ti in result.task_instances}
    assert states == {"count": "success", "write": "success", "query_models": "failed"}
    [value] = store.xcom_pull("orm_session", result.run_id, ["count"], "return_value")
    assert json.loads(value.value) == [1, str(miniflow_home), str(dags_folder)]
    assert Variable.get("from_orm") == "yes"
    log = (miniflow_home / "logs" / "orm_session" / result.run_id / "query_models" / "attempt=1.log").read_text()
    assert "session.query(TaskInstance): miniflow.taskinstance.TaskInstance is not an ORM model" in log


def test_provide_session_needs_a_session_parameter() -> None:
    from miniflow.db.session import provide_session

    with pytest.raises(TypeError, match="no 'session' parameter"):
        provide_session(lambda x: x)


def test_names_real_dag_files_import_from_airflow_utils_dates_and_the_sdk_decorators(
        write_dag, dags_folder: Path) -> None:
    write_dag("dates.py", """
        from airflow import DAG
        from airflow.sdk.definitions.decorators import task
        from airflow.utils.dates import datetime, days_ago, timedelta

        with DAG("dates", start_date=datetime(2024, 1, 1), dagrun_timeout=timedelta(hours=1)):
            task(lambda: None, task_id="t")()
    """)
    bag = DagBag(dags_folder)
    assert not bag.import_errors and bag.dag_ids == ["dates"]


def test_a_variable_that_is_not_set_is_a_key_error_as_in_airflow_2(sqlite_url: str, write_dag,
                                                                   dags_folder: Path) -> None:
    """DAG files fall back with ``except KeyError:`` (Airflow 2's Variable.get raises it)."""
    write_dag("fallback.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models import Variable

        try:
            Variable.get("no_such_variable")
        except KeyError as exc:
            assert isinstance(exc, AirflowNotFoundException)
            assert str(exc).startswith("Variable 'no_such_variable' does not exist")
            dag_id = "fell_back"
        dag = DAG(dag_id, start_date=datetime(2024, 1, 1))
    """)
    bag = DagBag(dags_folder)
    assert not bag.import_errors and bag.dag_ids == ["fell_back"]
