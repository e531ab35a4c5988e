"""Cold-start benchmark: `import function_app` in fresh processes, against floors measured in the same run.

    .venv/bin/python bench/coldstart.py [--runs 7]

Prints the median wall and CPU time of `python -c pass`, `python -c "import json"`, of the libraries the worker
needs to index the app (azure.functions, azure.durable_functions and the blob SDK-type binding, none of which can
be deferred: their decorators build the bindings), of `import function_app`, and of a first request's start-up
work (open_rowgate: engine, schema check, db.upgrade, views) after it. Target: import function_app <= 300 ms, which
is below what the index-time libraries alone take here (azure.durable_functions pulls aiohttp, the blob binding
azure.storage.blob and azure.identity): importing the app adds next to nothing to them, since functions/ imports the
core (SQLAlchemy, Arrow, numpy, fastavro) on the first request (functions/runtime.py; tests/test_coldstart.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300
CASES = {
    "python -c pass (floor)": "pass",
    "import json (floor)": "import json",
    "index-time libraries": "import azure.functions, azure.durable_functions, azurefunctions.extensions.bindings.blob",
    "import function_app": "import function_app",
    "import function_app + first start-up": "import function_app; from functions.runtime import rowgate; rowgate()",
}


def run(code: str, env: dict) -> tuple[float, float]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {code}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rowgate-bench-coldstart-") as work:
        env = {**os.environ, "ROWGATE_DATABASE_URL": f"sqlite:///{work}/cold.db", "ROWGATE_STORAGE": f"{work}/storage"}
        runs = {label: [] for label in CASES}
        for _ in range(args.runs):  # rounds of every case, so a busy moment of a shared machine hits them all alike
            for label, code in CASES.items():
                runs[label].append(run(code, env))
        floor, medians = None, {}
        for label, times in runs.items():
            wall, cpu = medians[label] = tuple(statistics.median(t[i] for t in times) * 1000 for i in (0, 1))
            floor = floor or wall
            print(f"{label:40} wall {wall:7.0f} ms  cpu {cpu:7.0f} ms  {wall / floor:5.1f}x floor  (target import <= {TARGET_MS} ms)")
        (index_wall, index_cpu), (app_wall, app_cpu) = medians["index-time libraries"], medians["import function_app"]
        print(
            f"import function_app over the index-time libraries (its floor): wall {app_wall / index_wall:.2f}x "
            f"(+{app_wall - index_wall:.0f} ms), cpu {app_cpu / index_cpu:.2f}x (+{app_cpu - index_cpu:.0f} ms)"
        )


if __name__ == "__main__":
    main()
