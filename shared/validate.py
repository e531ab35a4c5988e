"""Validate: a chunk of columns against the dictionary, column by column, then its keys against the database.

Every check works on whole columns (pyarrow compute); Python touches only the rows that fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from shared.db import select_by_keys
from shared.dictionary import Field, Table
from shared.errors import CONSTRAINT_ERROR, FOREIGN_KEY, PRIMARY_KEY, TYPE_ERROR, UNIQUE_ERROR, Error, Refusal, parent_key
from shared.fieldtypes import TYPES, as_json_value, kind_of, typed_values
from shared.parse import Chunk, python_cell


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
        refused.append(Refusal(int(chunk.row_numbers[index]), chunk.raw_row(table, index), errors))
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
    keys = set(table.primary_key).union(*(fk.fields for fk in table.foreign_keys), *table.unique_keys)
    for spec in table.fields:
        column = chunk.columns.get(spec.name)
        if column is None:
            column = pa.nulls(size, pa.string())
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        missing = pc.is_null(column)
        if is_text and spec.missing_values == ("",):  # the default, in its fastest form
            missing = pc.or_kleene(missing, pc.equal(pc.utf8_length(column), 0))
        elif is_text:
            missing = pc.or_kleene(missing, pc.is_in(column, value_set=pa.array(spec.missing_values, pa.string())))
        missing = missing.to_numpy(zero_copy_only=False)
        if spec.required and missing.any():
            problems.append(_Problem(spec.name, CONSTRAINT_ERROR, missing, lambda i, n=spec.name: f"{n} is required and is empty"))
        values, bad, notes = TYPES[spec.type].convert(spec, column, is_text)
        if missing.any():  # "" is Frictionless's missing value: NULL, never an empty string
            values = pc.if_else(pa.array(missing), pa.scalar(None, values.type), values)
        if is_text and "" not in spec.missing_values:  # an empty cell is then a value: "" for a string, else refused
            empty = pc.fill_null(pc.equal(pc.utf8_length(column), 0), False)  # a null cell (JSON null, Parquet) is missing
            bad |= pc.and_(empty, pc.is_null(values)).to_numpy(zero_copy_only=False)
        bad &= ~missing
        if bad.any():
            problems.append(_Problem(spec.name, TYPE_ERROR, bad, _type_message(spec, column, notes)))
        problems.extend(_constraint_problems(spec, column, values, bad | missing))
        if spec.name in keys and spec.type == "string" and is_text:
            padded = pc.fill_null(pc.ends_with(column, " "), False).to_numpy(zero_copy_only=False) & ~missing
            if padded.any():
                problems.append(
                    _Problem(spec.name, CONSTRAINT_ERROR, padded, lambda i, n=spec.name, c=column: _padded_key_message(n, c[i].as_py()))
                )
        typed[spec.name] = values
    return typed, problems


def _constraint_problems(spec: Field, column: pa.Array, values: pa.Array, skip: np.ndarray) -> list[_Problem]:
    """The field's constraints, each on the whole column of typed values, as Frictionless checks them: on cells
    that are there and of the right type. Bounds and enum values are read as the field reads its cells."""
    problems = []
    for name, limit in spec.constraints.items():
        if name not in CONSTRAINTS:
            continue  # required is checked above, unique with the keys
        test, words = CONSTRAINTS[name]
        bound = limit if name in ("minLength", "maxLength", "pattern") else typed_values(spec, limit if name == "enum" else [limit])
        failed = pc.fill_null(test(values, bound), False).to_numpy(zero_copy_only=False) & ~skip
        if failed.any():
            problems.append(_Problem(spec.name, CONSTRAINT_ERROR, failed, _constraint_message(spec, column, values, name, limit, words)))
    return problems


def _constraint_message(spec: Field, column: pa.Array, values: pa.Array, name: str, limit, words: str) -> Callable[[int], str]:
    if name in ("minLength", "maxLength"):
        return lambda i: f"{spec.name} is {len(values[i].as_py())} characters long; {name} is {limit}"
    shown = _show(limit if name != "enum" else list(limit))
    return lambda i: f"{spec.name} {_show(python_cell(column[i]))} {words} {shown}"


def _not_in(values: pa.Array, allowed: pa.Array) -> pa.Array:
    return pc.invert(pc.is_in(values, value_set=allowed))


def _not_matching(values: pa.Array, pattern: str) -> pa.Array:
    # Anchored to the whole value, as Table Schema means it; Frictionless's "^" + pattern + "$" would leave a|b
    # anchored at one end only.
    return pc.invert(pc.match_substring_regex(values, f"^(?:{pattern})$"))


# constraint -> (where a typed column breaks it, given the bound; the words of its message)
CONSTRAINTS = {
    "minLength": (lambda values, n: pc.less(pc.utf8_length(values), n), ""),
    "maxLength": (lambda values, n: pc.greater(pc.utf8_length(values), n), ""),
    "pattern": (_not_matching, "does not match the pattern"),
    "enum": (_not_in, "is not one of"),
    "minimum": (lambda values, bound: pc.less(values, bound[0]), "is less than the minimum"),
    "maximum": (lambda values, bound: pc.greater(values, bound[0]), "is more than the maximum"),
    "exclusiveMinimum": (lambda values, bound: pc.less_equal(values, bound[0]), "is not more than the exclusiveMinimum"),
    "exclusiveMaximum": (lambda values, bound: pc.greater_equal(values, bound[0]), "is not less than the exclusiveMaximum"),
}


def _padded_key_message(name: str, value: str) -> str:
    # SQL Server compares strings padded with spaces ('abc' = 'abc '): as keys the two would be one there, two elsewhere.
    return f"{name} {_show(value)} ends with a space, which SQL Server ignores when it compares keys"


def _type_message(spec: Field, column: pa.Array, notes: dict[int, str]) -> Callable[[int], str]:
    """The converter's own words for a cell when it has some (out of range, nanoseconds, NUL), else the type's."""
    kind = kind_of(spec)
    return lambda i: f"{spec.name} {_show(python_cell(column[i]))} {notes.get(i, f'is not {kind}')}"


def _show(value) -> str:
    """A value in a message, cut to 60 characters (see _text)."""
    text = _text(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _text(value) -> str:
    """A value (or a composite key's values) in a message: text quoted, a datetime, date, time or decimal as the
    text the API would answer."""
    if isinstance(value, tuple):
        return f"({', '.join(_text(v) for v in value)})"
    return repr(as_json_value(_plain(value)))


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
        refused.append(Refusal(int(chunk.row_numbers[positions[index]]), chunk.raw_row(table, positions[index]), [error], missing_key))

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
                index, Error(None, PRIMARY_KEY, f"{key_text(table, keys[index])} appears again with other values (first in row {number})")
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
            refuse(index, Error(None, PRIMARY_KEY, f"{key_text(table, keys[index])} is already loaded with other values ({diff})"))

    eligible = keep.copy()  # every foreign key is checked on the same rows, so a row gets all its reasons
    for fk in table.foreign_keys:
        values = _key_values(rows, fk.fields)
        # tolist: Python values, which drivers bind. A key with a NULL in it references nothing (SQL's MATCH SIMPLE).
        candidates = {v for v in set(values[eligible].tolist()) if v is not None and not (isinstance(v, tuple) and None in v)}
        if fk.parent == table.name:
            candidates -= set(keys[eligible].tolist())
        missing = candidates - existing_keys(conn, metadata.tables[fk.parent], fk.parent_fields, candidates)
        if not missing:
            continue
        for index in np.flatnonzero(eligible & _among(values, missing)):
            message = f"{'/'.join(fk.fields)} {_text(values[index])} is not a {fk.parent}.{'/'.join(fk.parent_fields)}"
            refuse(index, Error(fk.fields[0], FOREIGN_KEY, message), parent_key(fk.parent, fk.parent_fields, values[index]))
    for unique in table.unique_keys:
        _check_unique(conn, target, table, rows, keys, unique, eligible, refuse, chunk.row_numbers[positions])
    # A copy of a row refused against the database is refused too: counted unchanged, it would be nowhere.
    first_refused = {refusal.row_number: refusal for refusal in _merge(refused)}
    for index, original in copies:
        first = first_refused.get(int(chunk.row_numbers[positions[original]]))
        if first is not None:
            unchanged[index] = False
            refused.append(
                Refusal(
                    int(chunk.row_numbers[positions[index]]), chunk.raw_row(table, positions[index]), list(first.errors), first.missing_key
                )
            )
    return Checked(rows.filter(pa.array(keep)), int(unchanged.sum()), _merge(refused))


def _check_unique(
    conn, target: sa.Table, table: Table, rows: pa.Table, keys: np.ndarray, unique: tuple[str, ...], eligible, refuse, numbers
) -> None:
    """A unique field's value (or uniqueKeys' values) held by another row (another primary key), loaded or earlier in
    the chunk, refuses its row. Empty cells are never equal to each other here, as in SQL's UNIQUE."""
    values = _key_values(rows, unique).tolist()
    if len(unique) > 1:
        values = [None if None in value else value for value in values]
    candidates = {values[i] for i in np.flatnonzero(eligible)} - {None}
    if not candidates:
        return
    name, shown = unique[0], "/".join(unique)
    columns = [target.c[n] for n in table.primary_key]
    query = sa.select(*(target.c[n] for n in unique), *columns)
    width = len(unique)
    owners = {
        (row[0] if width == 1 else tuple(row[:width])): (row[width] if len(columns) == 1 else tuple(row[width:]))
        for row in select_by_keys(conn, query, [target.c[n] for n in unique], list(candidates))
    }
    first: dict = {}  # value -> (key, row number) of the chunk's first row holding it
    for index in np.flatnonzero(eligible):
        value, key = values[index], _plain(keys[index])
        if value is None:
            continue
        owner = owners.get(value)
        if owner is not None and owner != key:
            refuse(index, Error(name, UNIQUE_ERROR, f"{shown} {_show(value)} is already loaded in the row with {key_text(table, owner)}"))
        elif value in first and first[value][0] != key:
            refuse(index, Error(name, UNIQUE_ERROR, f"{shown} {_show(value)} appears again (first in row {first[value][1]})"))
        else:
            first.setdefault(value, (key, int(numbers[index])))


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


def key_text(table: Table, key) -> str:
    """A primary key in a message: its fields and its value (values) as the API writes them."""
    return f"{'/'.join(table.primary_key)} {_text(key)}"


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


DENSE_KEYS = 4  # candidates this dense in their range are looked up by one range scan instead of IN lists


def existing_keys(conn: sa.Connection, parent: sa.Table, fields: tuple[str, ...], candidates: set) -> set:
    """Those of `candidates` (values, or tuples for several fields) that `parent` holds in `fields`."""
    if not candidates:
        return set()
    columns = [parent.c[name] for name in fields]
    if len(columns) == 1 and all(type(key) is int for key in candidates):
        low, high = min(candidates), max(candidates)
        if high - low + 1 <= DENSE_KEYS * len(candidates):  # a big parent's keys, say: at most 4 rows read per candidate
            query = sa.select(columns[0]).where(columns[0].between(low, high))
            return candidates.intersection(conn.execute(query).scalars())
    rows = select_by_keys(conn, sa.select(*columns), columns, candidates)
    return {row[0] if len(columns) == 1 else tuple(row) for row in rows}
