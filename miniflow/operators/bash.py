"""BashOperator: run a shell command; its last line of output is the XCom value."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Container, Sequence
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException, TaskSkipped

__all__ = ["BashOperator"]


class BashOperator(BaseOperator):
    """Run ``bash_command`` with ``bash -c``; output is streamed to the task log.

    Exit code 99 (``skip_on_exit_code``) marks the task skipped; any other non-zero
    code fails the try. ``env`` replaces the environment unless ``append_env`` is set.
    A command ending in ``.sh`` or ``.bash`` is a template file, read and rendered.
    """

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_exit_code: int | None = None,
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_exit_code is not None:
            skip_on_exit_code = skip_exit_code
        if skip_on_exit_code is None:
            skip_on_exit_code = ()
        elif isinstance(skip_on_exit_code, int):
            skip_on_exit_code = (skip_on_exit_code,)
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self.output_processor = output_processor or (lambda output: output)
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, context: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ) if self.env is None or self.append_env else {}
        env.update({k: str(v) for k, v in (self.env or {}).items()})
        ti = context.get("ti")
        if ti is not None:  # as Airflow's AIRFLOW_CTX_* variables
            env.update(
                AIRFLOW_CTX_DAG_ID=ti.dag_id,
                AIRFLOW_CTX_TASK_ID=ti.task_id,
                AIRFLOW_CTX_DAG_RUN_ID=str(ti.run_id),
                AIRFLOW_CTX_TRY_NUMBER=str(ti.try_number),
                AIRFLOW_CTX_EXECUTION_DATE=context["logical_date"].isoformat(),
            )
        return env

    def execute(self, context: dict[str, Any]) -> Any:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise AirflowException(f"cwd {self.cwd!r} does not exist or is not a directory")
        self.log.info("Running command: %s", self.bash_command)
        self._process = subprocess.Popen(
            ["bash", "-c", self.bash_command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            env=self._environment(context),
            start_new_session=True,
        )
        last_line = ""
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip("\n")
            last_line = line
            self.log.info("%s", line)
        code = self._process.wait()
        self.log.info("Command exited with return code %s", code)
        if code in self.skip_on_exit_code:
            raise TaskSkipped(f"Bash command returned exit code {code}. Skipping.")
        if code != 0:
            raise AirflowException(
                f"Bash command failed. The command returned a non-zero exit code {code}."
            )
        return self.output_processor(last_line)

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
