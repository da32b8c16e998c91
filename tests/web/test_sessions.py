"""Web hardening: sessions end on logout and on a new password (a copied cookie stops
working), failed logins are throttled per user name and per address (429 with
Retry-After, in the UI and the API), the cookie is Secure over HTTPS, and the SQLite
file is private to its owner."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import WEB_USERS, WebSite
from werkzeug.security import generate_password_hash


def _copy_of_cookie(web_site: WebSite, client: Any) -> Any:
    stolen = web_site.app.test_client()
    stolen.set_cookie("session", client.get_cookie("session").value)
    return stolen


def test_a_copied_cookie_stops_working_once_its_session_logs_out(web_site: WebSite) -> None:
    client = web_site.client("op")
    stolen = _copy_of_cookie(web_site, client)
    assert stolen.get("/").status_code == 200  # the copy works while the session lives
    client.post("/logout", data={"csrf_token": WebSite.csrf(client)})
    assert client.get("/").status_code == 302
    page = stolen.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_a_new_password_ends_every_session_of_the_user(web_site: WebSite) -> None:
    first, second = web_site.client("viewer"), web_site.client("viewer")
    other = web_site.client("op")
    web_site.store.set_password("viewer", generate_password_hash("a-new-one-42", "pbkdf2:sha256:1"))
    assert first.get("/").status_code == 302 and second.get("/").status_code == 302
    assert other.get("/").status_code == 200  # someone else's session is untouched


def _login(client: Any, user: str, password: str, address: str = "127.0.0.1") -> Any:
    token = WebSite.csrf(client, "/login")
    return client.post("/login", data={"username": user, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def _throttled_app(web_site: WebSite) -> Any:
    """An app with the real throttle (the shared site's is lenient: see conftest)."""
    from miniflow.web import create_app

    return create_app(web_site.store, testing=True)


def test_five_failed_logins_a_minute_throttle_the_user_and_the_address(web_site: WebSite) -> None:
    client = _throttled_app(web_site).test_client()
    for _ in range(5):
        assert _login(client, "op", "wrong", "10.0.0.1").status_code == 401
    blocked = _login(client, "op", WEB_USERS["op"][1], "10.0.0.2")  # the right password, another address
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in blocked.get_data(as_text=True)
    assert _login(client, "admin", WEB_USERS["admin"][1], "10.0.0.2").status_code == 302  # another user: fine
    for _ in range(5):
        _login(client, f"nobody{_}", "x", "10.0.0.3")
    assert _login(client, "viewer", WEB_USERS["viewer"][1], "10.0.0.3").status_code == 429  # that address


def test_the_api_throttles_failed_basic_auth_too(web_site: WebSite) -> None:
    api = _throttled_app(web_site).test_client()
    for _ in range(5):
        assert api.get("/api/v1/dags", headers=WebSite.auth("viewer", "wrong")).status_code == 401
    response = api.get("/api/v1/dags", headers=WebSite.auth("viewer"))
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert response.get_json()["title"] == "Too Many Requests"


@pytest.mark.parametrize(("setting", "base_url", "secure"), [
    ("auto", "", False), ("auto", "https://flows.example.com", True), ("true", "", True),
    ("false", "https://flows.example.com", False)])
def test_the_session_cookie_is_secure_over_https(web_site: WebSite, monkeypatch: pytest.MonkeyPatch,
                                                 setting: str, base_url: str, secure: bool) -> None:
    from miniflow.web import create_app

    from miniflow.config import reset_config

    monkeypatch.setenv("MINIFLOW__WEBSERVER__COOKIE_SECURE", setting)
    monkeypatch.setenv("MINIFLOW__WEBSERVER__BASE_URL", base_url)
    reset_config()
    client = create_app(web_site.store, testing=True).test_client()
    cookie = client.get("/login").headers["Set-Cookie"]
    assert ("Secure" in cookie) is secure and "HttpOnly" in cookie


def test_a_bad_cookie_secure_value_is_one_line(monkeypatch: pytest.MonkeyPatch, web_site: WebSite) -> None:
    from miniflow.web import create_app

    from miniflow.config import reset_config

    monkeypatch.setenv("MINIFLOW__WEBSERVER__COOKIE_SECURE", "sometimes")
    reset_config()
    with pytest.raises(ValueError, match="webserver.cookie_secure must be true, false or auto, got 'sometimes'"):
        create_app(web_site.store, testing=True)


def test_the_sqlite_file_is_private_to_its_owner(tmp_path: Path) -> None:
    from miniflow.db.engine import make_engine

    path = tmp_path / "fresh-home" / "miniflow.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
