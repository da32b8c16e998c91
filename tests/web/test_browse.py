"""The Browse pages: every DAG's runs and task instances, filtered and paginated, with
bulk actions that change exactly the ticked rows and leave one audit event per run."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import WebSite

from miniflow import DAG, task
from miniflow.dag_test import run_dag_test
from miniflow.operators.empty import EmptyOperator
from miniflow.sensors.external_task import ExternalTaskMarker
from miniflow.state import DagRunState

# The filters and pages are SQL, so they run on SQLite and PostgreSQL; the actions are
# the store's own operations, tested on both elsewhere, so SQLite is enough for them.
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FEB = dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc)


def add_run(store: Any, dag_id: str, day: int, run_type: str = "scheduled", state: str | None = None) -> str:
    """A run of `dag_id` on February `day`, marked `state` if given."""
    rows = [t["row"] for t in store.serialized_dag(dag_id).data["tasks"]]
    when = FEB.replace(day=day)
    run_id = f"{run_type}__{when.isoformat()}"
    assert store.create_run(dag_id, rows, run_id, when, None, run_type) is not None
    if state:
        store.mark_run(dag_id, run_id, DagRunState(state))
    return run_id


@pytest.fixture
def site(web_site: WebSite) -> WebSite:
    """web_site, plus runs of page_dag_0 (scheduled, Feb 1 and 2, the second failed) and
    page_dag_1 (a backfill, Feb 3)."""
    add_run(web_site.store, "page_dag_0", 1)
    add_run(web_site.store, "page_dag_0", 2, state="failed")
    add_run(web_site.store, "page_dag_1", 3, run_type="backfill")
    return web_site


def shown_runs(html: str) -> list[tuple[str, str]]:
    """(dag_id, run_id) of the rows of a Browse page, in order, read from the run links."""
    rows = re.findall(r'<td><a href="/dags/([^"?]+)\?run_id=([^"]+)">', html)
    return [(dag_id, unquote(run_id)) for dag_id, run_id in rows]


def shown_tis(html: str) -> list[tuple[str, str, str]]:
    """(dag_id, run_id, task_id[map_index]) of the rows of the task-instance page."""
    rows = re.findall(r'<td><a href="/dags/([^/]+)/runs/([^/]+)/tasks/([^"?]+)(?:\?map_index=(\d+))?">', html)
    return [(d, unquote(r), t + (f"[{i}]" if i else "")) for d, r, t, i in rows]


def all_runs(store: Any) -> list[Any]:
    return store.list_runs()


def test_run_filters_narrow_the_list_newest_first(site: WebSite) -> None:
    client = site.client("viewer")

    def runs(query: str = "") -> list[tuple[str, str]]:
        response = client.get(f"/browse/runs{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return shown_runs(response.get_data(as_text=True))

    everything = all_runs(site.store)
    assert runs() == [(r.dag_id, r.run_id) for r in sorted(everything, key=lambda r: r.logical_date, reverse=True)]
    assert len(everything) == 6

    def expected(keep: Any) -> set[tuple[str, str]]:
        return {(r.dag_id, r.run_id) for r in everything if keep(r)}

    assert set(runs("?state=failed")) == expected(lambda r: r.state == "failed") != set()
    assert set(runs("?state=failed&state=success")) == expected(lambda r: r.state in ("failed", "success"))
    assert set(runs("?dag_id=DAG_0")) == expected(lambda r: r.dag_id == "page_dag_0") != set()
    assert runs("?dag_id=%25") == [] and runs("?dag_id=page_dag__") == []  # LIKE's wildcards are literal
    assert set(runs("?run_type=backfill")) == expected(lambda r: r.run_type == "backfill") != set()
    assert set(runs("?start=2024-01-03&end=2024-02-01")) == expected(
        lambda r: dt.datetime(2024, 1, 3, tzinfo=dt.UTC) <= r.logical_date < dt.datetime(2024, 2, 2, tzinfo=dt.UTC))
    assert len(runs("?start=2024-01-03&end=2024-02-01")) == 3  # the "to" day is included
    assert set(runs("?dag_id=web&state=queued&run_type=manual")) == {("web_dag", r) for r in site.queued_run_ids}
    page = client.get("/browse/runs?state=failed&run_type=scheduled").get_data(as_text=True)
    assert '<option selected>failed</option>' in page and '<option selected>scheduled</option>' in page
    assert '<span class="badge state-failed">failed</span>' in page and "DAG runs</a>" in page


def test_task_instance_filters_narrow_the_list(site: WebSite) -> None:
    client = site.client("viewer")

    def tis(query: str = "") -> list[tuple[str, str, str]]:
        response = client.get(f"/browse/task-instances{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return shown_tis(response.get_data(as_text=True))

    assert len(tis()) == 6 + 3  # web_dag: 3 runs x 2 tasks; page_dag_<i>: 3 runs x 1 task
    assert tis()[0] == ("page_dag_1", "backfill__2024-02-03T00:00:00+00:00", "only")  # newest first
    assert set(tis("?task_id=FLA")) == {("web_dag", r, "flaky") for r in [site.run_id, *site.queued_run_ids]}
    assert set(tis("?state=success")) == {("web_dag", site.run_id, "shout"), ("web_dag", site.run_id, "flaky")}
    assert set(tis("?state=failed")) == {("page_dag_0", "scheduled__2024-02-02T00:00:00+00:00", "only")}
    untouched = tis("?state=none")  # no state yet
    assert len(untouched) == 4 + 2 and all(t[0] != "page_dag_0" or "02-01" in t[1] for t in untouched)
    assert set(tis("?dag_id=web&start=2024-01-03&end=2024-01-03&task_id=shout")) == {
        ("web_dag", site.queued_run_ids[0], "shout")}
    page = client.get("/browse/task-instances?state=none").get_data(as_text=True)
    assert '<span class="badge state-none">no state</span>' in page and '<option selected>none</option>' in page


def test_pages_and_a_page_past_the_last_redirects_with_the_filters(site: WebSite) -> None:
    site.app.config["PAGE_SIZE"] = 2
    client = site.client("viewer")
    first = shown_runs(client.get("/browse/runs").get_data(as_text=True))
    second = shown_runs(client.get("/browse/runs?page=2").get_data(as_text=True))
    assert len(first) == len(second) == 2 and not set(first) & set(second)
    assert "page 2 of 3" in client.get("/browse/runs?page=2").get_data(as_text=True)
    for url, last in (("/browse/runs?state=queued&page=9", "/browse/runs?state=queued&page=2"),
                      ("/browse/runs?page=99999999999999999999", "/browse/runs?page=3"),
                      ("/browse/task-instances?dag_id=web&page=40", "/browse/task-instances?dag_id=web&page=3")):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == last, url
    assert client.get("/browse/runs?page=nonsense").status_code == 200


def post(client: Any, url: str, action: str, keys: list[str], token: str | None = "page") -> Any:
    """Tick `keys` on `url` and press `action`, with the page's CSRF token (or `token`)."""
    if token == "page":
        token = WebSite.csrf(client, url)
    data: dict[str, Any] = {"action": action, "key": keys}
    if token is not None:
        data["csrf_token"] = token
    return client.post(url, data=data)


ACTIONS = ("mark_success", "mark_failed", "clear", "delete_run")


def events(store: Any, name: str) -> list[tuple[str, str]]:
    return sorted((e.dag_id, e.run_id) for e in store.events() if e.event == name)


@SQLITE
@pytest.mark.parametrize("state", ["success", "failed"])
def test_marking_runs_changes_only_the_ticked_ones(site: WebSite, state: str) -> None:
    client = site.client("op")
    ticked, other = site.queued_run_ids
    response = post(client, "/browse/runs?state=queued", state, [f"web_dag|{ticked}", "page_dag_1|no such run"])
    assert response.status_code == 302 and response.headers["Location"] == "/browse/runs?state=queued"
    assert site.store.get_run("web_dag", ticked).state == state
    assert {t.state for t in site.store.tis_of_run("web_dag", ticked)} == {state}
    assert site.store.get_run("web_dag", other).state == "queued"
    assert {t.state for t in site.store.tis_of_run("web_dag", other)} == {None}
    assert events(site.store, f"mark_{state}") == [("web_dag", ticked)]
    assert f"Marked 1 run(s) {state}" in client.get(response.headers["Location"]).get_data(as_text=True)


@SQLITE
def test_clearing_runs_resets_all_their_task_instances_with_their_retries(site: WebSite) -> None:
    client = site.client("admin")
    failed = "scheduled__2024-02-02T00:00:00+00:00"
    response = post(client, "/browse/runs", "clear", [f"web_dag|{site.run_id}", f"page_dag_0|{failed}"])
    assert response.status_code == 302
    for dag_id, run_id in (("web_dag", site.run_id), ("page_dag_0", failed)):
        assert site.store.get_run(dag_id, run_id).state == "queued"
        assert {t.state for t in site.store.tis_of_run(dag_id, run_id)} == {None}
    flaky = next(t for t in site.store.tis_of_run("web_dag", site.run_id) if t.task_id == "flaky")
    assert (flaky.try_number, flaky.max_tries) == (2, 3)  # its one retry anew
    assert site.store.get_run("page_dag_0", "scheduled__2024-02-01T00:00:00+00:00").state == "queued"
    assert events(site.store, "clear") == sorted([("web_dag", site.run_id), ("page_dag_0", failed)])
    assert "Cleared 3 task instance(s) of 2 run(s)" in client.get("/browse/runs").get_data(as_text=True)


@SQLITE
def test_clearing_a_run_clears_what_its_external_task_markers_point_at(store: Any, web_site: WebSite) -> None:
    day = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    with DAG("parent", start_date=day, schedule=None) as parent:
        ExternalTaskMarker(task_id="marker", external_dag_id="child", external_task_id="wait")
    with DAG("child", start_date=day, schedule=None) as child:
        EmptyOperator(task_id="wait") >> EmptyOperator(task_id="after")
        EmptyOperator(task_id="untouched")
    for dag in (child, parent):
        assert str(run_dag_test(dag, day, store=store).state) == "success"
    parent_run, child_run = store.find_run("parent", day), store.find_run("child", day)
    post(web_site.client("op"), "/browse/runs", "clear", [f"parent|{parent_run.run_id}"])
    states = {t.task_id: t.state for t in store.tis_of_run("child", child_run.run_id)}
    assert states == {"wait": None, "after": None, "untouched": "success"}
    assert store.get_run("child", child_run.run_id).state == "queued"


@SQLITE
def test_deleting_runs_removes_only_the_ticked_ones(site: WebSite) -> None:
    client = site.client("admin")
    ticked, other = site.queued_run_ids
    page = client.get("/browse/runs").get_data(as_text=True)
    assert 'value="delete" data-confirm="Delete the ticked runs and their task instances for good?">' in page
    assert '<input type="checkbox" data-tick-all aria-label="Tick all">' in page
    response = post(client, "/browse/runs?dag_id=web", "delete", [f"web_dag|{ticked}"])
    assert response.headers["Location"] == "/browse/runs?dag_id=web"
    assert site.store.get_run("web_dag", ticked) is None and site.store.tis_of_run("web_dag", ticked) == []
    assert site.store.get_run("web_dag", other) is not None and len(all_runs(site.store)) == 5
    assert events(site.store, "delete_run") == [("web_dag", ticked)]
    assert "Deleted 1 run(s)" in client.get(response.headers["Location"]).get_data(as_text=True)


@SQLITE
def test_task_instance_actions_change_only_the_ticked_instances(site: WebSite) -> None:
    client = site.client("op")
    url = "/browse/task-instances?dag_id=web"
    queued, other = site.queued_run_ids

    def states(run_id: str) -> dict[str, Any]:
        return {t.task_id: t.state for t in site.store.tis_of_run("web_dag", run_id)}

    assert post(client, url, "clear", [f"web_dag|flaky|-1|{site.run_id}"]).headers["Location"] == url
    assert states(site.run_id) == {"shout": "success", "flaky": None}
    assert site.store.get_run("web_dag", site.run_id).state == "queued"
    post(client, url, "success", [f"web_dag|shout|-1|{queued}", f"web_dag|flaky|-1|{other}"])
    assert states(queued) == {"shout": "success", "flaky": None} and states(other) == {"shout": None, "flaky": "success"}
    post(client, url, "failed", [f"web_dag|flaky|-1|{queued}"])
    assert states(queued) == {"shout": "success", "flaky": "failed"}
    assert "Marked 1 task instance(s) failed" in client.get(url).get_data(as_text=True)
    logged = [(e.event, e.run_id, e.extra) for e in reversed(site.store.events()) if e.event in ACTIONS]
    assert logged == [("clear", site.run_id, "1 task instances: flaky"),
                      ("mark_success", queued, "1 task instances: shout"),
                      ("mark_success", other, "1 task instances: flaky"),
                      ("mark_failed", queued, "1 task instances: flaky")]


@SQLITE
def test_mapped_instances_link_to_their_index_and_act_one_by_one(store: Any, web_site: WebSite) -> None:
    day = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    with DAG("mapped", start_date=day, schedule=None) as dag:
        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=[1, 2, 3])
    run_dag_test(dag, day, store=store)
    run_id = store.find_run("mapped", day).run_id
    client = web_site.client("op")
    page = client.get("/browse/task-instances?dag_id=mapped").get_data(as_text=True)
    assert shown_tis(page) == [("mapped", run_id, f"double[{i}]") for i in range(3)]
    post(client, "/browse/task-instances", "failed", [f"mapped|double|1|{run_id}"])
    assert [t.state for t in store.mapped_tis("mapped", run_id, "double")] == ["success", "failed", "success"]
    post(client, "/browse/task-instances", "clear", [f"mapped|double|2|{run_id}"])
    assert [t.state for t in store.mapped_tis("mapped", run_id, "double")] == ["success", "failed", None]
    assert [e.extra for e in store.events() if e.event == "clear"] == ["1 task instances: double[2]"]


@SQLITE
def test_a_viewer_sees_no_actions_and_may_not_post(site: WebSite) -> None:
    client = site.client("viewer")
    for url in ("/browse/runs", "/browse/task-instances"):
        page = client.get(url).get_data(as_text=True)
        assert 'name="action"' not in page and 'type="checkbox"' not in page
    before = {(r.run_id, r.state) for r in all_runs(site.store)}
    assert post(client, "/browse/runs", "delete", [f"web_dag|{site.run_id}"]).status_code == 403
    assert post(client, "/browse/task-instances", "clear", [f"web_dag|flaky|-1|{site.run_id}"]).status_code == 403
    assert {(r.run_id, r.state) for r in all_runs(site.store)} == before
    flaky = next(t for t in site.store.tis_of_run("web_dag", site.run_id) if t.task_id == "flaky")
    assert flaky.state == "success" and [e for e in site.store.events() if e.event in ACTIONS] == []


@SQLITE
def test_an_action_without_the_csrf_token_is_refused(site: WebSite) -> None:
    client = site.client("admin")
    for token in (None, "forged"):
        assert post(client, "/browse/runs", "delete", [f"web_dag|{site.run_id}"], token).status_code == 400
        assert post(client, "/browse/task-instances", "clear", [f"web_dag|flaky|-1|{site.run_id}"],
                    token).status_code == 400
    assert site.store.get_run("web_dag", site.run_id).state == "success"


@SQLITE
@pytest.mark.parametrize(("url", "message"), [
    ("/browse/runs?start=2024-13-01", "must be a date such as 2024-01-31"),
    ("/browse/runs?end=9999-12-31", "must be a date such as 2024-01-31"),
    ("/browse/task-instances?start=yesterday", "must be a date such as 2024-01-31"),
    ("/browse/runs?state=none", "Unknown state &#39;none&#39;"),
    ("/browse/task-instances?state=bogus", "Unknown state &#39;bogus&#39;"),
    ("/browse/runs?run_type=%3Cscript%3E", "Unknown run type &#39;&lt;script&gt;&#39;"),
])
def test_bad_filters_get_a_400_that_says_what_to_send(site: WebSite, url: str, message: str) -> None:
    response = site.client("viewer").get(url)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


@SQLITE
@pytest.mark.parametrize(("url", "action", "key"), [
    ("/browse/runs", "explode", "web_dag|x"),
    ("/browse/runs", "delete", "no separator"),
    ("/browse/task-instances", "clear", "web_dag|flaky|one|run"),
    ("/browse/task-instances", "clear", "web_dag|flaky|99999999999999999999|run"),
    ("/browse/task-instances", "mark", "web_dag|flaky|-1|run"),
])
def test_bad_actions_get_a_400_and_change_nothing(site: WebSite, url: str, action: str, key: str) -> None:
    assert post(site.client("admin"), url, action, [key]).status_code == 400
    assert site.store.get_run("web_dag", site.run_id).state == "success"


@SQLITE
def test_an_action_with_nothing_ticked_says_so(site: WebSite) -> None:
    client = site.client("admin")
    for url in ("/browse/runs?state=failed", "/browse/task-instances"):
        response = post(client, url, "clear", [])
        assert response.status_code == 302 and response.headers["Location"] == url
        assert "Tick at least one" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("filters", [{}, {"states": ["none"]}, {"dag_id_search": "page_dag_0"},
                                     {"task_id_search": "l", "start": FEB.replace(day=2)}])
def test_walking_the_runs_in_batches_finds_the_same_pages_as_one_sorted_query(
        site: WebSite, monkeypatch: pytest.MonkeyPatch, filters: dict[str, Any]) -> None:
    """Past a few thousand matches the task-instance list walks the runs newest first a
    batch at a time; every page, and the count, must be what the sorted query gives."""
    import miniflow.db.web_queries as queries

    for day in range(4, 12):
        add_run(site.store, f"page_dag_{day % 2}", day)

    def pages(size: int) -> list[list[tuple[str, str, str, int]]]:
        total = site.store.ti_browse(**filters, limit=1)[1]
        found = []
        for offset in range(0, total + size, size):
            rows, count = site.store.ti_browse(**filters, limit=size, offset=offset)
            assert count == total
            found.append([(t.dag_id, t.run_id, t.task_id, t.map_index) for t in rows])
        return found

    expected = {size: pages(size) for size in (1, 3, 7)}
    assert sum(map(len, expected[3])) == site.store.ti_browse(**filters)[1] > 0
    monkeypatch.setattr(queries, "_SORTED_IN_ONE_QUERY", 0)
    monkeypatch.setattr(queries, "_RUN_BATCH", 2)
    assert {size: pages(size) for size in (1, 3, 7)} == expected


def test_pages_keep_every_value_of_a_repeated_filter(site: WebSite) -> None:
    response = site.client("viewer").get("/browse/runs?state=failed&state=success&page=99")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("?state=failed&state=success&page=1")
