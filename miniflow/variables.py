"""Variable: global key/value settings that DAGs read, kept in the metadata DB.

``MINIFLOW_VAR_<KEY>`` (or Airflow's ``AIRFLOW_VAR_<KEY>``) in the environment wins
over the DB, as Airflow's environment-variable backend does.
"""

from __future__ import annotations

import json
import os
from typing import Any

from miniflow.exceptions import VariableNotFoundError

__all__ = ["Variable"]

_MISSING: Any = object()


class Variable:
    @staticmethod
    def get(key: str, default_var: Any = _MISSING, deserialize_json: bool = False) -> Any:
        raw = os.environ.get(f"MINIFLOW_VAR_{key.upper()}", os.environ.get(f"AIRFLOW_VAR_{key.upper()}"))
        if raw is None:
            from miniflow.db.store import get_store

            raw = get_store().get_variable(key)
        if raw is None:
            if default_var is not _MISSING:
                return default_var
            raise VariableNotFoundError(
                f"Variable {key!r} does not exist; set it with 'miniflow variables set {key} VALUE'"
            )
        from miniflow.secrets import is_sensitive, mask_secret

        if is_sensitive(key):
            mask_secret(raw)
        return json.loads(raw) if deserialize_json else raw

    @staticmethod
    def set(key: str, value: Any, serialize_json: bool = False, description: str | None = None) -> None:
        from miniflow.db.store import get_store

        text = json.dumps(value) if serialize_json else str(value)
        get_store().set_variable(key, text, description)

    @staticmethod
    def delete(key: str) -> None:
        from miniflow.db.store import get_store

        get_store().delete_variable(key)
