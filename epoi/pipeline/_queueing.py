"""Handing work the store holds to the broker: the units a submission queued (``epoi
submit`` and ``POST /v1/submissions`` in the scale-out setup) and dead letters an operator
replays (``epoi dead replay``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Literal

from ..config import Settings
from ..intake import parse_key
from ..queues import Broker, Envelope, dead_list, dead_replay
from ..store import Store, queued_units, reopen_units
from ._open import open_broker


def publish_queued(store: Store, settings: Settings, submission_ids: Iterable[int]) -> int:
    """Scale-out setup (a broker is configured): hand the units these submissions queued in
    the store to the running workers; returns how many were published.  The units are
    committed before they are published, so a crash in between loses nothing: a worker
    re-queues what the store holds as queued when it starts.  Without EPOI_BROKER_URL
    nothing is published: ``epoi run`` starts from the store."""
    if settings.broker_url is None:
        return 0
    prefixes = tuple(f"{parse_key(s)}/" for s in submission_ids)
    if not prefixes:
        return 0
    with store.session(readonly=True) as session:
        units = [(k, kind) for k, kind in queued_units(session) if k.startswith(prefixes)]
    with open_broker(settings) as broker:
        broker.publish_many(Envelope.of(str(kind), key) for key, kind in units)  # type: ignore[arg-type]
    return len(units)


def replay_dead_letters(store: Store, broker: Broker, ids: Collection[str] | Literal["all"],
                        *, now: datetime) -> int:  # fmt: skip
    """Put dead letters back on their stage queues, their failed units queued again in the
    store first (so ``epoi run`` or a worker takes them); returns how many were replayed."""
    letters = [d for d in dead_list(broker) if d.unit_id and (ids == "all" or d.id in ids)]
    with store.session() as session:
        reopen_units(session, [d.unit_id for d in letters if d.unit_id], now=now)
    return dead_replay(broker, ids)
