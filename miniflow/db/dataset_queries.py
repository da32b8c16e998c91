"""The store's reads and writes of datasets (see `miniflow.datasets`): who consumes what,
the events, the consumers' queue, and the runs it turns into."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from miniflow.db.engine import run_built
from miniflow.db.records import DatasetEventRecord
from miniflow.db.tables import (
    DAG_T,
    DS_ALIAS_T,
    DS_EVENT_T,
    DS_QUEUE_T,
    DS_REF_T,
    DS_T,
    RUN_DS_EVENT_T,
    RUN_T,
    columns,
    to_records,
    utcnow,
)
from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["DatasetQueries", "DatasetUpdate"]

DatasetUpdate = tuple[str, dict[str, Any], str | None]
"""(uri, extra, alias it was added through) -- what a successful try updated."""


_QUEUED_UPDATES = select(DS_QUEUE_T.c.target_dag_id, DS_QUEUE_T.c.uri, DS_QUEUE_T.c.created_at)
_EVENTS = select(*columns(DatasetEventRecord, DS_EVENT_T))


class DatasetQueries:
    write: Any
    read: Any

    def sync_dataset_references(self, conn: Connection, dag_id: str, uris: Iterable[str],
                                aliases: Iterable[str], outlet_uris: Iterable[str]) -> None:
        """Record what `dag_id` is scheduled on, and register every dataset it names."""
        conn.execute(delete(DS_REF_T).where(DS_REF_T.c.dag_id == dag_id))
        uris, outlet_uris = set(uris), set(outlet_uris)
        refs = [{"dag_id": dag_id, "kind": "uri", "name": u} for u in sorted(uris)]
        refs += [{"dag_id": dag_id, "kind": "alias", "name": a} for a in sorted(set(aliases))]
        refs += [{"dag_id": dag_id, "kind": "outlet", "name": u} for u in sorted(outlet_uris)]
        if refs:
            conn.execute(insert(DS_REF_T), refs)
        self._ensure_datasets(conn, {*uris, *outlet_uris})

    def _ensure_datasets(self, conn: Connection, uris: Iterable[str]) -> None:
        wanted = set(uris)
        if not wanted:
            return
        known = set(conn.execute(select(DS_T.c.uri).where(DS_T.c.uri.in_(wanted))).scalars())
        now = utcnow()
        for uri in sorted(wanted - known):
            # another process may register it at the same moment: then it is there
            with contextlib.suppress(IntegrityError), conn.begin_nested():
                conn.execute(insert(DS_T).values(uri=uri, extra={}, created_at=now))

    def record_dataset_events(self, conn: Connection, source: TaskInstanceKey | None,
                              updates: Sequence[DatasetUpdate]) -> list[int]:
        """One event per update, and a queue entry for every active, unpaused DAG
        scheduled on the dataset (or on the alias it came through). Returns the events' ids."""
        if not updates:
            return []
        now = utcnow()
        self._ensure_datasets(conn, [u for u, _, _ in updates])
        for uri, _, alias in updates:
            if alias is not None and not conn.execute(select(DS_ALIAS_T.c.uri).where(
                    DS_ALIAS_T.c.name == alias, DS_ALIAS_T.c.uri == uri)).first():
                conn.execute(insert(DS_ALIAS_T).values(name=alias, uri=uri))
        ids = []
        for uri, extra, alias in updates:
            key = conn.execute(insert(DS_EVENT_T).values(
                uri=uri, extra=extra, source_alias=alias, timestamp=now,
                source_dag_id=source.dag_id if source else None, source_task_id=source.task_id if source else None,
                source_run_id=source.run_id if source else None,
                source_map_index=source.map_index if source else -1,
            )).inserted_primary_key
            assert key is not None
            ids.append(key[0])
        by_uri = [(kind_name, uri) for uri, _, alias in updates
                  for kind_name in ([("uri", uri)] + ([("alias", alias)] if alias else []))]
        consumers = conn.execute(
            select(DS_REF_T.c.dag_id, DS_REF_T.c.kind, DS_REF_T.c.name)
            .join(DAG_T, DAG_T.c.dag_id == DS_REF_T.c.dag_id)
            .where(DAG_T.c.is_active.is_(True), DAG_T.c.is_paused.is_(False),
                   DS_REF_T.c.name.in_({name for (_, name), _ in by_uri}))).all()
        queued = {(uri, c.dag_id) for (kind, name), uri in by_uri for c in consumers
                  if (c.kind, c.name) == (kind, name)}
        for uri, dag_id in sorted(queued):
            existing = and_(DS_QUEUE_T.c.uri == uri, DS_QUEUE_T.c.target_dag_id == dag_id)
            conn.execute(delete(DS_QUEUE_T).where(existing))  # the latest update's time counts
            conn.execute(insert(DS_QUEUE_T).values(uri=uri, target_dag_id=dag_id, created_at=now))
        return ids

    def record_external_dataset_event(self, uri: str, extra: dict[str, Any]) -> int:
        """An update reported from outside (REST API, CLI), as if a task had made it."""
        with self.write() as conn:
            return self.record_dataset_events(conn, None, [(uri, extra, None)])[0]

    def dataset_queue(self) -> dict[str, dict[str, dt.datetime]]:
        """Queued updates by consumer DAG: {dag_id: {uri: queued at}}."""
        found: dict[str, dict[str, dt.datetime]] = defaultdict(dict)
        with self.read() as conn:
            for target_dag_id, uri, created_at in run_built(conn, _QUEUED_UPDATES):
                found[target_dag_id][uri] = created_at
        return dict(found)

    def alias_uris(self) -> dict[str, list[str]]:
        """The dataset URIs each alias has resolved to so far."""
        found: dict[str, list[str]] = defaultdict(list)
        with self.read() as conn:
            for row in conn.execute(select(DS_ALIAS_T).order_by(DS_ALIAS_T.c.name, DS_ALIAS_T.c.uri)):
                found[row.name].append(row.uri)
        return dict(found)

    def events_between(self, conn: Connection, uris: Iterable[str], since: dt.datetime | None,
                       until: dt.datetime) -> list[DatasetEventRecord]:
        """The events of `uris` in (since, until], oldest first."""
        query = _EVENTS.where(DS_EVENT_T.c.uri.in_(set(uris)), DS_EVENT_T.c.timestamp <= until)
        if since is not None:
            query = query.where(DS_EVENT_T.c.timestamp > since)
        return to_records(DatasetEventRecord, conn.execute(query.order_by(DS_EVENT_T.c.id)))

    def consume_dataset_queue(self, conn: Connection, dag_id: str, run_id: str, event_ids: Sequence[int]) -> None:
        """Link `event_ids` to the new run `run_id` and empty the DAG's queue."""
        if event_ids:
            conn.execute(insert(RUN_DS_EVENT_T), [{"dag_id": dag_id, "run_id": run_id, "event_id": e}
                                                  for e in event_ids])
        conn.execute(delete(DS_QUEUE_T).where(DS_QUEUE_T.c.target_dag_id == dag_id))

    def last_dataset_triggered_date(self, conn: Connection, dag_id: str, before: dt.datetime) -> dt.datetime | None:
        return conn.execute(select(RUN_T.c.logical_date).where(
            RUN_T.c.dag_id == dag_id, RUN_T.c.run_type == "dataset_triggered", RUN_T.c.logical_date < before,
        ).order_by(RUN_T.c.logical_date.desc()).limit(1)).scalar()

    def source_intervals(self, conn: Connection,
                         events: Sequence[DatasetEventRecord]) -> dict[int, tuple[Any, Any]]:
        """The data interval of each event's source run, by event id."""
        found = {}
        for e in events:
            if e.source_dag_id and e.source_run_id:
                run = conn.execute(select(RUN_T.c.data_interval_start, RUN_T.c.data_interval_end).where(
                    RUN_T.c.dag_id == e.source_dag_id, RUN_T.c.run_id == e.source_run_id)).first()
                if run is not None and run.data_interval_start is not None:
                    found[e.id] = (run.data_interval_start, run.data_interval_end)
        return found

    def dag_dataset_references(self, dag_id: str) -> dict[str, list[str]]:
        """What `dag_id` is scheduled on (``uri``, ``alias``) and updates (``outlet``)."""
        found: dict[str, list[str]] = {"uri": [], "alias": [], "outlet": []}
        with self.read() as conn:
            for ref in conn.execute(select(DS_REF_T).where(DS_REF_T.c.dag_id == dag_id).order_by(DS_REF_T.c.name)):
                found[ref.kind].append(ref.name)
        return found

    def triggering_dataset_events(self, dag_id: str, run_id: str) -> list[DatasetEventRecord]:
        with self.read() as conn:
            return to_records(DatasetEventRecord, conn.execute(
                _EVENTS.join(RUN_DS_EVENT_T, RUN_DS_EVENT_T.c.event_id == DS_EVENT_T.c.id)
                .where(RUN_DS_EVENT_T.c.dag_id == dag_id, RUN_DS_EVENT_T.c.run_id == run_id)
                .order_by(DS_EVENT_T.c.id)))

    def dataset_events(self, uri: str | None = None, alias: str | None = None, limit: int = 100,
                       offset: int = 0) -> list[DatasetEventRecord]:
        """Recorded events, oldest first: of one dataset, of the datasets an alias
        resolved to, or all."""
        query = _EVENTS
        if uri is not None:
            query = query.where(DS_EVENT_T.c.uri == uri)
        if alias is not None:
            query = query.where(DS_EVENT_T.c.uri.in_(select(DS_ALIAS_T.c.uri).where(DS_ALIAS_T.c.name == alias)))
        with self.read() as conn:
            return to_records(DatasetEventRecord, conn.execute(query.order_by(DS_EVENT_T.c.id).limit(limit)
                                                               .offset(offset)))

    def datasets(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Every dataset with its consumers, producers (tasks that updated it) and
        last update."""
        with self.read() as conn:
            rows = list(conn.execute(select(DS_T).order_by(DS_T.c.uri).limit(limit).offset(offset)))
            uris = [r.uri for r in rows]
            consumers: dict[str, set[str]] = defaultdict(set)
            producers: dict[str, set[str]] = defaultdict(set)
            for ref in conn.execute(select(DS_REF_T).where(DS_REF_T.c.name.in_(uris))):
                if ref.kind == "uri":
                    consumers[ref.name].add(ref.dag_id)
                elif ref.kind == "outlet":
                    producers[ref.name].add(ref.dag_id)
            last: dict[str, dt.datetime] = {}
            for e in conn.execute(select(DS_EVENT_T.c.uri, DS_EVENT_T.c.source_dag_id, DS_EVENT_T.c.source_task_id,
                                         DS_EVENT_T.c.timestamp).where(DS_EVENT_T.c.uri.in_(uris))):
                if e.source_dag_id:
                    producers[e.uri].add(e.source_dag_id)
                last[e.uri] = max(last.get(e.uri, e.timestamp), e.timestamp)
        return [{"uri": r.uri, "extra": r.extra or {}, "created_at": r.created_at,
                 "consumers": sorted(consumers[r.uri]), "producers": sorted(producers[r.uri]),
                 "last_update": last.get(r.uri)} for r in rows]
