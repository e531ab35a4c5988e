"""rowgate against frictionless-py on the same file: `rowgate ingest` (validates every row and loads it into SQLite)
against `frictionless validate` (validates, loads nothing, and checks no foreign keys here), both whole processes.

    .venv/bin/python bench/frictionless.py [--rows 1000000] [--seed 1]

Prints each one's wall time and rows/s and how many times faster rowgate is (target: at least 50x), and the same for
`sqlite3 .import` into a bare table, which checks nothing: no loader into SQLite can be faster than that, so its ratio
to frictionless bounds what any validating loader can reach.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from ingest import ROOT, generate, rowgate_ingest, run  # bench/ is the script's folder, so its modules import

sys.path.insert(0, str(ROOT))
from shared.dictionary import DEFAULT_PATH  # noqa: E402


def frictionless_resource(work: Path, file: Path, table: str) -> Path:
    """A resource descriptor for the file, with the bundled dictionary's schema and dialect for its table (its primary
    key too, which frictionless checks in memory)."""
    package = json.loads(DEFAULT_PATH.read_text())
    resource = next(r for r in package["resources"] if r["name"] == table)
    # frictionless checks foreign keys only inside a package with the parents' files: left to rowgate alone here
    resource["schema"].pop("foreignKeys", None)
    descriptor = work / f"{table}.resource.json"
    descriptor.write_text(json.dumps({**resource, "path": file.name, "scheme": "file"}))
    return descriptor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    frictionless = shutil.which("frictionless", path=str(Path(sys.executable).parent))
    if not frictionless:
        raise SystemExit("frictionless is not installed: pip install -r requirements-dev.txt")
    with tempfile.TemporaryDirectory(prefix="rowgate-bench-") as folder:
        work = Path(folder)
        files = generate(args.rows, args.seed, work / "data")
        database = work / "rowgate.db"
        ours, _ = rowgate_ingest(f"sqlite:///{database}", work / "storage", files)
        bare = work / "bare.db"
        script = f"CREATE TABLE h(id, name, datetime, department_id, job_id);\n.mode csv\n.import {files[2]} h\n"
        floor, _ = run(["sqlite3", str(bare)], stdin=script)
        descriptor = frictionless_resource(files[2].parent, files[2], "hired_employees")
        # frictionless exits 1 when it finds errors; the generated file is clean, so 0 is expected
        theirs, _ = run([frictionless, "validate", "--limit-errors", "1000", str(descriptor)])
    print(f"rows: {args.rows:,} hired_employees (clean), SQLite")
    print(f"rowgate ingest (validate + load)   {ours:8.2f} s  {args.rows / ours:12,.0f} rows/s")
    print(f"frictionless validate (validate)   {theirs:8.2f} s  {args.rows / theirs:12,.0f} rows/s")
    print(f"sqlite3 .import (checks nothing)   {floor:8.2f} s  {args.rows / floor:12,.0f} rows/s")
    print(f"rowgate is {theirs / ours:.1f}x faster than frictionless (target: at least 50x)")
    print(f"a loader that checks nothing is {theirs / floor:.1f}x faster than frictionless: the most any loader can be")


if __name__ == "__main__":
    main()
