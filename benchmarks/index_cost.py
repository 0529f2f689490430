"""What each index of a table costs the main job's writes: the table's rows, as a run stored
them, inserted again into a fresh SQLite file with the store's settings (WAL,
``synchronous=NORMAL``, the store's autocheckpoint), in as many transactions as the run had
units, with all of the table's indexes and then without each named index in turn (the
indexes SQLite makes for a UNIQUE constraint stay: they are the natural keys).

Usage:  python benchmarks/index_cost.py EPOI_HOME_OR_DB_FILE [--table match_results ...]
            [--transactions N] [--rounds 2]

Reported: CPU seconds of this process (``time.thread_time``: SQLite runs in it) per variant,
the median of ``--rounds``, and the share of the all-indexes time each index costs.  Bytes
per policy (``store_volume.py``) say what is written; this says what each index's upkeep
costs, which is not the same: a random key (a VIN) costs far more than its bytes.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from epoi.store._engine import SQLITE_WAL_AUTOCHECKPOINT


def _schema(src: sqlite3.Connection, table: str) -> tuple[str, list[tuple[str, str]]]:
    (create,) = src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone()  # fmt: skip
    indexes = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                          "AND tbl_name = ? AND sql IS NOT NULL", (table,)).fetchall()  # fmt: skip
    return create, indexes


def _insert(create: str, indexes: list[str], columns: list[str], rows: list[tuple[object, ...]],
            transactions: int) -> float:
    """CPU seconds to insert ``rows`` into a fresh table with ``indexes``."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "replay.db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                       f"wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}"):
            conn.execute(f"PRAGMA {pragma}")
        for statement in (create, *indexes):
            conn.execute(statement)
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f"INSERT INTO t ({names}) VALUES ({', '.join('?' * len(columns))})"
        per = len(rows) // transactions + 1
        start = time.thread_time()
        for i in range(0, len(rows), per):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows[i:i + per])
            conn.execute("COMMIT")
        spent = time.thread_time() - start
        conn.close()
    return spent


def measure(db: Path, table: str, transactions: int, rounds: int) -> list[tuple[str, float]]:
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        create, indexes = _schema(src, table)
        cursor = src.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        src.close()
    # The replay's own table: same columns, constraints and (renamed) indexes.
    create = create.replace(f"CREATE TABLE {table} ", "CREATE TABLE t ", 1)
    renamed = [(name, sql.replace(f" ON {table} ", " ON t ", 1)) for name, sql in indexes]
    variants = [("every index", [sql for _n, sql in renamed])]
    variants += [(f"without {name}", [sql for n, sql in renamed if n != name])
                 for name, _sql in renamed]
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(rounds):  # in turn, so that each variant sees the same machine
        for label, chosen in variants:
            times[label].append(_insert(create, chosen, columns, rows, transactions))
    return [(label, statistics.median(t)) for label, t in times.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--table", action="append", default=None,
                    help="table to replay (repeatable; default match_results, policy_reports)")
    ap.add_argument("--transactions", type=int, default=0,
                    help="transactions to insert in (default: the run's normalize units)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    db = args.home / "epoi.db" if args.home.is_dir() else args.home
    transactions = args.transactions
    if not transactions:
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        (transactions,) = src.execute(
            "SELECT COUNT(*) FROM work_units WHERE kind = 'normalize'").fetchone()
        src.close()
    for table in args.table or ["match_results", "policy_reports"]:
        results = measure(db, table, max(transactions, 1), args.rounds)
        every = results[0][1]
        print(f"{table}: replayed in {transactions} transactions, CPU seconds "
              f"(median of {args.rounds})")
        for label, spent in results:
            share = "" if label == "every index" else f"  the index: {(every - spent) / every:5.0%}"
            print(f"  {spent:6.2f}  {label}{share}")


if __name__ == "__main__":
    main()
