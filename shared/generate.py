"""Deterministic synthetic data in the brief's formats, with a share of dirty rows of every kind a row is refused for."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import InputRefused

FIRST = [
    "Ana",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Femi",
    "Gus",
    "Hana",
    "Ivo",
    "Juno",
    "Kai",
    "Lena",
    "Milo",
    "Nia",
    "Omar",
    "Pia",
    "Zoë",
    "Łukasz",
]
LAST = ["Vogt", "Hofer", "Morican", "Norwood", "Okafor", "Silva", "Tanaka", "Weber", "Young", "Zhou", "García", "Müller"]
DEPARTMENTS = [
    "Accounting",
    "Business Development",
    "Engineering",
    "Human Resources",
    "Legal",
    "Marketing",
    "Product Management",
    "Research and Development",
    "Sales",
    "Services",
    "Support",
    "Training",
]
CATEGORIES = ["Data", "Cloud", "Security", "Design", "Management", "Languages", "Finance", "Health", "Music", "Science"]
LEVELS = ["Beginner", "Intermediate", "Advanced"]
JOBS = 183
EPOCH_2020 = np.datetime64("2020-01-01T00:00:00", "s")
THREE_YEARS = 3 * 365 * 24 * 3600
CHUNK = 200_000

# The dirty kinds of HR rows: a change to one row's cells, and the error code the validator refuses it with.
# Together they are every code a row of a CSV file can be refused with (source-error is a damaged file).
HR_DIRT: dict[str, tuple[str, Callable[[list[str]], list[str]]]] = {
    "blank-row": ("blank-row", lambda row: [""] * len(row)),
    "missing-cell": ("missing-cell", lambda row: row[:4]),
    "extra-cell": ("extra-cell", lambda row: row + ["surplus"]),
    "not-utf-8": ("encoding-error", lambda row: [row[0], row[1] + "\udce9"] + row[2:]),  # written as the byte 0xE9
    "required-field-empty": ("constraint-error", lambda row: row[:4] + [""]),
    "not-an-integer": ("type-error", lambda row: [row[0] + "abc"] + row[1:]),
    "bad-datetime": ("type-error", lambda row: row[:2] + ["2021-13-01T00:00:00Z"] + row[3:]),
    "beyond-64-bits": ("type-error", lambda row: row[:4] + ["99999999999999999999"]),
    "key-reused-with-other-values": ("primary-key", lambda row: ["1", row[1] + " Jr."] + row[2:]),  # row 1 is always clean
    "unknown-department": ("foreign-key", lambda row: row[:3] + ["999"] + row[4:]),
}


def generate(
    kind: str, rows: int, seed: int, out: Path, dirty_rate: float = 0.0, progress: Callable[[int], None] | None = None
) -> list[Path]:
    """Write the files of one domain (hr or courses) into `out`; the same arguments give the same bytes."""
    if kind not in ("hr", "courses"):
        raise InputRefused(f"unknown domain {kind!r}: use hr or courses")
    if rows < 0 or not 0 <= dirty_rate <= 1:
        raise InputRefused("rows must be >= 0 and dirty rate within 0..1")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = _hr if kind == "hr" else _courses
    return writer(rng, rows, out, dirty_rate, progress or (lambda n: None))


def _write_csv(path: Path, header: list[str] | None, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def _iso(seconds: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(EPOCH_2020 + seconds.astype("timedelta64[s]"), unit="s"), "Z")


def _hr(rng: np.random.Generator, rows: int, out: Path, dirty_rate: float, progress) -> list[Path]:
    departments = _write_csv(out / "departments.csv", None, ([i + 1, name] for i, name in enumerate(DEPARTMENTS)))
    jobs = _write_csv(out / "jobs.csv", None, ([i, f"Job title {i}"] for i in range(1, JOBS + 1)))
    kinds = [change for _, change in HR_DIRT.values()]
    path = out / "hired_employees.csv"
    # surrogateescape writes a lone surrogate U+DCxx as the byte xx: how not-utf-8 rows get their invalid byte.
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            ids = np.arange(start + 1, start + size + 1)
            names = np.char.add(np.char.add(rng.choice(FIRST, size), " "), rng.choice(LAST, size))
            times = _iso(rng.integers(0, THREE_YEARS, size))
            department = rng.integers(1, len(DEPARTMENTS) + 1, size)
            job = rng.integers(1, JOBS + 1, size)
            dirty = np.flatnonzero((rng.random(size) < dirty_rate) & (ids > 1))
            choice = rng.integers(0, len(kinds), len(dirty))
            table = np.stack([ids.astype(str), names, times, department.astype(str), job.astype(str)], axis=1).tolist()
            for index, kind in zip(dirty, choice):
                table[index] = kinds[kind](table[index])
            writer.writerows(table)
            progress(size)
    return [departments, jobs, path]


def _courses(rng: np.random.Generator, rows: int, out: Path, dirty_rate: float, progress) -> list[Path]:
    categories = _write_csv(out / "categories.csv", ["category_id", "category_name"], ([i + 1, n] for i, n in enumerate(CATEGORIES)))
    levels = _write_csv(out / "levels.csv", ["level_id", "level_name"], ([i + 1, n] for i, n in enumerate(LEVELS)))
    path = out / "courses.parquet"
    schema = pa.schema(
        [
            ("course_id", pa.int64()),
            ("course_name", pa.string()),
            ("category_id", pa.int64()),
            ("level_id", pa.int64()),
            ("start_date", pa.timestamp("us", "UTC")),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(rows, 1), CHUNK):
            size = min(CHUNK, rows - start)
            if size <= 0:
                writer.write_table(schema.empty_table())
                break
            ids = np.arange(start + 1, start + size + 1)
            category = rng.integers(1, len(CATEGORIES) + 1, size)
            level = rng.integers(1, len(LEVELS) + 1, size)
            names = np.char.add("Course ", ids.astype(str)).astype(object)
            start_dates = (EPOCH_2020 + rng.integers(0, THREE_YEARS, size).astype("timedelta64[s]")).astype("datetime64[us]")
            # Parquet is typed, so its dirty rows are the ones types cannot catch: empty, unknown parent, reused key.
            dirty = np.flatnonzero((rng.random(size) < dirty_rate) & (ids > 1))
            kind = rng.integers(0, 3, len(dirty))
            names[dirty[kind == 0]] = None
            category[dirty[kind == 1]] = 999
            ids[dirty[kind == 2]] = 1  # course 1 is always clean, so these reuse its key with other values
            names[dirty[kind == 2]] = "Reused key"
            batch = pa.table(
                [
                    pa.array(ids),
                    pa.array(names, pa.string()),
                    pa.array(category),
                    pa.array(level),
                    pa.array(start_dates).cast(pa.timestamp("us", "UTC")),
                ],
                schema=schema,
            )
            writer.write_table(batch)
            progress(size)
    return [categories, levels, path]
