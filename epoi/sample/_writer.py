"""The streaming 811 writer: segments go to the file as they are made, so memory stays flat
whatever the number of policies.  Layout and envelope rules: companion guide §1-2."""

from __future__ import annotations

from datetime import date
from typing import TextIO

from ._records import Carrier, Organisation, Person, Policy

RECEIVER_QUALIFIER = "ZZ"
SENDER_QUALIFIER = "ZZ"  # ISA05 of every carrier
RECEIVER_ID = "EPOISTATE"
STATE = "CA"
MAX_NAME = 35  # NM103 in 004010


def _d8(d: date) -> str:
    return d.strftime("%Y%m%d")


def _seg(*elements: str) -> str:
    """One segment without its terminator; trailing empty elements are dropped (X12 rule)."""
    n = len(elements)
    while n > 1 and not elements[n - 1]:
        n -= 1
    return "*".join(elements[:n])


def isa(carrier: Carrier, control: int, when: date, hhmm: str, *, test: bool = False) -> str:
    seg = (
        f"ISA*00*{'':10}*00*{'':10}*{SENDER_QUALIFIER}*{carrier.sender_id:<15}*{RECEIVER_QUALIFIER}*"
        f"{RECEIVER_ID:<15}*{when:%y%m%d}*{hhmm}*U*00401*{control:09d}*"
        f"{1 if carrier.asks_ta1 else 0}*{'T' if test else 'P'}*:~"
    )
    assert len(seg) == 106, len(seg)
    return seg[:-1]  # the writer adds the terminator


def policy_segments(policy: Policy, hl: int, lx: int) -> list[str]:
    """The HL level 4 loop of one policy and its level 5 loops; ``hl`` is the policy's HL id,
    ``lx`` its ordinal in the set (vehicles are numbered from 1 within the policy).
    Dates a fault removed (``policy.omitted_dates``) are left out."""
    out = [
        _seg("HL", str(hl), "2", "4", "1" if policy.vehicles else "0"),
        f"LX*{lx}",
        _seg("REF", "IG", policy.number),
        _seg("SI", "ZZ", "TT", policy.transaction, "PT", policy.policy_type),
    ]
    omit = policy.omitted_dates
    if "007" not in omit:
        out.append(f"DTM*007*{_d8(policy.effective)}")
    if policy.expiration is not None and "036" not in omit:
        out.append(f"DTM*036*{_d8(policy.expiration)}")
    if policy.cancellation is not None and "177" not in omit:
        out.append(f"DTM*177*{_d8(policy.cancellation)}")
    a = policy.address
    for insured in policy.insureds:
        if isinstance(insured, Organisation):
            out.append(_seg("NM1", "IL", "2", insured.name, "", "", "", "", "FI", insured.fein))
        else:
            out.append(_seg(
                "NM1", "IL", "1", insured.last, insured.first, insured.middle, "", insured.suffix
            ))
        out.append(_seg("N3", a.line1, a.line2))
        out.append(_seg("N4", a.city, a.state, a.zip))
        if isinstance(insured, Person):
            if insured.dl:
                out.append(f"REF*0B*{insured.dl}*CA")
            if insured.dob is not None:
                out.append(f"DMG*D8*{_d8(insured.dob)}")
    parent = hl
    for n, rv in enumerate(policy.vehicles, 1):
        hl += 1
        v = rv.vehicle
        out.append(f"HL*{hl}*{parent}*5*0")
        out.append(f"LX*{n}")
        out.append(_seg("VEH", "1", rv.reported_vin, str(v.year), "ZZ", v.make))
        if rv.change:
            out.append(f"SI*ZZ*TT*{rv.change}")
            if rv.change_date is not None:
                out.append(f"DTM*007*{_d8(rv.change_date)}")
    return out


class InterchangeWriter:
    """Writes one file: one interchange, one functional group, any number of 811 sets.

    Usage: ``begin()``, then per set ``begin_set()``, ``write_policy()``..., ``end_set()``,
    finally ``end()``.  ``se_error`` / ``ge_error`` let a fault make a count wrong on purpose."""

    def __init__(
        self, fh: TextIO, carrier: Carrier, *, control: int, when: date, hhmm: str
    ) -> None:
        self._fh = fh
        self._term = "~" + carrier.line_end
        self._carrier = carrier
        self._control = control
        self._when = when
        self._hhmm = hhmm
        self._sets = 0
        self._set_segments = 0
        self._hl = 0
        self._policies = 0
        self._st = ""

    def _put(self, segments: list[str]) -> None:
        term = self._term
        self._fh.write(term.join(segments) + term)
        self._set_segments += len(segments)

    def begin(self) -> None:
        c = self._carrier
        self._fh.write(isa(c, self._control, self._when, self._hhmm) + self._term)
        gs = f"GS*CI*{c.sender_id}*{RECEIVER_ID}*{_d8(self._when)}*{self._hhmm}*{self._control}"
        self._fh.write(gs + "*X*004010" + self._term)

    def begin_set(self, submission_id: str) -> str:
        """Open the next transaction set; returns its control number (ST02)."""
        self._sets += 1
        self._st = f"{self._sets:04d}"
        self._set_segments = 0
        c = self._carrier
        self._put([
            f"ST*811*{self._st}",
            f"BIG*{_d8(self._when)}*{submission_id}",
            "HL*1**1*1",
            _seg("NM1", "IN", "2", c.name, "", "", "", "", "NI", c.naic),
            f"REF*TJ*{c.fein}",
            "HL*2*1*2*1",
            f"NM1*ZZ*2*{STATE}",
        ])
        self._hl = 2
        self._policies = 0
        return self._st

    def write_policy(self, policy: Policy) -> None:
        self._policies += 1
        self._put(policy_segments(policy, self._hl + 1, self._policies))
        self._hl += 1 + len(policy.vehicles)

    def end_set(self, *, se_error: int = 0) -> tuple[int, int]:
        """Close the set; returns (SE01 written, true segment count)."""
        true_count = self._set_segments + 1
        self._fh.write(f"SE*{true_count + se_error}*{self._st}" + self._term)
        return true_count + se_error, true_count

    def end(self, *, ge_error: int = 0) -> tuple[int, int]:
        """Close group and interchange; returns (GE01 written, true number of sets)."""
        self._fh.write(f"GE*{self._sets + ge_error}*{self._control}" + self._term)
        self._fh.write(f"IEA*1*{self._control:09d}" + self._term)
        return self._sets + ge_error, self._sets
