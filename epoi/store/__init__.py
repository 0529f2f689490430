"""The store: SQLAlchemy models, sessions and migrations.

Public API:

- ``Store(url)`` / ``Store.from_settings(settings)``: ``.session()`` (a transaction),
  ``.upgrade()`` (alembic upgrade head), ``.ensure_current()``, ``.dispose()``.
- the models: ``Carrier``, ``Submission``, ``Interchange``, ``AckSequence``, ``Ack`` and
  their enums; ``Base`` for the tables later stages add.
- the pipeline's tables (``_records``): functional groups, transaction sets, units of work,
  policy reports, insureds, vehicles, business errors, error returns; their repository
  functions: units of work (``_units_repo``), groups and sets (``_sets_repo``), record
  writes and counts (``_records_repo``), reads and prior-report lookups (``_records_read``).
- repository functions that run inside a caller's session (see ``_repo``).
- who may see what (``_access``): ``CarrierScope`` (a carrier's rows, or the whole state's)
  applied in SQL, ``scoped_submission`` (``NotFoundError`` alike for another carrier's and a
  missing submission), ``who`` and ``record_access`` (the append-only unmasked-use log).
- the HTTP service's bearer tokens (``_tokens``): ``issue_token``, ``token_for_secret``,
  ``list_tokens``, ``revoke_token``; only the sha256 of a secret is stored (``hash_secret``).

Migrations live in ``epoi/store/migrations/versions``; every model change needs one.
"""

from __future__ import annotations

from ._access import (
    ACCESS_LOG,
    CarrierScope,
    NotFoundError,
    record_access,
    scoped_submission,
    who,
)
from ._base import Base, UtcDateTime
from ._clearance import (  # renewal clearance runs, migration 0005_reports
    ClearanceResult,
    clearance_results,
    clearance_runs,
    record_clearance_run,
)
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
from ._records_read import (
    PriorReport,
    error_returns_of,
    load_records,
    prior_reports,
    record_key_of,
    records_for_return,
    reports_of_unit,
)
from ._records_repo import (
    add_error_return,
    add_records,
    mark_vehicles_pending,
    record_counts,
    store_records,
)
from ._registrations import (  # the matching tables, migration 0003
    NAME_KEY_INDEXES,
    REGISTRATION_INDEXES,
    match_reports,
    match_results,
    registration_loads,
    registration_name_keys,
    registrations,
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
    sqlite_values,
    submission_by_id,
    update_submission,
)
from ._sets_repo import (
    GroupRecord,
    SetRecord,
    count_chunk_done,
    group_by_id,
    record_groups_and_sets,
    set_by_id,
    sets_of,
    update_set,
)
from ._store import Store
from ._tokens import (
    ApiToken,
    TokenInfo,
    TokenRole,
    hash_secret,
    issue_token,
    list_tokens,
    revoke_token,
    token_for_secret,
)
from ._units_repo import (
    Unit,
    UnitRecord,
    add_units,
    finish_unit,
    note_unit_failure,
    queued_units,
    refresh_payloads,
    reopen_units,
    requeue_submission,
    unit_by_key,
    unit_counts,
    units_left,
    units_left_by_kind,
)

__all__ = [
    "record_key_of",
    "sqlite_values",
    "ACCESS_LOG",
    "CarrierScope",
    "NotFoundError",
    "record_access",
    "scoped_submission",
    "who",
    "NAME_KEY_INDEXES",
    "REGISTRATION_INDEXES",
    "match_reports",
    "match_results",
    "registration_loads",
    "registration_name_keys",
    "registrations",
    "ClearanceResult",
    "clearance_results",
    "clearance_runs",
    "record_clearance_run",
    "ApiToken",
    "TokenInfo",
    "TokenRole",
    "hash_secret",
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
    "Unit",
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
    "store_records",
    "reports_of_unit",
    "set_by_id",
    "sets_of",
    "unit_by_key",
    "unit_counts",
    "units_left",
    "units_left_by_kind",
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
