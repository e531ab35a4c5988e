"""SQL layer: engine, tables built from the dictionary, and the few places where dialects differ."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from shared.dictionary import Dictionary, Table

LOADS = "rowgate_loads"
REJECTIONS = "rowgate_rejections"
LOOKUP_BATCH = 1000  # values per IN (...) list: below every dialect's parameter limit (SQL Server: 2100)
EXECUTEMANY_ROWS = 10_000  # rows per executemany call: bounds the parameter arrays pyodbc builds
SQL_SERVER_DRIVER = "ODBC Driver 18 for SQL Server"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

COLUMN_TYPES = {
    "integer": lambda field: sa.BigInteger(),
    "string": lambda field: sa.Unicode(field.max_length) if field.max_length else sa.UnicodeText(),
    "datetime": lambda field: sa.DateTime().with_variant(mssql.DATETIME2(), "mssql"),  # DATETIME keeps only 1/300 s
    "date": lambda field: sa.Date(),
}


def _column_type(table: Table, field) -> sa.types.TypeEngine:
    if table.primary_key == (field.name,) and field.type == "integer":
        # In SQLite an INTEGER primary key is the rowid itself: no second index to maintain.
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return COLUMN_TYPES[field.type](field)


def azure_sql_url(server: str, database: str, client_id: str = "") -> str:
    """The mssql+pyodbc URL of an Azure SQL database reached with a managed identity (the user-assigned
    one whose client id is given, else the system-assigned one): no password anywhere."""
    attributes = {
        "Driver": f"{{{SQL_SERVER_DRIVER}}}",
        "Server": f"tcp:{server},1433",
        "Database": database,
        "Encrypt": "yes",
        "TrustServerCertificate": "no",
        "Connection Timeout": "30",
        "Authentication": "ActiveDirectoryMsi",
    }
    if client_id:
        attributes["UID"] = client_id
    return "mssql+pyodbc:///?odbc_connect=" + quote_plus(";".join(f"{k}={v}" for k, v in attributes.items()))


def require_odbc_driver(name: str = SQL_SERVER_DRIVER) -> None:
    """Fail at start-up, naming what is missing, when pyodbc or the ODBC driver is not installed."""
    try:
        import pyodbc  # imported here: only the Azure SQL backend needs it
    except ImportError:
        raise RuntimeError("the Azure SQL backend needs pyodbc and unixODBC: pip install pyodbc") from None
    installed = pyodbc.drivers()
    if name not in installed:
        raise RuntimeError(f"the ODBC driver {name!r} is not installed (installed: {installed}); install Microsoft's msodbcsql18 package")


def create_engine(url: str, lease_seconds: int = 120) -> sa.Engine:
    """An engine for the URL; SQLite gets its folder, foreign keys on and WAL; SQL Server its driver check
    and pyodbc's fast_executemany (parameters sent as arrays, not row by row); PostgreSQL a bound on time idle
    inside a transaction. Every pooled connection is pinged before use, so one dropped by the server (a
    failover, a restart, pg_terminate_backend) is replaced instead of failing the next unit of work."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("mssql+pyodbc"):
        require_odbc_driver()
        return sa.create_engine(url, fast_executemany=True, pool_pre_ping=True)
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    if engine.dialect.name == "postgresql":
        # A process stopped or hung inside a transaction (SIGSTOP, a frozen instance) would hold its row locks
        # for ever, and a run taking its load over would wait on them. Half the lease: no rowgate transaction
        # sits idle between statements for more than a few seconds, and the server ends a stalled one (and
        # frees its locks) before its lease runs out, so a successor never waits on a dead holder.
        idle_ms = max(1000, lease_seconds * 500)
        sa.event.listen(engine, "connect", lambda connection, _record: _postgres_session(connection, idle_ms))
    return engine


def _postgres_session(dbapi_connection, idle_ms: int) -> None:
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET idle_in_transaction_session_timeout = {int(idle_ms)}")
    dbapi_connection.autocommit = autocommit


def _sqlite_begin(conn: sa.Connection) -> None:
    # pysqlite defers BEGIN to the first write, so reads would run outside the transaction. Take the
    # write lock up front instead (validation reads, then writes); a snapshot asks for a plain BEGIN.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=16384")  # 64 MiB of WAL between checkpoints: bulk loads copy pages less often
    cursor.close()


def build_metadata(dictionary: Dictionary) -> sa.MetaData:
    """The dictionary's tables plus the load ledger and the rejections table."""
    metadata = sa.MetaData()
    for table in dictionary.dependency_order():
        columns = [
            sa.Column(f.name, _column_type(table, f), nullable=not f.required and f.name not in table.primary_key, autoincrement=False)
            for f in table.fields
        ]
        constraints = [sa.PrimaryKeyConstraint(*table.primary_key, name=f"pk_{table.name}")]
        for fk in table.foreign_keys:
            constraints.append(
                sa.ForeignKeyConstraint(
                    list(fk.fields),
                    [f"{fk.parent}.{name}" for name in fk.parent_fields],
                    name=f"fk_{table.name}_{'_'.join(fk.fields)}",
                )
            )
        sa.Table(table.name, metadata, *columns, *constraints)
    sa.Table(
        LOADS,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.Unicode(128), nullable=False),
        sa.Column("source", sa.Unicode(1024), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
        sa.Column("inserted", sa.BigInteger, nullable=False, default=0),
        sa.Column("unchanged", sa.BigInteger, nullable=False, default=0),
        sa.Column("rejected", sa.BigInteger, nullable=False, default=0),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("claimed_by", sa.Unicode(255)),  # host:pid of the run loading it now
        sa.Column("claimed_until", sa.DateTime),
        sa.UniqueConstraint("table_name", "content_hash", name="uq_loads_content"),
    )
    sa.Table(
        REJECTIONS,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.Unicode(128), nullable=False),
        sa.Column("source", sa.Unicode(1024), nullable=False),
        sa.Column("row_number", sa.BigInteger),
        sa.Column("raw", sa.UnicodeText, nullable=False),
        sa.Column("reasons", sa.UnicodeText, nullable=False),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Index("ix_rejections_open", "table_name", "resolved_at"),
        sa.Index("ix_rejections_source", "source", "row_number"),
    )
    return metadata


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only transaction that sees one consistent state of every table."""
    options = {"sqlite": {"sqlite_begin": "DEFERRED"}, "postgresql": {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}}
    with engine.connect() as conn, conn.execution_options(**options.get(engine.dialect.name, {"isolation_level": "SNAPSHOT"})).begin():
        yield conn


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """Insert typed rows inside the caller's transaction, the fastest way each dialect offers."""
    if rows.num_rows == 0:
        return
    if conn.dialect.name == "postgresql":
        _copy_postgresql(conn, table, rows)
        return
    names = rows.column_names
    columns = [_python_values(conn.dialect.name, rows.column(name)) for name in names]
    statement = table.insert().compile(dialect=conn.dialect, column_keys=names)
    parameters = zip(*columns) if statement.positional else (dict(zip(names, values)) for values in zip(*columns))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        executemany_chunked(cursor, str(statement), parameters)
    finally:
        cursor.close()


def executemany_chunked(cursor, sql: str, parameters: Iterable) -> int:
    """executemany; pyodbc's in EXECUTEMANY_ROWS slices sent as parameter arrays (fast_executemany), other
    drivers' in one call, as they stream the parameters themselves."""
    if not hasattr(cursor, "fast_executemany"):
        cursor.executemany(sql, parameters)
        return 1
    cursor.fast_executemany = True
    calls = 0
    iterator = iter(parameters)
    while batch := list(itertools.islice(iterator, EXECUTEMANY_ROWS)):
        cursor.executemany(sql, batch)
        calls += 1
    return calls


def _python_values(dialect: str, column: pa.ChunkedArray) -> list:
    if dialect == "sqlite" and (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
        # Arrow's cast writes exactly the text SQLAlchemy's SQLite DateTime and Date types read back.
        return pc.cast(column, pa.string()).to_pylist()
    return column.to_pylist()


def _copy_postgresql(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in rows.column_names)
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getbuffer())
    cursor.close()


def select_in_batches(conn: sa.Connection, query: sa.Select, column: sa.ColumnElement, values: Iterable) -> Iterator[sa.Row]:
    """Rows of `query` whose `column` is among `values`, asked LOOKUP_BATCH values at a time."""
    values = list(values)
    for start in range(0, len(values), LOOKUP_BATCH):
        yield from conn.execute(query.where(column.in_(values[start : start + LOOKUP_BATCH])))


def key_column(table: sa.Table, spec: Table) -> sa.ColumnElement:
    """The primary key as one expression: the column itself, or a tuple for composite keys."""
    columns = [table.c[name] for name in spec.primary_key]
    return columns[0] if len(columns) == 1 else sa.tuple_(*columns)


def create_view(conn: sa.Connection, name: str, query: sa.Select) -> None:
    for statement in view_ddl(conn.dialect, name, query):
        conn.exec_driver_sql(statement)


def view_ddl(dialect: sa.Dialect, name: str, query: sa.Select) -> list[str]:
    """Create or replace a view, in each dialect's own words."""
    body = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    quoted = dialect.identifier_preparer.quote(name)
    if dialect.name == "mssql":
        return [f"CREATE OR ALTER VIEW {quoted} AS {body}"]
    return [f"DROP VIEW IF EXISTS {quoted}", f"CREATE VIEW {quoted} AS {body}"]
