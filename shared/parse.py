"""Parse: a CSV or Parquet stream into chunks of columns, one per dictionary field.

Rows whose shape is wrong (blank, too many or too few cells, bytes that are not UTF-8) are refused
here; values are checked by `validate`.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shared.csvinput import END, MARKS, CsvInput
from shared.dialect import Dialect
from shared.dictionary import Table
from shared.errors import BLANK_ROW, ENCODING_ERROR, EXTRA_CELL, MISSING_CELL, SOURCE_ERROR, Error, InputRefused, Refusal
from shared.fieldtypes import TYPES, json_cell

BLOCK_BYTES = 1024 * 1024  # Arrow's peak memory grows with its block size; 1 MiB also parses fastest here
MAX_BLOCK_BYTES = 64 * 1024 * 1024  # a record must fit in one block: CSV rows up to 64 MiB
HEAD_BYTES = 64 * 1024  # enough of the file to read a header row
UTF8_BOM = b"\xef\xbb\xbf"
csv.field_size_limit(MAX_BLOCK_BYTES)


class Unreadable(InputRefused):
    """A CSV file that cannot be read on from some record (a quote never closed, a record too long): the
    records before it were read."""


@dataclass
class Chunk:
    rows_read: int  # records consumed from the start of the input: where a resumed load starts
    row_numbers: np.ndarray
    columns: dict[str, pa.Array]
    refused: list[Refusal] = field(default_factory=list)

    def raw_row(self, table: Table, index: int) -> dict:
        """A row's cells as they arrived; a typed Parquet decimal, date or time as the cell its field reads (JSON has
        none of these, and a re-drive reads the raw cells as text in the field's format)."""
        cells = {name: python_cell(column[index]) for name, column in self.columns.items()}
        return {name: json_cell(table.field(name), v) if isinstance(v, Decimal | date | time) else v for name, v in cells.items()}


def python_cell(scalar: pa.Scalar):
    """A cell as Python holds it; as text when Python cannot (nanoseconds, years past 9999)."""
    try:
        return scalar.as_py()
    except (ValueError, OverflowError):
        return scalar.cast(pa.string()).as_py()


def read_csv(stream: BinaryIO, table: Table, chunk_rows: int, skip: int = 0) -> Iterator[Chunk]:
    """Chunks of string columns. Row numbers count records from 1, a header row included."""
    raw, lock = stream, threading.Lock()
    source = CsvInput(raw, table.dialect, lock)
    stream = io.BufferedReader(source, HEAD_BYTES)
    head = stream.peek(HEAD_BYTES)
    if len(head) < HEAD_BYTES and not head.removeprefix(UTF8_BOM).removesuffix(END.encode()).strip():
        raise InputRefused("the file is empty: it has no header and no rows")
    comments, first = _first_record(head, source.parsed)
    header = _header(first, table)
    above = comments + 1 if header else 0  # records before the first row: comments, then the header
    progress = [above]  # records accounted for, shared with the attempt that may fail
    block = BLOCK_BYTES
    while True:
        try:
            yield from _csv_chunks(stream, source, table, header, above, chunk_rows, skip, block, progress)
            return
        except _RowTooLong:
            # Small blocks keep memory low; a rare huge row is read again with bigger ones, from where we were.
            if block >= MAX_BLOCK_BYTES or not stream.seekable():
                raise Unreadable(f"the record after record {progress[0]} is longer than {block // 2**20} MiB") from None
            # Arrow's reader of the failed attempt may still read ahead on a thread of its own: its input is closed
            # (its reads end), and the next attempt reads the file from its start through an input of its own.
            source.close()
            source = CsvInput(raw, table.dialect, lock)
            stream = io.BufferedReader(source, HEAD_BYTES)
            stream.seek(0)
            skip, block = max(skip, progress[0]), block * 8


class _RowTooLong(Exception):
    pass


def _csv_chunks(
    stream,
    source: CsvInput,
    table: Table,
    header: list[str] | None,
    above: int,
    chunk_rows: int,
    skip: int,
    block: int,
    progress: list[int],
):
    names = header or list(table.field_names)
    misshapen: list[tuple[int, str]] = []  # (record number, text) of records with the wrong number of cells

    def on_invalid_row(row) -> str:
        if row.text != END:
            misshapen.append((row.number, row.text))
        return "skip"

    options = {
        # One thread: Arrow numbers the invalid rows only then, and those numbers place every row.
        "read_options": pacsv.ReadOptions(column_names=names, skip_rows=above, block_size=block, use_threads=False),
        "parse_options": pacsv.ParseOptions(
            delimiter=source.parsed.delimiter,
            quote_char=source.parsed.quote_char or False,
            double_quote=source.parsed.doubled_quotes,
            escape_char=source.parsed.escape_char or False,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid_row,
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.binary()), strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    }
    done = above  # records accounted for in this attempt
    valid_seen = 0
    reader = None
    try:
        reader = pacsv.open_csv(stream, **options)
        for batch in _regrouped(reader, chunk_rows):
            if batch.num_rows and batch.column(names[-1])[-1].as_py() == END.encode():
                batch = batch.slice(0, batch.num_rows - 1)  # END as a record of its own: a table of one field
            for start in range(0, batch.num_rows, chunk_rows):
                piece = batch.slice(start, chunk_rows)
                numbers = _record_numbers(above, misshapen, valid_seen, piece.num_rows)
                valid_seen += piece.num_rows
                shapes = [m for m in misshapen if done < m[0] <= numbers[-1]]
                chunk = _csv_chunk(table, names, piece, numbers, shapes, skip, source)
                done = int(numbers[-1])
                progress[0] = max(progress[0], done)
                yield chunk
    except pa.ArrowInvalid as exc:
        if "straddling" in str(exc):
            raise _RowTooLong from None
        raise Unreadable(f"unreadable CSV after record {done}: {exc}") from None
    finally:
        if reader is not None:
            reader.close()  # it reads ahead: stopped before the stream is read again with bigger blocks
    rest = [m for m in misshapen if m[0] > done]
    if rest or done <= max(above, 1):
        last = max([done] + [m[0] for m in rest])
        empty = pa.record_batch({name: pa.array([], pa.binary()) for name in names})
        yield _csv_chunk(table, names, empty, np.zeros(0, dtype=np.int64), rest, skip, source, rows_read=last)


def _regrouped(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Arrow's batches, one per block read, regrouped into batches of `rows` rows (the last one shorter): a chunk
    commits together, and a block holds only some 20,000 rows, so chunks of blocks would pay a commit, a key check
    and the hire counts' upserts two or three times as often as ROWGATE_CHUNK_ROWS says."""
    pending: list[pa.RecordBatch] = []
    for batch in batches:
        held = pa.Table.from_batches([*pending, batch])  # no copy: the batches as they are
        while held.num_rows >= rows:
            yield held.slice(0, rows).combine_chunks().to_batches()[0]
            held = held.slice(rows)
        pending = held.to_batches()
    if sum(batch.num_rows for batch in pending):
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _first_record(head: bytes, dialect: Dialect) -> tuple[int, list[str]]:
    """How many comments the file starts with, and the record after them (the header, when it has one)."""
    for comments, cells in enumerate(_records(head.decode("utf-8-sig", errors="replace"), dialect)):
        if not (dialect.comment_char and cells and cells[0].startswith(dialect.comment_char)):
            return comments, cells
    return 0, []


def _records(text: str, dialect: Dialect) -> Iterator[list[str]]:
    """The records in text as Python's csv reads them (any line break ends one, as in Arrow)."""
    return csv.reader(io.StringIO(text, newline=""), **dialect.python_csv())


def _record_numbers(header_rows: int, misshapen: list[tuple[int, str]], first: int, count: int) -> np.ndarray:
    """Record numbers of valid rows first..first+count-1, given the records Arrow skipped as misshapen."""
    ordinals = np.arange(first, first + count, dtype=np.int64)
    skipped = np.array([m[0] for m in misshapen], dtype=np.int64)
    valid_before_skipped = skipped - header_rows - np.arange(1, len(skipped) + 1)
    return header_rows + ordinals + 1 + np.searchsorted(valid_before_skipped, ordinals, side="right")


def _csv_chunk(
    table: Table,
    names: list[str],
    piece: pa.RecordBatch,
    numbers: np.ndarray,
    misshapen: list,
    skip: int,
    source: CsvInput,
    rows_read: int | None = None,
) -> Chunk:
    """Well-formed rows as string columns; comments skipped; blank rows, misshapen rows, bytes that are not text
    in the file's encoding and a last record with a quote never closed refused."""
    rows_read = int(numbers[-1]) if rows_read is None else rows_read
    comment = source.dialect.comment_char
    shapes = [(number, next(_records(text, source.parsed), []), text) for number, text in misshapen]
    refused = [
        _shape_refusal(table, names, number, cells, text, source)
        for number, cells, text in shapes
        if number > skip and not (comment and cells and cells[0].startswith(comment))
    ]
    keep = numbers > skip
    if comment and piece.num_rows:
        keep &= ~pc.starts_with(piece.column(names[0]), comment).to_numpy(zero_copy_only=False)
    if piece.num_rows and piece.column(names[-1])[-1].as_py().endswith(END.encode()):
        # The file's last record, with a quote in its last cell never closed: refused, whatever it would hold.
        if keep[-1]:
            cells = [source.shown(piece.column(name)[-1].as_py().decode()) for name in names]
            refused.append(_unclosed_refusal(int(numbers[-1]), cells, source.appended))
        keep[-1] = False
    blank = np.ones(piece.num_rows, dtype=bool)
    for name in names:
        blank &= pc.equal(pc.binary_length(piece.column(name)), 0).to_numpy(zero_copy_only=False)
    for index in np.flatnonzero(blank & keep):
        refused.append(Refusal(int(numbers[index]), [""] * len(names), [Error(None, BLANK_ROW, "the row is blank")]))
    keep &= ~blank
    columns = {name: piece.column(name).cast(pa.string()) for name in names}  # the input is valid UTF-8
    if source.undecodable:  # some bytes of the file were not text in its encoding: find their rows
        marked = np.zeros(piece.num_rows, dtype=bool)
        for column in columns.values():
            marked |= pc.match_substring_regex(column, MARKS).to_numpy(zero_copy_only=False)
        message = f"the row holds bytes that are not {source.encoding_name}"
        for index in np.flatnonzero(marked & keep):
            cells = [source.shown(columns[name][index].as_py()) for name in names]
            refused.append(Refusal(int(numbers[index]), cells, [Error(None, ENCODING_ERROR, message)]))
        keep &= ~marked
    if not keep.all():
        mask = pa.array(keep)
        columns = {name: column.filter(mask) for name, column in columns.items()}
        numbers = numbers[keep]
    return Chunk(rows_read, numbers, columns, sorted(refused, key=lambda r: r.row_number))


def _shape_refusal(table: Table, names: list[str], number: int, cells: list[str], text: str, source: CsvInput) -> Refusal:
    cells = [source.shown(cell) for cell in cells]
    if text.endswith(END):
        return _unclosed_refusal(number, cells, source.appended)
    if not any(cells):  # "" or ,, on a wider table: blank before misshapen, as frictionless says
        return Refusal(number, cells, [Error(None, BLANK_ROW, "the row is blank")])
    code = EXTRA_CELL if len(cells) > len(names) else MISSING_CELL
    message = f"the row has {len(cells)} cells; {table.name} rows have {len(names)} ({', '.join(names)})"
    return Refusal(number, cells, [Error(None, code, message)])


def _unclosed_refusal(number: int, cells: list[str], appended: str) -> Refusal:
    """The file's last record, whose last cell holds what the input appended after the file: a quote never closed."""
    cells[-1] = cells[-1].removesuffix(appended)
    message = "a quote opened in this record is never closed, so the record runs to the end of the file; close the quote"
    return Refusal(number, cells, [Error(None, SOURCE_ERROR, message)])


def _header(first: list[str], table: Table) -> list[str] | None:
    """The column names when the first record is a header, else None. The dialect's `header` decides; where
    the descriptor leaves it open, the first record is a header only when it is a whole one (every cell a
    field, none twice, the required ones there), so a guess never refuses a file."""
    cells = [cell.strip().lstrip("\ufeff") for cell in first]
    problem = _header_problem(cells, table)
    if table.dialect.header is None:
        return None if problem else cells
    if not table.dialect.header:
        return None
    if problem:
        raise InputRefused(problem)
    return cells


def _header_problem(cells: list[str], table: Table) -> str | None:
    unknown = [cell for cell in cells if cell not in table.field_names]
    if unknown:
        return f"the header names unknown columns {unknown}; {table.name} has {list(table.field_names)}"
    duplicated = sorted({cell for cell in cells if cells.count(cell) > 1})
    if duplicated:
        return f"the header names {duplicated} more than once"
    missing = [f.name for f in table.fields if f.required and f.name not in cells]
    if missing:
        return f"the header lacks required columns {missing}"
    return None


def read_parquet(stream: BinaryIO, table: Table, chunk_rows: int, skip: int = 0) -> Iterator[Chunk]:
    """Chunks of typed (or string) columns. Row numbers count rows from 1."""
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputRefused(f"not a readable Parquet file: {exc}") from None
    schema = parquet.schema_arrow
    _check_parquet_schema(schema, table)
    present = [f.name for f in table.fields if f.name in schema.names]
    empty = {name: pa.array([], schema.field(name).type) for name in present}
    done = 0
    for group in range(parquet.num_row_groups):
        first, size = done, parquet.metadata.row_group(group).num_rows
        if first + size <= skip:
            done += size
            continue
        try:
            # One row group at a time: a damaged one refuses its own rows, and the groups after it still load.
            for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=present):
                start, done = done, done + batch.num_rows
                if done <= skip:
                    continue
                batch = batch.slice(max(0, skip - start))
                begin = max(start, skip) + 1
                columns = {name: batch.column(name) for name in present}
                yield Chunk(done, np.arange(begin, begin + batch.num_rows, dtype=np.int64), columns)
        except (pa.ArrowInvalid, OSError) as exc:
            last = first + size
            reason = Error(None, SOURCE_ERROR, f"row group {group + 1} (rows {first + 1} to {last}) is damaged: {exc}")
            for low in range(max(done, skip) + 1, last + 1, chunk_rows):
                high = min(last, low + chunk_rows - 1)
                yield Chunk(high, np.zeros(0, dtype=np.int64), empty, [Refusal(n, {}, [reason]) for n in range(low, high + 1)])
            done = last
    if done == 0:
        yield Chunk(0, np.zeros(0, dtype=np.int64), empty)


def _check_parquet_schema(schema: pa.Schema, table: Table) -> None:
    repeated = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if repeated:
        raise InputRefused(f"the Parquet file names the columns {repeated} more than once")
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
        if not (TYPES[spec.type].parquet(found) or pa.types.is_string(found) or pa.types.is_large_string(found)):
            raise InputRefused(f"column {spec.name} is {found} in the Parquet file; {table.name}.{spec.name} is {spec.type}")
