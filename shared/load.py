"""Load: write valid rows, log refusals and record ledger progress, all inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa

from shared.db import LOADS, REJECTIONS, bulk_insert
from shared.errors import Refusal
from shared.validate import Checked

LOADING, DONE, REFUSED = "loading", "done", "refused"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def open_load(conn: sa.Connection, metadata: sa.MetaData, table: str, source: str, content_hash: str) -> sa.Row:
    """The ledger row for this content: a new one, or the one a crashed or finished run left."""
    loads = metadata.tables[LOADS]
    query = sa.select(loads).where(loads.c.table_name == table, loads.c.content_hash == content_hash)
    existing = conn.execute(query).one_or_none()
    if existing is not None:
        return existing
    conn.execute(loads.insert().values(table_name=table, source=source, content_hash=content_hash, status=LOADING, started_at=now()))
    return conn.execute(query).one()


def write_chunk(
    conn: sa.Connection, metadata: sa.MetaData, table: str, source: str, load_id: int, rows_read: int, checked: Checked
) -> None:
    """One chunk's rows, refusals and ledger progress: committed together, so a resumed load neither repeats nor skips."""
    bulk_insert(conn, metadata.tables[table], checked.rows)
    log_refusals(conn, metadata, table, source, checked.refused)
    loads = metadata.tables[LOADS]
    conn.execute(
        loads.update()
        .where(loads.c.id == load_id)
        .values(
            rows_read=rows_read,
            inserted=loads.c.inserted + checked.rows.num_rows,
            unchanged=loads.c.unchanged + checked.unchanged,
            rejected=loads.c.rejected + len(checked.refused),
        )
    )


def close_load(conn: sa.Connection, metadata: sa.MetaData, load_id: int, status: str = DONE) -> sa.Row:
    loads = metadata.tables[LOADS]
    conn.execute(loads.update().where(loads.c.id == load_id).values(status=status, finished_at=now()))
    return conn.execute(sa.select(loads).where(loads.c.id == load_id)).one()


def log_refusals(conn: sa.Connection, metadata: sa.MetaData, table: str, source: str, refused: list[Refusal]) -> None:
    if not refused:
        return
    created = now()
    conn.execute(
        metadata.tables[REJECTIONS].insert(),
        [
            {
                "table_name": table,
                "source": source,
                "row_number": refusal.row_number,
                "raw": json.dumps(refusal.raw, ensure_ascii=False, default=str),
                "reasons": json.dumps([e.as_dict() for e in refusal.errors], ensure_ascii=False),
                "retryable": refusal.retryable,
                "created_at": created,
            }
            for refusal in refused
        ],
    )


def refusals_of(conn: sa.Connection, metadata: sa.MetaData, source: str) -> Iterator[sa.Row]:
    """The rejections logged for one source, in row order, streamed."""
    rejections = metadata.tables[REJECTIONS]
    query = sa.select(rejections.c.row_number, rejections.c.raw, rejections.c.reasons).where(rejections.c.source == source)
    yield from conn.execution_options(yield_per=5000).execute(query.order_by(rejections.c.row_number, rejections.c.id))
