"""BashOperator: run a shell command; its last line of output is the XCom value."""

from __future__ import annotations

import functools
import os
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException, TaskSkipped

if TYPE_CHECKING:
    from miniflow.hooks.subprocess import SubprocessHook

__all__ = ["BashOperator"]


class BashOperator(BaseOperator):
    """Run ``bash_command`` with ``bash -c``; output is streamed to the task log.

    Exit code 99 (``skip_on_exit_code``) marks the task skipped; any other non-zero
    code fails the try. ``env`` replaces the environment unless ``append_env`` is set.
    Without ``cwd`` the command runs in a temporary directory, as in Airflow. A command
    ending in ``.sh`` or ``.bash`` is a template file, read, rendered and run from a file.
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
        self._script = isinstance(bash_command, str) and bash_command.endswith(tuple(self.template_ext))

    @functools.cached_property
    def subprocess_hook(self) -> SubprocessHook:
        from miniflow.hooks.subprocess import SubprocessHook  # imported to run, not to load DAG files

        return SubprocessHook()

    def get_env(self, context: dict[str, Any]) -> dict[str, str]:
        """The command's environment: ``env`` (over this process's with ``append_env``,
        or this process's alone), plus the try's ``AIRFLOW_CTX_*`` variables."""
        from miniflow.context import context_to_airflow_vars  # with pendulum: not for loading DAG files

        env = dict(os.environ) if self.env is None or self.append_env else {}
        env.update({k: str(v) for k, v in (self.env or {}).items()})
        env.update(context_to_airflow_vars(context, in_env_var_format=True))
        return env

    def execute(self, context: dict[str, Any]) -> Any:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise AirflowException(f"cwd {self.cwd!r} does not exist or is not a directory")
        import shutil
        import tempfile

        from miniflow.hooks.subprocess import working_directory

        bash = shutil.which("bash") or "bash"
        env = self.get_env(context)
        if self._script:  # the rendered script runs from a file, as in Airflow: no argv limit
            with working_directory(self.cwd) as cwd, \
                    tempfile.NamedTemporaryFile("w", dir=cwd, suffix=".sh") as script:
                script.write(self.bash_command)
                script.flush()
                result = self.subprocess_hook.run_command([bash, os.path.basename(script.name)], env,
                                                          self.output_encoding, cwd)
        else:
            result = self.subprocess_hook.run_command([bash, "-c", self.bash_command], env,
                                                      self.output_encoding, self.cwd)
        if result.exit_code in self.skip_on_exit_code:
            raise TaskSkipped(f"Bash command returned exit code {result.exit_code}. Skipping.")
        if result.exit_code != 0:
            raise AirflowException(
                f"Bash command failed. The command returned a non-zero exit code {result.exit_code}."
            )
        return self.output_processor(result.output)

    def on_kill(self) -> None:
        self.subprocess_hook.send_sigterm()
