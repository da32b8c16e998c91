"""What the UI's pages show: the details a user reads on them."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import WebSite

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_the_code_tab_colours_the_source_and_numbers_its_lines(web_site: WebSite) -> None:
    html = web_site.client("viewer").get("/dags/web_dag?tab=code").get_data(as_text=True)
    assert '<span class="kn">import</span>' in html  # a keyword, coloured
    assert 'id="L-1"' in html and '<span class="linenos"> 1</span>' in html
    assert "<script>alert(1)" not in html


def test_a_running_try_says_how_long_it_has_been_running(web_site: WebSite) -> None:
    import datetime as dt
    from urllib.parse import quote

    from sqlalchemy import update

    from miniflow.db.tables import TI_T

    run_id = web_site.queued_run_ids[0]
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=75)
    with web_site.store.write() as conn:
        conn.execute(update(TI_T).where(TI_T.c.run_id == run_id, TI_T.c.task_id == "shout")
                     .values(state="running", start_date=started, end_date=None, try_number=1))
    html = web_site.client("viewer").get(f"/dags/web_dag/runs/{quote(run_id, safe='')}/tasks/shout").get_data(
        as_text=True)
    assert f"{started:%Y-%m-%d %H:%M:%S}, running for 1m 1" in html
    finished = web_site.client("viewer").get(f"/dags/web_dag/runs/{quote(web_site.run_id, safe='')}/tasks/shout")
    assert "running for" not in finished.get_data(as_text=True)


@pytest.mark.parametrize("page", ["40", "99999999999999999999999"])
def test_a_page_past_the_last_redirects_to_the_last(web_site: WebSite, page: str) -> None:
    client = web_site.client("viewer")
    for url, last in ((f"/?q=dag&page={page}", "/?q=dag&page=1"),
                      (f"/dags/web_dag?tab=grid&page={page}", "/dags/web_dag?tab=grid&page=1"),
                      (f"/audit?page={page}", "/audit?page=1")):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == last, (url, response.status_code)
    assert client.get("/?page=1").status_code == 200


@pytest.mark.parametrize(("summary", "words"), [
    ("@daily", "every day at 00:00"), ("0 2 * * 1-5", "every weekday at 02:00"),
    ("1 day, 0:00:00", "every day"), ("6:00:00", "every 6 hours"), ("0:30:00", "every 30 minutes"),
    ("7 days, 0:00:00", "every 7 days"), ("1:30:00", "every 1 hour 30 minutes"),
    ("Dataset", "on dataset updates"), (None, "manual only"),
])
def test_schedules_read_as_words_whether_cron_or_timedelta(summary: str | None, words: str, db_url: str) -> None:
    from miniflow.web.humanize import describe_schedule

    assert describe_schedule(summary) == words


def test_swagger_ui_is_served_from_the_site_and_nothing_else_is(web_site: WebSite) -> None:
    client = web_site.app.test_client()
    page = client.get("/api/v1/ui/").get_data(as_text=True)
    assert 'data-spec-url="/api/v1/openapi.json"' in page and "/api/v1/ui/swagger-ui-bundle.js" in page
    assert "http" not in page.split("<body>")[1]  # no script or style from elsewhere
    assert client.get("/api/v1/ui/swagger-ui.css").mimetype == "text/css"
    for name in ("index.html", "..%2Fpyproject.toml", "swagger-ui.js.map"):
        assert client.get(f"/api/v1/ui/{name}").status_code == 404
    assert 'href="/api/v1/ui/"' in web_site.client("viewer").get("/").get_data(as_text=True)


def test_trigger_form_has_a_field_per_param_and_checks_values_server_side(web_site: WebSite) -> None:
    import re
    from urllib.parse import unquote

    client = web_site.client("admin")
    page = client.get("/dags/web_dag?tab=trigger").get_data(as_text=True)
    assert re.search(r'<input type="number" id="param-n" name="param.n" value="1" step="1"\s+min="0"', page)
    assert 'name="param.p" value="&lt;script&gt;alert(1)' in page
    token = WebSite.csrf(client, "/dags/web_dag?tab=trigger")

    def trigger(**fields: str) -> Any:
        return client.post("/dags/web_dag/trigger", data={"csrf_token": token, "conf": "{}", **fields})

    before = {r.run_id for r in web_site.store.list_runs("web_dag")}
    assert trigger(**{"param.n": "5", "param.p": "from the form"}).status_code == 302
    [new] = [r for r in web_site.store.list_runs("web_dag") if r.run_id not in before]
    assert new.conf == {"n": 5, "p": "from the form"}

    refused = trigger(**{"param.n": "-3"})
    location = unquote(refused.headers["Location"].replace("+", " "))
    assert "tab=trigger" in location and '"n": -3' in location
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "param &#39;n&#39;: -3 is below 0" in shown and 'name="param.n" value="-3"' in shown
    assert "is not a number" in client.get(trigger(**{"param.n": "many"}).headers["Location"]).get_data(as_text=True)
    assert len(web_site.store.list_runs("web_dag")) == len(before) + 1


def test_dag_details_show_the_arguments_and_the_next_runs_of_the_timetable(web_site: WebSite) -> None:
    client = web_site.client("viewer")
    page = client.get("/dags/web_dag?tab=about").get_data(as_text=True)
    details = page[page.index('id="dag-details"'):]
    assert "every day at 00:00 · <code>@daily</code> · UTC" in details
    # Only manual runs so far, and catchup is on: the first scheduled runs are from the start date.
    for day in range(1, 6):
        assert f"2024-01-0{day} 00:00:00 <span class=\"muted\">(data interval to 2024-01-0{day + 1} 00:00:00" in details
    assert "2024-01-06 00:00:00 <span" not in details
    assert "<code>n</code> = 1" in details and "<th>Tasks</th><td>2</td>" in details
    assert "none scheduled" in client.get("/dags/page_dag_0?tab=about").get_data(as_text=True)


def test_grid_columns_have_duration_bars_years_run_types_and_durations_on_hover(web_site: WebSite) -> None:
    import re

    page = web_site.client("viewer").get("/dags/web_dag").get_data(as_text=True)
    finished = re.search(r'<rect class="run-bar state-success" data-run-id="([^"]+)" x="2" width="10" '
                         r'y="0" height="40">', page)
    assert finished, "the longest run's bar is full height"
    assert page.count('class="run-bar state-queued"') == len(web_site.queued_run_ids)
    assert 'height="2"></rect>' in page  # runs not started yet get a stub
    head = re.search(rf'<a class="run-head type-manual state-success" data-run-id="{re.escape(finished.group(1))}" '
                     r'title="([^"]+)"[^>]*>(\d{4}-\d\d-\d\d \d\d:\d\d)</a>', page)
    assert head and re.fullmatch(r".+ · manual · [\d.]+s · success", head.group(1)), head
    flaky = re.search(r'<tr data-row="flaky" class="task">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'<td class="state-success" data-d="[\d.]+">', flaky)  # app.js shows it on hover


def test_calendar_colours_each_day_by_its_runs(web_site: WebSite) -> None:
    import re

    finished = web_site.store.get_run("web_dag", web_site.run_id)
    page = web_site.client("viewer").get("/dags/web_dag?tab=calendar").get_data(as_text=True)
    day = finished.logical_date.date().isoformat()
    assert f"<h3>{finished.logical_date.year}</h3>" in page
    assert re.search(rf'class="day success" data-date="{day}"><title>{day}: 1 success</title>', page)
    for run_id in web_site.queued_run_ids:
        queued = web_site.store.get_run("web_dag", run_id).logical_date.date().isoformat()
        assert re.search(rf'class="day (running|mixed)" data-date="{queued}"><title>{queued}: [^<]*queued', page)


def test_calendar_years_are_laid_out_by_week_from_sunday(db_url: str) -> None:
    import datetime as dt

    from miniflow.web.calendar import CELL, calendar_years

    runs = [(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "success"),  # a Monday
            (dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc), "failed"),
            (dt.datetime(2023, 12, 31, tzinfo=dt.timezone.utc), "running")]  # a Sunday
    [y2024, y2023] = calendar_years(runs, years=5)
    assert (y2024.year, len(y2024.days), y2023.year, len(y2023.days)) == (2024, 366, 2023, 365)
    first = y2024.days[0]
    assert (first.x, first.y, first.summary, first.title) == (0, CELL, "failed", "2024-01-01: 1 failed, 1 success")
    assert (y2023.days[-1].y, y2023.days[-1].summary) == (0, "running")
    assert calendar_years(runs, years=1)[0].year == 2024


def test_durations_tab_charts_each_task_and_the_landing_times(web_site: WebSite) -> None:
    import re

    page = web_site.client("viewer").get("/dags/web_dag?tab=durations").get_data(as_text=True)
    table = page[page.index('id="durations"'):]
    for task_id in ("shout", "flaky"):
        row = re.search(rf"<tr><th>{task_id}</th><td>(<svg.*?</svg>)</td>", table, re.S)
        assert row, task_id
        bars = re.findall(r'<rect class="run-bar state-(\w+)" x="\d+" y="\d+" width="10" height="(\d+)">'
                          r'<title>([^<]+)</title>', row.group(1))
        assert len(bars) == 1 + len(web_site.queued_run_ids)  # one per run of the page
        assert ("success", "48") in [(s, h) for s, h, _ in bars]  # the only finished try is the longest
        assert any("no duration yet" in title for _, _, title in bars)
    assert "Landing times" in table and "median " in table


def test_a_mapped_cell_spans_from_the_first_start_to_the_last_end(db_url: str) -> None:
    import datetime as dt
    from types import SimpleNamespace

    from miniflow.web.grid import summarize

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

    def ti(start: int, end: int | None, state: str) -> Any:
        return SimpleNamespace(start_date=t0 + dt.timedelta(seconds=start),
                               end_date=None if end is None else t0 + dt.timedelta(seconds=end), state=state)

    assert summarize([ti(0, 5, "success"), ti(2, 9, "success")]).seconds == 9
    assert summarize([ti(0, 5, "success"), ti(2, None, "running")]).seconds is None


def test_gantt_has_a_time_axis_queued_time_before_running_time_and_a_run_picker(web_site: WebSite) -> None:
    import re
    from urllib.parse import quote

    page = web_site.client("viewer").get(
        f"/dags/web_dag?tab=gantt&run_id={quote(web_site.run_id, safe='')}").get_data(as_text=True)
    assert f'<option value="{web_site.run_id}" selected>' in page
    assert all(f'<option value="{r}"' in page for r in web_site.queued_run_ids)
    assert len(re.findall(r'<text class="tick" x="[\d.]+" y="10">\d\d:\d\d:\d\d[.\d]*</text>', page)) >= 2
    assert re.search(r"<title>shout: queued [\d.]+s, ran [\d.]+s \(success\)</title>", page)
    assert f"aria-label=\"Gantt chart of {web_site.run_id}\"" in page


def test_gantt_chart_places_queued_and_running_parts_on_one_axis(db_url: str) -> None:
    import datetime as dt
    from types import SimpleNamespace

    from miniflow.web.charts import GANTT_LEFT, GANTT_WIDTH, gantt_chart

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

    def at(s: float) -> dt.datetime:
        return t0 + dt.timedelta(seconds=s)

    rows = [SimpleNamespace(task_id="a", map_index=-1, state="success", queued_at=at(0), start_date=at(10),
                            end_date=at(40)),
            SimpleNamespace(task_id="b", map_index=2, state="running", queued_at=at(40), start_date=at(50),
                            end_date=None),
            SimpleNamespace(task_id="c", map_index=-1, state=None, queued_at=None, start_date=None, end_date=None)]
    chart = gantt_chart(rows, now=at(100))
    a, b = chart.bars
    scale = GANTT_WIDTH / 100
    assert (a.queued_x, a.queued_w, a.run_x, a.run_w) == (GANTT_LEFT, 10 * scale, GANTT_LEFT + 10 * scale, 30 * scale)
    assert b.label == "b[2]" and b.run_x + b.run_w == GANTT_LEFT + GANTT_WIDTH  # still running: up to now
    assert [label for _, label in chart.ticks] == ["00:00:00", "00:00:15", "00:00:30", "00:00:45", "00:01:00",
                                                   "00:01:15", "00:01:30"]


def test_a_whole_run_is_cleared_after_a_confirmation(web_site: WebSite) -> None:
    client = web_site.client("admin")
    token = WebSite.csrf(client)
    form = {"csrf_token": token, "run_id": web_site.run_id, "whole_run": "1"}
    confirm = client.post("/dags/web_dag/clear", data=form).get_data(as_text=True)
    assert "Clear 2 task instance(s)?" in confirm and 'name="whole_run" value="1"' in confirm
    done = client.post("/dags/web_dag/clear", data={**form, "confirmed": "1"}, follow_redirects=True)
    assert "Cleared 2 task instance(s)" in done.get_data(as_text=True)
    states = {t.task_id: t.state for t in web_site.store.tis_for_runs("web_dag", [web_site.run_id])}
    assert states == {"shout": None, "flaky": None}
    assert web_site.store.get_run("web_dag", web_site.run_id).state != "success"


def test_deleting_a_dag_asks_first_and_removes_its_history(web_site: WebSite) -> None:
    viewer = web_site.client("viewer")
    assert viewer.post("/dags/web_dag/delete", data={"csrf_token": WebSite.csrf(viewer)}).status_code == 403
    admin = web_site.client("admin")
    token = WebSite.csrf(admin)
    runs = len(web_site.store.list_runs("web_dag"))
    confirm = admin.post("/dags/web_dag/delete", data={"csrf_token": token}).get_data(as_text=True)
    assert f"Its {runs} run(s)" in confirm and web_site.store.get_dag_row("web_dag") is not None
    done = admin.post("/dags/web_dag/delete", data={"csrf_token": token, "confirmed": "1"})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert web_site.store.get_dag_row("web_dag") is None and web_site.store.list_runs("web_dag") == []
    assert web_site.store.tis_for_runs("web_dag", [web_site.run_id]) == []
    assert admin.get("/dags/web_dag").status_code == 404
    assert "delete_dag" in admin.get("/audit").get_data(as_text=True)


def test_the_dag_list_shows_the_last_run_and_how_many_runs_are_in_each_state(web_site: WebSite) -> None:
    import re

    page = web_site.client("viewer").get("/?q=web_dag").get_data(as_text=True)
    row = re.search(r'<tr data-dag-id="web_dag">(.*?)</tr>', page, re.S).group(1)
    newest = max([web_site.store.get_run("web_dag", r) for r in [web_site.run_id, *web_site.queued_run_ids]],
                 key=lambda r: r.logical_date)
    assert f'title="{newest.run_id}: {newest.state}">{newest.logical_date:%Y-%m-%d %H:%M:%S}</a>' in row
    counts = {state: int(n) for n, state in
              re.findall(r'<span class="badge state-\w+" title="\d+ \w+ run\(s\)">(\d+) (\w+)</span>', row)}
    assert counts == {"success": 1, "queued": len(web_site.queued_run_ids)}
