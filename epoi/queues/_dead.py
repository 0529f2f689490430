"""``epoi dead list`` and ``epoi dead replay``: inspect and re-run parked messages.

Both browse ``<ns>.dead`` the same way on every transport: fetch every message without
acknowledging it, then acknowledge the ones replayed and requeue the rest.  On RabbitMQ the
requeued messages keep their place; on the server-less transport they are written back in
the order read.  (On the server-less transport a crash in the middle of a browse loses the
dead letters fetched so far, like any fetched message there; they remain recorded as failed
units in the store.)
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from kombu.message import Message

from epoi._logging import get_logger
from epoi.queues._broker import ACCEPT, Broker
from epoi.queues._headers import (
    ATTEMPT,
    DEAD_AT,
    DEAD_ID,
    ERROR_CODE,
    ERROR_MESSAGE,
    ORIGINAL_HEADERS,
    ORIGINAL_QUEUE,
    REPLAYED_FROM,
    UNEXPECTED,
)
from epoi.schemas.messages import DeadLetter, Envelope

log = get_logger(__name__)


@contextmanager
def _browse(broker: Broker, limit: int | None) -> Iterator[list[Message]]:
    channel = broker.connection.channel()
    queue = broker.topology.dead_queue.bind(channel)
    fetched: list[Message] = []
    try:
        while limit is None or len(fetched) < limit:
            message = queue.get(no_ack=False, accept=ACCEPT)
            if message is None:
                break
            fetched.append(message)
        yield fetched
    finally:
        for message in fetched:
            if not message.acknowledged:
                message.requeue()
        channel.close()


def _envelope(message: Message) -> Envelope | None:
    if message.content_type != "application/json":
        return None  # a poison message kept as it came; never decoded here (could be pickle)
    try:
        body = message.body
        return Envelope.model_validate(json.loads(body))
    except ValueError:
        return None


def _dead_letter(message: Message) -> DeadLetter:
    headers: dict[str, Any] = dict(message.headers or {})
    envelope = _envelope(message)
    dead_at = headers.get(DEAD_AT)
    original = headers.get(ORIGINAL_HEADERS)
    return DeadLetter(
        id=str(headers.get(DEAD_ID) or message.delivery_tag),
        queue=str(headers.get(ORIGINAL_QUEUE, "")),
        error_code=str(headers.get(ERROR_CODE, UNEXPECTED)),
        error_message=str(headers.get(ERROR_MESSAGE, "")),
        attempt=int(headers.get(ATTEMPT, envelope.attempt if envelope else 1)),
        dead_at=datetime.fromisoformat(dead_at) if isinstance(dead_at, str) else None,
        kind=envelope.kind if envelope else None,
        unit_id=envelope.unit_id if envelope else None,
        envelope=envelope,
        original_headers=original if isinstance(original, dict) else {},
    )


def dead_list(broker: Broker, *, limit: int | None = None) -> list[DeadLetter]:
    """The messages parked in ``<ns>.dead``, oldest first; the queue is left as it was."""
    with _browse(broker, limit) as messages:
        return [_dead_letter(m) for m in messages]


def dead_replay(broker: Broker, ids: Collection[str] | Literal["all"]) -> int:
    """Publish the selected dead letters back to their stage queues as first attempts and
    remove them from ``<ns>.dead``; returns how many were replayed.

    Messages that are not readable envelopes cannot be replayed and stay where they are.
    Each replay is published (confirmed) before its dead letter is acknowledged, so a crash
    leaves at worst a duplicate, which the stages ignore.
    """
    if isinstance(ids, str) and ids != "all":
        ids = {ids}  # one id given bare: not a collection of its characters
    replayed = 0
    with _browse(broker, None) as messages:
        for message in messages:
            letter = _dead_letter(message)
            if ids != "all" and letter.id not in ids:
                continue
            if letter.envelope is None:
                log.warning("dead.not_replayable", dead_id=letter.id, code=letter.error_code)
                continue
            broker.publish(letter.envelope.first_attempt(), headers={REPLAYED_FROM: letter.id})
            message.ack()
            replayed += 1
            log.info("dead.replayed", dead_id=letter.id, queue=letter.queue, unit_id=letter.unit_id)
    return replayed
