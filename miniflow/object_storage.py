"""`ObjectStoragePath`: Airflow's path for files in object storage, on fsspec.

A path is a URL, ``scheme://bucket/key`` (``file:///data/in.csv``,
``memory://scratch/out.json``, ``s3://bucket/key`` when s3fs is installed), with the
``pathlib`` operations DAG files use: ``/``, ``open``, ``read_text``, ``write_bytes``,
``exists``, ``iterdir``, ``glob``, ``mkdir``, ``unlink``, ``copy`` and ``move``.
Airflow's ``conn_id`` is accepted but not read: in Airflow each storage provider turns
its own kind of connection into credentials, and miniflow has none of those providers,
so the filesystem is made from ``storage_options`` and the environment.

The filesystem is made at a path's first use, as in Airflow: a DAG file may name an
``s3://`` path at module level on a machine where only the workers have s3fs.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fsspec

__all__ = ["ObjectStoragePath"]


class ObjectStoragePath:
    """A file or folder in a fsspec filesystem, addressed by URL."""

    def __init__(self, url: str | ObjectStoragePath, *parts: str, conn_id: str | None = None,
                 **storage_options: Any) -> None:
        import fsspec.core

        if isinstance(url, ObjectStoragePath):
            storage_options = {**url.storage_options, **storage_options}  # type: ignore[has-type]
            url = url.as_uri()
        protocol, path = fsspec.core.split_protocol(str(url))
        self.protocol = protocol or "file"
        self.conn_id = conn_id
        self.storage_options = storage_options
        self.path = posixpath.join(_strip_protocol(self.protocol, str(url)), *parts)

    @functools.cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        import fsspec

        return fsspec.filesystem(self.protocol, **self.storage_options)

    def _child(self, path: str) -> ObjectStoragePath:
        return ObjectStoragePath(f"{self.protocol}://{path.lstrip('/') if self.protocol != 'file' else path}",
                                 conn_id=self.conn_id, **self.storage_options)

    # --- names --------------------------------------------------------------------------

    def as_uri(self) -> str:
        if self.protocol == "file":
            return f"file://{self.path}"
        return f"{self.protocol}://{self.path.lstrip('/')}"

    def __str__(self) -> str:
        return self.as_uri()

    def __repr__(self) -> str:
        return f"ObjectStoragePath({self.as_uri()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectStoragePath) and self.as_uri() == other.as_uri()

    def __hash__(self) -> int:
        return hash(self.as_uri())

    def __truediv__(self, other: str) -> ObjectStoragePath:
        return self.joinpath(other)

    def joinpath(self, *parts: str) -> ObjectStoragePath:
        return self._child(posixpath.join(self.path, *parts))

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> ObjectStoragePath:
        return self._child(posixpath.dirname(self.path.rstrip("/")))

    @property
    def bucket(self) -> str:
        return "" if self.protocol == "file" else self.path.lstrip("/").split("/", 1)[0]

    @property
    def key(self) -> str:
        if self.protocol == "file":
            return self.path
        parts = self.path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) > 1 else ""

    # --- queries ------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def stat(self) -> dict[str, Any]:
        return self.fs.info(self.path)

    def size(self) -> int:
        return int(self.fs.size(self.path))

    def iterdir(self) -> Iterator[ObjectStoragePath]:
        for entry in sorted(self.fs.ls(self.path, detail=False)):
            yield self._child(entry)

    def glob(self, pattern: str) -> Iterator[ObjectStoragePath]:
        for entry in sorted(self.fs.glob(posixpath.join(self.path, pattern))):
            yield self._child(entry)

    def rglob(self, pattern: str) -> Iterator[ObjectStoragePath]:
        return self.glob(f"**/{pattern}")

    # --- reading and writing ------------------------------------------------------------

    def open(self, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        if "w" in mode or "a" in mode:
            self.fs.makedirs(posixpath.dirname(self.path), exist_ok=True)
        return self.fs.open(self.path, mode, **kwargs)

    def read_bytes(self) -> bytes:
        with self.open("rb") as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        with self.open("wb") as f:
            f.write(data)
        return len(data)

    def write_text(self, data: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(data.encode(encoding))

    def touch(self, exist_ok: bool = True) -> None:
        if self.exists():
            if not exist_ok:
                raise FileExistsError(str(self))
            return
        self.write_bytes(b"")

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if self.exists() and not exist_ok:
            raise FileExistsError(str(self))
        if parents:
            self.fs.makedirs(self.path, exist_ok=True)
        else:
            self.fs.mkdir(self.path, create_parents=False)

    def unlink(self, missing_ok: bool = False) -> None:
        if not self.exists():
            if missing_ok:
                return
            raise FileNotFoundError(str(self))
        self.fs.rm(self.path)

    def rmdir(self, recursive: bool = True) -> None:
        self.fs.rm(self.path, recursive=recursive)

    def copy(self, dst: ObjectStoragePath | str, recursive: bool = False) -> None:
        """Copy to `dst`, across filesystems too (streamed through this process)."""
        target = dst if isinstance(dst, ObjectStoragePath) else ObjectStoragePath(dst)
        if self.is_dir():
            for child in self.iterdir():
                if recursive or child.is_file():
                    child.copy(target / child.name, recursive)
            return
        if target.is_dir():
            target = target / self.name
        if target.protocol == self.protocol:
            target.fs.makedirs(posixpath.dirname(target.path), exist_ok=True)
            self.fs.copy(self.path, target.path)
            return
        with self.open("rb") as src, target.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)

    def move(self, dst: ObjectStoragePath | str) -> None:
        self.copy(dst, recursive=True)
        if self.is_dir():
            self.rmdir()
        else:
            self.unlink()


def _strip_protocol(protocol: str, url: str) -> str:
    """`url` without its protocol, as its filesystem spells paths, or by the generic rule
    when that filesystem's package is not installed here."""
    import fsspec

    try:
        return str(fsspec.get_filesystem_class(protocol)._strip_protocol(url))
    except (ImportError, ValueError):
        return url.split("://", 1)[-1].rstrip("/")
