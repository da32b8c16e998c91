"""miniflow.trigger_rules: `decide()` must give Airflow 2.10's verdict for every rule.

The reference is Airflow 2.10's TriggerRuleDep with ``flag_upstream_failed`` on (what the
scheduler uses): a task runs as soon as its rule is met, a rule that can no longer be
met ends the task (upstream_failed when failures made it impossible, skipped otherwise),
and anything else waits. A table spells out the verdicts case by case; hypothesis then
checks the same semantics, stated independently, against every mix of upstream states.

REMOVED upstreams are left out: in Airflow they matter only for mapped task instances,
which miniflow does not have.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow.state import TaskInstanceState as TIS
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

R = TriggerRule
RUN, WAIT, SKIP, UF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED

# Shorthand for the table: S success, F failed, K skipped, U upstream_failed, P pending.
_CODES = {"S": TIS.SUCCESS, "F": TIS.FAILED, "K": TIS.SKIPPED, "U": TIS.UPSTREAM_FAILED, "P": TIS.RUNNING}
FINISHED = [TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED, TIS.UPSTREAM_FAILED]
PENDING = [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE]
RULES = [r for r in TriggerRule if r.current is r]  # old names are tested apart
FAILURES = {TIS.FAILED, TIS.UPSTREAM_FAILED}


def counts(code: str) -> UpstreamCounts:
    return UpstreamCounts.of(_CODES[c] for c in code)


# (rule, upstream states, Airflow 2.10's decision)
TABLE = [
    # all_success: any failure ends it at once, even while others still run
    (R.ALL_SUCCESS, "SS", RUN),
    (R.ALL_SUCCESS, "SP", WAIT),
    (R.ALL_SUCCESS, "FP", UF),
    (R.ALL_SUCCESS, "US", UF),
    (R.ALL_SUCCESS, "KS", SKIP),
    (R.ALL_SUCCESS, "KP", SKIP),
    (R.ALL_SUCCESS, "KF", UF),  # a failure outranks a skip
    (R.ALL_SUCCESS, "KU", UF),
    # all_failed: failed or upstream_failed all round; any success or skip rules it out
    (R.ALL_FAILED, "FF", RUN),
    (R.ALL_FAILED, "FU", RUN),
    (R.ALL_FAILED, "FP", WAIT),
    (R.ALL_FAILED, "FS", SKIP),
    (R.ALL_FAILED, "FK", SKIP),
    (R.ALL_FAILED, "SP", SKIP),
    # all_done: whatever the outcome, once everything finished
    (R.ALL_DONE, "SFKU", RUN),
    (R.ALL_DONE, "KK", RUN),
    (R.ALL_DONE, "SP", WAIT),
    (R.ALL_DONE, "FP", WAIT),
    # all_skipped
    (R.ALL_SKIPPED, "KK", RUN),
    (R.ALL_SKIPPED, "KP", WAIT),
    (R.ALL_SKIPPED, "KS", SKIP),
    (R.ALL_SKIPPED, "KF", SKIP),
    (R.ALL_SKIPPED, "KU", SKIP),
    (R.ALL_SKIPPED, "SP", SKIP),
    # one_success: runs on the first success without waiting for the rest
    (R.ONE_SUCCESS, "SP", RUN),
    (R.ONE_SUCCESS, "SF", RUN),
    (R.ONE_SUCCESS, "FP", WAIT),
    (R.ONE_SUCCESS, "KP", WAIT),
    (R.ONE_SUCCESS, "KK", SKIP),  # all done, all skipped
    (R.ONE_SUCCESS, "FK", UF),  # all done, failures and no success
    (R.ONE_SUCCESS, "FF", UF),
    (R.ONE_SUCCESS, "UU", UF),
    # one_failed: runs on the first failure (upstream_failed counts); never upstream_failed itself
    (R.ONE_FAILED, "FP", RUN),
    (R.ONE_FAILED, "UP", RUN),
    (R.ONE_FAILED, "SP", WAIT),
    (R.ONE_FAILED, "SS", SKIP),
    (R.ONE_FAILED, "SK", SKIP),
    # one_done: one success or failed; upstream_failed and skipped do not count
    (R.ONE_DONE, "SP", RUN),
    (R.ONE_DONE, "FP", RUN),
    (R.ONE_DONE, "KP", WAIT),
    (R.ONE_DONE, "UP", WAIT),
    (R.ONE_DONE, "KK", SKIP),
    (R.ONE_DONE, "KU", SKIP),
    # none_failed: success or skipped all round
    (R.NONE_FAILED, "SK", RUN),
    (R.NONE_FAILED, "KK", RUN),
    (R.NONE_FAILED, "SP", WAIT),
    (R.NONE_FAILED, "FP", UF),
    (R.NONE_FAILED, "US", UF),
    # none_failed_min_one_success: as none_failed, and all-skipped is a skip
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "SK", RUN),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "SS", RUN),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "KK", SKIP),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "KP", WAIT),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "SP", WAIT),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "FP", UF),
    (R.NONE_FAILED_MIN_ONE_SUCCESS, "UK", UF),
    # none_skipped: failures are fine; any skip rules it out at once
    (R.NONE_SKIPPED, "SF", RUN),
    (R.NONE_SKIPPED, "SU", RUN),
    (R.NONE_SKIPPED, "SP", WAIT),
    (R.NONE_SKIPPED, "KP", SKIP),
    (R.NONE_SKIPPED, "SK", SKIP),
    # always
    (R.ALWAYS, "FF", RUN),
    (R.ALWAYS, "PP", RUN),
    (R.ALWAYS, "KU", RUN),
]


@pytest.mark.parametrize(("rule", "states", "expected"), TABLE, ids=[f"{r.value}-{s}" for r, s, _ in TABLE])
def test_decision_table(rule, states, expected):
    assert decide(rule, counts(states)) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_no_upstream_always_runs(rule):
    """A root task has nothing to wait for, whatever its rule."""
    assert decide(rule, UpstreamCounts(total=0)) is RUN


def test_rule_given_as_string():
    """DAG files pass trigger rules as plain strings (`trigger_rule="one_failed"`)."""
    assert decide("one_failed", counts("FP")) is RUN
    assert decide("all_success", counts("KS")) is SKIP


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="bogus"):
        decide("bogus", counts("S"))
    assert not TriggerRule.is_valid("bogus")
    assert TriggerRule.is_valid("none_failed_min_one_success")
    assert "always" in TriggerRule.all_triggers()


@pytest.mark.parametrize(("states", "setup_states", "expected"), [
    ("SS", "S", RUN),  # the setup and the work succeeded
    ("SF", "S", RUN),  # the work failed: the teardown still runs
    ("FS", "F", UF),  # its only setup failed: nothing to tear down
    ("SF", "SF", RUN),  # one of two setups succeeded: enough
    ("KK", "K", SKIP),  # every setup skipped
    ("SP", "S", WAIT),  # work still running
])
def test_teardown_rule_waits_for_everything_and_needs_one_setup(states, setup_states, expected):
    """all_done_setup_success, a teardown's rule, as Airflow 2.10 decides it."""
    up = UpstreamCounts.of([_CODES[c] for c in states], [_CODES[c] for c in setup_states])
    assert decide(R.ALL_DONE_SETUP_SUCCESS, up) is expected


def test_upstream_counts_of_states():
    """Pending states (no state, scheduled, running, retrying) count toward total only."""
    c = UpstreamCounts.of(["success", TIS.FAILED, None, "running", "up_for_retry", "skipped",
                           "upstream_failed", "success"])
    assert (c.total, c.success, c.failed, c.skipped, c.upstream_failed) == (8, 2, 1, 1, 1)
    assert c.done == 5 and not c.all_done
    assert UpstreamCounts.of([TIS.SUCCESS, TIS.SKIPPED]).all_done


# --- properties ------------------------------------------------------------------------

states_st = st.lists(st.sampled_from(FINISHED + PENDING), max_size=6)


def _met(rule: TriggerRule, states: list) -> bool:
    """Whether `rule` is satisfied by `states`, as Airflow's docs define each rule."""
    done = all(s in FINISHED for s in states)
    n = {s: states.count(s) for s in FINISHED}
    failures = n[TIS.FAILED] + n[TIS.UPSTREAM_FAILED]
    return {
        R.ALL_SUCCESS: n[TIS.SUCCESS] == len(states),
        R.ALL_FAILED: failures == len(states),
        R.ALL_DONE: done,
        R.ALL_SKIPPED: n[TIS.SKIPPED] == len(states),
        R.ONE_SUCCESS: n[TIS.SUCCESS] > 0,
        R.ONE_FAILED: failures > 0,
        R.ONE_DONE: n[TIS.SUCCESS] + n[TIS.FAILED] > 0,
        R.NONE_FAILED: done and failures == 0,
        R.NONE_FAILED_MIN_ONE_SUCCESS: done and failures == 0 and n[TIS.SUCCESS] > 0,
        R.NONE_SKIPPED: done and n[TIS.SKIPPED] == 0,
        R.ALWAYS: True,
        R.ALL_DONE_SETUP_SUCCESS: done,  # with no setup upstream: all_done
    }[rule]


def _completions(states: list):
    """Every way the pending upstreams could still finish."""
    pending = [i for i, s in enumerate(states) if s not in FINISHED]
    for outcome in itertools.product(FINISHED, repeat=len(pending)):
        done = list(states)
        for i, s in zip(pending, outcome):
            done[i] = s
        yield done


@settings(max_examples=400, deadline=None)
@given(rule=st.sampled_from(RULES), states=states_st.filter(bool))
def test_decision_matches_airflow_semantics(rule, states):
    """RUN iff the rule is met now; WAIT iff not yet but some outcome of the pending
    upstreams would meet it; otherwise the task ends unrun, as UPSTREAM_FAILED only for
    the rules that demand success (all_success, one_success, none_failed*) when an
    upstream failed, and as SKIP in every other case."""
    decision = decide(rule, UpstreamCounts.of(states))
    if _met(rule, states):
        assert decision is RUN
    elif any(_met(rule, done) for done in _completions(states)):
        assert decision is WAIT
    elif rule in (R.ALL_SUCCESS, R.ONE_SUCCESS, R.NONE_FAILED, R.NONE_FAILED_MIN_ONE_SUCCESS) and (
        FAILURES & set(states)
    ):
        assert decision is UF
    else:
        assert decision is SKIP


@settings(max_examples=200, deadline=None)
@given(rule=st.sampled_from(RULES), states=states_st, data=st.data())
def test_decision_does_not_depend_on_order(rule, states, data):
    shuffled = data.draw(st.permutations(states))
    assert decide(rule, UpstreamCounts.of(shuffled)) is decide(rule, UpstreamCounts.of(states))


@settings(max_examples=300, deadline=None)
@given(rule=st.sampled_from(RULES), states=states_st, data=st.data())
def test_verdicts_are_final(rule, states, data):
    """The scheduler acts on a verdict at once, so later upstream outcomes must not
    contradict it: RUN and UPSTREAM_FAILED stay as they are, and SKIP never turns into
    RUN or WAIT (it can only harden into UPSTREAM_FAILED, e.g. all_success with a skip
    and then a failure; Airflow has already skipped the task by then)."""
    before = decide(rule, UpstreamCounts.of(states))
    later = [data.draw(st.sampled_from([s, *FINISHED])) if s not in FINISHED else s for s in states]
    after = decide(rule, UpstreamCounts.of(later))
    if before in (RUN, UF):
        assert after is before
    elif before is SKIP:
        assert after in (SKIP, UF)


@settings(max_examples=200, deadline=None)
@given(rule=st.sampled_from(RULES), states=st.lists(st.sampled_from(FINISHED), max_size=6))
def test_never_waits_once_every_upstream_finished(rule, states):
    """Otherwise a task could hang forever in a run that has nothing left to do."""
    assert decide(rule, UpstreamCounts.of(states)) is not WAIT


@settings(max_examples=50, deadline=None)
@given(n=st.integers(min_value=1, max_value=20))
def test_all_upstream_success(n):
    """With every upstream successful, only the rules that want failures or skips do not run."""
    up = UpstreamCounts(total=n, success=n)
    for rule in RULES:
        expected = SKIP if rule in (R.ALL_FAILED, R.ALL_SKIPPED, R.ONE_FAILED) else RUN
        assert decide(rule, up) is expected, rule


@settings(max_examples=200, deadline=None)
@given(rule=st.sampled_from(RULES), states=states_st)
def test_upstream_failed_needs_a_failure(rule, states):
    """Only a failed (or upstream_failed) upstream can make a task upstream_failed, and
    the rules that accept failures never produce it."""
    decision = decide(rule, UpstreamCounts.of(states))
    if decision is UF:
        assert FAILURES & set(states)
        assert rule not in (R.ALL_FAILED, R.ONE_FAILED, R.ONE_DONE, R.ALL_DONE, R.NONE_SKIPPED,
                            R.ALL_SKIPPED, R.ALWAYS)


def test_old_names_stand_for_their_current_rules() -> None:
    assert R.NONE_FAILED_OR_SKIPPED.current is R.NONE_FAILED_MIN_ONE_SUCCESS
    assert R.DUMMY.current is R.ALWAYS
    assert all(r.current is r for r in RULES)
