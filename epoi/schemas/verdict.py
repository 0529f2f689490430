"""What validating a file found: the shape of ``epoi validate --json`` (cli.md) and the
input of the TA1 and 997 writers.  Both validation engines produce these models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

# TA1-04 and AK5-01: accepted, accepted with errors, rejected.
AckCode = Literal["A", "E", "R"]
# AK9-01 adds P: some of the group's sets accepted, some rejected.
GroupAckCode = Literal["A", "E", "P", "R"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Issue(_Frozen):
    """One finding inside a transaction set: an X12 segment/element error (``ack`` is
    ``AK3`` or ``AK4`` and ``code`` the standard X12 code) or a business edit
    (``ack`` is None and ``code`` an E-code).  Messages carry no personal data."""

    code: str
    severity: Literal["error", "warning"] = "error"
    message: str
    ack: Literal["AK3", "AK4"] | None = None
    policy_number: str | None = None
    segment_position: int | None = None  # within the transaction set, ST = 1
    segment_id: str | None = None
    loop_id: str | None = None  # AK3-03, e.g. "2000C"
    element: str | None = None  # e.g. "VEH02"
    element_position: int | None = None  # AK4-01
    component_position: int | None = None
    data_element: str | None = None  # AK4-02, the data element reference number
    # The policy the error is inside (guide §3, scope of a rejection): the position (ST = 1)
    # of the policy's HL; None for an error that is the set's.  Left out of the JSON when None.
    policy_position: int | None = Field(default=None, exclude_if=lambda v: v is None)


class Ta1(_Frozen):
    ack_code: AckCode = "A"
    note_code: str = "000"


class FileError(_Frozen):
    code: str
    message: str
    segment_position: int | None = None  # 1-based in the file


class TransactionSetVerdict(_Frozen):
    control_number: str
    id_code: str = "811"
    ack_code: AckCode = "A"  # AK5-01
    error_codes: list[str] = Field(default_factory=list)  # AK5-02..06
    policies: int = 0
    vehicles: int = 0
    rejected: int = 0
    warnings: int = 0
    errors: list[Issue] = Field(default_factory=list)
    errors_truncated: int = 0  # findings beyond settings.max_errors_per_set, counted only
    # Positions (ST = 1) of the HL of every policy rejected for an element or segment error
    # inside its HL subtree while the set itself is accepted (AK5 E; guide §3, scope of a
    # rejection).  Left out of the JSON when empty.
    rejected_policies: list[int] = Field(default_factory=list, exclude_if=lambda v: not v)


class GroupVerdict(_Frozen):
    control_number: str
    functional_id: str = "CI"  # GS01
    version: str = "004010"  # GS08
    sender: str = ""  # GS02
    receiver: str = ""  # GS03
    ack_code: GroupAckCode = "A"  # AK9-01
    error_codes: list[str] = Field(default_factory=list)  # AK9-05..09
    sets_included: int = 0  # GE01 as sent
    sets_received: int = 0
    sets_accepted: int = 0
    transaction_sets: list[TransactionSetVerdict] = Field(default_factory=list)


class InterchangeVerdict(_Frozen):
    control_number: str
    sender_qualifier: str = ""
    sender_id: str = ""
    receiver_qualifier: str = ""
    receiver_id: str = ""
    date: str = ""  # ISA09 as sent (YYMMDD); echoed in TA1-02
    time: str = ""  # ISA10 as sent (HHMM); echoed in TA1-03
    version: str = "00401"
    test: bool = False
    ack_requested: bool = False
    element_separator: str = "*"
    component_separator: str = ":"
    segment_terminator: str = "~"
    ta1: Ta1 = Field(default_factory=Ta1)
    groups: list[GroupVerdict] = Field(default_factory=list)


class FileVerdict(_Frozen):
    file: str
    accepted: bool
    error: FileError | None = None
    interchanges: list[InterchangeVerdict] = Field(default_factory=list)
