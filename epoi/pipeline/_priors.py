"""E110/E111 of a normalize unit: each record answered with what was reported before it.

A prior report counts only if it comes before the record in the order the work was received
(submission, set, position), and never the record itself, so that a redelivered or
re-ordered unit finds the same answers.  Earlier records of the same chunk count too.

The answering runs twice when a worker process normalises ahead (``_prefetch``): there, from
the store as it was when the worker read it; here, in the pipeline's process, from the store
as it is when the unit is written.  A record the worker answered with what this process
finds is kept; only the others are normalised again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from ..intake import Chunk
from ..schemas.policy import NormalizedRecord
from ..store import PriorReport
from ..transforms import NOTHING_KNOWN, EditContext, PriorInfo, PriorLookup, normalize

__all__ = ["ACCEPTED", "answer_priors"]

# The statuses of a record that counts as reported and goes on to be matched.
ACCEPTED = ("accepted", "warned")


def answer_priors(
    chunk: Chunk,
    first: Sequence[NormalizedRecord],
    context: EditContext,
    stored: Sequence[PriorReport],
    *,
    submission_id: int,
    set_id: int,
    answered: Sequence[PriorInfo] | None = None,
) -> tuple[list[NormalizedRecord], list[PriorInfo]]:
    """The chunk's records with E110/E111 answered from ``stored`` (the store's reports of
    the chunk's policy numbers) and the chunk's own earlier records, and what each was
    answered with.  ``first[n]`` was normalised with ``answered[n]`` (None: knowing nothing);
    it is normalised again only where the answer differs."""
    by_policy: dict[tuple[str | None, str | None], list[PriorReport]] = {}
    for p in stored:
        by_policy.setdefault((p.carrier_naic, p.policy_number), []).append(p)
    # Only a policy reported twice in the chunk has an earlier record here to know of.
    seen = Counter((r.report.carrier_naic, r.report.policy_number) for r in first)
    out: list[NormalizedRecord] = []
    infos: list[PriorInfo] = []
    for n, rec in enumerate(first):
        report = rec.report
        policy = (report.carrier_naic, report.policy_number)
        priors = by_policy.get(policy)
        info = NOTHING_KNOWN
        if priors:
            own_order = (submission_id, set_id, report.key.policy_position)
            info = _prior_info(priors, report.key.as_string(), own_order)
        if info != (answered[n] if answered is not None else NOTHING_KNOWN):
            prior = _answering(info) if info != NOTHING_KNOWN else context.prior
            rec = normalize(chunk[n], context=dataclasses.replace(context, prior=prior))
        out.append(rec)
        infos.append(info)
        if seen[policy] < 2:
            continue
        # What later records of this chunk must know of this one.
        by_policy.setdefault(policy, []).append(
            PriorReport(
                natural_key=rec.report.key.as_string(), submission_id=submission_id,
                set_id=set_id, policy_position=rec.report.key.policy_position,
                carrier_naic=report.carrier_naic, policy_number=report.policy_number,
                transaction_type=rec.report.transaction_type,
                effective_date=rec.report.effective_date, status=rec.status,
            )  # fmt: skip
        )
    return out, infos


def _prior_info(
    priors: Sequence[PriorReport], own_key: str, own_order: tuple[int, int, int]
) -> PriorInfo:
    earlier = [
        p
        for p in priors
        if p.natural_key != own_key and (p.submission_id, p.set_id, p.policy_position) < own_order
    ]
    if not earlier:
        return NOTHING_KNOWN
    accepted = frozenset(
        (p.transaction_type, p.effective_date)
        for p in earlier
        if p.status in ACCEPTED and p.transaction_type and p.effective_date
    )
    return PriorInfo(accepted=accepted, reported=True)


def _answering(info: PriorInfo) -> PriorLookup:
    """The prior lookup of one record: what its stored priors tell, whatever it is asked."""

    def lookup(_naic: str, _policy_number: str) -> PriorInfo:
        return info

    return lookup
