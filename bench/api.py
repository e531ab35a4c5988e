"""API benchmark through the dev host on loopback with SQLite, over a table that already holds --hires rows.

    .venv/bin/python bench/api.py [--hires 1000000] [--posts 60] [--gets 100] [--concurrent 800]

Builds --hires hires straight into the database (bench/reports.py's build: numpy, through db.bulk_insert),
starts `rowgate serve` on it, then times a 1000-row hired_employees POST in rounds interleaved with two floors
measured in the same run: GET /api/health over the same connection (the HTTP round trip) and the same 1000
rows inserted by a bare sqlite3 executemany into a keyed table of the same columns (the write). Prints p50/p95
and the POST's p50 as a ratio to each floor, then p50/p95 of each report GET and requests/s at concurrency 8.
Target (issue 12): 1000-row POST p50 <= 10 ms with 10,000,000 hires in the table. Every request loop is
bounded in count and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from reports import build, free_port  # bench/ is the script's folder, so its modules import

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 10
BATCH = 1000
BARE = "CREATE TABLE hires (id INTEGER PRIMARY KEY, name TEXT NOT NULL, datetime TEXT NOT NULL, department_id INTEGER, job_id INTEGER)"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def line(label: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{label:34} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  (n={len(samples)})"


def timed(call, inserted: int | None = None) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or (inserted is not None and response.json()["inserted"] != inserted):
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
    return elapsed


def batch(start: int) -> list[dict]:
    return [
        {"id": i, "name": f"Bench {i}", "datetime": "2021-06-01T12:00:00Z", "department_id": 1 + i % 12, "job_id": 1 + i % 183}
        for i in range(start, start + BATCH)
    ]


def bare_insert(bare: sqlite3.Connection, rows: list[dict]) -> float:
    started = time.perf_counter()
    with bare:
        bare.executemany("INSERT INTO hires VALUES (:id, :name, :datetime, :department_id, :job_id)", rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hires", type=int, default=1_000_000, help="rows in hired_employees before the POSTs")
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--gets", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=800, help="requests in the concurrency-8 run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rowgate-bench-api-"))
    url = f"sqlite:///{work / 'api.db'}"
    build(url, work / "storage", args.hires)
    port = free_port()
    env = {**os.environ, "ROWGATE_DATABASE_URL": url, "ROWGATE_STORAGE": str(work / "storage")}
    server = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = sqlite3.connect(work / "bare.db")
    bare.execute(BARE)
    base = f"http://127.0.0.1:{port}/api"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the dev host did not start") from None
                    time.sleep(0.2)
            headers = {"content-type": "application/json"}
            health, posts, writes = [], [], []
            for n in range(args.posts + 3):  # interleaved rounds; the first 3 warm the route (its imports) and are dropped
                rows = batch(args.hires + 1 + n * BATCH)
                body = json.dumps(rows).encode()
                round_health = timed(lambda: client.get("/health"))
                round_post = timed(
                    lambda body=body: client.post("/tables/hired_employees/rows", content=body, headers=headers), inserted=BATCH
                )
                round_write = bare_insert(bare, rows)
                if n >= 3:
                    health.append(round_health)
                    posts.append(round_post)
                    writes.append(round_write)
            post_p50 = percentiles(posts)[0]
            verdict = "ok" if post_p50 <= TARGET_MS else "OVER"
            print(f"sqlite, {args.hires:,} hires in the table")
            print(f"  {line('GET health (floor: round trip)', health)}")
            print(f"  {line('sqlite3 executemany (floor: write)', writes)}")
            print(f"  {line(f'POST {BATCH} hired_employees rows', posts)}  (target p50 <= {TARGET_MS} ms: {verdict})")
            print(
                f"  POST p50 / health p50 {post_p50 / percentiles(health)[0]:5.1f}x   "
                f"POST p50 / (health + executemany) p50 {post_p50 / (percentiles(health)[0] + percentiles(writes)[0]):5.1f}x"
            )
            gets = {
                "GET hires-by-quarter 2021": "/reports/hires-by-quarter?year=2021",
                "GET departments-above-mean 2021": "/reports/departments-above-mean?year=2021",
                "GET courses/recent": "/courses/recent?limit=10",
            }
            for label, path in gets.items():
                print(f"  {line(label, [timed(lambda path=path: client.get(path)) for _ in range(args.gets)])}")
        with ThreadPoolExecutor(8) as pool, httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=8)) as shared:
            started = time.perf_counter()
            list(pool.map(lambda _: timed(lambda: shared.get("/reports/departments-above-mean?year=2021")), range(args.concurrent)))
            elapsed = time.perf_counter() - started
        print(f"  concurrency 8, departments-above-mean: {args.concurrent / elapsed:7.1f} requests/s")
    finally:
        bare.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
