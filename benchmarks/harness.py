"""The pieces every workload shares: systems under test, the registry, timing.

A workload turns size parameters into files in a temporary folder (DAG files, a small
script), then times a command over several repetitions. The command is what differs
between systems: ``miniflow dags list`` here, ``airflow dags list`` for the peer. So a
workload never builds a command line itself; it asks a `System` for one, and
`sample` runs the repetitions across systems interleaved (A B A B ...), so that a
machine getting slower or faster mid-run hits every system alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BenchmarkError", "Measurement", "Params", "System", "Workload", "WORKLOADS",
           "miniflow_system", "register", "run_command", "sample", "system_home"]

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
    """

    name: str
    bin_dir: Path
    script: str
    env_name: str
    import_style: str
    pycache_dir: Path
    settings: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    def command(self, *args: str) -> list[str]:
        """The CLI invoked with `args`, as a user of this installation would type it."""
        return [str(self.bin_dir / self.script), *args]

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

    Examples are off so that every figure covers the generated DAGs only.
    """
    return System(
        name="miniflow", bin_dir=Path(sys.executable).parent, script="miniflow",
        env_name="MINIFLOW", import_style="miniflow", pycache_dir=pycache_dir,
        settings={("core", "load_examples"): "False"},
    )


@dataclass(frozen=True)
class Measurement:
    """One figure: the seconds of every repetition, and the target it should stay under."""

    workload: str
    name: str
    system: str
    samples: list[float]
    target: float | None = None

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
        return None if self.target is None else self.median < self.target


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


def sample(workload: str, name: str, systems: Sequence[System], reps: int,
           once: Callable[[System], float], target: float | None = None) -> list[Measurement]:
    """Call ``once(system)`` `reps` times per system, interleaved; one Measurement each.

    ``once`` returns the seconds of one repetition; it is called once untimed first
    per system, which checks the command works and warms the OS caches and bytecode
    caches, so every timed repetition sees the same warm state.
    """
    for system in systems:
        once(system)
    samples: dict[str, list[float]] = {s.name: [] for s in systems}
    for _ in range(reps):
        for system in systems:
            samples[system.name].append(once(system))
    return [Measurement(workload, name, s.name, samples[s.name], target) for s in systems]
