"""Field types beyond the four of the bundled dictionary: each cell's verdict is frictionless-py's (where rowgate
differs, the difference is listed with its reason), and a table of every type loads from CSV, Parquet and the
API on SQLite and PostgreSQL and comes back exactly from a backup."""

from __future__ import annotations

import json
import re
from datetime import time
from decimal import Decimal
from pathlib import Path

import frictionless
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from frictionless import Field as FrictionlessField
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.backup import backup
from shared.batch import insert_rows
from shared.browse import page_rows
from shared.dictionary import load
from shared.fieldtypes import TYPES
from shared.ingest import ingest_local
from shared.restore import restore

# (descriptor of one field, cells): every cell must get frictionless-py's verdict and value.
CELLS = [
    ({"type": "boolean"}, ["true", "True", "TRUE", "1", "false", "False", "FALSE", "0", "yes", " true", "tRue", "2", ""]),
    ({"type": "boolean", "trueValues": ["sí", "S"], "falseValues": ["no", "N"]}, ["sí", "S", "no", "N", "true", "0", "Sí", ""]),
    ({"type": "boolean", "trueValues": ["y"]}, ["y", "false", "0", "true", "1"]),
    (
        {"type": "number"},
        ["1", "1.5", "-1.5", "+2", ".5", "5.", "-0", " 7 ", "1e3", "1E-3", "2.5e+2", "0012.50", "abc", "1,5", "1 000", "--1", "", "0x10"],
    ),
    ({"type": "number", "decimalChar": ","}, ["1,5", "-0,25", "1.5", "1", "1,5,5", "abc"]),
    ({"type": "number", "decimalChar": ",", "groupChar": "."}, ["1.234.567,89", "1.234", "12,5", "1,2,3"]),
    ({"type": "number", "groupChar": ","}, ["1,234,567.5", "1,2,3", "12", "1.2.3"]),
    ({"type": "number", "groupChar": " ", "decimalChar": ","}, ["1 234,5", "1 234", "12,5"]),
    ({"type": "number", "bareNumber": False}, ["€ 95", "95%", "$1.5", "-3 EUR", "EUR -3", "abc", "1.5"]),
    (
        {"type": "string", "format": "uuid"},
        [
            "2bc1c94f-0deb-43e9-92a1-4775189ec9f8",
            "2BC1C94F-0DEB-43E9-92A1-4775189EC9F8",
            "2bc1c94f0deb43e992a14775189ec9f8",
            "{2bc1c94f-0deb-43e9-92a1-4775189ec9f8}",
            "urn:uuid:2bc1c94f-0deb-43e9-92a1-4775189ec9f8",
            "2bc1c94f-0deb-43e9-92a1-4775189ec9f",
            "2bc1c94f 0deb-43e9-92a1-4775189ec9f8",
            "zbc1c94f-0deb-43e9-92a1-4775189ec9f8",
            "x",
        ],
    ),
    ({"type": "year"}, ["2021", "0000", "9999", "0001", "10000", "21", "abc", "20.1", ""]),
    (
        {"type": "time"},
        ["16:02:08", "00:00:00", "23:59:59", "16:02:08.5", "16:02", "1:02:03", "23:60:00", "23:59:60", "x", "16:02:08 ", ""],
    ),
]
# Where rowgate's verdict is deliberately not frictionless-py's, and why.
DIFFERENCES = {
    # SQL NUMERIC (SQL Server's decimal, PostgreSQL's numeric in a column of fixed scale) has no NaN or infinity.
    ("number", "NaN"): "refused: no SQL NUMERIC holds NaN",
    ("number", "Infinity"): "refused: SQL Server's decimal holds no infinity",
    ("number", "-inf"): "refused: SQL Server's decimal holds no infinity",
    # NUMERIC(38, 9): rowgate refuses what it cannot store exactly rather than round it.
    ("number", "0.1234567891"): "refused: more than 9 digits after the point",
    ("number", "1e29"): "refused: more than 29 digits before the point",
    # Python's Decimal reads digit separators and other scripts' digits; Frictionless inherits that.
    ("number", "1_000"): "accepted by both: Python's Decimal reads it, so rowgate's Python path does too",
    # A year is four digits: Frictionless takes any four characters Python's int() reads.
    ("year", "+123"): "refused: not four digits",
    ("year", "1_23"): "refused: not four digits",
    ("year", " 123"): "refused: not four digits",
    # dateutil reads 24:00:00 as the next day's midnight; no SQL TIME holds 24:00.
    ("time", "24:00:00"): "refused: hours go from 00 to 23",
}


def rowgate_cell(descriptor: dict, cell: str):
    """(refused, value) of one cell, alone in its column, as rowgate's converter reads it."""
    field = load_field(descriptor)
    values, bad, _ = TYPES[field.type].convert(field, pa.array([cell], pa.string()), True)
    return bool(bad[0]), values[0].as_py()


def load_field(descriptor: dict):
    from shared.dictionary import _table

    resource = {"name": "t", "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "x", **descriptor}], "primaryKey": ["id"]}}
    return _table(resource).field("x")


@pytest.mark.parametrize(("descriptor", "cells"), CELLS, ids=[json.dumps(d) for d, _ in CELLS])
def test_each_cell_gets_frictionless_verdict(descriptor, cells):
    theirs = FrictionlessField.from_descriptor({"name": "x", **descriptor})
    for cell in cells:
        value, notes = theirs.read_cell(cell)
        refused, ours = rowgate_cell(descriptor, cell)
        assert refused == bool(notes and "type" in notes), (cell, value, ours)
        if not refused:
            assert ours == value, cell


# Constraints: each cell's error codes (none, type-error or constraint-error) are frictionless-py's.
CONSTRAINED = [
    ({"type": "integer", "constraints": {"minimum": 1, "maximum": 10}}, ["0", "1", "10", "11", "-5", "x", ""]),
    ({"type": "integer", "constraints": {"exclusiveMinimum": 1, "exclusiveMaximum": 10}}, ["1", "2", "9", "10"]),
    ({"type": "integer", "constraints": {"enum": [1, 2, "3"]}}, ["1", "2", "3", "4", "01"]),
    ({"type": "number", "decimalChar": ",", "constraints": {"minimum": "0,5", "maximum": 2.5}}, ["0,4", "0,5", "2,5", "2,6"]),
    ({"type": "number", "constraints": {"enum": [1.5, "2"]}}, ["1.5", "1.50", "2", "2.0", "3"]),
    ({"type": "string", "constraints": {"minLength": 2, "maxLength": 3}}, ["a", "ab", "abc", "abcd", "😀😀"]),
    ({"type": "string", "constraints": {"pattern": "[A-Z]{2}-[0-9]+"}}, ["AB-1", "AB-12", "ab-1", "XAB-1", "AB-1x", "AB-"]),
    ({"type": "string", "constraints": {"enum": ["red", "green"]}}, ["red", "green", "Red", "blue", " red"]),
    ({"type": "boolean", "constraints": {"enum": [True]}}, ["true", "1", "false", "0"]),
    (
        {"type": "date", "constraints": {"minimum": "2020-01-01", "exclusiveMaximum": "2021-01-01"}},
        ["2019-12-31", "2020-01-01", "2020-12-31", "2021-01-01"],
    ),
    (
        {"type": "datetime", "constraints": {"maximum": "2021-01-01T00:00:00Z"}},
        ["2020-12-31T23:59:59Z", "2021-01-01T00:00:00Z", "2021-01-01T00:00:01Z"],
    ),
    ({"type": "string", "constraints": {"required": True}}, ["", "x"]),
]


def rowgate_codes(descriptor: dict, cell: str) -> set[str]:
    """The error codes check_values gives one cell, alone in its column."""
    import numpy as np

    from shared.dictionary import _table
    from shared.parse import Chunk
    from shared.validate import check_values

    resource = {"name": "t", "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "x", **descriptor}], "primaryKey": ["id"]}}
    typed = check_values(_table(resource), Chunk(1, np.array([1]), {"id": pa.array(["1"]), "x": pa.array([cell])}))
    return {error.code for refusal in typed.refused for error in refusal.errors}


@pytest.mark.parametrize(("descriptor", "cells"), CONSTRAINED, ids=[json.dumps(d) for d, _ in CONSTRAINED])
def test_each_cell_gets_frictionless_constraint_verdict(descriptor, cells):
    theirs = FrictionlessField.from_descriptor({"name": "x", **descriptor})
    for cell in cells:
        _, notes = theirs.read_cell(cell)
        expected = {"type-error" if name == "type" else "constraint-error" for name in notes or {}}
        assert rowgate_codes(descriptor, cell) == expected, (cell, notes)


def test_a_pattern_is_anchored_at_both_ends_of_every_alternative():
    # Frictionless compiles "^" + pattern + "$": "a|b" then accepts "ax" (a at the start) and "xb". Table Schema
    # means the whole value: rowgate refuses both.
    descriptor = {"type": "string", "constraints": {"pattern": "a|b"}}
    assert FrictionlessField.from_descriptor({"name": "x", **descriptor}).read_cell("ax")[1] is None
    assert [rowgate_codes(descriptor, cell) for cell in ("a", "b", "ax", "xb")] == [
        set(),
        set(),
        {"constraint-error"},
        {"constraint-error"},
    ]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"type": "boolean", "constraints": {"minimum": 1}}, "products.x: constraint minimum is not one rowgate checks on a boolean field"),
        ({"type": "string", "constraints": {"minimum": 1}}, "constraint minimum is not one rowgate checks on a string field"),
        ({"type": "integer", "constraints": {"pattern": "[0-9]+"}}, "constraint pattern is not one rowgate checks on a integer field"),
        ({"type": "integer", "constraints": {"minimum": "ten"}}, "products.x: constraint minimum: ['ten'] is not a 64-bit integer"),
        ({"type": "integer", "constraints": {"enum": [1, "x"]}}, "constraint enum: ['x'] is not a 64-bit integer"),
        ({"type": "integer", "constraints": {"enum": []}}, "constraint enum must be a non-empty list"),
        ({"type": "string", "constraints": {"pattern": "(a)\\1"}}, "is not a regular expression rowgate can check"),
        ({"type": "string", "constraints": {"pattern": "(?=a)a"}}, "is not a regular expression rowgate can check"),
        ({"type": "string", "constraints": {"minLength": -1}}, "constraint minLength must be a whole number of characters"),
        ({"type": "string", "constraints": {"checksum": "x"}}, "constraint checksum is not one rowgate checks"),
        (
            {"type": "string", "format": "email"},
            "products.x: format 'email' is not one rowgate reads for a string field (it reads default, uuid)",
        ),
        ({"type": "date", "format": "%d/%m/%Y"}, "format '%d/%m/%Y' is not one rowgate reads for a date field"),
        ({"type": "datetime", "format": "any"}, "format 'any' is not one rowgate reads for a datetime field"),
    ],
)
def test_a_constraint_rowgate_cannot_check_is_refused_at_start_up_naming_the_field(tmp_path, field, message):
    descriptor = json.loads(json.dumps(WIDE))
    descriptor["resources"][0]["schema"]["fields"].append({"name": "x", **field})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(descriptor))
    with pytest.raises(ValueError, match=re.escape(message)):
        load(path)


@pytest.mark.parametrize(("field_type", "cell"), sorted(DIFFERENCES))
def test_deliberate_differences_from_frictionless(field_type, cell):
    refused, _ = rowgate_cell({"type": field_type}, cell)
    theirs = FrictionlessField.from_descriptor({"name": "x", "type": field_type}).read_cell(cell)
    assert theirs[1] is None, "frictionless-py accepts it"
    assert refused == DIFFERENCES[(field_type, cell)].startswith("refused")


def test_times_in_utc_as_datetimes_are():
    assert [rowgate_cell({"type": "time"}, cell)[1].isoformat() for cell in ("16:02:08+02:00", "00:30:00+01:00", "16:02:08Z")] == [
        "14:02:08",
        "23:30:00",
        "16:02:08",
    ]


WIDE = {
    "name": "wide",
    "resources": [
        {
            "name": "products",
            "dialect": {"header": True},
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "price", "type": "number", "decimalChar": ",", "groupChar": "."},
                    {"name": "active", "type": "boolean", "trueValues": ["sí"], "falseValues": ["no"]},
                    {"name": "weight", "type": "number"},
                    {"name": "flag", "type": "boolean"},
                ],
                "primaryKey": ["id"],
            },
        },
        {
            "name": "shops",
            "schema": {
                "fields": [{"name": "id", "type": "integer"}, {"name": "opens", "type": "time"}, {"name": "founded", "type": "year"}],
                "primaryKey": ["id"],
            },
        },
    ],
}


def wide(tmp_path: Path) -> Path:
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(WIDE))
    return path


def all_rows(rowgate) -> list[tuple]:
    live = rowgate.metadata.tables["products"]
    with rowgate.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))]


def test_numbers_and_booleans_load_from_csv_parquet_and_the_api(make_rowgate, database_url, tmp_path):
    rowgate = make_rowgate(database_url, dictionary=str(wide(tmp_path)))
    csv = tmp_path / "products.csv"
    csv.write_text(
        "id,price,active,weight,flag\n"
        '1,"1.234,50",sí,0.000000001,true\n'
        '2,"99999999999999999999999999999,999999999",no,-12.5,0\n'
        '3,"1,5",yes,1,1\n'  # yes is not among trueValues
        "4,1.5,sí,1,1\n"  # '.' is the groupChar: 15, as Frictionless reads it
        "5,2,sí,NaN,1\n"
        "6,2,sí,1,\n"
    )
    result = ingest_local(rowgate, csv)
    assert (result.inserted, result.rejected) == (4, 2)
    pq.write_table(
        pa.table(
            {
                "id": pa.array([10, 11, 12]),
                "price": pa.array([Decimal("3.25"), Decimal("-1"), None], pa.decimal128(10, 2)),
                "active": pa.array([True, False, None]),
                "weight": pa.array([0.5, float("inf"), 2.0]),
                "flag": pa.array(["TRUE", "False", "x"]),
            }
        ),
        tmp_path / "more.parquet",
    )
    result = ingest_local(rowgate, tmp_path / "more.parquet", table="products")
    assert (result.inserted, result.rejected) == (2, 1)  # weight inf; row 12: flag x
    batch = insert_rows(
        rowgate,
        "products",
        [
            {"id": 20, "price": 7.25, "active": True, "weight": "1e3", "flag": False},
            {"id": 21, "price": "1.000,5", "active": "no", "weight": 3, "flag": "1"},
            {"id": 22, "price": "1,5", "active": 1, "weight": 1, "flag": True},  # active: 1 is not a boolean
        ],
    )
    assert (batch.inserted, batch.rejected) == (2, 1)
    rows = all_rows(rowgate)
    assert [row[0] for row in rows] == [1, 2, 4, 6, 10, 11, 20, 21]
    assert rows[2][1] == Decimal(15)
    assert rows[0] == (1, Decimal("1234.5"), True, Decimal("0.000000001"), True)
    assert rows[1][1] == Decimal("99999999999999999999999999999.999999999")
    assert rows[6] == (20, Decimal("7.25"), True, Decimal("1000"), False)
    assert rows[7] == (21, Decimal("1000.5"), False, Decimal("3"), True)
    page = page_rows(rowgate, "products")
    assert page["rows"][0] == {"id": 1, "price": "1234.5", "active": True, "weight": "0.000000001", "flag": True}
    again = ingest_local(rowgate, csv.rename(tmp_path / "again.csv"), table="products")  # same rows: unchanged
    assert (again.status, again.unchanged) == ("already-loaded", 4)


# Hypothesis computes decimal bounds in Python's default context (28 digits): NUMERIC(38, 9)'s largest, 38 nines,
# is tested in the load test above.
DECIMALS = st.decimals(min_value=-(10**19), max_value=10**19, places=9)


@given(
    rows=st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), DECIMALS, st.booleans(), st.none() | DECIMALS, st.none() | st.booleans()),
        max_size=20,
        unique_by=lambda row: row[0],
    )
)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.reuse, Phase.generate])
def test_a_backup_of_numbers_and_booleans_restores_exactly(rows, make_rowgate, database_url, tmp_path):
    rowgate = make_rowgate(database_url, dictionary=str(wide(tmp_path)))
    live = rowgate.metadata.tables["products"]
    with rowgate.engine.begin() as conn:
        conn.execute(live.delete())
        if rows:
            conn.execute(live.insert(), [dict(zip(("id", "price", "active", "weight", "flag"), row)) for row in rows])
    before = all_rows(rowgate)
    assert sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows) == before
    backup(rowgate)
    with rowgate.engine.begin() as conn:
        conn.execute(live.delete())
    restore(rowgate, "products")
    assert all_rows(rowgate) == before
    rowgate.engine.dispose()


def shop_rows(rowgate) -> list[tuple]:
    live = rowgate.metadata.tables["shops"]
    with rowgate.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))]


def test_times_and_years_load_from_csv_parquet_and_the_api(make_rowgate, database_url, tmp_path):
    rowgate = make_rowgate(database_url, dictionary=str(wide(tmp_path)))
    (tmp_path / "shops.csv").write_text("id,opens,founded\n1,09:30:00,1999\n2,23:59:59.5,0000\n3,24:00:00,2000\n4,08:00,2000\n5,,99\n")
    result = ingest_local(rowgate, tmp_path / "shops.csv")
    assert (result.inserted, result.rejected) == (2, 3)
    times = pa.array([36_000_000_000, None], pa.time64("us"))  # 10:00
    pq.write_table(pa.table({"id": pa.array([6, 7]), "opens": times, "founded": pa.array([2024, 12000])}), tmp_path / "shops.parquet")
    result = ingest_local(rowgate, tmp_path / "shops.parquet", table="shops")
    assert (result.inserted, result.rejected) == (1, 1)
    batch = insert_rows(rowgate, "shops", [{"id": 8, "opens": "07:00:00+01:00", "founded": "2021"}, {"id": 9, "opens": 7, "founded": 2021}])
    assert (batch.inserted, batch.rejected) == (1, 1)
    assert shop_rows(rowgate) == [(1, time(9, 30), 1999), (2, time(23, 59, 59, 500000), 0), (6, time(10), 2024), (8, time(6), 2021)]
    assert page_rows(rowgate, "shops")["rows"][1] == {"id": 2, "opens": "23:59:59.500000", "founded": 0}
    backup(rowgate)
    before = shop_rows(rowgate)
    with rowgate.engine.begin() as conn:
        conn.execute(rowgate.metadata.tables["shops"].delete())
    restore(rowgate, "shops")
    assert shop_rows(rowgate) == before


def test_the_dictionary_names_the_types_it_knows(tmp_path):
    descriptor = json.loads(json.dumps(WIDE))
    descriptor["resources"][0]["schema"]["fields"][1]["type"] = "decimal"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(descriptor))
    with pytest.raises(ValueError, match="products.price: type 'decimal' is not one of .*'number'"):
        load(path)


def test_every_new_type_compiles_to_a_sql_server_column_with_its_rules(tmp_path):
    from shared.db import build_metadata, sql_server_dialect
    from tests.test_azure_sql import tsql_problems

    metadata = build_metadata(load(wide(tmp_path)))
    ddl = {name: str(sa.schema.CreateTable(metadata.tables[name]).compile(dialect=sql_server_dialect())) for name in ("products", "shops")}
    for statement in ddl.values():
        assert tsql_problems(statement) == [], statement
    # NUMERIC(38, 9) (DECIMAL's synonym): SQL Server's largest precision; BIT, not BOOLEAN (T-SQL has none); TIME(6) and DATE, not DATETIME.
    for column in ("price NUMERIC(38, 9) NULL", "active BIT NULL", "weight NUMERIC(38, 9) NULL"):
        assert column in ddl["products"], ddl["products"]
    for column in ("opens TIME(6) NULL", "founded SMALLINT NULL"):
        assert column in ddl["shops"], ddl["shops"]
    # A date is DATE, not the DATETIME SQLAlchemy writes for a SQL Server it has not connected to yet.
    assert TYPES["date"].sql(None, False).compile(dialect=sql_server_dialect()) == "DATE"


UNIQUE = {
    "name": "unique",
    "resources": [
        {
            "name": "people",
            "dialect": {"header": True},
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "code", "type": "string", "constraints": {"unique": True, "maxLength": 10}},
                    {"name": "badge", "type": "integer", "constraints": {"unique": True}},
                ],
                "primaryKey": ["id"],
            },
        }
    ],
}


def unique_rowgate(make_rowgate, database_url, tmp_path):
    path = tmp_path / "unique.json"
    path.write_text(json.dumps(UNIQUE))
    return make_rowgate(database_url, dictionary=str(path))


def refused_codes(rowgate) -> dict[int, list[str]]:
    rejections = rowgate.metadata.tables["rowgate_rejections"]
    with rowgate.engine.connect() as conn:
        found = conn.execute(sa.select(rejections.c.row_number, rejections.c.reasons).order_by(rejections.c.id)).all()
    return {number: [reason["code"] for reason in json.loads(reasons)] for number, reasons in found}


def test_a_unique_field_refuses_a_value_another_row_holds_in_the_file_or_the_table(make_rowgate, database_url, tmp_path):
    rowgate = unique_rowgate(make_rowgate, database_url, tmp_path)
    first = tmp_path / "people.csv"
    first.write_text("id,code,badge\n1,A1,10\n2,A2,\n3,A1,30\n4,,\n5,,\n1,A1,10\n")
    result = ingest_local(rowgate, first)
    # row 4: code A1 again under another id; rows 5 and 6: empty codes and badges are no value; row 7: row 2 again
    assert (result.inserted, result.unchanged, result.rejected) == (4, 1, 1)
    second = tmp_path / "more.csv"
    second.write_text("id,code,badge\n6,A2,60\n7,A7,10\n8,A8,80\n2,A2,\n")
    result = ingest_local(rowgate, second, table="people")
    assert (result.inserted, result.unchanged, result.rejected) == (1, 1, 2)
    assert refused_codes(rowgate) == {4: ["unique-error"], 2: ["unique-error"], 3: ["unique-error"]}
    batch = insert_rows(rowgate, "people", [{"id": 9, "code": "A8", "badge": 90}, {"id": 10, "code": "a8", "badge": 100}])
    assert (batch.inserted, batch.rejected) == (1, 1)  # codes compare exactly: a8 is not A8
    live = rowgate.metadata.tables["people"]
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.select(live.c.id, live.c.code).order_by(live.c.id)).all() == [
            (1, "A1"),
            (2, "A2"),
            (4, None),
            (5, None),
            (8, "A8"),
            (10, "a8"),
        ]


def test_a_unique_field_is_a_filtered_unique_index_on_sql_server(tmp_path):
    from shared.db import build_metadata, sql_server_dialect

    path = tmp_path / "unique.json"
    path.write_text(json.dumps(UNIQUE))
    people = build_metadata(load(path)).tables["people"]
    ddl = [
        str(sa.schema.CreateIndex(index).compile(dialect=sql_server_dialect())).strip()
        for index in sorted(people.indexes, key=lambda i: i.name)
    ]
    assert ddl == [
        "CREATE UNIQUE INDEX uq_people_badge ON people (badge) WHERE badge IS NOT NULL",
        "CREATE UNIQUE INDEX uq_people_code ON people (code) WHERE code IS NOT NULL",
    ]
    from tests.test_azure_sql import tsql_problems

    assert [tsql_problems(statement) for statement in ddl] == [[], []]


@pytest.mark.parametrize(
    ("descriptor", "schema_missing", "cells"),
    [
        ({"type": "integer"}, ["", "NA", "-"], ["NA", "-", "", "n/a", "5"]),
        ({"type": "integer"}, ["NA"], ["NA", "", "5"]),  # "" is no missing value here: a type error
        ({"type": "string"}, ["NA"], ["NA", "", "x"]),  # ... and an empty string for a string field
        ({"type": "number", "missingValues": ["?"]}, ["NA"], ["?", "NA", "1.5"]),  # the field's own list wins
        ({"type": "date", "constraints": {"required": True}}, ["", "0000-00-00"], ["0000-00-00", "", "2021-01-01"]),
    ],
)
def test_missing_values_are_frictionless(descriptor, schema_missing, cells):
    import numpy as np

    from shared.dictionary import _table
    from shared.parse import Chunk
    from shared.validate import check_values

    fields = [{"name": "id", "type": "integer"}, {"name": "x", **descriptor}]
    table = _table({"name": "t", "schema": {"fields": fields, "primaryKey": ["id"], "missingValues": schema_missing}})
    schema = frictionless.Schema.from_descriptor({"fields": fields, "missingValues": schema_missing})
    for cell in cells:
        typed = check_values(table, Chunk(1, np.array([1]), {"id": pa.array(["1"]), "x": pa.array([cell])}))
        ours = {error.code for refusal in typed.refused for error in refusal.errors}
        value, notes = schema.get_field("x").read_cell(cell)
        assert ours == {"type-error" if name == "type" else "constraint-error" for name in notes or {}}, (cell, notes)
        if not ours:
            assert typed.rows.column("x")[0].as_py() == value, cell
