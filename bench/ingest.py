"""Ingest benchmark: the whole `rowgate ingest` process against the databases' own bulk loaders, in the same run.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--runs 3] [--sizes 100000,1000000] [--postgres URL]

Generates hired_employees rows plus their parents (no dirty rows: the floors cannot refuse any), then prints
medians of --runs interleaved rounds, each a fresh database, as ratios to floors measured in the same run:

- SQLite: `sqlite3 .import` into a bare table and into rowgate's own hired_employees table (same keys and
  foreign keys, PRAGMA foreign_keys=ON, WAL as rowgate opens it); pandas read_csv + to_sql on a raw sqlite3
  connection, which validates nothing. Targets: <= 1.1x the keyed .import, faster than pandas.
- PostgreSQL: psql `\\copy` into a bare table and into the keyed one. Target: <= 1.05x the keyed \\copy.
- Linear cost: rowgate's rows/s on SQLite at each of --sizes (within 10 % of each other), and the peak RSS of
  every rowgate process, library imports included (target <= 150 MiB at any size).
Constraints stay on: rowgate loads into its real schema.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWGATE = [sys.executable, "-m", "shared.cli"]
MAX_RSS_MIB = 150
PANDAS_VENV = ROOT / ".tools" / "bench-pandas"
PANDAS_REQUIREMENT = "pandas>=2.2"
PANDAS = """
import sqlite3, sys
import pandas
rows = pandas.read_csv(sys.argv[1], header=None, names=["id", "name", "datetime", "department_id", "job_id"])
with sqlite3.connect(sys.argv[2]) as conn:
    rows.to_sql("hired_employees", conn, index=False)
"""
# What every rowgate process pays before its first row: Python and its libraries (Arrow's first array sets up its
# compute kernels and memory pool: about 50 MiB of RSS by itself).
LIBRARIES = "import shared.cli, shared.ingest, pyarrow; pyarrow.array([1])"
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


def generate(rows: int, out: Path) -> list[Path]:
    if not (out / "hired_employees.csv").exists():
        run(ROWGATE + ["generate", "hr", "--rows", str(rows), "--seed", "1", "--out", str(out), "--dirty-rate", "0"])
    return [out / "departments.csv", out / "jobs.csv", out / "hired_employees.csv"]


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def rowgate_env(database_url: str, storage: Path) -> dict:
    return {**os.environ, "ROWGATE_DATABASE_URL": database_url, "ROWGATE_STORAGE": str(storage)}


def rowgate_ingest(database_url: str, storage: Path, files: list[Path]) -> tuple[float, float]:
    env = rowgate_env(database_url, storage)
    run(ROWGATE + ["ingest", *map(str, files[:2])], env)  # parents, untimed
    return run(ROWGATE + ["ingest", str(files[2])], env)


def sqlite_rowgate(files: list[Path], work: Path) -> tuple[float, float]:
    folder = fresh(work / "sqlite-rowgate")
    return rowgate_ingest(f"sqlite:///{folder}/rowgate.db", folder / "storage", files)


def sqlite_import(files: list[Path], work: Path, keyed: bool) -> float:
    """`.import` into a bare table, or into rowgate's own schema (its DDL, parents loaded, foreign keys on)."""
    folder = fresh(work / "sqlite-import")
    database = folder / "floor.db"
    if not keyed:
        script = f"CREATE TABLE h(id, name, datetime, department_id, job_id);\n.mode csv\n.import {files[2]} h\n"
        return run(["sqlite3", str(database)], stdin=script)[0]
    run(ROWGATE + ["init"], rowgate_env(f"sqlite:///{database}", folder / "storage"))
    parents = f".mode csv\n.import {files[0]} departments\n.import {files[1]} jobs\n"
    run(["sqlite3", str(database)], stdin=parents)
    script = (
        f"PRAGMA foreign_keys=ON;\nPRAGMA journal_mode=WAL;\nPRAGMA synchronous=NORMAL;\n.mode csv\n.import {files[2]} hired_employees\n"
    )
    return run(["sqlite3", str(database)], stdin=script)[0]


def pandas_python() -> Path:
    """An interpreter with pandas, in a venv of its own: where pandas is importable, Arrow's first array imports it
    (pyarrow's pandas shim), which would add about 50 MiB and 0.4 s to every rowgate process measured here,
    though the deployed package holds no pandas."""
    python = PANDAS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PANDAS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PANDAS_REQUIREMENT], check=True)
    return python


def pandas_to_sql(files: list[Path], work: Path) -> float:
    folder = fresh(work / "sqlite-pandas")
    return run([str(pandas_python()), "-c", PANDAS, str(files[2]), str(folder / "pandas.db")])[0]


def psql(url: str, command: str) -> float:
    return run(["psql", url.replace("+psycopg", ""), "-q", "-c", "SET client_min_messages = warning", "-c", command])[0]


def postgres_rowgate(files: list[Path], work: Path, url: str) -> tuple[float, float]:
    psql(url, "DROP SCHEMA IF EXISTS rowgate_bench CASCADE; CREATE SCHEMA rowgate_bench")
    return rowgate_ingest(f"{url}?options=-csearch_path%3Drowgate_bench", fresh(work / "storage-pg"), files)


def postgres_copy(files: list[Path], url: str, keyed: bool) -> float:
    """\\copy into a bare table, or into one with rowgate's keys (the parents rowgate loaded are there)."""
    if keyed:
        table = (
            "keyed (id bigint PRIMARY KEY, name varchar(255) NOT NULL, datetime timestamp NOT NULL, "
            "department_id bigint NOT NULL REFERENCES rowgate_bench.departments(id), job_id bigint NOT NULL REFERENCES rowgate_bench.jobs(id))"
        )
    else:
        table = "bare (id bigint, name text, datetime text, department_id bigint, job_id bigint)"
    name = table.split()[0]
    psql(url, f"DROP TABLE IF EXISTS rowgate_bench.{name}; CREATE TABLE rowgate_bench.{table}")
    return psql(url, f"\\copy rowgate_bench.{name} FROM '{files[2]}' csv")


def median_rounds(cases: dict, runs: int) -> dict:
    """Each case's median over `runs` rounds of all cases, so a busy moment of a shared machine hits them alike."""
    results = {label: [] for label in cases}
    for _ in range(runs):
        for label, case in cases.items():
            results[label].append(case())
    return {label: statistics.median(values) for label, values in results.items()}


def compare(backend: str, rowgate, floors: dict, targets: dict, args, peaks: list) -> None:
    """rowgate's ingest against each floor in interleaved rounds; its peak RSS of every run goes to peaks."""

    def rowgate_case():
        seconds, rss = rowgate()
        peaks.append(rss)
        return seconds

    seconds = median_rounds({"rowgate ingest": rowgate_case, **floors}, args.runs)
    mine = seconds["rowgate ingest"]
    for label, value in seconds.items():
        ratio = "" if label == "rowgate ingest" else f"  rowgate is {mine / value:.2f}x"
        target = f" (target {targets[label]})" if label in targets else ""
        print(f"{backend:8} {label:16} {value:7.2f} s  {args.rows / value:>10,.0f} rows/s{ratio}{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="100000,1000000", help="row counts of the linear-cost figure (add 10000000 for the full one)")
    parser.add_argument(
        "--postgres", default=os.environ.get("ROWGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    files = generate(args.rows, args.work / f"hr-{args.rows}")
    print(
        f"{args.rows:,} hired_employees rows, {files[2].stat().st_size / 1024**2:.0f} MiB, chunk {os.environ.get('ROWGATE_CHUNK_ROWS', '50000')} rows"
    )
    peaks = []
    startup = [run([sys.executable, "-c", LIBRARIES]) for _ in range(args.runs)]
    floor_seconds, floor_rss = (statistics.median(r[i] for r in startup) for i in (0, 1))
    print(f"rowgate's libraries alone (start-up floor of any process): {floor_seconds:.2f} s, peak RSS {floor_rss:.0f} MiB")

    if shutil.which("sqlite3"):
        cases = {
            ".import (bare)": lambda: sqlite_import(files, args.work, keyed=False),
            ".import (keys)": lambda: sqlite_import(files, args.work, keyed=True),
            "pandas to_sql": lambda: pandas_to_sql(files, args.work),
        }
        targets = {".import (keys)": "<= 1.1", "pandas to_sql": "< 1"}
        compare("sqlite", lambda: sqlite_rowgate(files, args.work), cases, targets, args, peaks)
    else:
        print("sqlite3 CLI not installed: no .import floor (scripts/setup.sh installs it with apt-get)")

    if shutil.which("psql"):
        try:
            psql(args.postgres, "SELECT 1")
        except SystemExit as exc:
            print(f"postgres skipped: {exc}")
        else:
            cases = {
                "\\copy (bare)": lambda: postgres_copy(files, args.postgres, keyed=False),
                "\\copy (keys)": lambda: postgres_copy(files, args.postgres, keyed=True),
            }
            compare("postgres", lambda: postgres_rowgate(files, args.work, args.postgres), cases, {"\\copy (keys)": "<= 1.05"}, args, peaks)
            psql(args.postgres, "DROP SCHEMA rowgate_bench CASCADE")

    speeds, net = {}, {}
    for size in map(int, args.sizes.split(",")):
        sized = generate(size, args.work / f"hr-{size}")
        runs = [sqlite_rowgate(sized, args.work) for _ in range(args.runs if size <= args.rows else 1)]
        peaks += [rss for _, rss in runs]
        seconds = statistics.median(seconds for seconds, _ in runs)
        speeds[size], net[size] = size / seconds, size / max(seconds - floor_seconds, 1e-9)
        print(
            f"linear   {size:>11,} rows  {speeds[size]:>10,.0f} rows/s, {net[size]:>10,.0f} past the start-up floor  "
            f"peak RSS {max(rss for _, rss in runs):4.0f} MiB"
        )
    if len(speeds) > 1:
        spread, net_spread = (max(v.values()) / min(v.values()) - 1 for v in (speeds, net))
        sizes = ", ".join(f"{s:,}" for s in speeds)
        print(f"linear   rows/s spread across {sizes}: {spread:.1%}, past the start-up floor {net_spread:.1%} (target <= 10%)")
    print(f"peak RSS of any rowgate ingest: {max(peaks):.0f} MiB (target <= {MAX_RSS_MIB}; the libraries alone take {floor_rss:.0f})")


if __name__ == "__main__":
    main()
