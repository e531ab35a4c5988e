"""The overview the console opens on: each table with its rows, its last loads, its open rejections and its backups.

Row counts stay cheap on big tables: an exact COUNT(*) reads the whole table (or its smallest index), which at
10 million rows costs a second or more on every page view. PostgreSQL and SQL Server keep a row count in their
catalogs (pg_class.reltuples, from VACUUM and ANALYZE; sys.partitions.rows), read in microseconds: from
ESTIMATE_FROM rows on, the overview shows that number, marked as an estimate; below it, where COUNT(*) is cheap,
or when the catalog has no number yet, it counts exactly. SQLite keeps no row count at all (sqlite_stat1 only
after ANALYZE, and stale after it), so there the count is always exact: SQLite is the laptop backend, and its
COUNT(*) walks the smallest b-tree without reading rows (bench/overview.py measures it).
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.backup import BACKUPS, stamp_of
from shared.context import Rowgate
from shared.db import LOADS, REJECTIONS, source_digest
from shared.fieldtypes import as_json_value
from shared.limits import LAST_LOADS

ESTIMATE_FROM = 1_000_000


def overview(rowgate: Rowgate, last_loads: int = LAST_LOADS) -> dict:
    """Every table of the dictionary, parents first, with its rows, last loads, open rejections and backups."""
    loads, rejections = rowgate.metadata.tables[LOADS], rowgate.metadata.tables[REJECTIONS]
    names = [spec.name for spec in rowgate.dictionary.dependency_order()]
    with rowgate.engine.connect() as conn:
        open_query = (
            sa.select(rejections.c.table_name, sa.func.count()).where(rejections.c.resolved_at.is_(None)).group_by(rejections.c.table_name)
        )
        open_rejections = dict(conn.execute(open_query).all())
        tables = []
        for name in names:
            rows, exact = row_count(conn, rowgate.metadata.tables[name])
            backups = sorted(rowgate.storage.list(f"{BACKUPS}/{name}/"))
            tables.append(
                {
                    "name": name,
                    "rows": rows,
                    "rows_exact": exact,
                    "open_rejections": int(open_rejections.get(name, 0)),
                    "loads": last_loads_of(conn, loads, rejections, name, last_loads),
                    "backups": len(backups),
                    "last_backup": stamp_of(backups[-1]) if backups else None,
                }
            )
    return {"tables": tables, "estimate_from": ESTIMATE_FROM}


def row_count(conn: sa.Connection, table: sa.Table) -> tuple[int, bool]:
    """(rows, exact): the catalog's estimate for a big table, else an exact COUNT(*)."""
    estimate = catalog_rows(conn, table)
    if estimate is not None and estimate >= ESTIMATE_FROM:
        return estimate, False
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one(), True


def catalog_rows(conn: sa.Connection, table: sa.Table) -> int | None:
    """The row count the database keeps in its catalog, or None where it keeps none (SQLite, a table never analyzed)."""
    query = catalog_query(conn.dialect.name, table.name)
    if query is None:
        return None
    value = conn.execute(query).scalar()
    return int(value) if value is not None and value >= 0 else None  # PostgreSQL: -1 until the first VACUUM or ANALYZE


def catalog_query(dialect: str, table: str) -> sa.TextClause | None:
    if dialect == "postgresql":  # to_regclass follows the search_path, as the table's own name does
        return sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)").bindparams(name=table)
    if dialect == "mssql":  # the heap (0) or the clustered index (1) holds each row once; readable with metadata rights alone
        return sa.text(
            "SELECT SUM(p.rows) FROM sys.partitions AS p WHERE p.object_id = OBJECT_ID(:name) AND p.index_id IN (0, 1)"
        ).bindparams(name=table)
    return None


def last_loads_of(conn: sa.Connection, loads: sa.Table, rejections: sa.Table, table: str, limit: int) -> list[dict]:
    """A table's newest loads from the ledger: a file (its path) or an API batch (api:<request>), with its counts on
    arrival and how many rejections of its source are open now (re-drives and fixes load refused rows later,
    without a load of their own, so the counts on arrival alone would mislead)."""
    query = sa.select(loads).where(loads.c.table_name == table).order_by(loads.c.id.desc()).limit(limit)
    found = conn.execute(query).all()
    sources = sorted({row.source for row in found})
    still_open = {}
    if sources:  # one indexed read (the source's digest) for all of them
        digests = [source_digest(source) for source in sources]
        counted = (
            sa.select(rejections.c.source, sa.func.count())
            .where(
                rejections.c.source_digest.in_(digests),
                rejections.c.source.in_(sources),
                rejections.c.table_name == table,  # a request id may name batches of several tables
                rejections.c.resolved_at.is_(None),
            )
            .group_by(rejections.c.source)
        )
        still_open = dict(conn.execute(counted).all())
    return [
        {
            "id": row.id,
            "source": row.source,
            "kind": "batch" if row.source.startswith("api:") else "file",
            "status": row.status,
            "started_at": as_json_value(row.started_at),
            "finished_at": as_json_value(row.finished_at),
            "rows_read": row.rows_read,
            "inserted": row.inserted,
            "unchanged": row.unchanged,
            "rejected": row.rejected,
            "open_rejections": int(still_open.get(row.source, 0)),
        }
        for row in found
    ]
