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

__all__ = ["install", "AIRFLOW_MODULES"]

_DAG = "miniflow.dag:DAG"
_BASE = ["miniflow.baseoperator:BaseOperator", "miniflow.baseoperator:chain",
         "miniflow.baseoperator:cross_downstream"]
_BASH = ["miniflow.operators.bash:BashOperator"]
_PYTHON = ["miniflow.operators.python:PythonOperator", "miniflow.operators.python:BranchPythonOperator",
           "miniflow.operators.python:ShortCircuitOperator", "miniflow.operators.python:get_current_context"]
_EMPTY = ["miniflow.operators.empty:EmptyOperator", "miniflow.operators.empty:DummyOperator"]
_FILE_SENSOR = ["miniflow.sensors.filesystem:FileSensor"]
_PYTHON_SENSOR = ["miniflow.sensors.python:PythonSensor", "miniflow.sensors.base:PokeReturnValue"]
_SENSOR_BASE = ["miniflow.sensors.base:BaseSensorOperator", "miniflow.sensors.base:PokeReturnValue"]
_DECORATORS = ["miniflow.decorators:dag", "miniflow.decorators:task"]
_PARAM = ["miniflow.params:Param"]
_VARIABLE = ["miniflow.variables:Variable"]
_TASK_GROUP = ["miniflow.task_group:TaskGroup"]

# Airflow module -> the miniflow objects it exposes ("module:attribute").
AIRFLOW_MODULES: dict[str, list[str]] = {
    "airflow": [_DAG, "miniflow.compat_values:__version__"],
    "airflow.models": [_DAG, *_BASE, *_PARAM, *_VARIABLE],
    "airflow.models.dag": [_DAG],
    "airflow.models.baseoperator": _BASE,
    "airflow.models.param": _PARAM,
    "airflow.models.variable": _VARIABLE,
    "airflow.sdk": [_DAG, *_BASE, *_DECORATORS, *_PARAM, *_VARIABLE, *_TASK_GROUP,
                    "miniflow.operators.python:get_current_context"],
    "airflow.decorators": _DECORATORS,
    "airflow.exceptions": ["miniflow.exceptions:*"],
    "airflow.utils.trigger_rule": ["miniflow.trigger_rules:TriggerRule"],
    "airflow.utils.dates": ["miniflow.compat_values:days_ago"],
    "airflow.utils.helpers": ["miniflow.baseoperator:chain", "miniflow.baseoperator:cross_downstream"],
    "airflow.utils.task_group": _TASK_GROUP,
    "airflow.utils.timezone": ["miniflow.compat_values:utcnow", "miniflow.compat_values:datetime"],
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
}
_PACKAGES = {name.rsplit(".", i)[0] for name in AIRFLOW_MODULES for i in range(name.count(".") + 1)}


class _AirflowFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
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
            if child not in _PACKAGES:
                raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")
            return importlib.import_module(child)

        module.__getattr__ = submodule  # type: ignore[method-assign]
        for ref in AIRFLOW_MODULES.get(spec.name, []):
            source, attr = ref.split(":")
            src = importlib.import_module(source)
            names = getattr(src, "__all__", []) if attr == "*" else [attr]
            for name in names:
                setattr(module, name, getattr(src, name))
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
