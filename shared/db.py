"""SQL layer: engine, tables built from the dictionary, and the few places where dialects differ."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from shared import aggregates
from shared.dictionary import Dictionary, DictionaryError, Field, Table
from shared.errors import PARENT_KEY_LENGTH, InputRefused
from shared.fieldtypes import TEXT, TYPES, characters
from shared.limits import SQLITE_PARAMETERS

LOADS = "rowgate_loads"
REJECTIONS = "rowgate_rejections"
# SQL Server takes at most 2,100 parameters per request; a key lookup asks for this many at most
# (1 column: 2,000 values, 3 columns: 666 keys), leaving room for the query's own parameters.
LOOKUP_PARAMETERS = 2000
EXECUTEMANY_ROWS = 10_000  # rows per executemany call: bounds the parameter arrays pyodbc builds
SQL_SERVER_DRIVER = "ODBC Driver 18 for SQL Server"
CLUSTERED_KEY_BYTES = 900  # SQL Server's index key limits; a primary key is clustered unless told otherwise
NONCLUSTERED_KEY_BYTES = 1700

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _column_type(table: Table, field: Field, key: bool) -> sa.types.TypeEngine:
    if table.primary_key == (field.name,) and field.type == "integer":
        # In SQLite an INTEGER primary key is the rowid itself: no second index to maintain.
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return TYPES[field.type].sql(field, key)


def sql_server_dialect() -> sa.Dialect:
    """The dialect Azure SQL is compiled for: NVARCHAR(MAX), never NTEXT, even before a first connection."""
    return mssql_pyodbc.dialect(deprecate_large_types=True)


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
        raise InputRefused("the Azure SQL backend needs pyodbc and unixODBC: pip install pyodbc") from None
    installed = pyodbc.drivers()
    if name not in installed:
        raise InputRefused(f"the ODBC driver {name!r} is not installed (installed: {installed}); install Microsoft's msodbcsql18 package")


def create_engine(url: str, lease_seconds: int = 120) -> sa.Engine:
    """An engine for the URL; SQLite gets its folder, foreign keys on and WAL; SQL Server its driver check
    and pyodbc's fast_executemany (parameters sent as arrays, not row by row); PostgreSQL a bound on time idle
    inside a transaction. Every pooled connection is pinged before use, so one dropped by the server (a
    failover, a restart, pg_terminate_backend) is replaced instead of failing the next unit of work."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url.removeprefix("sqlite:///").split("?")[0]).parent
        try:  # the database's own folder (.data/ at first run), never a tree of folders a typo named
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputRefused(
                f"cannot create the SQLite database in {folder}: {exc.strerror}; create the folder or pick another --database"
            ) from None
    if url.startswith("mssql+pyodbc"):
        require_odbc_driver()
        return sa.create_engine(url, fast_executemany=True, deprecate_large_types=True, pool_pre_ping=True)
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
        keys = set(table.primary_key).union(*(fk.fields for fk in table.foreign_keys), *table.unique_keys)
        for name in sorted(keys):
            if table.field(name).type == "string" and not table.field(name).max_length:
                raise DictionaryError(
                    f"{table.name}.{name} is a key string without constraints.maxLength: "
                    "SQL Server cannot index NVARCHAR(MAX); give it a maxLength"
                )
            if _column_type(table, table.field(name), True) is TEXT:
                raise DictionaryError(
                    f"{table.name}.{name}: a {table.field(name).type} field cannot be a key (primary, foreign or unique): "
                    "its values are text of any length, and SQL Server cannot index NVARCHAR(MAX)"
                )
        columns = [
            sa.Column(
                f.name,
                _column_type(table, f, f.name in keys),
                nullable=not f.required and f.name not in table.primary_key,
                autoincrement=False,
            )
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
        created = sa.Table(table.name, metadata, *columns, *constraints)
        for key in table.unique_keys:
            # SQL Server's UNIQUE takes one NULL only; a filtered index lets a unique field be empty on many rows,
            # as SQLite's and PostgreSQL's UNIQUE do (and Frictionless, which judges values only).
            key_columns = [created.c[name] for name in key]
            present = sa.and_(*(column.isnot(None) for column in key_columns))
            sa.Index(f"uq_{table.name}_{'_'.join(key)}", *key_columns, unique=True, mssql_where=present)
        problems = sql_server_key_problems(created)
        if problems:
            raise DictionaryError(f"table {table.name!r} cannot be created on Azure SQL: {'; '.join(problems)}")
    sa.Table(
        LOADS,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("table_name", characters(128), nullable=False),
        sa.Column("source", characters(1024), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
        sa.Column("inserted", sa.BigInteger, nullable=False, default=0),
        sa.Column("unchanged", sa.BigInteger, nullable=False, default=0),
        sa.Column("rejected", sa.BigInteger, nullable=False, default=0),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("claimed_by", characters(255)),  # host:pid of the run loading it now
        sa.Column("claimed_until", sa.DateTime),
        sa.UniqueConstraint("table_name", "content_hash", name="uq_loads_content"),
    )
    sa.Table(
        REJECTIONS,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("table_name", characters(128), nullable=False),
        sa.Column("source", characters(1024), nullable=False),
        sa.Column("source_digest", sa.String(64), nullable=False, default=_source_digest_default),  # filled from source
        sa.Column("row_number", sa.BigInteger),
        sa.Column("raw", TEXT, nullable=False),
        sa.Column("reasons", TEXT, nullable=False),
        sa.Column("retryable", sa.Boolean, nullable=False),
        # The parent key an open retryable row waits for (errors.parent_key): a parent load re-drives only the
        # rows naming its keys. 300 characters (NVARCHAR(600), 1,200 bytes) keep the index key below SQL Server's 1,700.
        sa.Column("missing_key", characters(PARENT_KEY_LENGTH)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("resolution", sa.String(16)),  # how it was resolved: fixed (corrected values) or redriven (checked again)
        sa.Column("fix", TEXT),  # the corrected values laid over raw, as JSON; raw stays what arrived
        sa.Index("ix_rejections_open", "table_name", "resolved_at"),
        # source (2,048 bytes) + row_number would pass SQL Server's 1,700-byte index key limit: index its digest.
        sa.Index("ix_rejections_source", "source_digest", "row_number"),
        sa.Index("ix_rejections_missing_key", "missing_key"),
    )
    aggregates.define(metadata)
    aggregates.define_indexes(metadata)
    return metadata


def upgrade(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Bring the ledger and rejections of a database made by an earlier release up to this schema (create_all
    adds tables, never columns): missing columns added, indexes whose columns changed rebuilt, source_digest
    filled in. Idempotent; a column that must not be NULL is added with an empty default, then filled."""
    inspector = sa.inspect(conn)
    present_tables = set(inspector.get_table_names())
    for table in (metadata.tables[LOADS], metadata.tables[REJECTIONS]):
        if table.name not in present_tables:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                conn.exec_driver_sql(add_column_sql(conn.dialect, column))
        if "resolution" in table.c and "resolution" not in present:
            conn.execute(batch_rows_from_1(table))
        if "source_digest" in table.c and "source_digest" not in present:
            sources = conn.execute(sa.select(table.c.source).where(table.c.source_digest == "").distinct()).scalars().all()
            for source in sources:
                filled = table.update().where(table.c.source == source, table.c.source_digest == "")
                conn.execute(filled.values(source_digest=source_digest(source)))
        indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            columns = [column.name for column in index.columns]
            if index.name in indexes and indexes[index.name] != columns:
                index.drop(conn)
            if indexes.get(index.name) != columns:
                index.create(conn)
    _add_unique_indexes(conn, metadata, inspector)
    aggregates.upgrade(conn, metadata)


def _add_unique_indexes(conn: sa.Connection, metadata: sa.MetaData, inspector) -> None:
    """A field the descriptor now says is `unique`, on a table made before: its index is created (create_all makes
    none on a table that exists). Rows already loaded that repeat a value refuse the start, naming the field."""
    for table in metadata.tables.values():
        unique = [index for index in table.indexes if index.unique and index.name.startswith(f"uq_{table.name}_")]
        if not unique or table.name not in inspector.get_table_names():
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in unique:
            if index.name in present:
                continue
            try:
                with conn.begin_nested():
                    index.create(conn)
            except sa.exc.IntegrityError:
                names = "/".join(column.name for column in index.columns)
                raise DictionaryError(
                    f"{table.name}.{names} is unique in the dictionary, but rows already loaded repeat a value: "
                    "fix or remove those rows, or leave the field not unique"
                ) from None


def batch_rows_from_1(rejections: sa.Table) -> sa.Update:
    """Releases before `resolution` numbered a batch's rows from 0: every row number counts from 1 now."""
    logged = rejections.update().where(rejections.c.source.like("api:%"), rejections.c.row_number.is_not(None))
    return logged.values(row_number=rejections.c.row_number + 1)


def add_column_sql(dialect: sa.Dialect, column: sa.Column) -> str:
    """ALTER TABLE ... ADD for a column a table of an earlier release lacks (NOT NULL: with an empty default)."""
    preparer = dialect.identifier_preparer
    null = "NOT NULL DEFAULT ''" if not column.nullable else "NULL"
    return f"ALTER TABLE {preparer.format_table(column.table)} ADD {preparer.format_column(column)} {column.type.compile(dialect=dialect)} {null}"


def source_digest(source: str) -> str:
    """The SHA-256 of a rejection's source, the short indexed stand-in for the source itself."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def _source_digest_default(context) -> str:
    return source_digest(context.get_current_parameters()["source"])


def rejections_of_source(rejections: sa.Table, source: str) -> sa.ColumnElement[bool]:
    """The condition for one source's rejections that the index answers (the digest) and that is exact (the source)."""
    return sa.and_(rejections.c.source_digest == source_digest(source), rejections.c.source == source)


_FIXED_BYTES = {"BIGINT": 8, "INTEGER": 4, "INT": 4, "SMALLINT": 2, "TINYINT": 1, "BIT": 1, "DATETIME2": 8, "DATETIME": 8, "DATE": 3}


def sql_server_bytes(column: sa.Column) -> int | None:
    """The most bytes a column's value takes in a SQL Server index key; None for MAX and large-object types."""
    compiled = column.type.compile(dialect=sql_server_dialect()).upper()
    match = re.match(r"(N?)(VAR)?CHAR\((\d+|MAX)\)", compiled)
    if match:
        if match[3] == "MAX":
            return None
        return int(match[3]) * (2 if match[1] else 1)
    name = compiled.split("(")[0].split()[0]
    if name in ("NTEXT", "TEXT", "IMAGE"):
        return None
    digits = [int(d) for d in re.findall(r"\d+", compiled)]
    if name in ("NUMERIC", "DECIMAL"):  # SQL Server's storage by precision: 1-9, 10-19, 20-28, 29-38 digits
        return next(size for most, size in ((9, 5), (19, 9), (28, 13), (38, 17)) if (digits or [18])[0] <= most)
    if name == "TIME":  # by fractional-second precision: 0-2, 3-4, 5-7 (the default)
        return 3 if (digits or [7])[0] <= 2 else 4 if digits[0] <= 4 else 5
    return _FIXED_BYTES[name]


def sql_server_key_problems(table: sa.Table) -> list[str]:
    """SQL Server's rules for a table's keys: no MAX column in a key, at most 900 bytes in the clustered
    primary key and 1,700 in a nonclustered index or unique constraint; a foreign key's columns of the
    type and collation of the columns they reference."""
    keys = [("primary key", table.primary_key, table.primary_key.dialect_options["mssql"].get("clustered") is not False)]
    keys += [(c.name, c, False) for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
    keys += [(i.name, i, bool(i.dialect_options["mssql"].get("clustered"))) for i in table.indexes]
    problems = []
    for name, key, clustered in keys:
        columns = list(key.columns)
        if not columns:
            continue
        sizes = {c.name: sql_server_bytes(c) for c in columns}
        unbounded = [n for n, size in sizes.items() if size is None]
        limit = CLUSTERED_KEY_BYTES if clustered else NONCLUSTERED_KEY_BYTES
        if unbounded:
            problems.append(f"{table.name} {name}: {', '.join(unbounded)} cannot be an index key column (NVARCHAR(MAX) or a large object)")
        elif sum(sizes.values()) > limit:
            problems.append(
                f"{table.name} {name}: key of up to {sum(sizes.values())} bytes is over SQL Server's {limit}-byte limit "
                "(a string takes up to 4 bytes per character)"
            )
    for fk in table.foreign_key_constraints:
        for element in fk.elements:
            here, there = (_type_and_collation(c) for c in (element.parent, element.column))
            if here != there:
                problems.append(
                    f"{table.name} {fk.name}: {element.parent.name} is {' '.join(filter(None, here))} but "
                    f"{element.column.table.name}.{element.column.name} is {' '.join(filter(None, there))}; "
                    "SQL Server needs the same type and collation on both sides of a foreign key"
                )
    return problems


def _type_and_collation(column: sa.Column) -> tuple[str, str | None]:
    compiled = column.type.compile(dialect=sql_server_dialect())
    collation = re.search(r"COLLATE (\S+)", compiled)
    return compiled.split("(")[0].split()[0].upper(), collation and collation[1]


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only transaction that sees one consistent state of every table."""
    options = {"sqlite": {"sqlite_begin": "DEFERRED"}, "postgresql": {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}}
    with engine.connect() as conn, conn.execution_options(**options.get(engine.dialect.name, {"isolation_level": "SNAPSHOT"})).begin():
        yield conn


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """Insert typed rows inside the caller's transaction, the fastest way each dialect offers, and count them
    into the reports' aggregates (shared/aggregates.py) in the same transaction."""
    if rows.num_rows == 0:
        return
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        _bulk_insert(conn, table, rows)
        aggregates.add(conn, table, rows)  # every insert into a live table passes here: the counts cannot be forgotten
    except driver_error as exc:
        # The driver's cursor is used directly, past SQLAlchemy's wrapping: wrap its error the same way, so
        # callers see sa.exc.IntegrityError (a key another run inserted first), OperationalError, ...
        raise sa.exc.DBAPIError.instance(f"bulk insert into {table.name}", None, exc, driver_error) from exc


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    if conn.dialect.name == "postgresql":
        _copy_postgresql(conn, table, rows)
        return
    names = rows.column_names
    statement = table.insert().compile(dialect=conn.dialect, column_keys=names)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        for start in range(0, rows.num_rows, EXECUTEMANY_ROWS):  # the Python values of one slice at a time: memory stays small
            piece = rows.slice(start, EXECUTEMANY_ROWS)
            columns = [_python_values(conn.dialect.name, piece.column(name)) for name in names]
            if conn.dialect.name == "sqlite":
                _insert_sqlite(cursor, str(statement), columns)
                continue
            parameters = zip(*columns) if statement.positional else (dict(zip(names, values)) for values in zip(*columns))
            executemany_chunked(cursor, str(statement), parameters)
    finally:
        cursor.close()


def _insert_sqlite(cursor, statement: str, columns: list[list]) -> None:
    """Rows as INSERTs of many VALUES rows each, `statement` being the one-row INSERT ... VALUES (?, ...): SQLite
    then runs a statement per SQLITE_PARAMETERS values instead of one per row, about half the time."""
    width, count = len(columns), len(columns[0])
    per_statement = max(1, SQLITE_PARAMETERS // width)
    flat = [None] * (width * count)  # row after row, as the placeholders take them
    for index, values in enumerate(columns):
        flat[index::width] = values
    more = ", (" + ", ".join("?" * width) + ")"
    step, whole = per_statement * width, count - count % per_statement
    if whole:
        cursor.executemany(statement + more * (per_statement - 1), (flat[i : i + step] for i in range(0, whole * width, step)))
    if whole < count:
        cursor.execute(statement + more * (count - whole - 1), flat[whole * width :])


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
    if dialect == "sqlite" and any(
        is_kind(column.type) for is_kind in (pa.types.is_timestamp, pa.types.is_date, pa.types.is_time, pa.types.is_decimal)
    ):
        # Arrow's cast writes exactly the text SQLAlchemy's SQLite DateTime, Date, Time and DecimalText types read back.
        text = pc.cast(column, pa.string())
        if pa.types.is_decimal(column.type) and pc.any(pc.match_substring(text, "E")).as_py():
            # but a decimal below 1e-6 in scientific notation (1.50E-7), which a key lookup (DecimalText: 0.000000150) misses
            return [None if value is None else format(value, "f") for value in column.to_pylist()]
        return text.to_pylist()
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


def select_by_keys(conn: sa.Connection, query: sa.Select, columns: list[sa.Column], keys: Iterable) -> Iterator[sa.Row]:
    """Rows of `query` whose `columns` hold one of `keys` (values, or tuples for several columns), asked at
    most LOOKUP_PARAMETERS parameters at a time."""
    keys = list(keys)
    per_batch = max(1, LOOKUP_PARAMETERS // len(columns))
    for start in range(0, len(keys), per_batch):
        batch = keys[start : start + per_batch]
        condition = columns[0].in_(batch) if len(columns) == 1 else KeysIn(columns, batch)
        yield from conn.execute(query.where(condition))


class KeysIn(sa.sql.expression.ColumnElement):
    """Several columns among a list of keys: a row-value IN where the dialect has one (SQLite, PostgreSQL);
    T-SQL has none, so SQL Server gets EXISTS over a VALUES list. Either way one expanding parameter,
    so the statement is compiled once and cached."""

    type = sa.Boolean()
    _is_implicitly_boolean = True  # a predicate itself: no "= 1" after it where booleans are not native
    inherit_cache = True
    _traverse_internals = [
        ("columns", InternalTraversal.dp_clauseelement_tuple),
        ("keys", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, columns: list[sa.Column], keys: list[tuple]):
        self.columns = tuple(columns)
        self.keys = sa.bindparam("keys", list(keys), unique=True, expanding=True, type_=sa.types.TupleType(*(c.type for c in columns)))


@compiles(KeysIn)
def _keys_in(element: KeysIn, compiler, **kw) -> str:
    # An expanding parameter renders its own parentheses: "(a, b) IN ((?, ?), (?, ?))", or on SQLite
    # "(a, b) IN (VALUES (?, ?), (?, ?))".
    return f"({', '.join(compiler.process(c, **kw) for c in element.columns)}) IN {compiler.process(element.keys, **kw)}"


@compiles(KeysIn, "mssql")
def _keys_in_sql_server(element: KeysIn, compiler, **kw) -> str:
    rows = compiler.process(element.keys, **kw)[1:-1]  # "(?, ?), (?, ?)" without the parentheses around the list
    names = [f"k{i}" for i in range(len(element.columns))]
    matched = " AND ".join(f"wanted.{n} = {compiler.process(c, **kw)}" for n, c in zip(names, element.columns))
    return f"EXISTS (SELECT 1 FROM (VALUES {rows}) AS wanted ({', '.join(names)}) WHERE {matched})"


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
