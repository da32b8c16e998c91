"""BashSensor: wait until a shell command exits 0."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

from miniflow.exceptions import AirflowFailException
from miniflow.sensors.base import BaseSensorOperator

__all__ = ["BashSensor"]


class BashSensor(BaseSensorOperator):
    """Run `bash_command` in a temporary folder at each poke; exit code 0 means done.

    Any other exit code means "not yet" -- unless `retry_exit_code` is given, when only
    that code means "not yet" and every other one fails the task at once (Airflow's
    semantics). `env`, when given, replaces the environment instead of extending it.
    """

    template_fields = ("bash_command", "env")

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: dict[str, Any]) -> bool:
        with tempfile.TemporaryDirectory(prefix="miniflowtmp") as tmp:
            script = os.path.join(tmp, f"{self.task_id}.sh")
            with open(script, "w", encoding="utf-8") as f:
                f.write(self.bash_command)
            self.log.info("Running command: %s", self.bash_command)
            proc = subprocess.run(["bash", script], cwd=tmp, env=self.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True, check=False)
        for line in proc.stdout.decode(self.output_encoding, errors="replace").splitlines():
            self.log.info(line)
        self.log.info("Command exited with return code %s", proc.returncode)
        if proc.returncode == 0:
            return True
        if self.retry_exit_code is not None and proc.returncode != self.retry_exit_code:
            raise AirflowFailException(f"Command exited with return code {proc.returncode}")
        return False
