"""The reports' consumption layer: hires counted per year, quarter, department and job, kept in the same
transaction as every write of hired_employees, so a report reads a few thousand counts, not every hire.

Rows reach the live tables through db.bulk_insert (loads, batches, replays, fixes), which calls `add`; a
restore replaces a table wholesale and calls `replace` with the groups of the rows it staged; db.upgrade builds the counts of a database made
before them. The views report_* stay the plain queries the counts must always equal (tests/test_aggregates.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from shared.limits import SQLITE_PARAMETERS

HIRE_COUNTS = "rowgate_hire_counts"
SOURCE = "hired_employees"
GROUP = ("year", "quarter", "department_id", "job_id")
NEEDS = (SOURCE, "departments", "jobs")
NO_GROUPS = np.zeros((0, len(GROUP) + 1), np.int64)  # (year, quarter, department_id, job_id, hires) rows


def define(metadata: sa.MetaData) -> None:
    """Add the counts table when the dictionary has the tables the hire reports read."""
    if not all(name in metadata.tables for name in NEEDS) or HIRE_COUNTS in metadata.tables:
        return
    sa.Table(
        HIRE_COUNTS,
        metadata,
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("quarter", sa.Integer, nullable=False),
        sa.Column("department_id", sa.BigInteger, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("hires", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*GROUP, name=f"pk_{HIRE_COUNTS}"),
    )


def define_indexes(metadata: sa.MetaData) -> None:
    """recent-courses reads the newest courses first: an index in that order answers it without a sort."""
    courses = metadata.tables.get("courses")
    if courses is not None and "ix_courses_start_date" not in {index.name for index in courses.indexes}:
        sa.Index("ix_courses_start_date", courses.c.start_date, courses.c.course_id)


def counts_of(metadata: sa.MetaData) -> sa.Table | None:
    return metadata.tables.get(HIRE_COUNTS)


def add(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """Count rows just inserted into `table` (an Arrow table) into its aggregate, in the caller's transaction."""
    counts = counts_of(table.metadata) if table.name == SOURCE else None
    if counts is None or rows.num_rows == 0:
        return
    _upsert(conn, counts, hire_groups(rows))


def hire_groups(rows: pa.Table) -> np.ndarray:
    """The groups (year, quarter, department_id, job_id, hires) of hired_employees rows, in key order."""
    columns = [rows.column(name) for name in ("datetime", "department_id", "job_id")]
    keep = np.logical_and.reduce([column.is_valid().to_numpy(zero_copy_only=False) for column in columns])
    # Months since 1970-01 in numpy (UTC, as stored): floor division gives year and quarter, before 1970 too.
    months = columns[0].to_numpy(zero_copy_only=False)[keep].astype("datetime64[M]").astype(np.int64)
    keys = np.stack(
        [months // 12 + 1970, months % 12 // 3 + 1, *(column.to_numpy(zero_copy_only=False)[keep] for column in columns[1:])],
        axis=1,
    ).astype(np.int64)
    return _summed(keys, np.ones(len(keys), np.int64))


def merge_groups(*sets: np.ndarray) -> np.ndarray:
    """Sets of groups as one, hires added where they share a key."""
    every = np.concatenate([NO_GROUPS, *sets])
    return _summed(every[:, :4], every[:, 4])


def _summed(keys: np.ndarray, hires: np.ndarray) -> np.ndarray:
    if len(keys) == 0:
        return NO_GROUPS
    # Sorted groups: every transaction adds to them in one order, so two writers cannot deadlock on them.
    order = np.lexsort(keys.T[::-1])
    keys, hires = keys[order], hires[order]
    starts = np.concatenate([[0], np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1])
    return np.column_stack([keys[starts], np.add.reduceat(hires, starts)]).astype(np.int64)


def _upsert(conn: sa.Connection, counts: sa.Table, groups: np.ndarray) -> None:
    if len(groups) == 0:
        return
    # The driver's own calls, as db.bulk_insert makes: SQLAlchemy's per-row parameter handling would cost more than the writes.
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            # One statement with a column array per field: an executemany would wait for the server once per group.
            cursor.execute(str(AddCounts(counts).compile(dialect=conn.dialect)), dict(zip((*GROUP, "hires"), groups.T.tolist())))
        elif conn.dialect.name == "sqlite":
            # Many groups per statement, as db.bulk_insert writes rows: about a third less time than one statement per group.
            per_statement = SQLITE_PARAMETERS // groups.shape[1]
            for start in range(0, len(groups), per_statement):
                piece = groups[start : start + per_statement]
                cursor.execute(_sqlite_statement(counts, conn.dialect, len(piece)), piece.ravel().tolist())
        else:
            statement = AddCounts(counts).compile(dialect=conn.dialect)
            deltas = groups.tolist()  # Python ints, one list per group
            cursor.executemany(str(statement), deltas if statement.positional else [dict(zip((*GROUP, "hires"), d)) for d in deltas])
    finally:
        cursor.close()


@functools.lru_cache(maxsize=512)
def _sqlite_statement(counts: sa.Table, dialect: sa.Dialect, groups: int) -> str:
    # Compiled once per size: a statement of 199 groups takes longer to compile than to run.
    return str(AddCounts(counts, groups).compile(dialect=dialect))


def rebuild(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Count hired_employees again from the table itself (db.upgrade, for a database made before the counts)."""
    counts = counts_of(metadata)
    if counts is None:
        return
    conn.execute(counts.delete())
    conn.execute(counts.insert().from_select([*GROUP, "hires"], counted(metadata.tables[SOURCE])))


def replace(conn: sa.Connection, metadata: sa.MetaData, groups: np.ndarray) -> None:
    """The counts of hired_employees after a restore replaced its rows with rows whose groups are `groups`
    (hire_groups of each batch, merged): counted as they were staged, not by reading the table again."""
    counts = counts_of(metadata)
    if counts is None:
        return
    conn.execute(counts.delete())
    _upsert(conn, counts, groups)


def upgrade(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """db.upgrade: a database made before the counts existed has hires but no counts (count them once), and
    no index for recent-courses (create it). Idempotent."""
    courses = metadata.tables.get("courses")
    if courses is not None:
        present = {index["name"] for index in sa.inspect(conn).get_indexes("courses")}
        for index in courses.indexes:
            if index.name not in present:
                index.create(conn)
    counts = counts_of(metadata)
    if counts is None:
        return
    source = metadata.tables[SOURCE]
    empty = conn.execute(sa.select(sa.literal(1)).select_from(counts).limit(1)).first() is None
    if empty and conn.execute(sa.select(sa.literal(1)).select_from(source).limit(1)).first() is not None:
        rebuild(conn, metadata)


class DatePart(sa.sql.expression.ColumnElement):
    """The year or month of a datetime column, as an integer: EXTRACT, but on SQLite read from the stored text
    (its strftime rounds 9999-12-31 23:59:59.999999 up to the year 10000 and answers NULL)."""

    inherit_cache = True
    type = sa.Integer()

    def __init__(self, part: str, column: sa.ColumnElement):
        self.part, self.column = part, column


@compiles(DatePart)
def _extract(element: DatePart, compiler, **kw) -> str:
    return compiler.process(sa.cast(sa.extract(element.part, element.column), sa.Integer), **kw)


@compiles(DatePart, "sqlite")
def _from_text(element: DatePart, compiler, **kw) -> str:
    start, length = {"year": (1, 4), "month": (6, 2)}[element.part]  # 'YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy stores it
    return compiler.process(sa.cast(sa.func.substr(element.column, start, length), sa.Integer), **kw)


def counted(source: sa.Table) -> sa.Select:
    """The counts, computed from the table with SQL (what the aggregate holds)."""
    year = DatePart("year", source.c.datetime)
    quarter = (DatePart("month", source.c.datetime) + 2) // 3
    keys = [source.c.datetime, source.c.department_id, source.c.job_id]
    return (
        sa.select(year, quarter, source.c.department_id, source.c.job_id, sa.func.count())
        .where(*(key.is_not(None) for key in keys))
        .group_by(year, quarter, source.c.department_id, source.c.job_id)
    )


class AddCounts(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """Insert a group's count, or add it to the count already there: SQLite's and PostgreSQL's ON CONFLICT
    DO UPDATE, SQL Server's MERGE. Sent with one parameter set per group (executemany), or on SQLite with the
    values of `groups` groups in one statement."""

    inherit_cache = False
    _is_dml = True

    def __init__(self, counts: sa.Table, groups: int = 1):
        self.counts, self.groups = counts, groups


def _names(compiler, element: AddCounts) -> tuple[str, list[str]]:
    quote = compiler.preparer.quote
    return compiler.preparer.format_table(element.counts), [quote(name) for name in (*GROUP, "hires")]


def _values(compiler, **kw) -> str:
    return ", ".join(compiler.process(sa.bindparam(name), **kw) for name in (*GROUP, "hires"))


@compiles(AddCounts)
def _add_counts(element: AddCounts, compiler, **kw) -> str:
    table, names = _names(compiler, element)
    # One group's placeholders, repeated: SQLite's are positional (?), so they take the groups' values in order.
    values = ", ".join([f"({_values(compiler, **kw)})"] * element.groups)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} "
        f"ON CONFLICT ({', '.join(names[:-1])}) DO UPDATE SET hires = {table}.hires + excluded.hires"
    )


@compiles(AddCounts, "postgresql")
def _add_counts_postgresql(element: AddCounts, compiler, **kw) -> str:
    table, names = _names(compiler, element)
    arrays = ", ".join(
        f"{compiler.process(sa.bindparam(name), **kw)}::{kind}[]"
        for name, kind in zip((*GROUP, "hires"), ("integer", "integer", "bigint", "bigint", "bigint"))
    )
    # unnest hands the rows over in the arrays' order: the groups' sorted order, as on the other backends.
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(names[:-1])}) DO UPDATE SET hires = {table}.hires + excluded.hires"
    )


@compiles(AddCounts, "mssql")
def _add_counts_sql_server(element: AddCounts, compiler, **kw) -> str:
    table, names = _names(compiler, element)
    values = _values(compiler, **kw)
    matched = " AND ".join(f"counts.{n} = delta.{n}" for n in names[:-1])
    # HOLDLOCK: two transactions adding to a group that is not there yet must not both insert it.
    return (
        f"MERGE {table} WITH (HOLDLOCK) AS counts USING (VALUES ({values})) AS delta ({', '.join(names)}) ON {matched} "
        f"WHEN MATCHED THEN UPDATE SET hires = counts.hires + delta.hires "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join(f'delta.{n}' for n in names)});"
    )
