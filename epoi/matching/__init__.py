"""Matching reported vehicles to registrations, coverage timelines, renewal clearance and
suspension candidates (companion guide §5)."""

from ..schemas.match import settle_pending
from ._files import clear_renewal_file, load_and_retry
from ._hook import pipeline_match_hook, reports_from_rows, sync_vehicle_states
from ._index import (
    InMemoryRegistrationIndex,
    NameProbe,
    NearVinProbe,
    RegisteredVehicle,
    RegistrationIndex,
    within_distance,
)
from ._load import LoadReport, load_registrations
from ._matcher import Owner, agreed_fields, match_many, match_one, owners_of
from ._names import last_name_agrees, name_key, name_keys, organisation_key
from ._near_vin import build_near_vin_index, current_near_vin
from ._queries import (
    MATCH_COLUMNS,
    OneVinVerifier,
    RegistrationState,
    Verification,
    clear_renewals,
    find_suspensions,
    match_rows,
    timelines,
    verify,
    verify_many,
)
from ._registrations import open_registration_file, read_registrations
from ._renewals import (
    HOLD_LABELS,
    Clearance,
    RenewalDue,
    SuspensionCandidate,
    clear_renewal,
    read_renewals,
    suspension_candidate,
    suspension_candidates,
)
from ._sql_index import SqlRegistrationIndex, vin_blocks
from ._stage import MatchCounts, match_units, retry_pending, settle_expired
from ._timeline import (
    CoverageReport,
    CoverageSpan,
    Timeline,
    coverage_on,
    coverage_timeline,
    spans_on,
    timelines_by_plate,
)

__all__ = [
    "OneVinVerifier",
    "clear_renewal_file",
    "load_and_retry",
    "LoadReport",
    "MATCH_COLUMNS",
    "MatchCounts",
    "RegistrationState",
    "SqlRegistrationIndex",
    "Verification",
    "build_near_vin_index",
    "current_near_vin",
    "clear_renewals",
    "find_suspensions",
    "load_registrations",
    "pipeline_match_hook",
    "reports_from_rows",
    "sync_vehicle_states",
    "match_rows",
    "match_units",
    "retry_pending",
    "settle_expired",
    "timelines",
    "verify",
    "verify_many",
    "vin_blocks",
    "HOLD_LABELS",
    "Clearance",
    "RenewalDue",
    "CoverageReport",
    "CoverageSpan",
    "SuspensionCandidate",
    "Timeline",
    "clear_renewal",
    "coverage_on",
    "coverage_timeline",
    "spans_on",
    "suspension_candidate",
    "suspension_candidates",
    "timelines_by_plate",
    "InMemoryRegistrationIndex",
    "NameProbe",
    "NearVinProbe",
    "Owner",
    "RegisteredVehicle",
    "RegistrationIndex",
    "agreed_fields",
    "last_name_agrees",
    "match_many",
    "match_one",
    "name_key",
    "name_keys",
    "organisation_key",
    "owners_of",
    "open_registration_file",
    "read_registrations",
    "read_renewals",
    "settle_pending",
    "within_distance",
]
