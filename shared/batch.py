"""Batch insert: 1..1000 JSON rows into one table, through the same validation as file ingest."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from shared.context import Rowgate
from shared.errors import EXTRA_CELL, TYPE_ERROR, Error, InputRefused, Refusal
from shared.load import DONE, close_load, open_load, refusals_of, write_chunk
from shared.parse import Chunk
from shared.races import retry_key_races
from shared.replay import REDRIVE_INLINE, redrive_children, redrive_present
from shared.validate import Checked, validate

MAX_ROWS = 1000
MAX_BYTES = 4 * 1024 * 1024  # a request body larger than this is refused before it is parsed
log = logging.getLogger(__name__)
# The JSON types each dictionary type accepts; strings are parsed like CSV cells.
JSON_TYPES = {"integer": (int, str), "string": (str,), "datetime": (str,), "date": (str,)}


class BatchRefused(Exception):
    """The whole batch was refused (atomic mode) and nothing changed."""

    def __init__(self, result: BatchResult):
        super().__init__(f"{result.rejected} of {result.received} rows refused; nothing was inserted")
        self.result = result


@dataclass
class BatchResult:
    table: str
    received: int
    inserted: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def insert_rows(rowgate: Rowgate, table_name: str, rows: list, atomic: bool = False, request_id: str = "") -> BatchResult:
    """Validate and insert rows in one transaction. A batch is known by its content (table and rows): the same
    batch again, with any request id or none, changes nothing (tables, rejections, ledger) and answers with the
    outcome first committed. The request id only names the source of its rejections; a request id used again
    for other content is a new batch whose rejections share that source name."""
    spec = rowgate.dictionary.table(table_name)
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
        raise InputRefused(f"send 1 to {MAX_ROWS} rows")
    if not all(isinstance(row, dict) for row in rows):
        raise InputRefused("every row must be a JSON object of field names to values")
    digest = hashlib.sha256(json.dumps([table_name, rows], sort_keys=True, default=str).encode()).hexdigest()
    source = f"api:{request_id or digest[:16]}"
    shape_errors = [_shape_errors(spec, row) for row in rows]
    columns = {
        f.name: pa.array([_cell(row.get(f.name)) if not errors else None for row, errors in zip(rows, shape_errors)], pa.string())
        for f in spec.fields
    }
    refused = [Refusal(i, row, errors) for i, (row, errors) in enumerate(zip(rows, shape_errors)) if errors]
    keep = np.array([not errors for errors in shape_errors])
    chunk = Chunk(len(rows), np.flatnonzero(keep), {name: column.filter(pa.array(keep)) for name, column in columns.items()}, refused)
    metadata = rowgate.metadata

    def attempt() -> Checked | BatchResult:
        with rowgate.engine.begin() as conn:
            load = open_load(conn, metadata, table_name, source, f"sha256:{digest}")
            if load.status == DONE:
                return _replayed(conn, metadata, table_name, rows, load)
            checked = validate(conn, metadata, spec, chunk)
            if atomic and checked.refused:
                conn.rollback()
                refused = _result(table_name, rows, checked)
                refused.inserted = refused.unchanged = 0  # the transaction was rolled back: nothing was written
                raise BatchRefused(refused)
            write_chunk(conn, metadata, table_name, source, load.id, len(rows), checked)
            close_load(conn, metadata, load.id)
            return checked

    # A key another request committed after our check, or a parent a restore removed: checked again.
    checked = retry_key_races(attempt)
    if isinstance(checked, BatchResult):
        if atomic and checked.rejected:
            # The same rows were committed before by a row-level request: all-or-nothing still means a refusal here.
            checked.inserted = checked.unchanged = 0
            raise BatchRefused(checked)
        return checked
    _redrive_after(rowgate, spec, checked)
    return _result(table_name, rows, checked)


def _replayed(conn, metadata, table_name: str, rows: list, load) -> BatchResult:
    """A batch whose content was committed already (a client retrying a lost answer): nothing is written again,
    and the answer is the outcome that was committed, from the ledger and the rejections it logged."""
    logged = [
        {"index": refusal.row_number, "row": rows[refusal.row_number], "errors": json.loads(refusal.reasons)}
        for refusal in refusals_of(conn, metadata, load.source, since=load.started_at, until=load.finished_at)
    ]
    return BatchResult(table_name, len(rows), load.inserted, load.unchanged, load.rejected, logged)


def _redrive_after(rowgate: Rowgate, spec, checked: Checked) -> None:
    """What was committed stands whatever happens here: a re-drive that fails is logged, and its rows stay open
    for the re-drive timer, never turning the request into a failure."""
    try:
        if checked.rows.num_rows:
            redrive_children(rowgate, spec.name, checked.rows, limit=REDRIVE_INLINE)
        waiting = {refusal.missing_key for refusal in checked.refused if refusal.missing_key}
        if waiting:
            redrive_present(rowgate, spec.name, waiting)
    except Exception:
        log.exception("re-drive after a %s batch failed; the re-drive timer will retry its rows", spec.name)


def _shape_errors(spec, row: dict) -> list[Error]:
    errors = [Error(name, EXTRA_CELL, f"{spec.name} has no field {name!r}") for name in row if name not in spec.field_names]
    for f in spec.fields:
        value = row.get(f.name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, JSON_TYPES[f.type])):
            errors.append(Error(f.name, TYPE_ERROR, f"{f.name} must be {_json_kind(f.type)}, not {type(value).__name__} {value!r}"[:200]))
    return errors


def _json_kind(field_type: str) -> str:
    return {"integer": "an integer", "string": "a string"}.get(field_type, f"an ISO 8601 {field_type} string")


def _cell(value) -> str | None:
    return None if value is None else str(value)


def _result(table_name: str, rows: list, checked: Checked) -> BatchResult:
    rejections = [{"index": r.row_number, "row": rows[r.row_number], "errors": [e.as_dict() for e in r.errors]} for r in checked.refused]
    return BatchResult(table_name, len(rows), checked.rows.num_rows, checked.unchanged, len(checked.refused), rejections)
