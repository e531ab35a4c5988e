"""Batch insert: 1..1000 JSON rows into one table, through the same validation as file ingest."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field

import orjson

from shared.context import Rowgate
from shared.errors import BatchRefused, InputRefused
from shared.jsonrows import as_chunk
from shared.limits import MAX_ROWS
from shared.load import DONE, close_load, open_load, refusals_of, write_chunk
from shared.races import retry_key_races
from shared.replay import redrive_after
from shared.validate import Checked, validate

log = logging.getLogger(__name__)

# A batch's identity in the ledger: sha256 of its canonical JSON as orjson writes it (keys sorted). Batches
# loaded before this format are "sha256:" of json.dumps: a batch retried across the change counts as new.
IDENTITY = "sha256o"


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
    digest = content_digest(table_name, rows)
    source = f"api:{request_id or digest[:16]}"
    chunk = as_chunk(spec, rows)
    metadata = rowgate.metadata

    def attempt() -> Checked | BatchResult:
        with rowgate.engine.begin() as conn:
            load = open_load(conn, metadata, table_name, source, f"{IDENTITY}:{digest}")
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
    redrive_after(rowgate, spec.name, checked)
    return _result(table_name, rows, checked)


def content_digest(table_name: str, rows: list) -> str:
    """The hex digest of a batch's content: the same rows give the same digest whatever their keys' order or the
    body's spacing. Rows are JSON values as read_json returns them (finite numbers, 64-bit integers, UTF-8 text)."""
    try:
        text = orjson.dumps([table_name, rows], option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # what HTTP refuses but a caller of the core may pass (an integer past 64 bits, a lone surrogate)
        text = None
    if text is None or (b"null" in text and not _finite(rows)):  # orjson writes NaN and the infinities as null
        text = json.dumps([table_name, rows], sort_keys=True, default=str).encode()
    return hashlib.sha256(text).hexdigest()


def _finite(value) -> bool:
    """Whether no float in the value is NaN or an infinity."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    return True


def _replayed(conn, metadata, table_name: str, rows: list, load) -> BatchResult:
    """A batch whose content was committed already (a client retrying a lost answer): nothing is written again,
    and the answer is the outcome that was committed, from the ledger and the rejections it logged."""
    logged = [
        {"index": refusal.row_number - 1, "row": rows[refusal.row_number - 1], "errors": json.loads(refusal.reasons)}
        for refusal in refusals_of(conn, metadata, load.source, since=load.started_at, until=load.finished_at)
    ]
    return BatchResult(table_name, len(rows), load.inserted, load.unchanged, load.rejected, logged)


def _result(table_name: str, rows: list, checked: Checked) -> BatchResult:
    # index: the row's place in the request (from 0); its rejection's row_number counts from 1, like a file's
    rejections = [
        {"index": r.row_number - 1, "row": rows[r.row_number - 1], "errors": [e.as_dict() for e in r.errors]} for r in checked.refused
    ]
    return BatchResult(table_name, len(rows), checked.rows.num_rows, checked.unchanged, len(checked.refused), rejections)
