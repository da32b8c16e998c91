"""/metrics: Prometheus' text format over the metadata DB, for users and a scraper token."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import WebSite
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(site: WebSite, headers: dict[str, str] | None = None) -> Any:
    return site.app.test_client().get("/metrics", headers=headers or {})


def test_metrics_report_runs_task_instances_pools_and_schedulers(web_site: WebSite) -> None:
    store = web_site.store
    job = store.register_job("scheduler", "sched-host", 4242)
    store.heartbeat_job(job, 0.25)
    response = scrape(web_site, WebSite.auth("viewer"))
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    runs = {state: n for (name, labels), n in found.items() if name == "miniflow_dag_runs"
            for _, state in labels}
    assert runs["success"] == 1 and runs["queued"] == len(web_site.queued_run_ids)
    job_labels = (("host", "sched-host"), ("job_id", str(job)))
    assert found["miniflow_scheduler_loop_duration_seconds", job_labels] == 0.25
    assert 0 <= found["miniflow_scheduler_heartbeat_age_seconds", job_labels] < 60
    assert ("miniflow_task_instances", (("state", "running"),)) in found
    assert ("miniflow_task_instances", (("state", "success"),)) not in found  # finished ones are not counted
    assert found["miniflow_pool_slots", (("pool", "default_pool"), ("state", "open"))] > 0
    assert found["miniflow_import_errors", ()] == 1
    assert found["miniflow_executor_slots", (("state", "open"),)] >= 0


def test_metrics_need_a_user_or_the_scraper_token(web_site: WebSite) -> None:
    assert scrape(web_site).status_code == 401
    assert scrape(web_site, {"Authorization": "Bearer anything"}).status_code == 401  # no token configured
    web_site.app.config["METRICS_TOKEN"] = "scrape-me"
    assert scrape(web_site, {"Authorization": "Bearer scrape-me"}).status_code == 200
    assert scrape(web_site, {"Authorization": "Bearer scrape-you"}).status_code == 401
    assert scrape(web_site, WebSite.auth("viewer", "wrong password")).status_code == 401
    assert web_site.client("viewer").get("/metrics").status_code == 200  # a logged-in browser
