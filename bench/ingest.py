"""Ingest benchmark: the whole `rowgate ingest` process against the databases' own bulk loaders.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--big-gb 1.0] [--postgres URL]

Generates hired_employees rows plus their parents, then prints rows/s, the ratio to `sqlite3 .import`
into a bare table (which validates nothing), and on PostgreSQL the ratios to `\\copy` into a bare
table and into a table with our keys and foreign keys; and the peak RSS of each rowgate process,
also for a file of about --big-gb GB. Constraints stay on: rowgate loads into its real schema.
Targets: SQLite <= 3x .import, PostgreSQL <= 1.5x constrained \\copy, peak RSS <= 300 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWGATE = [sys.executable, "-m", "shared.cli"]
# Everything heavy runs in child processes: a child's peak RSS counts its parent's pages until exec,
# so this process stays small to keep each figure the child's own.


def run(command: list[str], env: dict | None = None, stdin: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.DEVNULL, text=True)
    if stdin:
        process.stdin.write(stdin)
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return elapsed, usage.ru_maxrss / 1024


def generate(rows: int, seed: int, out: Path, dirty_rate: float = 0.0) -> list[Path]:
    run(ROWGATE + ["generate", "hr", "--rows", str(rows), "--seed", str(seed), "--out", str(out), "--dirty-rate", str(dirty_rate)])
    return [out / "departments.csv", out / "jobs.csv", out / "hired_employees.csv"]


def rowgate_ingest(database_url: str, storage: Path, files: list[Path]) -> tuple[float, float]:
    env = {**os.environ, "ROWGATE_DATABASE_URL": database_url, "ROWGATE_STORAGE": str(storage)}
    run(ROWGATE + ["ingest", *map(str, files[:2])], env)  # parents, untimed
    return run(ROWGATE + ["ingest", str(files[2])], env)


def sqlite_figures(files: list[Path], work: Path, rows: int) -> None:
    database = work / "rowgate.db"
    database.unlink(missing_ok=True)
    seconds, rss = rowgate_ingest(f"sqlite:///{database}", work / "storage", files)
    bare = work / "bare.db"
    bare.unlink(missing_ok=True)
    script = f"CREATE TABLE h(id, name, datetime, department_id, job_id);\n.mode csv\n.import {files[2]} h\n"
    floor, _ = run(["sqlite3", str(bare)], stdin=script)
    print(f"sqlite   rowgate ingest  {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {rss:6.0f} MiB")
    print(f"sqlite   .import (bare)  {floor:7.2f} s  {rows / floor:>10,.0f} rows/s  ratio {seconds / floor:.2f}x (target <= 3)")


def postgres_figures(files: list[Path], work: Path, rows: int, url: str) -> None:
    plain = url.replace("+psycopg", "")
    try:
        run(
            [
                "psql",
                plain,
                "-qc",
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS rowgate_bench CASCADE; CREATE SCHEMA rowgate_bench",
            ]
        )
    except SystemExit as exc:
        print(f"postgres skipped: {exc}")
        return
    seconds, rss = rowgate_ingest(f"{url}?options=-csearch_path%3Drowgate_bench", work / "storage-pg", files)
    run(
        ["psql", plain, "-qc", "CREATE TABLE rowgate_bench.bare (id bigint, name text, datetime text, department_id bigint, job_id bigint)"]
    )
    keyed_table = (
        "CREATE TABLE rowgate_bench.keyed (id bigint PRIMARY KEY, name varchar(255) NOT NULL, datetime timestamp NOT NULL, "
        "department_id bigint NOT NULL REFERENCES rowgate_bench.departments(id), job_id bigint NOT NULL REFERENCES rowgate_bench.jobs(id))"
    )
    run(["psql", plain, "-qc", keyed_table])
    bare, _ = run(["psql", plain, "-qc", f"\\copy rowgate_bench.bare FROM '{files[2]}' csv"])
    keyed, _ = run(["psql", plain, "-qc", f"\\copy rowgate_bench.keyed FROM '{files[2]}' csv"])
    run(["psql", plain, "-qc", "SET client_min_messages = warning; DROP SCHEMA rowgate_bench CASCADE"])
    print(f"postgres rowgate ingest  {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {rss:6.0f} MiB")
    print(f"postgres \\copy (bare)    {bare:7.2f} s  {rows / bare:>10,.0f} rows/s  ratio {seconds / bare:.2f}x")
    print(f"postgres \\copy (keys)    {keyed:7.2f} s  {rows / keyed:>10,.0f} rows/s  ratio {seconds / keyed:.2f}x (target <= 1.5)")


def big_file_figures(work: Path, gigabytes: float) -> None:
    rows = int(gigabytes * 1024**3 / 45)  # a generated hire row is about 45 bytes
    files = generate(rows, seed=2, out=work / "big", dirty_rate=0.01)
    size = files[2].stat().st_size / 1024**3
    database = work / "big.db"
    database.unlink(missing_ok=True)
    seconds, rss = rowgate_ingest(f"sqlite:///{database}", work / "storage-big", files)
    print(f"sqlite   {size:.2f} GB file    {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {rss:6.0f} MiB (target <= 300)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-gb", type=float, default=1.0, help="size of the memory run's file; 0 skips it")
    parser.add_argument(
        "--postgres", default=os.environ.get("ROWGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    files = generate(args.rows, seed=1, out=args.work / "hr")
    print(
        f"{args.rows:,} hired_employees rows, {files[2].stat().st_size / 1024**2:.0f} MiB, chunk {os.environ.get('ROWGATE_CHUNK_ROWS', '50000')} rows"
    )
    if shutil.which("sqlite3"):
        sqlite_figures(files, args.work, args.rows)
    else:
        print("sqlite3 CLI not installed: no .import baseline (apt-get install sqlite3)")
    if shutil.which("psql"):
        postgres_figures(files, args.work, args.rows, args.postgres)
    if args.big_gb > 0:
        big_file_figures(args.work, args.big_gb)
    shutil.rmtree(args.work / "big", ignore_errors=True)


if __name__ == "__main__":
    main()
