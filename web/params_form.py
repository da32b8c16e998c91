"""The trigger form's fields, one per DAG param, as Airflow 2's trigger form has them.

A param's schema picks its field: ``enum`` a list to choose from, ``boolean`` a
checkbox, ``integer`` and ``number`` a number box (with ``minimum`` and ``maximum``),
``array``, ``object`` and values that are neither text nor numbers a JSON box, the
rest a text box. What the fields send is turned back into values here; whether the
values fit the schema is checked where every trigger is checked
(`miniflow.triggering`), so the form, the API and the CLI refuse the same things.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from miniflow.params import Param, param_from_json

__all__ = ["ParamField", "param_fields", "read_fields", "FIELD_PREFIX"]

FIELD_PREFIX = "param."


@dataclass
class ParamField:
    name: str
    kind: str  # checkbox | select | number | text | json
    value: Any  # what the field shows (JSON text for select and json fields)
    title: str
    description: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value sent, label) of a select
    minimum: Any = None
    maximum: Any = None
    step: str = "any"


def _spec(raw: Any) -> tuple[Any, str | None, dict[str, Any]]:
    """(default, description, schema) of a serialized param or a plain value."""
    param = param_from_json(raw)
    if isinstance(param, Param):
        return param.value, param.description, dict(param.schema)
    return raw, None, {}


def _kind(default: Any, schema: Mapping[str, Any]) -> str:
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "enum" in schema:
        return "select"
    if "boolean" in types or (not types and isinstance(default, bool)):
        return "checkbox"
    if types and set(types) <= {"integer", "number", "null"} or (not types and type(default) in (int, float)):
        return "number"
    if set(types) & {"array", "object"} or (not types and not isinstance(default, (str, type(None)))):
        return "json"
    return "text"


def param_fields(params: Mapping[str, Any], values: Mapping[str, Any]) -> list[ParamField]:
    """A field per param, showing `values` where given, else the param's default."""
    fields = []
    for name, raw in params.items():
        default, description, schema = _spec(raw)
        value = values.get(name, default)
        kind = _kind(default, schema)
        item = ParamField(name, kind, value, str(schema.get("title") or name), description,
                          minimum=schema.get("minimum"), maximum=schema.get("maximum"))
        if kind == "select":
            item.options = [(json.dumps(v), str(v)) for v in schema["enum"]]
            item.value = json.dumps(value)
        elif kind == "json":
            item.value = json.dumps(value, indent=2)
        elif kind == "number":
            types = schema.get("type")
            item.step = "1" if types == "integer" or (not types and isinstance(default, int)) else "any"
        fields.append(item)
    return fields


def read_fields(form: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The values the form's param fields sent; a field left empty is left out (its
    default applies). Raises ValueError naming the field that cannot be read."""
    conf: dict[str, Any] = {}
    for name, raw in params.items():
        sent = form.getlist(FIELD_PREFIX + name)
        if not sent:
            continue
        default, _, schema = _spec(raw)
        kind = _kind(default, schema)
        if kind == "checkbox":
            conf[name] = "true" in sent
            continue
        text = sent[-1].strip()
        if text == "":
            continue
        try:
            if kind in ("select", "json"):
                conf[name] = json.loads(text)
            elif kind == "number":
                number = float(text)
                conf[name] = int(number) if number.is_integer() and "." not in text and "e" not in text.lower() \
                    else number
            else:
                conf[name] = sent[-1]
        except ValueError:
            raise ValueError(
                f"param {name!r}: {text[:60]!r} is not {'a number' if kind == 'number' else 'JSON'}") from None
    return conf
