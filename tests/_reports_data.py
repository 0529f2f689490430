"""A small, hand-counted store for the report tests: two carriers, three submissions on two
days, records of every status, business errors, X12 errors, acks and match results.

Rows are written straight through the models (not through the pipeline) so that every
figure a report shows can be counted by hand here:

day 2026-11-20: submission 1 (ACME 11111): set A, 4 policies
    P1 NBS accepted, 1 vehicle, matched step 1
    P2 NBS warned E301 (late new coverage), 2 vehicles, matched step 2 + pending (first
       tried 2026-11-20: 7 days old on 2026-11-27)
    P3 XLC warned E301 (late change), 1 vehicle, matched step 3
    P4 NBS rejected E204 x2 (2 vehicles), not matched
day 2026-11-25: submission 2 (ACME 11111): set E (AK5 5), 2 policies
    P5 CHG accepted, 1 vehicle, matched step 4
    P6 RWL accepted, 1 vehicle, pending first tried 2026-10-01 (57 days: unmatched)
day 2026-11-25: submission 3 (BETA 22222): TA1 note 022 on a second interchange, 1 policy
    B1 NBS warned E109 (+ planted personal data), 1 vehicle, ambiguous (first tried 11-25)
a test submission 4 (BETA, ISA15 T) on 2026-11-25: 1 policy, accepted; left out of
    production figures
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert

from epoi.store import (
    Ack,
    AckKind,
    BusinessErrorRow,
    Carrier,
    CarrierEnvironment,
    FunctionalGroup,
    InsuredRow,
    Interchange,
    PolicyReportRow,
    Store,
    Submission,
    SubmissionState,
    TransactionSet,
    UnitKind,
    UnitState,
    VehicleRow,
    WorkUnit,
    match_reports,
    match_results,
)

AS_OF = date(2026, 11, 27)
BETA_LICENCE = "Q9876543"
BETA_DOB = date(1971, 3, 14)
BETA_NAME = "ZWIEBELFISCH"
BETA_FEIN = "981234567"


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def populate(store: Store) -> None:
    with store.session() as s:
        acme = Carrier(name="ACME MUTUAL", naic="11111", isa_qualifier="ZZ", isa_id="ACME",
                       environment=CarrierEnvironment.PRODUCTION, created_at=_at(1))
        beta = Carrier(name="BETA CASUALTY", naic="22222", isa_qualifier="ZZ", isa_id="BETA",
                       environment=CarrierEnvironment.PRODUCTION, created_at=_at(1))
        s.add_all([acme, beta])
        s.flush()
        subs = []
        for i, (carrier, day, state) in enumerate(
            [(acme, 20, SubmissionState.MATCHED), (acme, 25, SubmissionState.MATCHED),
             (beta, 25, SubmissionState.MATCHED), (beta, 25, SubmissionState.MATCHED)], start=1
        ):
            name = f"/in/{carrier.isa_id.lower()}-{i}.x12"
            sub = Submission(carrier_id=carrier.id, file_name=name,
                             received_at=_at(day, 8 + i), size=100, sha256=f"{i:064d}",
                             archive_path=f"archive/{i}", state=state, policy_count=0,
                             vehicle_count=0)
            s.add(sub)
            subs.append(sub)
        s.flush()
        ics, sets = [], []
        for sub, carrier, test, ak5, codes in [
            (subs[0], acme, False, "A", ""), (subs[1], acme, False, "E", "5"),
            (subs[2], beta, False, "A", ""), (subs[3], beta, True, "A", ""),
        ]:
            ic = Interchange(submission_id=sub.id, sender_qualifier="ZZ", sender_id=carrier.isa_id,
                             control_number=f"{sub.id:09d}", test=test, ta1_ack_code="A",
                             ta1_note_code="000")
            s.add(ic)
            s.flush()
            g = FunctionalGroup(submission_id=sub.id, interchange_id=ic.id, key=f"g{sub.id}",
                                control_number=str(sub.id), sender_application=carrier.isa_id,
                                ack_code=ak5, error_codes="")
            s.add(g)
            s.flush()
            ts = TransactionSet(submission_id=sub.id, group_id=g.id, key=f"t{sub.id}",
                                control_number="0001", ack_code=ak5, error_codes=codes, test=test,
                                carrier_naic=carrier.naic)
            s.add(ts)
            ics.append(ic)
            sets.append(ts)
        # A rejected duplicate interchange in BETA's file: TA1 note 022.
        s.add(Interchange(submission_id=subs[2].id, sender_qualifier="ZZ", sender_id="BETA",
                          control_number="000000099", test=False, ta1_ack_code="R",
                          ta1_note_code="022"))
        s.add(Ack(submission_id=subs[0].id, kind=AckKind.TA1, control_number="000000501",
                  answers_interchange="000000001", answers_group=None, path="acks/1.ta1",
                  created_at=_at(20, 10)))
        s.add(Ack(submission_id=subs[2].id, kind=AckKind.FA997, control_number="000000502",
                  answers_interchange="000000003", answers_group="3", path="acks/3.997",
                  created_at=_at(25, 12)))
        s.flush()
        units = []
        for sub, ts in zip(subs, sets, strict=True):
            u = WorkUnit(key=f"u{sub.id}", submission_id=sub.id, set_id=ts.id,
                         kind=UnitKind.NORMALIZE, state=UnitState.DONE, attempts=1,
                         policies=0, created_at=_at(20), updated_at=_at(20))
            s.add(u)
            units.append(u)
        s.flush()

        # (sub index, policy, type, status, effective, cancellation, vehicles, errors)
        records = [
            (0, "P1", "NBS", "accepted", date(2026, 11, 1), None, 1, []),
            (0, "P2", "NBS", "warned", date(2026, 10, 1), None, 2, ["E301"]),
            (0, "P3", "XLC", "warned", date(2026, 1, 1), date(2026, 9, 1), 1, ["E301"]),
            (0, "P4", "NBS", "rejected", date(2026, 11, 10), None, 2, ["E204", "E204"]),
            (1, "P5", "CHG", "accepted", date(2026, 11, 20), None, 1, []),
            (1, "P6", "RWL", "accepted", date(2026, 11, 24), None, 1, []),
            (2, "B1", "NBS", "warned", date(2026, 11, 24), None, 1, ["E109"]),
            (3, "T1", "NBS", "accepted", date(2026, 11, 24), None, 1, []),
        ]
        reports = {}
        for pos, (si, pn, tt, status, eff, canc, nveh, errs) in enumerate(records, start=10):
            sub, ts, unit = subs[si], sets[si], units[si]
            carrier = acme if si < 2 else beta
            key = "|".join((carrier.isa_id, f"{sub.id:09d}", str(sub.id), "0001", str(pos),
                            carrier.naic, pn, tt, str(eff)))
            row = PolicyReportRow(
                natural_key=key, submission_id=sub.id, set_id=ts.id, unit_id=unit.id,
                test=(si == 3), status=status, carrier_naic=carrier.naic,
                insurer_name=carrier.name, jurisdiction="CA", policy_number=pn,
                transaction_type=tt, policy_type="PV", effective_date=eff,
                cancellation_date=canc, file=sub.file_name, sender_id=carrier.isa_id,
                interchange=f"{sub.id:09d}", group_control_number=str(sub.id),
                transaction_set="0001", policy_position=pos, submission_ref="REF",
                report_date=sub.received_at.date(), schema_version=1,
            )
            s.add(row)
            s.flush()
            reports[pn] = row
            for v in range(nveh):
                s.add(VehicleRow(policy_report_id=row.id, ordinal=v, vin=f"VIN{pn}{v}",
                                 model_year=2020, make="HOND"))
            for o, code in enumerate(errs):
                sev = "error" if code.startswith("E2") else "warning"
                s.add(BusinessErrorRow(policy_report_id=row.id, ordinal=o, code=code,
                                       severity=sev, level="policy", message="m"))
            if pn == "B1":
                s.add(InsuredRow(policy_report_id=row.id, ordinal=0, kind="individual",
                                 last_name=BETA_NAME, first_name="OTTOKAR",
                                 licence_number=BETA_LICENCE, licence_state="CA",
                                 date_of_birth=BETA_DOB, fein=BETA_FEIN,
                                 address_lines="77 SENTINEL WAY", city="SACRAMENTO",
                                 state="CA", zip="95814"))
            else:
                s.add(InsuredRow(policy_report_id=row.id, ordinal=0, kind="individual",
                                 last_name="GARCIA", first_name="MARIA",
                                 licence_number="D1234567", date_of_birth=date(1980, 1, 15)))
        s.flush()
        # (policy, vehicle index, state, step, first tried)
        matches = [
            ("P1", 0, "matched", 1, date(2026, 11, 20)),
            ("P2", 0, "matched", 2, date(2026, 11, 20)),
            ("P2", 1, "pending", None, date(2026, 11, 20)),
            ("P3", 0, "matched", 3, date(2026, 11, 20)),
            ("P5", 0, "matched", 4, date(2026, 11, 25)),
            ("P6", 0, "pending", None, date(2026, 10, 1)),
            ("B1", 0, "ambiguous", 1, date(2026, 11, 25)),
            ("T1", 0, "matched", 1, date(2026, 11, 25)),  # test: never counted
        ]
        first_tried: dict[str, date] = {}
        for pn, vi, state, step, tried in matches:
            row = reports[pn]
            first_tried.setdefault(pn, tried)
            s.execute(insert(match_results).values(
                report_key=row.natural_key, position=vi, vehicle_index=vi,
                carrier_naic=row.carrier_naic, policy_number=pn, reported_vin=f"VIN{pn}{vi}",
                state=state, step=step, agreed="", candidates=2 if state == "ambiguous" else 0,
                fleet=False, tried_on=AS_OF,
            ))
        for pn, tried in first_tried.items():
            row = reports[pn]
            s.execute(insert(match_reports).values(
                report_key=row.natural_key, carrier_naic=row.carrier_naic, policy_number=pn,
                transaction_type=row.transaction_type, policy_type="PV", first_tried=tried,
                report="{}",
            ))
