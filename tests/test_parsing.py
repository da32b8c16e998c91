"""Isolated DAG parsing (`miniflow.parsing`): every way a DAG file can misbehave at
import time becomes an import error naming the file and the cause, and the good DAG
beside it loads -- in the process that loads them, which nothing harms."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from miniflow.dagbag import DagBag

GOOD = """
    import datetime
    from miniflow import DAG
    from miniflow.operators.empty import EmptyOperator
    with DAG("good", start_date=datetime.datetime(2024, 1, 1), schedule=None):
        EmptyOperator(task_id="t")
"""
BAD = {
    "exit_hard.py": ("import os\nfrom miniflow import DAG\nos._exit(1)\n", "exited with status 1 while importing"),
    "exit_soft.py": ("import sys\nfrom miniflow import DAG\nsys.exit(2)\n", "SystemExit: 2"),
    "interrupts.py": ("from miniflow import DAG\nraise KeyboardInterrupt\n", "KeyboardInterrupt raised while importing"),
    "stubborn.py": ("import time\nfrom miniflow import DAG\nwhile True:\n    try:\n        time.sleep(60)\n"
                    "    except BaseException:\n        pass\n", "killed after 2 s"),
    "hog.py": ("from miniflow import DAG\nblob = bytearray(6 * 1024 ** 3)\n", "exceeded 512 MB"),
    "segfault.py": ("import ctypes\nfrom miniflow import DAG\nctypes.string_at(0)\n", "killed by signal SIGSEGV"),
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINIFLOW__CORE__DAG_PARSE_MEMORY_MB", "512")
    from miniflow.config import reset_config

    reset_config()
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "good.py").write_text(textwrap.dedent(GOOD))
    for name, (source, _) in BAD.items():
        (dags / name).write_text(source)
    (dags / "noisy.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"noisy"')
                                   + "for _ in range(100000):\n    print('x' * 100)\n")
    yield dags
    reset_config()


def test_every_misbehaving_file_is_an_import_error_and_the_rest_loads(
        folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pid = os.getpid()
    bag = DagBag(folder, include_examples=False, import_timeout=2)
    assert os.getpid() == pid  # still here: os._exit and sys.exit happened elsewhere
    assert bag.dag_ids == ["good", "noisy"]
    errors = {Path(p).name: e.message for p, e in bag.import_errors.items()}
    assert set(errors) == set(BAD)
    for name, (_, expected) in BAD.items():
        assert expected in errors[name], (name, errors[name])
    assert "xxxx" not in capfd.readouterr().out  # what a file prints goes nowhere


def test_without_isolation_files_load_in_process(folder: Path) -> None:
    for name in BAD:
        (folder / name).unlink()
    bag = DagBag(folder, include_examples=False, isolate=False)
    assert bag.dag_ids == ["good", "noisy"] and bag.import_errors == {}


def test_a_file_that_changes_is_probed_again(folder: Path) -> None:
    bag = DagBag(folder, include_examples=False, import_timeout=2)
    (folder / "exit_hard.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"fixed"'))
    assert [d.dag_id for d in bag.process_file(folder / "exit_hard.py")] == ["fixed"]
    assert str((folder / "exit_hard.py").resolve()) not in bag.import_errors


def test_a_big_folder_is_probed_in_batches_and_a_crash_mid_batch_blames_one_file(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    for i in range(60):
        (dags / f"dag_{i:02d}.py").write_text(textwrap.dedent(GOOD).replace('"good"', f'"dag_{i:02d}"'))
    for i in (7, 8, 31):  # two in a row, so a batch's remainder can crash again
        (dags / f"dag_{i:02d}.py").write_text(BAD["exit_hard.py"][0])
    bag = DagBag(dags, include_examples=False)
    assert bag.dag_ids == [f"dag_{i:02d}" for i in range(60) if i not in (7, 8, 31)]
    assert sorted(Path(p).name for p in bag.import_errors) == ["dag_07.py", "dag_08.py", "dag_31.py"]
    assert all("exited with status 1" in e.message for e in bag.import_errors.values())


def test_a_folder_given_twice_is_loaded_once(tmp_path: Path) -> None:
    """-S examples with load_examples on names the examples folder twice."""
    from miniflow.dagbag import EXAMPLES_FOLDER

    bag = DagBag(EXAMPLES_FOLDER, include_examples=True)
    assert bag.dag_ids and not bag.import_errors
    assert bag.process_file(EXAMPLES_FOLDER / "branching.py")


def test_listing_from_the_childrens_summaries_matches_importing_here(tmp_path: Path) -> None:
    import sys

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a_good.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"shared"'))
    (dags / "b_same_id.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"shared"'))
    (dags / "c_partly.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"fine"') + textwrap.dedent("""
        with DAG("loop", start_date=datetime.datetime(2024, 1, 1), schedule=None):
            x = EmptyOperator(task_id="x")
            y = EmptyOperator(task_id="y")
            x >> y >> x
    """))
    (dags / "d_broken.py").write_text(BAD["exit_hard.py"][0])
    listed = DagBag(dags, include_examples=False, summaries_only=True)
    assert listed.dags == {} and not [m for m in sys.modules if m.endswith("_a_good")]  # nothing imported here
    imported = DagBag(dags, include_examples=False)
    assert listed.listing() == imported.listing()
    assert [s.dag_id for s in listed.listing()] == ["fine", "shared"]
    assert listed.listing()[1].fileloc.endswith("a_good.py") and listed.listing()[1].schedule == "None"
    assert {p: (e.lineno, e.message) for p, e in listed.import_errors.items()} == {
        p: (e.lineno, e.message) for p, e in imported.import_errors.items()}
    assert sorted(Path(p).name for p in listed.import_errors) == ["b_same_id.py", "c_partly.py", "d_broken.py"]


def test_a_slow_file_holds_up_only_itself_and_a_shared_dag_id_settles_as_in_order(tmp_path: Path) -> None:
    """The scheduler's way (`serialized`): each file is taken as its child is done with
    it. A file that sorts first but is slow to import still keeps a dag_id it shares
    with a later file, which gets the import error, as if the files came in order. (A
    dag_id new to the metadata DB is the later file's until then: nothing says which
    file will claim it; one the DB already has waits for its file, see below.)"""
    dags = tmp_path / "dags"
    dags.mkdir()
    shared = textwrap.dedent(GOOD).replace('"good"', '"shared"')
    (dags / "a_slow.py").write_text("import time\ntime.sleep(3)\n" + shared)
    (dags / "b_fast.py").write_text(shared)
    (dags / "c_own.py").write_text(textwrap.dedent(GOOD).replace('"good"', '"own"'))
    reported: list[tuple[str, set[str]]] = []
    bag = DagBag(dags, include_examples=False, serialized=True,
                 on_file=lambda b, path: reported.append((Path(path).name, set(b.parsed))))
    assert [name for name, _ in reported[:2]] == ["b_fast.py", "c_own.py"]  # before the slow file
    assert reported[1][1] == {"shared", "own"}  # b_fast.py's "shared" was scheduled meanwhile...
    assert [name for name, _ in reported[2:]] == ["b_fast.py", "a_slow.py"]  # ...until a_slow.py took it
    assert bag.parsed["shared"].fileloc.endswith("a_slow.py") and bag.parsed["own"].fileloc.endswith("c_own.py")
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("b_fast.py") and "a_slow.py" in error.message
    in_order = DagBag(dags, include_examples=False)
    assert {d: p.fileloc for d, p in bag.parsed.items()} == {d: dag.fileloc for d, dag in in_order.dags.items()}


def test_a_file_still_importing_dies_with_the_process_that_parses_it(tmp_path: Path) -> None:
    """kill -9 of a process parsing a file that never ends importing (a scheduler
    stopped at start, say) leaves no child behind."""
    import signal
    import subprocess
    import sys
    import time

    dags = tmp_path / "dags"
    dags.mkdir()
    marker = tmp_path / "child.pid"
    (dags / "stubborn.py").write_text(
        f"import os, time\nfrom miniflow import DAG\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        + BAD["stubborn.py"][0].split("\n", 2)[2])
    parser = subprocess.Popen([sys.executable, "-c", f"from miniflow.dagbag import DagBag; DagBag({str(dags)!r})"],
                              env={**os.environ, "MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60"})
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(marker.read_text())
        os.kill(child, 0)  # it is importing
    finally:
        parser.send_signal(signal.SIGKILL)
        parser.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _gone(child):
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child importing the file outlived the process parsing it")


def _gone(pid: int) -> bool:
    """Whether a process has ended (a zombie that init has not reaped yet counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _hang_past_any_alarm(pidfile: Path) -> None:
    import signal
    import time

    pidfile.write_text(str(os.getpid()))
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)  # what importing a DAG file does to the alarm
    time.sleep(60)


def test_in_child_returns_raises_and_kills_what_outlasts_its_limit(tmp_path: Path) -> None:
    """`in_child` runs a DAG's own code for the scheduler (callbacks, a timetable of
    its own): the result comes back, an error comes back as one line, and a child that
    outlasts its limit is killed whatever it does with its signals, waited for or not."""
    import time

    from miniflow.parsing import in_child

    assert in_child(lambda: {"pid": os.getpid()}, timeout=10)["pid"] != os.getpid()
    with pytest.raises(RuntimeError, match="ZeroDivisionError: division by zero"):
        in_child(lambda: 1 / 0, timeout=10)
    began = time.monotonic()
    with pytest.raises(RuntimeError, match="killed after 1 s"):
        in_child(lambda: _hang_past_any_alarm(tmp_path / "waited.pid"), timeout=1)
    assert time.monotonic() - began < 5
    began = time.monotonic()
    assert in_child(lambda: _hang_past_any_alarm(tmp_path / "left.pid"), timeout=1, wait=False) is None
    assert time.monotonic() - began < 1
    deadline = time.monotonic() + 10
    while not (tmp_path / "left.pid").exists() or not (tmp_path / "left.pid").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    left = int((tmp_path / "left.pid").read_text())
    while time.monotonic() < deadline:
        if _gone(left):
            return
        time.sleep(0.05)
    pytest.fail("a child not waited for outlived its limit")


def test_a_dag_id_the_database_has_from_a_slow_file_waits_for_that_file(tmp_path: Path) -> None:
    """Reported out of order, a file's DAG whose dag_id the metadata DB has from
    another file still being parsed is held back: no other file's code is scheduled
    under that dag_id, not even for a moment."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shared = textwrap.dedent(GOOD).replace('"good"', '"shared"')
    (dags / "z_owner.py").write_text("import time\ntime.sleep(3)\n" + shared)
    (dags / "a_other.py").write_text(shared)
    reported: list[tuple[str, dict[str, str]]] = []
    bag = DagBag(dags, include_examples=False, serialized=True, registered={"shared": str(dags / "z_owner.py")},
                 on_file=lambda b, path: reported.append((Path(path).name, {d: p.fileloc for d, p in b.parsed.items()})))
    assert reported[0] == ("a_other.py", {})  # held back, though reported first
    assert [name for name, _ in reported] == ["a_other.py", "z_owner.py", "a_other.py"]
    assert all(Path(f).name == "z_owner.py" for _, found in reported for f in found.values())
    assert Path(bag.parsed["shared"].fileloc).name == "z_owner.py"
    [(path, error)] = bag.import_errors.items()
    assert Path(path).name == "a_other.py" and "z_owner.py" in error.message


def test_files_that_hang_until_killed_hold_up_only_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More hanging files than cores, first in the folder, in one batch with good ones:
    the good files are reported long before the hanging ones are killed."""
    from miniflow.config import reset_config

    monkeypatch.setenv("MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "8")
    reset_config()
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("a_hang.py", "b_hang.py", "c_hang.py"):
        (dags / name).write_text(BAD["stubborn.py"][0])
    for i in range(5):
        (dags / f"good_{i}.py").write_text(textwrap.dedent(GOOD).replace('"good"', f'"good_{i}"'))
    began = time.monotonic()
    seen: dict[str, float] = {}
    bag = DagBag(dags, include_examples=False, serialized=True,
                 on_file=lambda b, path: seen.setdefault(Path(path).name, time.monotonic() - began))
    assert sorted(bag.parsed) == [f"good_{i}" for i in range(5)]
    assert max(seen[f"good_{i}.py"] for i in range(5)) < 6, seen  # not after the kills, at 8 s
    assert all(seen[name] >= 8 for name in ("a_hang.py", "b_hang.py", "c_hang.py")), seen
    assert all("killed after 8 s" in e.message for e in bag.import_errors.values()) and len(bag.import_errors) == 3
    reset_config()
