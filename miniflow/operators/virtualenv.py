"""Python callables run by another interpreter: a virtual environment miniflow makes
(`PythonVirtualenvOperator`) or one that exists already (`ExternalPythonOperator`).

The callable crosses over as *source code*: its text (``inspect.getsource``, without
its decorators) is written into a small script, so it must be a plain ``def`` that
imports what it needs inside its body. Its arguments go across pickled (or with
``serializer="cloudpickle"``/``"dill"``), its return value comes back the same way and
becomes the task's XCom. Context entries the function names are passed when they can
be: the date strings (``ds``, ``ts``...), the dates themselves (miniflow's are standard
``datetime`` objects) and ``params``; objects that need miniflow on the other side
(``ti``, ``dag_run``, ``task``...) cannot, and asking for them is an error. The strings
of ``string_args`` are in the global list ``virtualenv_string_args``.

Environments are cached: ``requirements`` (sorted), the pip options, the index URLs,
the Python version and ``system_site_packages`` are hashed, and the environment lives
in ``venv-<hash>`` under ``venv_cache_path`` or else ``core.virtualenv_cache_folder``
(``$MINIFLOW_HOME/venvs``). The first try builds it (under a file lock, so parallel
tries build it once); later ones reuse it. Airflow builds a throw-away environment
per try unless ``venv_cache_path`` is given: miniflow always caches.
"""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types
from abc import abstractmethod
from collections.abc import Callable, Collection, Container, Iterable
from pathlib import Path
from typing import Any

from lazy_object_proxy import Proxy

from miniflow.exceptions import AirflowException, AirflowSkipException
from miniflow.operators.python import PythonOperator, callable_kwargs
from miniflow.operators.skip import SkipMixin

__all__ = [
    "PythonVirtualenvOperator",
    "BranchPythonVirtualenvOperator",
    "ExternalPythonOperator",
    "BranchExternalPythonOperator",
    "is_venv_installed",
    "callable_source",
]

# Context entries that survive pickling without miniflow installed on the other side
# (the dates as plain datetimes: see `_passable`).
PASSABLE_CONTEXT_KEYS = frozenset({
    "ds", "ds_nodash", "expanded_ti_count", "inlets", "map_index_template", "next_ds", "next_ds_nodash",
    "outlets", "prev_ds", "prev_ds_nodash", "run_id", "task_instance_key_str", "test_mode", "tomorrow_ds",
    "tomorrow_ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz", "yesterday_ds", "yesterday_ds_nodash",
    "data_interval_end", "data_interval_start", "execution_date", "logical_date", "next_execution_date",
    "prev_execution_date", "prev_data_interval_start_success", "prev_data_interval_end_success",
    "prev_execution_date_success", "prev_start_date_success", "prev_end_date_success", "params",
})
SERIALIZERS = ("pickle", "cloudpickle", "dill")


def _passable(value: Any) -> Any:
    """A context value as the other interpreter can unpickle it without pendulum or
    lazy-object-proxy: a date the context holds as a pendulum DateTime (or behind a
    lazy proxy) goes as a plain, aware datetime."""
    if isinstance(value, Proxy):
        value = value.__wrapped__
    if isinstance(value, dt.datetime) and type(value) is not dt.datetime:
        return dt.datetime.fromisoformat(value.isoformat())
    return value


_SCRIPT = """\
import sys
import {serializer}

{source}

with open(sys.argv[3]) as _file:
    virtualenv_string_args = [_line.rstrip("\\n") for _line in _file]
with open(sys.argv[1], "rb") as _file:
    _arguments = {serializer}.load(_file)
try:
    _result = {name}(*_arguments["args"], **_arguments["kwargs"])
except Exception as _exc:
    with open(sys.argv[4], "w") as _file:
        _file.write(f"{{type(_exc).__name__}}: {{_exc}}")
    raise
with open(sys.argv[2], "wb") as _file:
    if _result is not None:
        {serializer}.dump(_result, _file)
"""


def is_venv_installed() -> bool:
    """Whether virtual environments can be made: miniflow uses the standard library's
    ``venv`` with ``ensurepip`` (some Linux distributions ship them separately)."""
    return importlib.util.find_spec("venv") is not None and importlib.util.find_spec("ensurepip") is not None


def callable_source(func: Callable[..., Any]) -> str:
    """The function's source, dedented and without its decorators (``@task.virtualenv``)."""
    source = textwrap.dedent(inspect.getsource(func))
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return "\n".join(source.splitlines()[node.lineno - 1:]) + "\n"


def _check_serializer(name: str) -> str:
    if name not in SERIALIZERS:
        raise AirflowException(f"Unsupported serializer {name!r}. Expected one of {', '.join(map(repr, SERIALIZERS))}")
    return name


def _serializer(name: str) -> types.ModuleType:
    """The serializer's library, imported when a try needs it (as Airflow does): a DAG
    file naming ``dill`` loads where dill is not installed, and only its tries fail."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise AirflowException(f"serializer {name!r} needs the {name} package installed where miniflow runs "
                               f"({exc})") from None


class _PythonInAnotherInterpreter(PythonOperator):
    """What both operators share: sending the callable over and reading its result."""

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        serializer: str | None = None,
        string_args: Iterable[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Container[int] | None = None,
        env_vars: dict[str, str] | None = None,
        inherit_env: bool = True,
        use_dill: bool = False,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if not isinstance(python_callable, types.FunctionType) or python_callable.__name__ == "<lambda>":
            raise AirflowException(f"{name} only supports functions defined with def for python_callable")
        if inspect.isgeneratorfunction(python_callable):
            raise AirflowException(f"{name} does not support using 'yield' in python_callable")
        if use_dill and serializer:
            raise AirflowException("Both 'use_dill' and 'serializer' are set; set only serializer")
        super().__init__(python_callable=python_callable, **kwargs)
        self.serializer = _check_serializer(serializer or ("dill" if use_dill else "pickle"))
        self.string_args = list(string_args or [])
        self.expect_airflow = expect_airflow
        if skip_on_exit_code is None:
            skip_on_exit_code = []
        elif isinstance(skip_on_exit_code, int):
            skip_on_exit_code = [skip_on_exit_code]
        self.skip_on_exit_code = skip_on_exit_code
        self.env_vars = env_vars
        self.inherit_env = inherit_env

    @abstractmethod
    def python_path(self) -> Path:
        """The interpreter to run the callable with (made ready by this call)."""

    def execute(self, context: dict[str, Any]) -> Any:
        passable = {k: _passable(v) for k, v in context.items() if k in PASSABLE_CONTEXT_KEYS}
        merged = {**passable, **self.op_kwargs}
        if self.templates_dict is not None:
            merged["templates_dict"] = self.templates_dict
        params = inspect.signature(self.python_callable).parameters
        stuck = sorted(name for name, p in params.items()
                       if name in context and name not in merged and p.default is p.empty)
        if stuck:
            raise AirflowException(
                f"task {self.task_id!r}: the context entries {', '.join(stuck)} cannot be passed to another "
                "interpreter (miniflow is not installed there); pass the values you need with op_kwargs or "
                "templates instead"
            )
        kwargs = callable_kwargs(self.python_callable, self.op_args, merged)
        result = self._run(self.python_path(), kwargs)
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %s", result)
        return result

    def _run(self, python: Path, kwargs: dict[str, Any]) -> Any:
        library = _serializer(self.serializer)
        with tempfile.TemporaryDirectory(prefix="miniflow-venv-call") as tmp:
            folder = Path(tmp)
            paths = [folder / n for n in ("args.in", "result.out", "string_args.txt", "termination.log")]
            paths[0].write_bytes(library.dumps({"args": list(self.op_args), "kwargs": kwargs}))
            paths[2].write_text("\n".join(map(str, self.string_args)))
            script = folder / "script.py"
            script.write_text(_SCRIPT.format(serializer=self.serializer, source=callable_source(self.python_callable),
                                             name=self.python_callable.__name__))
            env = dict(os.environ) if self.inherit_env else {}
            env.update(self.env_vars or {})
            code = self._stream([str(python), str(script), *map(str, paths)], env)
            if code in self.skip_on_exit_code:
                raise AirflowSkipException(f"Process exited with code {code}. Skipping.")
            if code != 0:
                detail = paths[3].read_text() if paths[3].exists() else ""
                raise AirflowException(f"Process returned non-zero exit status {code}.\n{detail}".rstrip())
            if paths[1].stat().st_size == 0:
                return None
            return library.loads(paths[1].read_bytes())

    def _stream(self, command: list[str], env: dict[str, str] | None = None) -> int:
        """Run `command`, copying its output into the task log line by line."""
        self.log.info("Executing cmd: %s", " ".join(command))
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              text=True, errors="replace") as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.info("%s", line.rstrip("\n"))
        return proc.returncode


class PythonVirtualenvOperator(_PythonInAnotherInterpreter):
    """Run the callable in a cached virtual environment with `requirements` installed.

    `requirements` is a list of pip requirement strings, or one string: a requirement,
    or a (templated) requirements file ending in ``.txt``. `python_version` ("3.12")
    picks the interpreter ``python3.12`` on the PATH; by default it is miniflow's own.
    """

    template_fields = ("requirements", "index_urls", "venv_cache_path", *PythonOperator.template_fields)
    template_ext = (".txt",)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        requirements: None | Iterable[str] | str = None,
        python_version: str | None = None,
        system_site_packages: bool = True,
        pip_install_options: list[str] | None = None,
        index_urls: None | Collection[str] | str = None,
        venv_cache_path: None | os.PathLike[str] | str = None,
        **kwargs: Any,
    ) -> None:
        if not is_venv_installed():
            raise AirflowException(f"{type(self).__name__} needs the standard library's venv and ensurepip; "
                                   "install them (Debian: apt-get install python3-venv)")
        if isinstance(requirements, str):
            self.requirements: list[str] = [requirements]
        else:
            self.requirements = list(requirements or [])
        self.python_version = str(python_version) if python_version is not None else None
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        self.index_urls = [index_urls] if isinstance(index_urls, str) else list(index_urls or []) or None
        self.venv_cache_path = venv_cache_path
        super().__init__(python_callable=python_callable, **kwargs)

    def _requirements(self) -> list[str]:
        """The requirement lines to install: a rendered requirements file is split into lines."""
        lines: list[str] = []
        for item in self.requirements:
            lines.extend(line.strip() for line in str(item).splitlines()
                         if line.strip() and not line.lstrip().startswith("#"))
        if not self.system_site_packages and self.serializer != "pickle" and self.serializer not in lines:
            lines.append(self.serializer)
        return sorted(lines)

    def cache_key(self) -> tuple[str, str]:
        """(hash, the JSON it hashes): what makes two environments interchangeable."""
        data = json.dumps({
            "requirements": self._requirements(), "pip_install_options": self.pip_install_options,
            "index_urls": self.index_urls, "python_version": self.python_version or sys.version.split()[0],
            "system_site_packages": self.system_site_packages,
        }, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:12], data

    def python_path(self) -> Path:
        from miniflow.config import get_config

        root = Path(self.venv_cache_path or get_config().get("core", "virtualenv_cache_folder")).expanduser()
        key, data = self.cache_key()
        venv = root / f"venv-{key}"
        marker = venv / "miniflow_venv_complete.json"
        root.mkdir(parents=True, exist_ok=True)
        with open(f"{venv}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one try builds it; the others wait, then reuse it
            if marker.exists() and marker.read_text() == data:
                self.log.info("Reusing the cached virtual environment %s", venv)
                return venv / "bin" / "python"
            shutil.rmtree(venv, ignore_errors=True)  # a half-built one, from a try that died
            try:
                self._build(venv)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
            marker.write_text(data)
            self.log.info("Created the virtual environment %s", venv)
        return venv / "bin" / "python"

    def _build(self, venv: Path) -> None:
        base = shutil.which(f"python{self.python_version}") if self.python_version else sys.executable
        if base is None:
            raise AirflowException(f"task {self.task_id!r}: python{self.python_version} is not on the PATH")
        requirements = self._requirements()
        command = [base, "-m", "venv", str(venv)]
        if self.system_site_packages:
            command.append("--system-site-packages")
        if not requirements:
            command.append("--without-pip")  # nothing to install: skip the slow pip bootstrap
        if self._stream(command) != 0:
            raise AirflowException(f"task {self.task_id!r}: could not create the virtual environment {venv}")
        if self.index_urls:
            extra = f"\nextra-index-url = {' '.join(self.index_urls[1:])}" if len(self.index_urls) > 1 else ""
            (venv / "pip.conf").write_text(f"[global]\nindex-url = {self.index_urls[0]}{extra}\n")
        if requirements:
            (venv / "requirements.txt").write_text("\n".join(requirements) + "\n")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", *self.pip_install_options,
                   "-r", str(venv / "requirements.txt")]
            if self._stream(pip) != 0:
                raise AirflowException(f"task {self.task_id!r}: pip could not install {requirements}")


class ExternalPythonOperator(_PythonInAnotherInterpreter):
    """Run the callable with an existing interpreter, `python` (an absolute path, such as
    a virtual environment's ``bin/python``)."""

    template_fields = ("python", *PythonOperator.template_fields)

    def __init__(self, *, python: str, python_callable: Callable[..., Any], expect_pendulum: bool = False,
                 **kwargs: Any) -> None:
        if not python:
            raise ValueError("Python Path must be defined in ExternalPythonOperator")
        self.python = python
        self.expect_pendulum = expect_pendulum
        super().__init__(python_callable=python_callable, **kwargs)

    def python_path(self) -> Path:
        path = Path(self.python)
        if not path.is_absolute():
            raise ValueError(f"Python Path '{path}' must be an absolute path.")
        if not path.exists():
            raise ValueError(f"Python Path '{path}' must exists")
        if not path.is_file():
            raise ValueError(f"Python Path '{path}' must be a file")
        return path


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator, SkipMixin):
    """`PythonVirtualenvOperator` whose callable returns the task id(s) to follow."""

    def execute(self, context: dict[str, Any]) -> Any:
        branch = super().execute(context)
        self.skip_all_except(context["ti"], branch)
        return branch


class BranchExternalPythonOperator(ExternalPythonOperator, SkipMixin):
    """`ExternalPythonOperator` whose callable returns the task id(s) to follow."""

    def execute(self, context: dict[str, Any]) -> Any:
        branch = super().execute(context)
        self.skip_all_except(context["ti"], branch)
        return branch

