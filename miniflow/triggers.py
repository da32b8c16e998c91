"""Triggers: Airflow's deferral. An operator hands its wait to a trigger with
``self.defer(trigger=..., method_name=...)`` and goes on in ``method_name(context,
event=<the event's payload>, **kwargs)`` once the trigger fires.

miniflow has no triggerer. A deferred try waits for its trigger's first event in its
own process, as Airflow's ``dags test`` runs triggers inline (`first_event`), so the
try keeps its worker slot meanwhile; a sensor in ``mode="reschedule"`` frees it.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from miniflow.exceptions import MiniflowError, TaskDeferralError

__all__ = ["BaseTrigger", "TriggerEvent", "BaseTaskEndEvent", "TaskSuccessEvent", "TaskFailedEvent",
           "TaskSkippedEvent", "DateTimeTrigger", "TimeDeltaTrigger", "first_event"]


class BaseTrigger(abc.ABC):
    """What a deferred operator waits on: `run` yields a `TriggerEvent` once its
    condition is met."""

    def __init__(self, **kwargs: Any) -> None:
        self.task_instance: Any = None
        self.trigger_id: int | None = None

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path, and the keyword arguments that make this trigger again."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """An async generator: yields an event when the condition is met."""

    async def cleanup(self) -> None:  # noqa: B027 -- a hook a trigger may override, as in Airflow
        """Called once the trigger is no longer needed."""

    def __repr__(self) -> str:
        path, kwargs = self.serialize()
        return f"<{path} {', '.join(f'{k}={v}' for k, v in kwargs.items())}>"


class TriggerEvent:
    """What a trigger fires: its `payload` reaches the resumed method as ``event``."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


class BaseTaskEndEvent(TriggerEvent):
    """An event that ends the try in `task_instance_state` instead of resuming it, with
    `xcoms` pushed first."""

    task_instance_state = ""

    def __init__(self, *, xcoms: dict[str, Any] | None = None) -> None:
        super().__init__(self.task_instance_state)
        self.xcoms = xcoms


class TaskSuccessEvent(BaseTaskEndEvent):
    task_instance_state = "success"


class TaskFailedEvent(BaseTaskEndEvent):
    task_instance_state = "failed"


class TaskSkippedEvent(BaseTaskEndEvent):
    task_instance_state = "skipped"


class DateTimeTrigger(BaseTrigger):
    """Fires once at `moment` (an aware datetime): its payload is the moment, or, with
    `end_from_trigger`, the try succeeds there without resuming."""

    def __init__(self, moment: dt.datetime, *, end_from_trigger: bool = False) -> None:
        super().__init__()
        if not isinstance(moment, dt.datetime):
            raise TypeError(f"Expected datetime.datetime type for moment. Got {type(moment)}")
        if moment.tzinfo is None:
            raise ValueError("You cannot pass naive datetimes")
        self.moment = moment.astimezone(dt.timezone.utc)
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "airflow.triggers.temporal.DateTimeTrigger", {"moment": self.moment,
                                                             "end_from_trigger": self.end_from_trigger}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # A minute at most at a time, so that a change of the clock is seen.
        while (left := (self.moment - dt.datetime.now(dt.timezone.utc)).total_seconds()) > 0:
            await asyncio.sleep(min(left, 60))
        yield TaskSuccessEvent() if self.end_from_trigger else TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires once `delta` from now (a `DateTimeTrigger` at that moment)."""

    def __init__(self, delta: dt.timedelta, *, end_from_trigger: bool = False) -> None:
        super().__init__(dt.datetime.now(dt.timezone.utc) + delta, end_from_trigger=end_from_trigger)


def first_event(trigger: BaseTrigger, timeout: float | None) -> TriggerEvent:
    """Run `trigger` here until its first event, as Airflow's triggerer would elsewhere.
    A trigger that raises, ends without an event or outlasts `timeout` seconds raises
    `TaskDeferralError`, which fails the try as Airflow's does."""

    async def wait() -> TriggerEvent | None:
        events = trigger.run()
        try:
            async for event in events:
                return event
            return None
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
            await trigger.cleanup()

    try:
        event = asyncio.run(asyncio.wait_for(wait(), timeout))
    except TimeoutError:
        raise TaskDeferralError("Trigger/execution timeout") from None
    except MiniflowError:  # the try's own signals (its execution_timeout, SIGTERM) go through
        raise
    except Exception as exc:
        raise TaskDeferralError(f"Trigger failure: {type(exc).__name__}: {exc}") from exc
    if event is None:
        raise TaskDeferralError(f"Trigger failure: {trigger!r} ended without an event")
    return event
