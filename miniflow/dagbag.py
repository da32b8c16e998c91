"""Loading DAG files: every file on its own, and a broken one never stops the rest.

A file is imported as a module with a name unique to its path. As in Airflow, the
plugins folder (``core.plugins_folder``) and the DAGs folder's root (the configured one,
and the folder given to `DagBag`, e.g. with ``-S``) are on ``sys.path``, so a file in
``dags/team/`` can ``from helpers.x import y``, ``from include.x import y`` or import a
timetable kept in ``plugins/``; the file's own folder is too, for helper modules beside
it. Only files that mention both "dag" and "miniflow" or "airflow" are imported
(Airflow's "safe mode"), so helper modules are not run as DAG files. Whatever goes
wrong -- a syntax error, an exception, an invalid DAG, an import that takes longer
than ``core.dagbag_import_timeout`` -- is recorded as an import error with the file,
the line and the message.

Files and folders matching a regular expression in a ``.miniflowignore`` (or
``.airflowignore``) file are skipped; the patterns apply below the folder holding it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from miniflow import airflow_compat
from miniflow.dag import DAG, DagContext
from miniflow.exceptions import DagCycleError, DagNotFoundError, DuplicateDagIdError
from miniflow.serialization import ParsedDag, parsed_dag
from miniflow.timeouts import time_limit

if TYPE_CHECKING:
    from miniflow.parsing import ProbeResult

__all__ = ["DagBag", "DagSummary", "ImportErrorInfo", "list_dag_files", "EXAMPLES_FOLDER", "AirflowParsingContext",
           "get_parsing_context"]

IGNORE_FILES = (".miniflowignore", ".airflowignore")


class AirflowParsingContext(NamedTuple):
    """The DAG and task a file is loaded to run, in Airflow's ``get_parsing_context()``."""

    dag_id: str | None
    task_id: str | None


def get_parsing_context() -> AirflowParsingContext:
    """Airflow's hint that a file is loaded to run one task, so that it may make only that
    DAG. miniflow always loads a file whole (a worker keeps every DAG of a file for the
    tries that follow), so both fields are None and the file makes all its DAGs."""
    return AirflowParsingContext(None, None)


def _examples_folder() -> Path:
    """Where the example DAGs are: inside the installed package, or the repo's examples/."""
    import importlib.util

    spec = importlib.util.find_spec("miniflow.examples")
    if spec is None or not spec.submodule_search_locations:
        return Path(__file__).parent / "examples"
    return Path(list(spec.submodule_search_locations)[0])


EXAMPLES_FOLDER = _examples_folder()
_MIGHT_BE_DAG = re.compile(rb"dag", re.IGNORECASE)
_MENTIONS_ENGINE = re.compile(rb"miniflow|airflow", re.IGNORECASE)


@dataclass(frozen=True)
class DagSummary:
    """What listing a DAG needs, as a probing child reports it (see `DagBag.summaries_only`)."""

    dag_id: str
    fileloc: str
    lineno: int | None
    owner: str
    schedule: str
    tags: list[str]

    @classmethod
    def of(cls, dag: DAG) -> DagSummary:
        return cls(dag.dag_id, dag.fileloc, dag.lineno, dag.owner, dag.timetable.summary, list(dag.tags))


@dataclass
class _Round:
    """One call's files being parsed: their order, those reported, and DAGs held back
    for the file the metadata DB has them from (see `DagBag._keep_summaries`)."""

    rank: dict[str, int]
    done: set[str] = field(default_factory=set)
    held: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportErrorInfo:
    filepath: str
    lineno: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.filepath}:{self.lineno}" if self.lineno else self.filepath
        return f"{where}: {self.message}"


def _might_contain_dag(path: Path) -> bool:
    try:
        content = path.read_bytes()
    except OSError:
        return False
    return bool(_MIGHT_BE_DAG.search(content) and _MENTIONS_ENGINE.search(content))


def _ignore_rules(folder: Path) -> list[tuple[Path, re.Pattern[str]]]:
    rules = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    rules.append((folder, re.compile(line.strip())))
    return rules


def list_dag_files(folder: Path) -> list[Path]:
    """Python files under `folder` that may hold DAGs, minus ignored ones, sorted."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    todo = [(folder, _ignore_rules(folder))]
    while todo:
        here, rules = todo.pop()
        for entry in sorted(here.iterdir()):
            if any(p.search(str(entry.relative_to(base))) for base, p in rules):
                continue
            if entry.is_dir():
                if not entry.name.startswith((".", "__")):
                    todo.append((entry, rules + _ignore_rules(entry)))
            elif entry.suffix == ".py" and _might_contain_dag(entry):
                found.append(entry)
    return sorted(found)


def _error_line(exc: BaseException, filepath: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == filepath:
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filepath]
    return lines[-1] if lines else None


class _Nowhere(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


_NOWHERE = _Nowhere()


def _put_on_sys_path(folder: Path) -> None:
    path = str(Path(folder).resolve())
    if path not in sys.path:
        sys.path.append(path)


def _duplicate(dag_id: str, lineno: int | None, other_file: str, other_line: int | None) -> DuplicateDagIdError:
    return DuplicateDagIdError(f"DAG id {dag_id!r} (line {lineno}) is already defined in {other_file}:{other_line}; "
                               "give each DAG its own dag_id", lineno)


class DagBag:
    """The DAGs of a folder (and optionally miniflow's examples), loaded once."""

    def __init__(
        self,
        dag_folder: str | Path | None = None,
        include_examples: bool | None = None,
        import_timeout: float | None = None,
        isolate: bool | None = None,
        registered: Mapping[str, str] | None = None,
        summaries_only: bool = False,
        serialized: bool = False,
        on_file: Callable[[DagBag, str], None] | None = None,
    ) -> None:
        """`registered` maps dag_id to the file the metadata DB has it from: those files
        load first, so when a second file defines the same dag_id, that file gets the
        import error, whatever the two files are called. With `summaries_only` (commands
        that only list DAGs) and isolation on, the children's reports are kept in
        `summaries` and no file is imported here: `dags` stays empty. With `serialized`
        (the scheduler), the children also send each DAG as the store records it, kept
        in `parsed`; again nothing is imported here unless isolation is off.
        `on_file(bag, path)` is called each time what is known of a file changed."""
        from miniflow.config import get_config

        config = get_config()
        # Import each file in a child first (see miniflow.parsing), unless told not to.
        self.isolate = bool(config.get("core", "isolate_dag_parsing") if isolate is None else isolate)
        self.parse_memory_mb = int(config.get("core", "dag_parse_memory_mb"))
        self.dag_folder = Path(dag_folder) if dag_folder is not None else config.dags_folder
        if include_examples is None:
            include_examples = config.get("core", "load_examples")
        if import_timeout is None:
            import_timeout = config.get("core", "dagbag_import_timeout")
        self.import_timeout = float(import_timeout)
        self.dags: dict[str, DAG] = {}
        self.serialized = serialized
        self.on_file = on_file
        self.registered = dict(registered or {})
        self.summaries_only = (summaries_only or serialized) and self.isolate
        self.summaries: dict[str, DagSummary] = {}
        self.parsed: dict[str, ParsedDag] = {}
        self.import_errors: dict[str, ImportErrorInfo] = {}
        self.file_mtimes: dict[str, float] = {}
        self.load_seconds: dict[str, float] = {}
        airflow_compat.install()
        _put_on_sys_path(Path(config.get("core", "plugins_folder")).expanduser())
        for root in (config.dags_folder, self.dag_folder):
            _put_on_sys_path(root if root.is_dir() else root.parent)
        folders = [self.dag_folder] + ([EXAMPLES_FOLDER] if include_examples else [])
        paths = [p for folder in folders if folder.exists() for p in list_dag_files(folder)]
        owners = set(self.registered.values())
        paths.sort(key=lambda p: str(p.resolve()) not in owners)  # stable: by name otherwise
        self._process_files(paths)

    def process_file(self, path: str | Path) -> list[DAG]:
        """Load one file; returns its DAGs and records an import error if it fails."""
        return self.process_files([path])

    def process_files(self, paths: Iterable[str | Path]) -> list[DAG]:
        """Load several files, as `process_file` does, their children running at once."""
        return self._process_files([Path(p) for p in paths])

    def _process_files(self, paths: list[Path]) -> list[DAG]:
        """Load files, each first imported in a child when isolated: only those that
        imported cleanly there are imported here, in order, while the children go on.
        With `serialized` nothing is imported here, so each file is taken as soon as its
        child is done with it, whatever the files before it still take."""
        filepaths = list(dict.fromkeys(str(Path(p).resolve()) for p in paths))  # a folder given twice: once
        parse = _Round({path: i for i, path in enumerate(filepaths)})
        probed: Iterable[tuple[str, ProbeResult | None]]
        if self.isolate and filepaths:
            from miniflow.parsing import probe_files

            probed = probe_files(filepaths, self._probe, self.import_timeout, self.parse_memory_mb,
                                 in_order=not self.summaries_only)
        else:
            probed = ((path, None) for path in filepaths)
        loaded: list[DAG] = []
        for filepath, result in probed:
            if result is not None and (self.summaries_only or (result.error is not None and not result.dags)):
                self._forget(filepath)
                with contextlib.suppress(OSError):
                    self.file_mtimes[filepath] = os.path.getmtime(filepath)
                if self.summaries_only:
                    self._keep_summaries(filepath, result.dags, parse)
                if result.error is not None:
                    self.import_errors[filepath] = ImportErrorInfo(filepath, result.lineno, result.error)
            else:
                found = self._load(filepath)
                loaded += found
                if self.serialized:
                    reports, error = self._reports(found)
                    if error is not None:
                        self.import_errors[filepath] = ImportErrorInfo(filepath, None, error)
                    self._keep_summaries(filepath, reports, parse)
            parse.done.add(filepath)
            self._reported(filepath)
            for waiting, report in parse.held.pop(filepath, []):  # the owner has spoken
                self._keep_summaries(waiting, [report], parse)
                self._reported(waiting)
        return loaded

    def _reported(self, filepath: str) -> None:
        if self.on_file is not None:
            self.on_file(self, filepath)

    def _keep_summaries(self, filepath: str, found: list[dict[str, Any]], parse: _Round) -> None:
        """Keep what a child found in a file. A dag_id another file already has stays
        with that file (which the import error names), unless both files are being
        parsed now and this one comes first: files reported out of order still
        settle as if taken in order. A dag_id the metadata DB has from a file still
        being parsed waits for that file, so it never runs another file's code."""
        for report in found:
            summary = DagSummary(**{f.name: report[f.name] for f in dataclasses.fields(DagSummary)})
            owner = self.registered.get(summary.dag_id, filepath)
            if owner != filepath and owner in parse.rank and owner not in parse.done:
                parse.held.setdefault(owner, []).append((filepath, report))
                continue
            other = self.summaries.get(summary.dag_id)
            if other is not None and other.fileloc != filepath:
                if parse.rank.get(other.fileloc, -1) < parse.rank[filepath]:
                    error = _duplicate(summary.dag_id, summary.lineno, other.fileloc, other.lineno)
                    self.import_errors[filepath] = ImportErrorInfo(filepath, summary.lineno,
                                                                   f"{type(error).__name__}: {error}")
                    continue
                error = _duplicate(summary.dag_id, other.lineno, filepath, summary.lineno)
                self.import_errors[other.fileloc] = ImportErrorInfo(other.fileloc, other.lineno,
                                                                    f"{type(error).__name__}: {error}")
                self.parsed.pop(summary.dag_id, None)
                self._reported(other.fileloc)
            self.summaries[summary.dag_id] = summary
            if "parsed" in report:
                self.parsed[summary.dag_id] = ParsedDag.from_json(report["parsed"])

    def _reports(self, dags: list[DAG]) -> tuple[list[dict[str, Any]], str | None]:
        """What a child says of the DAGs it found: each one's summary, and with
        `serialized` the DAG as the store records it, checked to rebuild the way the
        scheduler will; or, if that fails, the error that becomes the file's."""
        from miniflow.serialized_dag import deserialize_dag

        reports = []
        try:
            for dag in dags:
                found = dataclasses.asdict(DagSummary.of(dag))
                if self.serialized:
                    parsed = parsed_dag(dag)
                    deserialize_dag(parsed.data, self.import_timeout)
                    found["parsed"] = dataclasses.asdict(parsed)
                reports.append(found)
        except Exception as exc:  # noqa: BLE001 -- a value the serialized form cannot hold
            return [], f"{type(exc).__name__} while serializing its DAGs: {exc}"
        return reports, None

    def _probe(self, filepath: str) -> tuple[list[dict[str, Any]], str | None, int | None]:
        """In a probing child: load the file here, and say what came of it (its DAGs'
        summaries, and its import error if any). Whether its dag_ids clash with other
        files' is for the loading process to decide."""
        self.dags.clear()
        found = self._load(filepath)
        error = self.import_errors.get(filepath)
        summaries, failed = self._reports(found)
        if failed is not None:
            return [], failed, None
        if error is None:
            return summaries, None, None
        if error.message.startswith("MemoryError") and not found:
            return summaries, f"exceeded {self.parse_memory_mb} MB (core.dag_parse_memory_mb) while importing", \
                error.lineno
        return summaries, error.message, error.lineno

    def listing(self) -> list[DagSummary]:
        """The DAGs, by dag_id, whether imported here or only summarised by the children."""
        if self.summaries_only:
            return [self.summaries[d] for d in sorted(self.summaries)]
        return [DagSummary.of(self.dags[d]) for d in self.dag_ids]

    def forget_file(self, filepath: str) -> None:
        """A file that is gone: its DAGs and import error go with it."""
        self._forget(filepath)
        self.file_mtimes.pop(filepath, None)

    def _forget(self, filepath: str) -> None:
        for dag_id in [d for d, dag in self.dags.items() if dag.fileloc == filepath]:
            del self.dags[dag_id]
        for dag_id in [d for d, summary in self.summaries.items() if summary.fileloc == filepath]:
            del self.summaries[dag_id]
            self.parsed.pop(dag_id, None)
        self.import_errors.pop(filepath, None)

    def _load(self, filepath: str) -> list[DAG]:
        """Import one file in this process; its DAGs, or an import error recorded."""
        started = time.perf_counter()
        self._forget(filepath)
        try:
            self.file_mtimes[filepath] = os.path.getmtime(filepath)
            found = self._import(filepath)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 -- any failure (even sys.exit) is the file's
            self.import_errors[filepath] = ImportErrorInfo(
                filepath, _error_line(exc, filepath), f"{type(exc).__name__}: {exc}"
            )
            return []
        finally:
            self.load_seconds[filepath] = time.perf_counter() - started
        kept = []
        for dag in found:
            try:
                dag.validate()
                if dag.dag_id in self.dags and self.dags[dag.dag_id].fileloc != filepath:
                    other = self.dags[dag.dag_id]
                    raise _duplicate(dag.dag_id, dag.lineno, other.fileloc, other.lineno)
            except Exception as exc:  # noqa: BLE001
                line = getattr(exc, "lineno", None) if isinstance(exc, (DagCycleError, DuplicateDagIdError)) else None
                self.import_errors[filepath] = ImportErrorInfo(filepath, line, f"{type(exc).__name__}: {exc}")
                continue
            self.dags[dag.dag_id] = dag
            kept.append(dag)
        return kept

    def _import(self, filepath: str) -> list[DAG]:
        digest = hashlib.sha1(filepath.encode()).hexdigest()[:12]
        module_name = f"miniflow_dagfile_{digest}_{Path(filepath).stem}"
        _put_on_sys_path(Path(filepath).parent)
        spec = importlib.util.spec_from_file_location(module_name, filepath)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        DagContext.autoregistered = []
        try:
            # What a file prints while it is imported goes nowhere: it would garble the
            # output of the command loading it.
            with time_limit(self.import_timeout, "importing the file (core.dagbag_import_timeout)", TimeoutError), \
                    contextlib.redirect_stdout(_NOWHERE), contextlib.redirect_stderr(_NOWHERE):
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            registered, DagContext.autoregistered = DagContext.autoregistered, []
        dags: dict[int, DAG] = {id(d): d for d in registered}
        dags.update({id(v): v for v in vars(module).values() if isinstance(v, DAG)})
        for dag in dags.values():
            dag.fileloc = filepath
        return list(dags.values())

    # --- lookups ------------------------------------------------------------------------

    def get_dag(self, dag_id: str) -> DAG:
        try:
            return self.dags[dag_id]
        except KeyError:
            hint = ""
            if self.import_errors:
                hint = f"; {len(self.import_errors)} file(s) failed to load: see 'miniflow dags list-import-errors'"
            raise DagNotFoundError(f"DAG {dag_id!r} not found in {self.dag_folder}{hint}") from None

    @property
    def dag_ids(self) -> list[str]:
        return sorted(self.dags)

    def changed_files(self) -> list[str]:
        """Files whose modification time moved since they were loaded."""
        changed = []
        for filepath, mtime in self.file_mtimes.items():
            try:
                if os.path.getmtime(filepath) != mtime:
                    changed.append(filepath)
            except FileNotFoundError:
                changed.append(filepath)
        return changed
