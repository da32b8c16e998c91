"""The REST API under generated values: any id, date, size or nesting gets a 2xx or a
4xx problem document, never a 500, and a refused write leaves nothing behind.

Schemathesis (test_openapi.py) varies the shapes the document describes; these
properties vary the values inside them: ids with slashes, percent signs, NULs and
10,000 characters; dates at the ends of the calendar and offsets of +-14 h; integers
past 64 bits; JSON nested hundreds deep.
"""

from __future__ import annotations

import datetime as dt
import json
import string
from typing import Any
from urllib.parse import quote

import pytest
from conftest import WebSite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

API = "/api/v1"
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

ids = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=string.ascii_letters + "/%.~-_:+ \x00\\'\"<>", max_size=30),
    st.sampled_from(["..", ".", "%2e%2e", "web_dag", "\x00", "\u202e", "💥"]),
    st.integers(1_000, 10_000).map(lambda n: "a" * n),
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
dates = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.one_of(st.none(), offsets)).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "", "now", "2024-02-30",
                     "2024-01-01T25:00:00", "+002024-01-01", "2024-01-01T00:00:00+99:00"]),
    st.text(max_size=40),
)
numbers = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.booleans(), st.none())
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=40,
)


class Deep:
    """A JSON object nested `depth` levels, written out as text (too deep for json.dumps)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"

    def text(self) -> str:
        return '{"a": ' * self.depth + "1" + "}" * self.depth


deep = st.integers(1, 60_000).map(Deep)


def to_json(value: Any) -> str:
    """`value` as JSON text, with each Deep written out in place."""
    found: list[Deep] = []

    def mark(item: Any) -> Any:
        found.append(item)
        return f"\x00deep{len(found) - 1}\x00"

    text = json.dumps(value, default=mark)
    for n, item in enumerate(found):
        text = text.replace(json.dumps(f"\x00deep{n}\x00"), item.text())
    return text


def assert_answered(response: Any, url: str) -> None:
    """A success, or a problem document saying what was wrong: never a server error."""
    assert response.status_code < 500, (url, response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", (url, response.get_data(as_text=True)[:300])
        assert response.get_json(force=True)["detail"], url


def documented(site: WebSite) -> list[tuple[str, str]]:
    spec = site.app.test_client().get(f"{API}/openapi.json").get_json()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in ("get", "patch", "delete")]


def test_any_id_in_any_path_is_answered(web_site: WebSite) -> None:
    import re

    client = web_site.app.test_client()
    routes = [(m, p) for m, p in documented(web_site) if "{" in p]

    @SETTINGS
    @given(route=st.sampled_from(routes), values=st.lists(ids, min_size=6, max_size=6))
    def check(route: tuple[str, str], values: list[str]) -> None:
        method, template = route
        names = re.findall(r"{(\w+)}", template)
        url = API + template.format(**{n: quote(v, safe="") for n, v in zip(names, values, strict=False)})
        response = client.open(url, method=method, headers=web_site.auth(), json={})
        assert_answered(response, url)

    check()


def test_any_query_value_is_answered(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    run = f"{API}/dags/web_dag/dagRuns"
    lists = [f"{API}/dags", run, f"{run}/{quote(web_site.run_id, safe='')}/taskInstances", f"{API}/datasets",
             f"{API}/datasets/events", f"{API}/importErrors", f"{API}/connections", f"{API}/variables",
             f"{API}/pools", f"{API}/eventLogs"]
    names = ["limit", "offset", "order_by", "tags", "paused", "state", "dag_id_pattern", "execution_date_gte",
             "execution_date_lte", "start_date_gte", "end_date_lte", "updated_at_gte", "dataset_uri"]

    @SETTINGS
    @given(url=st.sampled_from(lists),
           query=st.dictionaries(st.sampled_from(names), st.one_of(dates, numbers.map(str), ids), max_size=4))
    def check(url: str, query: dict[str, str]) -> None:
        response = client.get(url, query_string=query, headers=web_site.auth())
        assert_answered(response, f"{url}?{query}")

    check()


def test_any_dag_run_body_is_answered_and_a_refused_one_creates_nothing(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    url = f"{API}/dags/web_dag/dagRuns"
    bodies = st.fixed_dictionaries({}, optional={
        "dag_run_id": ids, "logical_date": dates, "execution_date": dates, "data_interval_start": dates,
        "data_interval_end": dates, "conf": st.one_of(json_values, deep), "note": st.one_of(ids, numbers),
    })

    @SETTINGS
    @given(body=bodies)
    def check(body: dict[str, Any]) -> None:
        before = len(web_site.store.list_runs("web_dag"))
        response = client.post(url, data=to_json(body), content_type="application/json", headers=web_site.auth())
        assert_answered(response, f"{url} {str(body)[:200]}")
        after = len(web_site.store.list_runs("web_dag"))
        assert after == before + (1 if response.status_code == 200 else 0), (response.status_code, body)

    check()


def test_any_admin_body_is_answered(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    bodies = {
        "pools": st.fixed_dictionaries({}, optional={"name": ids, "slots": numbers, "description": ids,
                                                     "include_deferred": numbers}),
        "variables": st.fixed_dictionaries({}, optional={
            "key": ids, "value": st.one_of(ids, numbers, st.integers(50_000, 200_000).map(lambda n: "v" * n)),
            "description": ids}),
        "connections": st.fixed_dictionaries({}, optional={
            "connection_id": ids, "conn_type": ids, "host": ids, "port": numbers, "login": ids,
            "password": ids, "schema": ids, "extra": st.one_of(ids, json_values.map(json.dumps), deep.map(Deep.text))}),
    }

    @SETTINGS
    @given(resource=st.sampled_from(sorted(bodies)), data=st.data())
    def check(resource: str, data: Any) -> None:
        body = data.draw(bodies[resource])
        response = client.post(f"{API}/{resource}", data=to_json(body), content_type="application/json",
                               headers=web_site.auth())
        assert_answered(response, f"{resource} {str(body)[:200]}")

    check()
