"""
### Branching: a weekday path and a weekend path

`choose_path` (a `BranchPythonOperator`) looks at the run's logical date and returns
the task id to follow: `build_report` on Monday to Friday, `compact_storage` on
Saturday and Sunday. The path not chosen is skipped, and the skip flows down it
(`publish_report` is skipped with `build_report`).

`join` waits for whichever path ran. Its trigger rule matters: with the default
`all_success` it would be skipped too (one of its upstreams is always skipped);
`none_failed_min_one_success` runs it when nothing failed and at least one path
succeeded. Try `miniflow dags test branching 2024-01-05` (a Friday) and
`miniflow dags test branching 2024-01-06` (a Saturday).
"""

from __future__ import annotations

import datetime as dt

from miniflow import DAG
from miniflow.operators.bash import BashOperator
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import BranchPythonOperator


def choose_path(logical_date: dt.datetime) -> str:
    return "compact_storage" if logical_date.weekday() >= 5 else "build_report"


with DAG(
    "branching",
    doc_md=__doc__,
    schedule="@daily",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example"],
) as dag:
    branch = BranchPythonOperator(task_id="choose_path", python_callable=choose_path)
    build_report = BashOperator(task_id="build_report", bash_command='echo "weekday report for {{ ds }}"')
    publish_report = BashOperator(task_id="publish_report", bash_command='echo "publishing the {{ ds }} report"')
    compact_storage = BashOperator(task_id="compact_storage", bash_command='echo "weekend compaction on {{ ds }}"')
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    done = BashOperator(task_id="done", bash_command='echo "{{ ds }} finished"')

    branch >> build_report >> publish_report >> join
    branch >> compact_storage >> join
    join >> done
