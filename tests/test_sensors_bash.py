"""miniflow.sensors.bash: BashSensor's exit codes, as Airflow reads them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.sensors.bash import BashSensor
from miniflow.state import TaskInstanceState as TIS

DATE = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)


def _run(store: Any, **sensors: dict[str, Any]) -> dict[str, str]:
    with DAG("bash_sensor", start_date=dt.datetime(2024, 1, 1), schedule=None) as dag:
        for task_id, kwargs in sensors.items():
            BashSensor(task_id=task_id, poke_interval=0, **kwargs)
    result = run_dag_test(dag, DATE, store=store)
    return {ti.task_id: ti.state for ti in result.task_instances}


def test_exit_codes(store, tmp_path: Path) -> None:
    counter = tmp_path / "pokes"
    states = _run(
        store,
        # not done twice (exit 1), then done: any non-zero code means "not yet" by default
        third_time=dict(bash_command=f"echo x >> {counter}; test $(wc -l < {counter}) -ge 3"),
        templated=dict(bash_command="test {{ ds }} = 2024-01-02"),
        hard_fail=dict(bash_command="exit 2", retry_exit_code=1),
        never=dict(bash_command="exit 1", retry_exit_code=1, timeout=0, soft_fail=True),
        own_env=dict(bash_command='test "$ONLY" = yes && test -z "$HOME"', env={"ONLY": "yes", "PATH": "/usr/bin:/bin"}),
    )
    assert states == {"third_time": TIS.SUCCESS, "templated": TIS.SUCCESS, "hard_fail": TIS.FAILED,
                      "never": TIS.SKIPPED, "own_env": TIS.SUCCESS}
    assert counter.read_text().count("x") == 3
