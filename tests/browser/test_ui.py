"""The web UI in a real browser, against a real scheduler and webserver.

One walk through what a user does: log in, unpause a DAG, trigger it with a conf,
watch the run turn green in the grid (the page polls grid.json: it is never
reloaded), read a task's log, clear a task (with its confirmation step) and watch it
run again. Headless Chromium from the OS (/usr/bin/chromium) through Playwright; the
processes are ``miniflow scheduler`` and ``miniflow webserver`` on a SQLite DB in the
test's MINIFLOW_HOME. A screenshot of the DAG page is left in the test's tmp_path.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_service

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
USER, PASSWORD = "admin", "browser-pass-1"
CONF = {"greeting": "hello from the browser"}

FAST = {
    "MINIFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "1",
    "MINIFLOW__SCHEDULER__LOOP_INTERVAL": "0.2",
    "MINIFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "1",
    "MINIFLOW__CORE__PARALLELISM": "4",
}

DAG_FILE = """
import datetime as dt
import time

from miniflow import DAG
from miniflow.operators.bash import BashOperator
from miniflow.operators.python import PythonOperator


def greet(dag_run):
    time.sleep(1)
    print("conf greeting: " + dag_run.conf.get("greeting", "none"))


with DAG("browser_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None,
         is_paused_upon_creation=True, description="Two quick tasks for the browser test", tags=["browser"]):
    # The sleeps keep the run unfinished for a moment, so that the page sees it change.
    BashOperator(task_id="warm_up", bash_command="sleep 2; echo warmed up") >> PythonOperator(
        task_id="greet", python_callable=greet)
"""


PARAMS_DAG_FILE = """
import datetime as dt

from miniflow import DAG, Param
from miniflow.operators.empty import EmptyOperator

with DAG("params_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None,
         params={"region": Param("eu", enum=["eu", "us", "ap"], description="Where to load"),
                 "days": Param(7, type="integer", minimum=1, maximum=30),
                 "dry_run": Param(False, type="boolean")}):
    EmptyOperator(task_id="noop")
"""


GROUPS_DAG_FILE = """
import datetime as dt

from miniflow import DAG
from miniflow.operators.empty import EmptyOperator
from miniflow.task_group import TaskGroup

with DAG("groups_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule="@daily"):
    with TaskGroup("section") as section:
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
    EmptyOperator(task_id="start") >> section >> EmptyOperator(task_id="end")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Processes:
    """Processes started in their own process groups; `stop` ends exactly those groups."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env, self.procs = home, env, {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.out", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "miniflow", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = (proc, log)
        return proc

    def check_alive(self) -> None:
        for name, (proc, _) in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.output(name)}")

    def output(self, name: str) -> str:
        return (self.home / f"{name}.out").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


@pytest.fixture
def site(sqlite_url: str, miniflow_home: Path, write_dag: Callable[..., Path], run_cli: Callable[..., Any]
         ) -> Iterator[str]:
    """A scheduler and a webserver over a DB holding browser_dag and an Admin user; yields
    the site's base URL."""
    require_service("Chromium", os.path.exists(CHROMIUM), f"{CHROMIUM} is not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_service("Playwright", False, "the playwright package is not installed (pip install playwright)")
    write_dag("browser_dag.py", DAG_FILE)
    write_dag("params_dag.py", PARAMS_DAG_FILE)
    write_dag("groups_dag.py", GROUPS_DAG_FILE)
    created = run_cli("users", "create", "-u", USER, "-r", "Admin", "-p", PASSWORD, "-e", "admin@example.com")
    assert created.returncode == 0, created.stderr
    port = free_port()
    env = {**os.environ, "MINIFLOW_HOME": str(miniflow_home), "MINIFLOW_DATABASE_URL": sqlite_url, **FAST}
    procs = Processes(miniflow_home, env)
    try:
        procs.start("scheduler", "scheduler")
        procs.start("webserver", "webserver", "--port", str(port))
        base = f"http://127.0.0.1:{port}"

        def dag_known() -> bool:
            procs.check_alive()
            credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            request = urllib.request.Request(f"{base}/api/v1/dags/browser_dag",
                                             headers={"Authorization": f"Basic {credentials}"})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    return json.load(response)["is_paused"] is True
            except (urllib.error.URLError, ConnectionError):
                return False

        wait_for("the webserver to serve browser_dag", dag_known, timeout=30)
        yield base
    finally:
        procs.stop()


@pytest.fixture
def browser(site: str) -> Iterator[tuple[Any, list[str]]]:
    """A page of headless Chromium on the site, and the list of problems it reports
    (console errors and uncaught exceptions; a CSP violation is one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(base_url=site, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        problems: list[str] = []
        # Failed loads are reported by URL below, not by the console's anonymous line.
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error"
                and not msg.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        # Browsers ask for /favicon.ico on their own; miniflow has none (a 404, harmless).
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
                and not r.url.endswith("/favicon.ico") else None)
        try:
            yield page, problems
        finally:
            chromium.close()


def success(kind: str) -> re.Pattern[str]:
    return re.compile(rf"^{kind}( \S+)* state-success$")


IN_SUCCESS = re.compile(r"(^| )state-success( |$)")


def grid_cell(page: Any, run_id: str, row: str) -> Any:
    """The grid's cell of `row` (a task or group id) in the column of `run_id`."""
    column = page.locator("#grid thead th[data-run-id]").evaluate_all(
        "(heads, runId) => heads.findIndex((th) => th.dataset.runId === runId)", run_id)
    assert column >= 0, f"no column for {run_id}"
    return page.locator(f'#grid tr[data-row="{row}"] td').nth(column)


def test_log_in_unpause_trigger_watch_log_and_clear(browser: tuple[Any, list[str]], site: str,
                                                    tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, problems = browser

    # Log in: a page asked for before logging in is where the login lands.
    page.goto("/")
    expect(page).to_have_url(f"{site}/login?next=/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site}/")
    expect(page.locator("header .user")).to_have_text(f"{USER} (Admin)")

    # Unpause from the DAG list.
    row = page.locator('tr[data-dag-id="browser_dag"]')
    expect(row.get_by_role("button", name="Unpause browser_dag")).to_have_text("paused")
    row.get_by_role("button", name="Unpause browser_dag").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(site)}/\??$"))
    expect(row.get_by_role("button", name="Pause browser_dag")).to_have_text("on")

    # Trigger with a conf.
    row.get_by_role("link", name="browser_dag").click()
    expect(page.locator("h1")).to_contain_text("browser_dag")
    page.locator("#trigger-link").click()
    page.locator('#trigger-form textarea[name="conf"]').fill(json.dumps(CONF))
    page.locator("#trigger-form").get_by_role("button", name="Trigger").click()
    flash = page.locator(".flash.info")
    expect(flash).to_contain_text("Triggered manual__")
    run_id = flash.inner_text().removeprefix("Triggered ").strip()

    # Watch the run turn green without reloading: a marker set now must survive.
    grid = page.locator("#grid")
    head = grid.locator(f'.run-head[data-run-id="{run_id}"]')
    assert "state-success" not in (head.get_attribute("class") or ""), "the run finished before the page loaded"
    page.evaluate("window.__not_reloaded = true")
    expect(head).to_have_class(success("run-head"), timeout=30_000)
    for task_id in ("warm_up", "greet"):
        expect(grid_cell(page, run_id, task_id)).to_have_class(IN_SUCCESS)
    assert page.evaluate("window.__not_reloaded") is True, "the page was reloaded"
    assert "success" in (head.get_attribute("title") or "")
    page.screenshot(path=str(tmp_path / "dag_page.png"), full_page=True)

    # The run's conf on the run details tab.
    page.get_by_role("link", name="Run details").click()
    expect(page.locator("table.kv")).to_contain_text("hello from the browser")

    # A task's log.
    page.get_by_role("link", name="Grid").click()
    grid_cell(page, run_id, "greet").click()
    expect(page.locator("h1")).to_contain_text("greet")
    expect(page.locator("#ti-state")).to_have_text("success")
    expect(page.locator("#log")).to_contain_text("conf greeting: hello from the browser")

    # Clear it, through the confirmation step; the scheduler runs it again.
    page.locator("#clear-form").get_by_role("button", name="Clear…").click()
    confirm = page.locator("#confirm-clear")
    expect(confirm.locator("h1")).to_have_text("Clear 1 task instance(s)?")
    expect(confirm).to_contain_text("greet")
    confirm.get_by_role("button", name="Clear").click()
    expect(page.locator(".flash.info")).to_have_text("Cleared 1 task instance(s)")
    page.evaluate("window.__not_reloaded = true")
    cell = grid_cell(page, run_id, "greet")
    expect(cell).not_to_have_class(IN_SUCCESS)
    expect(cell).to_have_class(IN_SUCCESS, timeout=30_000)
    expect(page.locator(f'.run-head[data-run-id="{run_id}"]')).to_have_class(success("run-head"))
    assert page.evaluate("window.__not_reloaded") is True, "the page was reloaded"
    cell.click()
    expect(page.get_by_role("link", name="Try 2 · success")).to_be_visible()
    expect(page.locator("#log")).to_contain_text("conf greeting: hello from the browser")

    assert problems == [], problems


def test_swagger_ui_lists_the_api_and_calls_it_with_basic_auth(browser: tuple[Any, list[str]], site: str) -> None:
    """Swagger UI, served locally (no request leaves the site), authorizes with a user's
    name and password and calls an endpoint."""
    from playwright.sync_api import expect

    page, problems = browser
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto("/api/v1/ui/")
    expect(page.locator(".information-container .title")).to_contain_text("miniflow")
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator('input[type="text"]').fill(USER)
    dialog.locator('input[type="password"]').fill(PASSWORD)
    dialog.get_by_role("button", name="Authorize", exact=True).click()
    dialog.get_by_role("button", name="Close").click()
    operation = page.locator("#operations-DAG-get_dag, .opblock[id$='-get_dag']").first
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator('input[placeholder="dag_id"]').fill("browser_dag")
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".responses-table.live-responses-table")
    expect(response.locator("tbody .response-col_status").first).to_have_text("200")
    expect(response).to_contain_text('"dag_id": "browser_dag"')
    assert all(url.startswith(site) for url in requested), [u for u in requested if not u.startswith(site)]
    assert problems == [], problems


def log_in(page: Any, site: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site}/")


def test_trigger_with_the_params_form(browser: tuple[Any, list[str]], site: str) -> None:
    """Each param is a field of its kind (a list, a checkbox, a number box with its range);
    what is chosen becomes the run's conf. (The server's own check of the values is in
    tests/web/test_pages.py.)"""
    from playwright.sync_api import expect

    page, problems = browser
    log_in(page, site)
    page.goto("/dags/params_dag?tab=trigger")
    form = page.locator("#trigger-form")
    expect(form.get_by_label("region")).to_have_value('"eu"')
    form.get_by_label("region").select_option(label="us")
    form.get_by_label("dry_run").check()
    form.get_by_label("days").fill("45")  # past its maximum: the browser keeps the form (the server would refuse)
    form.get_by_role("button", name="Trigger").click()
    assert form.get_by_label("days").evaluate("field => field.validity.rangeOverflow") is True
    expect(page.locator(".flash.info")).to_have_count(0)
    form.get_by_label("days").fill("3")
    form.get_by_role("button", name="Trigger").click()
    expect(page.locator(".flash.info")).to_contain_text("Triggered manual__")
    page.get_by_role("link", name="Run details").click()
    details = page.locator("table.kv")
    for text in ('"region": "us"', '"days": 3', '"dry_run": true'):
        expect(details).to_contain_text(text)
    assert problems == [], problems


def test_the_graph_zooms_with_the_wheel_moves_by_dragging_and_fits_again(browser: tuple[Any, list[str]],
                                                                         site: str) -> None:
    from playwright.sync_api import expect

    page, problems = browser
    log_in(page, site)
    page.goto("/dags/browser_dag?tab=graph")
    graph = page.locator("#graph")
    full = graph.get_attribute("viewBox") or ""
    box = graph.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)  # zoom in
    expect(graph).not_to_have_attribute("viewBox", full)
    zoomed = [float(v) for v in (graph.get_attribute("viewBox") or "").split()]
    assert zoomed[2] < float(full.split()[2])
    page.mouse.move(box["x"] + 4, box["y"] + 4)  # a corner, off the tasks (a task's link opens it)
    page.mouse.down()
    page.mouse.move(box["x"] + 4 - 80, box["y"] + 4, steps=4)
    page.mouse.up()
    moved = [float(v) for v in (graph.get_attribute("viewBox") or "").split()]
    assert moved[0] > zoomed[0] and moved[2] == zoomed[2]
    page.locator("#graph-fit").click()
    expect(graph).to_have_attribute("viewBox", full)
    assert problems == [], problems


def test_deleting_a_pool_asks_first(browser: tuple[Any, list[str]], site: str) -> None:
    from playwright.sync_api import expect

    page, problems = browser
    log_in(page, site)
    page.goto("/admin/pools")
    page.get_by_label("Name").fill("scratch")
    page.get_by_label("Slots").fill("3")
    page.get_by_role("button", name="Save").click()
    row = page.locator("tr", has_text="scratch")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Delete").click()
    expect(row).to_be_visible()
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash.info")).to_have_text("Deleted pool scratch")
    assert asked == ["Delete pool scratch?", "Delete pool scratch?"]
    assert problems == [], problems


def test_grid_groups_fold_keys_move_the_cursor_and_the_calendar_shows_the_run(
        browser: tuple[Any, list[str]], site: str, run_cli: Callable[..., Any]) -> None:
    """A task group folds its rows away (and stays folded after a reload) while its own
    row sums up its tasks; arrow keys move over the cells, Space folds, Enter opens;
    hovering a cell says what it is; the graph folds a group into one node; the
    calendar colours the run's day."""
    from playwright.sync_api import expect

    tested = run_cli("dags", "test", "groups_dag", "2024-03-05")
    assert tested.returncode == 0, tested.stderr
    page, problems = browser
    log_in(page, site)
    page.goto("/dags/groups_dag")
    names = page.locator("#grid tbody tr:not([hidden]) th")
    expect(names).to_have_text(["start", "section", "first", "second", "end"])
    run_id = page.locator("#grid thead th[data-run-id]").first.get_attribute("data-run-id")
    expect(grid_cell(page, run_id, "section")).to_have_class(IN_SUCCESS)

    fold = page.get_by_role("button", name="section")
    fold.click()
    expect(names).to_have_text(["start", "section", "end"])
    expect(fold).to_have_attribute("aria-expanded", "false")
    page.reload()
    expect(names).to_have_text(["start", "section", "end"])
    page.get_by_role("button", name="section").click()
    expect(names).to_have_text(["start", "section", "first", "second", "end"])

    cell = grid_cell(page, run_id, "section.second")
    cell.hover()
    expect(cell).to_have_attribute("title", re.compile(rf"^section\.second · {re.escape(run_id)} · [\d.]+s · success$"))

    page.locator("table.grid").focus()
    cursor = page.locator("#grid td.cursor")
    expect(cursor).to_have_count(1)
    assert cursor.evaluate("td => td.parentElement.dataset.row") == "start"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert cursor.evaluate("td => td.parentElement.dataset.row") == "section.first"
    page.keyboard.press(" ")  # folds the group the cursor is in; the cursor goes onto the group's row
    expect(names).to_have_text(["start", "section", "end"])
    assert cursor.evaluate("td => td.parentElement.dataset.row") == "section"
    page.keyboard.press("ArrowDown")
    assert cursor.evaluate("td => td.parentElement.dataset.row") == "end"
    page.get_by_role("button", name="section").focus()
    page.keyboard.press("Enter")  # a focused fold button keeps its own keys: it unfolds, nothing opens
    expect(names).to_have_text(["start", "section", "first", "second", "end"])
    assert page.url.endswith("/dags/groups_dag")
    page.locator("table.grid").focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("end")

    page.goto(f"/dags/groups_dag?tab=graph&run_id={run_id}")
    page.locator("svg a.fold", has_text="section").click()
    folded = page.locator("svg rect.node.folded")
    expect(folded).to_have_count(1)
    expect(page.locator("svg a.unfold")).to_contain_text("section")
    expect(page.locator("svg a.unfold")).to_contain_text("group of 2")
    page.locator("svg a.unfold").click()
    expect(folded).to_have_count(0)
    expect(page.locator("svg rect.group")).to_have_count(1)

    page.goto("/dags/groups_dag?tab=calendar")
    day = page.locator('#calendar rect.day[data-date="2024-03-05"]')
    expect(day).to_have_class(re.compile(r"(^| )success( |$)"))
    expect(day.locator("title")).to_have_text("2024-03-05: 1 success")
    expect(page.locator("#calendar rect.day.success")).to_have_count(1)

    # Browse: tick every task instance of the DAG and clear them, after the question.
    page.goto("/browse/task-instances?dag_id=groups_dag")
    listing = page.locator("#browse-task-instances")
    expect(listing.locator("tbody tr")).to_have_count(4)
    listing.get_by_label("Tick all").check()
    expect(listing.locator('tbody input[name="key"]:checked')).to_have_count(4)
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    listing.get_by_role("button", name="Clear").click()
    expect(page.locator(".flash.info")).to_contain_text("Cleared 4")
    assert asked == ["Clear the ticked task instances? They run again."]
    assert problems == [], problems
