"""Find, fix, re-drive: the refused rows read, corrected and loaded without SQL. The HTTP routes
(functions/api.py) and `rowgate rejections ...` (shared/cli.py) are thin layers over these functions.

A rejection's `raw` is what arrived and never changes; a fix is the corrected values laid over it, kept
beside it (`fix`). A fixed row is validated like a batch row at once and loaded when it passes; it stays
open otherwise, with the fix's reasons, and a re-drive checks it as fixed. Resolved rejections stay, with
when (`resolved_at`) and how (`resolution`: fixed, or redriven when checked again as they were).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa

from shared.context import Rowgate
from shared.db import REJECTIONS, bulk_insert, rejections_of_source
from shared.errors import Conflict, InputRefused, NotFound, cells_by_field
from shared.fieldtypes import as_json_value
from shared.ingest import write_rejected_csv
from shared.jsonrows import as_chunk
from shared.limits import MAX_PAGE, REJECTION_STATUSES
from shared.load import now
from shared.races import retry_key_races
from shared.replay import redrive_after, validated_as
from shared.validate import Checked, validate

FIXED = "fixed"  # a resolution: the row loaded (or matched a loaded row) with corrected values
CODE = re.compile(r"[a-z][a-z0-9-]{0,39}")  # an error code's shape (the Frictionless vocabulary: foreign-key, ...)
INT64_MAX = 2**63 - 1


@dataclass
class FixResult:
    status: str  # loaded | unchanged (a loaded row has these values) | refused (stays open with these errors)
    errors: list[dict]
    rejection: dict

    def as_dict(self) -> dict:
        return {"status": self.status, "errors": self.errors, "rejection": self.rejection}


def find(
    rowgate: Rowgate,
    table: str | None = None,
    source: str | None = None,
    code: str | None = None,
    status: str = "open",
    after: int | None = None,
    limit: int = 100,
) -> dict:
    """A page of rejections, newest first: {"rejections": [record...], "next": the `after` of the next page or None}."""
    if table is not None:
        rowgate.dictionary.table(table)
    if status not in REJECTION_STATUSES:
        raise InputRefused(f"status must be one of {', '.join(REJECTION_STATUSES)}, got {status[:40]!r}")
    if code is not None and not CODE.fullmatch(code):
        raise InputRefused(f"code must be an error code such as foreign-key or type-error, got {code[:40]!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise InputRefused(f"limit must be from 1 to {MAX_PAGE}, got {limit}")
    if after is not None and not 1 <= after <= INT64_MAX:
        raise InputRefused(f"after must be a rejection id from 1 to {INT64_MAX}, got {after}")
    rejections = rowgate.metadata.tables[REJECTIONS]
    query = sa.select(rejections).order_by(rejections.c.id.desc()).limit(limit + 1)
    if table is not None:
        query = query.where(rejections.c.table_name == table)
    if source is not None:
        query = query.where(rejections_of_source(rejections, source))
    if code is not None:
        # reasons is the JSON of its errors, written by json.dumps with its default separators; a quote inside a
        # message is escaped there, so only a real "code" member matches.
        query = query.where(rejections.c.reasons.like(f'%"code": "{code}"%'))
    if status != "all":
        query = query.where(rejections.c.resolved_at.is_(None) if status == "open" else rejections.c.resolved_at.is_not(None))
    if after is not None:
        query = query.where(rejections.c.id < after)
    with rowgate.engine.connect() as conn:
        rows = conn.execute(query).all()
    page = [_record(rowgate, row) for row in rows[:limit]]
    return {"rejections": page, "next": page[-1]["id"] if len(rows) > limit else None}


def open_by_table(rowgate: Rowgate) -> dict[str, int]:
    """How many refused rows are open in each table that has any."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    query = sa.select(rejections.c.table_name, sa.func.count()).where(rejections.c.resolved_at.is_(None)).group_by(rejections.c.table_name)
    with rowgate.engine.connect() as conn:
        return {table: int(count) for table, count in conn.execute(query)}


def get(rowgate: Rowgate, rejection_id: int) -> dict:
    """One rejection's record; NotFound when there is none."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    with rowgate.engine.connect() as conn:
        row = conn.execute(sa.select(rejections).where(rejections.c.id == _id(rejection_id))).one_or_none()
    if row is None:
        raise NotFound(f"no rejection {rejection_id}")
    return _record(rowgate, row)


def fix(rowgate: Rowgate, rejection_id: int, values: dict) -> FixResult:
    """Lay corrected values over an open rejection's row (and over its earlier fix), validate it as a batch row
    and load it if it passes, all in one transaction that holds the rejection: of two fixes at once, or a fix
    and a re-drive, one goes first and the other finds it resolved (Conflict). The fix is kept either way."""
    if not isinstance(values, dict) or not values:
        raise InputRefused('give the corrected values as an object of field names to values, e.g. {"name": "Ann"}')
    rejections, metadata = rowgate.metadata.tables[REJECTIONS], rowgate.metadata
    locked = (
        sa.select(rejections)
        .where(rejections.c.id == _id(rejection_id))
        .with_for_update()
        .with_hint(rejections, "WITH (UPDLOCK, ROWLOCK)", "mssql")
    )

    def attempt() -> tuple[str, Checked]:
        with rowgate.engine.begin() as conn:
            row = conn.execute(locked).one_or_none()
            if row is None:
                raise NotFound(f"no rejection {rejection_id}")
            if row.resolved_at is not None:
                how = f" ({row.resolution})" if row.resolution else ""
                raise Conflict(f"rejection {rejection_id} was resolved{how} at {as_json_value(row.resolved_at)}; there is nothing to fix")
            spec = rowgate.dictionary.table(row.table_name)
            unknown = [name for name in values if name not in spec.field_names]
            if unknown:
                raise InputRefused(f"{spec.name} has no field {unknown[0][:60]!r}; its fields are {', '.join(spec.field_names)}")
            fixed = (json.loads(row.fix) if row.fix else {}) | values
            candidate = validated_as(spec.field_names, json.loads(row.raw), [], fixed)
            checked = validate(conn, metadata, spec, as_chunk(spec, [candidate], [row.row_number or 1]))
            bulk_insert(conn, metadata.tables[spec.name], checked.rows)
            update = rejections.update().where(rejections.c.id == row.id)
            if checked.refused:
                [refusal] = checked.refused
                reasons = json.dumps([e.as_dict() for e in refusal.errors], ensure_ascii=False)
                missing_key = refusal.missing_key if refusal.retryable else None
                conn.execute(update.values(fix=_json(fixed), reasons=reasons, retryable=refusal.retryable, missing_key=missing_key))
                return "refused", checked
            conn.execute(update.values(fix=_json(fixed), resolved_at=now(), resolution=FIXED, missing_key=None))
            return ("unchanged" if checked.unchanged else "loaded"), checked

    # A key another request committed after our check is checked again, like a batch's.
    status, checked = retry_key_races(attempt)
    record = get(rowgate, rejection_id)
    redrive_after(rowgate, record["table"], checked)
    errors = [e.as_dict() for refusal in checked.refused for e in refusal.errors]
    return FixResult(status, errors, record)


def export(rowgate: Rowgate, out: BinaryIO, table: str, open_only: bool = True) -> int:
    """A table's rejections (the open ones, or all) in the .rejected.csv layout, through the writer of the
    .rejected.csv files; a fixed row shows its fix laid over raw. Streamed; the count written."""
    spec = rowgate.dictionary.table(table)
    rejections = rowgate.metadata.tables[REJECTIONS]
    query = sa.select(rejections.c.row_number, rejections.c.raw, rejections.c.reasons, rejections.c.fix).where(
        rejections.c.table_name == table
    )
    if open_only:
        query = query.where(rejections.c.resolved_at.is_(None))
    written = 0

    def rows(conn: sa.Connection) -> Iterator[tuple]:
        nonlocal written
        for row in conn.execution_options(yield_per=5000).execute(query.order_by(rejections.c.id)):
            raw = json.loads(row.raw)
            shown = (cells_by_field(spec.field_names, raw) | json.loads(row.fix)) if row.fix else raw
            written += 1
            yield row.row_number, shown, json.loads(row.reasons)

    with rowgate.engine.connect() as conn:
        write_rejected_csv(out, list(spec.field_names), rows(conn))
    return written


def _record(rowgate: Rowgate, row: sa.Row) -> dict:
    spec = rowgate.dictionary.tables.get(row.table_name)
    return {
        "id": row.id,
        "table": row.table_name,
        "source": row.source,
        "row_number": row.row_number,
        "raw": cells_by_field(spec.field_names if spec else (), json.loads(row.raw)),
        "errors": json.loads(row.reasons),
        "retryable": row.retryable,
        "created_at": as_json_value(row.created_at),
        "resolved_at": as_json_value(row.resolved_at),
        "resolution": row.resolution,
        "fix": json.loads(row.fix) if row.fix else None,
    }


def _id(rejection_id: int) -> int:
    if isinstance(rejection_id, bool) or not isinstance(rejection_id, int) or not 1 <= rejection_id <= INT64_MAX:
        raise NotFound(f"no rejection {str(rejection_id)[:40]}: an id is an integer from 1 to {INT64_MAX}")
    return rejection_id


def _json(values: dict) -> str:
    return json.dumps(values, ensure_ascii=False)
