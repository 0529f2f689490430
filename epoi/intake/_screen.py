"""The intake's own TA1 rejections, on top of what validation finds: a sender that is not a
registered carrier (note 006), a production interchange from a carrier whose profile is still
in test (020), and an interchange whose (sender, ISA13) an earlier one already used (025).
The 006 and 020 rejections follow from the carrier profiles, not from the file: a reprocess
screens those interchanges again against the profiles of the day."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..schemas.verdict import FileVerdict, InterchangeVerdict, Ta1
from ..store import (
    Carrier,
    CarrierEnvironment,
    Interchange,
    InterchangeRecord,
    claim_interchanges,
    record_interchanges,
    release_interchanges,
)
from ._results import InterchangeOutcome

__all__ = ["NOTE_DUPLICATE", "PROFILE_NOTES", "Screen", "sender_of", "ta1_reason"]

NOTE_UNKNOWN_SENDER = "006"  # TA1: invalid interchange sender ID
NOTE_TEST_INDICATOR = "020"  # TA1: invalid test indicator value (production from a test carrier)
NOTE_DUPLICATE = "025"  # TA1: duplicate interchange control number
# Rejections that follow from the carrier profiles, not from the file: a reprocess screens
# them again (a carrier registered, or certified for production, since).
PROFILE_NOTES = frozenset({NOTE_UNKNOWN_SENDER, NOTE_TEST_INDICATOR})


class Screen:
    """The screening of one submission's interchanges against the senders it may come from:
    every registered carrier, or only the one the operator named (``carrier``)."""

    def __init__(self, senders: dict[tuple[str, str], Carrier], carrier: Carrier | None) -> None:
        self.senders = senders
        self.carrier = carrier

    def screen(
        self, session: Session, submission_id: int, verdict: FileVerdict
    ) -> tuple[FileVerdict, list[InterchangeOutcome]]:
        """Apply the intake's own TA1 rejections to the verdict (006 unknown sender, 025
        duplicate) and record every interchange."""
        screened = [self._profile(ic) for ic in verdict.interchanges]

        # Claim (sender, ISA13) for every interchange still standing: an earlier submission
        # wins over this one, and the first copy in this file over a later one.
        candidates: dict[tuple[str, str, str], InterchangeRecord] = {}
        for ic in screened:
            if ic.ta1.ack_code != "R":
                rec = _record(ic)
                candidates.setdefault(rec.key, rec)
        taken = claim_interchanges(session, submission_id, list(candidates.values()))
        claimed = set(candidates) - taken

        final: list[InterchangeVerdict] = []
        for ic in screened:
            if ic.ta1.ack_code != "R":
                key = _record(ic).key
                if key in claimed:
                    claimed.discard(key)  # so that a later copy in this file is a duplicate
                else:
                    ic = _reject(ic, NOTE_DUPLICATE)
            final.append(ic)
        record_interchanges(
            session, submission_id, [_record(ic) for ic in final if ic.ta1.ack_code == "R"]
        )
        return self._screened(verdict, final)

    def _profile(self, ic: InterchangeVerdict) -> InterchangeVerdict:
        """TA1 006 for a sender that is no registered carrier, 020 for a production
        interchange from a carrier whose profile is in test."""
        if ic.ta1.ack_code == "R":
            return ic
        carrier = self.senders.get(sender_of(ic))
        if carrier is None:  # the validator knows the senders and normally rejects these itself
            return _reject(ic, NOTE_UNKNOWN_SENDER)
        if not ic.test and carrier.environment is CarrierEnvironment.TEST:
            return _reject(ic, NOTE_TEST_INDICATOR)
        return ic

    def rescreen(
        self, session: Session, submission_id: int, stored: list[Interchange],
        verdict: FileVerdict,
    ) -> tuple[FileVerdict, list[InterchangeOutcome], list[InterchangeVerdict]]:
        """``screen`` for a reprocess: the TA1 each interchange was answered with stands.
        The interchanges this submission claimed are its own, not duplicates of themselves
        (TA1 025 is for other submissions); nothing is claimed or recorded again.

        But for a rejection that followed from the carrier profiles (006, 020): such an
        interchange is screened again as if new, its old record released, and it is
        claimed (or recorded rejected) once more.  The third value: the interchanges whose
        TA1 changed, to be answered again."""
        standing = [(i.sender_qualifier, i.sender_id, i.control_number) for i in stored
                    if i.ta1_ack_code != "R"]  # fmt: skip
        notes = {(i.sender_qualifier, i.sender_id, i.control_number): i.ta1_note_code
                 for i in stored if i.ta1_ack_code == "R"}  # fmt: skip
        final: list[InterchangeVerdict] = []
        again: dict[int, InterchangeVerdict] = {}  # position in final -> screened again
        for ic in verdict.interchanges:
            key = _record(ic).key
            if ic.ta1.ack_code != "R":
                note = notes.get(key, NOTE_DUPLICATE)
                if key in standing:
                    standing.remove(key)  # a later copy in this file was the duplicate
                elif note in PROFILE_NOTES and self._profile(ic).ta1.note_code != note:
                    again[len(final)] = self._profile(ic)
                else:
                    ic = _reject(ic, note)
            final.append(ic)
        if not again:
            return (*self._screened(verdict, final), [])
        release_interchanges(session, submission_id, {_record(ic).key for ic in again.values()})
        candidates: dict[tuple[str, str, str], InterchangeRecord] = {}
        for ic in again.values():
            if ic.ta1.ack_code != "R":
                candidates.setdefault(_record(ic).key, _record(ic))
        claimed = set(candidates) - claim_interchanges(session, submission_id,
                                                       list(candidates.values()))
        for n, ic in again.items():
            if ic.ta1.ack_code != "R":
                if _record(ic).key in claimed:
                    claimed.discard(_record(ic).key)
                else:
                    ic = _reject(ic, NOTE_DUPLICATE)
            final[n] = again[n] = ic
        record_interchanges(session, submission_id,
                            [_record(ic) for ic in again.values() if ic.ta1.ack_code == "R"])
        changed = [ic for n, ic in again.items()
                   if ic.ta1.note_code != notes.get(_record(ic).key)]  # fmt: skip
        return (*self._screened(verdict, final), changed)

    def _screened(
        self, verdict: FileVerdict, final: list[InterchangeVerdict]
    ) -> tuple[FileVerdict, list[InterchangeOutcome]]:
        """The verdict with its screened interchanges, and what to tell the operator."""
        outcomes = [
            InterchangeOutcome(
                control_number=ic.control_number,
                sender_qualifier=sender_of(ic)[0],
                sender_id=sender_of(ic)[1],
                test=ic.test,
                ta1_ack_code=ic.ta1.ack_code,
                ta1_note_code=ic.ta1.note_code,
                message=self._explain(ic),
            )
            for ic in final
        ]
        accepted = verdict.accepted and all(ic.ta1.ack_code != "R" for ic in final)
        return verdict.model_copy(update={"interchanges": final, "accepted": accepted}), outcomes

    def _explain(self, ic: InterchangeVerdict) -> str | None:
        """Words for the TA1 rejections the intake is about (who sent it, and when)."""
        if ic.ta1.note_code not in (*PROFILE_NOTES, NOTE_DUPLICATE):
            return None
        qualifier, sender = sender_of(ic)
        carrier = self.senders.get((qualifier, sender))
        return ta1_reason(ic.ta1.note_code, qualifier, sender, ic.control_number,
                          named=self.carrier is not None,
                          naic=carrier.naic if carrier else None)  # fmt: skip

    def carrier_of(self, verdict: FileVerdict) -> int | None:
        """The carrier a file came from: the one known sender of its interchanges, if there
        is exactly one."""
        ids = {c.id for ic in verdict.interchanges if (c := self.senders.get(sender_of(ic)))}
        return ids.pop() if len(ids) == 1 else None


def ta1_reason(
    note: str, qualifier: str, sender: str, control_number: str, *, named: bool = False,
    naic: str | None = None,
) -> str | None:
    """Why the intake rejected an interchange with TA1 ``note``, in words for the operator
    and the carrier (sender IDs and numbers only, no personal data); None for the notes the
    validator gives (their standard texts say it)."""
    if note == NOTE_UNKNOWN_SENDER:
        if named:
            return (f"sender {qualifier}/{sender} is not the ISA identity of the carrier "
                    "named for this submission")  # fmt: skip
        return (f"sender {qualifier}/{sender} is not a registered carrier (epoi carriers add "
                "or import; then epoi reprocess)")  # fmt: skip
    if note == NOTE_TEST_INDICATOR:
        return (f"a production interchange (ISA15 P) from {qualifier}/{sender}, whose carrier "
                f"profile{f' ({naic})' if naic else ''} is still in test: send test "
                f"interchanges (ISA15 T) until epoi carriers certify moves it to production")
    if note == NOTE_DUPLICATE:
        return (f"interchange {control_number} from {qualifier}/{sender} was received "
                "before; this copy adds nothing")  # fmt: skip
    return None


def _reject(ic: InterchangeVerdict, note: str) -> InterchangeVerdict:
    return ic.model_copy(update={"ta1": Ta1(ack_code="R", note_code=note)})


def sender_of(ic: InterchangeVerdict) -> tuple[str, str]:
    """(ISA05, ISA06) without their padding: the key of a trading partner."""
    return ic.sender_qualifier.strip(), ic.sender_id.strip()


def _record(ic: InterchangeVerdict) -> InterchangeRecord:
    qualifier, sender = sender_of(ic)
    return InterchangeRecord(
        sender_qualifier=qualifier,
        sender_id=sender,
        control_number=ic.control_number,
        test=ic.test,
        ta1_ack_code=ic.ta1.ack_code,
        ta1_note_code=ic.ta1.note_code,
    )
