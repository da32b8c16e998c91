"""The REST API (web/api.py) through Flask's test client, on SQLite and PostgreSQL.

Every endpoint gets its happy path and its refusals: 400 for bad paging, bodies, conf
and run ids; 401 with a ``WWW-Authenticate`` challenge; 403 for a Viewer's writes;
404 for anything unknown; 409 for a duplicate run. Every error is a problem+json
document (RFC 7807). The data comes from the `web_site` fixture (tests/conftest.py);
building it costs a few hundred milliseconds, so one test walks many cases, each in
its own subtest.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from conftest import XSS, WebSite

API = "/api/v1"
RUNS = f"{API}/dags/web_dag/dagRuns"


def tis_url(site: WebSite, run_id: str | None = None) -> str:
    return f"{RUNS}/{run_id or site.run_id}/taskInstances"


def get(site: WebSite, url: str, user: str = "admin", **kwargs: Any) -> Any:
    return site.app.test_client().get(url, headers={**site.auth(user), **kwargs.pop("headers", {})}, **kwargs)


def run_count(site: WebSite) -> int:
    return get(site, RUNS).get_json()["total_entries"]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 7807 problem document with this status."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)[:200]
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"] and isinstance(body["detail"], str) and body["type"].startswith("https://")
    return body


# --- /health and /openapi.json need no credentials -------------------------------------------


def test_health_and_openapi_without_credentials(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["metadatabase"] == {"status": "healthy"}
    # No scheduler has ever beaten its heart in this DB.
    assert body["scheduler"] == {"status": "unhealthy", "latest_scheduler_heartbeat": None}
    assert client.get("/health").get_json() == body  # also at the root, as in Airflow 2
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.get_json()["openapi"].startswith("3.")


# --- 401 ----------------------------------------------------------------------------------------


def test_unauthenticated_requests_get_401_with_a_challenge(web_site: WebSite, subtests: Any) -> None:
    ti = f"{tis_url(web_site)}/flaky"
    urls = [
        ("GET", f"{API}/dags"), ("GET", f"{API}/dags/web_dag"), ("PATCH", f"{API}/dags/web_dag"),
        ("GET", RUNS), ("POST", RUNS), ("GET", f"{RUNS}/{web_site.run_id}"), ("GET", tis_url(web_site)),
        ("GET", ti), ("GET", f"{ti}/logs/1"), ("GET", f"{tis_url(web_site)}/shout/xcomEntries"),
        ("GET", f"{tis_url(web_site)}/shout/xcomEntries/payload"), ("GET", f"{API}/importErrors"),
        # Unknown things answer 401 too: no probing what exists without credentials.
        ("GET", f"{API}/dags/no_such_dag"), ("POST", f"{API}/dags/no_such_dag/dagRuns"),
    ]
    credentials = {
        "none": {},
        "wrong password": web_site.auth("admin", "not-the-password"),
        "empty password": web_site.auth("admin", ""),
        "unknown user": web_site.auth("nobody", "whatever-1"),
        "bearer": {"Authorization": "Bearer abc.def.ghi"},
        "garbage": {"Authorization": "Basic !!!not-base64"},
    }
    client = web_site.app.test_client()
    for name, headers in credentials.items():
        # An unknown user costs a full password hash (on purpose): try only a few URLs.
        for method, url in urls[:3] if name == "unknown user" else urls:
            with subtests.test(credentials=name, method=method, url=url):
                response = client.open(url, method=method, headers=headers, json={"is_paused": False})
                assert_problem(response, 401)
                assert response.headers["WWW-Authenticate"].startswith("Basic")
    # Nothing was written on the way.
    assert web_site.store.get_dag_row("web_dag").is_paused is True
    assert run_count(web_site) == 3


def test_a_session_cookie_does_not_authenticate_the_api(web_site: WebSite) -> None:
    client = web_site.client("admin")  # logged in to the UI
    assert client.get("/").status_code == 200
    assert_problem(client.get(f"{API}/dags"), 401)
    assert_problem(client.patch(f"{API}/dags/web_dag", json={"is_paused": False}), 401)
    assert web_site.store.get_dag_row("web_dag").is_paused is True


def test_a_user_made_with_hash_password_can_use_the_api(web_site: WebSite) -> None:
    from miniflow.web.auth import hash_password

    web_site.store.create_user("hashed", hash_password("hashed-pass"), "Viewer")
    client = web_site.app.test_client()
    assert client.get(f"{API}/dags", headers=web_site.auth("hashed", "hashed-pass")).status_code == 200
    assert_problem(client.get(f"{API}/dags", headers=web_site.auth("hashed", "hashed-pas")), 401)


# --- DAGs -----------------------------------------------------------------------------------


def test_list_dags(web_site: WebSite) -> None:
    body = get(web_site, f"{API}/dags").get_json()
    assert body["total_entries"] == 4
    assert [d["dag_id"] for d in body["dags"]] == ["page_dag_0", "page_dag_1", "page_dag_2", "web_dag"]
    web = body["dags"][3]
    assert web["description"] == "web test " + XSS
    assert web["is_paused"] is True and web["is_active"] is True
    assert web["schedule_interval"] == {"__type": "CronExpression", "value": "@daily"}
    assert {"name": "web"} in web["tags"]
    assert web["fileloc"].endswith("web_dag.py") and web["owners"] == ["airflow"]
    assert body["dags"][0]["schedule_interval"] is None


def test_list_dags_pagination_and_filters(web_site: WebSite, subtests: Any) -> None:
    cases = [
        ("limit=2", ["page_dag_0", "page_dag_1"], 4),
        ("limit=2&offset=2", ["page_dag_2", "web_dag"], 4),
        ("limit=2&offset=3", ["web_dag"], 4),
        ("offset=10", [], 4),
        ("limit=1000", ["page_dag_0", "page_dag_1", "page_dag_2", "web_dag"], 4),
        ("order_by=-dag_id&limit=3", ["web_dag", "page_dag_2", "page_dag_1"], 4),
        ("dag_id_pattern=page", ["page_dag_0", "page_dag_1", "page_dag_2"], 3),
        ("dag_id_pattern=%25", [], 0),  # a literal %, not a LIKE wildcard
        ("dag_id_pattern=page_dag_", ["page_dag_0", "page_dag_1", "page_dag_2"], 3),
        ("tags=odd", ["page_dag_1"], 1),
        ("tags=page&limit=1&offset=1", ["page_dag_1"], 3),
        ("paused=false", [], 0),
        ("paused=true&limit=1", ["page_dag_0"], 4),
    ]
    for query, expected, total in cases:
        with subtests.test(query=query):
            body = get(web_site, f"{API}/dags?{query}").get_json()
            assert [d["dag_id"] for d in body["dags"]] == expected
            assert body["total_entries"] == total


def test_get_dag(web_site: WebSite) -> None:
    body = get(web_site, f"{API}/dags/web_dag").get_json()
    assert body["dag_id"] == "web_dag" and body["max_active_runs"] == 16
    assert_problem(get(web_site, f"{API}/dags/no_such_dag"), 404)


def test_patch_dag_pauses_and_unpauses(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    for user in ("admin", "op"):
        response = client.patch(f"{API}/dags/web_dag", json={"is_paused": False}, headers=web_site.auth(user))
        assert response.status_code == 200 and response.get_json()["is_paused"] is False
        assert web_site.store.get_dag_row("web_dag").is_paused is False
        response = client.patch(f"{API}/dags/web_dag?update_mask=is_paused", json={"is_paused": True},
                                headers=web_site.auth(user))
        assert response.status_code == 200 and response.get_json()["is_paused"] is True
        assert web_site.store.get_dag_row("web_dag").is_paused is True
    events = [(e.event, e.owner) for e in web_site.store.event_page(dag_id="web_dag")[0]]
    for user in ("admin", "op"):
        assert ("unpause", user) in events and ("pause", user) in events


def test_patch_dag_refusals(web_site: WebSite, subtests: Any) -> None:
    client = web_site.app.test_client()
    url = f"{API}/dags/web_dag"
    for body in [None, [], {}, {"is_paused": "false"}, {"is_paused": 0}, {"is_paused": None}, {"paused": False}]:
        with subtests.test(body=body):
            assert_problem(client.patch(url, json=body, headers=web_site.auth()), 400)
    with subtests.test("not JSON"):
        assert_problem(client.patch(url, data="is_paused=false", content_type="application/json",
                                    headers=web_site.auth()), 400)
    with subtests.test("update_mask names another field"):
        assert_problem(client.patch(f"{url}?update_mask=description", json={"is_paused": False},
                                    headers=web_site.auth()), 400)
    with subtests.test("unknown DAG"):
        assert_problem(client.patch(f"{API}/dags/nope", json={"is_paused": False}, headers=web_site.auth()), 404)
    assert web_site.store.get_dag_row("web_dag").is_paused is True


def test_viewer_cannot_write(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    viewer = web_site.auth("viewer")
    assert client.get(f"{API}/dags/web_dag", headers=viewer).status_code == 200
    body = assert_problem(client.patch(f"{API}/dags/web_dag", json={"is_paused": False}, headers=viewer), 403)
    assert "Viewer" in body["detail"]
    assert_problem(client.post(RUNS, json={"conf": {}}, headers=viewer), 403)
    assert_problem(client.post(RUNS, json={"dag_run_id": "by_viewer"}, headers=viewer), 403)
    assert web_site.store.get_dag_row("web_dag").is_paused is True
    assert run_count(web_site) == 3


# --- DAG runs ---------------------------------------------------------------------------------


def test_list_runs(web_site: WebSite) -> None:
    body = get(web_site, RUNS).get_json()
    assert body["total_entries"] == 3
    runs = body["dag_runs"]
    # Newest logical date first, as in Airflow.
    assert [r["logical_date"][:10] for r in runs] == ["2024-01-04", "2024-01-03", "2024-01-02"]
    done = runs[2]
    assert done["dag_run_id"] == web_site.run_id and done["state"] == "success"
    assert done["conf"] == {"c": XSS} and done["external_trigger"] is False and done["run_type"] == "manual"
    # (made by dags test, which Airflow 2.10 does not count as externally triggered)
    assert done["execution_date"] == done["logical_date"]
    assert done["data_interval_start"].startswith("2024-01-01") and done["data_interval_end"].startswith("2024-01-02")
    assert done["start_date"] and done["end_date"]
    assert [r["state"] for r in runs[:2]] == ["queued", "queued"]


def test_list_runs_pagination_and_filters(web_site: WebSite, subtests: Any) -> None:
    cases = [
        ("limit=1", ["04"], 3),
        ("limit=1&offset=1", ["03"], 3),
        ("limit=2&offset=2", ["02"], 3),
        ("offset=3", [], 3),
        ("order_by=logical_date", ["02", "03", "04"], 3),
        ("order_by=execution_date&limit=2", ["02", "03"], 3),
        ("order_by=-dag_run_id&limit=1", ["04"], 3),
        ("state=success", ["02"], 1),
        ("state=queued&order_by=logical_date", ["03", "04"], 2),
        ("state=failed", [], 0),
    ]
    for query, expected_days, total in cases:
        with subtests.test(query=query):
            body = get(web_site, f"{RUNS}?{query}").get_json()
            assert [r["logical_date"][8:10] for r in body["dag_runs"]] == expected_days
            assert body["total_entries"] == total


def test_get_run(web_site: WebSite) -> None:
    body = get(web_site, f"{RUNS}/{web_site.run_id}").get_json()
    assert body["dag_run_id"] == web_site.run_id and body["state"] == "success" and body["conf"] == {"c": XSS}
    assert_problem(get(web_site, f"{RUNS}/no_such_run"), 404)
    assert_problem(get(web_site, f"{API}/dags/nope/dagRuns/{web_site.run_id}"), 404)
    assert_problem(get(web_site, f"{API}/dags/nope/dagRuns"), 404)


def test_trigger_with_conf_then_the_run_is_visible(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    response = client.post(RUNS, json={"dag_run_id": "api_run", "conf": {"n": 5, "note": "hi"},
                                       "logical_date": "2024-02-01T00:00:00Z"}, headers=web_site.auth("op"))
    assert response.status_code == 200, response.get_data(as_text=True)
    run = response.get_json()
    assert run["dag_run_id"] == "api_run" and run["state"] == "queued" and run["conf"] == {"n": 5, "note": "hi"}
    assert run["logical_date"] == "2024-02-01T00:00:00+00:00" and run["external_trigger"] is True
    assert run["data_interval_start"].startswith("2024-01-31")
    assert get(web_site, f"{RUNS}/api_run").get_json() == run
    listed = get(web_site, f"{RUNS}?limit=1").get_json()
    assert listed["total_entries"] == 4 and listed["dag_runs"][0]["dag_run_id"] == "api_run"
    tis = get(web_site, tis_url(web_site, "api_run")).get_json()
    assert {t["task_id"]: t["state"] for t in tis["task_instances"]} == {"flaky": None, "shout": None}
    events = [(e.event, e.owner, e.run_id) for e in web_site.store.event_page(dag_id="web_dag")[0]]
    assert ("trigger", "op", "api_run") in events
    # Admin may trigger too; with no body at all, a manual run with an empty conf.
    response = client.post(RUNS, headers=web_site.auth("admin"))
    assert response.status_code == 200
    assert response.get_json()["dag_run_id"].startswith("manual__") and response.get_json()["conf"] == {}
    assert run_count(web_site) == 5


def test_trigger_refusals(web_site: WebSite, subtests: Any) -> None:
    client = web_site.app.test_client()
    bad = [
        {"conf": "not an object"},
        {"conf": [1, 2]},
        {"conf": {"n": "five"}},  # the DAG's param n is an integer...
        {"conf": {"n": -1}},  # ... of at least 0
        {"dag_run_id": "has space"},
        {"dag_run_id": "a/b"},
        {"dag_run_id": "<b>"},
        {"dag_run_id": "x" * 251},
        {"dag_run_id": 5},
        {"logical_date": "yesterday"},
        {"logical_date": "2024-13-01T00:00:00Z"},
        {"logical_date": 12345},
        {"logical_date": True},
        ["a", "list"],
        "a string",
    ]
    for body in bad:
        with subtests.test(body=body):
            assert_problem(client.post(RUNS, json=body, headers=web_site.auth()), 400)
    with subtests.test("malformed JSON"):
        # A body that is not JSON at all is not an empty body: it must not trigger a run.
        assert_problem(client.post(RUNS, data="{not json", content_type="application/json",
                                   headers=web_site.auth()), 400)
    with subtests.test("unknown DAG"):
        assert_problem(client.post(f"{API}/dags/nope/dagRuns", json={}, headers=web_site.auth()), 404)
    assert run_count(web_site) == 3


def test_duplicate_run_is_409(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    # The same run id as an existing run...
    assert_problem(client.post(RUNS, json={"dag_run_id": web_site.run_id}, headers=web_site.auth()), 409)
    # ... or a second run for an existing logical date.
    assert_problem(client.post(RUNS, json={"dag_run_id": "other", "logical_date": "2024-01-02T00:00:00+00:00"},
                               headers=web_site.auth()), 409)
    assert client.post(RUNS, json={"dag_run_id": "fresh"}, headers=web_site.auth()).status_code == 200
    assert_problem(client.post(RUNS, json={"dag_run_id": "fresh"}, headers=web_site.auth()), 409)
    assert run_count(web_site) == 4
    assert get(web_site, f"{RUNS}/{web_site.run_id}").get_json()["state"] == "success"


# --- task instances ------------------------------------------------------------------------------


def test_list_task_instances(web_site: WebSite, subtests: Any) -> None:
    body = get(web_site, tis_url(web_site)).get_json()
    assert body["total_entries"] == 2
    assert [t["task_id"] for t in body["task_instances"]] == ["flaky", "shout"]
    flaky, shout = body["task_instances"]
    assert flaky["state"] == "success" and flaky["try_number"] == 2 and flaky["max_tries"] == 1
    assert shout["try_number"] == 1 and shout["operator"] == "PythonOperator" and shout["map_index"] == -1
    assert shout["dag_run_id"] == web_site.run_id and shout["duration"] >= 0 and shout["start_date"]
    cases = [("limit=1", ["flaky"]), ("limit=1&offset=1", ["shout"]), ("offset=2", []),
             ("order_by=-task_id", ["shout", "flaky"]), ("order_by=-try_number&limit=1", ["flaky"])]
    for query, expected in cases:
        with subtests.test(query=query):
            page = get(web_site, f"{tis_url(web_site)}?{query}").get_json()
            assert [t["task_id"] for t in page["task_instances"]] == expected
            assert page["total_entries"] == 2


def test_get_task_instance(web_site: WebSite) -> None:
    body = get(web_site, f"{tis_url(web_site)}/flaky").get_json()
    assert body["task_id"] == "flaky" and body["state"] == "success" and body["try_number"] == 2
    assert_problem(get(web_site, f"{tis_url(web_site)}/no_such_task"), 404)
    assert_problem(get(web_site, f"{RUNS}/no_such_run/taskInstances/flaky"), 404)
    assert_problem(get(web_site, f"{RUNS}/no_such_run/taskInstances"), 404)
    assert_problem(get(web_site, f"{API}/dags/nope/dagRuns/{web_site.run_id}/taskInstances/flaky"), 404)


# --- paging parameters, on every list --------------------------------------------------------


def test_bad_paging_is_400(web_site: WebSite, subtests: Any) -> None:
    lists = [f"{API}/dags", RUNS, tis_url(web_site), f"{API}/importErrors"]
    queries = ["limit=0", "limit=-1", "limit=1001", "limit=abc", "limit=1.5", "limit=", "offset=-1",
               "offset=abc", "offset="]
    for url in lists:
        for query in queries:
            with subtests.test(url=url, query=query):
                assert_problem(get(web_site, f"{url}?{query}"), 400)
    for url in lists:
        for query in ["offset=9223372036854775808", "offset=99999999999999999999999"]:
            with subtests.test(url=url, query=query, expected="an empty page or a 400, not a crash"):
                response = get(web_site, f"{url}?{query}")
                if response.status_code != 200:
                    assert_problem(response, 400)
    for url in lists[:3]:
        for order_by in ["no_such_column", "-no_such_column", "password_hash", "", "-"]:
            with subtests.test(url=url, order_by=order_by):
                assert_problem(get(web_site, f"{url}?order_by={order_by}"), 400)


def test_ordering_by_a_json_column_is_sorted_or_refused(web_site: WebSite, subtests: Any) -> None:
    """PostgreSQL has no ordering for json columns: the answer must be a 200 or a 400,
    never a 500."""
    for url, column in [(f"{API}/dags", "tags"), (RUNS, "conf"), (tis_url(web_site), "rendered_fields")]:
        for order_by in (column, "-" + column):
            with subtests.test(url=url, order_by=order_by):
                response = get(web_site, f"{url}?order_by={order_by}")
                assert response.status_code in (200, 400), response.get_data(as_text=True)


# --- logs -------------------------------------------------------------------------------------


def test_logs_by_try(web_site: WebSite) -> None:
    url = f"{tis_url(web_site)}/flaky/logs"
    first = get(web_site, f"{url}/1")
    assert first.status_code == 200 and first.mimetype == "application/json"
    body = first.get_json()
    assert body["continuation_token"] is None
    assert "flaky try 1" in body["content"] and "the first try fails" in body["content"]
    second = get(web_site, f"{url}/2").get_json()["content"]
    assert "flaky try 2" in second and "the first try fails" not in second
    text = get(web_site, f"{url}/2", headers={"Accept": "text/plain"})
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert text.get_data(as_text=True) == second
    shout = get(web_site, f"{tis_url(web_site)}/shout/logs/1", headers={"Accept": "text/plain"})
    assert "payload " + XSS in shout.get_data(as_text=True)


def test_logs_that_do_not_exist_are_404(web_site: WebSite, subtests: Any) -> None:
    urls = [
        *(f"{tis_url(web_site)}/flaky/logs/{n}" for n in ("0", "3", "99999999999999999999")),
        f"{tis_url(web_site)}/no_such_task/logs/1",
        f"{RUNS}/no_such_run/taskInstances/flaky/logs/1",
        f"{API}/dags/nope/dagRuns/{web_site.run_id}/taskInstances/flaky/logs/1",
        # A task instance that has not run yet has no log.
        f"{tis_url(web_site, web_site.queued_run_ids[0])}/flaky/logs/1",
    ]
    for url in urls:
        with subtests.test(url=url):
            assert_problem(get(web_site, url), 404)


# --- XCom -------------------------------------------------------------------------------------


def test_xcom_entries(web_site: WebSite) -> None:
    url = f"{tis_url(web_site)}/shout/xcomEntries"
    body = get(web_site, url).get_json()
    assert body["total_entries"] == 2
    assert [e["key"] for e in body["xcom_entries"]] == ["payload", "return_value"]
    assert all(e["task_id"] == "shout" and e["dag_run_id"] == web_site.run_id for e in body["xcom_entries"])
    assert "value" not in body["xcom_entries"][0]
    empty = get(web_site, f"{tis_url(web_site)}/flaky/xcomEntries").get_json()
    assert empty == {"xcom_entries": [], "total_entries": 0}
    payload = get(web_site, f"{url}/payload").get_json()
    assert payload["key"] == "payload" and payload["value"] == {"html": XSS}
    assert get(web_site, f"{url}/return_value").get_json()["value"] == "shouted"
    assert_problem(get(web_site, f"{url}/no_such_key"), 404)
    assert_problem(get(web_site, f"{tis_url(web_site)}/no_such_task/xcomEntries"), 404)
    assert_problem(get(web_site, f"{tis_url(web_site)}/no_such_task/xcomEntries/payload"), 404)
    assert_problem(get(web_site, f"{RUNS}/no_such_run/taskInstances/shout/xcomEntries/payload"), 404)


# --- import errors ---------------------------------------------------------------------------------


def test_import_errors(web_site: WebSite) -> None:
    body = get(web_site, f"{API}/importErrors").get_json()
    assert body["total_entries"] == 1
    error = body["import_errors"][0]
    assert error["filename"].endswith("broken.py") and "ValueError" in error["stack_trace"]
    assert isinstance(error["import_error_id"], int)
    assert get(web_site, f"{API}/importErrors?limit=1&offset=1").get_json() == {"import_errors": [],
                                                                                "total_entries": 1}


# --- problem documents for errors outside the endpoints ---------------------------------------------


def test_unknown_api_path_is_a_problem_document(web_site: WebSite) -> None:
    assert_problem(get(web_site, f"{API}/no/such/endpoint"), 404)


def test_wrong_method_is_a_problem_document(web_site: WebSite) -> None:
    response = web_site.app.test_client().delete(f"{API}/dags/web_dag", headers=web_site.auth())
    assert_problem(response, 405)
    assert web_site.store.get_dag_row("web_dag") is not None


@pytest.mark.parametrize("body", [
    {"logical_date": "9999-12-31T23:59:59+14:00"},
    {"logical_date": "0001-01-01T00:00:00-14:00"},
    {"conf": json.loads('{"a": ' * 200 + "1" + "}" * 200)},
])
def test_dates_and_conf_at_the_edges_are_a_400_not_a_500(web_site: WebSite, body: dict[str, Any]) -> None:
    before = run_count(web_site)
    response = web_site.app.test_client().post(RUNS, json=body, headers=web_site.auth())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["detail"]
    assert run_count(web_site) == before


def test_a_body_nested_50000_levels_deep_is_a_400(web_site: WebSite) -> None:
    deep = '{"conf": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"
    response = web_site.app.test_client().post(RUNS, data=deep, content_type="application/json",
                                               headers=web_site.auth())
    assert response.status_code == 400


def test_an_empty_username_never_authenticates(web_site: WebSite) -> None:
    empty = "Basic " + base64.b64encode(b":password").decode()
    assert get(web_site, RUNS, headers={"Authorization": empty}).status_code == 401
