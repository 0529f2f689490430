"""The report model: one frozen, typed model per report kind, made of sections of typed rows.

A report is data only.  The query functions (``_queries``) fill it from the store; the
renderers (``_render_*``) turn it into JSON, CSV and HTML.  All three renderers read the same
``Section`` tables (:meth:`Report.sections`), so the numbers cannot differ between formats.

Each report kind declares its sections in ``SECTIONS``: which field holds the rows, the
section's title, and how to chart it (if at all).  A section whose field is ``None`` was not
available (for example no renewal clearance stored) and is left out with a note instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

ReportKind = Literal["summary", "submission", "carrier", "unmatched", "timeliness"]
Cell = str | int | float | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- rows ----------------------------------------------------------------------------------


class KeyFigure(_Frozen):
    """One headline number, derived from the report's other sections."""

    measure: str
    value: int | float


class DayVolume(_Frozen):
    day: date
    submissions: int
    policies: int
    vehicles: int
    accepted: int
    warned: int
    rejected: int


class OutcomeCount(_Frozen):
    """How many things ended how, at one level: files (submission state), transaction sets
    (997 AK5 code) or records (business edits)."""

    level: Literal["file", "transaction set", "record"]
    outcome: str
    count: int


class ErrorCount(_Frozen):
    code: str
    severity: str
    description: str
    errors: int  # findings
    records: int  # distinct policy reports carrying the code


class MatchStepCount(_Frozen):
    """Match results by how they ended; ``percent`` of all results.  A reported vehicle has
    one result; a fleet policy (CF) one per vehicle its owner has registered."""

    outcome: str  # "step 1: VIN exact" ... "pending", "unmatched", "ambiguous"
    vehicles: int
    percent: float


class AgeingBucket(_Frozen):
    """Vehicles still without a match, by days since their submission was received."""

    age: str  # "0-7 days" ...
    pending: int
    unmatched: int


class ClearanceCount(_Frozen):
    """Renewals of the stored clearance runs (``epoi renewals clear``) by outcome."""

    outcome: str  # "cleared", "held: <reason>"
    renewals: int
    percent: float  # of all renewals of the runs


class ClearanceRun(_Frozen):
    """One stored ``epoi renewals clear`` run."""

    run_id: int
    file_name: str
    as_of: date
    run_at: datetime
    renewals: int
    cleared: int
    held: int
    bad_rows: int


class LateCount(_Frozen):
    """E301 per carrier: new coverage (NBS, RWL, REI) > late_new_days, terminations and
    changes (CHG, XLC) > late_change_days after they took effect."""

    carrier_naic: str
    carrier_name: str
    policies: int
    new_coverage_late: int
    changes_late: int
    late_percent: float  # of the carrier's policy reports


class SubmissionRow(_Frozen):
    submission_id: int
    carrier_naic: str
    file_name: str
    received_at: datetime
    state: str
    error_code: str
    policies: int
    vehicles: int
    accepted: int
    warned: int
    rejected: int


class AckRow(_Frozen):
    kind: str  # TA1, 997, error return
    control_number: str
    answers_interchange: str
    answers_group: str
    created_at: datetime


class RecordFinding(_Frozen):
    """One rejected or warned record of a submission: what and where, never a data value
    other than the carrier's own policy number."""

    policy_number: str
    transaction_type: str
    status: str
    codes: str  # space-joined E-codes in file order
    transaction_set: str
    policy_position: int


class UnmatchedVehicle(_Frozen):
    """A reported vehicle without a match.  ``insured``, ``licence``, ``date_of_birth`` and
    ``fein`` are masked unless the report was asked for unmasked (and that use logged)."""

    carrier_naic: str
    submission_id: int
    policy_number: str
    transaction_type: str
    effective_date: date | None
    vin: str
    state: str  # pending | unmatched | ambiguous
    age_days: int
    insured: str
    licence: str
    date_of_birth: str
    fein: str


class LagBucket(_Frozen):
    """Policy reports per carrier and transaction type by days between taking effect and
    being received; ``late`` counts E301 findings (the business edit is the rule)."""

    carrier_naic: str
    transaction_type: str
    reports: int
    days_0_30: int
    days_31_45: int
    days_46_90: int
    days_over_90: int
    late: int
    late_percent: float
    max_lag_days: int | None


# -- sections ------------------------------------------------------------------------------


ChartKind = Literal["stacked-bars", "bars", "hbars"]


@dataclass(frozen=True, slots=True)
class SectionSpec:
    field: str
    title: str
    chart: ChartKind | None = None
    chart_label: str | None = None  # the column naming each bar
    chart_values: tuple[str, ...] = ()  # the columns drawn (stacked in this order)


@dataclass(frozen=True, slots=True)
class Section:
    """One table of a report, as the renderers see it."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    spec: SectionSpec

    def column(self, name: str) -> list[Cell]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")  # an auditor reads seconds, not micro
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class Report(_Frozen):
    kind: ClassVar[ReportKind]
    title: ClassVar[str]
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = ()

    generated_at: datetime
    period_from: date | None = None
    period_to: date | None = None
    masked: bool = True
    notes: tuple[str, ...] = ()

    def subject(self) -> str:
        """What the report is about, for its heading."""
        return "all carriers"

    def sections(self) -> tuple[Section, ...]:
        out = []
        for spec in self.SECTIONS:
            rows = getattr(self, spec.field)
            if rows is None:
                continue
            row_type = type(self).model_fields[spec.field].annotation
            columns = _row_columns(row_type)
            out.append(
                Section(
                    name=spec.field,
                    title=spec.title,
                    columns=columns,
                    rows=tuple(tuple(_cell(getattr(r, c)) for c in columns) for r in rows),
                    spec=spec,
                )
            )
        return tuple(out)

    def header(self) -> dict[str, Cell]:
        return {
            "kind": self.kind,
            "title": self.title,
            "subject": self.subject(),
            "generated_at": _cell(self.generated_at),
            "period_from": _cell(self.period_from),
            "period_to": _cell(self.period_to),
            "masked": self.masked,
        }


def _row_columns(annotation: object) -> tuple[str, ...]:
    # Section fields are ``tuple[Row, ...]`` or ``tuple[Row, ...] | None``.
    from typing import get_args

    stack = [annotation]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, _Frozen):
            return tuple(t.model_fields)
        stack.extend(get_args(t))
    raise TypeError(f"not a section of rows: {annotation!r}")


# -- the report kinds ---------------------------------------------------------------------


class SummaryReport(Report):
    kind: ClassVar[ReportKind] = "summary"
    title: ClassVar[str] = "e-POI summary"
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = (
        SectionSpec("key_figures", "Key figures"),
        SectionSpec("volumes", "Volumes per day", "stacked-bars", "day",
                    ("accepted", "warned", "rejected")),
        SectionSpec("outcomes", "Accepted, warned and rejected"),
        SectionSpec("errors", "Errors by code", "hbars", "code", ("errors",)),
        SectionSpec("match_steps", "Match rate by step", "hbars", "outcome", ("vehicles",)),
        SectionSpec("ageing", "Unmatched ageing", "stacked-bars", "age", ("pending", "unmatched")),
        SectionSpec("clearance", "Renewal clearance outcomes", "hbars", "outcome", ("renewals",)),
        SectionSpec("clearance_runs", "Renewal clearance runs"),
        SectionSpec("late", "Late reporting per carrier (E301)", "stacked-bars", "carrier_naic",
                    ("new_coverage_late", "changes_late")),
    )

    key_figures: tuple[KeyFigure, ...] = ()
    volumes: tuple[DayVolume, ...] = ()
    outcomes: tuple[OutcomeCount, ...] = ()
    errors: tuple[ErrorCount, ...] = ()
    match_steps: tuple[MatchStepCount, ...] = ()
    ageing: tuple[AgeingBucket, ...] = ()
    clearance: tuple[ClearanceCount, ...] | None = None
    clearance_runs: tuple[ClearanceRun, ...] | None = None
    late: tuple[LateCount, ...] = ()


class SubmissionReport(Report):
    kind: ClassVar[ReportKind] = "submission"
    title: ClassVar[str] = "e-POI submission"
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = (
        SectionSpec("submission", "Submission"),
        SectionSpec("acks", "Acknowledgements"),
        SectionSpec("outcomes", "Accepted, warned and rejected"),
        SectionSpec("errors", "Errors by code", "hbars", "code", ("errors",)),
        SectionSpec("match_steps", "Match rate by step", "hbars", "outcome", ("vehicles",)),
        SectionSpec("findings", "Rejected and warned records"),
    )

    submission_id: int
    submission: tuple[SubmissionRow, ...] = ()
    acks: tuple[AckRow, ...] = ()
    outcomes: tuple[OutcomeCount, ...] = ()
    errors: tuple[ErrorCount, ...] = ()
    match_steps: tuple[MatchStepCount, ...] = ()
    findings: tuple[RecordFinding, ...] = ()

    def subject(self) -> str:
        return f"submission {self.submission_id}"


class CarrierReport(Report):
    kind: ClassVar[ReportKind] = "carrier"
    title: ClassVar[str] = "e-POI carrier report"
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = (
        SectionSpec("key_figures", "Key figures"),
        SectionSpec("submissions", "Submissions"),
        SectionSpec("volumes", "Volumes per day", "stacked-bars", "day",
                    ("accepted", "warned", "rejected")),
        SectionSpec("outcomes", "Accepted, warned and rejected"),
        SectionSpec("errors", "Errors by code", "hbars", "code", ("errors",)),
        SectionSpec("match_steps", "Match rate by step", "hbars", "outcome", ("vehicles",)),
        SectionSpec("late", "Late reporting (E301)"),
    )

    carrier_naic: str
    carrier_name: str
    key_figures: tuple[KeyFigure, ...] = ()
    submissions: tuple[SubmissionRow, ...] = ()
    volumes: tuple[DayVolume, ...] = ()
    outcomes: tuple[OutcomeCount, ...] = ()
    errors: tuple[ErrorCount, ...] = ()
    match_steps: tuple[MatchStepCount, ...] = ()
    late: tuple[LateCount, ...] = ()

    def subject(self) -> str:
        return f"carrier {self.carrier_naic} {self.carrier_name}"


class UnmatchedReport(Report):
    kind: ClassVar[ReportKind] = "unmatched"
    title: ClassVar[str] = "e-POI unmatched vehicles"
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = (
        SectionSpec("ageing", "Unmatched ageing", "stacked-bars", "age", ("pending", "unmatched")),
        SectionSpec("vehicles", "Vehicles without a match"),
    )

    carrier_naic: str | None = None
    ageing: tuple[AgeingBucket, ...] = ()
    vehicles: tuple[UnmatchedVehicle, ...] = ()
    truncated: int = 0  # vehicles left out of the list beyond the row limit

    def subject(self) -> str:
        return f"carrier {self.carrier_naic}" if self.carrier_naic else "all carriers"


class TimelinessReport(Report):
    kind: ClassVar[ReportKind] = "timeliness"
    title: ClassVar[str] = "e-POI reporting timeliness"
    SECTIONS: ClassVar[tuple[SectionSpec, ...]] = (
        SectionSpec("late", "Late reporting per carrier (E301)", "stacked-bars", "carrier_naic",
                    ("new_coverage_late", "changes_late")),
        SectionSpec("lags", "Days from taking effect to receipt"),
    )

    carrier_naic: str | None = None
    late: tuple[LateCount, ...] = ()
    lags: tuple[LagBucket, ...] = ()

    def subject(self) -> str:
        return f"carrier {self.carrier_naic}" if self.carrier_naic else "all carriers"


AnyReport = SummaryReport | SubmissionReport | CarrierReport | UnmatchedReport | TimelinessReport
