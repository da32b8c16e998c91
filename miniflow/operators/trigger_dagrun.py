"""TriggerDagRunOperator: start a run of another DAG, and on request wait for its end."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException, TaskSkipped

__all__ = ["TriggerDagRunOperator", "XCOM_LOGICAL_DATE_ISO", "XCOM_RUN_ID"]

XCOM_LOGICAL_DATE_ISO = "trigger_execution_date_iso"  # Airflow's XCom keys
XCOM_RUN_ID = "trigger_run_id"


class TriggerDagRunOperator(BaseOperator):
    """Trigger a run of `trigger_dag_id` (with `conf`, at `logical_date`, now by default).

    A run that already exists at that date (or with that id) fails the task, unless
    `reset_dag_run` clears it to run again or `skip_when_already_exists` skips. With
    `wait_for_completion` the task polls every `poke_interval` seconds until the run
    ends in one of `allowed_states` (success by default), and fails if it ends in one
    of `failed_states` (failed by default). The run's id and date are pushed as XCom.
    """

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | dt.datetime | None = None,
        execution_date: str | dt.datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date if logical_date is not None else execution_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = [str(s) for s in (allowed_states or ["success"])]
        self.failed_states = [str(s) for s in (failed_states if failed_states is not None else ["failed"])]
        self.skip_when_already_exists = skip_when_already_exists
        self.deferrable = deferrable  # no triggerer: it waits in its worker slot, polling

    def execute(self, context: dict[str, Any]) -> None:
        from miniflow.state import DagRunState
        from miniflow.triggering import TriggerError, trigger_dag_run

        store = context["ti"].store
        if store is None:
            raise AirflowException("TriggerDagRunOperator needs the metadata DB (it is not run by 'tasks test')")
        when = self._logical_date()
        try:
            json.dumps(self.conf)
        except TypeError as exc:
            raise AirflowException(f"conf of task {self.task_id!r} is not JSON serialisable: {exc}") from None
        run_id = self.trigger_run_id or f"manual__{when.isoformat()}"
        try:
            run = trigger_dag_run(store, self.trigger_dag_id, conf=self.conf, run_id=run_id, logical_date=when,
                                  user=f"{context['dag'].dag_id}.{self.task_id}")
        except TriggerError as exc:
            if exc.status != 409:
                raise AirflowException(f"cannot trigger DAG {self.trigger_dag_id!r}: {exc}") from None
            run = store.find_run(self.trigger_dag_id, when) or store.get_run(self.trigger_dag_id, run_id)
            if self.reset_dag_run and run is not None:
                self.log.info("Clearing %s on %s", self.trigger_dag_id, run.logical_date.isoformat())
                retries = {t["task_id"]: t["retries"] for t in store.serialized_dag(self.trigger_dag_id).data["tasks"]}
                store.clear_tis([(self.trigger_dag_id, run.run_id, r.task_id, retries.get(r.task_id, 0))
                                 for r in store.tis_of_run(self.trigger_dag_id, run.run_id)])
            elif self.skip_when_already_exists:
                raise TaskSkipped(f"DAG {self.trigger_dag_id!r} already has a run at {when.isoformat()}") from None
            else:
                raise AirflowException(str(exc)) from None
        ti = context["ti"]
        ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=run.logical_date.isoformat())
        ti.xcom_push(key=XCOM_RUN_ID, value=run.run_id)
        if not self.wait_for_completion:
            return
        while True:
            self.log.info("Waiting for %s on %s to become allowed state %s ...", self.trigger_dag_id,
                          run.logical_date.isoformat(), self.allowed_states)
            time.sleep(self.poke_interval)
            state = store.get_run(self.trigger_dag_id, run.run_id).state
            if state in self.failed_states:
                raise AirflowException(f"{self.trigger_dag_id} failed with failed states {state}")
            if state in self.allowed_states:
                self.log.info("%s finished with allowed state %s", self.trigger_dag_id, state)
                return
            if state in (DagRunState.SUCCESS, DagRunState.FAILED):
                raise AirflowException(f"{self.trigger_dag_id} ended {state}, which is neither allowed nor failed")

    def _logical_date(self) -> dt.datetime:
        value = self.logical_date
        if isinstance(value, str) and value.strip():
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise AirflowException(f"logical_date {self.logical_date!r} is not an ISO 8601 date") from None
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return dt.datetime.now(dt.timezone.utc)
