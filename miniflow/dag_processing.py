"""The DAG folder as the scheduler sees it: parsed in child processes, never imported
in the scheduler's own, and reported file by file.

`DagProcessor` (named after Airflow's DAG processor) runs the first parse of the folder
in a thread of its own, and each later rescan on the scheduler's housekeeping timer.
Children import the files (see `miniflow.parsing`), and each file is reported -- its
DAGs' serialized forms and its import error -- as soon as its child is done with it.
The scheduler takes what was reported at the start of each pass (`DagProcessor.take`),
so a file that is slow to import costs its own parse, not the loop. With
``core.isolate_dag_parsing`` off, files are imported in the scheduler's process, and
then in the loop's own thread (where the import timeout's alarm works), inside `take`.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miniflow.dagbag import DagBag, ImportErrorInfo
    from miniflow.db.interfaces import SchedulerStore
    from miniflow.serialization import ParsedDag

__all__ = ["DagProcessor", "FolderReport"]


@dataclass(frozen=True)
class FolderReport:
    """What parsing found in some files of the DAG folder."""

    changed: list[ParsedDag]  # the DAGs of these files
    errors: list[ImportErrorInfo]  # their import errors
    files: set[str]  # the files parsed, or found deleted
    folder: set[str] | None = None  # when a whole parse ends: every file it parsed

    @classmethod
    def of(cls, bag: DagBag, files: set[str], folder: set[str] | None = None) -> FolderReport:
        """What `bag` now knows of `files`."""
        return cls([p for p in bag.parsed.values() if p.fileloc in files],
                   [e for f, e in bag.import_errors.items() if f in files], set(files), folder)

    @classmethod
    def merge(cls, reports: list[FolderReport]) -> FolderReport:
        """Several reports as one; for a file in several, the last one counts."""
        changed: dict[str, ParsedDag] = {}
        errors: dict[str, ImportErrorInfo] = {}
        files: set[str] = set()
        folder = None
        for report in reports:
            changed = {d: p for d, p in changed.items() if p.fileloc not in report.files}
            errors = {f: e for f, e in errors.items() if f not in report.files}
            changed.update((p.dag_id, p) for p in report.changed)
            errors.update((e.filepath, e) for e in report.errors)
            files |= report.files
            folder = report.folder if report.folder is not None else folder
        return cls(list(changed.values()), list(errors.values()), files, folder)


class DagProcessor:
    def __init__(self, store: SchedulerStore, dag_folder: str | None, include_examples: bool | None,
                 isolated: bool) -> None:
        self.store = store
        self.dag_folder = dag_folder
        self.include_examples = include_examples
        self.isolated = isolated
        self._bag: DagBag | None = None  # the folder as last parsed, once the first parse is over
        self._first: threading.Thread | None = None  # the first parse, in its own thread
        self._reports: queue.SimpleQueue[FolderReport] = queue.SimpleQueue()  # for the loop to take
        self._rescan_here = threading.Event()  # without isolation: a rescan is due, in the loop's thread

    def start(self, wait: float) -> bool:
        """Begin the first parse of the folder; True if it is over within `wait` seconds."""
        if not self.isolated:
            self._first_parse()
            return True
        self._first = threading.Thread(target=self._first_parse, name="first-dag-parse", daemon=True)
        self._first.start()
        self._first.join(wait)
        return not self._first.is_alive()

    def rescan(self) -> None:
        """Parse new and changed files, and forget deleted ones (the housekeeping
        timer's job, in its thread; without isolation, the loop's next `take` does it)."""
        if not self.isolated:
            self._rescan_here.set()
            return
        self._rescan()

    def take(self) -> FolderReport | None:
        """What was reported since the last call, as one report (None: nothing)."""
        if self._rescan_here.is_set():
            self._rescan_here.clear()
            self._rescan()
        found = []
        while not self._reports.empty():
            found.append(self._reports.get_nowait())
        return FolderReport.merge(found) if found else None

    def _first_parse(self) -> None:
        from miniflow.dagbag import DagBag

        registered = self.store.dag_files()
        bag = DagBag(self.dag_folder, include_examples=self.include_examples, registered=registered,
                     serialized=True, on_file=lambda parsing, path: self._reports.put(FolderReport.of(parsing, {path})))
        self._reports.put(FolderReport.of(bag, self._deleted_files(registered), folder=set(bag.file_mtimes)))
        self._bag = bag

    def _rescan(self) -> None:
        from miniflow.dagbag import EXAMPLES_FOLDER, list_dag_files

        bag = self._bag
        if bag is None:  # the first parse is not over (or failed: then it starts again)
            if self._first is None or not self._first.is_alive():
                self._first_parse()
            return
        folders = [bag.dag_folder] + ([EXAMPLES_FOLDER] if self.include_examples else [])
        present = {str(p.resolve()) for f in folders if f.exists() for p in list_dag_files(f)}
        changed = {p for p in present if p not in bag.file_mtimes} | set(bag.changed_files())
        deleted = self._deleted_files()
        if not changed and not deleted:
            return
        gone = changed - present
        for path in gone:
            bag.forget_file(path)
        bag.process_files(sorted(changed & present))  # in children at once, each reported as it is done
        self._reports.put(FolderReport.of(bag, gone | deleted))

    def _deleted_files(self, registered: dict[str, str] | None = None) -> set[str]:
        """Files the DB holds active DAGs or import errors of that are gone from disk,
        perhaps deleted while no scheduler ran (a `dags test -S` elsewhere, too)."""
        registered = self.store.dag_files() if registered is None else registered
        return {f for f in {*registered.values(), *self.store.import_error_files()} if not os.path.exists(f)}
