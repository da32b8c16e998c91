"""README's commands as a new user runs them. Its CLI block runs line by line, as
written, in a fresh home and working directory; README's two install commands are
run on a fresh clone by `.ci/fresh-machine` (in CI), since they build a virtualenv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def sh_blocks() -> list[list[str]]:
    """The command lines of README's ``sh`` blocks, comments and blank lines dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [[line.split("  #")[0].strip() for line in block.splitlines() if line.strip()] for block in blocks]


def test_the_readme_starts_with_the_two_commands() -> None:
    install, tests = sh_blocks()[0]
    assert install.startswith("python3 -m venv .venv") and install.endswith(".venv/bin/miniflow standalone")
    assert tests.startswith("python3 -m venv .venv") and tests.endswith(".venv/bin/python -m pytest -q")


@pytest.mark.integration
def test_the_readme_cli_block_runs_line_by_line_in_a_fresh_home(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").exists():
        pytest.skip("the tests do not run in a virtualenv, and README's block activates one")
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(venv)  # the virtualenv README's first command made
    (work / "examples").symlink_to(ROOT / "examples")
    lines = sh_blocks()[1]
    script = "\n".join(["set -o pipefail", *(f"{line} > out.txt 2>&1 || {{ echo {_quoted(line)} FAILED; "
                                               "cat out.txt; exit 1; }" for line in lines)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIFLOW_")}
    env["HOME"] = str(tmp_path / "home")  # README's ~/miniflow
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("miniflow backfill sales_etl -s 2024-01-01 -e 2024-01-31") for line in lines)
    check = subprocess.run(["bash", "-c", "source .venv/bin/activate && export MINIFLOW_HOME=~/miniflow && "
                            "miniflow dags list-runs sales_etl -S examples -o plain"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.count("backfill__2024-01") == 31 and "failed" not in check.stdout


def _quoted(line: str) -> str:
    return "'" + line.replace("'", "'\\''") + "'"
