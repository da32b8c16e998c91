"""``startup``: how long the CLI takes to answer when it has nothing to load.

Every command pays this before doing any work, and people feel it on ``--help``. The
CLI imports its subcommands lazily to keep it small.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import Measurement, Params, System, register, run_command, sample, system_home

TARGET_SECONDS = 0.3


@register("startup", "Wall time of `--help` and `version` in a fresh process (target < 0.3 s).")
def startup(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        homes = {s.name: system_home(Path(tmp), s) for s in systems}
        for args in (["--help"], ["version"]):
            def once(system: System, args: list[str] = args) -> float:
                return run_command(system.command(*args), system.env(homes[system.name]))[0]

            measurements += sample("startup", " ".join(args), systems, reps, once, TARGET_SECONDS)
    return measurements
