"""Every error miniflow raises, in one flat module.

User errors (a bad DAG file, a bad config value) derive from `MiniflowError` and say
what is wrong, where, and what to do next. Control-flow signals that task code raises
to steer its own outcome (skip, fail now) are kept apart at the bottom: they are not
errors of miniflow's.

The Airflow names (`AirflowException`, `AirflowSkipException`, ...) are aliases, so
DAG files written for Airflow catch and raise the same classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "MiniflowError",
    "DagDefinitionError",
    "DagCycleError",
    "DuplicateTaskIdError",
    "DuplicateDagIdError",
    "InvalidIdError",
    "InvalidScheduleError",
    "InvalidTriggerRuleError",
    "TaskAlreadyInDagError",
    "UnknownArgumentError",
    "DagFileImportError",
    "UnsupportedAirflowImportError",
    "DagNotFoundError",
    "TaskNotFoundError",
    "UnknownPoolError",
    "VariableNotFoundError",
    "ConfigError",
    "DatabaseNotReadyError",
    "TemplateError",
    "XComSerializationError",
    "TaskTimeoutError",
    "SensorTimeoutError",
    "TaskSkipped",
    "TaskFailNow",
    "TaskRescheduled",
    "TaskDeferred",
    "TaskDeferralError",
    "AirflowRescheduleException",
    "AirflowException",
    "AirflowSkipException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowTaskTimeout",
    "AirflowNotFoundException",
    "AirflowBadRequest",
    "DagRunAlreadyExists",
    "AirflowConfigException",
    "DagNotFound",
    "TaskNotFound",
    "ParamValidationError",
    "RemovedInAirflow3Warning",
    "AirflowProviderDeprecationWarning",
    "AirflowDagCycleException",
    "DagCycleException",
    "DuplicateTaskIdFound",
    "AirflowDagDuplicatedIdException",
]


class MiniflowError(Exception):
    """Base class of every miniflow error."""


class DagDefinitionError(MiniflowError, ValueError):
    """A DAG or task is defined wrongly; raised while the DAG file is built."""


class DagCycleError(DagDefinitionError):
    """The dependencies form a cycle; `cycle` lists it in order, first node repeated last."""

    def __init__(self, dag_id: str, cycle: list[str], fileloc: str = "", lineno: int | None = None) -> None:
        self.dag_id = dag_id
        self.cycle = cycle
        self.lineno = lineno  # of the edge that closed the cycle
        where = f"{fileloc}: " if fileloc else ""
        closed = f" (closed by {cycle[-2]} >> {cycle[-1]} at line {lineno})" if lineno else ""
        super().__init__(f"{where}DAG {dag_id!r} has a cycle: {' -> '.join(cycle)}{closed}")


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks of one DAG share an id."""


class DuplicateDagIdError(DagDefinitionError):
    """Two DAG files define the same dag_id; `lineno` is the second ``DAG(...)`` call."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        self.lineno = lineno
        super().__init__(message)


class InvalidIdError(DagDefinitionError):
    """A dag_id or task_id holds characters other than letters, digits, '-', '_' and '.'."""


class InvalidScheduleError(DagDefinitionError):
    """A schedule that is neither a cron expression, a preset, a timedelta nor None."""


class InvalidTriggerRuleError(DagDefinitionError):
    """A trigger_rule that is not one of `TriggerRule`'s values."""


class TaskAlreadyInDagError(DagDefinitionError):
    """A task object was added to a second DAG."""


class UnknownArgumentError(DagDefinitionError, TypeError):
    """An operator was given an argument it does not take."""


class DagFileImportError(MiniflowError):
    """A DAG file could not be loaded; carries the file and line for the import-error list."""

    def __init__(self, filepath: str, message: str, lineno: int | None = None) -> None:
        self.filepath = filepath
        self.lineno = lineno
        self.message = message
        where = f"{filepath}:{lineno}" if lineno else filepath
        super().__init__(f"{where}: {message}")


class UnsupportedAirflowImportError(MiniflowError, ImportError):
    """A DAG file imports a part of Airflow that miniflow does not provide."""


class DagNotFoundError(MiniflowError, LookupError):
    """No DAG with that id was loaded."""


class TaskNotFoundError(MiniflowError, LookupError):
    """The DAG has no task with that id."""


class UnknownPoolError(MiniflowError, LookupError):
    """A task names a pool that does not exist (backfill refuses such a DAG)."""


class ConfigError(MiniflowError, ValueError):
    """A configuration value is missing or malformed."""


class DatabaseNotReadyError(MiniflowError):
    """The metadata database is not migrated to the version this miniflow needs."""


class TemplateError(MiniflowError):
    """A templated field could not be rendered."""


class ParamValidationError(MiniflowError, ValueError):
    """A param's value does not match its declared type, enum or range."""


class XComSerializationError(MiniflowError, TypeError):
    """A value pushed to XCom cannot be stored as JSON."""


class AirflowException(MiniflowError):
    """Airflow's base exception; task code raises it to fail a try (retries apply)."""


class TaskTimeoutError(AirflowException):
    """A try ran longer than its `execution_timeout` (retries apply)."""


class AirflowNotFoundException(AirflowException, LookupError):
    """Something task code looked up does not exist."""


class VariableNotFoundError(AirflowNotFoundException, KeyError):
    """`Variable.get` of a key that is not set, without a default: a KeyError, as
    Airflow 2 raises, so DAG files' ``except KeyError:`` fallbacks work."""

    def __str__(self) -> str:  # the message as given, not KeyError's quoted repr of it
        return str(self.args[0]) if self.args else ""


class AirflowBadRequest(AirflowException):
    """A request to an external system was refused as malformed."""


class DagRunAlreadyExists(AirflowBadRequest):
    """A trigger named a run id, or a logical date, that the DAG already has a run for."""


class RemovedInAirflow3Warning(DeprecationWarning):
    """An Airflow 2 idiom that Airflow 3 removed; miniflow accepts it and warns."""


class AirflowProviderDeprecationWarning(DeprecationWarning):
    """A provider's deprecated name (Airflow's warning class, for warning filters)."""


# --- Control-flow signals: raised by task code to choose its outcome. ---------------


class TaskSkipped(AirflowException):
    """Raised inside a task: mark this try skipped (downstream trigger rules see a skip)."""


class TaskFailNow(AirflowException):
    """Raised inside a task: fail now, without using the remaining retries."""


class TaskDeferred(BaseException):
    """Raised by `BaseOperator.defer`: wait for `trigger`, then go on in `method_name`
    (see `miniflow.triggers`). A BaseException, as in Airflow, so that task code's
    ``except Exception`` does not stop it."""

    def __init__(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
                 timeout: Any = None) -> None:
        super().__init__(f"deferring to {trigger!r}, then {method_name}")
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout


class TaskDeferralError(AirflowException):
    """A deferred try's trigger failed, ended without an event or timed out."""


class TaskRescheduled(AirflowException):
    """Raised by a sensor in reschedule mode: free the worker slot, poke again later."""

    def __init__(self, reschedule_date: datetime) -> None:
        self.reschedule_date = reschedule_date
        super().__init__(f"reschedule at {reschedule_date.isoformat()}")


class SensorTimeoutError(TaskFailNow):
    """A sensor waited past its `timeout`; fails without retry, as in Airflow."""


# Airflow's names for the same classes, so DAG files written for Airflow work unchanged.
AirflowSkipException = TaskSkipped
AirflowFailException = TaskFailNow
AirflowSensorTimeout = SensorTimeoutError
AirflowRescheduleException = TaskRescheduled
AirflowTaskTimeout = TaskTimeoutError
AirflowConfigException = ConfigError
DagNotFound = DagNotFoundError
TaskNotFound = TaskNotFoundError
AirflowDagCycleException = DagCycleException = DagCycleError
DuplicateTaskIdFound = DuplicateTaskIdError
AirflowDagDuplicatedIdException = DuplicateDagIdError
