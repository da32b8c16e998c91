"""Prometheus metrics at ``/metrics``, read from the metadata DB at each scrape.

The DB is the one source, so every webserver answers the same and Prometheus may
scrape any of them. Readable by a logged-in user, with HTTP basic auth of any user,
or with ``Authorization: Bearer <webserver.metrics_token>`` when that is set (a
scraper is not a user). Task instances are counted in their unfinished states only:
finished ones grow for ever, and their counts say nothing about health.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, g, request
from miniflow.web.admin import DEFAULT_POOL
from miniflow.web.auth import LoginThrottled, check_credentials
from miniflow.web.store import web_store
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from miniflow.state import FINISHED, DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from miniflow.db.interfaces import WebStore

__all__ = ["bp"]

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    try:
        allowed = _allowed()
    except LoginThrottled as exc:
        return Response(f"{exc}\n", 429, {"Retry-After": str(exc.retry_after)}, mimetype="text/plain")
    if not allowed:
        return Response("Log in, or send HTTP basic auth or the bearer token (webserver.metrics_token).\n", 401,
                        {"WWW-Authenticate": 'Basic realm="miniflow"'}, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(web_store(), current_app.config["PARALLELISM"],
                                current_app.config["DEFAULT_POOL_SLOTS"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _allowed() -> bool:
    if getattr(g, "user", None) is not None:
        return True
    auth = request.authorization
    if auth is None:
        return False
    if auth.type == "bearer":
        token = current_app.config["METRICS_TOKEN"]
        return bool(token) and hmac.compare_digest((auth.token or "").encode(), token.encode())
    return auth.type == "basic" and check_credentials(auth.username or "", auth.password or "") is not None


class _Snapshot:
    """A collector over one `metrics_snapshot` of the store."""

    def __init__(self, store: WebStore, parallelism: int, default_pool_slots: int) -> None:
        self.store, self.parallelism, self.default_pool_slots = store, parallelism, default_pool_slots

    def collect(self) -> Iterator[Metric]:
        snap = self.store.metrics_snapshot()
        now = snap["now"]
        heartbeat = GaugeMetricFamily("miniflow_scheduler_heartbeat_age_seconds",
                                      "Seconds since each running scheduler's last heartbeat.", labels=["job_id", "host"])
        loop = GaugeMetricFamily("miniflow_scheduler_loop_duration_seconds",
                                 "How long each running scheduler's last pass worked (its wait left out).",
                                 labels=["job_id", "host"])
        for job in snap["schedulers"]:
            labels = [str(job.id), job.hostname]
            heartbeat.add_metric(labels, max(0.0, (now - job.latest_heartbeat).total_seconds()))
            if job.loop_seconds is not None:
                loop.add_metric(labels, job.loop_seconds)
        yield heartbeat
        yield loop
        runs = GaugeMetricFamily("miniflow_dag_runs", "DAG runs by state.", labels=["state"])
        for run_state in DagRunState:
            runs.add_metric([run_state.value], snap["runs"].get(run_state.value, 0))
        yield runs
        tis = GaugeMetricFamily("miniflow_task_instances", "Unfinished task instances by state.", labels=["state"])
        for ti_state in TaskInstanceState:
            if ti_state not in FINISHED:
                tis.add_metric([ti_state.value], snap["tis"].get(ti_state.value, 0))
        yield tis
        oldest = snap["oldest_queued"]
        yield GaugeMetricFamily("miniflow_task_instance_oldest_queued_seconds",
                                "How long the task instance queued longest has waited (0: none queued).",
                                value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        delays = snap["queued_delays"]
        delay = GaugeMetricFamily("miniflow_task_instance_queued_delay_seconds",
                                  "Queued-to-running delay of the tries started in the last 5 minutes.",
                                  labels=["quantile"])
        for q in (0.5, 0.95, 1.0):
            delay.add_metric([str(q)], delays[min(len(delays) - 1, int(q * len(delays)))] if delays else 0.0)
        yield delay
        yield from self._slots(snap)
        dags = GaugeMetricFamily("miniflow_dags", "Active DAGs, paused or not.", labels=["paused"])
        for paused in (False, True):
            dags.add_metric([str(paused).lower()], snap["dags"].get(paused, 0))
        yield dags
        yield GaugeMetricFamily("miniflow_import_errors", "DAG files that failed to load.", value=snap["import_errors"])

    def _slots(self, snap: dict[str, Any]) -> Iterator[Metric]:
        running = snap["tis"].get(TaskInstanceState.RUNNING.value, 0)
        queued = snap["tis"].get(TaskInstanceState.QUEUED.value, 0)
        slots = GaugeMetricFamily("miniflow_executor_slots",
                                  "core.parallelism as running, queued and open task instance slots.",
                                  labels=["state"])
        for state, value in (("running", running), ("queued", queued),
                             ("open", max(0, self.parallelism - running - queued))):
            slots.add_metric([state], value)
        yield slots
        pools = GaugeMetricFamily("miniflow_pool_slots", "Each pool's slots: open, running, queued, scheduled.",
                                  labels=["pool", "state"])
        usage = self.store.pool_usage()
        sizes = {name: row.slots for name, row in self.store.pools().items()}
        sizes.setdefault(DEFAULT_POOL, self.default_pool_slots)
        for name in sorted(set(sizes) | set(usage)):
            used = usage.get(name, {})
            for state in ("running", "queued", "scheduled"):
                pools.add_metric([name, state], used.get(state, 0))
            pools.add_metric([name, "open"], max(0, sizes.get(name, 0) - used.get("running", 0) - used.get("queued", 0)))
        yield pools
