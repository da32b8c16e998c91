"""BaseSensorOperator: poke until true, in one of two modes.

``mode="poke"`` keeps the worker slot and sleeps between pokes; ``mode="reschedule"``
gives the slot back between pokes (the task waits as ``up_for_reschedule``). Either
way ``timeout`` counts from the first poke of the try; past it the task fails without
retry, or is skipped with ``soft_fail=True``. A poke that raises fails the try, as in
Airflow 2.10: ``silent_fail`` logs it and pokes again, ``never_fail`` skips instead,
and ``soft_fail`` skips too when what it raised fails a try at once (a timeout, the
fail-now exception).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import (
    AirflowException,
    DagDefinitionError,
    SensorTimeoutError,
    TaskFailNow,
    TaskRescheduled,
    TaskSkipped,
    TaskTimeoutError,
)

__all__ = ["BaseSensorOperator", "PokeReturnValue"]


@dataclass
class PokeReturnValue:
    """A poke result that also carries an XCom value for when the sensor succeeds."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


class BaseSensorOperator(BaseOperator):
    ui_color = "#e6f1f2"
    valid_modes = ("poke", "reschedule")

    def __init__(
        self,
        *,
        poke_interval: dt.timedelta | float = 60,
        timeout: dt.timedelta | float = 60 * 60 * 24 * 7,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: dt.timedelta | float | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in self.valid_modes:
            raise DagDefinitionError(
                f"task {self.task_id!r}: sensor mode must be one of {self.valid_modes}, got {mode!r}"
            )
        self.poke_interval = _seconds(poke_interval)
        self.timeout = _seconds(timeout)
        if self.poke_interval < 0 or self.timeout < 0:
            raise DagDefinitionError(f"task {self.task_id!r}: poke_interval and timeout must be >= 0")
        if soft_fail and never_fail:
            raise DagDefinitionError(f"task {self.task_id!r}: soft_fail and never_fail are mutually exclusive")
        self.soft_fail = soft_fail
        # Airflow hands a deferrable sensor's wait to its triggerer; miniflow has none, and
        # waits in reschedule mode instead, which also frees the worker slot between pokes.
        self.deferrable = deferrable
        self.mode = "reschedule" if deferrable else mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = _seconds(max_wait) if max_wait is not None else None
        self.silent_fail = silent_fail
        self.never_fail = never_fail

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: dict[str, Any]) -> Any:
        """After a deferral, as Airflow's sensors: with ``soft_fail`` an error skips."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowException as exc:
            if self.soft_fail:
                raise TaskSkipped(f"Skipping due to soft_fail: {exc}") from exc
            raise

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        """Check the condition once. Not abstract, as in Airflow: a sensor whose
        `execute` defers to a trigger need not poke."""
        raise AirflowException(f"{type(self).__name__} does not override poke()")

    def _next_interval(self, pokes: int, context: dict[str, Any]) -> float:
        if not self.exponential_backoff:
            return self.poke_interval
        # Airflow's deterministic jitter: the same task instance waits the same times.
        key = f"{self.dag_id}#{self.task_id}#{context['logical_date'].isoformat()}#{pokes}"
        jitter = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100 / 100
        wait = min(self.poke_interval * (2 ** pokes) * (1 + jitter), 86400.0)
        return min(wait, self.max_wait) if self.max_wait is not None else wait

    def execute(self, context: dict[str, Any]) -> Any:
        ti = context["ti"]
        started = ti.sensor_started_at()  # the first poke of this try, across reschedules
        pokes = ti.sensor_poke_count()
        while True:
            try:
                result = self.poke(context)
            except (TaskFailNow, TaskTimeoutError) as exc:  # a sensor timeout raised by poke is a TaskFailNow
                if self.soft_fail or self.never_fail:
                    raise TaskSkipped(f"Skipping due to {'soft_fail' if self.soft_fail else 'never_fail'}: "
                                      f"{exc}") from exc
                raise
            except (TaskSkipped, TaskRescheduled):
                raise
            except Exception as exc:
                if self.silent_fail:
                    self.log.exception("Poke failed; silent_fail is set, trying again later")
                    result = False
                elif self.never_fail:
                    raise TaskSkipped(f"Skipping due to never_fail: {type(exc).__name__}: {exc}") from exc
                else:
                    raise
            pokes += 1
            if result:
                self.log.info("Success criteria met. Exiting.")
                return result.xcom_value if isinstance(result, PokeReturnValue) else None
            waited = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
            if waited > self.timeout:
                message = f"Sensor has timed out; run duration of {waited:.1f}s is more than timeout {self.timeout}s"
                if self.soft_fail:
                    raise TaskSkipped(message)
                raise SensorTimeoutError(message)
            interval = self._next_interval(pokes, context)
            if self.mode == "reschedule":
                raise TaskRescheduled(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=interval))
            self.log.info("Condition not met; poking again in %.1f s", interval)
            time.sleep(interval)


def _seconds(value: dt.timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
