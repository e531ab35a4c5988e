"""Reports benchmark: every report and recent-courses over real HTTP through the dev host, on SQLite and PostgreSQL.

    .venv/bin/python bench/reports.py [--rows 200000] [--gets 50] [--postgres URL]

Builds --rows hires (and a tenth as many courses) with numpy, written straight into the database through
db.bulk_insert (the one write path, which keeps the report counts), not through ingest, so 10M rows take
seconds per million. Then starts `rowgate serve` on that database and prints p50/p95 of each GET next to the
floor measured in the same run (GET /api/health) and the target: p50 <= 50 ms at 10,000,000 hires.
Every request goes to 127.0.0.1 and every loop is bounded in count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared import db  # noqa: E402
from shared.context import open_rowgate  # noqa: E402
from shared.settings import Settings  # noqa: E402

CHUNK = 500_000
DEPARTMENTS, JOBS, CATEGORIES, LEVELS = 12, 183, 10, 3
EPOCH = np.datetime64("2020-01-01T00:00:00", "us")
THREE_YEARS_US = 3 * 365 * 24 * 3600 * 10**6
TARGET_MS = 50


def build(url: str, storage: Path, rows: int) -> None:
    rowgate = open_rowgate(Settings(database_url=url, storage=str(storage)))
    rng = np.random.default_rng(1)
    tables = rowgate.metadata.tables
    started = time.perf_counter()
    with rowgate.engine.begin() as conn:
        for name, key, label, count in (
            ("departments", "id", "department", DEPARTMENTS),
            ("jobs", "id", "job", JOBS),
            ("categories", "category_id", "category_name", CATEGORIES),
            ("levels", "level_id", "level_name", LEVELS),
        ):
            ids = np.arange(1, count + 1)
            db.bulk_insert(conn, tables[name], pa.table({key: ids, label: [f"{name} {i}" for i in ids]}))
    for table, total in (("hired_employees", rows), ("courses", max(rows // 10, 1))):
        for start in range(0, total, CHUNK):
            size = min(CHUNK, total - start)
            ids = np.arange(start + 1, start + size + 1)
            when = pa.array(EPOCH + rng.integers(0, THREE_YEARS_US, size).astype("timedelta64[us]"), pa.timestamp("us"))
            if table == "hired_employees":
                columns = {"id": ids, "name": pa.array(np.char.add("Hire ", ids.astype(str)).astype(object), pa.string()), "datetime": when}
                columns |= {"department_id": rng.integers(1, DEPARTMENTS + 1, size), "job_id": rng.integers(1, JOBS + 1, size)}
            else:
                columns = {"course_id": ids, "course_name": pa.array(np.char.add("Course ", ids.astype(str)).astype(object), pa.string())}
                columns |= {"category_id": rng.integers(1, CATEGORIES + 1, size), "level_id": rng.integers(1, LEVELS + 1, size)}
                columns["start_date"] = when
            with rowgate.engine.begin() as conn:
                db.bulk_insert(conn, tables[table], pa.table(columns))
    if rowgate.engine.dialect.name == "postgresql":
        with rowgate.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    rowgate.engine.dispose()
    print(f"  built {rows:,} hires and {max(rows // 10, 1):,} courses in {time.perf_counter() - started:.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(client: httpx.Client, path: str, gets: int) -> list[float]:
    samples = []
    for _ in range(gets):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:200]}")
    return samples


def serve_and_measure(url: str, storage: Path, gets: int) -> None:
    port = free_port()
    env = {**os.environ, "ROWGATE_DATABASE_URL": url, "ROWGATE_STORAGE": str(storage)}
    server = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api", timeout=120) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the dev host did not start") from None
                    time.sleep(0.2)
            paths = {
                "health (floor)": "/health",
                "hires-by-quarter 2021": "/reports/hires-by-quarter?year=2021",
                "departments-above-mean 2021": "/reports/departments-above-mean?year=2021",
                "courses/recent": "/courses/recent?limit=10",
                "courses/recent category": f"/courses/recent?limit=10&category=categories%20{CATEGORIES}",
                "courses/recent since": "/courses/recent?limit=10&since=2022-06-01T00:00:00Z",
            }
            floor = None
            for label, path in paths.items():
                measure(client, path, 3)  # warm: the first request of each route pays its imports
                ordered = sorted(measure(client, path, gets))
                p50, p95 = statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
                floor = floor or p50
                verdict = "ok" if p50 <= TARGET_MS else "OVER"
                print(
                    f"  {label:30} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {p50 / floor:5.1f}x floor  (target p50 <= {TARGET_MS} ms: {verdict})"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--gets", type=int, default=50)
    parser.add_argument(
        "--postgres", default=os.environ.get("ROWGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rowgate-bench-reports-"))
    try:
        sqlite = f"sqlite:///{work / 'reports.db'}"
        print(f"sqlite, {args.rows:,} hires")
        build(sqlite, work / "storage", args.rows)
        serve_and_measure(sqlite, work / "storage", args.gets)
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS rowgate_bench_reports CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA rowgate_bench_reports")
        except sa.exc.OperationalError as exc:
            print(f"postgres skipped: {str(exc).splitlines()[0]}")
            return
        postgres = f"{args.postgres}?options=-csearch_path%3Drowgate_bench_reports"
        print(f"postgres, {args.rows:,} hires")
        build(postgres, work / "storage-pg", args.rows)
        serve_and_measure(postgres, work / "storage-pg", args.gets)
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA rowgate_bench_reports CASCADE")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
