"""The web UI's defences, attacked through Flask's test client.

- every page needs a login; every POST needs the session's CSRF token (else 400) and,
  for changes, the Op or Admin role (a Viewer gets 403, in the UI and the API);
- the session cookie is HttpOnly and SameSite; every response carries the security
  headers (CSP, nosniff, frame denial, referrer policy);
- script-bearing strings placed where users can put them (DAG description, tags and
  params, a task's log, a run's conf, an XCom value, an import error, the URL) come
  back escaped, never as markup;
- log endpoints never read a file outside the log folder, whatever ids or try
  numbers a request carries;
- ``/login?next=`` only ever redirects to this site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from conftest import XSS, XSS_IMG, XSS_SCRIPT, WebSite

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"

# These defences live in the web layer, not in the DB: SQLite is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def state_of(site: WebSite) -> tuple[Any, ...]:
    """Everything the UI's actions could change: paused flag, runs, task instances."""
    store = site.store
    runs = sorted((r.run_id, r.state) for r in store.list_runs("web_dag"))
    tis = sorted((t.run_id, t.task_id, t.state, t.try_number) for t in store.tis_for_runs(
        "web_dag", [r for r, _ in runs]))
    return store.get_dag_row("web_dag").is_paused, runs, tis


def ui_posts(site: WebSite) -> dict[str, tuple[str, dict[str, str]]]:
    """Every action form of the UI, with a body that would succeed."""
    return {
        "pause": ("/dags/web_dag/pause", {"is_paused": "false"}),
        "trigger": ("/dags/web_dag/trigger", {"conf": '{"n": 2}'}),
        "clear (confirmation page)": ("/dags/web_dag/clear", {"run_id": site.run_id, "task_id": "shout"}),
        "clear": ("/dags/web_dag/clear", {"run_id": site.run_id, "task_id": "shout", "downstream": "1",
                                          "confirmed": "1"}),
        "mark run": (f"/dags/web_dag/runs/{site.run_id}/mark", {"state": "failed"}),
        "mark task": (f"/dags/web_dag/runs/{site.run_id}/mark", {"state": "failed", "task_id": "flaky"}),
    }


# --- login required -----------------------------------------------------------------------------


def test_pages_need_a_login(web_site: WebSite, subtests: Any) -> None:
    run = web_site.run_id
    pages = ["/", "/?q=web", "/dags/web_dag", "/dags/web_dag?tab=code", "/dags/web_dag/grid.json",
             f"/dags/web_dag/runs/{run}/tasks/shout", f"/dags/web_dag/runs/{run}/tasks/shout/log.json",
             "/import-errors", "/audit", "/dags/no_such_dag"]
    client = web_site.app.test_client()
    for page in pages:
        with subtests.test(page=page):
            response = client.get(page)
            assert response.status_code == 302
            location = urlsplit(response.headers["Location"])
            assert location.netloc in ("", "localhost") and location.path == "/login"
            body = response.get_data(as_text=True)
            assert "payload" not in body and "web test" not in body


def test_actions_need_a_login(web_site: WebSite, subtests: Any) -> None:
    before = state_of(web_site)
    client = web_site.app.test_client()
    for name, (url, form) in ui_posts(web_site).items():
        with subtests.test(action=name):
            response = client.post(url, data=form)
            assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert state_of(web_site) == before


# --- CSRF ---------------------------------------------------------------------------------------


def test_every_action_refuses_a_missing_or_wrong_csrf_token(web_site: WebSite, subtests: Any) -> None:
    client = web_site.client("admin")
    other_session_token = web_site.csrf(web_site.client("op"))
    before = state_of(web_site)
    for name, (url, form) in ui_posts(web_site).items():
        for token in (None, "", "wrong", other_session_token):
            with subtests.test(action=name, token=token):
                data = dict(form) if token is None else {**form, "csrf_token": token}
                response = client.post(url, data=data)
                assert response.status_code == 400
                assert "CSRF" in response.get_data(as_text=True)
    assert state_of(web_site) == before
    # The same forms with the session's token do act: the refusals above were the token's.
    token = web_site.csrf(client)
    assert client.post("/dags/web_dag/pause", data={"is_paused": "false", "csrf_token": token}).status_code == 302
    assert web_site.store.get_dag_row("web_dag").is_paused is False


def test_a_csrf_header_alone_from_another_session_is_refused(web_site: WebSite) -> None:
    client = web_site.client("admin")
    response = client.post("/dags/web_dag/pause", data={"is_paused": "false"},
                           headers={"X-CSRFToken": web_site.csrf(web_site.client("op"))})
    assert response.status_code == 400
    assert web_site.store.get_dag_row("web_dag").is_paused is True


def test_login_form_needs_a_csrf_token(web_site: WebSite, subtests: Any) -> None:
    """Else another site can log a victim into the attacker's account (login CSRF)."""
    form = {"username": "admin", "password": "admin-pass"}
    with subtests.test("fresh browser, no token"):
        client = web_site.app.test_client()  # as a cross-site form post arrives: no session cookie
        assert client.post("/login", data=form).status_code == 400
        assert client.get("/").status_code == 302
    for token in ("", "wrong"):
        with subtests.test("session, wrong token", token=token):
            client = web_site.app.test_client()
            client.get("/login")
            assert client.post("/login", data={**form, "csrf_token": token}).status_code == 400
            assert client.get("/").status_code == 302


def test_logout_needs_a_csrf_token(web_site: WebSite, subtests: Any) -> None:
    for token in (None, "wrong"):
        with subtests.test(token=token):
            client = web_site.client("admin")
            response = client.post("/logout", data={} if token is None else {"csrf_token": token})
            assert response.status_code == 400
            assert client.get("/").status_code == 200  # still logged in
    client = web_site.client("admin")
    assert client.post("/logout", data={"csrf_token": web_site.csrf(client)}).status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_logs_nobody_in(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    token = web_site.csrf(client, "/login")
    response = client.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token})
    assert response.status_code == 401 and "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


# --- roles ---------------------------------------------------------------------------------------


def test_a_viewer_cannot_change_anything_through_the_ui(web_site: WebSite, subtests: Any) -> None:
    client = web_site.client("viewer")
    token = web_site.csrf(client)
    before = state_of(web_site)
    for name, (url, form) in ui_posts(web_site).items():
        with subtests.test(action=name):
            assert client.post(url, data={**form, "csrf_token": token}).status_code == 403
    assert state_of(web_site) == before
    # The viewer reads everything, and the page offers no enabled action.
    page = client.get("/dags/web_dag").get_data(as_text=True)
    toggle = re.search(r'<button[^>]*id="pause-toggle"[^>]*>', page)
    assert toggle and "disabled" in toggle.group(0)
    trigger = client.get("/dags/web_dag?tab=trigger").get_data(as_text=True)
    assert re.search(r'<button type="submit" class="primary"[^>]*disabled', trigger)
    ti_page = client.get(f"/dags/web_dag/runs/{web_site.run_id}/tasks/shout").get_data(as_text=True)
    assert 'id="clear-form"' not in ti_page and "Mark success" not in ti_page


def test_a_viewer_cannot_change_anything_through_the_api(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    before = state_of(web_site)
    viewer = web_site.auth("viewer")
    assert client.patch("/api/v1/dags/web_dag", json={"is_paused": False}, headers=viewer).status_code == 403
    assert client.post("/api/v1/dags/web_dag/dagRuns", json={}, headers=viewer).status_code == 403
    assert state_of(web_site) == before


def test_op_can_act_through_the_ui(web_site: WebSite) -> None:
    client = web_site.client("op")
    token = web_site.csrf(client)
    response = client.post("/dags/web_dag/trigger", data={"conf": '{"n": 3}', "run_id": "by_op", "csrf_token": token})
    assert response.status_code == 302
    assert web_site.store.get_run("web_dag", "by_op").conf == {"n": 3}


# --- cookies and headers ----------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    first = client.get("/login")
    token = web_site.csrf(client, "/login")
    login = client.post("/login", data={"username": "admin", "password": "admin-pass", "csrf_token": token})
    cookies = first.headers.getlist("Set-Cookie") + login.headers.getlist("Set-Cookie")
    assert cookies, "no session cookie was set"
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "httponly" in attributes, cookie
        assert "samesite=lax" in attributes or "samesite=strict" in attributes, cookie


def test_security_headers_on_every_kind_of_response(web_site: WebSite, subtests: Any) -> None:
    admin = web_site.client("admin")
    anonymous = web_site.app.test_client()
    responses = {
        "login page": anonymous.get("/login"),
        "redirect to login": anonymous.get("/"),
        "DAG list": admin.get("/"),
        "DAG page": admin.get("/dags/web_dag"),
        "task page": admin.get(f"/dags/web_dag/runs/{web_site.run_id}/tasks/shout"),
        "grid.json": admin.get("/dags/web_dag/grid.json"),
        "static file": admin.get("/static/app.js"),
        "404 page": admin.get("/dags/no_such_dag"),
        "CSRF refusal": admin.post("/dags/web_dag/pause", data={}),
        "API JSON": anonymous.get("/api/v1/dags", headers=web_site.auth()),
        "API 401": anonymous.get("/api/v1/dags"),
        "API 404": anonymous.get("/api/v1/dags/nope", headers=web_site.auth()),
        "health": anonymous.get("/api/v1/health"),
    }
    for name, response in responses.items():
        with subtests.test(response=name):
            headers = response.headers
            assert headers.get("X-Content-Type-Options") == "nosniff"
            assert headers.get("X-Frame-Options") == "DENY"
            assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
            csp = headers.get("Content-Security-Policy", "")
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_pages_have_no_inline_script(web_site: WebSite) -> None:
    """The CSP forbids inline script; a page that relied on it would break silently."""
    client = web_site.client("admin")
    for page in ["/", "/dags/web_dag", f"/dags/web_dag/runs/{web_site.run_id}/tasks/shout", "/login"]:
        html = client.get(page).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (page, tag)
        assert not re.search(r"\son[a-z]+\s*=", html.replace(" onerror=alert(1)&gt;", "")), page


# --- XSS ------------------------------------------------------------------------------------------


def assert_escaped(html: str, *shown: str) -> None:
    """The payload never appears as markup; each of `shown` (the payload as escaped
    text in its context) does appear."""
    assert XSS_SCRIPT not in html
    assert "<img src=" not in html.lower()
    assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", "")
    for text in shown:
        assert text in html


def test_user_supplied_strings_are_escaped_in_pages(web_site: WebSite, subtests: Any) -> None:
    client = web_site.client("admin")
    run = web_site.run_id
    q = quote(XSS, safe="")
    pages = {
        # DAG description and tags.
        "/": ("web test " + ESCAPED_SCRIPT, "tag" + ESCAPED_SCRIPT),
        "/dags/web_dag": ("web test " + ESCAPED_SCRIPT, "tag" + ESCAPED_SCRIPT),
        # The run's conf.
        f"/dags/web_dag?tab=details&run_id={quote(run, safe='')}": ("&#34;c&#34;: &#34;" + ESCAPED_SCRIPT,),
        # The DAG's params (the trigger form's fields) and the file's source.
        "/dags/web_dag?tab=trigger": ('value="' + ESCAPED_SCRIPT,),
        "/dags/web_dag?tab=code": (ESCAPED_SCRIPT,),
        "/dags/web_dag?tab=about": ("web test " + ESCAPED_SCRIPT, "tag" + ESCAPED_SCRIPT),
        "/dags/web_dag?tab=graph": (),
        "/dags/web_dag?tab=gantt": (),
        # A task's log and XCom value.
        f"/dags/web_dag/runs/{run}/tasks/shout": ("payload " + ESCAPED_SCRIPT,
                                                  "{&#34;html&#34;: &#34;" + ESCAPED_SCRIPT),
        f"/dags/web_dag/runs/{run}/tasks/shout?try=1": ("payload " + ESCAPED_SCRIPT,),
        "/import-errors": (ESCAPED_SCRIPT,),
        "/audit": (),
        # Strings sent in the URL and printed back.
        f"/?q={q}": (ESCAPED_SCRIPT,),
        f"/?tag={q}": (),
        f"/dags/web_dag?tab=trigger&conf={q}": (ESCAPED_SCRIPT,),
        f"/dags/web_dag?run_id={q}": (),
        f"/dags/web_dag?tab={q}": (),
        f"/dags/web_dag?page={q}": (),
        f"/dags/web_dag/runs/{run}/tasks/shout?try={q}": (),
        f"/dags/{quote(XSS_IMG)}": (),
        f"/dags/web_dag/runs/{quote(XSS_IMG)}/tasks/shout": (),
    }
    for page, shown in pages.items():
        with subtests.test(page=page):
            response = client.get(page)
            assert response.status_code in (200, 404)
            assert response.mimetype == "text/html"
            assert_escaped(response.get_data(as_text=True), *shown)


def test_a_refused_trigger_shows_the_bad_input_escaped(web_site: WebSite, subtests: Any) -> None:
    client = web_site.client("admin")
    token = web_site.csrf(client)
    for form in [{"run_id": XSS}, {"conf": XSS}, {"conf": '{"n": "' + XSS_SCRIPT + '"}'}, {"logical_date": XSS}]:
        with subtests.test(form=form):
            response = client.post("/dags/web_dag/trigger", data={**form, "csrf_token": token}, follow_redirects=True)
            assert response.status_code == 200
            html = response.get_data(as_text=True)
            assert 'class="flash error"' in html
            assert_escaped(html)
    assert len(web_site.store.list_runs("web_dag")) == 3


def test_json_endpoints_are_not_html(web_site: WebSite) -> None:
    """JSON carrying the payload is served as JSON (with nosniff), never as a page."""
    client = web_site.client("admin")
    log = client.get(f"/dags/web_dag/runs/{web_site.run_id}/tasks/shout/log.json")
    assert log.mimetype == "application/json" and XSS in log.get_json()["content"]
    api = web_site.app.test_client().get(
        f"/api/v1/dags/web_dag/dagRuns/{web_site.run_id}/taskInstances/shout/xcomEntries/payload",
        headers=web_site.auth())
    assert api.mimetype == "application/json"


# --- path traversal on the log endpoints ---------------------------------------------------------------

SECRET = "TOP-SECRET-not-a-log"


@pytest.fixture
def secrets_outside_logs(web_site: WebSite, miniflow_home: Path) -> list[Path]:
    """Files a traversal from the log folder could reach, each holding SECRET."""
    base = web_site.log_folder
    targets = [
        miniflow_home / "secret.txt",
        miniflow_home / "attempt=1.log",
        # <base>/../secret/x/attempt=1.log: dag_id "..", run "secret", task "x"
        miniflow_home / "secret" / "x" / "attempt=1.log",
        # <base>/web_dag/../shout/attempt=1.log: run id ".." (inside base, but not this task's log)
        base / "shout" / "attempt=1.log",
        miniflow_home.parent / "attempt=1.log",
    ]
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SECRET)
    return targets


def traversal_cases(site: WebSite) -> list[tuple[str, str, str, str]]:
    """(dag id, run id, task id, try number) as they appear in a URL."""
    run = site.run_id
    return [
        ("..", "secret", "x", "1"),
        ("%2e%2e", "secret", "x", "1"),
        ("%2E%2E", "secret", "x", "1"),
        ("web_dag", "..", "shout", "1"),
        ("web_dag", "%2e%2e", "shout", "1"),
        ("web_dag", "%2e%2e%2f%2e%2e", "shout", "1"),
        ("web_dag", run, "..", "1"),
        ("web_dag", run, "%2e%2e%2f%2e%2e%2fsecret.txt", "1"),
        ("web_dag", run, "..%2f..%2f..%2fsecret.txt", "1"),
        ("web_dag", run, "%2Fetc%2Fpasswd", "1"),
        ("%2Fetc", "passwd", "x", "1"),
        ("web_dag", "%2Ftmp", "shout", "1"),
        # Only the try number is hostile.
        ("web_dag", run, "shout", "..%2f..%2fsecret.txt"),
        ("web_dag", run, "shout", "%2e%2e"),
        ("web_dag", run, "shout", "-1"),
        ("web_dag", run, "shout", "%2Fetc%2Fpasswd"),
        ("web_dag", run, "shout", "1%2f..%2f..%2f..%2fsecret.txt"),
    ]


def test_log_endpoints_refuse_path_traversal(web_site: WebSite, secrets_outside_logs: list[Path],
                                             subtests: Any) -> None:
    ui = web_site.client("admin")
    api = web_site.app.test_client()
    for dag, run_id, task, try_number in traversal_cases(web_site):
        real_task_instance = (dag, run_id, task) == ("web_dag", web_site.run_id, "shout")
        urls = [
            (f"/api/v1/dags/{dag}/dagRuns/{run_id}/taskInstances/{task}/logs/{try_number}", api, web_site.auth()),
            (f"/dags/{dag}/runs/{run_id}/tasks/{task}/log.json?try={try_number}", ui, {}),
            (f"/dags/{dag}/runs/{run_id}/tasks/{task}?try={try_number}", ui, {}),
        ]
        for url, client, headers in urls:
            with subtests.test(url=url):
                # A "//" in the decoded path gets a same-site redirect to the merged path.
                response = client.get(url, headers=headers, follow_redirects=True)
                assert SECRET not in response.get_data(as_text=True)
                if url.startswith("/api/") or not real_task_instance:
                    assert response.status_code in (400, 404)


def test_logs_of_runs_named_dot_or_dot_dot_never_read_another_file(web_site: WebSite,
                                                                  secrets_outside_logs: list[Path],
                                                                  subtests: Any) -> None:
    """Even when a run id that is a path component reaches the DB (here written directly),
    reading its log must not walk out of the run's own folder."""
    import datetime as dt

    from miniflow.dagbag import DagBag
    from miniflow.serialization import task_rows

    dag = DagBag(web_site.store.get_dag_row("web_dag").fileloc, include_examples=False).dags["web_dag"]
    for day, run_id in ((20, ".."), (21, ".")):
        web_site.store.create_run("web_dag", task_rows(dag), run_id, dt.datetime(2024, 1, day, tzinfo=dt.UTC),
                                  None, "manual")
    (web_site.log_folder / "web_dag" / "shout").mkdir(parents=True, exist_ok=True)
    (web_site.log_folder / "web_dag" / "shout" / "attempt=1.log").write_text(SECRET)  # what run "." would hit
    ui = web_site.client("admin")
    for run_id in ("..", "."):
        for url, client, headers in [
            (f"/api/v1/dags/web_dag/dagRuns/{run_id}/taskInstances/shout/logs/1", web_site.app.test_client(),
             web_site.auth()),
            (f"/dags/web_dag/runs/{run_id}/tasks/shout/log.json?try=1", ui, {}),
            (f"/dags/web_dag/runs/{run_id}/tasks/shout?try=1", ui, {}),
        ]:
            with subtests.test(url=url):
                response = client.get(url, headers=headers)
                assert SECRET not in response.get_data(as_text=True)


def test_read_log_stays_in_the_log_folder(web_site: WebSite, secrets_outside_logs: list[Path],
                                          miniflow_home: Path, subtests: Any) -> None:
    """`read_log` is the last line of defence: no ids make it read another file."""
    from miniflow.web.logs import read_log

    from miniflow.taskinstancekey import TaskInstanceKey

    (web_site.log_folder / "web_dag" / "shout").mkdir(parents=True, exist_ok=True)
    (web_site.log_folder / "web_dag" / "shout" / "attempt=1.log").write_text(SECRET)

    cases = [
        ("..", "secret", "x", 1),
        ("web_dag", "..", "shout", 1),
        ("web_dag", "r/../../..", "x", 1),
        ("web_dag", ".", "shout", 1),  # <base>/web_dag/shout/attempt=1.log: no task's log
        # Absolute ids: Path("<base>") / "/abs" is "/abs".
        (str(miniflow_home), "secret", "x", 1),
        ("web_dag", str(miniflow_home / "secret"), "x", 1),
        ("web_dag", "r", str(miniflow_home / "secret" / "x"), 1),
    ]
    for dag_id, run_id, task_id, try_number in cases:
        with subtests.test(ids=(dag_id, run_id, task_id)):
            content = read_log(TaskInstanceKey(dag_id, run_id, task_id), try_number)
            assert content is None or SECRET not in content


def test_run_ids_that_are_path_components_are_refused(web_site: WebSite, subtests: Any) -> None:
    """A run id names a folder of the log tree: "." and ".." would point elsewhere (and
    the runner refuses to write their logs, so their tasks could never run)."""
    client = web_site.app.test_client()
    for run_id in ("..", "."):
        with subtests.test(run_id=run_id):
            response = client.post("/api/v1/dags/web_dag/dagRuns", json={"dag_run_id": run_id},
                                   headers=web_site.auth())
            assert response.status_code == 400
            assert web_site.store.get_run("web_dag", run_id) is None


# --- open redirects ---------------------------------------------------------------------------------

EVIL_TARGETS = [
    "//evil.example", "//evil.example/dags", "///evil.example", "https://evil.example", "http:evil.example",
    "/\\evil.example", "\\\\evil.example", "\\/evil.example", "/%5Cevil.example", "%2F%2Fevil.example",
    "/%2F/evil.example", "/\t/evil.example", "/%09/evil.example", " //evil.example", "javascript:alert(1)",
    "//evil.example@localhost", "/@evil.example",
]


def browser_target(location: str) -> tuple[str, str]:
    """Where a browser goes for this Location header: (scheme, host)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    target = urlsplit(urljoin("http://localhost/login", cleaned))
    return target.scheme, target.hostname or ""


def test_login_never_redirects_off_site(web_site: WebSite, subtests: Any) -> None:
    for target in EVIL_TARGETS:
        with subtests.test(next=target):
            client = web_site.app.test_client()
            token = web_site.csrf(client, "/login")
            response = client.post(f"/login?next={quote(target, safe='')}",
                                   data={"username": "admin", "password": "admin-pass", "csrf_token": token})
            assert response.status_code == 302
            assert browser_target(response.headers["Location"]) == ("http", "localhost"), response.headers["Location"]
    # A same-site target is honoured.
    client = web_site.app.test_client()
    token = web_site.csrf(client, "/login")
    response = client.post("/login?next=/dags/web_dag%3Ftab%3Dcode",
                           data={"username": "admin", "password": "admin-pass", "csrf_token": token})
    assert response.headers["Location"].endswith("/dags/web_dag?tab=code")


def test_login_redirect_from_a_page_keeps_the_page(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    location = client.get("/dags/web_dag?tab=code").headers["Location"]
    token = web_site.csrf(client, "/login")
    response = client.post(location, data={"username": "admin", "password": "admin-pass", "csrf_token": token})
    assert response.headers["Location"].endswith("/dags/web_dag?tab=code")


def test_pause_never_redirects_off_site(web_site: WebSite, subtests: Any) -> None:
    client = web_site.client("admin")
    token = web_site.csrf(client)
    for target in EVIL_TARGETS:
        with subtests.test(next=target):
            response = client.post("/dags/web_dag/pause", data={"is_paused": "true", "next": target,
                                                                "csrf_token": token})
            assert response.status_code == 302
            assert browser_target(response.headers["Location"]) == ("http", "localhost"), response.headers["Location"]
