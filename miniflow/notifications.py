"""`BaseNotifier`: a callback that sends a notification, as Airflow 2.6+ has it.

A notifier goes where a callback goes (``on_failure_callback=ChatNotifier("{{ ti.task_id }}
failed")``, ``sla_miss_callback=...``). Called, it renders its `template_fields` against
the callback's context with the DAG's Jinja environment, then calls `notify(context)`.
It renders into a copy of itself: the same notifier serves every run of a long-lived
scheduler, so the first rendering must not stick. A notifier that raises is logged and
changes no state.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from miniflow.templating import render_fields

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = ["BaseNotifier"]

log = logging.getLogger("miniflow.task")

# What Airflow's sla_miss_callback(dag, task_list, blocking_task_list, slas, blocking_tis)
# gives a notifier as its context.
_SLA_MISS_ARGS = ("dag", "task_list", "blocking_task_list", "slas", "blocking_tis")


class BaseNotifier(ABC):
    """Subclasses implement `notify(context)`; they need not call ``__init__``."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    dag: DAG  # set on the copy that renders, from the context

    @abstractmethod
    def notify(self, context: dict[str, Any]) -> None:
        """Send the notification."""

    def render_template_fields(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        """Render every templated field in place."""
        self.dag = context["dag"]
        render_fields(self, context, jinja_env, f"notifier {type(self).__name__}")

    def __call__(self, *args: Any) -> None:
        context = dict(args[0]) if len(args) == 1 else dict(zip(_SLA_MISS_ARGS, args))
        context.update((field, getattr(self, field)) for field in self.template_fields)
        sending = copy.copy(self)
        try:
            sending.render_template_fields(context)
            sending.notify(context)
        except Exception:
            log.exception("notifier %s failed to send its notification", type(self).__name__)
