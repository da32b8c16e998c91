"""PythonSensor: wait until a Python callable returns something truthy."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from miniflow.operators.python import callable_kwargs
from miniflow.sensors.base import BaseSensorOperator, PokeReturnValue

__all__ = ["PythonSensor"]


class PythonSensor(BaseSensorOperator):
    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        result = self.python_callable(*self.op_args, **callable_kwargs(self.python_callable, self.op_args, merged))
        return result if isinstance(result, PokeReturnValue) else bool(result)
