"""``epoi validate``'s second pass: every accepted policy's business edits (``transforms.check``:
``normalize``'s findings, without building the report the command never prints) merged into
its set (``transforms.merged_sets``), each set rendered as the command prints it.

This is most of the command's time, so a large file is cut into batches of whole sets
(``parsers.plan_set_batches``) that worker processes read, normalize and render on their own;
the parent only writes the rendered sets, in file order.  The output is byte for byte the one
process's: the same sets, merged from the same records, rendered by the same functions.  At
most two batches per worker are in flight, so memory stays flat however large the file.

Workers are forked, one pool per file (see ``second_pass``)."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from .._orphans import exit_with_parent
from ..config import Settings
from ..parsers import (
    PolicyBlock,
    SetBatch,
    iter_batch_policies,
    iter_policies,
    plan_set_batches,
    resolve_workers,
)
from ..schemas.verdict import FileVerdict, TransactionSetVerdict
from ..transforms import EditContext, check, merged_sets

__all__ = ["MIN_POOL_BYTES", "PassOptions", "Rendered", "plan", "second_pass", "set_json",
           "set_text"]

# Below this a file is normalized in the parent: the pass takes well under a second there.
MIN_POOL_BYTES = 2 * 1024 * 1024
# Batches per worker over the file (load balance), within these sizes.  Smaller batches
# shorten the tail where one worker waits for the other, and the wait for the first: on
# 200 k policies (100 sets) 16 a worker gave 25 batches and a 7.6 s pass, 64 gives 100 and
# 7.1-7.2 s.
_BATCHES_PER_WORKER = 64
_MIN_BATCH_BYTES = 256 * 1024
_MAX_BATCH_BYTES = 8 * 1024 * 1024
_IN_FLIGHT_PER_WORKER = 2

# One transaction set as the command prints it, and whether it rejected any record.
Rendered = tuple[str, bool]


@dataclass(frozen=True, slots=True)
class PassOptions:
    """What the second pass needs besides the file and its verdict (sent to the workers:
    the settings and the clock reading, from which each process makes the same
    ``EditContext``; the context itself holds a profile that does not pickle)."""

    settings: Settings
    received_at: datetime
    as_json: bool

    def context(self) -> EditContext:
        return EditContext.from_settings(self.settings, received_at=self.received_at,
                                         today=self.received_at.date())


def set_json(ts: TransactionSetVerdict) -> str:
    return ts.model_dump_json()


def set_text(ts: TransactionSetVerdict) -> str:
    lines = [f"      set {ts.control_number}: AK5 {ts.ack_code} {','.join(ts.error_codes)} "
             f"policies={ts.policies} vehicles={ts.vehicles} "
             f"rejected={ts.rejected} warnings={ts.warnings}"]
    for e in ts.errors:
        where = f"segment {e.segment_position} {e.segment_id or ''}"
        where += f" {e.element}" if e.element else ""
        pol = f" policy {e.policy_number}" if e.policy_number else ""
        lines.append(f"        {e.severity} {e.code} at {where}{pol}: {e.message}")
    if ts.errors_truncated:
        lines.append(f"        ... and {ts.errors_truncated} more")
    return "".join(line + "\n" for line in lines)


def _rendered(verdict: FileVerdict, blocks: Iterable[PolicyBlock],
              opts: PassOptions) -> Iterator[Rendered]:
    context = opts.context()
    records = (check(b, context=context) for b in blocks)
    render = set_json if opts.as_json else set_text
    cap = opts.settings.max_errors_per_set
    for _, _, ts in merged_sets(verdict, records, max_errors_per_set=cap):
        yield render(ts), ts.rejected > 0


def render_batch(path: str, batch: SetBatch, name: str, opts: PassOptions) -> list[Rendered]:
    """In a worker: the batch's sets, rendered."""
    return list(_rendered(batch.verdict, iter_batch_policies(path, batch, name=name), opts))


def second_pass(path: str, verdict: FileVerdict, *, name: str, opts: PassOptions,
                workers: int) -> Generator[Rendered, None, None]:
    """Every set of ``verdict`` in file order, rendered, with its rejected flag: on up to
    ``workers`` processes (0: one per core) when ``plan`` cuts the file, else in this one."""
    batches = plan(path, verdict, opts=opts, workers=workers)
    if batches is None:
        with open(path, "rb") as stream:
            yield from _rendered(verdict, iter_policies(stream, verdict, name=name), opts)
        return
    processes = resolve_workers(workers)
    # Forked, one pool per file: a worker starts in milliseconds with the transforms already
    # imported (spawned ones took ~1 s each: a new interpreter importing pydantic, click and
    # the transforms), and the parent has no other thread when it forks (the pool forks all
    # its processes at the first submit, before it starts its own threads; validate_parallel's
    # pool is shut down by then, and this one before the next file's).
    fork = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=fork,
                               initializer=exit_with_parent, initargs=(os.getpid(),))
    in_flight: deque[Future[list[Rendered]]] = deque()
    try:
        for batch in batches:
            in_flight.append(pool.submit(render_batch, path, batch, name, opts))
            if len(in_flight) >= processes * _IN_FLIGHT_PER_WORKER:
                yield from in_flight.popleft().result()
        while in_flight:
            yield from in_flight.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def plan(path: str, verdict: FileVerdict, *, opts: PassOptions,
         workers: int) -> list[SetBatch] | None:
    """The batches for the workers, or None: one worker, a small file, a single set, or a
    file ``parsers.plan_set_batches`` cannot cut."""
    processes = resolve_workers(workers)
    if processes < 2:
        return None
    size = os.path.getsize(path)
    if size < MIN_POOL_BYTES:
        return None
    target = min(max(size // (processes * _BATCHES_PER_WORKER), _MIN_BATCH_BYTES),
                 _MAX_BATCH_BYTES)
    batches = plan_set_batches(path, verdict, target_bytes=target,
                               max_segment_length=opts.settings.max_segment_length)
    return batches if batches is not None and len(batches) > 1 else None
