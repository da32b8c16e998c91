"""Small helpers that Airflow DAG files import from ``airflow.utils`` (and the plugin
declaration of ``airflow.plugins_manager``)."""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import logging
import warnings
from collections.abc import Callable
from typing import TypeVar

from miniflow.exceptions import RemovedInAirflow3Warning
from miniflow.utils.timezone import utcnow

__all__ = ["__version__", "days_ago", "apply_defaults", "import_string", "LoggingMixin", "DagRunType",
           "WeightRule", "AirflowPlugin"]

F = TypeVar("F", bound=Callable[..., object])

# What ``airflow.__version__`` reports to DAG files that branch on the Airflow version.
__version__ = "2.10.5+miniflow"


def __getattr__(name: str) -> str:
    """``airflow.settings.AIRFLOW_HOME`` and ``DAGS_FOLDER``: miniflow's home and DAG
    folder, read from the configuration when a DAG file imports them."""
    from miniflow.config import get_config, miniflow_home

    if name == "AIRFLOW_HOME":
        return str(miniflow_home())
    if name == "DAGS_FOLDER":
        return str(get_config().dags_folder)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """Midnight UTC `n` days ago (Airflow 1.x's ``airflow.utils.dates.days_ago``)."""
    today = utcnow().replace(hour=hour, minute=minute, second=second, microsecond=0)
    return today - dt.timedelta(days=n)


def apply_defaults(func: F) -> F:
    """Airflow 1.x's decorator for an operator's ``__init__``. ``default_args`` reach every
    operator without it (as in Airflow 2), so, as Airflow 2 does, it only warns that it
    is obsolete; the method is returned unchanged."""
    warnings.warn("apply_defaults is deprecated and does nothing: default_args apply to every operator without it",
                  RemovedInAirflow3Warning, stacklevel=2)
    return func


def import_string(dotted_path: str) -> object:
    """The object a dotted path names, such as ``"package.module.Class"``
    (``airflow.utils.module_loading.import_string``)."""
    module, _, name = dotted_path.rpartition(".")
    if not module:
        raise ImportError(f"{dotted_path!r} does not look like a module path")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise ImportError(f"module {module!r} does not define a {name!r} attribute/class") from None


class LoggingMixin:
    """Airflow's mixin that gives a class a ``log``: the logger named after the class
    (hooks and helpers in DAG folders subclass it)."""

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"{type(self).__module__}.{type(self).__qualname__}")


class DagRunType(enum.StrEnum):
    """How a run came to be: a DAG run's ``run_type`` compares equal to these (Airflow's
    ``airflow.utils.types.DagRunType``)."""

    BACKFILL_JOB = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    DATASET_TRIGGERED = "dataset_triggered"

    def generate_run_id(self, logical_date: dt.datetime) -> str:
        """The run id miniflow (and Airflow) gives a run of this type at `logical_date`."""
        return f"{self.value}__{logical_date.isoformat()}"


class WeightRule(enum.StrEnum):
    """An operator's ``weight_rule`` (Airflow's ``airflow.utils.weight_rule.WeightRule``);
    miniflow takes the plain strings too."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"


class AirflowPlugin:
    """Airflow's plugin declaration, so that modules defining plugins import.

    miniflow loads no plugins: a DAG uses a custom timetable by passing an instance as
    ``schedule=``, which needs no registration, and a plugin's macros, operators and web
    views are not applied (docs/airflow-comparison.md).
    """

    name: str | None = None
    operators: list[object] = []
    sensors: list[object] = []
    hooks: list[object] = []
    executors: list[object] = []
    macros: list[object] = []
    flask_blueprints: list[object] = []
    appbuilder_views: list[object] = []
    appbuilder_menu_items: list[object] = []
    global_operator_extra_links: list[object] = []
    operator_extra_links: list[object] = []
    timetables: list[type] = []
    listeners: list[object] = []
