"""The archive: a carrier's original bytes, content-addressed and write-once under
``settings.archive_dir``; always the first thing done with a file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..config import Settings
from ..errors import InputError, Location

__all__ = ["CHUNK_SIZE", "ArchiveWriter", "ArchivedFile", "archive"]

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    sha256: str
    size: int
    path: Path


class ArchiveWriter:
    """Bytes written into the archive chunk by chunk, hashed on the way: the one way into
    the archive, for a file on disk (:func:`archive`) and for an upload streamed in by the
    HTTP service.  Memory stays at one chunk whatever the size.

    The bytes go to a temporary file in the archive and are linked under their hash by
    :meth:`commit`, which never replaces an existing file: the first copy of some content
    is the one kept, read-only.  Leaving the ``with`` block without a commit (an upload over
    the size limit, a client that went away) deletes the partial file: it leaves no trace."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.archive_dir
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        self._tmp = Path(tmp_name)
        self._out: BinaryIO = open(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    def commit(self) -> ArchivedFile:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        sha256 = self._digest.hexdigest()
        final = self.root / sha256[:2] / sha256[2:4] / sha256
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp.chmod(0o444)
        try:
            os.link(self._tmp, final)  # fails if the name exists: write-once, no race
        except FileExistsError:
            pass
        self._tmp.unlink(missing_ok=True)
        return ArchivedFile(sha256=sha256, size=self.size, path=final)

    def discard(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # after a commit: nothing left to delete


def archive(source: str | os.PathLike[str] | BinaryIO, settings: Settings) -> ArchivedFile:
    """Copy ``source`` (a path, or a binary stream, which is read to its end and left open)
    into the archive at ``archive/ab/cd/<sha256>`` (see :class:`ArchiveWriter`)."""
    with ExitStack() as stack:
        src = source if hasattr(source, "read") else stack.enter_context(_open(source))
        writer = stack.enter_context(ArchiveWriter(settings))
        while chunk := src.read(CHUNK_SIZE):
            writer.write(chunk)
        return writer.commit()


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(
            "FILE-UNREADABLE", f"cannot read the file: {exc.strerror}", Location(file=str(path))
        ) from exc

