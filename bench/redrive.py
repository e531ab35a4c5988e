"""Re-drive cost: a 1-row parent insert while many child rows wait, refused for a missing parent.

    .venv/bin/python bench/redrive.py [--database-url URL] [--waiting 19000] [--clients 16]

Logs `--waiting` hired_employees rows refused because their department (one of 1,900 missing ids) does not
exist, then times: a 1-row departments insert naming none of them, one whose id 10 children wait for, and
`--clients` threads each inserting a 1-row department at once, then a 1000-row insert whose keys 10,000
children wait for (the request re-drives its share) and the re-drive timer that takes the rest.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from shared.batch import insert_rows
from shared.context import open_rowgate
from shared.replay import REDRIVE_INLINE, redrive_pending
from shared.settings import Settings

MISSING_FROM = 10_000  # department ids the waiting children name: MISSING_FROM .. MISSING_FROM + waiting / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--waiting", type=int, default=19_000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rowgate-bench-redrive-"))
    rowgate = open_rowgate(Settings(database_url=args.database_url or f"sqlite:///{folder / 'r.db'}", storage=str(folder / "storage")))
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    for start in range(0, args.waiting, 1000):
        rows = [
            {"id": i, "name": f"W{i}", "datetime": "2021-05-01T10:00:00Z", "department_id": MISSING_FROM + i // 10, "job_id": 1}
            for i in range(start, min(args.waiting, start + 1000))
        ]
        insert_rows(rowgate, "hired_employees", rows)

    def parent(key: int) -> float:
        started = time.perf_counter()
        insert_rows(rowgate, "departments", [{"id": key, "department": f"D{key}"}])
        return time.perf_counter() - started

    print(f"{rowgate.engine.dialect.name}, {args.waiting} open child rejections")
    print(f"1-row parent insert, no child waits for it:  {parent(1):6.3f} s")
    print(f"1-row parent insert, 10 children wait for it: {parent(MISSING_FROM):6.3f} s")
    with rowgate.engine.connect() as conn:
        loaded = conn.execute(sa.select(sa.func.count()).select_from(rowgate.metadata.tables["hired_employees"])).scalar_one()
    assert loaded == 10, f"{loaded} children loaded; 10 waited for that parent"
    with ThreadPoolExecutor(args.clients) as pool:
        started = time.perf_counter()
        times = list(pool.map(parent, range(2, 2 + args.clients)))
        wall = time.perf_counter() - started
    print(
        f"{args.clients} clients at once, 1-row parent each: median {statistics.median(times):6.3f} s, max {max(times):6.3f} s, wall {wall:6.3f} s"
    )
    started = time.perf_counter()
    insert_rows(rowgate, "departments", [{"id": MISSING_FROM + k, "department": f"D{k}"} for k in range(1, 1001)])
    print(
        f"1000-row parent insert, 10,000 children wait for it (at most {REDRIVE_INLINE} re-driven inline): {time.perf_counter() - started:6.3f} s"
    )
    started = time.perf_counter()
    resolved = sum(r.resolved for r in redrive_pending(rowgate))
    print(f"re-drive timer after it: {resolved} rows resolved in {time.perf_counter() - started:6.3f} s")
    rowgate.engine.dispose()


if __name__ == "__main__":
    main()
