"""miniflow.dag_test: whole DAG runs in this process, as ``airflow dags test`` gives them.

Every test builds a small DAG, runs it through `run_dag_test` (or `DAG.test()`) on the
`store` fixture, so on SQLite and on PostgreSQL, and checks the final state of each
task instance and of the run against Airflow 2.10:

- trigger rules, fed with upstream tasks that succeed, fail (raise), skip
  (AirflowSkipException) or end upstream_failed;
- a run succeeds iff, once every task is done, every leaf is success or skipped;
- branching (BranchPythonOperator, ``@task.branch``) and ShortCircuitOperator.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from miniflow import DAG, task
from miniflow.dag_test import run_dag_test
from miniflow.exceptions import AirflowSkipException, DagDefinitionError, ParamValidationError
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from miniflow.params import Param
from miniflow.taskinstance import DagRun, TaskInstance
from miniflow.trigger_rules import TriggerRule

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)

S, F, K, U = "success", "failed", "skipped", "upstream_failed"


def new_dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, start_date=START, schedule=None, **kwargs)


def states_of(result: Any) -> dict[str, str | None]:
    return {ti.task_id: (str(ti.state) if ti.state is not None else None) for ti in result.task_instances}


def run(dag: DAG, store: Any, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, str | None]]:
    result = run_dag_test(dag, DATE, conf, store=store)
    return result, states_of(result)


def ok() -> str:
    return "ok"


def boom() -> None:
    raise ValueError("boom")


def skip_me() -> None:
    raise AirflowSkipException("not today")


def producer(code: str, name: str) -> list[PythonOperator]:
    """Tasks whose final state will be `code`; returns the one to put upstream."""
    if code == "S":
        return [PythonOperator(task_id=name, python_callable=ok)]
    if code == "F":
        return [PythonOperator(task_id=name, python_callable=boom)]
    if code == "K":
        return [PythonOperator(task_id=name, python_callable=skip_me)]
    assert code == "U"
    root = PythonOperator(task_id=f"{name}_root", python_callable=boom)
    down = PythonOperator(task_id=name, python_callable=ok)  # all_success below a failure
    root >> down
    return [down]


# --- trigger rules ---------------------------------------------------------------------

# Upstream mixes (S success, F failed, K skipped, U upstream_failed) -> the final state of
# a task with each trigger rule below them, per Airflow 2.10's TriggerRuleDep.
RULE_TABLE: dict[str, dict[str, str]] = {
    "S": dict(all_success=S, all_failed=K, all_done=S, all_skipped=K, one_success=S, one_failed=K,
              one_done=S, none_failed=S, none_failed_min_one_success=S, none_skipped=S, always=S),
    "F": dict(all_success=U, all_failed=S, all_done=S, all_skipped=K, one_success=U, one_failed=S,
              one_done=S, none_failed=U, none_failed_min_one_success=U, none_skipped=S, always=S),
    "K": dict(all_success=K, all_failed=K, all_done=S, all_skipped=S, one_success=K, one_failed=K,
              one_done=K, none_failed=S, none_failed_min_one_success=K, none_skipped=K, always=S),
    # upstream_failed counts as a failure, but not as "done" for one_done
    "U": dict(all_success=U, all_failed=S, all_done=S, all_skipped=K, one_success=U, one_failed=S,
              one_done=K, none_failed=U, none_failed_min_one_success=U, none_skipped=S, always=S),
    "SF": dict(all_success=U, all_failed=K, all_done=S, all_skipped=K, one_success=S, one_failed=S,
               one_done=S, none_failed=U, none_failed_min_one_success=U, none_skipped=S, always=S),
    "SK": dict(all_success=K, all_failed=K, all_done=S, all_skipped=K, one_success=S, one_failed=K,
               one_done=S, none_failed=S, none_failed_min_one_success=S, none_skipped=K, always=S),
    # a failure outranks a skip for all_success; no success and not all skipped: upstream_failed
    "FK": dict(all_success=U, all_failed=K, all_done=S, all_skipped=K, one_success=U, one_failed=S,
               one_done=S, none_failed=U, none_failed_min_one_success=U, none_skipped=K, always=S),
    "KU": dict(all_success=U, all_failed=K, all_done=S, all_skipped=K, one_success=U, one_failed=S,
               one_done=K, none_failed=U, none_failed_min_one_success=U, none_skipped=K, always=S),
    "SFKU": dict(all_success=U, all_failed=K, all_done=S, all_skipped=K, one_success=S, one_failed=S,
                 one_done=S, none_failed=U, none_failed_min_one_success=U, none_skipped=K, always=S),
}
# A teardown's rule, with no setup upstream, is all_done (see tests/test_setup_teardown.py).
for _expected in RULE_TABLE.values():
    _expected["all_done_setup_success"] = _expected["all_done"]
UPSTREAM_STATE = {"S": S, "F": F, "K": K, "U": U}


def test_the_table_covers_every_trigger_rule() -> None:
    rules = {r.value for r in TriggerRule if r.current is r}
    for mix, expected in RULE_TABLE.items():
        assert set(expected) == rules, mix


def test_trigger_rules_against_upstream_states(store) -> None:
    """One DAG (one run) per upstream mix, each with one leaf task per trigger rule."""
    wrong = {}
    for mix, expected in RULE_TABLE.items():
        with new_dag(f"rules_{mix}") as dag:
            upstream = []
            for i, code in enumerate(mix):
                upstream += producer(code, f"up{i}_{code}")
            for rule in expected:
                upstream >> PythonOperator(task_id=f"rule_{rule}", python_callable=ok, trigger_rule=rule)
        result, states = run(dag, store)
        for i, code in enumerate(mix):
            assert states[f"up{i}_{code}"] == UPSTREAM_STATE[code], mix
        got = {rule: states[f"rule_{rule}"] for rule in expected}
        # every rule task is a leaf: the run fails iff one of them failed or is upstream_failed
        run_state = "failed" if any(s in (F, U) for s in expected.values()) else "success"
        if got != expected or result.state != run_state:
            wrong[mix] = ({r: (got[r], expected[r]) for r in expected if got[r] != expected[r]},
                          (result.state, run_state))
    assert wrong == {}, "mix -> ({rule: (got, expected)}, (run state got, expected))"


def test_old_rule_names_warn_and_act_as_their_current_rules(store) -> None:
    with new_dag("old_rule_names") as dag, pytest.warns(DeprecationWarning, match="'dummy' is deprecated"):
        a = PythonOperator(task_id="a", python_callable=ok)
        b = PythonOperator(task_id="b", python_callable=skip_me)
        c = PythonOperator(task_id="c", python_callable=skip_me)
        with pytest.warns(DeprecationWarning, match="'none_failed_or_skipped' is deprecated"):
            [a, b] >> PythonOperator(task_id="mixed", python_callable=ok, trigger_rule="none_failed_or_skipped")
            c >> PythonOperator(task_id="all_skipped_up", python_callable=ok, trigger_rule="none_failed_or_skipped")
        c >> PythonOperator(task_id="always", python_callable=ok, trigger_rule="dummy")
    assert dag.get_task("mixed").trigger_rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert dag.get_task("always").trigger_rule is TriggerRule.ALWAYS
    result, states = run(dag, store)
    assert states["mixed"] == S
    assert states["all_skipped_up"] == K
    assert states["always"] == S
    assert result.state == "success"


def test_skip_cascades_down_a_chain_of_all_success_tasks(store) -> None:
    with new_dag("skip_chain") as dag:
        first = PythonOperator(task_id="first", python_callable=skip_me)
        first >> PythonOperator(task_id="second", python_callable=ok) >> PythonOperator(task_id="third", python_callable=ok)
    result, states = run(dag, store)
    assert states == {"first": K, "second": K, "third": K}
    assert result.state == "success"


def test_failure_cascades_as_upstream_failed(store) -> None:
    with new_dag("fail_chain") as dag:
        first = PythonOperator(task_id="first", python_callable=boom)
        first >> PythonOperator(task_id="second", python_callable=ok) >> PythonOperator(task_id="third", python_callable=ok)
    result, states = run(dag, store)
    assert states == {"first": F, "second": U, "third": U}
    assert result.state == "failed"
    rows = {ti.task_id: ti for ti in result.task_instances}
    assert rows["first"].try_number == 1
    assert rows["second"].try_number == 0  # never ran


# --- the run's state -------------------------------------------------------------------


def test_run_succeeds_when_a_failure_is_absorbed_before_the_leaf(store) -> None:
    """Only leaves decide: a failed middle task under an all_done leaf that succeeds
    leaves the run successful, as in Airflow."""
    with new_dag("absorbed") as dag:
        bad = PythonOperator(task_id="bad", python_callable=boom)
        bad >> PythonOperator(task_id="cleanup", python_callable=ok, trigger_rule="all_done")
    result, states = run(dag, store)
    assert states == {"bad": F, "cleanup": S}
    assert result.state == "success"


def test_run_fails_when_a_leaf_fails_even_if_others_succeed(store) -> None:
    with new_dag("leaf_fails") as dag:
        PythonOperator(task_id="good", python_callable=ok)
        PythonOperator(task_id="bad", python_callable=boom)
    result, states = run(dag, store)
    assert states == {"good": S, "bad": F}
    assert result.state == "failed"


def test_run_with_only_skipped_leaves_succeeds(store) -> None:
    with new_dag("all_skipped") as dag:
        PythonOperator(task_id="a", python_callable=skip_me)
        PythonOperator(task_id="b", python_callable=skip_me)
    result, states = run(dag, store)
    assert states == {"a": K, "b": K}
    assert result.state == "success"


def test_run_row_records_the_final_state(store) -> None:
    with new_dag("run_row") as dag:
        PythonOperator(task_id="a", python_callable=boom)
    result, _ = run(dag, store)
    row = store.get_run("run_row", result.run_id)
    assert row.state == "failed"
    assert row.end_date is not None
    assert result.run_id == f"manual__{DATE.isoformat()}"


def test_dag_test_method_runs_the_dag_with_its_conf(store) -> None:
    seen: dict[str, Any] = {}

    def grab(dag_run, params) -> None:
        seen.update(conf=dict(dag_run.conf), params=dict(params))

    with new_dag("method", params={"who": "default", "n": 1}) as dag:
        PythonOperator(task_id="grab", python_callable=grab)
    result = dag.test(DATE, conf={"who": "conf"})
    assert result.state == "success"
    assert states_of(result) == {"grab": S}
    assert seen == {"conf": {"who": "conf"}, "params": {"who": "conf", "n": 1}}
    assert store.get_run("method", result.run_id).conf == {"who": "conf"}


def test_a_param_without_a_value_refuses_the_run_before_it_exists(store) -> None:
    """As Airflow's ``dags test`` (its run creation checks the params)."""
    with new_dag("needs_conf", params={"who": Param(type="string")}) as dag:
        EmptyOperator(task_id="t")
    with pytest.raises(ParamValidationError, match="param 'who' has no value"):
        run(dag, store)
    assert store.find_run("needs_conf", DATE) is None
    assert run(dag, store, conf={"who": "ops"})[1] == {"t": "success"}


def test_a_try_whose_context_cannot_be_built_fails_like_any_error(store) -> None:
    """A task's own param that the run's conf sets to a value of the wrong type."""
    failures: list[str] = []
    with new_dag("bad_task_param") as dag:
        PythonOperator(task_id="t", python_callable=lambda: None, params={"n": Param(1, type="integer")},
                       on_failure_callback=lambda context: failures.append(str(context["exception"])))
    result, states = run(dag, store, conf={"n": "x"})
    assert states == {"t": "failed"} and result.state == "failed"
    assert failures == ["param 'n': 'x' is not of type integer"]


def test_dag_callbacks_receive_the_run_context_and_the_reason(store) -> None:
    """As in Airflow 2.10 (DAG.handle_callback): the template context of a task
    instance of the run, plus ``reason``."""
    calls: list[dict[str, Any]] = []

    def record(context) -> None:
        calls.append({"reason": context["reason"], "run_id": context["dag_run"].run_id,
                      "ds": context["ds"], "dag_id": context["dag"].dag_id})

    with new_dag("dag_cb_fail", on_failure_callback=record, on_success_callback=record) as failing:
        PythonOperator(task_id="bad", python_callable=boom)
    with new_dag("dag_cb_ok", on_failure_callback=record, on_success_callback=record) as passing:
        PythonOperator(task_id="good", python_callable=ok)
    failed, _ = run(failing, store)
    succeeded, _ = run(passing, store)
    assert (failed.state, succeeded.state) == ("failed", "success")
    assert calls == [
        {"reason": "task_failure", "run_id": failed.run_id, "ds": "2024-01-02", "dag_id": "dag_cb_fail"},
        {"reason": "success", "run_id": succeeded.run_id, "ds": "2024-01-02", "dag_id": "dag_cb_ok"},
    ]


def test_a_dag_callback_that_raises_does_not_change_the_run(store) -> None:
    def broken(context) -> None:
        raise RuntimeError("dag callback broke")

    with new_dag("dag_cb_raises", on_success_callback=broken) as dag:
        PythonOperator(task_id="good", python_callable=ok)
    result, _ = run(dag, store)
    assert result.state == "success"
    assert store.get_run("dag_cb_raises", result.run_id).state == "success"


def test_testing_again_replaces_the_run_of_the_same_date(store) -> None:
    calls = []
    with new_dag("again") as dag:
        PythonOperator(task_id="a", python_callable=lambda: calls.append(1))
    first = run_dag_test(dag, DATE, store=store)
    second = run_dag_test(dag, DATE, store=store)
    assert first.state == second.state == "success"
    assert len(calls) == 2
    runs = store.list_runs("again")
    assert [r.run_id for r in runs] == [second.run_id]
    assert [ti.try_number for ti in second.task_instances] == [1]


def test_a_run_before_the_dags_start_date_has_no_task_to_run_and_succeeds(store) -> None:
    """As in Airflow: tasks take the DAG's start_date, and a run outside a task's window
    gets no instance of it."""
    with DAG("not_yet", start_date=dt.datetime(2030, 1, 1, tzinfo=UTC), schedule="@daily") as dag:
        PythonOperator(task_id="a", python_callable=ok) >> PythonOperator(task_id="b", python_callable=ok)
    result, states = run(dag, store)
    assert (result.state, states) == ("success", {})


def test_pools_and_concurrency_limits_do_not_hold_a_test_run(store) -> None:
    """Airflow's ``dags test`` runs each try directly: a pool this deployment lacks (or a
    full one) stops nothing."""
    store.set_pool("empty", 0)
    with new_dag("pooled_test", max_active_tasks=1) as dag:
        a = PythonOperator(task_id="a", python_callable=ok, pool="not_here")
        b = PythonOperator(task_id="b", python_callable=ok, pool="empty", max_active_tis_per_dag=1)
        a >> b
    result, states = run(dag, store)
    assert (result.state, states) == ("success", {"a": S, "b": S})


def test_tasks_run_in_dependency_order(store) -> None:
    order: list[str] = []
    with new_dag("order") as dag:
        a = PythonOperator(task_id="a", python_callable=lambda: order.append("a"))
        b = PythonOperator(task_id="b", python_callable=lambda: order.append("b"))
        c = PythonOperator(task_id="c", python_callable=lambda: order.append("c"))
        d = PythonOperator(task_id="d", python_callable=lambda: order.append("d"))
        c >> b >> a
        [a, b] >> d
    result, _ = run(dag, store)
    assert result.state == "success"
    assert order == ["c", "b", "a", "d"]
    assert [ti.task_id for ti in result.task_instances] == ["c", "b", "a", "d"]


# --- branching -------------------------------------------------------------------------


def _branch_dag(dag_id: str, choose: Any, join_rule: str = "none_failed_min_one_success") -> DAG:
    """branch >> [a, b, c]; each >> its own tail; [a, b, c] >> join."""
    with new_dag(dag_id) as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: choose)
        join = PythonOperator(task_id="join", python_callable=ok, trigger_rule=join_rule)
        for name in "abc":
            step = PythonOperator(task_id=name, python_callable=ok)
            branch >> step >> join
            step >> PythonOperator(task_id=f"{name}_tail", python_callable=ok)
    return dag


def test_branch_follows_one_branch_and_skips_the_others(store) -> None:
    result, states = run(_branch_dag("branch_one", "a"), store)
    assert states == {"branch": S, "a": S, "b": K, "c": K, "a_tail": S, "b_tail": K, "c_tail": K, "join": S}
    assert result.state == "success"
    xcom = store.xcom_pull("branch_one", result.run_id, ["branch"], "return_value")
    assert [r.value for r in xcom] == ['"a"']


def skipmixin_xcom(store: Any, dag_id: str, run_id: str, task_id: str) -> Any:
    rows = store.xcom_pull(dag_id, run_id, [task_id], "skipmixin_key")
    return json.loads(rows[0].value) if rows else None


def test_branching_tells_what_it_followed_through_the_skipmixin_xcom(store) -> None:
    result, _ = run(_branch_dag("branch_xcom", "b"), store)
    assert skipmixin_xcom(store, "branch_xcom", result.run_id, "branch") == {"followed": ["b"]}
    result, _ = run(_branch_dag("branch_xcom_none", None), store)
    assert skipmixin_xcom(store, "branch_xcom_none", result.run_id, "branch") == {"followed": []}


def test_branch_follows_several_branches(store) -> None:
    result, states = run(_branch_dag("branch_two", ["a", "c"]), store)
    assert states == {"branch": S, "a": S, "b": K, "c": S, "a_tail": S, "b_tail": K, "c_tail": S, "join": S}
    assert result.state == "success"


def test_branch_join_with_all_success_is_skipped(store) -> None:
    result, states = run(_branch_dag("branch_all_success", "b", join_rule="all_success"), store)
    assert states["b"] == S
    assert states["a"] == states["c"] == K
    assert states["join"] == K
    assert result.state == "success"


def test_branch_returning_none_skips_every_direct_downstream(store) -> None:
    result, states = run(_branch_dag("branch_none", None), store)
    assert states == {"branch": S, "a": K, "b": K, "c": K, "a_tail": K, "b_tail": K, "c_tail": K, "join": K}
    assert result.state == "success"


def test_branch_returning_an_unknown_task_id_fails(store) -> None:
    result, states = run(_branch_dag("branch_unknown", "nope"), store)
    assert states["branch"] == F
    assert states["a"] == states["b"] == states["c"] == U
    assert states["join"] == U
    assert result.state == "failed"


def test_branch_to_a_join_that_is_also_a_direct_downstream_keeps_the_join(store) -> None:
    """The empty branch: branch >> join and branch >> work >> join; choosing 'join'
    skips 'work' only, and the join runs under none_failed_min_one_success."""
    with new_dag("branch_empty") as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "join")
        work = PythonOperator(task_id="work", python_callable=ok)
        join = PythonOperator(task_id="join", python_callable=ok, trigger_rule="none_failed_min_one_success")
        branch >> work >> join
        branch >> join
    result, states = run(dag, store)
    assert states == {"branch": S, "work": K, "join": S}
    assert result.state == "success"


def test_task_branch_decorator(store) -> None:
    with new_dag("task_branch") as dag:
        @task.branch
        def pick(params) -> list[str]:
            return params["paths"]

        chosen = pick()
        for name in ("x", "y", "z"):
            chosen >> EmptyOperator(task_id=name)
    result, states = run(dag, store, conf={"paths": ["x", "z"]})
    assert states == {"pick": S, "x": S, "y": K, "z": S}
    assert result.state == "success"

    result, states = run(dag, store, conf={"paths": "y"})
    assert states == {"pick": S, "x": K, "y": S, "z": K}


def test_task_branch_returning_none(store) -> None:
    with new_dag("task_branch_none") as dag:
        @task.branch
        def pick() -> None:
            return None

        chosen = pick()
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        for name in ("x", "y"):
            chosen >> EmptyOperator(task_id=name) >> join
    result, states = run(dag, store)
    assert states == {"pick": S, "x": K, "y": K, "join": K}
    assert result.state == "success"


# --- short-circuit ---------------------------------------------------------------------


def _short_circuit_dag(dag_id: str, condition: Any, ignore: bool = True) -> DAG:
    """check >> a >> [b (all_success), c (all_done)]; other >> c."""
    with new_dag(dag_id) as dag:
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: condition,
                                     ignore_downstream_trigger_rules=ignore)
        a = PythonOperator(task_id="a", python_callable=ok)
        b = PythonOperator(task_id="b", python_callable=ok)
        c = PythonOperator(task_id="c", python_callable=ok, trigger_rule="all_done")
        other = PythonOperator(task_id="other", python_callable=ok)
        check >> a >> [b, c]
        other >> c
    return dag


def test_short_circuit_falsy_skips_everything_downstream(store) -> None:
    for falsy in (False, 0, "", [], None):
        result, states = run(_short_circuit_dag("sc_falsy", falsy), store)
        # with ignore_downstream_trigger_rules=True (the default) even the all_done task is skipped
        assert states == {"check": S, "a": K, "b": K, "c": K, "other": S}, falsy
        assert result.state == "success"


def test_short_circuit_respecting_trigger_rules_skips_only_direct_downstream(store) -> None:
    result, states = run(_short_circuit_dag("sc_direct", False, ignore=False), store)
    assert states == {"check": S, "a": K, "b": K, "c": S, "other": S}
    assert result.state == "success"


def test_short_circuit_tells_what_it_skipped_and_spares_teardowns(store) -> None:
    with new_dag("sc_teardown") as dag:
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: False)
        work = PythonOperator(task_id="work", python_callable=ok)
        cleanup = PythonOperator(task_id="cleanup", python_callable=ok).as_teardown()
        check >> work >> cleanup
    result, states = run(dag, store)
    assert states == {"check": S, "work": K, "cleanup": S}
    assert skipmixin_xcom(store, "sc_teardown", result.run_id, "check") == {"skipped": ["work"]}
    result, _ = run(_short_circuit_dag("sc_truthy_xcom", True), store)
    assert skipmixin_xcom(store, "sc_truthy_xcom", result.run_id, "check") is None


def test_short_circuit_truthy_lets_everything_run(store) -> None:
    result, states = run(_short_circuit_dag("sc_truthy", {"go": 1}), store)
    assert states == {"check": S, "a": S, "b": S, "c": S, "other": S}
    assert result.state == "success"


def test_task_short_circuit_decorator(store) -> None:
    with new_dag("task_sc") as dag:
        @task.short_circuit
        def gate(params) -> bool:
            return params["go"]

        gate() >> EmptyOperator(task_id="after")
    _, states = run(dag, store, conf={"go": False})
    assert states == {"gate": S, "after": K}
    _, states = run(dag, store, conf={"go": True})
    assert states == {"gate": S, "after": S}


def test_xcom_pull_with_prior_dates_falls_back_on_the_newest_earlier_run_with_a_value(store) -> None:
    """An incremental load's watermark: the first run pushes one, the next two do not,
    and each pull with include_prior_dates finds the newest earlier value; without it,
    the current run's (none) is the default."""

    def mark(ti: Any, logical_date: dt.datetime) -> list[Any]:
        if logical_date.day == 1:
            ti.xcom_push("watermark", "first")
        return [ti.xcom_pull(task_ids="mark", key="watermark", include_prior_dates=True),
                ti.xcom_pull(task_ids="mark", key="watermark", default="none here"),
                ti.xcom_pull(task_ids=["mark"], key="watermark", include_prior_dates=True)]

    dag = new_dag("watermarks")
    PythonOperator(task_id="mark", python_callable=mark, dag=dag)
    got = []
    for day in (1, 2, 3):
        result = run_dag_test(dag, dt.datetime(2024, 1, day, tzinfo=UTC), store=store)
        [row] = store.xcom_pull("watermarks", result.run_id, ["mark"], "return_value")
        got.append(json.loads(row.value))
    assert got == [["first", "first", ["first"]], ["first", "none here", ["first"]],
                   ["first", "none here", ["first"]]]


def test_include_prior_dates_in_a_try_whose_run_is_not_recorded_still_sees_its_own_values(store) -> None:
    """``tasks test`` runs a try without recording its run: its own pushes come first,
    the recorded earlier runs after."""
    dag = new_dag("unrecorded")
    task = PythonOperator(task_id="t", python_callable=ok, dag=dag)
    assert run_dag_test(dag, DATE - dt.timedelta(days=1), store=store).state == "success"
    ti = TaskInstance(task, DagRun("unrecorded", "manual__unrecorded", DATE, DATE, DATE))
    ti.xcom_push("k", "mine")
    assert ti.xcom_pull(task_ids="t", key="k", include_prior_dates=True) == "mine"
    assert ti.xcom_pull(task_ids="t", include_prior_dates=True) == "ok"  # the earlier run's return value


def test_run_if_and_skip_if_decide_when_the_task_starts(store) -> None:
    calls: list[str] = []

    @task.run_if(lambda context: context["params"]["go"])
    @task
    def gated() -> str:
        return "ran"

    @task.skip_if(lambda context: (context["ds"] == "2024-01-02", "not on the 2nd"))
    @task.run_if(lambda context: calls.append("run_if") is None)
    @task(pre_execute=lambda context: calls.append("pre_execute"))
    def stacked() -> str:
        return "ran"

    with new_dag("conditions", params={"go": True}) as dag:
        gated() >> PythonOperator(task_id="after", python_callable=ok)
        stacked()
    states = run(dag, store, conf={"go": False})[1]
    assert (states["gated"], states["after"], states["stacked"]) == (K, K, K)
    assert calls == ["pre_execute", "run_if"]  # its own hook, then the conditions from the innermost out
    assert run(dag, store, conf={"go": True})[1]["gated"] == S
    with pytest.raises(DagDefinitionError, match="goes above @task"):
        task.skip_if(lambda context: True)(ok)
