"""The Azure SQL path without a SQL Server: every statement the app issues, compiled for SQL Server,
kept as golden SQL, parsed as T-SQL and checked against SQL Server's documented rules; the connection
string and the driver check.

The statements are captured from a real run on SQLite (ingest, batch insert, reads, reports, replay,
backup, restore) and compiled again with the mssql+pyodbc dialect. Set ROWGATE_UPDATE_GOLDEN=1 to
rewrite tests/golden/azure_sql.sql after a deliberate change.

sqlglot's T-SQL parser accepts `IS 1`, `(a, b) IN (...)`, NTEXT, LIMIT and any number of parameters,
so the rules SQL Server enforces are checked here on its parse tree (tsql_problems) and, for index
keys, on the SQLAlchemy tables (shared.db.sql_server_key_problems). The sources, Microsoft's docs:
- IS: "expression IS [ NOT ] NULL" is the only IS predicate
  (learn.microsoft.com/sql/t-sql/queries/is-null-transact-sql).
- Row-value IN: IN takes "test_expression", one expression, not a row
  (learn.microsoft.com/sql/t-sql/language-elements/in-transact-sql).
- ntext, text and image "will be removed in a future version ... Use nvarchar(max), varchar(max), and
  varbinary(max) instead" (learn.microsoft.com/sql/t-sql/data-types/ntext-text-and-image-transact-sql);
  pyodbc's fast_executemany sizes such a parameter at its 2 GB maximum.
- LIMIT is not T-SQL (TOP, or ORDER BY ... OFFSET ... FETCH); "ORDER BY is mandatory to use OFFSET and
  FETCH" (learn.microsoft.com/sql/t-sql/queries/select-order-by-clause-transact-sql).
- "Parameters per stored procedure / user-defined function: 2,100", the limit of one RPC request
  ("Too many parameters provided in the RPC request. The maximum is 2100"), and "Bytes per index key:
  900 bytes for a clustered index. 1,700 for a nonclustered index"
  (learn.microsoft.com/sql/sql-server/maximum-capacity-specifications-for-sql-server).
- nvarchar(max) "cannot [be used] in the key column of an index" (SMO DataType.NVarCharMax remarks;
  CREATE INDEX: "Columns that are of the large object (LOB) data types ... can't be specified as key
  columns for an index").
- nvarchar(n): "n defines the string size in byte-pairs ... supplementary characters use two byte-pairs"
  (learn.microsoft.com/sql/t-sql/data-types/nchar-and-nvarchar-transact-sql).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
import sqlglot
from sqlalchemy.dialects import mssql
from sqlalchemy.dialects.sqlite import Insert as sqlite_insert
from sqlglot import exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.tokens import TokenType

from shared import aggregates, backup, db, dictionary, fieldtypes, rejections, reports, restore
from shared.batch import BatchRefused, insert_rows
from shared.browse import page_rows
from shared.db import (
    azure_sql_url,
    executemany_chunked,
    require_odbc_driver,
    sql_server_bytes,
    sql_server_dialect,
    sql_server_key_problems,
    view_ddl,
)
from shared.dictionary import DictionaryError
from shared.errors import InputRefused
from shared.fieldtypes import TYPES
from shared.ingest import ingest_local
from shared.parse import Chunk
from shared.replay import replay
from shared.settings import from_environment
from shared.validate import check_values
from tests.conftest import unavailable

GOLDEN = Path(__file__).parent / "golden" / "azure_sql.sql"
MSSQL = sql_server_dialect()
PARAMETER_LIMIT = 2100
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
NOT_TSQL_NAMES = {exp.OnConflict: "ON CONFLICT (MERGE)", exp.ILike: "ILIKE"}
NOT_TSQL = tuple(NOT_TSQL_NAMES)
LARGE_OBJECTS = {exp.DataType.Type.TEXT, exp.DataType.Type.IMAGE}  # sqlglot reads NTEXT as TEXT
SAVEPOINTS = (sa.sql.expression.SavepointClause, sa.sql.expression.ReleaseSavepointClause, sa.sql.expression.RollbackToSavepointClause)


def _staging(element: sa.ClauseElement) -> bool:
    if isinstance(element, sqlite_insert):  # the restore's upsert of its staged rows, which only SQLite runs
        return True
    return "rowgate_stage_" in str(element.compile(dialect=MSSQL))


@functools.lru_cache(maxsize=512)
def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="tsql")


def parameter_count(sql: str) -> int:
    return sum(1 for _ in _parse(sql).find_all(exp.Placeholder))


def tsql_problems(sql: str) -> list[str]:
    """What SQL Server would refuse in one statement although sqlglot parses it as T-SQL."""
    problems = []
    tokenized = TSQL().tokenize(sql)
    tokens = {token.token_type for token in tokenized}
    if TokenType.LIMIT in tokens:
        problems.append("LIMIT is not T-SQL (TOP, or ORDER BY ... OFFSET ... FETCH)")
    if TokenType.DCOLON in tokens:
        problems.append(":: casts are not T-SQL (CAST(... AS ...))")
    if any(token.token_type == TokenType.RETURNING and token.text.upper() == "RETURNING" for token in tokenized):
        problems.append("RETURNING is not T-SQL (OUTPUT)")  # sqlglot parses both as exp.Returning
    tree = _parse(sql)
    for node in tree.walk():
        if isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null):
            problems.append(f"IS {node.expression.sql('tsql')}: T-SQL has only IS [NOT] NULL")
        elif isinstance(node, exp.In) and isinstance(node.this, exp.Tuple):
            problems.append("row-value IN: T-SQL has no (a, b) IN (...)")
        elif isinstance(node, COMPARISONS) and (isinstance(node.this, exp.Tuple) or isinstance(node.expression, exp.Tuple)):
            problems.append("row-value comparison: T-SQL has no (a, b) = (...) nor (a, b) > (...)")
        elif isinstance(node, exp.Boolean) and not isinstance(node.parent, exp.Is):
            problems.append("TRUE/FALSE: T-SQL has no boolean literal (BIT 1/0)")
        elif isinstance(node, exp.DataType) and node.this == exp.DataType.Type.BOOLEAN:
            problems.append("BOOLEAN: T-SQL has no boolean type (BIT)")
        elif isinstance(node, NOT_TSQL):
            problems.append(f"{NOT_TSQL_NAMES[type(node)]} is not T-SQL")
        elif isinstance(node, exp.DataType) and node.this in LARGE_OBJECTS:
            problems.append(f"{node.sql('tsql')}: deprecated large-object type, use NVARCHAR(MAX)/VARBINARY(MAX)")
        elif isinstance(node, exp.Offset) and not node.parent.args.get("order"):
            problems.append("OFFSET without ORDER BY")
    parameters = parameter_count(sql)
    if parameters > PARAMETER_LIMIT:
        problems.append(f"{parameters} parameters: SQL Server takes at most {PARAMETER_LIMIT}")
    return problems


def captured(rowgate, run) -> list[sa.ClauseElement]:
    """Every statement `run(rowgate)` sends through the engine."""
    elements: list[sa.ClauseElement] = []

    def capture(conn, element, *args):
        # Savepoints are the dialect's own (SQL Server: SAVE TRANSACTION); staging tables are SQLite's temporary
        # ones here, so the restore's statements are compiled below against SQL Server's #temporary tables.
        if isinstance(element, sa.ClauseElement) and not isinstance(element, SAVEPOINTS) and not _staging(element):
            elements.append(element)

    sa.event.listen(rowgate.engine, "before_execute", capture)
    try:
        run(rowgate)
    finally:
        sa.event.remove(rowgate.engine, "before_execute", capture)
    return elements


def default_workflow(challenge):
    def run(rowgate):
        for name in ("hired_employees", "departments", "jobs"):
            ingest_local(rowgate, challenge / f"{name}.csv")
        insert_rows(rowgate, "departments", [{"id": 50, "department": "Data"}, {"id": "x", "department": "Bad"}])
        with pytest.raises(BatchRefused):
            insert_rows(rowgate, "departments", [{"id": "y", "department": "Bad"}], atomic=True)
        page_rows(rowgate, "hired_employees", 10, "5")
        rejections.find(rowgate, "hired_employees", "api:x", "foreign-key", "all", after=5, limit=10)
        rejections.find(rowgate, status="resolved")
        [fixable] = rejections.find(rowgate, "departments", limit=1)["rejections"]
        rejections.fix(rowgate, fixable["id"], {"id": 51})
        rejections.export(rowgate, io.BytesIO(), "departments")
        with rowgate.engine.connect() as conn:
            reports.hires_by_quarter(conn, rowgate.metadata.tables, 2021)
            reports.departments_above_mean(conn, rowgate.metadata.tables, 2021)
            reports.recent_courses(conn, rowgate.metadata.tables, since=None, limit=5, category="Data", level="Beginner")
        replay(rowgate)
        backup.backup(rowgate, ["departments", "jobs", "hired_employees"])
        restore.restore_set(rowgate, {name: backup.newest(rowgate, name) for name in ("departments", "jobs", "hired_employees")})

    return run


def app_statements(rowgate, run) -> list[tuple[str, str]]:
    """(kind, T-SQL) of every statement `run` issues plus the schema, bulk inserts, views, restore and
    backup statements of every table, in a stable order."""
    metadata, tables = rowgate.metadata, rowgate.metadata.tables
    found: dict[str, str] = {}
    for element in captured(rowgate, run):
        sql = str(element.compile(dialect=MSSQL, compile_kwargs={"render_postcompile": True}))
        found.setdefault(_normal(sql), type(element).__name__)
    for table in metadata.sorted_tables:
        found.setdefault(_normal(str(sa.schema.CreateTable(table).compile(dialect=MSSQL))), "CreateTable")
        for index in table.indexes:
            found.setdefault(_normal(str(sa.schema.CreateIndex(index).compile(dialect=MSSQL))), "CreateIndex")
        found.setdefault(_normal(str(table.insert().compile(dialect=MSSQL))), "bulk insert (pyodbc fast_executemany)")
    counts = aggregates.AddCounts(aggregates.counts_of(metadata))
    found.setdefault(_normal(str(counts.compile(dialect=MSSQL))), "hire counts (executemany on the driver's cursor)")
    for name, define in reports.DEFINITIONS.items():
        for sql in view_ddl(MSSQL, name, define(tables)):
            found.setdefault(_normal(sql), "view")
    stages = {name: restore.stage_table(table, "run", "mssql") for name, table in tables.items() if name in rowgate.dictionary.tables}
    for spec in rowgate.dictionary.tables.values():
        live, stage = tables[spec.name], stages[spec.name]
        found.setdefault(_normal(str(sa.schema.CreateTable(stage).compile(dialect=MSSQL))), "restore staging table")
        found.setdefault(_normal(str(stage.insert().compile(dialect=MSSQL))), "restore staging (pyodbc fast_executemany)")
        for exclusive in (True, False):
            found.setdefault(restore.lock_statement(MSSQL, live, exclusive), "restore lock")
        references = [(fk.fields, fk.parent, fk.parent_fields) for fk in spec.foreign_keys]
        statements = [
            restore.delete_missing(live, spec, stage),
            restore.update_existing(live, spec, stage),
            restore.insert_new(live, spec, stage),
            *(restore.dangling_keys(stage, f, stages[p], pf) for f, p, pf in references),
            *(restore.dangling_keys(live, f, stages[p], pf) for f, p, pf in references),
        ]
        for statement in statements:
            if statement is not None:
                found.setdefault(_normal(str(statement.compile(dialect=MSSQL, compile_kwargs={"render_postcompile": True}))), "restore")
        columns = [sa.type_coerce(live.c[f.name], sa.String) if TYPES[f.type].temporal else live.c[f.name] for f in spec.fields]
        read = sa.select(*columns).order_by(*(live.c[k] for k in spec.primary_key))
        found.setdefault(_normal(str(read.compile(dialect=MSSQL))), "backup read")
    return sorted((kind, sql) for sql, kind in found.items())


def _normal(sql: str) -> str:
    sql = re.sub(r"rowgate_stage_(\w+?)_(?:[0-9a-f]{8}|run)\b", r"rowgate_stage_\1_run", sql)
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


def render(statements: list[tuple[str, str]]) -> str:
    return "".join(f"-- {kind}\n{sql};\n\n" for kind, sql in statements)


def test_every_statement_compiles_for_azure_sql_parses_as_tsql_and_matches_the_golden_file(make_rowgate, challenge):
    statements = app_statements(make_rowgate(), default_workflow(challenge))
    assert len(statements) > 40
    for kind, sql in statements:
        try:
            sqlglot.parse_one(sql, read="tsql")
        except sqlglot.errors.ParseError as exc:
            pytest.fail(f"{kind} does not parse as T-SQL: {exc}\n{sql}")
    text = render(statements)
    if os.environ.get("ROWGATE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "the SQL sent to Azure SQL changed: review it, then ROWGATE_UPDATE_GOLDEN=1"


def test_every_statement_and_index_key_keeps_sql_server_rules(make_rowgate, challenge):
    rowgate = make_rowgate()
    statements = app_statements(rowgate, default_workflow(challenge))
    problems = {sql: tsql_problems(sql) for _, sql in statements}
    assert {sql: found for sql, found in problems.items() if found} == {}
    assert [p for table in rowgate.metadata.sorted_tables for p in sql_server_key_problems(table)] == []


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT id FROM rowgate_rejections WHERE retryable IS 1", "IS 1: T-SQL has only IS [NOT] NULL"),
        ("SELECT a FROM t WHERE (a, b) IN ((:p1, :p2), (:p3, :p4))", "row-value IN"),
        ("CREATE TABLE t (raw NTEXT NOT NULL)", "deprecated large-object type"),
        ("CREATE TABLE t (raw TEXT NOT NULL)", "deprecated large-object type"),
        ("CREATE TABLE t (blob IMAGE NULL)", "deprecated large-object type"),
        ("SELECT a FROM t ORDER BY a LIMIT 5", "LIMIT is not T-SQL"),
        ("SELECT a FROM t OFFSET 5 ROWS", "OFFSET without ORDER BY"),
        ("SELECT a FROM t WHERE a IN (" + ", ".join(f":p{i}" for i in range(2101)) + ")", "2101 parameters"),
        ("SELECT a FROM t WHERE (a, b) = (?, ?)", "row-value comparison"),
        ("SELECT a FROM t WHERE (a, b) > (?, ?) ORDER BY a, b", "row-value comparison"),
        ("SELECT a FROM t WHERE b = TRUE", "TRUE/FALSE"),
        ("CREATE TABLE t (b BOOLEAN NOT NULL)", "BOOLEAN"),
        ("INSERT INTO t (a) VALUES (?) RETURNING a", "RETURNING"),
        ("INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING", "ON CONFLICT"),
        ("SELECT a FROM t WHERE a ILIKE ?", "ILIKE"),
        ("SELECT a::int FROM t", ":: casts"),
    ],
    ids=[
        "is-not-null",
        "row-value-in",
        "ntext",
        "text",
        "image",
        "limit",
        "offset-unordered",
        "2101-parameters",
        "row-value-equals",
        "row-value-greater",
        "true-literal",
        "boolean-type",
        "returning",
        "on-conflict",
        "ilike",
        "double-colon-cast",
    ],
)
def test_each_tsql_rule_fails_on_a_statement_that_breaks_it(sql, problem):
    sqlglot.parse_one(sql, read="tsql")  # sqlglot alone accepts every one of them
    assert any(problem in found for found in tsql_problems(sql)), tsql_problems(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM t WHERE resolved_at IS NULL AND claimed IS NOT NULL AND retryable = 1",
        "SELECT TOP 5 a FROM t WHERE a IN (SELECT b FROM u) AND note = 'LIMIT 5'",
        "SELECT a FROM t ORDER BY a OFFSET 5 ROWS FETCH NEXT 5 ROWS ONLY",
        "CREATE TABLE t (raw NVARCHAR(max) NOT NULL, k NVARCHAR(20) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL)",
        "SELECT a FROM t WHERE a IN (" + ", ".join(f":p{i}" for i in range(2100)) + ")",
        "INSERT INTO t (a, b) OUTPUT inserted.a VALUES (?, 1)",
        "SELECT a FROM t WHERE b = 1 AND c = 'TRUE' AND d LIKE 'x::y'",
        "CREATE TABLE t (b BIT NOT NULL)",
    ],
    ids=["is-null", "top", "offset-ordered", "nvarchar-max", "2100-parameters", "output", "bit-and-strings", "bit-type"],
)
def test_the_tsql_rules_pass_what_sql_server_takes(sql):
    assert tsql_problems(sql) == []


def test_the_rules_catch_what_the_old_code_compiled_to():
    """The forms rowgate sent before: `.is_(True)`, a tuple IN for composite keys, UnicodeText without
    deprecate_large_types (pyodbc's dialect before it has connected)."""
    from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc

    table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.Unicode(5)), sa.Column("b", sa.Boolean), sa.Column("raw", sa.UnicodeText))
    is_true = sa.select(table.c.a).where(table.c.b.is_(True))
    row_in = sa.select(table.c.a).where(sa.tuple_(table.c.a, table.c.b).in_([("x", True)]))
    for statement, problem in ((is_true, "IS 1"), (row_in, "row-value IN")):
        sql = str(statement.compile(dialect=MSSQL, compile_kwargs={"render_postcompile": True}))
        assert any(problem in found for found in tsql_problems(sql)), sql
    old_ddl = str(sa.schema.CreateTable(table).compile(dialect=mssql_pyodbc.dialect()))
    assert any("large-object" in found for found in tsql_problems(old_ddl))
    assert tsql_problems(str(sa.schema.CreateTable(table).compile(dialect=MSSQL))) == []


def _table(*columns, **options) -> sa.Table:
    return sa.Table("t", sa.MetaData(), *columns, **options)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            _table(sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("source", sa.Unicode(1024)), sa.Column("n", sa.BigInteger)),
            None,
        ),
        (
            _table(
                sa.Column("id", sa.BigInteger, primary_key=True),
                sa.Column("source", sa.Unicode(1024)),
                sa.Column("n", sa.BigInteger),
                sa.Index("ix_source", "source", "n"),
            ),
            "t ix_source: key of up to 2056 bytes is over SQL Server's 1700-byte limit",
        ),
        (
            _table(sa.Column("code", sa.Unicode(451), primary_key=True)),
            "t primary key: key of up to 902 bytes is over SQL Server's 900-byte limit",
        ),
        (
            _table(
                sa.Column("id", sa.BigInteger, primary_key=True),
                sa.Column("a", sa.Unicode(800)),
                sa.UniqueConstraint("a", "id", name="uq_a"),
            ),
            None,
        ),
        (
            _table(
                sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("a", sa.Unicode(900)), sa.UniqueConstraint("a", name="uq_a")
            ),
            "t uq_a: key of up to 1800 bytes",
        ),
        (
            _table(sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("note", sa.UnicodeText), sa.Index("ix_note", "note")),
            "t ix_note: note cannot be an index key column",
        ),
        (
            _table(sa.Column("note", sa.UnicodeText, primary_key=True)),
            "t primary key: note cannot be an index key column",
        ),
    ],
    ids=[
        "no-index",
        "index-over-1700",
        "primary-key-over-900",
        "unique-within-1700",
        "unique-over-1700",
        "max-in-index",
        "max-in-primary-key",
    ],
)
def test_each_index_key_rule_fails_on_a_table_that_breaks_it(table, problem):
    """SQL Server's index key limits, from the SQLAlchemy table: the old ix_rejections_source
    (NVARCHAR(1024) + BIGINT = 2,056 bytes) is the second case."""
    problems = sql_server_key_problems(table)
    assert problems == [] if problem is None else any(problem in found for found in problems), problems


@pytest.mark.parametrize(
    ("child_type", "problem"),
    [
        (fieldtypes.characters(20, fieldtypes.KEY_COLLATION), None),
        (fieldtypes.characters(30, fieldtypes.KEY_COLLATION), None),
        (fieldtypes.characters(20), "code is NVARCHAR but parent.code is NVARCHAR Latin1_General_100_BIN2_UTF8"),
        (sa.BigInteger(), "code is BIGINT but parent.code is NVARCHAR"),
    ],
    ids=["same", "longer", "other-collation", "other-type"],
)
def test_a_foreign_key_needs_the_type_and_collation_it_references(child_type, problem):
    """SQL Server refuses a foreign key between columns of other types (Msg 1778) or collations (Msg 1757)."""
    metadata = sa.MetaData()
    sa.Table("parent", metadata, sa.Column("code", fieldtypes.characters(20, fieldtypes.KEY_COLLATION), primary_key=True))
    child = sa.Table("child", metadata, sa.Column("code", child_type), sa.ForeignKeyConstraint(["code"], ["parent.code"], name="fk_code"))
    problems = sql_server_key_problems(child)
    assert problems == [] if problem is None else any(problem in found for found in problems), problems


def test_statements_use_sql_server_forms():
    golden = GOLDEN.read_text()
    assert "DATEPART(month, hired_employees.datetime)" in golden
    assert "CREATE OR ALTER VIEW report_hires_by_quarter" in golden
    assert "datetime DATETIME2 NOT NULL" in golden and "NVARCHAR(510)" in golden and "NVARCHAR(max)" in golden
    assert "UPDATE departments SET department=[#rowgate_stage_departments_run].department FROM" in golden
    assert "CREATE TABLE [#rowgate_stage_departments_run] (" in golden and "TEMPORARY" not in golden
    assert "TOP __[POSTCOMPILE" not in golden and "LIMIT" not in golden


def test_connection_uses_the_managed_identity_and_no_secret():
    settings = from_environment(
        {"ROWGATE_SQL_SERVER": "sql-rowgate.database.windows.net", "ROWGATE_SQL_DATABASE": "rowgate", "AZURE_CLIENT_ID": "1111-2222"}
    )
    url = sa.engine.make_url(settings.database_url)
    odbc = url.query["odbc_connect"]
    assert url.drivername == "mssql+pyodbc"
    assert "Driver={ODBC Driver 18 for SQL Server}" in odbc and "Server=tcp:sql-rowgate.database.windows.net,1433" in odbc
    assert "Authentication=ActiveDirectoryMsi" in odbc and "UID=1111-2222" in odbc and "PWD" not in odbc and "Encrypt=yes" in odbc
    assert "UID" not in azure_sql_url("s", "d"), "no client id: the system-assigned identity"
    with pytest.raises(InputRefused, match="ROWGATE_SQL_DATABASE is not"):
        from_environment({"ROWGATE_SQL_SERVER": "x"})


def test_a_missing_odbc_driver_is_named_with_the_installed_ones():
    pyodbc = pytest.importorskip("pyodbc", reason="pyodbc needs unixODBC (scripts/setup.sh installs both)")
    with pytest.raises(InputRefused, match=r"'ODBC Driver 99' is not installed \(installed: \["):
        require_odbc_driver("ODBC Driver 99")
    assert isinstance(pyodbc.drivers(), list)


@pytest.mark.postgres
def test_pyodbc_path_with_a_real_odbc_driver(postgres_server):
    """pyodbc itself, with fast_executemany, through unixODBC and Debian's PostgreSQL ODBC driver: only SQL
    Server itself is missing. (Debian's SQLite ODBC driver crashes on parameter arrays, so it is not used.)"""
    pyodbc = pytest.importorskip("pyodbc", reason="pyodbc needs unixODBC (scripts/setup.sh installs both)")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        unavailable("the PostgreSQL ODBC driver (Debian odbc-postgresql) is not installed")
    require_odbc_driver("PostgreSQL Unicode")
    url = sa.engine.make_url(postgres_server)
    connection = pyodbc.connect(
        f"Driver={{PostgreSQL Unicode}};Server={url.host};Port={url.port or 5432};Database={url.database};Uid={url.username};",
        autocommit=False,
    )
    cursor = connection.cursor()
    cursor.execute("CREATE TEMPORARY TABLE jobs (id BIGINT PRIMARY KEY, job VARCHAR(255) NOT NULL)")
    rows = ((i, f"job {i}") for i in range(1, 25_001))
    assert executemany_chunked(cursor, "INSERT INTO jobs (id, job) VALUES (?, ?)", rows) == 3
    assert cursor.fast_executemany is True
    connection.commit()
    assert tuple(cursor.execute("SELECT count(*), max(id) FROM jobs").fetchone()) == (25_000, 25_000)
    with pytest.raises(pyodbc.IntegrityError):
        executemany_chunked(cursor, "INSERT INTO jobs (id, job) VALUES (?, ?)", [(1, "duplicate")])
    connection.rollback()
    assert cursor.execute("SELECT job FROM jobs WHERE id = 1").fetchone()[0] == "job 1"
    connection.close()


def test_the_postprovision_schema_script_is_idempotent_tsql():
    from click.testing import CliRunner

    from shared.cli import main

    script = CliRunner().invoke(main, ["azure-sql-schema"]).output
    batches = [batch.strip() for batch in script.split("\nGO\n") if batch.strip()]
    assert any(b.startswith("IF OBJECT_ID(N'departments', N'U') IS NULL\nCREATE TABLE departments (") for b in batches)
    assert any(b.startswith("IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_rejections_open'") for b in batches)
    assert sum(b.startswith("CREATE OR ALTER VIEW") for b in batches) == 3
    assert "NTEXT" not in script and "raw NVARCHAR(max) NOT NULL" in script
    for batch in batches:
        assert tsql_problems(batch) == [], batch


def custom_descriptor(tmp_path) -> Path:
    """The bundled dictionary plus sites (composite string key), rooms (child of sites) and bookings (a
    3-column foreign key to rooms), as tests/test_dictionary.py adds a seventh table."""
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    string = {"type": "string", "constraints": {"required": True, "maxLength": 20}}
    descriptor["resources"] += [
        {
            "name": "sites",
            "path": "landing/sites.csv",
            "schema": {
                "fields": [
                    {"name": "country", **string},
                    {"name": "code", **string},
                    {"name": "label", "type": "string", "constraints": {"maxLength": 3}},
                ],
                "primaryKey": ["country", "code"],
            },
        },
        {
            "name": "rooms",
            "path": "landing/rooms.csv",
            "schema": {
                "fields": [
                    {"name": "country", **string},
                    {"name": "code", **string},
                    {"name": "room", "type": "integer"},
                    {"name": "note", "type": "string"},
                ],
                "primaryKey": ["country", "code", "room"],
                "foreignKeys": [{"fields": ["country", "code"], "reference": {"resource": "sites", "fields": ["country", "code"]}}],
            },
        },
        {
            "name": "bookings",
            "path": "landing/bookings.csv",
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "country", **string},
                    {"name": "code", **string},
                    {"name": "room", "type": "integer"},
                ],
                "primaryKey": ["id"],
                "foreignKeys": [
                    {"fields": ["country", "code", "room"], "reference": {"resource": "rooms", "fields": ["country", "code", "room"]}}
                ],
            },
        },
    ]
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    return path


ROOMS = 1000  # 3 columns x 1,000 keys: 3,000 parameters in one lookup unless batched by parameter count


def custom_workflow(folder: Path):
    def run(rowgate):
        # 'ABC' and 'abc' are two keys for the validator, SQLite and PostgreSQL; a case-insensitive
        # collation would make them one on SQL Server. '😀😀😀' is 3 characters (maxLength 3), 6 UTF-16 units.
        (folder / "sites.csv").write_text("country,code,label\nAR,ABC,😀😀😀\nAR,abc,abc\n", encoding="utf-8")
        rooms = [f"AR,{'ABC' if i % 2 else 'abc'},{i},room {i}" for i in range(ROOMS)]
        (folder / "rooms.csv").write_text("country,code,room,note\n" + "\n".join(rooms) + "\nAR,Abc,1,no such site\n")
        bookings = [f"{i},AR,{'ABC' if i % 2 else 'abc'},{i}" for i in range(ROOMS)]
        (folder / "bookings.csv").write_text("id,country,code,room\n" + "\n".join(bookings) + f"\n{ROOMS},AR,ABC,0\n")
        for name in ("sites", "rooms", "bookings"):
            ingest_local(rowgate, folder / f"{name}.csv")
        # The even rooms again, one with another note: found by their composite keys, unchanged or refused.
        again = [f"AR,abc,{i},room {i}" for i in range(0, ROOMS, 2)] + ["AR,abc,0,moved"]
        (folder / "rooms").mkdir()
        (folder / "rooms" / "again.csv").write_text("country,code,room,note\n" + "\n".join(again) + "\n")
        result = ingest_local(rowgate, folder / "rooms" / "again.csv")
        assert (result.inserted, result.unchanged, result.rejected) == (0, ROOMS // 2, 1)
        replay(rowgate, "rooms")
        backup.backup(rowgate, ["sites", "rooms"])
        restore.restore_set(rowgate, {"sites": backup.newest(rowgate, "sites"), "rooms": backup.newest(rowgate, "rooms")})

    return run


def test_a_custom_dictionary_with_composite_string_keys_keeps_sql_server_rules(tmp_path, make_rowgate):
    """Composite string keys and a 3-column foreign key, run on SQLite, every statement compiled for SQL
    Server and held to its rules."""
    rowgate = make_rowgate(dictionary=str(custom_descriptor(tmp_path)))
    statements = app_statements(rowgate, custom_workflow(tmp_path))
    problems = {sql: tsql_problems(sql) for _, sql in statements}
    assert {sql: found for sql, found in problems.items() if found} == {}
    assert [p for table in rowgate.metadata.sorted_tables for p in sql_server_key_problems(table)] == []
    parameters = [parameter_count(sql) for _, sql in statements]
    assert 1900 < max(parameters) <= 2000, "the 3-column lookups are batched by parameter count, near the limit"
    lookups = [sql for _, sql in statements if "EXISTS (SELECT 1 FROM (VALUES (" in sql]
    assert any("AS wanted (k0, k1, k2) WHERE wanted.k0 = rooms.country AND wanted.k1 = rooms.code" in sql for sql in lookups)
    assert_custom_outcome(rowgate)


@pytest.mark.postgres
def test_a_custom_dictionary_with_composite_string_keys_on_postgresql(tmp_path, make_rowgate, postgres_url):
    """The same run on PostgreSQL, whose deterministic collations compare strings binary, as the validator does."""
    rowgate = make_rowgate(postgres_url, dictionary=str(custom_descriptor(tmp_path)))
    custom_workflow(tmp_path)(rowgate)
    assert_custom_outcome(rowgate)
    rowgate.engine.dispose()


def assert_custom_outcome(rowgate) -> None:
    with rowgate.engine.connect() as conn:
        counts = {
            name: conn.scalar(sa.select(sa.func.count()).select_from(rowgate.metadata.tables[name]))
            for name in ("sites", "rooms", "bookings")
        }
        sites = conn.execute(sa.text("SELECT code, label FROM sites ORDER BY label")).all()
        refused = conn.execute(sa.text("SELECT table_name, row_number FROM rowgate_rejections ORDER BY table_name, row_number")).all()
    assert counts == {"sites": 2, "rooms": ROOMS, "bookings": ROOMS}
    assert sorted(tuple(r) for r in sites) == [("ABC", "😀😀😀"), ("abc", "abc")]
    assert [tuple(r) for r in refused] == [("bookings", ROOMS + 2), ("rooms", ROOMS // 2 + 2), ("rooms", ROOMS + 2)], (
        "the case-variant key 'Abc' and room 0 of 'ABC' have no parent; room 0 of 'abc' came again with another note"
    )


def test_key_strings_are_binary_on_sql_server_and_sized_for_code_points(tmp_path):
    metadata = db.build_metadata(dictionary.load(custom_descriptor(tmp_path)))
    ddl = {name: str(sa.schema.CreateTable(table).compile(dialect=MSSQL)) for name, table in metadata.tables.items()}
    for table, column in (("sites", "country"), ("sites", "code"), ("rooms", "code"), ("bookings", "country"), ("bookings", "code")):
        assert f"{column} NVARCHAR(40) COLLATE {fieldtypes.KEY_COLLATION} NOT NULL" in ddl[table], ddl[table]
    assert "label NVARCHAR(6) NULL" in ddl["sites"] and "note NVARCHAR(max) NULL" in ddl["rooms"]
    assert "COLLATE" not in ddl["departments"], "integer keys, and strings that are no key, keep the database's collation"


def test_every_string_column_holds_its_length_in_characters_on_sql_server(tmp_path):
    """Ledger and rejections too: a source of 1,024 emoji is 2,048 UTF-16 units."""
    metadata = db.build_metadata(dictionary.load(custom_descriptor(tmp_path)))
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.String) and column.type.length:
                units = re.match(r"N?VARCHAR\((\d+|max)\)", column.type.compile(dialect=MSSQL))[1]
                wanted = column.type.length * (2 if isinstance(column.type, sa.Unicode) else 1)
                assert units == "max" or int(units) >= wanted, f"{table.name}.{column.name}: {units} for {column.type.length} characters"


@pytest.mark.parametrize("max_length", [1, 255, 2000, 2001, None])
def test_every_value_within_max_length_fits_its_sql_server_column(max_length):
    """maxLength counts code points (Table Schema), NVARCHAR(n) UTF-16 units: a value of maxLength
    supplementary characters passes validation and must fit the column, else the whole chunk fails."""
    field = dictionary.Field("note", "string", False, max_length)
    column = sa.Column("note", fieldtypes.TYPES["string"].sql(field, False))
    compiled = column.type.compile(dialect=MSSQL)
    units = re.fullmatch(r"NVARCHAR\((\d+|max)\)", compiled)[1]
    worst = "😀" * (max_length or 10_000)
    assert units == "max" or len(worst.encode("utf-16-le")) // 2 <= int(units), compiled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda fields: fields[1]["constraints"].pop("maxLength"), "sites.code is a key string without constraints.maxLength"),
        (
            lambda fields: fields[1]["constraints"].update(maxLength=300),
            "'sites' cannot be created on Azure SQL: sites primary key: key of up to 1280 bytes",
        ),
        (
            lambda fields: fields[1].update(type="integer", constraints={"required": True}),  # maxLength is for strings
            "'rooms' cannot be created on Azure SQL: rooms fk_rooms_country_code: code is NVARCHAR Latin1_General_100_BIN2_UTF8 but sites.code is BIGINT",
        ),
    ],
    ids=["key-without-max-length", "key-over-900-bytes", "foreign-key-of-another-type"],
)
def test_a_dictionary_whose_keys_sql_server_cannot_index_is_refused_at_start_up(tmp_path, make_rowgate, change, message):
    path = custom_descriptor(tmp_path)
    descriptor = json.loads(path.read_text())
    sites = next(r for r in descriptor["resources"] if r["name"] == "sites")
    change(sites["schema"]["fields"])
    path.write_text(json.dumps(descriptor))
    with pytest.raises(DictionaryError, match=re.escape(message)):
        make_rowgate(dictionary=str(path))
    assert (
        not (tmp_path / "rowgate.db").exists() or not sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'rowgate.db'}")).get_table_names()
    )


def test_a_key_string_ending_in_a_space_is_refused_on_every_backend(tmp_path):
    """SQL Server compares strings padded with spaces, after ANSI SQL-92 ('abc' = 'abc ', also under a
    binary collation; learn.microsoft.com/sql/t-sql/language-elements/string-comparison-assignment and
    KB 316626 "How SQL Server compares strings with trailing spaces"). SQLite and PostgreSQL's VARCHAR
    keep them apart, so such a key would be one key on Azure SQL and two here: refused everywhere."""
    sites = dictionary.load(custom_descriptor(tmp_path)).table("sites")
    columns = {
        "country": pa.array(["AR", "AR", "AR", "AR"]),
        "code": pa.array(["abc", "abc ", " abc", "a c"]),
        "label": pa.array(["x ", None, None, None]),
    }
    typed = check_values(sites, Chunk(4, np.array([2, 3, 4, 5]), columns))
    assert [(r.row_number, [e.field for e in r.errors]) for r in typed.refused] == [(3, ["code"])]
    assert typed.refused[0].errors[0].message == "code 'abc ' ends with a space, which SQL Server ignores when it compares keys"
    assert typed.rows.column("code").to_pylist() == ["abc", " abc", "a c"], "leading and inner spaces count in every backend"


def test_the_upgrade_of_a_previous_release_compiles_for_azure_sql():
    """shared/db.upgrade's statements as Azure SQL gets them (the upgrade itself runs on SQLite and PostgreSQL
    in tests/test_db.py): the columns earlier releases lack, the rebuilt source index, batch rows numbered from 1."""
    from sqlalchemy.schema import CreateIndex, DropIndex

    dialect = sql_server_dialect()
    rejections = db.build_metadata(dictionary.load()).tables["rowgate_rejections"]
    added = [db.add_column_sql(dialect, rejections.c[name]) for name in ("source_digest", "missing_key", "resolution", "fix")]
    assert added == [
        "ALTER TABLE rowgate_rejections ADD source_digest VARCHAR(64) NOT NULL DEFAULT ''",
        "ALTER TABLE rowgate_rejections ADD missing_key NVARCHAR(600) NULL",
        "ALTER TABLE rowgate_rejections ADD resolution VARCHAR(16) NULL",
        "ALTER TABLE rowgate_rejections ADD fix NVARCHAR(max) NULL",
    ]
    [source_index] = [i for i in rejections.indexes if i.name == "ix_rejections_source"]
    renumbered = str(db.batch_rows_from_1(rejections).compile(dialect=dialect))
    assert renumbered == (
        "UPDATE rowgate_rejections SET row_number=(rowgate_rejections.row_number + :row_number_1) "
        "WHERE rowgate_rejections.source LIKE :source_1 AND rowgate_rejections.row_number IS NOT NULL"
    )
    statements = [*added, *(str(ddl(source_index).compile(dialect=dialect)).strip() for ddl in (DropIndex, CreateIndex)), renumbered]
    assert statements[4] == "DROP INDEX ix_rejections_source ON rowgate_rejections"
    for sql in statements:
        sqlglot.parse_one(sql, read="tsql")
        assert tsql_problems(sql) == []


@pytest.mark.parametrize("field_type", sorted(fieldtypes.TYPES))
@pytest.mark.parametrize("role", ["primary-key", "unique"])
def test_every_field_type_as_a_key_opens_or_is_refused_naming_the_field(tmp_path, make_rowgate, field_type, role):
    """A number or time field made unique crashed start-up (KeyError 'NUMERIC', 'TIME' in the SQL Server key sizes);
    sizes follow SQL Server's storage tables: decimal 5/9/13/17 bytes by precision, time 3/4/5 by fraction."""
    field = {"name": "x", "type": field_type, "constraints": {"maxLength": 20} if field_type == "string" else {}}
    schema = {"fields": [{"name": "id", "type": "integer"}, field], "primaryKey": ["x"] if role == "primary-key" else ["id"]}
    if role == "unique":
        field["constraints"]["unique"] = True
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps({"name": "keyed", "resources": [{"name": "t", "schema": schema}]}))
    try:
        make_rowgate(dictionary=str(path))
    except DictionaryError as exc:
        assert "t.x" in str(exc) or "t " in str(exc) or "'t'" in str(exc), exc
        assert field_type in ("duration", "object", "array", "geopoint", "any"), exc  # text of any length: no key


@pytest.mark.parametrize(
    ("sql_type", "size"),
    [
        (sa.Numeric(9, 2), 5),
        (sa.Numeric(19, 0), 9),
        (sa.Numeric(28, 9), 13),
        (sa.Numeric(38, 9), 17),
        (mssql.TIME(precision=6), 5),
        (mssql.TIME(precision=3), 4),
    ],
)
def test_sql_server_key_sizes_of_decimals_and_times(sql_type, size):
    assert sql_server_bytes(sa.Column("x", sql_type)) == size
