"""Statements run on SQLite's own cursor (`miniflow.db.engine.run_built`): the same rows,
defaults and errors as `conn.execute`, for statements built once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError, StatementError

from miniflow.db import engine as engine_module
from miniflow.db.engine import run_built
from miniflow.db.store import get_store
from miniflow.db.tables import RUN_T, TI_C, TI_T, VAR_T
from miniflow.state import DagRunState, TaskInstanceState

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)

# Built once, as run_built asks: a whole-row read with an expanding list, an update that
# stamps updated_at (a Python-side onupdate) and returns what it wrote, an insert.
_TIS_OF = select(*TI_C).where(TI_T.c.dag_id == bindparam("k_dag"),
                              TI_T.c.task_id.in_(bindparam("k_tasks", expanding=True))).order_by(TI_T.c.task_id)
_TIS_OF_PAIRS = select(*TI_C).where(TI_T.c.dag_id == bindparam("k_dag"), tuple_(TI_T.c.task_id, TI_T.c.map_index)
                                    .in_(bindparam("k_pairs", expanding=True))).order_by(TI_T.c.task_id)
_SET_HOST = (update(TI_T).where(TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.task_id == bindparam("k_task"))
             .values(hostname=bindparam("host"), heartbeat=bindparam("at", type_=TI_T.c.heartbeat.type))
             .returning(TI_T.c.task_id, TI_T.c.hostname, TI_T.c.heartbeat, TI_T.c.updated_at))
_ADD_VARIABLE = insert(VAR_T).values(key=bindparam("k"), val=bindparam("v"))

_ZONES = st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))])
_WHEN = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=_ZONES)
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)
_TI_ROW = st.fixed_dictionaries({
    "state": st.sampled_from([None, *TaskInstanceState]).map(lambda s: s and str(s)),
    "try_number": st.integers(0, 50), "start_date": st.none() | _WHEN, "end_date": st.none() | _WHEN,
    "duration": st.none() | st.floats(0, 1e9, allow_nan=False), "hostname": st.none() | st.text(max_size=20),
    "rendered_fields": st.none() | st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
})


def _with_run(conn: Any) -> None:
    conn.execute(insert(RUN_T).values(dag_id="d", run_id="r", logical_date=DAY, run_type="manual",
                                      state=str(DagRunState.RUNNING)))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_TI_ROW, min_size=1, max_size=5), picked=st.sets(st.integers(0, 6), max_size=7))
def test_a_built_statement_reads_on_sqlites_cursor_what_sqlalchemy_reads(db_url: str, rows: list[dict[str, Any]],
                                                                          picked: set[int]) -> None:
    """Dates back aware in UTC, JSON decoded, a list of values or of pairs of any length
    (an empty one too): row for row what `conn.execute` gives for the same statement."""
    with get_store().engine.connect() as conn, conn.begin() as trans:
        _with_run(conn)
        conn.execute(insert(TI_T), [{"dag_id": "d", "run_id": "r", "task_id": f"t{i}", **row}
                                    for i, row in enumerate(rows)])
        params = {"k_dag": "d", "k_tasks": [f"t{i}" for i in sorted(picked)],
                  "k_pairs": [(f"t{i}", -1) for i in sorted(picked)]}
        for statement in (_TIS_OF, _TIS_OF_PAIRS):
            direct = run_built(conn, statement, params).all()
            assert direct == [tuple(row) for row in conn.execute(statement, params)]
            assert len(direct) == len([i for i in picked if i < len(rows)])
        trans.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_built_update_stamps_its_defaults_and_returns_what_it_wrote(db_url: str) -> None:
    at = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with get_store().engine.connect() as conn, conn.begin() as trans:
        _with_run(conn)
        conn.execute(insert(TI_T).values(dag_id="d", run_id="r", task_id="a", updated_at=DAY))
        before = dt.datetime.now(UTC)
        done = run_built(conn, _SET_HOST, {"k_dag": "d", "k_task": "a", "host": "h1", "at": at})
        (task_id, host, heartbeat, stamped), = done.all()
        assert (task_id, host, heartbeat) == ("a", "h1", at) and heartbeat.tzinfo == UTC
        assert stamped >= before  # the column's onupdate ran, as conn.execute runs it
        assert done.rowcount == 1
        assert run_built(conn, _SET_HOST, {"k_dag": "d", "k_task": "none", "host": "h", "at": at}).rowcount == 0
        trans.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_built_statement_fails_as_sqlalchemy_would(db_url: str) -> None:
    """A bad value and a broken constraint raise SQLAlchemy's errors, which callers
    (and the scheduler's handling of database errors) know."""
    with get_store().engine.connect() as conn, conn.begin() as trans:
        _with_run(conn)
        conn.execute(insert(TI_T).values(dag_id="d", run_id="r", task_id="a"))
        naive = dt.datetime(2024, 1, 1)
        with pytest.raises(StatementError, match="naive datetime"):
            run_built(conn, _SET_HOST, {"k_dag": "d", "k_task": "a", "host": "h", "at": naive})
        run_built(conn, _ADD_VARIABLE, {"k": "twice", "v": "1"})
        with pytest.raises(IntegrityError):
            run_built(conn, _ADD_VARIABLE, {"k": "twice", "v": "2"})
        trans.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_statements_built_anew_each_time_are_not_kept(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that builds its statement on every call would otherwise keep every one."""
    monkeypatch.setattr(engine_module, "_COMPILED", {})
    monkeypatch.setattr(engine_module, "_KEPT_AT_MOST", 2)
    with get_store().engine.connect() as conn, conn.begin() as trans:
        for n in range(5):
            run_built(conn, _ADD_VARIABLE, {"k": f"v{n}", "v": str(n)})
            read = select(VAR_T.c.val).where(VAR_T.c.key == f"v{n}")
            assert run_built(conn, read).scalar() == str(n)
        assert len(engine_module._COMPILED) == 2
        trans.rollback()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("key", [bindparam("k", literal_execute=True), bindparam("k", callable_=lambda: "x")],
                         ids=["rendered into the SQL", "computed at execution"])
def test_a_statement_whose_value_sqlalchemy_makes_is_left_to_it(db_url: str, key: Any) -> None:
    read = select(VAR_T.c.val).where(VAR_T.c.key == key)
    with get_store().engine.connect() as conn, conn.begin() as trans:
        run_built(conn, _ADD_VARIABLE, {"k": "x", "v": "1"})
        assert run_built(conn, read, {"k": "x"}).scalar() == "1"
        assert engine_module._COMPILED[id(read)] == (read, None)
        trans.rollback()
