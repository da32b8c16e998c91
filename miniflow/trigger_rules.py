"""Trigger rules: when may a task run, given the states of its direct upstream tasks?

`decide()` is the one place that answers it. It is a pure function of the rule and a
count of upstream states, and it follows Airflow 2.10's trigger-rule dependency:

- a task runs as soon as its rule is met (`one_success` does not wait for the rest);
- a rule that can no longer be met ends the task without running it: as
  `upstream_failed` when a failure made it impossible, as `skipped` when skips did;
- otherwise the task waits.

A task with no upstream tasks always runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from miniflow.state import TaskInstanceState as TIS

__all__ = ["TriggerRule", "Decision", "UpstreamCounts", "decide"]


class TriggerRule(str, Enum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    # A teardown's rule (see miniflow.setup_teardown): everything upstream done and at
    # least one upstream setup succeeded.
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    # Old names Airflow 2.10 still accepts; a task built with one gets the current rule
    # (see `current`), so `decide` never sees them.
    NONE_FAILED_OR_SKIPPED = "none_failed_or_skipped"
    DUMMY = "dummy"

    def __str__(self) -> str:
        return self.value

    @property
    def current(self) -> TriggerRule:
        """The rule an old name stands for, or the rule itself."""
        return _RENAMED.get(self, self)

    @classmethod
    def is_valid(cls, value: str) -> bool:
        return value in cls._value2member_map_

    @classmethod
    def all_triggers(cls) -> set[str]:
        return set(cls._value2member_map_)


_RENAMED = {
    TriggerRule.NONE_FAILED_OR_SKIPPED: TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    TriggerRule.DUMMY: TriggerRule.ALWAYS,
}


class Decision(str, Enum):
    RUN = "run"  # the rule is met
    WAIT = "wait"  # not met yet, may still be
    SKIP = "skip"  # can no longer be met because of skips (or successes, for *_failed rules)
    UPSTREAM_FAILED = "upstream_failed"  # can no longer be met because of failures


@dataclass(frozen=True)
class UpstreamCounts:
    """How many direct upstream tasks are in each state; `total` counts them all, and
    the ``setup*`` fields count the upstream setup tasks among them."""

    total: int
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    removed: int = 0
    setups: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    @classmethod
    def of(cls, states: Iterable[TIS | str | None], setup_states: Iterable[TIS | str | None] = ()) -> UpstreamCounts:
        """Counts of `states`, of which `setup_states` (also included in `states`) are
        the upstream setups'."""
        return cls.from_counter(Counter(states), setup_states)

    @classmethod
    def from_counter(cls, c: Counter[Any], setup_states: Iterable[TIS | str | None] = ()) -> UpstreamCounts:
        """As `of`, from the states already counted (`c`: state -> how many)."""
        s = Counter(setup_states)  # TaskInstanceState is a str Enum: its members equal their values
        return cls(
            total=sum(c.values()),
            success=c[TIS.SUCCESS],
            failed=c[TIS.FAILED],
            upstream_failed=c[TIS.UPSTREAM_FAILED],
            skipped=c[TIS.SKIPPED],
            removed=c[TIS.REMOVED],
            setups=sum(s.values()),
            setup_success=s[TIS.SUCCESS],
            setup_skipped=s[TIS.SKIPPED],
        )

    @property
    def done(self) -> int:
        return self.success + self.failed + self.upstream_failed + self.skipped + self.removed

    @property
    def all_done(self) -> bool:
        return self.done >= self.total


def decide(rule: TriggerRule | str, up: UpstreamCounts) -> Decision:
    """The fate of a task whose direct upstream tasks are counted in `up`."""
    rule = TriggerRule(rule)
    if up.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    failures = up.failed + up.upstream_failed
    R = TriggerRule
    if rule is R.ALL_SUCCESS:
        if failures:
            return Decision.UPSTREAM_FAILED
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.success + up.removed >= up.total else Decision.WAIT
    if rule is R.ALL_FAILED:
        if up.success or up.skipped:
            return Decision.SKIP
        return Decision.RUN if failures + up.removed >= up.total else Decision.WAIT
    if rule is R.ALL_DONE:
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is R.ALL_SKIPPED:
        if up.success or failures:
            return Decision.SKIP
        return Decision.RUN if up.skipped + up.removed >= up.total else Decision.WAIT
    if rule is R.ONE_SUCCESS:
        if up.success:
            return Decision.RUN
        if up.all_done:
            return Decision.SKIP if up.skipped == up.done else Decision.UPSTREAM_FAILED
        return Decision.WAIT
    if rule is R.ONE_FAILED:
        if failures:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule is R.ONE_DONE:
        if up.success or up.failed:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule is R.NONE_FAILED:
        if failures:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is R.NONE_FAILED_MIN_ONE_SUCCESS:
        if failures:
            return Decision.UPSTREAM_FAILED
        if up.skipped >= up.total:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is R.ALL_DONE_SETUP_SUCCESS:
        if not up.all_done:
            return Decision.WAIT
        if up.setups and up.setup_skipped >= up.setups:
            return Decision.SKIP
        if up.setups and not up.setup_success:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN
    if rule is R.NONE_SKIPPED:
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    raise AssertionError(f"unhandled trigger rule {rule}")
