"""The intake's tables: trading partners, submissions, interchanges seen, ack numbering, acks.

Every change here needs a migration in ``migrations/versions`` (the test suite compares the
two).  Later stages add their own tables beside these.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, UtcDateTime


class CarrierEnvironment(enum.StrEnum):
    TEST = "test"
    PRODUCTION = "production"


class SubmissionState(enum.StrEnum):
    """Where a submission stands.  The intake moves it archived → parsed → acknowledged, or
    to rejected (read to its end, but every interchange or set was rejected: nothing goes
    on) or failed (unreadable); ``received`` is for a row created before its bytes are
    archived; later stages move it on to normalised and matched."""

    RECEIVED = "received"
    ARCHIVED = "archived"
    PARSED = "parsed"
    ACKNOWLEDGED = "acknowledged"
    NORMALISED = "normalised"
    MATCHED = "matched"
    FAILED = "failed"
    REJECTED = "rejected"  # migration 0005


class AckKind(enum.StrEnum):
    TA1 = "TA1"
    FA997 = "997"


def _str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as the value in a VARCHAR with a CHECK, the same on SQLite and PostgreSQL,
    # so adding a state later is a constraint change rather than an ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Carrier(Base):
    """A trading partner: an insurer and the ISA identity its files are sent under."""

    __tablename__ = "carriers"
    __table_args__ = (
        UniqueConstraint("isa_qualifier", "isa_id"),
        CheckConstraint("length(naic) = 5", name="naic_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    naic: Mapped[str] = mapped_column(String(5), unique=True)
    isa_qualifier: Mapped[str] = mapped_column(String(2))  # ISA05
    isa_id: Mapped[str] = mapped_column(String(15))  # ISA06, without its padding
    environment: Mapped[CarrierEnvironment] = mapped_column(
        _str_enum(CarrierEnvironment, "carrier_environment")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Submission(Base):
    """One file received, whoever sent it; its bytes live in the archive under ``sha256``."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None when the file's sender is not a known carrier (or several carriers share a file).
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"), index=True)
    file_name: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    archive_path: Mapped[str] = mapped_column(Text)  # relative to settings.home when inside it
    state: Mapped[SubmissionState] = mapped_column(_str_enum(SubmissionState, "submission_state"))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    interchange_count: Mapped[int] = mapped_column(default=0, server_default="0")
    transaction_set_count: Mapped[int] = mapped_column(default=0, server_default="0")
    accepted_set_count: Mapped[int] = mapped_column(default=0, server_default="0")
    policy_count: Mapped[int] = mapped_column(default=0, server_default="0")
    vehicle_count: Mapped[int] = mapped_column(default=0, server_default="0")


class Interchange(Base):
    """One ISA..IEA received.  Interchanges the TA1 did not reject own their
    (sender, ISA13): a later interchange with the same key is a duplicate (TA1 025).
    Rejected ones are kept for the record but do not use up the number, so a carrier can
    correct and resend an interchange under the control number it was rejected with."""

    __tablename__ = "interchanges"
    __table_args__ = (
        Index(
            "uq_interchanges_sender_control_number",
            "sender_qualifier",
            "sender_id",
            "control_number",
            unique=True,
            sqlite_where=text("ta1_ack_code <> 'R'"),
            postgresql_where=text("ta1_ack_code <> 'R'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    sender_qualifier: Mapped[str] = mapped_column(String(2))  # ISA05
    sender_id: Mapped[str] = mapped_column(String(15))  # ISA06
    control_number: Mapped[str] = mapped_column(String(9))  # ISA13
    test: Mapped[bool]  # ISA15 == "T"
    ta1_ack_code: Mapped[str] = mapped_column(String(1))
    ta1_note_code: Mapped[str] = mapped_column(String(3))


class AckSequence(Base):
    """The last control number of one counter of acks sent to one trading partner, known
    carrier or not.  The intake keys them ``"<ISA06>:interchange"`` (reply ISA13) and
    ``"<ISA06>:group"`` (reply GS06), as ``parsers.write_acks`` asks for them."""

    __tablename__ = "ack_sequences"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class Ack(Base):
    """One TA1 or 997 interchange written back to a sender."""

    __tablename__ = "acks"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    kind: Mapped[AckKind] = mapped_column(_str_enum(AckKind, "ack_kind"))
    control_number: Mapped[str] = mapped_column(String(9))  # the ack's own ISA13
    answers_interchange: Mapped[str] = mapped_column(String(9))  # the received ISA13
    answers_group: Mapped[str | None] = mapped_column(String(9))  # the received GS06 (997)
    path: Mapped[str] = mapped_column(Text)  # relative to settings.home when inside it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
