"""What the embedded store holds, table by table: the bytes of each table and of its indexes,
per policy stored.  Every byte of a table the main job writes goes through SQLite twice (the
WAL, then the checkpoint) and is written again in part by each later commit that touches
the same page, so bytes per policy is where the writes' cost starts.

Usage:  python benchmarks/store_volume.py EPOI_HOME_OR_DB_FILE

Read-only; SQLite's ``dbstat`` table gives the pages.  The registrations' tables are loaded
before a run, not written by it: they are listed apart.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections import defaultdict
from pathlib import Path

# Written by ``epoi registrations load``, read by the run.
_LOADED = {"registrations", "registration_name_keys"}


def volumes(db: Path) -> tuple[int, list[tuple[str, int, int]]]:
    """(policies stored, [(table, table bytes, index bytes)], largest first)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master"))
        table_bytes: dict[str, int] = defaultdict(int)
        index_bytes: dict[str, int] = defaultdict(int)
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            (table_bytes if table == name else index_bytes)[table] += size
        policies = conn.execute("SELECT COUNT(*) FROM policy_reports").fetchone()[0]
    finally:
        conn.close()
    rows = [(t, table_bytes[t], index_bytes[t]) for t in set(table_bytes) | set(index_bytes)]
    rows.sort(key=lambda r: r[1] + r[2], reverse=True)
    return policies, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path, help="an EPOI_HOME or its epoi.db")
    args = ap.parse_args()
    db = args.store / "epoi.db" if args.store.is_dir() else args.store
    policies, rows = volumes(db)
    per = max(policies, 1)
    written = [r for r in rows if r[0] not in _LOADED]
    total = sum(t + i for _n, t, i in written)
    print(f"{db}: {policies:,} policies; the tables a run writes hold {total / 2**20:,.1f} MB,"
          f" {total / per:,.0f} bytes a policy")
    print(f"{'table':<28}{'table MB':>10}{'index MB':>10}{'bytes/policy':>14}{'share':>8}")
    for name, t, i in written:
        if t + i >= 2**16:
            print(f"{name:<28}{t / 2**20:>10.1f}{i / 2**20:>10.1f}{(t + i) / per:>14,.0f}"
                  f"{(t + i) / max(total, 1):>8.0%}")
    for name, t, i in rows:
        if name in _LOADED:
            print(f"{name + ' (loaded)':<28}{t / 2**20:>10.1f}{i / 2**20:>10.1f}")


if __name__ == "__main__":
    main()
