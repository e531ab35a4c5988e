"""Load: write valid rows, log refusals and record ledger progress, all inside the caller's transaction."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from shared.db import LOADS, REJECTIONS, bulk_insert
from shared.errors import Refusal
from shared.validate import Checked

LOADING, DONE = "loading", "done"
LEASE = timedelta(minutes=2)  # renewed by every chunk; a run silent for longer is taken to be dead


class LoadBusy(Exception):
    """Another run is loading the same content now (a trigger delivered twice at once): try again later."""


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def claim(conn: sa.Connection, metadata: sa.MetaData, load: sa.Row) -> None:
    """Take the load for this run, unless another live run holds it (LoadBusy)."""
    loads = metadata.tables[LOADS]
    take = loads.update().where(loads.c.id == load.id).values(claimed_by=me(), claimed_until=now() + LEASE)
    free = sa.or_(loads.c.claimed_until.is_(None), loads.c.claimed_until < now())
    if conn.execute(take.where(free)).rowcount == 1:
        return
    holder = load.claimed_by or ""
    if _dead_here(holder) and conn.execute(take.where(loads.c.claimed_by == holder)).rowcount == 1:
        return
    raise LoadBusy(f"{load.source} is being loaded by {holder} until {load.claimed_until:%H:%M:%S} UTC; try again later")


def _dead_here(holder: str) -> bool:
    """A claim of a process on this host that no longer runs (a killed CLI, say) need not wait for its lease."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def release(conn: sa.Connection, metadata: sa.MetaData, load_id: int) -> None:
    loads = metadata.tables[LOADS]
    conn.execute(loads.update().where(loads.c.id == load_id, loads.c.claimed_by == me()).values(claimed_by=None, claimed_until=None))


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
            claimed_until=now() + LEASE,
        )
    )


def close_load(conn: sa.Connection, metadata: sa.MetaData, load_id: int) -> sa.Row:
    loads = metadata.tables[LOADS]
    conn.execute(loads.update().where(loads.c.id == load_id).values(status=DONE, finished_at=now(), claimed_by=None, claimed_until=None))
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


def refusals_of(conn: sa.Connection, metadata: sa.MetaData, source: str, since: datetime | None = None) -> Iterator[sa.Row]:
    """The rejections logged for one source (since a load started: that load's), in row order, streamed."""
    rejections = metadata.tables[REJECTIONS]
    query = sa.select(rejections.c.row_number, rejections.c.raw, rejections.c.reasons).where(rejections.c.source == source)
    if since is not None:
        query = query.where(rejections.c.created_at >= since)
    yield from conn.execution_options(yield_per=5000).execute(query.order_by(rejections.c.row_number, rejections.c.id))
