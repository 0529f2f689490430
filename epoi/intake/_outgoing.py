"""Outgoing files: what goes back to a carrier (TA1 and 997 from the parse, the error-return
811 of each set from the normalize stage), kept under ``<home>/acks/<submission>/`` and
recorded in the store with the control numbers they were given.

One writer for all of them (:class:`OutgoingFiles`), with one rule: a file is written whole
or not at all (a temporary file beside it, fsync, rename), and the files written in a
transaction are removed again when the transaction fails.  The removal happens inside the
transaction, while it still holds the carrier's ack sequence: the rollback gives the control
numbers back, and no other worker can have reused one (and written its file under the same
name) before the file is gone.  A failure at the commit itself leaves the file, which the next
attempt writes again under the same name."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy.orm import Session

from ..config import Settings
from ..parsers import ack_file_name, write_acks
from ..schemas.verdict import FileVerdict
from ..store import AckKind, AckRecord, add_acks, next_control_numbers

__all__ = ["OutgoingFiles", "relative_to_home", "write_ack_files"]


class OutgoingFiles:
    """The outgoing files of one submission written in one transaction: use as ``with``
    inside the transaction's block; leaving it with an exception removes what was written."""

    def __init__(self, home: Path, submission_id: int) -> None:
        self.home = home
        self.directory = home / "acks" / str(submission_id)
        self.paths: list[Path] = []

    def write(self, kind: str, carrier: str, control_number: int, test: bool, text: str) -> Path:
        """Write ``text`` as the ``kind`` file (TA1, 997, 811) numbered ``control_number``
        (ISA13) for the carrier with ISA06 ``carrier``; its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / ack_file_name(kind, carrier, control_number, test)  # type: ignore[arg-type]
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".part")
        try:
            with open(fd, "wb") as out:
                out.write(text.encode("latin-1"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self.paths.append(path)
        return path

    def relative(self, path: Path) -> str:
        return relative_to_home(path, self.home)

    def __enter__(self) -> OutgoingFiles:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            for path in self.paths:
                path.unlink(missing_ok=True)


def relative_to_home(path: Path, home: Path) -> str:
    """Paths in the database are relative to the data directory, so it can move."""
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path.resolve())


def absolute_under_home(stored: str | Path, home: Path) -> Path:
    """A path as the database holds it (``relative_to_home``) made absolute again."""
    path = Path(stored)
    return path if path.is_absolute() else home / path


def write_ack_files(
    session: Session, settings: Settings, submission_id: int, verdict: FileVerdict,
    created: datetime,
) -> list[Path]:
    """The TA1s and 997s that answer ``verdict``, numbered from each carrier's sequences,
    written and recorded in ``session``'s transaction."""

    def next_number(carrier: str, counter: str) -> int:
        return next_control_numbers(session, f"{carrier}:{counter}")[0]

    test_of = {ic.control_number: ic.test for ic in verdict.interchanges}
    sender_of = {ic.control_number: ic.sender_id.strip() for ic in verdict.interchanges}
    records: list[AckRecord] = []
    docs = write_acks(
        verdict,
        next_number,
        sender_qualifier=settings.receiver_qualifier,
        sender_id=settings.receiver_id,
        application_code=settings.receiver_application,
        created=created,
    )
    with OutgoingFiles(settings.home, submission_id) as out:
        for doc in docs:
            received = doc.received_control_number
            path = out.write(doc.kind, sender_of[received], doc.interchange_control_number,
                             test_of[received], doc.text)  # fmt: skip
            records.append(
                AckRecord(
                    kind=AckKind(doc.kind),
                    control_number=f"{doc.interchange_control_number:09d}",
                    answers_interchange=received,
                    answers_group=doc.group_control_number,
                    path=out.relative(path),
                    created_at=created,
                )
            )
        add_acks(session, submission_id, records)
    return out.paths
