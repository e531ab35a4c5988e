"""The SQL layer: the dictionary's keys enforced by the database itself, and the schema compiled for Azure SQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from shared import db, dictionary, reports
from shared.errors import Error, Refusal
from shared.load import log_refusals, refusals_of
from shared.rejections import find


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
    dialect = db.sql_server_dialect()
    ddl = {name: str(CreateTable(table).compile(dialect=dialect)) for name, table in metadata.tables.items()}
    assert "datetime DATETIME2 NOT NULL" in ddl["hired_employees"]
    assert "name NVARCHAR(510) NOT NULL" in ddl["hired_employees"], "maxLength 255 code points: up to 510 UTF-16 units"
    assert "raw NVARCHAR(max) NOT NULL" in ddl["rowgate_rejections"] and "NTEXT" not in "".join(ddl.values())
    assert "CONSTRAINT fk_hired_employees_department_id FOREIGN KEY(department_id) REFERENCES departments (id)" in ddl["hired_employees"]
    assert "id BIGINT NOT NULL IDENTITY" in ddl["rowgate_loads"]
    assert "IDENTITY" not in ddl["departments"], "dictionary keys come from the data, never from the database"
    for name, define in reports.DEFINITIONS.items():
        sql = str(define(metadata.tables).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        assert "DATEPART(year, hired_employees.datetime)" in sql or name == reports.RECENT_COURSES


def test_key_lookups_ask_at_most_the_parameter_budget_and_find_every_row_once(rowgate):
    """SQL Server takes 2,100 parameters per request: 1,500 keys of 3 columns (4,500 values) are asked in
    batches of at most LOOKUP_PARAMETERS parameters, as an OR of ANDs (T-SQL has no row-value IN)."""
    table = sa.Table("t3", sa.MetaData(), sa.Column("a", sa.Unicode(5)), sa.Column("b", sa.BigInteger), sa.Column("c", sa.BigInteger))
    table.create(rowgate.engine)
    keys = [("k" if i % 2 else "K", i, i * 2) for i in range(1500)]
    with rowgate.engine.begin() as conn:
        conn.execute(table.insert(), [dict(zip("abc", key)) for key in keys[::3]])
    counts = []

    def count(conn, cursor, statement, parameters, *args):
        if statement.startswith("SELECT"):
            counts.append(len(parameters))

    sa.event.listen(rowgate.engine, "before_cursor_execute", count)
    with rowgate.engine.connect() as conn:
        found = [tuple(row) for row in db.select_by_keys(conn, sa.select(table), list(table.c), keys + [("k", 1, 3)])]
    sa.event.remove(rowgate.engine, "before_cursor_execute", count)
    assert sorted(found) == sorted(keys[::3])
    assert counts == [1998, 1998, 507], "666 keys of 3 columns per statement"


@pytest.mark.parametrize("source", ["landing/departments.csv", "landing/" + "😀" * 1000])
def test_rejections_are_found_by_their_source_however_long(rowgate, source):
    """The source index is on the source's digest: NVARCHAR(1024) + BIGINT (2,056 bytes) would pass SQL
    Server's 1,700-byte limit for a nonclustered index key, and a long source would fail the insert."""
    with rowgate.engine.begin() as conn:
        log_refusals(conn, rowgate.metadata, "departments", source, [Refusal(2, {"id": "x"}, [Error("id", "type-error", "no")])])
        log_refusals(conn, rowgate.metadata, "departments", source + "2", [Refusal(3, {"id": "y"}, [Error("id", "type-error", "no")])])
        assert [row.row_number for row in refusals_of(conn, rowgate.metadata, source)] == [2]
        digest = conn.scalar(sa.select(rowgate.metadata.tables[db.REJECTIONS].c.source_digest).where(sa.column("row_number") == 2))
    assert digest == db.source_digest(source)
    assert [r["row_number"] for r in find(rowgate, "departments", source)["rejections"]] == [2]
    assert db.sql_server_key_problems(rowgate.metadata.tables[db.REJECTIONS]) == []


def previous_release_schema(url: str) -> None:
    """rowgate_loads and rowgate_rejections as the previous release (main before issue 8) created them, with
    one rejection logged, on an empty database."""
    old = sa.MetaData()
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    sa.Table(
        "rowgate_loads",
        old,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
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
        sa.Column("claimed_by", sa.Unicode(255)),
        sa.Column("claimed_until", sa.DateTime),
        sa.UniqueConstraint("table_name", "content_hash", name="uq_loads_content"),
    )
    rejections = sa.Table(
        "rowgate_rejections",
        old,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
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
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(
            rejections.insert().values(
                table_name="jobs",
                source="landing/jobs.csv",
                row_number=2,
                raw='["x", "bad"]',
                reasons='[{"field": "id", "code": "type-error", "message": "id x is not a 64-bit integer"}]',
                retryable=False,
                created_at=sa.func.now(),
            )
        )
    engine.dispose()


def test_a_database_of_the_previous_release_is_upgraded_at_start(make_rowgate, database_url, tmp_path):
    import hashlib

    from shared.ingest import ingest_local

    previous_release_schema(database_url)
    for _ in range(2):  # the second start finds nothing to do
        rowgate = make_rowgate(database_url)
        inspector = sa.inspect(rowgate.engine)
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("rowgate_rejections")}
        assert indexes["ix_rejections_source"] == ["source_digest", "row_number"] and indexes["ix_rejections_missing_key"] == [
            "missing_key"
        ]
        assert {"source_digest", "missing_key"} <= {c["name"] for c in inspector.get_columns("rowgate_rejections")}
        rowgate.engine.dispose()
    (tmp_path / "jobs.csv").write_text("1,Engineer\ny,bad\n2,Analyst\n")
    result = ingest_local(rowgate, tmp_path / "jobs.csv")
    assert (result.inserted, result.rejected) == (2, 1)
    rejections = rowgate.metadata.tables["rowgate_rejections"]
    with rowgate.engine.connect() as conn:
        digests = dict(conn.execute(sa.select(rejections.c.source, rejections.c.source_digest)).all())
        assert digests == {source: hashlib.sha256(source.encode()).hexdigest() for source in digests} and len(digests) == 2
        assert [row.row_number for row in refusals_of(conn, rowgate.metadata, "landing/jobs.csv")] == [2]
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 2
    rowgate.engine.dispose()
