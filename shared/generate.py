"""Deterministic synthetic data in the brief's formats, with a share of dirty rows of every kind a row is refused for."""

from __future__ import annotations

import base64
import csv
import json
import uuid
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import InputRefused
from shared.fieldtypes import TYPES

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


# Any dictionary's tables, from their fields' types and constraints alone. A table other tables reference gets a
# tenth of the rows (parents are fewer than children); foreign keys take their parent's keys.
WORDS = ["alpha", "bravo", "delta", "echo", "golf", "india", "kilo", "lima", "oscar", "sierra", "tango", "zulu", "ñu", "ça"]
OPTIONAL_EMPTY = 0.05  # the share of empty cells in a field that is not required
DIRT = ("blank-row", "missing-cell", "extra-cell", "type-error", "constraint-error", "foreign-key")


def generate_tables(dictionary, rows: int, seed: int, out: Path, dirty_rate: float = 0.0, progress=None) -> list[Path]:
    """One file per table of the dictionary, written in its resource's format, dialect and encoding, a chunk at a
    time. Every field is checked first, so a field the generator cannot fill writes no file at all."""
    if rows < 0 or not 0 <= dirty_rate <= 1:
        raise InputRefused("rows must be >= 0 and dirty rate within 0..1")
    parents = {fk.parent for table in dictionary.tables.values() for fk in table.foreign_keys if fk.parent != table.name}
    counts = {t.name: max(1, rows // 10) if t.name in parents else rows for t in dictionary.tables.values()}
    for table in dictionary.tables.values():
        _columns(table, 1, np.random.default_rng(0), counts)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for table in dictionary.dependency_order():
        with _TableWriter(table, out) as writer:
            for start in range(0, counts[table.name], CHUNK):
                size = min(CHUNK, counts[table.name] - start)
                columns = _columns(table, size, rng, counts, first=start + 1)
                records = [list(cells) for cells in zip(*columns)]
                _dirty(table, records, rng, dirty_rate, first=start)
                writer.write(records)
                (progress or (lambda n: None))(size)
        paths.append(writer.path)
    return paths


def _columns(table, count: int, rng: np.random.Generator, counts: dict[str, int], first: int = 1) -> list[list[str]]:
    return [_column(table, spec, count, rng, counts, first) for spec in table.fields]


def _column(table, spec, count: int, rng: np.random.Generator, counts: dict[str, int], first: int) -> list[str]:
    if table.primary_key == (spec.name,):
        if spec.type != "integer":
            raise InputRefused(f"{table.name}.{spec.name}: rowgate generate makes integer primary keys only")
        return [str(i) for i in range(first, first + count)]
    parent = next((fk for fk in table.foreign_keys if fk.fields == (spec.name,)), None)
    if parent is not None and parent.parent != table.name:
        values = rng.integers(1, counts[parent.parent] + 1, count).astype(str).tolist()  # parents' keys are 1..n
    elif parent is not None:  # a reference to its own table: an earlier row (the first row, itself)
        keys = np.arange(first, first + count)
        values = np.maximum(1, (rng.random(count) * (keys - 1)).astype(np.int64) + 1).astype(str).tolist()
    else:
        values = _values(table, spec, count, rng)
    if not spec.required:
        values = ["" if empty else v for v, empty in zip(values, rng.random(count) < OPTIONAL_EMPTY)]
    return values


def _values(table, spec, count: int, rng: np.random.Generator) -> list[str]:
    constraints = spec.constraints
    if "enum" in constraints:
        return [str(v) for v in rng.choice(constraints["enum"], count)]
    if "pattern" in constraints:
        if "example" not in spec.options:
            raise InputRefused(f"{table.name}.{spec.name}: a field with a pattern needs an example for rowgate generate to copy")
        return [str(spec.options["example"])] * count
    low, high = constraints.get("minimum"), constraints.get("maximum")
    if spec.type == "integer":
        return [str(v) for v in rng.integers(int(low if low is not None else 0), int(high if high is not None else 1000) + 1, count)]
    if spec.type == "number":
        low, high = float(low if low is not None else 0), float(high if high is not None else 10_000)
        return [_number_text(spec, v) for v in rng.uniform(low, high, count).round(2)]
    if spec.type == "boolean":
        true, false = spec.option("trueValues", ["true"])[0], spec.option("falseValues", ["false"])[0]
        return [true if b else false for b in rng.random(count) < 0.5]
    form = spec.option("format", "default")
    if TYPES[spec.type].patterns and form not in ("default", "any"):  # a strptime pattern: written with it
        stamps = (EPOCH_2020 + rng.integers(0, THREE_YEARS, count).astype("timedelta64[s]")).tolist()
        return [stamp.replace(tzinfo=UTC).strftime(form) for stamp in stamps]
    if spec.type == "date":
        return list(np.datetime_as_string(EPOCH_2020.astype("datetime64[D]") + rng.integers(0, 3 * 365, count), unit="D"))
    if spec.type == "datetime":
        return list(_iso(rng.integers(0, THREE_YEARS, count)))
    numbers = rng.integers(1, 10_000, count).tolist()
    kind = f"{spec.type}/{'default' if form == 'any' else form}"  # any reads the default formats too
    if kind in SHAPED:
        return [SHAPED[kind](n) for n in numbers]
    if spec.type == "string" and kind == "string/default":
        longest = spec.max_length or 40
        words = np.char.add(np.char.add(rng.choice(WORDS, count), " "), np.array(numbers).astype(str))
        return [w[:longest].ljust(constraints.get("minLength", 0), "x") for w in words.tolist()]
    raise InputRefused(f"{table.name}.{spec.name}: rowgate generate cannot make values of type {spec.type!r} ({kind})")


def _lon(n: int) -> float:
    return n % 359 - 179 + 0.5  # -179.5 to 179.5


def _lat(n: int) -> float:
    return n % 179 - 89 + 0.25  # -88.75 to 89.25


# Values of the other types and formats, each made from a number from 1 to 9,999.
SHAPED = {
    "year/default": lambda n: str(2000 + n % 30),
    "yearmonth/default": lambda n: f"{2000 + n % 30}-{1 + n % 12:02d}",
    "time/default": lambda n: f"{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}",
    "duration/default": lambda n: f"P{n % 30}DT{n % 24}H",
    "string/email": lambda n: f"{WORDS[n % len(WORDS)]}{n}@example.com",
    "string/uri": lambda n: f"https://example.com/items/{n}",
    "string/uuid": lambda n: str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128))),
    "string/binary": lambda n: base64.b64encode(f"item {n}".encode()).decode(),
    "object/default": lambda n: json.dumps({"n": n, "even": n % 2 == 0}),
    "array/default": lambda n: json.dumps([n, n + 1]),
    "geopoint/default": lambda n: f"{_lon(n)}, {_lat(n)}",
    "geopoint/array": lambda n: json.dumps([_lon(n), _lat(n)]),
    "geopoint/object": lambda n: json.dumps({"lon": _lon(n), "lat": _lat(n)}),
    "any/default": lambda n: f"{WORDS[n % len(WORDS)]} {n}",
}


def _number_text(spec, value: float) -> str:
    """A number as the field writes it: its groupChar every three digits, its decimalChar before the cents."""
    group, decimal = spec.option("groupChar", ""), spec.option("decimalChar", ".")
    text = f"{value:,.2f}" if group else f"{value:.2f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)


def _dirty(table, records: list[list[str]], rng: np.random.Generator, dirty_rate: float, first: int) -> None:
    """Spoil a share of the rows (never the table's first), each in one of the ways DIRT names that the table can be."""
    typed = [i for i, f in enumerate(table.fields) if f.type not in ("string", "any") and f.name not in table.primary_key]
    required = [i for i, f in enumerate(table.fields) if f.required and f.name not in table.primary_key]
    children = [table.field_names.index(fk.fields[0]) for fk in table.foreign_keys if len(fk.fields) == 1 and fk.parent != table.name]
    for index in np.flatnonzero(rng.random(len(records)) < dirty_rate):
        if first + index == 0:
            continue
        kind, row = DIRT[rng.integers(0, len(DIRT))], records[index]
        if kind == "blank-row":
            records[index] = [""] * len(row)
        elif kind == "missing-cell":
            records[index] = row[:-1]
        elif kind == "extra-cell":
            records[index] = row + ["surplus"]
        elif kind == "type-error" and typed:
            row[typed[0]] = "n/a"
        elif kind == "constraint-error" and required:
            row[required[0]] = ""
        elif kind == "foreign-key" and children:
            row[children[0]] = "999999999"


class _TableWriter:
    """A table's file, written a chunk of records at a time: CSV in the resource's dialect and encoding, or Parquet
    of string columns (read like CSV cells; a Parquet row cannot have another shape, so misshapen rows are left out)."""

    def __init__(self, table, out: Path):
        self.table = table
        self.path = out / f"{table.name}.{'parquet' if table.format == 'parquet' else 'csv'}"

    def __enter__(self):
        dialect = self.table.dialect
        if self.table.format == "parquet":
            schema = pa.schema([(name, pa.string()) for name in self.table.field_names])
            self._parquet = pq.ParquetWriter(self.path, schema)
            return self
        self._stream = self.path.open("w", encoding=dialect.encoding, errors="replace", newline="")
        self._csv = csv.writer(self._stream, delimiter=dialect.delimiter, quotechar=dialect.quote_char or '"', lineterminator="\n")
        if dialect.header is not False:
            self._csv.writerow(self.table.field_names)
        return self

    def write(self, records: list[list[str]]) -> None:
        if self.table.format != "parquet":
            self._csv.writerows(records)
            return
        clean = [r for r in records if len(r) == len(self.table.fields)]
        self._parquet.write_table(pa.table({name: [r[i] or None for r in clean] for i, name in enumerate(self.table.field_names)}))

    def __exit__(self, *exc) -> None:
        (self._parquet if self.table.format == "parquet" else self._stream).close()
