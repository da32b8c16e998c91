"""Param: a DAG or task parameter with a default and a light JSON-schema check.

`ParamsDict` is Airflow's mapping of names to params: reading a key gives the param's
checked value, ``get_param`` the `Param` itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from miniflow.exceptions import ParamValidationError

__all__ = ["Param", "ParamsDict", "ParamValidationError", "param_from_json", "resolve_params"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class Param:
    """A param with a default; ``type``, ``enum``, ``minimum`` and ``maximum`` are checked."""

    def __init__(self, default: Any = None, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def __repr__(self) -> str:
        return f"Param({self.value!r})"

    def resolve(self, value: Any = None, name: str = "param", use_default: bool = True) -> Any:
        value = self.value if value is None and use_default else value
        types = self.schema.get("type")
        if types is not None:
            allowed = [types] if isinstance(types, str) else list(types)
            ok = any(
                isinstance(value, _TYPES.get(t, object)) and not (t in ("integer", "number") and isinstance(value, bool))
                for t in allowed
            )
            if not ok and value is None:
                raise ParamValidationError(f"param {name!r} has no value (and no default): give it in the run's conf")
            if not ok:
                raise ParamValidationError(f"param {name!r}: {value!r} is not of type {types}")
        if "enum" in self.schema and value not in self.schema["enum"]:
            raise ParamValidationError(f"param {name!r}: {value!r} is not one of {self.schema['enum']}")
        if "minimum" in self.schema and value < self.schema["minimum"]:
            raise ParamValidationError(f"param {name!r}: {value!r} is below {self.schema['minimum']}")
        if "maximum" in self.schema and value > self.schema["maximum"]:
            raise ParamValidationError(f"param {name!r}: {value!r} is above {self.schema['maximum']}")
        return value

    def dump(self) -> dict[str, Any]:
        return {"value": self.value, "description": self.description, "schema": self.schema}


class ParamsDict(MutableMapping[str, Any]):
    """Params by name; plain values are wrapped in a `Param` without a schema."""

    def __init__(self, dict_obj: Mapping[str, Any] | None = None, suppress_exception: bool = False) -> None:
        self._params: dict[str, Param] = {}
        self.suppress_exception = suppress_exception
        for key, value in (dict_obj or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = value
        elif key in self._params:
            self._params[key].resolve(value, key)  # a new value must pass the schema
            self._params[key].value = value
        else:
            self._params[key] = Param(value)

    def __getitem__(self, key: str) -> Any:
        return self._params[key].resolve(name=key)

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return repr(self.dump())

    def get_param(self, key: str) -> Param:
        return self._params[key]

    def dump(self) -> dict[str, Any]:
        """Each param's raw value."""
        return {key: param.value for key, param in self._params.items()}

    def validate(self) -> dict[str, Any]:
        """Each param's checked value; raises `ParamValidationError` on the first bad one."""
        resolved = {}
        for key, param in self._params.items():
            try:
                resolved[key] = param.resolve(name=key)
            except ParamValidationError:
                if not self.suppress_exception:
                    raise
        return resolved


def param_from_json(raw: Any) -> Any:
    """A param as the serialized DAG stores it: a `Param` for what `Param.dump` wrote,
    the plain value otherwise (the webserver reads params without the DAG file)."""
    if isinstance(raw, dict) and set(raw) == {"value", "description", "schema"}:
        return Param(raw["value"], raw["description"], **(raw["schema"] or {}))
    return raw


def resolve_params(params: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain values of `params`, with run-conf `overrides` applied and checked."""
    overrides = overrides or {}
    resolved: dict[str, Any] = {}
    for name, spec in params.items():
        given = overrides.get(name)
        if isinstance(spec, Param):
            resolved[name] = spec.resolve(given, name)
        else:
            resolved[name] = given if name in overrides else spec
    for name, value in overrides.items():
        resolved.setdefault(name, value)
    return resolved
