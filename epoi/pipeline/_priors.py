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
from ..transforms import (
    NOTHING_KNOWN,
    EditContext,
    PriorInfo,
    PriorLookup,
    normalize,
    normalize_again,
)

__all__ = ["ACCEPTED", "answer_facts", "answer_priors", "facts_of", "renormalize"]

# The statuses of a record that counts as reported and goes on to be matched.
ACCEPTED = ("accepted", "warned")


def facts_of(rec: NormalizedRecord, submission_id: int, set_id: int) -> PriorReport:
    """What answering E110/E111 of later records reads of ``rec`` (of that set)."""
    r = rec.report
    return PriorReport(r.key.as_string(), submission_id, set_id, r.key.policy_position,
                       r.carrier_naic, r.policy_number, r.transaction_type, r.effective_date,
                       rec.status)


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
    out = list(first)
    redone, infos = answer_facts(chunk, [facts_of(r, submission_id, set_id) for r in first],
                                 context, stored,
                                 submission_id=submission_id, set_id=set_id,
                                 answered=answered, records=first)  # fmt: skip
    for n, rec in redone.items():
        out[n] = rec
    return out, infos


def answer_facts(
    chunk: Chunk,
    facts: Sequence[PriorReport],
    context: EditContext,
    stored: Sequence[PriorReport],
    *,
    submission_id: int,
    set_id: int,
    answered: Sequence[PriorInfo] | None = None,
    records: Sequence[NormalizedRecord] | None = None,
) -> tuple[dict[int, NormalizedRecord], list[PriorInfo]]:
    """``answer_priors`` from what it reads of the records (``facts``, ``facts_of`` records
    normalised with ``answered``): the records normalised again, by index in the chunk, and
    what each record is answered with.  ``records``: the records themselves, when at hand
    (only their business edits run again)."""
    redone: dict[int, NormalizedRecord] = {}
    by_policy: dict[tuple[str | None, str | None], list[PriorReport]] = {}
    for p in stored:
        by_policy.setdefault((p.carrier_naic, p.policy_number), []).append(p)
    # Only a policy reported twice in the chunk has an earlier record here to know of.
    seen = Counter((f.carrier_naic, f.policy_number) for f in facts)
    infos: list[PriorInfo] = []
    for n, fact in enumerate(facts):
        policy = (fact.carrier_naic, fact.policy_number)
        priors = by_policy.get(policy)
        info = NOTHING_KNOWN
        if priors:
            own_order = (submission_id, set_id, fact.policy_position)
            info = _prior_info(priors, fact.natural_key, own_order)
        if info != (answered[n] if answered is not None else NOTHING_KNOWN):
            ctx = _answered(context, info)
            redone[n] = rec = (normalize(chunk[n], context=ctx) if records is None
                               else normalize_again(records[n], chunk[n], context=ctx))
            fact = facts_of(rec, submission_id, set_id)
        infos.append(info)
        if seen[policy] >= 2:  # what later records of this chunk must know of this one
            by_policy.setdefault(policy, []).append(fact)
    return redone, infos


def renormalize(chunk: Chunk, context: EditContext,
                answered: Sequence[PriorInfo]) -> list[NormalizedRecord]:
    """The chunk's records normalised with the answers ``answered``: the records of a
    worker's pass, made again here."""
    return [normalize(block, context=_answered(context, info))
            for block, info in zip(chunk, answered, strict=True)]


def _answered(context: EditContext, info: PriorInfo) -> EditContext:
    """``context`` with E110/E111 answered by ``info`` (nothing known: as it is)."""
    if info == NOTHING_KNOWN:
        return context
    return dataclasses.replace(context, prior=_answering(info))


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
