"""rowgate against frictionless-py on the same file: `rowgate ingest` (validates every row and loads it into SQLite)
against `frictionless validate` (validates, loads nothing, and checks no foreign keys here), both whole processes.

    .venv/bin/python bench/frictionless.py [--rows 1000000] [--seed 1] [--dictionary examples/school/datapackage.json]

Prints each one's wall time and rows/s and how many times faster rowgate is (target: at least 50x), and the same for
`sqlite3 .import` into a bare table, which checks nothing: no loader into SQLite can be faster than that, so its ratio
to frictionless bounds what any validating loader can reach.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ingest import ROOT, ROWGATE, run  # bench/ is the script's folder, so its modules import

sys.path.insert(0, str(ROOT))
from shared.dictionary import DEFAULT_PATH  # noqa: E402
from shared.dictionary import load as load_dictionary  # noqa: E402


def generated(dictionary: Path, rows: int, seed: int, out: Path) -> list[Path]:
    """The dictionary's files, parents first (the bundled one: the hr domain; any other: generate dictionary)."""
    env = {**os.environ, "ROWGATE_DICTIONARY": str(dictionary)}
    domain = "hr" if dictionary == DEFAULT_PATH else "dictionary"
    run(ROWGATE + ["generate", domain, "--rows", str(rows), "--seed", str(seed), "--out", str(out), "--dirty-rate", "0"], env)
    order = [t.name for t in load_dictionary(dictionary).dependency_order()]
    files = [path for name in order for path in out.glob(f"{name}.*")]
    return files if domain == "dictionary" else [out / "departments.csv", out / "jobs.csv", out / "hired_employees.csv"]


def frictionless_resource(dictionary: Path, file: Path) -> Path:
    """A resource descriptor for the file, with the dictionary's schema, dialect and encoding for its table (its
    primary key too, which frictionless checks in memory)."""
    package = json.loads(dictionary.read_text())
    resource = next(r for r in package["resources"] if r["name"] == file.stem)
    # frictionless checks foreign keys only inside a package with the parents' files: left to rowgate alone here
    resource["schema"].pop("foreignKeys", None)
    descriptor = file.parent / f"{file.stem}.resource.json"
    descriptor.write_text(json.dumps({**resource, "path": file.name, "scheme": "file"}))
    return descriptor


def sqlite_import(file: Path, table, database: Path) -> float:
    """`sqlite3 .import` of the file into a bare table of the same columns: the loader that checks nothing."""
    header = "--skip 1 " if table.dialect.header is not False else ""
    columns = ", ".join(f'"{name}"' for name in table.field_names)
    script = f"CREATE TABLE t({columns});\n.mode csv\n.separator {table.dialect.delimiter}\n.import {header}{file} t\n"
    return run(["sqlite3", str(database)], stdin=script)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dictionary", type=Path, default=DEFAULT_PATH, help="another dictionary, e.g. examples/school/datapackage.json")
    args = parser.parse_args()
    dictionary = args.dictionary.resolve()
    frictionless = shutil.which("frictionless", path=str(Path(sys.executable).parent))
    if not frictionless:
        raise SystemExit("frictionless is not installed: pip install -r requirements-dev.txt")
    with tempfile.TemporaryDirectory(prefix="rowgate-bench-") as folder:
        work = Path(folder)
        files = generated(dictionary, args.rows, args.seed, work / "data")
        *parents, measured = files
        env = {**os.environ, "ROWGATE_DATABASE_URL": f"sqlite:///{work / 'rowgate.db'}", "ROWGATE_STORAGE": str(work / "storage")}
        env["ROWGATE_DICTIONARY"] = str(dictionary)
        run(ROWGATE + ["ingest", *map(str, parents)], env)  # parents, untimed
        ours, _ = run(ROWGATE + ["ingest", str(measured)], env)
        floor = sqlite_import(measured, load_dictionary(dictionary).table(measured.stem), work / "bare.db")
        # frictionless exits 1 when it finds errors; the generated file is clean, so 0 is expected
        theirs, _ = run([frictionless, "validate", "--limit-errors", "1000", str(frictionless_resource(dictionary, measured))])
    print(f"rows: {args.rows:,} {measured.stem} (clean) of {dictionary.relative_to(ROOT)}, SQLite")
    print(f"rowgate ingest (validate + load)   {ours:8.2f} s  {args.rows / ours:12,.0f} rows/s")
    print(f"frictionless validate (validate)   {theirs:8.2f} s  {args.rows / theirs:12,.0f} rows/s")
    print(f"sqlite3 .import (checks nothing)   {floor:8.2f} s  {args.rows / floor:12,.0f} rows/s")
    print(f"rowgate is {theirs / ours:.1f}x faster than frictionless (target: at least 50x)")
    print(f"a loader that checks nothing is {theirs / floor:.1f}x faster than frictionless: the most any loader can be")
    print(f"rowgate takes {ours / floor:.2f}x the time of sqlite3 .import")


if __name__ == "__main__":
    main()
