"""miniflow.object_storage: Airflow's ObjectStoragePath on fsspec (file:// and memory://)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from miniflow.object_storage import ObjectStoragePath


@pytest.fixture
def bucket():
    """A fresh memory:// bucket, removed afterwards (the memory filesystem is per process)."""
    root = ObjectStoragePath(f"memory://bucket-{uuid.uuid4().hex[:8]}")
    yield root
    if root.exists():
        root.rmdir()


def test_paths_join_and_name_their_parts(bucket: ObjectStoragePath) -> None:
    path = bucket / "raw" / "2024-01-02.csv"
    assert str(path) == f"{bucket}/raw/2024-01-02.csv"
    assert (path.name, path.stem, path.suffix) == ("2024-01-02.csv", "2024-01-02", ".csv")
    assert path.bucket == bucket.name and path.key == "raw/2024-01-02.csv"
    assert path.parent == bucket / "raw" and path.protocol == "memory"
    assert ObjectStoragePath(path) == path and ObjectStoragePath(str(bucket), "raw") == bucket / "raw"


def test_write_read_list_and_remove_in_memory(bucket: ObjectStoragePath) -> None:
    path = bucket / "raw" / "a.txt"
    assert not path.exists()
    assert path.write_text("hello") == 5
    (bucket / "raw" / "b.json").write_bytes(b"{}")
    assert path.read_text() == "hello" and path.is_file() and (bucket / "raw").is_dir()
    assert [p.name for p in (bucket / "raw").iterdir()] == ["a.txt", "b.json"]
    assert [p.name for p in bucket.glob("raw/*.json")] == ["b.json"]
    with path.open("a") as f:
        f.write(" world")
    assert path.read_text() == "hello world" and path.size() == 11
    path.unlink()
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        path.unlink()
    path.unlink(missing_ok=True)


def test_copy_and_move_across_file_and_memory(bucket: ObjectStoragePath, tmp_path: Path) -> None:
    local = ObjectStoragePath(f"file://{tmp_path}") / "in" / "data.csv"
    local.write_text("a,b\n1,2\n")
    assert (tmp_path / "in" / "data.csv").read_text() == "a,b\n1,2\n"
    local.copy(bucket / "copied.csv")
    assert (bucket / "copied.csv").read_text() == "a,b\n1,2\n"
    (bucket / "copied.csv").move(ObjectStoragePath(f"file://{tmp_path}") / "out" / "moved.csv")
    assert (tmp_path / "out" / "moved.csv").read_text() == "a,b\n1,2\n"
    assert not (bucket / "copied.csv").exists()
    target = ObjectStoragePath(f"file://{tmp_path}") / "made"
    target.mkdir(parents=True)
    with pytest.raises(FileExistsError):
        target.mkdir()
    local.copy(target)
    assert (tmp_path / "made" / "data.csv").exists()


def test_a_path_whose_filesystem_is_not_installed_fails_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in Airflow, a DAG file may build an s3:// path at module level without s3fs."""
    from fsspec.registry import known_implementations

    monkeypatch.setitem(known_implementations, "absent",
                        {"class": "absent_fs_package.AbsentFileSystem", "err": "Install absent-fs to use absent://"})
    path = ObjectStoragePath("absent://bucket/raw/") / "a.csv"
    assert (str(path), path.bucket, path.key) == ("absent://bucket/raw/a.csv", "bucket", "raw/a.csv")
    with pytest.raises(ImportError, match="Install absent-fs"):
        path.exists()
