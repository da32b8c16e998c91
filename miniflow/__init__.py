"""miniflow: a small, fast workflow scheduler that runs Airflow-style DAGs.

    from datetime import datetime
    from miniflow import DAG
    from miniflow.operators.bash import BashOperator

    with DAG("hello", schedule="@daily", start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="say", bash_command="echo hello {{ ds }}")

Names are imported lazily so that ``miniflow --help`` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from miniflow.version import __version__

# The @dag decorator is miniflow.decorators.dag: `miniflow.dag` is the module of the DAG class.
__all__ = ["DAG", "BaseOperator", "chain", "cross_downstream", "task", "Param",
           "TaskGroup", "Variable", "__version__"]

_LAZY = {
    "DAG": "miniflow.dag",
    "BaseOperator": "miniflow.baseoperator",
    "chain": "miniflow.baseoperator",
    "cross_downstream": "miniflow.baseoperator",
    "task": "miniflow.decorators",
    "Param": "miniflow.params",
    "TaskGroup": "miniflow.task_group",
    "Variable": "miniflow.variables",
}

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator, chain, cross_downstream
    from miniflow.dag import DAG
    from miniflow.decorators import task
    from miniflow.params import Param
    from miniflow.task_group import TaskGroup
    from miniflow.variables import Variable


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'miniflow' has no attribute {name!r}")
