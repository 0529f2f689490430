"""Who may see what, and who saw personal data.

- ``CarrierScope``: the carrier a carrier-facing command acts as (``--carrier NAIC``), or the
  whole state (no ``--carrier``: operators and auditors).  Queries take a scope and apply it
  in SQL (:meth:`CarrierScope.submissions`), so another carrier's rows are never read, let
  alone printed; a submission of another carrier is "not found", exactly like one that does
  not exist (:func:`scoped_submission`).
- ``record_access``: one JSON line in ``$EPOI_HOME/access.log`` for every unmasked use of a
  report (who, when, what), append-only.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ._models import Carrier, Submission
from ._repo import carrier_by_naic

# Any SELECT, whatever its columns: the scope only adds a WHERE clause.
_Stmt = TypeVar("_Stmt", bound="Select[*tuple[Any, ...]]")

ACCESS_LOG = "access.log"


class NotFoundError(ConfigError):
    """A submission that does not exist, or is not the scope's to see: the two are
    deliberately the same code, message and exit code (2, as for any unknown id given on
    the command line), so a carrier cannot probe for another carrier's submission ids."""


@dataclass(frozen=True, slots=True)
class CarrierScope:
    """``carrier_id`` None: everything (the state's own view)."""

    carrier_id: int | None = None
    naic: str | None = None
    name: str | None = None

    @classmethod
    def everything(cls) -> CarrierScope:
        return cls()

    @classmethod
    def for_naic(cls, session: Session, naic: str | None) -> CarrierScope:
        """The scope of ``--carrier NAIC``; an unknown NAIC is a usage error (exit 2)."""
        if naic is None:
            return cls()
        carrier = carrier_by_naic(session, naic)
        if carrier is None:
            raise ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")
        return cls(carrier_id=carrier.id, naic=carrier.naic, name=carrier.name)

    @property
    def is_carrier(self) -> bool:
        return self.carrier_id is not None

    def submissions(self, stmt: _Stmt) -> _Stmt:
        """``stmt`` restricted to the scope's submissions.  ``stmt`` must already select
        from or join ``submissions``; submissions of an unknown sender belong to no
        carrier and so are outside every carrier's scope."""
        if self.carrier_id is None:
            return stmt
        return stmt.where(Submission.carrier_id == self.carrier_id)

    def carriers(self, stmt: _Stmt) -> _Stmt:
        """``stmt`` (over ``carriers``) restricted to the scope's own carrier."""
        if self.carrier_id is None:
            return stmt
        return stmt.where(Carrier.id == self.carrier_id)


def scoped_submission(session: Session, scope: CarrierScope, submission_id: int) -> Submission:
    """The submission, if it exists and is in scope; otherwise ``NotFoundError`` (exit 2)
    with the same message either way."""
    row = session.scalars(
        scope.submissions(select(Submission).where(Submission.id == submission_id))
    ).one_or_none()
    if row is None:
        raise NotFoundError("SUBMISSION", f"no submission {submission_id}")
    return row


def who(explicit: str | None = None) -> str:
    """The person on whose behalf a command runs: ``--as`` if given, else the login name."""
    if explicit:
        return explicit
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # no passwd entry (containers): still record something
        return "unknown"


def record_access(
    home: Path,
    *,
    user: str,
    when: datetime,
    command: str,
    report: str,
    carrier: str | None = None,
    submission: int | None = None,
    period: tuple[str | None, str | None] = (None, None),
) -> Path:
    """Append one line to the access log before the unmasked output is produced, so that
    a use is never unrecorded (a failed write stops the command)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / ACCESS_LOG
    line = {
        "who": user,
        "when": when.isoformat(),
        "command": command,
        "report": report,
        "carrier": carrier,
        "submission": submission,
        "from": period[0],
        "to": period[1],
        "unmasked": True,
    }
    # O_APPEND: concurrent writers each add whole lines.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")
    return path
