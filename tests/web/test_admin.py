"""Admin: connections, variables and pools in the UI and the REST API. Same checks on
both paths, roles and CSRF on every change, an audit entry for each, and a
connection's password never in any response."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from conftest import WebSite

from miniflow.db.tables import CONN_T

API = "/api/v1"
SECRET = "s3cr3t-Pa55word"


def form(client: Any, page: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": WebSite.csrf(client, page), **fields}


def test_a_connection_is_added_edited_tested_and_deleted_in_the_ui(web_site: WebSite, tmp_path: Path) -> None:
    client = web_site.client("op")
    new = "/admin/connections/new"
    response = client.post(new, data=form(client, new, connection_id="warehouse", conn_type="sqlite",
                                           host=str(tmp_path / "warehouse.db"),
                                           password=SECRET, extra='{"api_token": "t0ken", "timeout": 5}'))
    assert response.status_code == 302
    listing = html.unescape(client.get("/admin/connections").get_data(as_text=True))
    assert "warehouse" in listing and SECRET not in listing and "t0ken" not in listing
    assert '"api_token": "***"' in listing and '"timeout": 5' in listing
    edit = "/admin/connections/warehouse/edit"
    page = client.get(edit).get_data(as_text=True)
    assert SECRET not in page and "leave empty to keep it" in page
    other = str(tmp_path / "other.db")
    client.post(edit, data=form(client, edit, conn_type="sqlite", host=other, password="", port=""))
    stored = web_site.store.get_connection("warehouse")
    assert stored.host == other and stored.password == SECRET  # an empty password keeps the old one
    with web_site.store.engine.connect() as conn:  # encrypted at rest
        assert SECRET not in str(conn.execute(CONN_T.select()).all())
    tested = client.post("/admin/connections/warehouse/test",
                         data=form(client, "/admin/connections"), follow_redirects=True)
    assert "Connection warehouse: success" in tested.get_data(as_text=True)
    client.post("/admin/connections/warehouse/delete", data=form(client, "/admin/connections"))
    assert web_site.store.get_connection("warehouse") is None
    events = [e.event for e in web_site.store.event_page(limit=20)[0]]
    assert {"connection.add", "connection.edit", "connection.delete"} <= set(events)


@pytest.mark.parametrize(("fields", "message"), [
    ({"connection_id": "", "conn_type": "http"}, "invalid connection_id"),
    ({"connection_id": "a b", "conn_type": "http"}, "use only letters, digits"),
    ({"connection_id": "c", "conn_type": "http", "port": "http"}, "port must be an integer"),
    ({"connection_id": "c", "conn_type": "http", "port": "70000"}, "port must be an integer from 0 to 65535"),
    ({"connection_id": "c", "conn_type": "http", "extra": "[1]"}, "extra must be a JSON object"),
])
def test_bad_connection_input_is_one_line_and_a_400(web_site: WebSite, fields: dict[str, str], message: str) -> None:
    client = web_site.client("admin")
    new = "/admin/connections/new"
    response = client.post(new, data=form(client, new, password=SECRET, **fields))
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert SECRET not in response.get_data(as_text=True)
    api = web_site.app.test_client().post(f"{API}/connections", json={**fields, "password": SECRET},
                                          headers=WebSite.auth("admin"))
    assert api.status_code == 400 and message in api.get_json()["detail"]


def test_viewers_see_variables_and_pools_but_not_connections_and_change_nothing(web_site: WebSite) -> None:
    viewer = web_site.client("viewer")
    assert viewer.get("/admin/connections").status_code == 403
    assert viewer.get("/admin/variables").status_code == 200 and viewer.get("/admin/pools").status_code == 200
    response = viewer.post("/admin/variables", data=form(viewer, "/admin/variables", key="k", value="v"))
    assert response.status_code == 403 and web_site.store.get_variable("k") is None
    op = web_site.client("op")
    assert op.post("/admin/variables", data={"key": "k", "value": "v"}).status_code == 400  # no CSRF token
    api = web_site.app.test_client()
    assert api.get(f"{API}/connections", headers=WebSite.auth("viewer")).status_code == 403
    assert api.post(f"{API}/pools", json={"name": "p", "slots": 1}, headers=WebSite.auth("viewer")).status_code == 403


def test_variables_are_set_masked_and_deleted(web_site: WebSite) -> None:
    client = web_site.client("op")
    for key, value in (("region", "eu-west-1"), ("db_password", SECRET)):
        client.post("/admin/variables", data=form(client, "/admin/variables", key=key, value=value))
    page = client.get("/admin/variables").get_data(as_text=True)
    assert "eu-west-1" in page and SECRET not in page
    assert web_site.store.get_variable("db_password") == SECRET
    api = web_site.app.test_client()
    body = api.get(f"{API}/variables", headers=WebSite.auth("viewer")).get_json()
    assert {v["key"]: v["value"] for v in body["variables"]} == {"region": "eu-west-1", "db_password": "***"}
    patched = api.patch(f"{API}/variables/region?update_mask=value", json={"value": "us-east-1"},
                        headers=WebSite.auth("op"))
    assert patched.get_json() == {"key": "region", "value": "us-east-1", "description": None}
    assert api.delete(f"{API}/variables/region", headers=WebSite.auth("op")).status_code == 204
    assert api.get(f"{API}/variables/region", headers=WebSite.auth("op")).status_code == 404


def test_pools_in_the_ui_and_the_api(web_site: WebSite) -> None:
    client = web_site.client("admin")
    client.post("/admin/pools", data=form(client, "/admin/pools", name="db", slots="2", description="the DB"))
    assert web_site.store.pools()["db"].slots == 2
    bad = client.post("/admin/pools", data=form(client, "/admin/pools", name="db", slots="-3"))
    assert bad.status_code == 400 and "slots must be an integer from 0" in bad.get_data(as_text=True)
    api = web_site.app.test_client()
    pools = api.get(f"{API}/pools", headers=WebSite.auth("viewer")).get_json()
    assert {p["name"] for p in pools["pools"]} == {"db", "default_pool"} and pools["total_entries"] == 2
    db = api.patch(f"{API}/pools/db", json={"slots": 5}, headers=WebSite.auth("op")).get_json()
    assert (db["slots"], db["open_slots"], db["description"]) == (5, 5, "the DB")
    refused = api.delete(f"{API}/pools/default_pool", headers=WebSite.auth("admin"))
    assert refused.status_code == 400 and "default_pool cannot be deleted" in refused.get_json()["detail"]
    assert api.delete(f"{API}/pools/db", headers=WebSite.auth("admin")).status_code == 204
    assert api.delete(f"{API}/pools/db", headers=WebSite.auth("admin")).status_code == 404


def test_the_api_never_returns_a_connections_password(web_site: WebSite) -> None:
    api = web_site.app.test_client()
    created = api.post(f"{API}/connections", headers=WebSite.auth("op"), json={
        "connection_id": "api_db", "conn_type": "postgres", "host": "db.internal", "login": "etl",
        "password": SECRET, "port": 5432, "extra": '{"sslmode": "require"}'})
    assert created.status_code == 200 and SECRET not in created.get_data(as_text=True)
    assert created.get_json()["extra"] == '{"sslmode": "require"}'
    listed = api.get(f"{API}/connections", headers=WebSite.auth("admin")).get_json()
    mine = [c for c in listed["connections"] if c["connection_id"] == "api_db"]
    assert mine == [{"connection_id": "api_db", "conn_type": "postgres", "description": None,
                                      "host": "db.internal", "login": "etl", "schema": None, "port": 5432}]
    patched = api.patch(f"{API}/connections/api_db?update_mask=host", headers=WebSite.auth("op"),
                        json={"host": "db2.internal", "login": "ignored"}).get_json()
    assert (patched["host"], patched["login"]) == ("db2.internal", "etl")
    assert web_site.store.get_connection("api_db").password == SECRET
    assert api.post(f"{API}/connections", headers=WebSite.auth("op"), json={
        "connection_id": "api_db", "conn_type": "postgres"}).status_code == 409  # exists
    assert api.get(f"{API}/connections/nope", headers=WebSite.auth("op")).status_code == 404


def test_admins_add_and_delete_users_and_nobody_else_sees_the_page(web_site: WebSite) -> None:
    for role in ("viewer", "op"):
        client = web_site.client(role)
        assert client.get("/admin/users").status_code == 403
        assert "/admin/users" not in client.get("/").get_data(as_text=True)
    admin = web_site.client("admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "/admin/users" in admin.get("/").get_data(as_text=True) and ">viewer<" in page
    token = WebSite.csrf(admin, "/admin/users")
    bad = admin.post("/admin/users", data={"csrf_token": token, "username": "new one", "password": "long-enough-1",
                                           "role": "Op"})
    assert bad.status_code == 400 and "username: use 1 to 256 letters" in bad.get_data(as_text=True)
    short = admin.post("/admin/users", data={"csrf_token": token, "username": "newbie", "password": "short",
                                             "role": "Op"})
    assert short.status_code == 400 and "password: use at least 8 characters" in short.get_data(as_text=True)
    made = admin.post("/admin/users", data={"csrf_token": token, "username": "newbie", "password": "long-enough-1",
                                            "role": "Op", "email": "n@example.com"})
    assert made.status_code == 302
    assert web_site.store.get_user("newbie").role == "Op"
    assert web_site.app.test_client().get(f"{API}/dags", headers=WebSite.auth("newbie", "long-enough-1")).status_code == 200
    assert admin.post("/admin/users/newbie/delete", data={"csrf_token": token}).status_code == 302
    assert web_site.store.get_user("newbie") is None
    admin.post("/admin/users/admin/delete", data={"csrf_token": token})
    assert web_site.store.get_user("admin") is not None  # not yourself
