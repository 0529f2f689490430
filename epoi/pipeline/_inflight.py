"""E110/E111 of a unit answered the same whatever order workers take the units in.

A record's E110/E111 answer counts every report before it in the order the work was received
(``_priors``).  With several workers, an earlier unit may still be in another worker's hands
when a later one is normalised: its reports are not in the store yet, and the later unit's
records were answered as if they had never been sent (two workers, the 20 k sample: 9
records of 20,000 warned E111 that one worker or ``epoi run`` did not warn).  The policies
of those earlier units are read from their payloads instead: only the blocks that carry one
of the unit's policy numbers are normalised (with their own submission's context), for what
answering reads of them (``facts_of``).  Their acceptance does not depend on their own
E110/E111 answer (both are warnings), so no order of units can change what they give.

A payload is dropped when its unit is done, and its reports are in the store from that
commit on: reading the payloads before the store misses neither.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..intake import Chunk
from ..store import (
    PriorReport,
    Submission,
    TransactionSet,
    Unit,
    UnitKind,
    UnitState,
    WorkUnit,
    prior_reports,
)
from ..transforms import EditContext, Profile, normalize, normalized_text
from ._prefetch import _context, _expected_naic
from ._priors import facts_of

__all__ = ["in_flight_priors", "priors_before"]


def priors_before(
    session: Session, settings: Settings, context: EditContext, unit: Unit,
    policies: Sequence[tuple[str | None, str | None]], *, test: bool,
) -> list[PriorReport]:
    """What answering E110/E111 of a unit's ``policies`` (carrier NAIC, policy number) reads:
    the reports of earlier units still in other workers' hands, then the store's in one
    query per NAIC (``prior_reports``), in that order (module docstring)."""
    earlier = in_flight_priors(session, settings, context.today, unit, test=test,
                               numbers=[n for _naic, n in policies], profile=context.profile)
    return earlier + prior_reports(session, [(naic, n) for naic, n in policies if n], test=test)


def in_flight_priors(
    session: Session, settings: Settings, today: date, unit: Unit, *, test: bool,
    numbers: Collection[str | None], profile: Profile,
) -> list[PriorReport]:
    """The reports of the normalize units before ``unit`` (earlier submissions, or earlier in
    its own) that are not done yet, for the policy ``numbers`` only."""
    wanted = {n for n in numbers if n}
    if not wanted:
        return []
    earlier = session.execute(
        select(WorkUnit.submission_id, WorkUnit.set_id, WorkUnit.payload)
        .join(TransactionSet, TransactionSet.id == WorkUnit.set_id)
        .where(WorkUnit.kind == UnitKind.NORMALIZE, WorkUnit.state == UnitState.QUEUED,
               TransactionSet.test == test,
               or_(WorkUnit.submission_id < unit.submission_id,
                   and_(WorkUnit.submission_id == unit.submission_id, WorkUnit.id < unit.id)))
        .order_by(WorkUnit.id)
    ).all()
    rule = _policy_number_rule(profile)
    out: list[PriorReport] = []
    naics: dict[int, Callable[[str], str | None]] = {}  # per earlier submission: read once
    for submission_id, set_id, payload in earlier:
        if not payload or set_id is None:
            continue
        chunk = Chunk(payload)
        hits = [n for n in range(len(chunk)) if _carries(chunk, n, rule, wanted)]
        if not hits:
            continue
        sub = session.get_one(Submission, submission_id)
        if submission_id not in naics:
            naics[submission_id] = _expected_naic(session, sub)
        context = _context(settings, sub, today, naics[submission_id], chunk)
        out += [facts_of(normalize(chunk[n], context=context), submission_id, set_id)
                for n in hits]
    return out


_Rule = tuple[str, int, "str | None", int]  # segment, qualifier element, qualifier, element


def _policy_number_rule(profile: Profile) -> _Rule:
    rule = next(r for r in profile.rules_for("policy") if r.field == "policy_number")
    q_el, q_code = rule.qualifier if rule.qualifier is not None else (0, None)
    return rule.segment, q_el, q_code, rule.element


def _carries(chunk: Chunk, n: int, rule: _Rule, wanted: set[str]) -> bool:
    """Whether policy ``n`` of ``chunk`` may carry one of the ``wanted`` policy numbers: from
    the text form when it can tell, else from the decoded block (any segment the rule could
    read: more blocks than needed are normalised, never fewer)."""
    segment, q_el, q_code, element = rule
    if q_code is not None and q_el == 1:
        raw = chunk.element_of(n, segment, q_code, element)
        if raw is not None:
            return normalized_text(raw) in wanted
    for seg in chunk[n].policy:
        f = seg.fields
        if f[0] == segment and element < len(f) and normalized_text(f[element]) in wanted:
            return True
    return False
