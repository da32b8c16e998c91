"""Rendering templated fields with Jinja, as Airflow does.

Each DAG gets one Jinja environment: undefined names are errors
(``StrictUndefined``, Airflow's default), templates are searched in the DAG file's
folder and the DAG's ``template_searchpath``, and the filters ``ds``, ``ds_nodash``,
``ts``, ``ts_nodash`` and ``ts_nodash_with_tz`` and the DAG's own macros and filters
are available. Strings, and the strings inside lists, tuples, sets and dicts, are
rendered; a string ending in one of the operator's ``template_ext`` names a template
file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from miniflow.exceptions import TemplateError

if TYPE_CHECKING:
    import jinja2

    from miniflow.dag import DAG

__all__ = ["Templated", "jinja_env", "render_value", "render_fields"]


class Templated(Protocol):
    """What rendering reads: an operator, or a notifier (miniflow.notifications)."""

    @property
    def template_fields(self) -> Sequence[str]: ...

    @property
    def template_ext(self) -> Sequence[str]: ...

    @property
    def dag(self) -> DAG: ...

FILTERS = {
    "ds": lambda d: d.strftime("%Y-%m-%d"),
    "ds_nodash": lambda d: d.strftime("%Y%m%d"),
    "ts": lambda d: d.isoformat(),
    "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
    "ts_nodash_with_tz": lambda d: d.isoformat().replace("-", "").replace(":", ""),
}


def jinja_env(dag: DAG) -> jinja2.Environment:
    """The DAG's environment, made once and kept on the DAG."""
    cached = getattr(dag, "_jinja_env", None)
    if cached is not None:
        return cached
    import jinja2  # imported on first use: tasks without templates never pay for it
    import jinja2.nativetypes

    searchpath = [os.path.dirname(dag.fileloc), *dag.template_searchpath]
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(searchpath),
        "undefined": dag.template_undefined or jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        **dag.jinja_environment_kwargs,
    }
    cls = jinja2.nativetypes.NativeEnvironment if dag.render_template_as_native_obj else jinja2.Environment
    env = cls(**options)
    env.filters.update(FILTERS)
    env.filters.update(dag.user_defined_filters)
    env.globals.update(dag.user_defined_macros)
    dag._jinja_env = env  # type: ignore[attr-defined]
    return env


def _has_template(value: Any, exts: tuple[str, ...]) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value or bool(exts and value.endswith(exts))
    if isinstance(value, (list, tuple, set)):
        return any(_has_template(v, exts) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v, exts) for v in value.values())
    return False


def render_value(owner: Templated, value: Any, context: dict[str, Any],
                 env: jinja2.Environment | None = None) -> Any:
    """`value` with every string in it rendered against `context`. Values without
    template markup are returned as they are, without touching Jinja."""
    exts = tuple(owner.template_ext)
    if not _has_template(value, exts):
        return value
    env = env or jinja_env(owner.dag)
    if isinstance(value, str):
        if exts and value.endswith(exts):
            return env.get_template(value).render(context)
        return env.from_string(value).render(context)
    if isinstance(value, (list, tuple)):
        return type(value)(render_value(owner, v, context, env) for v in value)
    if isinstance(value, set):
        return {render_value(owner, v, context, env) for v in value}
    if isinstance(value, dict):
        return {k: render_value(owner, v, context, env) for k, v in value.items()}
    return value


def render_fields(owner: Templated, context: dict[str, Any], env: jinja2.Environment | None, name: str) -> None:
    """Render each of `owner.template_fields` in place; errors name the field and `name`
    (``task 'load'``)."""
    for field in owner.template_fields:
        value = getattr(owner, field)
        try:
            setattr(owner, field, render_value(owner, value, context, env))
        except Exception as exc:
            import jinja2

            if isinstance(exc, jinja2.TemplateNotFound):
                raise TemplateError(
                    f"{name}: template file {exc.name!r} (field {field!r}) not found in "
                    f"{[os.path.dirname(owner.dag.fileloc), *owner.dag.template_searchpath]}"
                ) from None
            if isinstance(exc, jinja2.TemplateError):
                raise TemplateError(f"{name}: cannot render field {field!r}: {exc}") from None
            raise
