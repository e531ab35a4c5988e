"""Validate: a chunk of columns against the dictionary, column by column, then its keys against the database.

Every check works on whole columns (pyarrow compute); Python touches only the rows that fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from shared.db import select_by_keys
from shared.dictionary import Field, Table
from shared.errors import CONSTRAINT_ERROR, FOREIGN_KEY, PRIMARY_KEY, TYPE_ERROR, Error, Refusal, parent_key
from shared.parse import Chunk, python_cell

ARROW_TYPES = {"integer": pa.int64(), "string": pa.string(), "datetime": pa.timestamp("us"), "date": pa.date32()}
INT64 = pa.decimal128(38, 0)
INT64_MIN = pa.scalar(Decimal(-(2**63)), INT64)
INT64_MAX = pa.scalar(Decimal(2**63 - 1), INT64)


@dataclass
class Checked:
    """What a chunk comes to: rows to insert, how many were already loaded, and the refusals."""

    rows: pa.Table
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)


@dataclass
class _Problem:
    field: str
    code: str
    mask: np.ndarray
    message: Callable[[int], str]


@dataclass
class Typed:
    """A chunk after the value checks: its typed rows that passed, where they were, and the refusals so far."""

    chunk: Chunk
    rows: pa.Table
    positions: np.ndarray
    refused: list[Refusal]


def validate(conn: sa.Connection, metadata: sa.MetaData, table: Table, chunk: Chunk) -> Checked:
    """Check values, then keys; the chunk's own shape refusals come along."""
    return check_keys(conn, metadata, table, check_values(table, chunk))


def check_values(table: Table, chunk: Chunk) -> Typed:
    """Required fields, types and lengths, column by column; needs no database."""
    typed, problems = _typed_columns(table, chunk)
    failed = np.zeros(len(chunk.row_numbers), dtype=bool)
    for problem in problems:
        failed |= problem.mask
    refused = list(chunk.refused)
    for index in np.flatnonzero(failed):
        errors = [Error(p.field, p.code, p.message(index)) for p in problems if p.mask[index]]
        refused.append(Refusal(int(chunk.row_numbers[index]), chunk.raw_row(index), errors))
    positions = np.flatnonzero(~failed)
    rows = pa.table(typed).take(pa.array(positions)) if failed.any() else pa.table(typed)
    return Typed(chunk, rows, positions, refused)


def check_keys(conn: sa.Connection, metadata: sa.MetaData, table: Table, typed: Typed) -> Checked:
    """Primary and foreign keys, against the chunk itself and the database, inside the caller's transaction."""
    checked = _check_keys(conn, metadata, table, typed.chunk, typed.rows, typed.positions)
    checked.refused = sorted(typed.refused + checked.refused, key=lambda r: r.row_number or 0)
    return checked


def _typed_columns(table: Table, chunk: Chunk) -> tuple[dict[str, pa.Array], list[_Problem]]:
    typed, problems = {}, []
    size = len(chunk.row_numbers)
    keys = set(table.primary_key).union(*(fk.fields for fk in table.foreign_keys))
    for spec in table.fields:
        column = chunk.columns.get(spec.name)
        if column is None:
            column = pa.nulls(size, pa.string())
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        missing = pc.is_null(column)
        if is_text:
            missing = pc.or_kleene(missing, pc.equal(pc.utf8_length(column), 0))
        missing = missing.to_numpy(zero_copy_only=False)
        if spec.required and missing.any():
            problems.append(_Problem(spec.name, CONSTRAINT_ERROR, missing, lambda i, n=spec.name: f"{n} is required and is empty"))
        values, bad, notes = CONVERTERS[spec.type](column, is_text)
        if missing.any():  # "" is Frictionless's missing value: NULL, never an empty string
            values = pc.if_else(pa.array(missing), pa.scalar(None, values.type), values)
        bad &= ~missing
        if bad.any():
            problems.append(_Problem(spec.name, TYPE_ERROR, bad, _type_message(spec, column, notes)))
        if spec.max_length and is_text:
            too_long = pc.fill_null(pc.greater(pc.utf8_length(column), spec.max_length), False).to_numpy(zero_copy_only=False)
            if too_long.any():
                lengths = pc.utf8_length(column)
                problems.append(
                    _Problem(
                        spec.name,
                        CONSTRAINT_ERROR,
                        too_long,
                        lambda i, n=spec.name, m=spec.max_length, lengths=lengths: (
                            f"{n} is {lengths[i].as_py()} characters long; maxLength is {m}"
                        ),
                    )
                )
        if spec.name in keys and spec.type == "string" and is_text:
            padded = pc.fill_null(pc.ends_with(column, " "), False).to_numpy(zero_copy_only=False) & ~missing
            if padded.any():
                problems.append(
                    _Problem(spec.name, CONSTRAINT_ERROR, padded, lambda i, n=spec.name, c=column: _padded_key_message(n, c[i].as_py()))
                )
        typed[spec.name] = values
    return typed, problems


def _padded_key_message(name: str, value: str) -> str:
    # SQL Server compares strings padded with spaces ('abc' = 'abc '): as keys the two would be one there, two elsewhere.
    return f"{name} {_show(value)} ends with a space, which SQL Server ignores when it compares keys"


def _type_message(spec: Field, column: pa.Array, notes: dict[int, str]) -> Callable[[int], str]:
    """The converter's own words for a cell when it has some (out of range, nanoseconds, NUL), else the type's."""
    kind = {"integer": "a 64-bit integer", "datetime": "an ISO 8601 datetime", "date": "an ISO 8601 date"}.get(spec.type, spec.type)
    return lambda i: f"{spec.name} {_show(python_cell(column[i]))} {notes.get(i, f'is not {kind}')}"


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


Converted = tuple[pa.Array, np.ndarray, dict[int, str]]  # typed values, cells refused, why (where not the type)

# The range Python's datetime (and so every driver) can hold: years 1 to 9999.
MIN_MICROS = (datetime(1, 1, 1) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}
OUT_OF_RANGE = "is outside the years 1 to 9999"


def _as_integers(column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        if column.type == pa.uint64():
            too_big = pc.fill_null(pc.greater(column, pa.scalar(2**63 - 1, pa.uint64())), False).to_numpy(zero_copy_only=False)
            values = pc.cast(pc.if_else(pa.array(too_big), None, column), pa.int64())
            return values, too_big, dict.fromkeys(np.flatnonzero(too_big).tolist(), "is larger than a 64-bit integer holds")
        return pc.cast(column, pa.int64()), np.zeros(len(column), dtype=bool), {}
    text = _cells(column)
    # The common case, a clean column, in one cast. Beyond [+-]digits Arrow's cast reads only hexadecimal
    # (0x10 as 16, 0xFFFFFFFFFFFFFFFF as -1): a column with a 0x cell takes the exact path below.
    hexadecimal = pc.any(pc.or_(pc.starts_with(text, "0x"), pc.starts_with(text, "0X"))).as_py()
    if not hexadecimal:
        try:
            return pc.cast(text, pa.int64()), np.zeros(len(column), dtype=bool), {}
        except pa.ArrowInvalid:
            pass
    shaped = pc.fill_null(pc.and_(pc.match_substring_regex(text, r"^[+-]?[0-9]+$"), pc.less_equal(pc.utf8_length(text), 38)), False)
    numbers = pc.cast(pc.if_else(shaped, text, "0"), INT64)
    ok = pc.and_(shaped, pc.and_(pc.greater_equal(numbers, INT64_MIN), pc.less_equal(numbers, INT64_MAX)))
    values = pc.cast(pc.if_else(ok, numbers, None), pa.int64())
    return values, ~ok.to_numpy(zero_copy_only=False), {}


def _as_strings(column: pa.Array, is_text: bool) -> Converted:
    values = pc.cast(column, pa.string())
    # PostgreSQL cannot store NUL in text, and SQL Server and SQLite drivers cut strings at it: refused everywhere.
    nul = pc.fill_null(pc.match_substring(values, "\x00"), False).to_numpy(zero_copy_only=False)
    return values, nul, dict.fromkeys(np.flatnonzero(nul).tolist(), "holds a NUL character, which SQL text cannot")


def _as_datetimes(column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        return _arrow_datetimes(column)
    text = _cells(column)
    lenient = lambda: pc.strptime(text, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)  # noqa: E731
    values, bad = _fill_slow(text, _strict(text, pa.timestamp("us", "UTC"), lenient, DATETIME_SHAPE), pa.timestamp("us"), parse_datetime)
    return _in_range(values, bad, {})


def _cells(column: pa.Array) -> pa.Array:
    """Text cells trimmed, empty ones as nulls (Frictionless's missing value, reported as missing elsewhere)."""
    text = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _strict(text: pa.Array, arrow_type: pa.DataType, lenient: Callable[[], pa.Array], shape: str) -> pa.Array:
    """The cells Arrow reads exactly, as naive UTC microseconds; nulls where Python's parser must look.
    Arrow's ISO 8601 cast is strict (no 2021-02-31, no 23:59:60) but all or nothing; its strptime reads
    cell by cell but leniently (2021-02-31 becomes 03-03): its values are kept as they are when the strict
    cast takes them all, else only where the text has the exact shape and the day read is the day written."""
    try:  # the common case, a clean column, in one cast
        return pc.cast(pc.cast(text, arrow_type), pa.timestamp("us"))
    except pa.ArrowInvalid:
        pass
    fast = lenient()
    try:
        pc.cast(pc.if_else(pc.is_valid(fast), text, pa.scalar(None, pa.string())), arrow_type)
        return fast
    except pa.ArrowInvalid:
        days = pc.cast(pc.utf8_slice_codeunits(pc.if_else(pc.match_substring_regex(text, shape), text, None), 8, 10), pa.int64())
        return pc.if_else(pc.fill_null(pc.equal(days, pc.day(fast)), False), fast, pa.scalar(None, fast.type))


# The exact shapes the strptime fallbacks read, every field in range but the day, which is compared after parsing.
DATETIME_SHAPE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
DATE_SHAPE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _arrow_datetimes(column: pa.Array) -> Converted:
    """Parquet timestamps (any unit, any zone: stored as UTC) and dates as naive UTC microseconds. Refused:
    sub-microsecond digits (rowgate keeps microseconds and does not cut data silently) and years out of range."""
    size = len(column)
    nulls = pc.is_null(column).to_numpy(zero_copy_only=False)
    if pa.types.is_date(column.type):
        days = pc.fill_null(pc.cast(column, pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        counts, unit = days, 86_400_000_000
    else:
        counts, unit = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), column.type.unit
    bad, notes = np.zeros(size, dtype=bool), {}
    if unit == "ns":
        fine = (counts % 1000 != 0) & ~nulls
        bad |= fine
        notes.update(dict.fromkeys(np.flatnonzero(fine).tolist(), "has digits below the microsecond, which rowgate does not keep"))
        micros = counts // 1000
    else:
        factor = unit if isinstance(unit, int) else MICROS_PER[unit]
        outside = ((counts < MIN_MICROS // factor) | (counts > MAX_MICROS // factor)) & ~nulls
        micros = np.where(outside, 0, counts) * factor
        bad |= outside
        notes.update(dict.fromkeys(np.flatnonzero(outside).tolist(), OUT_OF_RANGE))
    values = pa.array(micros, pa.timestamp("us"), mask=nulls | bad)
    return _in_range(values, bad, notes)


def _in_range(values: pa.Array, bad: np.ndarray, notes: dict[int, str]) -> Converted:
    """Timestamps out of the years 1 to 9999 (year 0 parses in Arrow; no database or driver takes it) refused."""
    micros = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    outside = ((micros < MIN_MICROS) | (micros > MAX_MICROS)) & pc.is_valid(values).to_numpy(zero_copy_only=False) & ~bad
    if outside.any():
        notes = notes | dict.fromkeys(np.flatnonzero(outside).tolist(), OUT_OF_RANGE)
        values = pc.if_else(pa.array(outside), pa.scalar(None, values.type), values)
    return values, bad | outside, notes


def _as_dates(column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        stamps, bad, notes = _arrow_datetimes(column)
    else:
        text = _cells(column)
        lenient = lambda: pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)  # noqa: E731
        stamps, bad = _fill_slow(text, _strict(text, pa.date32(), lenient, DATE_SHAPE), pa.timestamp("us"), parse_date)
        stamps, bad, notes = _in_range(stamps, bad, {})
    days = pc.cast(stamps, pa.date32(), safe=False)
    return days, bad, notes


def _fill_slow(text: pa.Array, fast: pa.Array, arrow_type: pa.DataType, parse: Callable) -> tuple[pa.Array, np.ndarray]:
    """Parse in Python only the cells the fast path could not, and merge them in as integers."""
    slow = np.flatnonzero(pc.and_(pc.is_null(fast), pc.is_valid(text)).to_numpy(zero_copy_only=False))
    bad = np.zeros(len(text), dtype=bool)
    if not len(slow):
        return fast, bad
    storage = pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()
    values = pc.cast(pc.fill_null(fast, pa.scalar(0, arrow_type)), storage).to_numpy(zero_copy_only=False).copy()
    missing = pc.is_null(fast).to_numpy(zero_copy_only=False).copy()
    for index in slow:
        try:
            parsed = parse(text[index].as_py())
        except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
            bad[index] = True
            continue
        values[index] = pa.scalar(parsed, arrow_type).cast(storage).as_py()
        missing[index] = False
    return pa.array(values, storage, mask=missing).cast(arrow_type), bad


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 datetime (or date) as naive UTC, the form rowgate stores."""
    if BELOW_MICROSECOND.search(value):  # Python's parser would cut them silently
        raise ValueError(f"{value!r} has digits below the microsecond")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValueError(f"{value!r} is outside years 1 to 9999 in UTC") from None
    return parsed


def parse_date(value: str) -> datetime:
    """A date as Frictionless reads it by default (strptime's %Y-%m-%d: 2021-1-5 too), at midnight."""
    return datetime.strptime(value, "%Y-%m-%d")


BELOW_MICROSECOND = re.compile(r"[.,][0-9]{7,}")
CONVERTERS = {"integer": _as_integers, "string": _as_strings, "datetime": _as_datetimes, "date": _as_dates}


def _check_keys(conn: sa.Connection, metadata: sa.MetaData, table: Table, chunk: Chunk, rows: pa.Table, positions: np.ndarray) -> Checked:
    """Primary and foreign keys. The rule for a key that appears more than once (in a chunk of a file or in a batch):
    a key already in the table is judged against the table alone, copy by copy (same values: unchanged; other
    values: refused as "already loaded with other values"), whatever other copies in the chunk hold; a key not in
    the table is decided by its first copy, and each later copy with the same values shares the first one's fate
    (inserted once, then unchanged; or refused with its reasons), while a later copy with other values is refused
    as "appears again with other values". Earlier chunks are in the table already, so a file gives the same
    outcome in one chunk or in many."""
    keys = _key_values(rows, table.primary_key)
    keep = np.ones(rows.num_rows, dtype=bool)
    unchanged = np.zeros(rows.num_rows, dtype=bool)
    refused: list[Refusal] = []

    def refuse(index: int, error: Error, missing_key: str | None = None) -> None:
        keep[index] = False
        refused.append(Refusal(int(chunk.row_numbers[positions[index]]), chunk.raw_row(positions[index]), [error], missing_key))

    repeats = _repeats(keys)
    first_copies = np.ones(rows.num_rows, dtype=bool)
    for index, _ in repeats:
        first_copies[index] = False
    target = metadata.tables[table.name]
    loaded = _loaded_rows(conn, target, table, keys[first_copies])
    copies = []  # (row, its first occurrence) for rows repeated with the same values: they share its fate
    for index, original in repeats:
        if keys[index] in loaded:
            continue  # judged against the loaded row below, like its first copy
        if _row(rows, index) == _row(rows, original):
            keep[index], unchanged[index] = False, True
            copies.append((index, original))
        else:
            number = chunk.row_numbers[positions[original]]
            refuse(
                index, Error(None, PRIMARY_KEY, f"{_key_text(table, keys[index])} appears again with other values (first in row {number})")
            )

    for index in np.flatnonzero(keep) if loaded else ():
        existing = loaded.get(keys[index])
        if existing is None:
            continue
        here = _row(rows, index)
        if here == existing:
            keep[index], unchanged[index] = False, True
        else:
            diff = ", ".join(f"{n}: {_show(a)} here, {_show(b)} loaded" for n, a, b in zip(rows.column_names, here, existing) if a != b)
            refuse(index, Error(None, PRIMARY_KEY, f"{_key_text(table, keys[index])} is already loaded with other values ({diff})"))

    eligible = keep.copy()  # every foreign key is checked on the same rows, so a row gets all its reasons
    for fk in table.foreign_keys:
        values = _key_values(rows, fk.fields)
        # tolist: Python values, which drivers bind. A key with a NULL in it references nothing (SQL's MATCH SIMPLE).
        candidates = {v for v in set(values[eligible].tolist()) if v is not None and not (isinstance(v, tuple) and None in v)}
        if fk.parent == table.name:
            candidates -= set(keys[eligible].tolist())
        missing = candidates - _existing_keys(conn, metadata.tables[fk.parent], fk.parent_fields, candidates)
        if not missing:
            continue
        for index in np.flatnonzero(eligible & _among(values, missing)):
            message = f"{'/'.join(fk.fields)} {_plain(values[index])!r} is not a {fk.parent}.{'/'.join(fk.parent_fields)}"
            refuse(index, Error(fk.fields[0], FOREIGN_KEY, message), parent_key(fk.parent, fk.parent_fields, values[index]))
    # A copy of a row refused against the database is refused too: counted unchanged, it would be nowhere.
    first_refused = {refusal.row_number: refusal for refusal in _merge(refused)}
    for index, original in copies:
        first = first_refused.get(int(chunk.row_numbers[positions[original]]))
        if first is not None:
            unchanged[index] = False
            refused.append(
                Refusal(int(chunk.row_numbers[positions[index]]), chunk.raw_row(positions[index]), list(first.errors), first.missing_key)
            )
    return Checked(rows.filter(pa.array(keep)), int(unchanged.sum()), _merge(refused))


def _among(values: np.ndarray, keys: set) -> np.ndarray:
    """Which values are among keys; np.isin would take tuples (composite keys) apart into their fields."""
    if values.dtype == object:
        return np.fromiter((value in keys for value in values.tolist()), dtype=bool, count=len(values))
    return np.isin(values, list(keys))


def _merge(refused: list[Refusal]) -> list[Refusal]:
    """One refusal per row, with all its key errors (new objects: the inputs stay as they were). A row missing
    several parents waits for the last foreign key's: parents loaded in the dictionary's order make it checked
    again once, when the last one lands."""
    by_row: dict[int, Refusal] = {}
    for refusal in refused:
        merged = by_row.get(refusal.row_number)
        if merged is None:
            by_row[refusal.row_number] = Refusal(refusal.row_number, refusal.raw, list(refusal.errors), refusal.missing_key)
        else:
            merged.errors.extend(refusal.errors)
            merged.missing_key = refusal.missing_key or merged.missing_key
    return list(by_row.values())


def _key_values(rows: pa.Table, names: tuple[str, ...]) -> np.ndarray:
    """Key values as one array: plain int64 for an integer key without nulls (fast), else Python objects."""
    if len(names) == 1:
        column = rows.column(names[0])
        if pa.types.is_integer(column.type) and column.null_count == 0:
            return column.to_numpy()
        return np.array(column.to_pylist(), dtype=object)
    result = np.empty(rows.num_rows, dtype=object)
    result[:] = list(zip(*(rows.column(name).to_pylist() for name in names)))
    return result


def _repeats(keys: np.ndarray) -> list[tuple[int, int]]:
    """(row, first row with the same key) for every key seen again in the chunk, in one pass."""
    if len(np.unique(keys)) == len(keys):
        return []
    first: dict = {}
    repeats = []
    for index, key in enumerate(keys.tolist()):
        original = first.setdefault(key, index)
        if original != index:
            repeats.append((index, original))
    return repeats


def _row(rows: pa.Table, index: int) -> tuple:
    return tuple(rows.column(name)[index].as_py() for name in rows.column_names)


def _key_text(table: Table, key) -> str:
    return f"{'/'.join(table.primary_key)} {_plain(key)!r}"


def _plain(value):
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _loaded_rows(conn: sa.Connection, target: sa.Table, table: Table, keys: np.ndarray) -> dict:
    """Rows already in the table for these keys. Skips the lookup when the keys lie past what is loaded."""
    if len(keys) == 0:
        return {}
    if len(table.primary_key) == 1 and table.field(table.primary_key[0]).type == "integer":
        column = target.c[table.primary_key[0]]
        # Two scalar subqueries: SQLite answers a lone min() or max() from the index, but scans for both at once.
        bounds = sa.select(sa.select(sa.func.min(column)).scalar_subquery(), sa.select(sa.func.max(column)).scalar_subquery())
        low, high = conn.execute(bounds).one()
        if low is None:
            return {}
        keys = keys[(keys >= low) & (keys <= high)]
    names = [f.name for f in table.fields]
    query = sa.select(*(target.c[n] for n in names))
    result = {}
    for row in select_by_keys(conn, query, [target.c[n] for n in table.primary_key], keys.tolist()):
        values = tuple(row)
        key = (
            values[names.index(table.primary_key[0])]
            if len(table.primary_key) == 1
            else tuple(values[names.index(n)] for n in table.primary_key)
        )
        result[key] = values
    return result


def _existing_keys(conn: sa.Connection, parent: sa.Table, fields: tuple[str, ...], candidates: set) -> set:
    if not candidates:
        return set()
    columns = [parent.c[name] for name in fields]
    rows = select_by_keys(conn, sa.select(*columns), columns, candidates)
    return {row[0] if len(columns) == 1 else tuple(row) for row in rows}
