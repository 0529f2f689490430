"""The pipeline's tables: functional groups and transaction sets received, units of work,
policy reports with their insureds, vehicles and business errors, and error returns.

Every row that a stage writes has a natural key (a unit's key, a report's ``RecordKey``, a
child's parent and ordinal) with a unique constraint on it, so that writing the same unit
twice changes nothing.  Migration: ``0002_records``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, UtcDateTime
from ._models import _str_enum


class UnitKind(enum.StrEnum):
    PARSE = "parse"
    NORMALIZE = "normalize"
    MATCH = "match"


class UnitState(enum.StrEnum):
    """``queued`` until its stage's transaction commits ``done``; ``failed`` once the
    retries are spent (the message is then in the dead-letter queue)."""

    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class FunctionalGroup(Base):
    """One GS..GE of an interchange the TA1 did not reject."""

    __tablename__ = "functional_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    interchange_id: Mapped[int] = mapped_column(ForeignKey("interchanges.id"), index=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # sub-1/ic-000000101/gs-101
    control_number: Mapped[str] = mapped_column(String(9))  # GS06
    sender_application: Mapped[str] = mapped_column(String(15))  # GS02
    ack_code: Mapped[str] = mapped_column(String(1))  # AK9-01
    error_codes: Mapped[str] = mapped_column(String(40), default="")  # AK9-05.., space-joined


class TransactionSet(Base):
    """One ST..SE.  Accepted sets (AK5 A or E) are split into normalize units; when the last
    of them is done (``chunks_done == chunks_total``) the set's error return is written."""

    __tablename__ = "transaction_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("functional_groups.id"), index=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # .../st-0001
    control_number: Mapped[str] = mapped_column(String(9))  # ST02
    ack_code: Mapped[str] = mapped_column(String(1))  # AK5-01
    error_codes: Mapped[str] = mapped_column(String(40), default="")
    test: Mapped[bool] = mapped_column(Boolean)  # ISA15 T: never production data
    policies: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    # What the error return needs to answer the set in the carrier's own terms.
    submission_ref: Mapped[str] = mapped_column(String(30), default="")  # BIG02
    insurer_name: Mapped[str] = mapped_column(String(120), default="")
    carrier_naic: Mapped[str] = mapped_column(String(9), default="")
    delimiters: Mapped[str] = mapped_column(String(3), default="*:~")  # element, component, segment


class WorkUnit(Base):
    """One message's worth of work and how far it got: the store, not the queue, is the
    truth (a server-less transport loses a fetched message in a crash).  ``payload`` holds
    what the stage needs (a normalize unit's policy blocks as JSON) until it is done;
    ``return_part`` what a done normalize unit gives its set's error return (JSON, written
    and read by ``epoi.pipeline._returns``) until the set's return is written."""

    __tablename__ = "work_units"
    __table_args__ = (Index("ix_work_units_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # sub-12/ic-.../chunk-3
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    set_id: Mapped[int | None] = mapped_column(ForeignKey("transaction_sets.id"), index=True)
    kind: Mapped[UnitKind] = mapped_column(_str_enum(UnitKind, "unit_kind"))
    state: Mapped[UnitState] = mapped_column(_str_enum(UnitState, "unit_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    policies: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[str | None] = mapped_column(Text)
    return_part: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PolicyReportRow(Base):
    """One normalised policy report (``schemas.policy.PolicyReport``), accepted, warned or
    rejected: a rejected record is stored too (guide §3)."""

    __tablename__ = "policy_reports"
    __table_args__ = (
        Index("ix_policy_reports_policy", "carrier_naic", "policy_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    natural_key: Mapped[str] = mapped_column(String(400), unique=True)  # RecordKey.as_string()
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("transaction_sets.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("work_units.id"), index=True)
    test: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(8))  # accepted | warned | rejected
    carrier_naic: Mapped[str | None] = mapped_column(String(9))
    insurer_name: Mapped[str | None] = mapped_column(String(120))
    jurisdiction: Mapped[str | None] = mapped_column(String(2))
    policy_number: Mapped[str | None] = mapped_column(String(30))
    transaction_type: Mapped[str | None] = mapped_column(String(3))
    policy_type: Mapped[str | None] = mapped_column(String(2))
    effective_date: Mapped[date | None] = mapped_column(Date)
    expiration_date: Mapped[date | None] = mapped_column(Date)
    cancellation_date: Mapped[date | None] = mapped_column(Date)
    file: Mapped[str] = mapped_column(Text)
    sender_id: Mapped[str] = mapped_column(String(15))
    interchange: Mapped[str] = mapped_column(String(9))
    group_control_number: Mapped[str] = mapped_column(String(9))
    transaction_set: Mapped[str] = mapped_column(String(9))
    policy_position: Mapped[int] = mapped_column(Integer)
    submission_ref: Mapped[str] = mapped_column(String(30))
    report_date: Mapped[date | None] = mapped_column(Date)
    schema_version: Mapped[int] = mapped_column(Integer)


class InsuredRow(Base):
    __tablename__ = "insureds"
    __table_args__ = (UniqueConstraint("policy_report_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_report_id: Mapped[int] = mapped_column(ForeignKey("policy_reports.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    last_name: Mapped[str | None] = mapped_column(String(60))
    first_name: Mapped[str | None] = mapped_column(String(35))
    middle_name: Mapped[str | None] = mapped_column(String(25))
    organisation_name: Mapped[str | None] = mapped_column(String(60))
    fein: Mapped[str | None] = mapped_column(String(9))
    licence_number: Mapped[str | None] = mapped_column(String(30))
    licence_state: Mapped[str | None] = mapped_column(String(2))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    address_lines: Mapped[str | None] = mapped_column(Text)  # lines joined by a newline
    city: Mapped[str | None] = mapped_column(String(30))
    state: Mapped[str | None] = mapped_column(String(2))
    zip: Mapped[str | None] = mapped_column(String(10))


class VehicleRow(Base):
    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("policy_report_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_report_id: Mapped[int] = mapped_column(ForeignKey("policy_reports.id"))
    ordinal: Mapped[int] = mapped_column(Integer)  # index into PolicyReport.vehicles
    vin: Mapped[str | None] = mapped_column(String(30))  # not indexed: 0008
    model_year: Mapped[int | None] = mapped_column(Integer)
    make: Mapped[str | None] = mapped_column(String(10))
    transaction: Mapped[str | None] = mapped_column(String(3))
    transaction_date: Mapped[date | None] = mapped_column(Date)
    # None until the match stage takes the vehicle up; then "pending" until matching
    # (issue 5) settles it.  Rejected and test records are never matched.
    match_state: Mapped[str | None] = mapped_column(String(16))


class BusinessErrorRow(Base):
    __tablename__ = "business_errors"
    __table_args__ = (UniqueConstraint("policy_report_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_report_id: Mapped[int] = mapped_column(ForeignKey("policy_reports.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(8), index=True)
    severity: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    segment_position: Mapped[int | None] = mapped_column(Integer)
    segment_id: Mapped[str | None] = mapped_column(String(3))
    element: Mapped[str | None] = mapped_column(String(8))
    vehicle_index: Mapped[int | None] = mapped_column(Integer)


class ErrorReturn(Base):
    """The error-return 811 written for one accepted transaction set (guide §3)."""

    __tablename__ = "error_returns"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("transaction_sets.id"), unique=True)
    control_number: Mapped[str] = mapped_column(String(9))  # the reply's ISA13
    group_control_number: Mapped[str] = mapped_column(String(9))  # the reply's GS06
    answers_interchange: Mapped[str] = mapped_column(String(9))
    answers_group: Mapped[str] = mapped_column(String(9))
    answers_set: Mapped[str] = mapped_column(String(9))
    path: Mapped[str] = mapped_column(Text)  # relative to settings.home when inside it
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
