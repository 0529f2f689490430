"""Compare what two `epoi run`s stored: the same input run by two trees must store the same.

Usage:  python benchmarks/compare_homes.py HOME_A HOME_B

Each HOME is an embedded ``EPOI_HOME`` (``epoi.db`` and ``acks/``).  For every table the
data path writes (reports, business errors, vehicles with their match states, insureds,
``match_results``, ``match_reports``) it prints the row count and a digest of the rows
ordered by their natural keys (ids left out), and a digest of every TA1, 997 and
error-return file with the ISA/GS date and time masked.  A rewrite for speed prints SAME
on every line.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

QUERIES = {
    "reports": "SELECT natural_key, status, transaction_type, effective_date FROM policy_reports"
               " ORDER BY natural_key",
    "errors": "SELECT r.natural_key, e.ordinal, e.code, e.severity, e.segment_position, e.element"
              " FROM business_errors e JOIN policy_reports r ON r.id = e.policy_report_id"
              " ORDER BY 1, 2",
    "vehicles": "SELECT r.natural_key, v.ordinal, v.vin, v.match_state FROM vehicles v"
                " JOIN policy_reports r ON r.id = v.policy_report_id ORDER BY 1, 2",
    "insureds": "SELECT r.natural_key, i.ordinal, i.last_name, i.date_of_birth FROM insureds i"
                " JOIN policy_reports r ON r.id = i.policy_report_id ORDER BY 1, 2",
    "match_results": "SELECT report_key, position, vehicle_index, state, step, plate, vin, agreed,"
                     " candidates, fleet FROM match_results ORDER BY 1, 2",
    "match_reports": "SELECT report_key, first_tried, report <> '' FROM match_reports ORDER BY 1",
}


def _digest(rows: object) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:12]


def _masked(path: Path) -> str:
    """An ack or error-return file with the envelopes' dates and times blanked."""
    text = path.read_text(encoding="latin-1")
    term = text[105] if len(text) > 105 else "~"
    sep = text[3] if len(text) > 3 else "*"
    segments = []
    for seg in text.split(term):
        e = seg.split(sep)
        if e[0].strip() == "ISA" and len(e) > 10:
            e[9] = e[10] = "X"
        if e[0].strip() == "GS" and len(e) > 5:
            e[4] = e[5] = "X"
        segments.append(sep.join(e))
    return path.name + "\n" + term.join(segments)


def summary(home: Path) -> dict[str, object]:
    db = sqlite3.connect(home / "epoi.db")
    out: dict[str, object] = {}
    for name, sql in QUERIES.items():
        rows = db.execute(sql).fetchall()
        out[name] = (len(rows), _digest(rows))
    files = sorted((home / "acks").rglob("*.x12"))
    out["ack and error-return files"] = (len(files), _digest([_masked(f) for f in files]))
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    a, b = summary(Path(sys.argv[1])), summary(Path(sys.argv[2]))
    for name in a:
        print(("SAME " if a[name] == b[name] else "DIFF ") + name, a[name], b[name])
    if a != b:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
