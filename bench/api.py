"""API benchmark through the dev host on loopback with SQLite.

    .venv/bin/python bench/api.py [--posts 50] [--gets 100] [--concurrent 800]

Starts `rowgate serve` on a free port with a fresh database, loads 50,000 generated hires through the
landing folder, then prints p50/p95 latency of a 1000-row hired_employees POST and of each report
GET, and requests/s at concurrency 8. Target: 1000-row POST p50 <= 100 ms. Every request loop is
bounded in count and talks to 127.0.0.1 only.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ROWGATE = [sys.executable, "-m", "shared.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  (n={len(ordered)})"


def timed(call, inserted: int | None = None) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or (inserted is not None and response.json()["inserted"] != inserted):
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--gets", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=800, help="requests in the concurrency-8 run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rowgate-bench-api-"))
    port = free_port()
    env = {**os.environ, "ROWGATE_DATABASE_URL": f"sqlite:///{work / 'api.db'}", "ROWGATE_STORAGE": str(work / "storage")}
    subprocess.run(
        ROWGATE + ["generate", "hr", "--rows", "50000", "--seed", "1", "--out", str(work / "storage" / "landing"), "--dirty-rate", "0"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        ROWGATE + ["serve", "--port", str(port), "--poll", "0.2"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if os.listdir(work / "storage" / "landing") == [] and client.get("/health").status_code == 200:
                        break
                except (httpx.TransportError, FileNotFoundError):
                    pass
                time.sleep(0.2)
            posts = []
            for n in range(args.posts):
                start = 100_000 + n * 1000
                rows = [
                    {"id": i, "name": f"Bench {i}", "datetime": "2021-06-01T12:00:00Z", "department_id": 1 + i % 12, "job_id": 1 + i % 183}
                    for i in range(start, start + 1000)
                ]
                posts.append(timed(lambda rows=rows: client.post("/tables/hired_employees/rows", json=rows), inserted=1000))
            print(f"POST 1000 hired_employees rows     {percentiles(posts)}  (target p50 <= 100 ms)")
            gets = {
                "GET hires-by-quarter 2021        ": "/reports/hires-by-quarter?year=2021",
                "GET departments-above-mean 2021  ": "/reports/departments-above-mean?year=2021",
                "GET courses/recent               ": "/courses/recent?limit=10",
            }
            for label, path in gets.items():
                print(f"{label}   {percentiles([timed(lambda path=path: client.get(path)) for _ in range(args.gets)])}")
        with ThreadPoolExecutor(8) as pool, httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=8)) as shared:
            started = time.perf_counter()
            list(pool.map(lambda _: timed(lambda: shared.get("/reports/departments-above-mean?year=2021")), range(args.concurrent)))
            elapsed = time.perf_counter() - started
        print(f"concurrency 8, departments-above-mean: {args.concurrent / elapsed:7.1f} requests/s")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
