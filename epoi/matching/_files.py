"""What the state's files do to the store: a registration file loaded (and the pending
reports matched again), a renewal list cleared and its run kept for the reports.  The
command line (``epoi registrations load``, ``epoi run --registrations``, ``epoi renewals
clear``) only prints what these return."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from ..errors import InputError, Location
from ..schemas.registration import RowError
from ..store import ClearanceResult, Store, record_clearance_run
from ._hook import sync_vehicle_states
from ._load import LoadReport, load_registrations
from ._near_vin import build_near_vin_index
from ._queries import clear_renewals
from ._registrations import open_registration_file, read_registrations
from ._renewals import Clearance, RenewalDue, read_renewals
from ._stage import MatchCounts, retry_pending


def load_and_retry(store: Store, file: Path, *, today: date, window_days: int, index_dir: Path,
                   progress: Callable[[int], None] | None = None,
                   ) -> tuple[LoadReport, MatchCounts]:  # fmt: skip
    """Load a registration file, build the near-VIN arrays of the new load under
    ``index_dir``, then match the pending reports again (``epoi run --registrations`` does
    the same before it processes files).  ``progress`` is told the rows loaded so far."""
    try:
        with open_registration_file(file) as fh, store.engine.begin() as conn:
            report = load_registrations(conn, read_registrations(fh, name=file.name),
                                        progress=progress, file=file.name)  # fmt: skip
    except UnicodeDecodeError:
        raise InputError("REG-ENCODING", "the registration file is not UTF-8",
                         Location(file=file.name)) from None
    with store.engine.connect() as conn:
        started = time.perf_counter()
        build_near_vin_index(conn, index_dir)
        report.phases["near-VIN index"] = time.perf_counter() - started
    with store.engine.begin() as conn:
        counts = retry_pending(conn, today=today, window_days=window_days,
                               on_batch=sync_vehicle_states, near_vin_dir=index_dir)
    return report, counts


def _set_aside(rows: Iterable[RenewalDue | RowError], errors: list[RowError]
               ) -> Iterator[RenewalDue]:
    """The good rows, lazily (the list may be long); the bad ones go to ``errors``."""
    for row in rows:
        if isinstance(row, RowError):
            errors.append(row)
        else:
            yield row


def clear_renewal_file(store: Store, file: Path, *, as_of: date, clock: Callable[[], datetime],
                       each: Callable[[Clearance], None]) -> list[RowError]:  # fmt: skip
    """Clear or hold each renewal due in ``file``, handing each answer to ``each`` in the
    list's order, then store the run for the reports (one run per file and as-of day: run
    again, it is replaced), run at ``clock()``.  Returns the rows that were skipped."""
    errors: list[RowError] = []
    results: list[ClearanceResult] = []
    with open_registration_file(file) as fh, store.engine.connect() as conn:
        dues = _set_aside(read_renewals(fh, name=file.name), errors)
        for clearance in clear_renewals(conn, dues):
            results.append(_clearance_result(clearance))
            each(clearance)
    with store.engine.begin() as conn:
        record_clearance_run(conn, file_sha256=_sha256(file), file_name=file.name,
                             as_of=as_of, run_at=clock(), results=results,
                             bad_rows=len(errors))  # fmt: skip
    return errors


def _clearance_result(c: Clearance) -> ClearanceResult:
    cov = c.coverage
    return ClearanceResult(c.plate, c.vin, c.due, c.status, c.reason, c.reason_date,
                           cov.carrier_naic if cov else None, cov.policy_number if cov else None,
                           cov.report_key if cov else None)  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
