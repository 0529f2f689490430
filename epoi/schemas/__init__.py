"""The typed documents the stages exchange: pydantic models (and one ``NamedTuple``) with no
I/O and no dependency on the rest of epoi.

Public API: the submodules (``verdict``, ``policy``, ``match``, ``messages``,
``registration``, ``vin``) and their principal models, re-exported here.  Names that would be
ambiguous at package level stay in their module: each module's ``SCHEMA_VERSION``,
``policy.Address`` / ``policy.Vehicle``, and the VIN rules (``vin.normalize``,
``vin.check_digit``, ...).
"""

from __future__ import annotations

from . import match, messages, policy, registration, verdict, vin
from .match import AGREED_FIELDS, AgreedField, MatchResult, MatchState, MatchStep, settle_pending
from .messages import KINDS, DeadLetter, Envelope, Kind
from .policy import (
    BusinessError,
    Insured,
    NormalizedRecord,
    PolicyReport,
    RecordKey,
)
from .registration import Registration, RegistrationStatus, RowError, normalize_plate
from .verdict import (
    FileError,
    FileVerdict,
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    Ta1,
    TransactionSetVerdict,
)

__all__ = [
    "match",
    "messages",
    "policy",
    "registration",
    "verdict",
    "vin",
    "AGREED_FIELDS",
    "AgreedField",
    "MatchResult",
    "MatchState",
    "MatchStep",
    "settle_pending",
    "KINDS",
    "DeadLetter",
    "Envelope",
    "Kind",
    "BusinessError",
    "Insured",
    "NormalizedRecord",
    "PolicyReport",
    "RecordKey",
    "Registration",
    "RegistrationStatus",
    "RowError",
    "normalize_plate",
    "FileError",
    "FileVerdict",
    "GroupVerdict",
    "InterchangeVerdict",
    "Issue",
    "Ta1",
    "TransactionSetVerdict",
]
