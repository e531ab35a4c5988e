"""What the console's overview costs on a big table: an exact COUNT(*) against the catalog's estimate.

    .venv/bin/python bench/overview.py [--database-url URL] [--rows 2000000]

Fills `jobs` with `--rows` rows, then times (median of 5) a `SELECT 1` round trip (the floor), COUNT(*), the
catalog's estimate where the backend keeps one (PostgreSQL after ANALYZE), and the whole overview. Prints each as
a ratio to the floor measured in the same run, so the numbers compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from shared import overview
from shared.context import open_rowgate
from shared.settings import Settings

BATCH = 100_000


def timed(run, repeats: int = 5) -> float:
    took = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rowgate-bench-overview-"))
    core = open_rowgate(Settings(database_url=args.database_url or f"sqlite:///{folder / 'o.db'}", storage=str(folder / "storage")))
    jobs = core.metadata.tables["jobs"]
    with core.engine.begin() as conn:
        conn.execute(jobs.delete())
        for start in range(0, args.rows, BATCH):
            conn.execute(jobs.insert(), [{"id": i, "job": f"Job {i}"} for i in range(start, min(args.rows, start + BATCH))])
    if core.engine.dialect.name == "postgresql":
        with core.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE jobs")
    with core.engine.connect() as conn:
        floor = timed(lambda: conn.execute(sa.text("SELECT 1")).scalar())
        count = timed(lambda: conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar())
        estimate = overview.catalog_rows(conn, jobs)
        catalog = timed(lambda: overview.catalog_rows(conn, jobs)) if estimate is not None else None
        shown = overview.row_count(conn, jobs)
    whole = timed(lambda: overview.overview(core))
    print(f"{core.engine.dialect.name}, {args.rows:,} rows in jobs; floor (SELECT 1) {floor * 1e6:.0f} us")
    print(f"  COUNT(*)          {count * 1000:8.1f} ms  {count / floor:10.0f} x floor")
    if catalog is not None:
        print(f"  catalog estimate  {catalog * 1000:8.3f} ms  {catalog / floor:10.1f} x floor  ({estimate:,} rows estimated)")
    print(f"  overview (all)    {whole * 1000:8.1f} ms  {whole / floor:10.0f} x floor  (jobs shown as {shown[0]:,}, exact: {shown[1]})")
    core.engine.dispose()


if __name__ == "__main__":
    main()
