"""The store: SQLAlchemy models, sessions and migrations.

Public API:

- ``Store(url)`` / ``Store.from_settings(settings)``: ``.session()`` (a transaction),
  ``.upgrade()`` (alembic upgrade head), ``.ensure_current()``, ``.dispose()``.
- the models: ``Carrier``, ``Submission``, ``Interchange``, ``AckSequence``, ``Ack`` and
  their enums; ``Base`` for the tables later stages add.
- repository functions that run inside a caller's session (see ``_repo``).

Migrations live in ``epoi/store/migrations/versions``; every model change needs one.
"""

from __future__ import annotations

from ._base import Base, UtcDateTime
from ._models import (
    Ack,
    AckKind,
    AckSequence,
    Carrier,
    CarrierEnvironment,
    Interchange,
    Submission,
    SubmissionState,
)
from ._repo import (
    AckRecord,
    InterchangeRecord,
    acks_of,
    add_acks,
    add_carrier,
    carrier_by_naic,
    carriers_by_sender,
    claim_interchanges,
    count_submissions,
    create_submission,
    interchanges_of,
    list_carriers,
    next_control_numbers,
    record_interchanges,
    submission_by_id,
    update_submission,
)
from ._store import Store

__all__ = [
    "Ack",
    "AckKind",
    "AckRecord",
    "AckSequence",
    "Base",
    "Carrier",
    "CarrierEnvironment",
    "Interchange",
    "InterchangeRecord",
    "Store",
    "Submission",
    "SubmissionState",
    "UtcDateTime",
    "acks_of",
    "add_acks",
    "add_carrier",
    "carrier_by_naic",
    "carriers_by_sender",
    "claim_interchanges",
    "count_submissions",
    "create_submission",
    "interchanges_of",
    "list_carriers",
    "next_control_numbers",
    "record_interchanges",
    "submission_by_id",
    "update_submission",
]
