"""Parse: a CSV or Parquet stream into chunks of columns, one per dictionary field.

Rows whose shape is wrong (blank, too many or too few cells, bytes that are not UTF-8) are refused
here; values are checked by `validate`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.dictionary import Table
from shared.errors import BLANK_ROW, ENCODING_ERROR, EXTRA_CELL, MISSING_CELL, Error, InputRefused, Refusal

csv.field_size_limit(128 * 1024 * 1024)

# Parquet column types each dictionary type accepts; strings are parsed like CSV cells.
PARQUET_TYPES = {
    "integer": pa.types.is_integer,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "datetime": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
    "date": pa.types.is_date,
}


@dataclass
class Chunk:
    rows_read: int  # records consumed from the start of the input: where a resumed load starts
    row_numbers: np.ndarray
    columns: dict[str, pa.Array]
    refused: list[Refusal] = field(default_factory=list)

    def raw_row(self, index: int) -> dict:
        return {name: column[index].as_py() for name, column in self.columns.items()}


def read_csv(stream: BinaryIO, table: Table, chunk_rows: int, skip: int = 0) -> Iterator[Chunk]:
    """Chunks of string columns. Row numbers count records from 1, a header row included."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    records = csv.reader(text)
    try:
        first = next(records)
    except StopIteration:
        raise InputRefused("the file is empty: it has no header and no rows") from None
    header = _header(first, table)
    if header is None:
        names, number = list(table.field_names), 0
        records = _chain_first(first, records)
    else:
        names, number = header, 1
    width = len(names)
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    refused: list[Refusal] = []
    yielded = False
    for record in records:
        number += 1
        if number <= skip:
            continue
        if not record:
            refused.append(Refusal(number, [], [Error(None, BLANK_ROW, "the row is blank")]))
        elif len(record) != width:
            code = EXTRA_CELL if len(record) > width else MISSING_CELL
            message = f"the row has {len(record)} cells; {table.name} rows have {width} ({', '.join(names)})"
            refused.append(Refusal(number, _printable(record), [Error(None, code, message)]))
        else:
            rows.append(record)
            row_numbers.append(number)
        if len(rows) + len(refused) >= chunk_rows:
            yield _csv_chunk(number, names, rows, row_numbers, refused)
            rows, row_numbers, refused, yielded = [], [], [], True
    if rows or refused or not yielded:
        yield _csv_chunk(number, names, rows, row_numbers, refused)


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _header(first: list[str], table: Table) -> list[str] | None:
    """The column names when the first record is a header (it names a field), else None."""
    cells = [cell.strip().lstrip("\ufeff") for cell in first]
    if not any(cell in table.field_names for cell in cells):
        return None
    unknown = [cell for cell in cells if cell not in table.field_names]
    if unknown:
        raise InputRefused(f"the header names unknown columns {unknown}; {table.name} has {list(table.field_names)}")
    duplicated = sorted({cell for cell in cells if cells.count(cell) > 1})
    if duplicated:
        raise InputRefused(f"the header names {duplicated} more than once")
    missing = [f.name for f in table.fields if f.required and f.name not in cells]
    if missing:
        raise InputRefused(f"the header lacks required columns {missing}")
    return cells


def _csv_chunk(rows_read: int, names: list[str], rows: list, row_numbers: list, refused: list) -> Chunk:
    values = list(zip(*rows)) if rows else [()] * len(names)
    columns = {}
    bad_encoding = np.zeros(len(rows), dtype=bool)
    for name, cells in zip(names, values):
        try:
            columns[name] = pa.array(cells, pa.string())
        except UnicodeEncodeError:
            bad = np.array([_has_surrogate(cell) for cell in cells])
            bad_encoding |= bad
            columns[name] = pa.array([None if b else cell for b, cell in zip(bad, cells)], pa.string())
    numbers = np.array(row_numbers, dtype=np.int64)
    if bad_encoding.any():
        for index in np.flatnonzero(bad_encoding):
            message = "the row holds bytes that are not UTF-8"
            refused.append(Refusal(int(numbers[index]), _printable(rows[index]), [Error(None, ENCODING_ERROR, message)]))
        keep = pa.array(~bad_encoding)
        columns = {name: column.filter(keep) for name, column in columns.items()}
        numbers = numbers[~bad_encoding]
    return Chunk(rows_read, numbers, columns, sorted(refused, key=lambda r: r.row_number))


def _has_surrogate(cell: str) -> bool:
    try:
        cell.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(record: list[str]) -> list[str]:
    return [cell.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for cell in record]


def read_parquet(stream: BinaryIO, table: Table, chunk_rows: int, skip: int = 0) -> Iterator[Chunk]:
    """Chunks of typed (or string) columns. Row numbers count rows from 1."""
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputRefused(f"not a readable Parquet file: {exc}") from None
    schema = parquet.schema_arrow
    _check_parquet_schema(schema, table)
    present = [f.name for f in table.fields if f.name in schema.names]
    done = 0
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=present):
            start, done = done, done + batch.num_rows
            if done <= skip:
                continue
            batch = batch.slice(max(0, skip - start))
            first = max(start, skip) + 1
            columns = {name: batch.column(name) for name in present}
            yield Chunk(done, np.arange(first, first + batch.num_rows, dtype=np.int64), columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputRefused(f"the Parquet file is damaged after row {done}: {exc}") from None
    if done == 0:
        yield Chunk(0, np.zeros(0, dtype=np.int64), {name: pa.array([], schema.field(name).type) for name in present})


def _check_parquet_schema(schema: pa.Schema, table: Table) -> None:
    unknown = [name for name in schema.names if name not in table.field_names]
    if unknown:
        raise InputRefused(f"the Parquet file has unknown columns {unknown}; {table.name} has {list(table.field_names)}")
    missing = [f.name for f in table.fields if f.required and f.name not in schema.names]
    if missing:
        raise InputRefused(f"the Parquet file lacks required columns {missing}")
    for spec in table.fields:
        if spec.name not in schema.names:
            continue
        found = schema.field(spec.name).type
        if not (PARQUET_TYPES[spec.type](found) or pa.types.is_string(found) or pa.types.is_large_string(found)):
            raise InputRefused(f"column {spec.name} is {found} in the Parquet file; {table.name}.{spec.name} is {spec.type}")
