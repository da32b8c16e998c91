"""The documentation's examples run, so the docs cannot drift from the program.

What the pages in docs/ may hold, and what this module does with it:

- A fenced ``python`` block titled ``title="dags/<file>.py"`` is a DAG file. Every test
  home gets all of them in its DAG folder, so a page may use the DAGs of another page
  (the ``tutorial`` DAG of cli.md, say). Any other titled block (``title="miniflow.toml"``)
  is written into the home of its own page only.
- In a ``sh`` block, every line starting with ``miniflow `` (optionally after
  ``NAME=value`` environment assignments) is run, in page order, against a fresh
  ``$MINIFLOW_HOME`` with the DAG files and a migrated DB. There is no shell: pipes,
  redirections, ``&&`` and ``$VARS`` are refused. A trailing comment saying
  ``exit code N`` means the command must exit N; every other command must exit 0.
  Other lines (``export ...``) are prose for the reader.
- A ``text output`` block that is the next fenced block after a ``sh`` block is the
  exact stdout of that block's last command (compared line by line, whitespace
  collapsed).
- A ``sh daemon`` block lists long-running commands. Each is started on its own, must
  come up (the scheduler logs that it started, a Celery worker lists its tasks, the
  webserver and standalone answer ``/api/v1/health``), and must exit cleanly, leaving
  no process behind, on SIGTERM.
  They get a free web port and a Celery broker address where nothing listens, so they
  never touch services outside the test; so daemon lines must not set ports or brokers.

Besides running the examples, the tests check that cli.md shows every command,
configuration.md every setting with its default, airflow-comparison.md every
supported ``airflow`` module, and that every relative link (and the function it names)
exists.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
# benchmarks.md belongs to the benchmark suite: its commands take minutes and are run
# by the benchmark scripts, not by the unit tests.
NOT_RUN = {"benchmarks.md"}
COMMAND_TIMEOUT = 60.0
DAEMON_START_TIMEOUT = 60.0
# What a daemon prints once it is up (the webserver and standalone answer /api/v1/health).
READY = {"scheduler": "started with", "celery": "miniflow.run_task"}
CLEAN_EXIT = (0, 130)  # 130: SIGTERM ends the webserver like Ctrl-C, on purpose


# --- reading the pages -------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    info: str
    lines: list[str]

    @property
    def words(self) -> list[str]:
        return self.info.split()

    @property
    def title(self) -> str | None:
        match = re.search(r'title="([^"]+)"', self.info)
        return match.group(1) if match else None


@dataclass
class Command:
    page: str
    line: int
    text: str
    argv: list[str]
    env: dict[str, str]
    expected_code: int = 0
    expected_stdout: str | None = None

    def where(self) -> str:
        return f"docs/{self.page}:{self.line}: {self.text}"


@dataclass
class Page:
    name: str
    blocks: list[Block] = field(default_factory=list)

    def commands(self, kind: str = "sh") -> list[Command]:
        wanted = ["sh"] if kind == "sh" else ["sh", kind]
        found: list[Command] = []
        for i, block in enumerate(self.blocks):
            if block.words != wanted:
                continue
            commands = list(_commands_of(block))
            nxt = self.blocks[i + 1] if i + 1 < len(self.blocks) else None
            if commands and nxt is not None and nxt.words == ["text", "output"]:
                commands[-1].expected_stdout = "\n".join(nxt.lines)
            found += commands
        return found

    def files(self) -> dict[str, str]:
        return {b.title: "\n".join(b.lines) + "\n" for b in self.blocks if b.title}


def read_page(path: Path) -> Page:
    page = Page(path.name)
    block: Block | None = None
    indent = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = re.match(r"^(\s*)```(.*)$", line)
        if block is None:
            if fence:
                indent = len(fence.group(1))
                block = Block(path.name, number, fence.group(2).strip(), [])
        elif fence and not fence.group(2).strip():
            page.blocks.append(block)
            block = None
        else:
            # Fences indented in a list item: drop that indentation from the contents.
            block.lines.append(line[indent:] if not line[:indent].strip() else line.lstrip())
    assert block is None, f"docs/{path.name}:{block.line}: code block never closed"
    return page


def _commands_of(block: Block):
    joined: list[tuple[int, str]] = []
    for offset, line in enumerate(block.lines, start=1):
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line.strip())
        else:
            joined.append((block.line + offset, line.strip()))
    for number, text in joined:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        env = {}
        while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
            name, value = tokens.pop(0).split("=", 1)
            env[name] = value
        if not tokens or tokens[0] != "miniflow":
            continue
        shell = [t for t in tokens if t and set(t) <= set("();<>|&")]
        assert not shell, f"docs/{block.page}:{number}: no shell here, {shell} cannot run: {text}"
        expected = re.search(r"#.*\bexit code (\d+)", text)
        yield Command(block.page, number, text, tokens[1:], env, int(expected.group(1)) if expected else 0)


PAGES = {p.name: read_page(p) for p in sorted(DOCS.glob("*.md")) if p.name not in NOT_RUN}
DAG_FILES = {t: body for page in PAGES.values() for t, body in page.files().items() if t.startswith("dags/")}


# --- running --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare_home(home: Path, page: Page, base_env: dict[str, str]) -> None:
    """The DAG files of every page, the other files of this page, a migrated DB."""
    for title, body in {**DAG_FILES, **page.files()}.items():
        path = home / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    result = _run(["db", "migrate"], {**base_env, "MINIFLOW_HOME": str(home)}, home)
    assert result.returncode == 0, result.stderr


def _base_env() -> dict[str, str]:
    """This process's environment without miniflow settings (read once, in the main thread)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MINIFLOW")}


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Like conftest's run_cli, but with stdin closed: a command that prompts fails at
    # once instead of waiting for a person. In `cwd`, the page's home: files a page
    # writes by a relative name (conns.json, lite.db) stay out of the checkout.
    return subprocess.run([sys.executable, "-m", "miniflow", *argv], check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT, env=env, cwd=cwd)


def _normalised(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def _run_page(page: Page, home: Path, base_env: dict[str, str]) -> str | None:
    """Run the page's commands in order; the first mismatch, described, or None."""
    _prepare_home(home, page, base_env)
    for command in page.commands():
        result = _run(command.argv, {**base_env, "MINIFLOW_HOME": str(home), **command.env}, home)
        shown = f"{command.where()}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
        if result.returncode != command.expected_code:
            return f"exit code {result.returncode}, the page says {command.expected_code}:\n{shown}"
        if "Traceback" in result.stderr:
            return f"a traceback:\n{shown}"
        if command.expected_stdout is not None and _normalised(result.stdout) != _normalised(command.expected_stdout):
            return f"the output differs from the page's:\n{shown}--- page\n{command.expected_stdout}"
    return None


def _selected(request: pytest.FixtureRequest, test_name: str, param: str) -> list:
    return [item.callspec.params[param] for item in request.session.items
            if getattr(item, "originalname", None) == test_name]


PAGES_WITH_COMMANDS = sorted((name for name, page in PAGES.items() if page.commands()),
                             key=lambda name: -len(PAGES[name].commands()))


@pytest.fixture(scope="module")
def page_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every selected page's run, two pages at a time. The commands are mostly Python
    start-ups, so on two cores this halves the wall time; each page still runs in
    order, in a home of its own."""
    base = _base_env()
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {name: pool.submit(_run_page, PAGES[name], tmp_path_factory.mktemp(name), base)
               for name in _selected(request, "test_page_commands_run", "page_name")}


@pytest.mark.parametrize("page_name", PAGES_WITH_COMMANDS)
def test_page_commands_run(page_name: str, page_runs) -> None:
    failure = page_runs[page_name].result()
    assert failure is None, failure


DAEMONS = [c for page in PAGES.values() for c in page.commands("daemon")]


def _run_daemon(command: Command, home: Path, base_env: dict[str, str]) -> str | None:
    """Start the daemon, check it is up, SIGTERM it; what went wrong, or None."""
    _prepare_home(home, PAGES[command.page], base_env)
    port = _free_port()
    env = {**base_env, "MINIFLOW_HOME": str(home), **command.env,
           "MINIFLOW__WEBSERVER__PORT": str(port),
           "MINIFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{_free_port()}/0",  # nothing listens
           "MINIFLOW__SCHEDULER__SHUTDOWN_GRACE_PERIOD": "5"}
    output = home / "daemon.log"
    with output.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "miniflow", *command.argv], stdin=subprocess.DEVNULL,
                                stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        if command.argv[0] in ("webserver", "standalone"):
            problem = _wait_for_health(proc, port)
        else:
            problem = _wait_for_output(proc, output, READY[command.argv[0]])
        if problem is None:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            deadline = time.monotonic() + 15
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if code not in CLEAN_EXIT:
                problem = f"exit code {code} after SIGTERM"
            elif "Traceback" in output.read_text():
                problem = "a traceback"
            elif _group_alive(proc.pid):
                problem = "it left processes behind after SIGTERM"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started, nothing else
        proc.wait(timeout=10)
    return None if problem is None else f"{command.where()}\n{problem}:\n{output.read_text()}"


def _wait_for_output(proc: subprocess.Popen[bytes], output: Path, ready: str) -> str | None:
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "it ended early"
        if ready in output.read_text():
            return None
        time.sleep(0.2)
    return f"it did not print {ready!r} within {DAEMON_START_TIMEOUT:g} s"


def _wait_for_health(proc: subprocess.Popen[bytes], port: int) -> str | None:
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "it ended early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return None
        except OSError:
            pass
        time.sleep(0.2)
    return f"no answer on /api/v1/health within {DAEMON_START_TIMEOUT:g} s"


@pytest.fixture(scope="module")
def daemon_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every selected daemon's check, all at once: they mostly wait."""
    base = _base_env()
    chosen = [c for c in _selected(request, "test_daemon_starts_and_stops_on_sigterm", "command")
              if c.argv[0] != "celery" or importlib.util.find_spec("celery") is not None]
    with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
        yield {id(c): pool.submit(_run_daemon, c, tmp_path_factory.mktemp(c.argv[0]), base) for c in chosen}


@pytest.mark.parametrize("command", DAEMONS, ids=[" ".join(c.argv) for c in DAEMONS])
def test_daemon_starts_and_stops_on_sigterm(command: Command, daemon_runs) -> None:
    if id(command) not in daemon_runs:
        pytest.skip("the [celery] extra is not installed")
    failure = daemon_runs[id(command)].result()
    assert failure is None, failure


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the pages cover what they promise -------------------------------------------------------


def test_the_dag_files_of_the_docs_load(dags_folder: Path) -> None:
    from miniflow.dagbag import DagBag

    assert "dags/tutorial.py" in DAG_FILES, "cli.md defines the tutorial DAG the pages use"
    for title, body in DAG_FILES.items():
        (dags_folder / Path(title).name).write_text(body)
    bag = DagBag(dags_folder, include_examples=False)
    assert not bag.import_errors, bag.import_errors
    files_with_dags = {Path(dag.fileloc).name for dag in bag.dags.values()}
    assert files_with_dags == {Path(t).name for t in DAG_FILES}


def _cli_paths() -> list[str]:
    import click

    from miniflow.cli import COMMANDS, cli

    ctx = click.Context(cli)
    paths = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += [f"{name} {sub}" for sub in command.list_commands(ctx)]
        else:
            paths.append(name)
    return paths


def test_cli_md_shows_every_command_with_an_example() -> None:
    page = PAGES["cli.md"]
    shown = [" ".join(c.argv) + " " for c in page.commands() + page.commands("daemon")]
    missing = [p for p in _cli_paths() if not any(s.startswith(p + " ") for s in shown)]
    assert not missing, f"commands without an example in docs/cli.md: {missing}"


def test_configuration_md_lists_every_setting_with_its_default() -> None:
    from miniflow.defaults import DEFAULTS

    text = (DOCS / "configuration.md").read_text()
    missing = []
    for section, settings in DEFAULTS.items():
        if f"### `[{section}]`" not in text:
            missing.append(f"[{section}]")
        for key, setting in settings.items():
            default = str(setting.default).lower() if isinstance(setting.default, bool) else str(setting.default)
            shown = "(empty)" if default == "" else f"`{default}`"
            if f"| `{key}` | {shown} |" not in text:
                missing.append(f"[{section}] {key} = {default!r}")
    assert not missing, f"settings missing from docs/configuration.md (or with another default): {missing}"


def test_airflow_comparison_md_lists_every_supported_import_path() -> None:
    from miniflow.airflow_compat import AIRFLOW_MODULES

    text = (DOCS / "airflow-comparison.md").read_text()
    missing = [m for m in AIRFLOW_MODULES if f"`{m}`" not in text]
    assert not missing, f"airflow modules missing from docs/airflow-comparison.md: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", path.read_text(), re.MULTILINE)}


def test_links_point_at_files_headings_and_functions_that_exist() -> None:
    broken = []
    for page in sorted(DOCS.glob("*.md")):
        if page.name in NOT_RUN:
            continue
        for text, target in re.findall(r"\[([^\]]+)\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = (page.parent / file_part).resolve() if file_part else page
            where = f"docs/{page.name}: [{text}]({target})"
            if not path.exists():
                broken.append(f"{where}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{where}: no such heading")
            elif path.suffix == ".py":
                name = re.fullmatch(r"`([A-Za-z_][\w.]*)`", text)
                last = name.group(1).split(".")[-1] if name else None
                if last and not name.group(1).endswith(".py") and not name.group(1).startswith("miniflow"):
                    source = path.read_text()
                    if not re.search(rf"^\s*(def|class)\s+{last}\b|^{last}\s*[:=]", source, re.MULTILINE):
                        broken.append(f"{where}: {path.name} defines no {last!r}")
    assert not broken, "\n".join(broken)
