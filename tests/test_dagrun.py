"""Properties of `miniflow.dagrun.evaluate_run`: a run always reaches an end, every
verdict follows the trigger rules, and the run's state follows Airflow's leaf rule."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow.dag import DAG
from miniflow.dagrun import RunStates, RunView, evaluate_run, run_outcome
from miniflow.operators.empty import EmptyOperator
from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
RULES = [r for r in TriggerRule if r.current is r]
A, B = ("a", -1), ("b", -1)  # task instances of tasks that are not mapped


@st.composite
def runs(draw: st.DrawFn) -> tuple[DAG, list[TIS]]:
    n = draw(st.integers(1, 12))
    dag = DAG(f"d{n}", schedule=None, start_date=NOW)
    tasks = [EmptyOperator(task_id=f"t{i}", dag=dag, trigger_rule=draw(st.sampled_from(RULES))) for i in range(n)]
    for j in range(1, n):
        for i in draw(st.sets(st.integers(0, j - 1), max_size=3)):
            tasks[i] >> tasks[j]
    outcomes = draw(st.lists(st.sampled_from([TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED]), min_size=n, max_size=n))
    return dag, outcomes


@settings(max_examples=300, deadline=None)
@given(runs())
def test_a_run_always_ends_and_every_verdict_follows_the_rules(case: tuple[DAG, list[TIS]]) -> None:
    dag, outcomes = case
    states: dict[tuple[str, int], TIS | None] = {(t, -1): None for t in dag.task_dict}
    for _ in range(4 * len(states) + 2):
        decisions = evaluate_run(dag, states, NOW)
        for key in decisions.skip + decisions.upstream_failed + decisions.runnable:
            task = dag.task_dict[key[0]]
            counts = UpstreamCounts.of(states[u, -1] for u in task.upstream_task_ids)
            expected = {Decision.SKIP: decisions.skip, Decision.UPSTREAM_FAILED: decisions.upstream_failed,
                        Decision.RUN: decisions.runnable}
            verdict = decide(task.trigger_rule, counts)
            # A verdict made in this pass may rest on upstream verdicts of the same pass.
            assert key in expected.get(verdict, []) or any(
                (u, -1) in decisions.skip + decisions.upstream_failed for u in task.upstream_task_ids)
        for key in decisions.skip:
            states[key] = TIS.SKIPPED
        for key in decisions.upstream_failed:
            states[key] = TIS.UPSTREAM_FAILED
        if decisions.outcome is not None:  # as the scheduler does: record, then end the run
            break
        for key in decisions.runnable:  # "run" it: it ends as the case says
            states[key] = outcomes[int(key[0][1:])]
    else:
        raise AssertionError("the run never ended")
    assert all(s in FINISHED for s in states.values())
    leaves_ok = all(states[t.task_id, -1] in (TIS.SUCCESS, TIS.SKIPPED) for t in dag.leaves)
    assert decisions.outcome == (DagRunState.SUCCESS if leaves_ok else DagRunState.FAILED)
    for (task_id, _), state in states.items():
        if state == TIS.UPSTREAM_FAILED:
            ups = [states[u, -1] for u in dag.task_dict[task_id].upstream_task_ids]
            assert any(s in (TIS.FAILED, TIS.UPSTREAM_FAILED) for s in ups)


@settings(max_examples=300, deadline=None)
@given(runs(), st.data())
def test_deciding_only_what_changed_decides_as_deciding_everything(case: tuple[DAG, list[TIS]],
                                                                    data: st.DataObject) -> None:
    """The scheduler's `RunView` decides only the tasks downstream of noted changes;
    through random ends and clears, it decides exactly what a look at every task does."""
    dag, _ = case
    truth: dict[tuple[str, int], TIS | None] = {(t, -1): None for t in dag.task_dict}
    view = RunView.load(dag, truth, {})

    def change(key: tuple[str, int], state: TIS | None) -> None:  # a write, seen by the view as a changed row
        truth[key] = state
        view.note(SimpleNamespace(task_id=key[0], map_index=key[1], state=state, next_try_at=None))

    for _ in range(3 * len(truth)):
        seen = evaluate_run(dag, view.states, NOW, candidates=view.take_candidates())
        every = evaluate_run(dag, truth, NOW)
        for name in ("runnable", "skip", "upstream_failed"):
            assert sorted(getattr(seen, name)) == sorted(getattr(every, name)), name
        assert seen.outcome == every.outcome
        for keys, state in ((seen.runnable, TIS.SCHEDULED), (seen.skip, TIS.SKIPPED),
                            (seen.upstream_failed, TIS.UPSTREAM_FAILED)):
            for key in keys:
                change(key, state)
        scheduled = sorted(k for k, s in truth.items() if s == TIS.SCHEDULED)
        finished = sorted(k for k, s in truth.items() if s in FINISHED)
        if data.draw(st.booleans()) and finished:  # someone clears a finished task
            change(data.draw(st.sampled_from(finished)), None)
        elif scheduled:  # one ends
            change(data.draw(st.sampled_from(scheduled)), data.draw(st.sampled_from([TIS.SUCCESS, TIS.FAILED])))
        elif every.outcome is not None:
            break


def test_a_retry_is_due_only_after_its_time() -> None:
    dag = DAG("retry", schedule=None, start_date=NOW)
    EmptyOperator(task_id="a", dag=dag)
    later = NOW + dt.timedelta(minutes=5)
    assert evaluate_run(dag, {A: TIS.UP_FOR_RETRY}, NOW, {A: later}).retry_due == []
    assert evaluate_run(dag, {A: TIS.UP_FOR_RETRY}, later, {A: later}).retry_due == [A]


def test_always_runs_without_waiting_for_upstream() -> None:
    dag = DAG("always", schedule=None, start_date=NOW)
    a = EmptyOperator(task_id="a", dag=dag)
    b = EmptyOperator(task_id="b", dag=dag, trigger_rule="always")
    a >> b
    assert evaluate_run(dag, {A: TIS.RUNNING, B: None}, NOW).runnable == [B]


def test_a_failed_inner_task_with_a_successful_leaf_is_a_successful_run() -> None:
    dag = DAG("leaf", schedule=None, start_date=NOW)
    a = EmptyOperator(task_id="a", dag=dag)
    b = EmptyOperator(task_id="b", dag=dag, trigger_rule="all_done")
    a >> b
    assert run_outcome(dag, {A: TIS.FAILED, B: TIS.SUCCESS}) == DagRunState.SUCCESS
    assert run_outcome(dag, {A: TIS.SUCCESS, B: TIS.FAILED}) == DagRunState.FAILED


_STATES = st.sampled_from([None, *TIS])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "join"]), st.integers(-1, 2), _STATES,
                          st.booleans()), max_size=40))
def test_upstream_counts_follow_every_change_of_state(changes: list[tuple[str, int, TIS | None, bool]]) -> None:
    """The per-task tally of upstream states that spares a fan-in a scan of its
    upstream instances equals a recount after any sequence of sets and drops."""
    with DAG("tally", start_date=dt.datetime(2024, 1, 1), schedule=None) as dag:
        a, b, c, join = (EmptyOperator(task_id=t) for t in ("a", "b", "c", "join"))
        [a, b] >> join
        c >> b
    run = RunStates.of({("a", -1): None, ("b", -1): TIS.SUCCESS})
    run.upstream_states(dag, "join")  # the tally exists from here on, updated by each change
    for task_id, index, state, drop in changes:
        if drop:
            run.drop((task_id, index))
        else:
            run.set((task_id, index), state)
    for task_id in dag.task_dict:
        recount = Counter(s for up in dag.task_dict[task_id].upstream_task_ids for s in run.by_task[up].values())
        assert +run.upstream_states(dag, task_id) == +recount, task_id


def test_a_wide_fan_in_is_decided_from_counts() -> None:
    """5,000 upstream tasks ending one by one: each decision of the join reads counts,
    and the join runs once the last one succeeds."""
    with DAG("fan_in", start_date=dt.datetime(2024, 1, 1), schedule=None) as dag:
        ups = [EmptyOperator(task_id=f"t{i}") for i in range(5000)]
        ups >> EmptyOperator(task_id="join")
    view = RunView.load(dag, {**{(t.task_id, -1): TIS.RUNNING for t in ups}, ("join", -1): None}, {})
    now = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    for i, task in enumerate(ups):
        view.note(SimpleNamespace(task_id=task.task_id, map_index=-1, state=TIS.SUCCESS, next_try_at=None))
        decisions = evaluate_run(dag, view.states, now, candidates=view.take_candidates())
        assert decisions.runnable == ([("join", -1)] if i == len(ups) - 1 else [])


def test_what_a_finished_branch_said_skips_a_task_whatever_its_rule_and_nothing_else_does() -> None:
    """Airflow's NotPreviouslySkippedDep: only a finished SkipMixin's skipmixin_key
    counts, only a dict of it, and it skips even a task whose rule would wait or fail."""
    from miniflow.operators.python import BranchPythonOperator

    dag = DAG("said", schedule=None, start_date=NOW)
    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "kept", dag=dag)
    other = EmptyOperator(task_id="other", dag=dag)
    for name in ("kept", "dropped", "waiting"):
        branch >> EmptyOperator(task_id=name, dag=dag)
    other >> dag.task_dict["waiting"]  # its all_success rule would wait for `other`, or fail with it
    orders = {"branch": {"followed": ["kept"]}}
    states = {("branch", -1): TIS.SUCCESS, ("other", -1): TIS.FAILED,
              ("kept", -1): None, ("dropped", -1): None, ("waiting", -1): None}
    decisions = evaluate_run(dag, states, NOW, skip_orders=orders.get)
    assert sorted(decisions.skip) == [("dropped", -1), ("waiting", -1)]
    assert decisions.runnable == [("kept", -1)] and decisions.upstream_failed == []
    for said in (None, "not a dict", {"skipped": ["kept"]}):
        decisions = evaluate_run(dag, states, NOW, skip_orders=lambda _, said=said: said)
        assert ("dropped", -1) in decisions.runnable
    running = {**states, ("branch", -1): TIS.RUNNING}  # it runs again: its old word does not count
    assert evaluate_run(dag, running, NOW, skip_orders=orders.get).skip == []
