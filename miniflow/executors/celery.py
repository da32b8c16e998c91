"""CeleryExecutor: tries run on Celery workers, on any number of machines.

    scheduler --(broker: Redis or RabbitMQ, one queue per task `queue=`)--> workers
    workers run the try with the same runner, which records the outcome in the
    metadata DB; the scheduler learns it from the DB, woken by a Redis notice

The outcome never travels through Celery's result backend, so nothing depends on the
broker keeping results. Messages are acknowledged late and re-queued when a worker is
lost; a re-delivered try that was already claimed finds its task instance running and
does nothing, and the zombie check retries or fails it once its heartbeat stops. A
try is therefore never lost and never runs twice to success.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Any

from miniflow.executors.base import BaseExecutor, TaskEvent, TaskKey

__all__ = ["CeleryExecutor", "celery_app", "EVENTS_CHANNEL"]

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "miniflow:task-events"
TASK_NAME = "miniflow.run_task"


@cache
def celery_app() -> Any:
    from celery import Celery

    from miniflow.config import get_config
    from miniflow.executors.process_tree import stop_descendants

    config = get_config()
    broker = config.get("celery", "broker_url")
    cleanup_time = float(config.get("core", "killed_task_cleanup_time"))
    app = Celery("miniflow", broker=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=config.get("celery", "default_queue"),
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Redis re-delivers an unacknowledged message after this long (a lost worker).
        broker_transport_options=_transport_options(int(config.get("celery", "visibility_timeout"))),
        worker_hijack_root_logger=False,
    )

    from celery.signals import worker_process_init

    pool_process = False

    @worker_process_init.connect(weak=False)  # a closure: a weak reference would die with this call
    def _fresh_connections(**_: Any) -> None:  # pool processes never share a DB connection
        from miniflow.db.store import reset_store
        from miniflow.executors.process_tree import become_subreaper

        nonlocal pool_process
        reset_store()
        pool_process = become_subreaper()

    @app.task(name=TASK_NAME)
    def run_task(dag_id: str, run_id: str, task_id: str, try_number: int, fileloc: str, queue: str,
                 map_index: int = -1) -> None:
        from miniflow.executors.worker import run_key

        key = TaskKey(dag_id, run_id, task_id, try_number, fileloc, queue, map_index)
        ok, detail = run_key(key)
        if not ok:  # nobody else will notice: record it, as the scheduler would
            _record_lost(key, detail)
        if pool_process:  # a process of its own: what the try left running goes too
            stop_descendants(cleanup_time)
        _notify(broker, key)

    return app


def _transport_options(visibility_timeout: int) -> dict[str, int]:
    """Redis re-delivers an unacknowledged message (a lost worker's) after the
    visibility timeout; kombu looks for such messages only every interval x throttle,
    so both are brought down to match."""
    return {"visibility_timeout": visibility_timeout,
            "unacked_restore_interval": max(1, visibility_timeout // 2), "unacked_restore_throttle": 1}


def _record_lost(key: TaskKey, detail: str) -> None:
    from miniflow.db.store import get_store
    from miniflow.executors.worker import load_dag_cached
    from miniflow.runner import fail_lost_try

    try:
        task = load_dag_cached(key.fileloc, key.dag_id).task_dict.get(key.task_id)
    except Exception:  # noqa: BLE001 -- the DAG no longer loads: fail without retry
        task = None
    fail_lost_try(get_store(), key, task, f"could not run: {detail}")


def _notify(broker: str, key: TaskKey) -> None:
    """Wake the schedulers (Redis brokers); with RabbitMQ they poll the DB instead."""
    if not broker.startswith("redis"):
        return
    try:
        import redis

        redis.Redis.from_url(broker).publish(EVENTS_CHANNEL, f"{key.dag_id}\t{key.run_id}\t{key.task_id}\t{key.map_index}")
    except Exception:
        log.warning("could not publish the task event", exc_info=True)


class CeleryExecutor(BaseExecutor):
    POLL = 0.25  # seconds between DB checks when no Redis notice comes

    def __init__(self, parallelism: int) -> None:
        super().__init__(parallelism)
        self._pubsub: Any = None

    def start(self) -> None:
        from miniflow.config import get_config

        broker = get_config().get("celery", "broker_url")
        celery_app()
        if broker.startswith("redis"):
            import redis

            self._pubsub = redis.Redis.from_url(broker).pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(EVENTS_CHANNEL)

    def queue(self, key: TaskKey) -> None:
        self.running.add(key)
        celery_app().send_task(TASK_NAME, args=[key.dag_id, key.run_id, key.task_id, key.try_number,
                                                key.fileloc, key.queue, key.map_index], queue=key.queue)

    def events(self, timeout: float) -> list[TaskEvent]:
        """Tries of ours that have ended, by their task instances' state in the DB."""
        deadline = time.monotonic() + timeout
        while True:
            done = self._finished()
            remaining = deadline - time.monotonic()
            if done or remaining <= 0:
                return done
            # Any notice wakes this scheduler, even for a try another scheduler sent:
            # the task that ended may have made the next one runnable.
            if self._wait_for_notice(min(remaining, self.POLL)) and not self.running:
                return done

    def _wait_for_notice(self, seconds: float) -> bool:
        """Wait for a worker's notice (True) or `seconds` (False)."""
        if self._pubsub is None:
            time.sleep(seconds)
            return False
        message = self._pubsub.get_message(timeout=seconds)
        woken = message is not None
        while message is not None:  # drain: one check of the DB covers them all
            message = self._pubsub.get_message(timeout=0)
        return woken

    def _finished(self) -> list[TaskEvent]:
        from miniflow.db.store import get_store
        from miniflow.state import TaskInstanceState as TIS

        if not self.running:
            return []
        rows = get_store().ti_rows_for_keys([k.ti for k in self.running])
        done = []
        for key in list(self.running):
            row = rows.get(key.ti)
            started_other_try = row is not None and row.try_number >= key.try_number and row.state != TIS.RUNNING
            if row is None or row.state not in (TIS.QUEUED, TIS.RUNNING) or started_other_try:
                self.running.discard(key)
                done.append(TaskEvent(key, True))
        return done

    def end(self, grace: float) -> list[TaskKey]:
        """Running tries belong to the workers, which finish them; nothing to kill here."""
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            self.events(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        if self._pubsub is not None:
            self._pubsub.close()
        return []


def run_worker(queues: str | None, concurrency: int | None, hostname: str | None = None) -> None:
    """``miniflow celery worker``: a Celery worker (prefork pool) for these queues. Each
    gets a node name of its own, so several can run on one host."""
    import os

    from miniflow.config import get_config

    config = get_config()
    argv = ["worker", "--loglevel=INFO", "-c", str(concurrency or config.get("celery", "worker_concurrency")),
            "-Q", queues or config.get("celery", "default_queue"), "--without-gossip", "--without-mingle",
            "-n", hostname or f"miniflow-{os.getpid()}@%h"]
    celery_app().worker_main(argv)
