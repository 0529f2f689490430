"""What a leaner store would cost the single SQLite writer: a run's rows replayed into a fresh
file, as the store holds them today (six tables) and with each vehicle's match result as
columns of its ``vehicles`` row (the VIN index moved there, no ``match_reports``, only a
fleet's results left in ``match_results``).  A measure for the schema decision of issue 14,
not a schema anyone uses.

Usage:  python benchmarks/lean_store.py EPOI_HOME_OR_DB_FILE [--rounds 3]

The home is one ``epoi run`` left (``benchmarks/ab.py`` or ``run.py`` make them).  Its
reports are cut into as many transactions as the run had normalize units, each with its
reports' rows of every table, inserted with the store's settings (WAL,
``synchronous=NORMAL``, the store's autocheckpoint).  Reported: CPU seconds of this process
(``time.thread_time``: SQLite runs in it), per round and the median.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from epoi.store._engine import SQLITE_WAL_AUTOCHECKPOINT

_TODAY = ("policy_reports", "insureds", "vehicles", "business_errors", "match_reports",
          "match_results")
# The match result's columns a vehicle row would carry (``first_tried`` from match_reports).
_MATCH = ("state", "step", "plate", "vin", "agreed", "vin_distance", "candidates", "tried_on")

Rows = list[tuple[Any, ...]]
Plan = list[tuple[str, list[str], list[Rows]]]  # (table, columns, rows per transaction)


def _schema(src: sqlite3.Connection, table: str) -> list[str]:
    out = [src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (table,)).fetchone()[0]]  # fmt: skip
    out += [sql for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE type = 'index' "
                                          "AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    return out


def _read(src: sqlite3.Connection, table: str) -> tuple[list[str], Rows]:
    cursor = src.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
    return [d[0] for d in cursor.description], cursor.fetchall()


def _plans(src: sqlite3.Connection, transactions: int) -> tuple[list[str], Plan, list[str], Plan]:
    data = {t: _read(src, t) for t in _TODAY}
    report_cols, reports = data["policy_reports"]
    per = len(reports) // transactions + 1
    cut = [reports[i:i + per] for i in range(0, len(reports), per)]
    unit_of_id = {r[0]: n for n, part in enumerate(cut) for r in part}
    unit_of_key = {r[1]: n for n, part in enumerate(cut) for r in part}
    key_of_id = {r[0]: r[1] for r in reports}

    def by(rows: Rows, unit: Any) -> list[Rows]:
        out: list[Rows] = [[] for _ in cut]
        for r in rows:
            out[unit(r)].append(r)
        return out

    def children(table: str) -> tuple[str, list[str], list[Rows]]:
        cols, rows = data[table]
        return table, cols, by(rows, lambda r: unit_of_id[r[1]])

    result_cols, results = data["match_results"]
    k, vi = result_cols.index("report_key"), result_cols.index("vehicle_index")
    today: Plan = [("policy_reports", report_cols, cut), children("insureds"),
                   children("vehicles"), children("business_errors")]
    cols, rows = data["match_reports"]
    today.append(("match_reports", cols, by(rows, lambda r: unit_of_key[r[0]])))
    today.append(("match_results", result_cols, by(results, lambda r: unit_of_key[r[k]])))

    of_vehicle = {(r[k], r[vi]): r for r in results if r[vi] is not None}
    picks = [result_cols.index(c) for c in _MATCH]
    vehicle_cols, vehicles = data["vehicles"]
    lean_vehicles = []
    for v in vehicles:
        m = of_vehicle.get((key_of_id[v[1]], v[2]))
        lean_vehicles.append((*v, *([m[i] for i in picks] if m else [None] * len(picks)),
                              "2026-01-01"))
    extra = [f"result_{c}" for c in _MATCH] + ["first_tried"]
    lean: Plan = [("policy_reports", report_cols, cut), children("insureds"),
                  ("vehicles", vehicle_cols + extra, by(lean_vehicles, lambda r: unit_of_id[r[1]])),
                  children("business_errors"),
                  ("match_results", result_cols,
                   by([r for r in results if r[vi] is None], lambda r: unit_of_key[r[k]]))]
    today_schema = [s for t in _TODAY for s in _schema(src, t)]
    vehicles_sql = _schema(src, "vehicles")[0].replace(
        "match_state VARCHAR(16),", "match_state VARCHAR(16)," + "".join(
            f" {c} TEXT," for c in extra), 1)
    lean_schema = [s for t in ("policy_reports", "insureds", "business_errors", "match_results")
                   for s in _schema(src, t)]
    lean_schema += [vehicles_sql, "CREATE INDEX ix_vehicles_result_vin ON vehicles (result_vin)"]
    return today_schema, today, lean_schema, lean


def _replay(schema: list[str], plan: Plan) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "replay.db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                       f"wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}"):
            conn.execute(f"PRAGMA {pragma}")
        for statement in schema:
            conn.execute(statement)
        sql = {t: f'INSERT INTO "{t}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                  f'VALUES ({", ".join("?" * len(cols))})' for t, cols, _ in plan}
        start = time.thread_time()
        for n in range(len(plan[0][2])):
            conn.execute("BEGIN IMMEDIATE")
            for table, _cols, parts in plan:
                if parts[n]:
                    conn.executemany(sql[table], parts[n])
            conn.execute("COMMIT")
        spent = time.thread_time() - start
        conn.close()
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    db = args.home / "epoi.db" if args.home.is_dir() else args.home
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (units,) = src.execute(
            "SELECT COUNT(*) FROM work_units WHERE kind = 'normalize'").fetchone()
        today_schema, today, lean_schema, lean = _plans(src, max(units, 1))
    finally:
        src.close()
    times: dict[str, list[float]] = {"today (six tables)": [], "lean (match on vehicle rows)": []}
    for _ in range(args.rounds):  # in turn, so that both see the same machine
        times["today (six tables)"].append(_replay(today_schema, today))
        times["lean (match on vehicle rows)"].append(_replay(lean_schema, lean))
    print(f"{units} transactions, CPU seconds of the inserts and commits")
    for label, spent in times.items():
        print(f"  {label:30s} {', '.join(f'{t:.2f}' for t in spent)}  median "
              f"{statistics.median(spent):.2f}")


if __name__ == "__main__":
    main()
