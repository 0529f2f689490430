"""The error-return 811 (companion guide §3): the state's answer to the business edits.

One interchange with one functional group per received functional group, one transaction
set per received transaction set (its ST02 echoes the received one, its BIG02 the carrier's
submission identifier, so the carrier can match the reply to what it sent).  Per set: the
insurer (HL 1) and the state(s) (HL 2), and for every rejected or warned record its policy
level (HL 4) with ``SI*ZZ*EC*<code>...`` and one ``PID*F****<message>`` per finding, and the
vehicle levels (HL 5) that carry findings of their own.  Accepted records are not echoed; a
set without findings still gets its insurer and state levels, so the carrier always hears
back.

Personal data: the reply goes back to the carrier that sent the data, but it echoes only
what identifies a record (NAIC, policy number, transaction and policy type, coverage dates,
VIN, model year, make) and never an insured's name, address, licence or date of birth;
the messages name fields, never values.  No clock: dates and control numbers come in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..errors import ConfigError
from ..parsers import Delimiters
from ..schemas.policy import (
    POLICY_TYPES,
    TRANSACTION_TYPES,
    NormalizedRecord,
    PolicyReport,
)

__all__ = ["Echo", "ReturnEnvelope", "ReturnSet", "echo", "write_error_return"]

_PID_MAX = 80  # PID05 is AN 1-80
_SI_MAX_PAIRS = 10  # SI02..SI21
_MAX_CONTROL_NUMBER = 999_999_999  # ISA13 and GS06: at most 9 digits


def _fixed(value: str, width: int, name: str) -> str:
    if not value.strip() or len(value) > width:
        raise ConfigError(
            "RETURN-ENVELOPE", f"{name} of the error return must be 1 to {width} characters"
        )
    return value.ljust(width)


def _control_number(n: int, name: str) -> int:
    if not 1 <= n <= _MAX_CONTROL_NUMBER:
        raise ConfigError(
            "RETURN-CONTROL-NUMBER",
            f"{name} of the error return must be 1 to {_MAX_CONTROL_NUMBER}",
        )
    return n


@dataclass(frozen=True, slots=True)
class ReturnEnvelope:
    """The envelope of the reply: the state sends, the carrier receives."""

    sender_qualifier: str  # the state's ISA05 (settings.receiver_qualifier)
    sender_id: str  # settings.receiver_id
    receiver_qualifier: str  # the carrier's ISA05 as received
    receiver_id: str  # the carrier's ISA06 as received
    sender_application: str  # GS02: settings.receiver_application
    receiver_application: str  # GS03: the carrier's GS02 as received
    interchange_control_number: int  # ISA13 of the reply
    group_control_number: int  # GS06 of the reply
    created_at: datetime  # ISA09/10, GS04/05, BIG01
    test: bool = False  # ISA15 T when the received interchange was a test
    delimiters: Delimiters = Delimiters()  # those of the received interchange
    line_break: str = ""  # after each terminator ("\n" for people); readers ignore it


@dataclass(frozen=True, slots=True)
class Echo:
    """A rejected or warned record as its set's error return echoes it, rendered ahead with
    the set's delimiters (``echo``): the segments of its policy level after its HL and LX,
    and of each vehicle level with findings after its HL.  Only the HL numbers and the
    policy's LX wait for the whole set, so a set's echoes can be rendered chunk by chunk,
    where the records are normalised, and the set's return put together from them."""

    jurisdiction: str
    position: int  # in the set: the echoes go out in this order
    insurer: tuple[tuple[str, str], ...]  # its insurer-level findings (code, message)
    policy: tuple[str, ...]
    vehicles: tuple[tuple[str, ...], ...]
    insurer_name: str = ""  # as the record reports them
    carrier_naic: str = ""


@dataclass(frozen=True, slots=True)
class ReturnSet:
    """What one received transaction set produced: its rejected and warned records, as
    records or as their echoes rendered ahead (``echoes``, used when given)."""

    transaction_set: str  # received ST02, echoed as the reply's ST02
    submission_ref: str  # received BIG02
    insurer_name: str
    carrier_naic: str
    jurisdictions: tuple[str, ...]  # HL 2 levels, in order of appearance
    records: tuple[NormalizedRecord, ...] = field(default=())
    echoes: tuple[Echo, ...] | None = None

    @classmethod
    def from_records(
        cls,
        records: Sequence[NormalizedRecord],
        *,
        transaction_set: str,
        submission_ref: str,
        insurer_name: str = "",
        carrier_naic: str = "",
        jurisdictions: Sequence[str] = (),
    ) -> ReturnSet:
        """Insurer and states default to those the records report."""
        reports = [r.report for r in records]
        named = dict.fromkeys([*jurisdictions, *(r.jurisdiction or "" for r in reports)])
        names = [j for j in named if j]
        first: PolicyReport | None = reports[0] if reports else None
        return cls(
            transaction_set=transaction_set,
            submission_ref=submission_ref,
            insurer_name=insurer_name or (first.insurer_name or "" if first else ""),
            carrier_naic=carrier_naic or (first.carrier_naic or "" if first else ""),
            jurisdictions=tuple(names),
            records=tuple(records),
        )


class _Writer:
    def __init__(self, d: Delimiters, line_break: str) -> None:
        self._d = d
        self._end = d.segment + line_break
        # A delimiter inside a value becomes a blank (one ``str.translate``, in C).
        unsafe = {c for c in (d.element, d.component, d.segment, d.repetition) if c}
        self._blank = str.maketrans(dict.fromkeys(unsafe, " "))
        self.segments: list[str] = []

    def clean(self, value: object) -> str:
        if value is None:
            return ""
        return (value if isinstance(value, str) else str(value)).translate(self._blank).strip()

    def seg(self, *elements: object) -> None:
        values = [self.clean(e) for e in elements]
        while len(values) > 1 and values[-1] == "":  # no trailing empty elements
            values.pop()
        self.segments.append(self._d.element.join(values))

    def text(self) -> str:
        return "".join(s + self._end for s in self.segments)


def _ymd(d: date | None) -> str:
    return d.strftime("%Y%m%d") if d else ""


def _findings(w: _Writer, errors: Sequence[tuple[str, str]]) -> None:
    """(code, message) pairs: SI segments of up to ten codes, then a PID per message."""
    for start in range(0, len(errors), _SI_MAX_PAIRS):
        pairs: list[str] = []
        for code, _message in errors[start : start + _SI_MAX_PAIRS]:
            pairs += ["EC", code]
        w.seg("SI", "ZZ", *pairs)
    for _code, message in errors:
        w.seg("PID", "F", "", "", "", w.clean(message)[:_PID_MAX])


def echo(records: Iterable[NormalizedRecord], delimiters: Delimiters) -> list[Echo]:
    """The echoes of the rejected and warned ones of ``records`` (accepted records are not
    echoed), rendered with the delimiters of the set's return."""
    w = _Writer(delimiters, "")
    return [_echo(w, r) for r in records if r.status != "accepted"]


def _echo(w: _Writer, record: NormalizedRecord) -> Echo:
    report = record.report
    own = [(e.code, e.message) for e in record.errors if e.level == "policy"]
    by_vehicle: dict[int, list[tuple[str, str]]] = {}
    for e in record.errors:
        if e.level == "vehicle" and e.vehicle_index is not None:
            by_vehicle.setdefault(e.vehicle_index, []).append((e.code, e.message))
    w.segments = []
    if report.policy_number:
        w.seg("REF", "IG", report.policy_number)
    # The SI echo only when both codes are in the code list; an unknown code is the finding.
    if report.transaction_type in TRANSACTION_TYPES and report.policy_type in POLICY_TYPES:
        w.seg("SI", "ZZ", "TT", report.transaction_type, "PT", report.policy_type)
    _findings(w, own)
    for qualifier, value in (
        ("007", report.effective_date),
        ("036", report.expiration_date),
        ("177", report.cancellation_date),
    ):
        if value:
            w.seg("DTM", qualifier, _ymd(value))
    policy = tuple(w.segments)
    vehicles: list[tuple[str, ...]] = []
    for index in sorted(by_vehicle):
        w.segments = []
        vehicle = report.vehicles[index] if index < len(report.vehicles) else None
        w.seg("LX", index + 1)
        if vehicle is not None:
            make = vehicle.make or ""
            w.seg(
                "VEH",
                index + 1,
                vehicle.vin or "",
                vehicle.model_year or "",
                "ZZ" if make else "",
                make,
            )
        else:
            w.seg("VEH", index + 1)
        _findings(w, by_vehicle[index])
        vehicles.append(tuple(w.segments))
    return Echo(
        jurisdiction=report.jurisdiction or "",
        position=report.key.policy_position,
        insurer=tuple((e.code, e.message) for e in record.errors if e.level == "insurer"),
        policy=policy,
        vehicles=tuple(vehicles),
        insurer_name=report.insurer_name or "",
        carrier_naic=report.carrier_naic or "",
    )


def _set(w: _Writer, rset: ReturnSet, echoes: Sequence[Echo], created: datetime) -> None:
    w.seg("BIG", created.strftime("%Y%m%d"), rset.submission_ref)
    w.seg("HL", 1, "", "1", "1")
    w.seg("NM1", "IN", "2", rset.insurer_name, "", "", "", "", "NI", rset.carrier_naic)
    # Insurer-level findings (E001) repeat on every record of the set: say them once.
    _findings(w, list(dict.fromkeys(pair for e in echoes for pair in e.insurer)))
    # A record's state is echoed even if the caller forgot to list it: never drop a finding.
    states = dict.fromkeys([*rset.jurisdictions, *(e.jurisdiction for e in echoes)])
    hl = 2
    for jurisdiction in states or ("",):
        mine = [e for e in echoes if e.jurisdiction == jurisdiction]
        state_hl = hl
        w.seg("HL", state_hl, 1, "2", "1" if mine else "0")
        w.seg("NM1", "ZZ", "2", jurisdiction)
        hl += 1
        for lx, e in enumerate(mine, start=1):
            w.seg("HL", hl, state_hl, "4", "1" if e.vehicles else "0")
            w.seg("LX", lx)
            w.segments += e.policy
            policy_hl, hl = hl, hl + 1
            for vehicle in e.vehicles:
                w.seg("HL", hl, policy_hl, "5", "0")
                w.segments += vehicle
                hl += 1


def write_error_return(sets: Sequence[ReturnSet], *, envelope: ReturnEnvelope) -> str:
    """The error-return interchange for the transaction sets of one received functional
    group.  Deterministic: the same input gives the same bytes."""
    env = envelope
    w = _Writer(env.delimiters, env.line_break)
    at = env.created_at
    icn = f"{_control_number(env.interchange_control_number, 'ISA13'):09d}"
    gcn = _control_number(env.group_control_number, "GS06")
    # The ISA is fixed-width and carries the component separator: written verbatim.
    w.segments.append(env.delimiters.element.join(
        [
            "ISA", "00", " " * 10, "00", " " * 10,
            _fixed(env.sender_qualifier, 2, "ISA05"), _fixed(env.sender_id, 15, "ISA06"),
            _fixed(env.receiver_qualifier, 2, "ISA07"), _fixed(env.receiver_id, 15, "ISA08"),
            at.strftime("%y%m%d"), at.strftime("%H%M"), "U", "00401",
            icn, "0", "T" if env.test else "P",
            env.delimiters.component,
        ]
    ))  # fmt: skip
    w.seg(
        "GS", "CI", env.sender_application, env.receiver_application,
        at.strftime("%Y%m%d"), at.strftime("%H%M"), gcn, "X", "004010",
    )  # fmt: skip
    for rset in sets:
        start = len(w.segments)
        w.seg("ST", "811", rset.transaction_set)
        echoes = rset.echoes if rset.echoes is not None else echo(rset.records, env.delimiters)
        _set(w, rset, echoes, at)
        w.seg("SE", len(w.segments) - start + 1, rset.transaction_set)
    w.seg("GE", len(sets), gcn)
    w.seg("IEA", "1", icn)
    return w.text()
