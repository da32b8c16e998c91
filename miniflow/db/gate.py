"""The one gate every state write passes: an ``UPDATE`` of task instances or DAG runs
``... WHERE state IN (<expected>)``, built only for a move that `miniflow.state`'s
tables (or one of its named overrides) allow.

Callers narrow the statement to their rows with ``.where(...)`` and add columns with
``.values(...)``; the row count it returns says whether the move happened, so of two
processes trying the same step exactly one succeeds.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Update, update

from miniflow.db.tables import RUN_T, TI_T, state_filter
from miniflow.state import DagRunState, Override, TaskInstanceState, check_run_move, check_ti_move

__all__ = ["move_tis", "move_runs"]


def move_tis(expected: Iterable[TaskInstanceState | None], new: TaskInstanceState | None,
             override: Override | None = None) -> Update:
    """Task instances in an `expected` state to `new`."""
    expected = list(expected)
    check_ti_move(expected, new, override)
    return (update(TI_T).where(state_filter(TI_T.c.state, expected))
            .values(state=None if new is None else str(new)))


def move_runs(expected: Iterable[DagRunState], new: DagRunState, override: Override | None = None) -> Update:
    """DAG runs in an `expected` state to `new`."""
    expected = list(expected)
    check_run_move(expected, new, override)
    return update(RUN_T).where(state_filter(RUN_T.c.state, expected)).values(state=str(new))
