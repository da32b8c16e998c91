"""Datasets: data-aware scheduling. A task that updates a dataset says so in its
``outlets``; a DAG whose ``schedule`` names datasets runs when they have been updated.

::

    orders = Dataset("s3://warehouse/orders")

    PythonOperator(task_id="load", python_callable=load, outlets=[orders])   # producer
    DAG("report", schedule=[orders], ...)                                     # consumer

How it works, as in Airflow 2.10:

- When a try with outlets succeeds, the runner records one **dataset event** per
  dataset (with the ``extra`` the task set through ``outlet_events``) in the same
  transaction as the try's outcome, and **queues** the event for every active,
  unpaused DAG scheduled on that dataset (a paused DAG queues nothing).
- The scheduler creates a run of a consumer as soon as its condition holds on its queued
  datasets: ``schedule=[a, b]`` needs both, ``a | b`` either, ``a & (b | c)`` nests.
  Events that arrive before that run is created all go into it; its context's
  ``triggering_dataset_events`` lists them, and the queue is emptied.
- A `DatasetAlias` in ``outlets`` names datasets only known at run time
  (``outlet_events[alias].add(Dataset(uri))``); DAGs scheduled on the alias run when
  any dataset added through it is updated.
- `DatasetOrTimeSchedule` runs on a time schedule *or* on dataset updates.

``Asset``, ``AssetAlias``, ``AssetAll``, ``AssetAny`` and ``AssetOrTimeSchedule`` are
Airflow 3's names for the same.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from miniflow.exceptions import DagDefinitionError
from miniflow.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable

Aliases = Mapping[str, Iterable[str]] | None  # alias name -> the dataset URIs it resolved to

__all__ = [
    "BaseDataset", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny", "Metadata", "DatasetEvent",
    "DatasetTriggeredTimetable", "DatasetOrTimeSchedule", "OutletEventAccessors", "InletEventsAccessor",
    "dataset_condition", "condition_to_json", "condition_from_json",
    "outlet_datasets", "Asset", "AssetAlias", "AssetAll", "AssetAny", "AssetOrTimeSchedule",
]


class BaseDataset(ABC):
    """A condition on dataset updates: one dataset, an alias, or all/any of several."""

    def __or__(self, other: BaseDataset) -> DatasetAny:
        return DatasetAny(self, other)

    def __and__(self, other: BaseDataset) -> DatasetAll:
        return DatasetAll(self, other)

    @abstractmethod
    def evaluate(self, updated: Mapping[str, bool], aliases: Aliases = None) -> bool:
        """Whether the condition holds given which dataset URIs were `updated`;
        `aliases` says which URIs each alias has resolved to."""

    def iter_uris(self) -> Iterator[str]:
        """The dataset URIs the condition names (not through aliases)."""
        return iter(())

    def iter_aliases(self) -> Iterator[str]:
        return iter(())


def _normalize_uri(uri: str) -> str:
    if not isinstance(uri, str) or not uri or uri.isspace():
        raise DagDefinitionError(f"a dataset URI must be a non-empty string, got {uri!r}")
    if any(c.isspace() for c in uri):
        raise DagDefinitionError(f"dataset URI {uri!r} contains white space")
    scheme = urlsplit(uri).scheme
    if scheme.lower() == "airflow":
        raise DagDefinitionError(f"dataset URI {uri!r} uses the reserved scheme 'airflow'")
    return uri


class Dataset(BaseDataset):
    """A piece of data, named by a URI (``s3://bucket/key``, ``postgres://db/table``, or
    any string); miniflow never reads it, it only records that it was updated."""

    def __init__(self, uri: str, extra: dict[str, Any] | None = None) -> None:
        self.uri = _normalize_uri(uri)
        self.extra = dict(extra or {})

    def __repr__(self) -> str:
        return f"Dataset({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def evaluate(self, updated: Mapping[str, bool], aliases: Aliases = None) -> bool:
        return bool(updated.get(self.uri))

    def iter_uris(self) -> Iterator[str]:
        yield self.uri


class Asset(Dataset):
    """Airflow 3's name: ``Asset("name")`` or ``Asset(name=..., uri=...)``; the URI
    defaults to the name."""

    def __init__(self, name: str | None = None, uri: str | None = None, *, group: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        if name is None and uri is None:
            raise DagDefinitionError("Asset() needs a name or a uri")
        super().__init__(uri or name or "", extra)
        self.name = name or self.uri
        self.group = group


class DatasetAlias(BaseDataset):
    """A name for datasets a task decides at run time."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DagDefinitionError(f"a dataset alias needs a non-empty name, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"DatasetAlias({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetAlias) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("alias", self.name))

    def evaluate(self, updated: Mapping[str, bool], aliases: Aliases = None) -> bool:
        return any(updated.get(uri) for uri in (aliases or {}).get(self.name, ()))

    def iter_aliases(self) -> Iterator[str]:
        yield self.name


class _Compound(BaseDataset):
    def __init__(self, *objects: BaseDataset) -> None:
        for obj in objects:
            if not isinstance(obj, BaseDataset):
                raise DagDefinitionError(f"{type(self).__name__} takes datasets, not {obj!r}")
        self.objects = objects

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"

    def iter_uris(self) -> Iterator[str]:
        for obj in self.objects:
            yield from obj.iter_uris()

    def iter_aliases(self) -> Iterator[str]:
        for obj in self.objects:
            yield from obj.iter_aliases()


class DatasetAll(_Compound):
    """Every one of the datasets (conditions) updated."""

    def evaluate(self, updated: Mapping[str, bool], aliases: Aliases = None) -> bool:
        return all(obj.evaluate(updated, aliases) for obj in self.objects)


class DatasetAny(_Compound):
    """At least one of the datasets (conditions) updated."""

    def evaluate(self, updated: Mapping[str, bool], aliases: Aliases = None) -> bool:
        return any(obj.evaluate(updated, aliases) for obj in self.objects)


@dataclass
class Metadata:
    """``yield Metadata(dataset, extra)`` from a task: the extra of its event (and, with
    `alias`, the dataset added to that alias)."""

    target: Dataset
    extra: dict[str, Any]
    alias: DatasetAlias | str | None = None


@dataclass(frozen=True)
class DatasetEvent:
    """One recorded update of a dataset (what ``triggering_dataset_events`` and
    ``inlet_events`` hold)."""

    id: int
    uri: str
    extra: dict[str, Any]
    timestamp: dt.datetime
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1

    @property
    def dataset(self) -> Dataset:
        return Dataset(self.uri)


def condition_to_json(condition: BaseDataset) -> Any:
    """A dataset condition as JSON: a URI, ``{"alias": name}``, or ``{"all"|"any": [...]}``."""
    if isinstance(condition, Dataset):
        return condition.uri
    if isinstance(condition, DatasetAlias):
        return {"alias": condition.name}
    assert isinstance(condition, _Compound), f"not a dataset condition: {condition!r}"
    return {"all" if isinstance(condition, DatasetAll) else "any": [condition_to_json(o) for o in condition.objects]}


def condition_from_json(data: Any) -> BaseDataset:
    if isinstance(data, str):
        return Dataset(data)
    if "alias" in data:
        return DatasetAlias(data["alias"])
    if "all" in data:
        return DatasetAll(*map(condition_from_json, data["all"]))
    return DatasetAny(*map(condition_from_json, data["any"]))


def dataset_condition(schedule: Any) -> BaseDataset | None:
    """The dataset condition a DAG's `schedule` argument names, if it names one."""
    if isinstance(schedule, BaseDataset):
        return schedule
    if isinstance(schedule, (list, tuple)) and schedule and all(isinstance(s, BaseDataset) for s in schedule):
        return DatasetAll(*schedule)
    return None


class DatasetTriggeredTimetable(Timetable):
    """``schedule=[datasets]``: runs only when the datasets are updated (the scheduler
    creates them; see the module docstring)."""

    periodic = False
    can_be_scheduled = False
    summary = "Dataset"
    description = "Triggered by datasets"

    def __init__(self, condition: BaseDataset) -> None:
        self.dataset_condition = condition

    def next_dagrun_info(self, last: DataInterval | None, restriction: TimeRestriction,
                         now: dt.datetime) -> DagRunInfo | None:
        return None

    def data_interval_for_events(self, logical_date: dt.datetime, events: Sequence[Any],
                                 source_intervals: Mapping[int, DataInterval] | None = None) -> DataInterval:
        """From the first to the last event (or their source runs' data intervals)."""
        if not events:
            return DataInterval(logical_date, logical_date)
        spans = [(source_intervals or {}).get(e.id) or DataInterval(e.timestamp, e.timestamp) for e in events]
        return DataInterval(min(s.start for s in spans), max(s.end for s in spans))


class DatasetOrTimeSchedule(DatasetTriggeredTimetable):
    """Runs on `timetable`'s schedule and also whenever `datasets` are updated."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, *, timetable: Timetable, datasets: Any = None, assets: Any = None) -> None:
        condition = dataset_condition(datasets if datasets is not None else assets)
        if condition is None:
            raise DagDefinitionError("DatasetOrTimeSchedule needs datasets=[...] (or a dataset condition)")
        super().__init__(condition)
        self.timetable = timetable
        self.summary = f"{timetable.summary} or on dataset updates"
        self.description = f"Triggered by datasets or {timetable.description or timetable.summary}"

    def next_dagrun_info(self, last: DataInterval | None, restriction: TimeRestriction,
                         now: dt.datetime) -> DagRunInfo | None:
        return self.timetable.next_dagrun_info(last, restriction, now)

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after)


# --- what tasks see while they run --------------------------------------------------------


@dataclass
class OutletEventAccessor:
    """``outlet_events[dataset]``: set ``extra`` for its event; for an alias, ``add``
    the datasets the task updated through it."""

    extra: dict[str, Any] = field(default_factory=dict)
    added: list[tuple[Dataset, dict[str, Any]]] = field(default_factory=list)

    def add(self, dataset: Dataset, extra: dict[str, Any] | None = None) -> None:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"outlet_events[alias].add() takes a Dataset, not {dataset!r}")
        self.added.append((dataset, dict(extra or {})))


class OutletEventAccessors:
    """``outlet_events`` in the context, keyed by Dataset or DatasetAlias."""

    def __init__(self) -> None:
        self._by_key: dict[Any, OutletEventAccessor] = {}

    def __getitem__(self, key: Dataset | DatasetAlias) -> OutletEventAccessor:
        if not isinstance(key, (Dataset, DatasetAlias)):
            raise KeyError(f"outlet_events is keyed by Dataset or DatasetAlias, not {key!r}")
        return self._by_key.setdefault(key, OutletEventAccessor())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key


def outlet_datasets(outlets: Iterable[Any], events: OutletEventAccessors) -> list[tuple[str, dict[str, Any], str | None]]:
    """The ``(uri, extra, alias)`` updates a successful try records: each Dataset
    outlet, and each dataset added through a DatasetAlias outlet."""
    found: list[tuple[str, dict[str, Any], str | None]] = []
    for outlet in outlets:
        if isinstance(outlet, Dataset):
            found.append((outlet.uri, {**outlet.extra, **(events[outlet].extra if outlet in events else {})}, None))
        elif isinstance(outlet, DatasetAlias):
            added = events[outlet].added if outlet in events else []
            found += [(ds.uri, extra, outlet.name) for ds, extra in added]
    return found


class InletEventsAccessor:
    """``inlet_events[dataset]``: the events recorded for a dataset, oldest first."""

    def __init__(self, read: Any) -> None:
        self._read = read  # uri -> list[DatasetEvent]

    def __getitem__(self, key: Dataset | DatasetAlias) -> list[DatasetEvent]:
        if isinstance(key, Dataset):
            return list(self._read(key.uri, None))
        if isinstance(key, DatasetAlias):
            return list(self._read(None, key.name))
        raise KeyError(f"inlet_events is keyed by Dataset or DatasetAlias, not {key!r}")


# Airflow 3 names.
AssetAlias = DatasetAlias
AssetAll = DatasetAll
AssetAny = DatasetAny
AssetOrTimeSchedule = DatasetOrTimeSchedule
