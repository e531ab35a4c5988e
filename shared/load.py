"""Load: write valid rows, log refusals and record ledger progress, all inside the caller's transaction."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from shared.db import LOADS, REJECTIONS, bulk_insert, rejections_of_source
from shared.errors import Busy, Refusal
from shared.validate import Checked

DEFAULT_LEASE = timedelta(minutes=2)  # renewed by every chunk; a run silent for longer is taken to be dead

LOADING, DONE = "loading", "done"


class LoadBusy(Busy):
    """Another run is loading the same content now (a trigger delivered twice at once): try again later."""


class LeaseLost(LoadBusy):
    """This run was silent past its lease and another run took the load over: it stops without writing."""


@dataclass
class Lease:
    """This run's hold on a load: the claim token it wrote, and the progress it last committed."""

    load_id: int
    token: str  # host:pid:nonce, unique per claim: the fence every chunk's commit checks
    rows_read: int
    length: timedelta


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


def create_load(engine: sa.Engine, metadata: sa.MetaData, table: str, source: str, content_hash: str) -> None:
    """Make sure the ledger row for this content exists, in a transaction of its own: when runs insert it at
    once, the unique constraint (uq_loads_content) decides, and the losers go on with the winner's row."""
    with suppress(sa.exc.IntegrityError), engine.begin() as conn:
        open_load(conn, metadata, table, source, content_hash)


def claim(conn: sa.Connection, metadata: sa.MetaData, load: sa.Row, length: timedelta = DEFAULT_LEASE) -> Lease | None:
    """Take the load for this run, unless another live run holds it (LoadBusy); None when another run
    finished it since `load` was read."""
    loads = metadata.tables[LOADS]
    token = f"{me()}:{uuid.uuid4().hex[:8]}"
    take = loads.update().where(loads.c.id == load.id, loads.c.status == LOADING).values(claimed_by=token, claimed_until=now() + length)
    free = sa.or_(loads.c.claimed_until.is_(None), loads.c.claimed_until < now())
    holder = load.claimed_by or ""
    taken = conn.execute(take.where(free)).rowcount == 1
    if not taken and _dead_here(holder):
        taken = conn.execute(take.where(loads.c.claimed_by == holder)).rowcount == 1
    if not taken:
        if conn.execute(sa.select(loads.c.status).where(loads.c.id == load.id)).scalar_one() == DONE:
            return None
        until = f" until {load.claimed_until:%H:%M:%S} UTC" if load.claimed_until else ""
        raise LoadBusy(f"{load.source} is being loaded by {_process(holder)}{until}; try again later")
    # Read after taking it: a previous holder may have committed a chunk since `load` was read.
    rows_read = conn.execute(sa.select(loads.c.rows_read).where(loads.c.id == load.id)).scalar_one()
    return Lease(load.id, token, rows_read, length)


def hold(conn: sa.Connection, metadata: sa.MetaData, lease: Lease, rows_read: int) -> bool:
    """First statement of a chunk's transaction: renew the lease if this run still holds it and the ledger
    stands where this run left it (the row stays locked until the commit). False when this very chunk was
    already committed (its commit's answer was lost); LeaseLost when another run took the load over."""
    loads = metadata.tables[LOADS]
    if conn.dialect.name == "postgresql":
        # A statement stalled longer than the lease (a run stopped mid-COPY) is cancelled, so its locks go with it.
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(lease.length.total_seconds() * 1000)}")
    mine = sa.and_(loads.c.id == lease.load_id, loads.c.claimed_by == lease.token, loads.c.status == LOADING)
    renew = loads.update().where(mine, loads.c.rows_read == lease.rows_read).values(claimed_until=now() + lease.length)
    if conn.execute(renew).rowcount == 1:
        return True
    if conn.execute(sa.select(loads.c.rows_read).where(mine)).scalar_one_or_none() == rows_read:
        return False
    raise LeaseLost(
        f"this run lost load {lease.load_id} after row {lease.rows_read}: it was silent past its lease and another run took over"
    )


def _process(holder: str) -> str:
    """host:pid of a claim token."""
    return ":".join(holder.split(":")[:2])


def _dead_here(holder: str) -> bool:
    """A claim of a process on this host that no longer runs (a killed CLI, say) need not wait for its lease."""
    host, _, pid = _process(holder).partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def release(conn: sa.Connection, metadata: sa.MetaData, lease: Lease) -> None:
    loads = metadata.tables[LOADS]
    conn.execute(
        loads.update().where(loads.c.id == lease.load_id, loads.c.claimed_by == lease.token).values(claimed_by=None, claimed_until=None)
    )


def write_chunk(
    conn: sa.Connection, metadata: sa.MetaData, table: str, source: str, load: Lease | int, rows_read: int, checked: Checked
) -> None:
    """One chunk's rows, refusals and ledger progress, committed together, so a resumed load neither repeats
    nor skips. A file's chunk passes its Lease (after `hold` in the same transaction); a batch, loaded in one
    transaction with no lease, its load id."""
    bulk_insert(conn, metadata.tables[table], checked.rows)
    log_refusals(conn, metadata, table, source, checked.refused)
    loads = metadata.tables[LOADS]
    conn.execute(
        loads.update()
        .where(_mine(loads, load))
        .values(
            rows_read=rows_read,
            inserted=loads.c.inserted + checked.rows.num_rows,
            unchanged=loads.c.unchanged + checked.unchanged,
            rejected=loads.c.rejected + len(checked.refused),
        )
    )


def _mine(loads: sa.Table, load: Lease | int) -> sa.ColumnElement:
    if isinstance(load, Lease):
        return sa.and_(loads.c.id == load.load_id, loads.c.claimed_by == load.token)
    return loads.c.id == load


def close_load(conn: sa.Connection, metadata: sa.MetaData, load: Lease | int) -> sa.Row:
    """Mark the load done; with a Lease, only while this run holds it (else LeaseLost, unless it is done already)."""
    loads = metadata.tables[LOADS]
    load_id = load.load_id if isinstance(load, Lease) else load
    done = loads.update().where(_mine(loads, load)).values(status=DONE, finished_at=now(), claimed_by=None, claimed_until=None)
    closed = conn.execute(done).rowcount == 1
    row = conn.execute(sa.select(loads).where(loads.c.id == load_id)).one()
    if not closed and row.status != DONE:  # a run that took over is loading it now
        raise LeaseLost(f"this run lost load {load_id} before closing it: another run took over")
    return row


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
                "missing_key": refusal.missing_key if refusal.retryable else None,
                "created_at": created,
            }
            for refusal in refused
        ],
    )


def standing(conn: sa.Connection, metadata: sa.MetaData, load: sa.Row) -> tuple[int, int]:
    """A done load now: how many of its rows are in its table (loaded by it, or refused then and resolved since
    by a fix or a re-drive), and how many of its refused rows are still open."""
    rejections = metadata.tables[REJECTIONS]
    logged = sa.and_(
        rejections_of_source(rejections, load.source),
        rejections.c.created_at >= load.started_at,
        rejections.c.created_at <= load.finished_at,
    )
    still_open = sa.func.count(sa.case((rejections.c.resolved_at.is_(None), 1)))
    total, open_now = conn.execute(sa.select(sa.func.count(), still_open).where(logged)).one()
    return load.inserted + load.unchanged + (total - (open_now or 0)), int(open_now or 0)


def refusals_of(
    conn: sa.Connection, metadata: sa.MetaData, source: str, since: datetime | None = None, until: datetime | None = None
) -> Iterator[sa.Row]:
    """The rejections logged for one source (from a load's start to its end: that load's), in row order, streamed."""
    rejections = metadata.tables[REJECTIONS]
    query = sa.select(rejections.c.row_number, rejections.c.raw, rejections.c.reasons).where(rejections_of_source(rejections, source))
    if since is not None:
        query = query.where(rejections.c.created_at >= since)
    if until is not None:
        query = query.where(rejections.c.created_at <= until)
    yield from conn.execution_options(yield_per=5000).execute(query.order_by(rejections.c.row_number, rejections.c.id))
