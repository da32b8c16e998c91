"""The pieces every workload shares: systems under test, the registry, timing.

A workload turns size parameters into files in a temporary folder (DAG files, a small
script), then times a command over several repetitions. The command is what differs
between systems: ``miniflow dags list`` here, ``airflow dags list`` for the peer. So a
workload never builds a command line itself; it asks a `System` for one, and
`sample` runs the repetitions across systems interleaved (A B A B ...), so that a
machine getting slower or faster mid-run hits every system alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "WORKLOADS",
    "BenchmarkError",
    "Figure",
    "Measurement",
    "Params",
    "System",
    "Workload",
    "airflow_system",
    "executor_systems",
    "miniflow_system",
    "read_json",
    "register",
    "run_command",
    "sample",
    "sample_figures",
    "system_home",
]

Params = Mapping[str, int]


class BenchmarkError(Exception):
    """A workload could not produce a figure (a command failed or gave a wrong answer)."""


@dataclass(frozen=True)
class System:
    """An installed scheduler: how to run its CLI and its Python, and its environment.

    Runs see none of the caller's variables starting with ``<ENV_NAME>_`` (home, DB
    URL, config), only `settings`, given as ``(section, key) -> value`` and passed as
    ``<ENV_NAME>__SECTION__KEY``, the one configuration channel miniflow and Airflow
    share. Bytecode is cached under `pycache_dir` whatever the caller's
    ``PYTHONDONTWRITEBYTECODE`` says: timed runs then load cached bytecode for
    miniflow and the DAG files, as on a normal install, and nothing is written into
    the checkout or the venv.

    Workloads that run tasks through an executor (the scheduler, backfill) use
    `executor_settings`, and a database on the PostgreSQL server `executor_db_url`
    when it is set (Airflow 2 refuses its LocalExecutor on SQLite).
    `register_dags` is the command, if any, that records the DAG folder in the
    metadata DB before ``dags unpause`` and ``dags trigger`` can name a DAG;
    `dags_list` the one that lists the DAG folder by parsing every file in it.
    """

    name: str
    bin_dir: Path
    script: str
    env_name: str
    import_style: str
    pycache_dir: Path
    settings: Mapping[tuple[str, str], str] = field(default_factory=dict)
    db_file: str = "miniflow.db"
    executor_settings: Mapping[tuple[str, str], str] = field(default_factory=dict)
    executor_db_url: str | None = None
    register_dags: tuple[str, ...] = ()
    version: str = ""
    dags_list: tuple[str, ...] = ("dags", "list")  # lists the DAG folder by parsing it

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    def command(self, *args: str) -> list[str]:
        """The CLI invoked with `args`, as a user of this installation would type it."""
        return [str(self.bin_dir / self.script), *args]

    def with_settings(self, settings: Mapping[tuple[str, str], str]) -> System:
        """This system with `settings` added to (or replacing) its own."""
        return replace(self, settings={**self.settings, **settings})

    def env(self, home: Path) -> dict[str, str]:
        """The environment of a run whose home (config, DB, ``dags/``) is `home`."""
        dropped = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(f"{self.env_name}_") and k not in dropped}
        env[f"{self.env_name}_HOME"] = str(home)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache_dir / self.name)
        for (section, key), value in self.settings.items():
            env[f"{self.env_name}__{section.upper()}__{key.upper()}"] = value
        return env


def system_home(root: Path, system: System) -> Path:
    """A fresh home folder for `system` under a workload's temporary folder."""
    home = root / system.name
    home.mkdir(parents=True, exist_ok=True)
    return home


def miniflow_system(pycache_dir: Path) -> System:
    """The miniflow installed in the interpreter running the benchmarks.

    Examples are off so that every figure covers the generated DAGs only. Executor
    workloads use the local executor on the embedded SQLite DB, miniflow's default.
    """
    from miniflow.version import __version__

    return System(
        name="miniflow", bin_dir=Path(sys.executable).parent, script="miniflow", version=__version__,
        env_name="MINIFLOW", import_style="miniflow", pycache_dir=pycache_dir,
        settings={("core", "load_examples"): "False"},
        executor_settings={("core", "executor"): "local"},
    )


def airflow_system(venv: Path, pycache_dir: Path, postgres_url: str | None) -> System:
    """Apache Airflow installed in `venv` (see ``setup_airflow.sh``), as the peer.

    Examples are off, like miniflow's. Workloads that need an executor get the
    LocalExecutor on a fresh database of the PostgreSQL server `postgres_url`
    (``postgresql+psycopg2://user@host:port``), since Airflow 2 refuses it on
    SQLite; without a server they fall back to the SequentialExecutor on SQLite,
    which starts a new interpreter per task. ``dags reserialize`` writes the DAG
    rows that Airflow's ``dags unpause`` and ``dags trigger`` need.

    Airflow 3 runs tasks only through its API server (the Task SDK) and parses DAG
    files in a separate ``dag-processor``, and replaced ``dags backfill``; the
    harness does not start those, so an Airflow 3 peer takes part in the workloads
    without an executor only (`executor_settings` is empty).
    """
    bin_dir = venv / "bin"
    if not (bin_dir / "airflow").exists():
        raise BenchmarkError(f"{bin_dir / 'airflow'} does not exist; create the venv with "
                             f"benchmarks/setup_airflow.sh {venv}")
    probe = subprocess.run([str(bin_dir / "python"), "-c",
                            "import importlib.metadata as m; print(m.version('apache-airflow'))"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise BenchmarkError(f"apache-airflow is not installed in {venv}: {probe.stderr.strip()[-300:]}")
    version = probe.stdout.strip()
    executor = "LocalExecutor" if postgres_url else "SequentialExecutor"
    return System(
        name="airflow", bin_dir=bin_dir, script="airflow", env_name="AIRFLOW",
        import_style="airflow", pycache_dir=pycache_dir,
        settings={("core", "load_examples"): "False"},
        db_file="airflow.db",
        executor_settings={("core", "executor"): executor} if version.startswith("2.") else {},
        executor_db_url=postgres_url,
        register_dags=("dags", "reserialize"),
        version=version,
        # Airflow 3's `dags list` reads the DB; --local parses the folder, as 2.x did.
        dags_list=("dags", "list") if version.startswith("2.") else ("dags", "list", "--local"),
    )


def executor_systems(systems: Sequence[System]) -> list[System]:
    """The systems that can run the workloads needing a scheduler or an executor."""
    return [s for s in systems if s.executor_settings]


@dataclass(frozen=True)
class Figure:
    """What one figure is: its name, unit, target and which way is better.

    Most figures are seconds, lower is better; a rate (tasks/s) is higher-is-better,
    and its target is a floor.
    """

    name: str
    target: float | None = None
    unit: str = "s"
    higher_is_better: bool = False


@dataclass(frozen=True)
class Measurement:
    """One figure of one system: the value of every repetition, and its target."""

    workload: str
    name: str
    system: str
    samples: list[float]
    target: float | None = None
    unit: str = "s"
    higher_is_better: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def passed(self) -> bool | None:
        """Whether the median meets the target; None when there is no target."""
        if self.target is None:
            return None
        return self.median > self.target if self.higher_is_better else self.median < self.target


WorkloadFn = Callable[[Params, int, Sequence[System]], list[Measurement]]


@dataclass(frozen=True)
class Workload:
    """A registered benchmark: full-size and ``--quick`` parameters, and what it runs.

    Targets are stated for the full sizes only; a ``--quick`` run is a smoke test.
    """

    name: str
    description: str
    run: WorkloadFn
    sizes: Params
    quick_sizes: Params


WORKLOADS: dict[str, Workload] = {}


def register(name: str, description: str, sizes: Params | None = None,
             quick_sizes: Params | None = None) -> Callable[[WorkloadFn], WorkloadFn]:
    """Add the decorated function to `WORKLOADS`; they run in registration order."""

    def decorate(fn: WorkloadFn) -> WorkloadFn:
        if name in WORKLOADS:
            raise ValueError(f"workload {name!r} is registered twice")
        WORKLOADS[name] = Workload(name, description, fn, dict(sizes or {}), dict(quick_sizes or {}))
        return fn

    return decorate


def run_command(argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> tuple[float, str]:
    """Run `argv` to completion; returns its wall time in seconds and its stdout.

    Stdout is captured (not shown), as a script reading the output would. A non-zero
    exit is an error carrying the end of stderr, since a figure for a failing command
    means nothing.
    """
    started = time.perf_counter()
    done = subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchmarkError(f"{' '.join(argv)} exited with {done.returncode}:\n{tail}")
    return elapsed, done.stdout


def read_json(out: str, what: str) -> Any:
    """The JSON document a command printed, skipping any log lines before it (Airflow
    logs some start-up messages to stdout)."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise BenchmarkError(f"{what} printed no JSON: {out[-300:]!r}")


def sample(workload: str, name: str, systems: Sequence[System], reps: int,
           once: Callable[[System], float], target: float | None = None, unit: str = "s",
           higher_is_better: bool = False) -> list[Measurement]:
    """Call ``once(system)`` `reps` times per system, interleaved; one Measurement each.

    ``once`` returns the value of one repetition (seconds, unless `unit` says
    otherwise); see `sample_figures`.
    """
    figure = Figure(name, target, unit, higher_is_better)
    return sample_figures(workload, [figure], systems, reps, lambda system: {name: once(system)})


def sample_figures(workload: str, figures: Sequence[Figure], systems: Sequence[System], reps: int,
                   once: Callable[[System], Mapping[str, float]]) -> list[Measurement]:
    """Call ``once(system)`` `reps` times per system, interleaved (A B A B ...).

    One repetition may yield several figures (a run's total time and its gaps), so
    ``once`` returns ``{figure name: value}``. It is called once untimed first per
    system, which checks the command works and warms the OS caches and bytecode
    caches, so every timed repetition sees the same warm state.
    """
    for system in systems:
        once(system)
    samples: dict[tuple[str, str], list[float]] = {(s.name, f.name): [] for s in systems for f in figures}
    for _ in range(reps):
        for system in systems:
            values = once(system)
            for f in figures:
                samples[(system.name, f.name)].append(float(values[f.name]))
    return [Measurement(workload, f.name, s.name, samples[(s.name, f.name)], f.target, f.unit, f.higher_is_better)
            for f in figures for s in systems]
