"""The CLI under generated values: any date, id, count or conf gets a result or a short
error naming the option, never a traceback or a hang.

Commands run in-process through the ``miniflow`` entry point, output captured (what a
user sees on the terminal is the same text; test_cli.py checks real processes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniflow.cli import main

DAG_FILE = """
import datetime
from miniflow import DAG
from miniflow.operators.empty import EmptyOperator

with DAG("fuzzed", start_date=datetime.datetime(2024, 1, 1), schedule="@daily", catchup=False):
    EmptyOperator(task_id="t")
"""

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
dates = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.one_of(st.none(), offsets)).map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", "now", "2024-02-30", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00",
                     "2024-01-01T00:00:00+99:00", "-1"]),
    st.text(max_size=25),
)
ids = st.one_of(st.text(max_size=25), st.sampled_from(["fuzzed", "", "..", "a/b", "\x00"]),
                st.integers(300, 3_000).map(lambda n: "x" * n))
counts = st.one_of(st.integers(-(2**66), 2**66).map(str), st.text(max_size=8))
confs = st.one_of(
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                 lambda inner: st.one_of(st.lists(inner, max_size=3),
                                         st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                 max_leaves=20).map(json.dumps),
    st.text(max_size=30),
    st.integers(1, 50_000).map(lambda n: '{"a": ' * n + "1" + "}" * n),
)


def commands() -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.tuples(dates, confs).map(lambda a: ["dags", "trigger", "fuzzed", "-e", a[0], "-c", a[1]]),
        st.tuples(ids, confs).map(lambda a: ["dags", "trigger", "fuzzed", "-r", a[0], "-c", a[1]]),
        counts.map(lambda n: ["dags", "next-execution", "fuzzed", "-n", n]),
        st.tuples(dates, dates).map(lambda a: ["backfill", "fuzzed", "-s", a[0], "-e", a[1], "--dry-run"]),
        st.tuples(dates, dates).map(lambda a: ["tasks", "clear", "fuzzed", "-s", a[0], "-e", a[1], "-y"]),
        dates.map(lambda d: ["dags", "state", "fuzzed", d]),
        ids.map(lambda d: ["dags", "list-runs", d]),
        st.tuples(ids, counts).map(lambda a: ["pools", "set", a[0], a[1], "fuzzed pool"]),
        st.tuples(ids, ids).map(lambda a: ["variables", "set", a[0], a[1]]),
        st.tuples(ids, ids).map(lambda a: ["users", "create", "-u", a[0], "-p", a[1], "-r", "Viewer",
                                          "-e", "x@example.com"]),
        st.tuples(ids, dates).map(lambda a: ["tasks", "state", "fuzzed", a[0], a[1]]),
    )


def run(args: list[str]) -> tuple[int, str]:
    """Exit code and output (stdout and stderr) of ``miniflow ARGS``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(args)
        except SystemExit as exc:
            return (exc.code if isinstance(exc.code, int) else 1), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.usefixtures("sqlite_url")
def test_any_value_gets_a_result_or_a_short_error(write_dag: Any, miniflow_home: Path) -> None:
    write_dag("fuzzed.py", DAG_FILE)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(args=commands())
    def check(args: list[str]) -> None:
        code, output = run(args)
        described = f"miniflow {' '.join(a[:60] for a in args)}"
        assert code in (0, 1, 2), (described, code, output[-500:])
        assert "Traceback" not in output, (described, output[-1500:])
        if code != 0:
            error = [line for line in output.splitlines() if line.strip()]
            assert error and len(error) <= 4 and error[-1].startswith("Error: "), (described, output[-1000:])

    check()
