"""The store: SQLAlchemy models, sessions and migrations.

Public API:

- ``Store(url)`` / ``Store.from_settings(settings)``: ``.session()`` (a transaction),
  ``.upgrade()`` (alembic upgrade head), ``.ensure_current()``, ``.dispose()``.
- the models: ``Carrier``, ``Submission``, ``Interchange``, ``AckSequence``, ``Ack`` and
  their enums; ``Base`` for the tables later stages add.
- the pipeline's tables (``_records``): functional groups, transaction sets, units of work,
  policy reports, insureds, vehicles, business errors, error returns; their repository
  functions (``_records_repo``).
- repository functions that run inside a caller's session (see ``_repo``).
- who may see what (``_access``): ``CarrierScope`` (a carrier's rows, or the whole state's)
  applied in SQL, ``scoped_submission`` (``NotFoundError`` alike for another carrier's and a
  missing submission), ``who`` and ``record_access`` (the append-only unmasked-use log).
- the HTTP service's bearer tokens (``_tokens``): ``issue_token``, ``token_for_secret``,
  ``list_tokens``, ``revoke_token``; only the sha256 of a secret is stored.

Migrations live in ``epoi/store/migrations/versions``; every model change needs one.
"""

from __future__ import annotations

from . import (
    _clearance,  # noqa: F401  (renewal clearance runs, migration 0005_reports)
    _registrations,  # noqa: F401  (the matching tables, migration 0003)
)
from ._access import (
    ACCESS_LOG,
    CarrierScope,
    NotFoundError,
    record_access,
    scoped_submission,
    who,
)
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
from ._records import (
    BusinessErrorRow,
    ErrorReturn,
    FunctionalGroup,
    InsuredRow,
    PolicyReportRow,
    TransactionSet,
    UnitKind,
    UnitState,
    VehicleRow,
    WorkUnit,
)
from ._records_repo import (
    GroupRecord,
    PriorReport,
    SetRecord,
    UnitRecord,
    add_error_return,
    add_records,
    add_units,
    count_chunk_done,
    error_returns_of,
    finish_unit,
    group_by_id,
    load_records,
    mark_vehicles_pending,
    note_unit_failure,
    prior_reports,
    queued_units,
    record_counts,
    record_groups_and_sets,
    records_for_return,
    refresh_payloads,
    reopen_units,
    reports_of_unit,
    requeue_submission,
    set_by_id,
    sets_of,
    unit_by_key,
    unit_counts,
    units_left,
    update_set,
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
    clean_test_interchanges,
    count_submissions,
    create_submission,
    interchanges_of,
    list_carriers,
    next_control_numbers,
    record_interchanges,
    release_interchanges,
    submission_by_id,
    update_submission,
)
from ._store import Store
from ._tokens import (
    ApiToken,
    TokenInfo,
    TokenRole,
    issue_token,
    list_tokens,
    revoke_token,
    token_for_secret,
)

__all__ = [
    "ACCESS_LOG",
    "CarrierScope",
    "NotFoundError",
    "record_access",
    "scoped_submission",
    "who",
    "ApiToken",
    "TokenInfo",
    "TokenRole",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "token_for_secret",
    "BusinessErrorRow",
    "ErrorReturn",
    "FunctionalGroup",
    "InsuredRow",
    "PolicyReportRow",
    "TransactionSet",
    "UnitKind",
    "UnitState",
    "VehicleRow",
    "WorkUnit",
    "GroupRecord",
    "PriorReport",
    "SetRecord",
    "UnitRecord",
    "add_error_return",
    "add_records",
    "add_units",
    "count_chunk_done",
    "error_returns_of",
    "finish_unit",
    "group_by_id",
    "load_records",
    "mark_vehicles_pending",
    "note_unit_failure",
    "prior_reports",
    "queued_units",
    "refresh_payloads",
    "reopen_units",
    "requeue_submission",
    "record_counts",
    "record_groups_and_sets",
    "records_for_return",
    "reports_of_unit",
    "set_by_id",
    "sets_of",
    "unit_by_key",
    "unit_counts",
    "units_left",
    "update_set",
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
    "clean_test_interchanges",
    "count_submissions",
    "create_submission",
    "interchanges_of",
    "list_carriers",
    "next_control_numbers",
    "record_interchanges",
    "release_interchanges",
    "submission_by_id",
    "update_submission",
]
