"""The Azure SQL path without a SQL Server: every statement the app issues, compiled for SQL Server,
kept as golden SQL and parsed as T-SQL; the connection string and the driver check.

The statements are captured from a real run on SQLite (ingest, batch insert, reads, reports, replay,
backup, restore) and compiled again with the mssql+pyodbc dialect. Set ROWGATE_UPDATE_GOLDEN=1 to
rewrite tests/golden/azure_sql.sql after a deliberate change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc

from shared import backup, reports, restore
from shared.batch import BatchRefused, insert_rows
from shared.browse import list_rejections, page_rows
from shared.db import azure_sql_url, executemany_chunked, require_odbc_driver, view_ddl
from shared.ingest import ingest_local
from shared.replay import replay
from shared.settings import from_environment
from tests.conftest import unavailable

GOLDEN = Path(__file__).parent / "golden" / "azure_sql.sql"
MSSQL = mssql_pyodbc.dialect()
SAVEPOINTS = (sa.sql.expression.SavepointClause, sa.sql.expression.ReleaseSavepointClause, sa.sql.expression.RollbackToSavepointClause)


def _staging(element: sa.ClauseElement) -> bool:
    return "rowgate_stage_" in str(element.compile(dialect=MSSQL))


def workflow_statements(rowgate, challenge) -> list[sa.ClauseElement]:
    captured: list[sa.ClauseElement] = []

    def capture(conn, element, *args):
        # Savepoints are the dialect's own (SQL Server: SAVE TRANSACTION); staging tables are SQLite's temporary
        # ones here, so the restore's statements are compiled below against SQL Server's #temporary tables.
        if isinstance(element, sa.ClauseElement) and not isinstance(element, SAVEPOINTS) and not _staging(element):
            captured.append(element)

    sa.event.listen(rowgate.engine, "before_execute", capture)
    for name in ("hired_employees", "departments", "jobs"):
        ingest_local(rowgate, challenge / f"{name}.csv")
    insert_rows(rowgate, "departments", [{"id": 50, "department": "Data"}, {"id": "x", "department": "Bad"}])
    with pytest.raises(BatchRefused):
        insert_rows(rowgate, "departments", [{"id": "y", "department": "Bad"}], atomic=True)
    page_rows(rowgate, "hired_employees", 10, "5")
    list_rejections(rowgate, "hired_employees", "api:x", 10)
    with rowgate.engine.connect() as conn:
        reports.hires_by_quarter(conn, rowgate.metadata.tables, 2021)
        reports.departments_above_mean(conn, rowgate.metadata.tables, 2021)
        reports.recent_courses(conn, rowgate.metadata.tables, since=None, limit=5, category="Data", level="Beginner")
    replay(rowgate)
    backup.backup(rowgate, ["departments", "jobs"])
    restore.restore_set(rowgate, {"departments": backup.newest(rowgate, "departments"), "jobs": backup.newest(rowgate, "jobs")})
    sa.event.remove(rowgate.engine, "before_execute", capture)
    return captured


def app_statements(rowgate, challenge) -> list[tuple[str, str]]:
    """(kind, T-SQL) of every statement, in a stable order."""
    metadata, tables = rowgate.metadata, rowgate.metadata.tables
    found: dict[str, str] = {}
    for element in workflow_statements(rowgate, challenge):
        sql = str(element.compile(dialect=MSSQL, compile_kwargs={"render_postcompile": True}))
        found.setdefault(_normal(sql), type(element).__name__)
    for table in metadata.sorted_tables:
        found.setdefault(_normal(str(sa.schema.CreateTable(table).compile(dialect=MSSQL))), "CreateTable")
        found.setdefault(_normal(str(table.insert().compile(dialect=MSSQL))), "bulk insert (pyodbc fast_executemany)")
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
        columns = [sa.type_coerce(live.c[f.name], sa.String) if f.type in backup.TEMPORAL else live.c[f.name] for f in spec.fields]
        read = sa.select(*columns).order_by(*(live.c[k] for k in spec.primary_key))
        found.setdefault(_normal(str(read.compile(dialect=MSSQL))), "backup read")
    return sorted((kind, sql) for sql, kind in found.items())


def _normal(sql: str) -> str:
    sql = re.sub(r"rowgate_stage_(\w+?)_(?:[0-9a-f]{8}|run)\b", r"rowgate_stage_\1_run", sql)
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


def render(statements: list[tuple[str, str]]) -> str:
    return "".join(f"-- {kind}\n{sql};\n\n" for kind, sql in statements)


def test_every_statement_compiles_for_azure_sql_parses_as_tsql_and_matches_the_golden_file(make_rowgate, challenge):
    statements = app_statements(make_rowgate(), challenge)
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


def test_statements_use_sql_server_forms():
    golden = GOLDEN.read_text()
    assert "DATEPART(month, hired_employees.datetime)" in golden
    assert "CREATE OR ALTER VIEW report_hires_by_quarter" in golden
    assert "datetime DATETIME2 NOT NULL" in golden and "NVARCHAR(255)" in golden
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
    with pytest.raises(ValueError, match="ROWGATE_SQL_DATABASE is not"):
        from_environment({"ROWGATE_SQL_SERVER": "x"})


def test_a_missing_odbc_driver_is_named_with_the_installed_ones():
    pyodbc = pytest.importorskip("pyodbc", reason="pyodbc needs unixODBC (scripts/setup.sh installs both)")
    with pytest.raises(RuntimeError, match=r"'ODBC Driver 99' is not installed \(installed: \["):
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
    for batch in batches:
        sqlglot.parse_one(batch, read="tsql")
