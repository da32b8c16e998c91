"""The benchmark harness must not rot: its quick mode runs in CI (figures are not
judged here; they live in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_quick_benchmark_run_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIFLOW")}
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data, "the benchmark wrote no figures"


def test_size_runs_a_workload_at_another_size_and_sets_its_targets_aside(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIFLOW")}
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "build", "--size", "tasks=50",
                             "--reps", "1", "--json", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [build] = json.loads(out.read_text())["results"]
    assert build["params"] == {"tasks": 50} and not build["full_size"]
    assert "n/a (size)" in result.stdout


def test_a_bad_size_is_a_one_line_error() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--size", "tasks=many"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'tasks=many': give NAME=N with N a positive whole number" in result.stderr
