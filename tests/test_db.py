"""The SQL layer: the dictionary's keys enforced by the database itself, and the schema compiled for Azure SQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable

from shared import db, dictionary, reports


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO hired_employees VALUES (1, 'A', '2021-01-01 00:00:00', 99, 99)",
        "INSERT INTO departments (id) VALUES (1)",
        "INSERT INTO departments VALUES (1, 'A'), (1, 'B')",
    ],
    ids=["foreign-key", "not-null", "primary-key"],
)
def test_database_enforces_the_dictionary_constraints(rowgate, statement):
    with pytest.raises(sa.exc.IntegrityError), rowgate.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_schema_creation_is_idempotent(rowgate):
    from shared.context import initialize

    initialize(rowgate)
    initialize(rowgate)
    assert {"departments", "rowgate_loads", "rowgate_rejections"} <= set(sa.inspect(rowgate.engine).get_table_names())


def test_schema_and_views_compile_for_azure_sql():
    metadata = db.build_metadata(dictionary.load())
    dialect = mssql.dialect()
    ddl = {name: str(CreateTable(table).compile(dialect=dialect)) for name, table in metadata.tables.items()}
    assert "datetime DATETIME2 NOT NULL" in ddl["hired_employees"]
    assert "name NVARCHAR(255) NOT NULL" in ddl["hired_employees"]
    assert "CONSTRAINT fk_hired_employees_department_id FOREIGN KEY(department_id) REFERENCES departments (id)" in ddl["hired_employees"]
    assert "id BIGINT NOT NULL IDENTITY" in ddl["rowgate_loads"]
    assert "IDENTITY" not in ddl["departments"], "dictionary keys come from the data, never from the database"
    for name, define in reports.DEFINITIONS.items():
        sql = str(define(metadata.tables).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        assert "DATEPART(year, hired_employees.datetime)" in sql or name == reports.RECENT_COURSES
