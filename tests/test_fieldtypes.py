"""Field types beyond the four of the bundled dictionary: each cell's verdict is frictionless-py's (where rowgate
differs, the difference is listed with its reason), and a table of every type loads from CSV, Parquet and the
API on SQLite and PostgreSQL and comes back exactly from a backup."""

from __future__ import annotations

import datetime
import json
import re
from datetime import time
from decimal import Decimal
from pathlib import Path

import frictionless
import isodate
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
from shared.dictionary import DictionaryError, load
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
    (
        {"type": "yearmonth"},
        ["2021-07", "2021-7", " 2021-07", "0000-01", "9999-12", "2021-13", "2021-00", "2021", "2021-07-01", "-2021-01"],
    ),
    ({"type": "duration"}, ["P1D", "PT60M", "P1Y2M", "-P1D", "PT", "P1.5D", "P1W", " P1D", "1D", "p1d", "P99999999999D", "x"]),
    ({"type": "string", "format": "email"}, ["a@b.com", "ñ@ñ.es", "a.b+c@d.co.uk", "a@b", "x", "a b@c.com", "a@localhost", "@b.com"]),
    ({"type": "string", "format": "uri"}, ["http://x.org/a", "mailto:a@b.c", "urn:isbn:0451", "x.org", "//x.org", "/a/b", "http://a b"]),
    ({"type": "string", "format": "binary"}, ["aGVsbG8=", "!!", "aGVs bG8=", "aGVsbG8", "a", "===="]),
    ({"type": "object"}, ['{"a": 1}', "{}", '{"a": {"b": [1, 2.10]}}', '{"a":1,"a":2}', "[1]", '"x"', "1", "x", "{'a': 1}", "NaN"]),
    ({"type": "array"}, ["[1, 2.10]", "[]", '["a", {"b": null}]', "{}", "1", "[1,", "x"]),
    ({"type": "geopoint"}, ["1,2", "-3.70, 40.40", " 1 , 2 ", "1e1,2", "180,-90", "181,0", "0,91", "1", "1,2,3", "x,y", "NaN,1"]),
    ({"type": "geopoint", "format": "array"}, ["[1.5, 2]", "[true, 2]", '["1", "2"]', "[1]", "[200, 0]", "1,2"]),
    (
        {"type": "geopoint", "format": "object"},
        ['{"lon": 1, "lat": 2}', '{"lat": 2, "lon": 1}', '{"lon": 1}', '{"lon": 1, "lat": 2, "x": 3}', "[1, 2]"],
    ),
    ({"type": "any"}, ["x", "1", "true", " padded ", "ñ"]),
    # format patterns (Python's strptime, as frictionless-py reads them) and any (dateutil's parser)
    (
        {"type": "date", "format": "%d/%m/%Y"},
        ["05/01/2021", "5/1/2021", "31/02/2021", "29/02/2020", "2021-01-05", "05/01/21", " 05/01/2021", "x"],
    ),
    ({"type": "date", "format": "%Y%m%d"}, ["20210105", "20211305", "2021015", "2021-01-05"]),
    ({"type": "datetime", "format": "%d/%m/%Y %H:%M"}, ["05/01/2021 10:30", "05/01/2021 24:00", "05/01/2021", "2021-01-05T10:30:00Z"]),
    (
        {"type": "datetime", "format": "%Y-%m-%dT%H:%M:%S%z"},
        [
            "2021-01-05T10:30:00+0200",
            "2021-01-05T10:30:00+02:00",
            "2021-01-05T10:30:00Z",
            "2021-01-05T10:30:00",
        ],
    ),
    ({"type": "time", "format": "%H.%M"}, ["10.30", "9.05", "25.00", "10:30", "x"]),
    ({"type": "time", "format": "%I:%M %p%z"}, ["10:30 PM+0100", "10:30 AM-0130", "13:30 PM+0000", "10:30"]),
    ({"type": "date", "format": "any"}, ["2021-01-05", "5 January 2021", "01/05/2021", "2021-01-05T23:30:00-05:00", "2021-02-30", "x"]),
    ({"type": "datetime", "format": "any"}, ["2021-01-05 10:30", "Jan 5 2021 10:30 PM", "2021-01-05T10:30:00+02:00", "2021-13-05", "x"]),
    ({"type": "time", "format": "any"}, ["10:30", "10:30 PM", "10:30:00+02:00", "25:00", "x"]),
]


def as_theirs(field_type: str, ours: str):
    """rowgate's stored text of a value as frictionless-py's value of it, to compare the two."""
    if field_type == "yearmonth":
        return [int(part) for part in ours.split("-")]
    if field_type == "duration":
        return isodate.parse_duration(ours)
    if field_type in ("object", "array"):
        return json.loads(ours)
    if field_type == "geopoint":
        return [Decimal(part) for part in ours.split(",")]
    return ours


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
    # Years 0 to 9999 as the year type: what every backend's date types, Avro and the API hold.
    ("yearmonth", "10000-01"): "refused: years 0 to 9999",
    # Python's json reads NaN and Infinity, which are not JSON: no database's JSON or API client reads them back.
    ("object", '{"a": NaN}'): "refused: NaN is not JSON",
    ("array", "[Infinity]"): "refused: Infinity is not JSON",
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
        if not refused and value is not None:  # None: a missing value, judged by the validator, not the converter
            assert as_theirs(descriptor["type"], ours) == in_utc(list(value) if isinstance(value, tuple) else value), cell


def in_utc(value):
    """frictionless-py's datetime or time with an offset as rowgate stores it: in UTC, without the offset."""
    if isinstance(value, datetime.time) and value.tzinfo is not None:
        return in_utc(datetime.datetime.combine(datetime.date(1970, 1, 1), value)).time()
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


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
            {"type": "string", "format": "wkt"},
            "products.x: format 'wkt' is not one rowgate reads for a string field (it reads default, uuid, email, uri, binary)",
        ),
        ({"type": "geopoint", "format": "lat, lon"}, "format 'lat, lon' is not one rowgate reads for a geopoint field"),
        ({"type": "duration", "constraints": {"minimum": "P1D"}}, "products.x: constraint minimum is not one rowgate checks on a duration"),
        ({"type": "object", "constraints": {"maxLength": 2}}, "constraint maxLength is not one rowgate checks on a object field"),
        ({"type": "yearmonth", "constraints": {"minimum": "2021-13"}}, "constraint minimum: ['2021-13'] is not a year and month"),
        (
            {"type": "date", "format": "%d/%Q"},
            "products.x: format '%d/%Q' is not one rowgate reads for a date field (it reads default, any or a pattern of strptime directives",
        ),
        ({"type": "datetime", "format": "dd/mm/yyyy"}, "format 'dd/mm/yyyy' is not one rowgate reads for a datetime field"),
        ({"type": "time", "format": 5}, "format 5 is not one rowgate reads for a time field"),
        (
            {"type": "date", "format": "%d/%m/%Y", "constraints": {"minimum": "2021-01-01"}},
            "['2021-01-01'] is not a date in the format %d/%m/%Y",
        ),
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


def test_a_restore_gives_back_a_unique_value_that_moved_to_another_row(make_rowgate, database_url, tmp_path):
    """The backup's row 1 holds the code live row 2 has taken since: row 2 is set back before row 1 comes back."""
    rowgate = unique_rowgate(make_rowgate, database_url, tmp_path)
    insert_rows(rowgate, "people", [{"id": 1, "code": "X", "badge": 1}, {"id": 2, "code": "Y", "badge": 2}])
    [info] = backup(rowgate, ["people"])
    people = rowgate.metadata.tables["people"]
    with rowgate.engine.begin() as conn:
        conn.execute(people.delete().where(people.c.id == 1))
        conn.execute(people.update().where(people.c.id == 2).values(code="X"))
    result = restore(rowgate, "people", info.name)
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 0)
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.select(people).order_by(people.c.id)).all() == [(1, "X", 1), (2, "Y", 2)]


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


UNIQUE_KEYS = {
    "name": "unique-keys",
    "resources": [
        {
            "name": "seats",
            "dialect": {"header": True},
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "room", "type": "string", "constraints": {"maxLength": 10}},
                    {"name": "seat", "type": "integer"},
                    {"name": "day", "type": "date"},
                ],
                "primaryKey": ["id"],
                "uniqueKeys": [["room", "seat", "day"]],
            },
        }
    ],
}


def test_unique_keys_refuse_a_combination_another_row_holds_and_never_compare_an_empty_cell(make_rowgate, database_url, tmp_path):
    path = tmp_path / "seats.json"
    path.write_text(json.dumps(UNIQUE_KEYS))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    first = tmp_path / "seats.csv"
    first.write_text("id,room,seat,day\n1,A,1,2021-01-01\n2,A,2,2021-01-01\n3,A,1,2021-01-01\n4,A,1,\n5,A,1,\n1,A,1,2021-01-01\n")
    result = ingest_local(rowgate, first)
    # row 4: A/1/2021-01-01 again under another id; rows 5 and 6 have an empty day (never equal); row 7: row 2 again
    assert (result.inserted, result.unchanged, result.rejected) == (4, 1, 1)
    batch = insert_rows(
        rowgate, "seats", [{"id": 8, "room": "A", "seat": 2, "day": "2021-01-01"}, {"id": 9, "room": "A", "seat": 2, "day": "2021-01-02"}]
    )
    assert (batch.inserted, batch.rejected) == (1, 1)
    assert refused_codes(rowgate) == {4: ["unique-error"], 1: ["unique-error"]}
    seats = rowgate.metadata.tables["seats"]
    assert [sorted(c.name for c in index.columns) for index in seats.indexes if index.unique] == [["day", "room", "seat"]]
    with rowgate.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):  # the database holds the rule too
        conn.execute(seats.insert().values(id=10, room="A", seat=2, day=datetime.date(2021, 1, 2)))


def test_unique_keys_are_a_filtered_unique_index_on_sql_server(tmp_path):
    from shared.db import build_metadata, sql_server_dialect
    from tests.test_azure_sql import tsql_problems

    path = tmp_path / "seats.json"
    path.write_text(json.dumps(UNIQUE_KEYS))
    [index] = build_metadata(load(path)).tables["seats"].indexes
    ddl = str(sa.schema.CreateIndex(index).compile(dialect=sql_server_dialect())).strip()
    assert ddl == (
        "CREATE UNIQUE INDEX uq_seats_room_seat_day ON seats (room, seat, day) "
        "WHERE room IS NOT NULL AND seat IS NOT NULL AND day IS NOT NULL"
    )
    assert tsql_problems(ddl) == []


@pytest.mark.parametrize(
    ("unique_keys", "message"),
    [([["room", "nope"]], "key field 'nope' is not one of its fields"), ([["room"], "seat"], "uniqueKeys must be a list of lists")],
)
def test_unusable_unique_keys_are_refused_at_start_up(tmp_path, unique_keys, message):
    descriptor = json.loads(json.dumps(UNIQUE_KEYS))
    descriptor["resources"][0]["schema"]["uniqueKeys"] = unique_keys
    path = tmp_path / "seats.json"
    path.write_text(json.dumps(descriptor))
    with pytest.raises(DictionaryError, match=message):
        load(path)


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


NEW_TYPES = {
    "name": "new",
    "resources": [
        {
            "name": "things",
            "dialect": {"header": True},
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "month", "type": "yearmonth", "constraints": {"minimum": "2000-01"}},
                    {"name": "took", "type": "duration"},
                    {"name": "mail", "type": "string", "format": "email"},
                    {"name": "site", "type": "string", "format": "uri"},
                    {"name": "blob", "type": "string", "format": "binary"},
                    {"name": "meta", "type": "object"},
                    {"name": "tags", "type": "array"},
                    {"name": "at", "type": "geopoint"},
                    {"name": "extra", "type": "any"},
                ],
                "primaryKey": ["id"],
            },
        }
    ],
}
THING_FIELDS = [f["name"] for f in NEW_TYPES["resources"][0]["schema"]["fields"]]


def things(rowgate) -> list[tuple]:
    live = rowgate.metadata.tables["things"]
    with rowgate.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))]


def test_the_json_and_text_types_load_from_csv_parquet_and_the_api_and_restore_exactly(make_rowgate, database_url, tmp_path):
    path = tmp_path / "new.json"
    path.write_text(json.dumps(NEW_TYPES))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    good = ["1", "2021-7", "PT60M", "a@b.com", "http://x.org/a", "aGVsbG8=", '{"a": {"b": [1, 2.10]}}', '["x", 1]', "-3.70, 40.40", "ñ"]
    rows = [
        good,
        ["2", "1999-12", *good[2:]],  # below the minimum
        ["3", *good[1:3], "a@b", *good[4:]],
        ["4", *good[1:6], '{"a": NaN}', *good[7:]],
        ["5", *good[1:8], "181, 0", *good[9:]],
        ["6", "2021-13", "P1X", *good[3:]],  # two errors, one row
        ["7", "", "", "", "", "", "", "", "", ""],  # every field may be empty
    ]
    import csv as csvlib

    with (tmp_path / "things.csv").open("w", newline="") as out:
        csvlib.writer(out).writerows([THING_FIELDS, *rows])
    result = ingest_local(rowgate, tmp_path / "things.csv")
    assert (result.inserted, result.rejected) == (2, 5)
    pq.write_table(pa.table({name: pa.array([value]) for name, value in zip(THING_FIELDS, ["8", *good[1:]])}), tmp_path / "t.parquet")
    pq.write_table(pa.table({"id": [9], "extra": [1.5]}), tmp_path / "u.parquet")  # any takes a Parquet number as its text
    assert ingest_local(rowgate, tmp_path / "t.parquet", table="things").inserted == 1
    assert ingest_local(rowgate, tmp_path / "u.parquet", table="things").inserted == 1
    batch = insert_rows(
        rowgate,
        "things",
        [
            {"id": 10, "month": "2021-07", "meta": {"a": [1, 2]}, "tags": ["x"], "extra": True},
            {"id": 11, "meta": ["not", "an", "object"]},
            {"id": 12, "tags": {"not": "an array"}},
        ],
    )
    assert (batch.inserted, batch.rejected) == (1, 2)
    stored = things(rowgate)
    assert [row[0] for row in stored] == [1, 7, 8, 9, 10]
    assert stored[0] == (1, "2021-07", "PT1H", "a@b.com", "http://x.org/a", "aGVsbG8=", good[6], good[7], "-3.7,40.4", "ñ")
    assert stored[1] == (7,) + (None,) * 9
    assert stored[2] == (8, *stored[0][1:])
    assert stored[3][-1] == "1.5"
    assert stored[4] == (10, "2021-07", None, None, None, None, '{"a": [1, 2]}', '["x"]', None, "true")
    assert page_rows(rowgate, "things")["rows"][0]["meta"] == good[6]
    backup(rowgate)
    with rowgate.engine.begin() as conn:
        conn.execute(rowgate.metadata.tables["things"].delete())
    restore(rowgate, "things")
    assert things(rowgate) == stored


def test_the_new_types_compile_to_sql_server_columns_and_only_bounded_ones_are_keys(tmp_path):
    from shared.db import build_metadata, sql_server_dialect
    from tests.test_azure_sql import tsql_problems

    path = tmp_path / "new.json"
    path.write_text(json.dumps(NEW_TYPES))
    ddl = str(sa.schema.CreateTable(build_metadata(load(path)).tables["things"]).compile(dialect=sql_server_dialect()))
    assert tsql_problems(ddl) == [], ddl
    for column in ("month NVARCHAR(14) NULL", "took NVARCHAR(max) NULL", "meta NVARCHAR(max) NULL", "at NVARCHAR(max) NULL"):
        assert column in ddl, ddl
    descriptor = json.loads(json.dumps(NEW_TYPES))
    descriptor["resources"][0]["schema"]["fields"][6]["constraints"] = {"unique": True}
    path.write_text(json.dumps(descriptor))
    with pytest.raises(ValueError, match="things.meta: a object field cannot be a key"):
        build_metadata(load(path))
    descriptor["resources"][0]["schema"]["fields"][6]["constraints"] = {}
    descriptor["resources"][0]["schema"]["primaryKey"] = ["id", "month"]  # a yearmonth is seven characters: a key
    path.write_text(json.dumps(descriptor))
    table = build_metadata(load(path)).tables["things"]
    assert tsql_problems(str(sa.schema.CreateTable(table).compile(dialect=sql_server_dialect()))) == []


def test_a_geopoint_keeps_the_decimals_as_written():
    # frictionless-py reads [1.1, 2] with Python floats, then Decimal(1.1) = 1.100000000000000088...: rowgate
    # reads the JSON numbers as decimals, so the point is the one written.
    descriptor = {"type": "geopoint", "format": "array"}
    assert FrictionlessField.from_descriptor({"name": "x", **descriptor}).read_cell("[1.1, 2]")[0][0] != Decimal("1.1")
    assert rowgate_cell(descriptor, "[1.1, 2]") == (False, "1.1,2")


def test_a_refused_cell_of_the_new_types_says_why():
    from tests.test_fieldtypes import load_field

    field = load_field({"type": "object"})
    _, bad, notes = TYPES["object"].convert(field, pa.array(['{"a": NaN}', "[1]"]), True)
    assert bad.tolist() == [True, True]
    assert notes == {0: "holds NaN, which JSON has not (nor an API client that reads it)"}
    _, bad, notes = TYPES["yearmonth"].convert(load_field({"type": "yearmonth"}), pa.array(["10000-01", "2021-01"]), True)
    assert (bad.tolist(), notes) == ([True, False], {0: "is outside the years 0 to 9999"})


PATTERNED = {
    "name": "patterned",
    "resources": [
        {
            "name": "visits",
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "day", "type": "date", "format": "%d/%m/%Y", "constraints": {"minimum": "01/01/2020"}},
                    {"name": "at", "type": "datetime", "format": "%d.%m.%Y %H:%M%z"},
                    {"name": "opens", "type": "time", "format": "any"},
                ],
                "primaryKey": ["id"],
            },
        }
    ],
}


def test_dates_and_times_in_format_patterns_load_from_csv_and_the_api_and_restore_exactly(make_rowgate, database_url, tmp_path):
    path = tmp_path / "patterned.json"
    path.write_text(json.dumps(PATTERNED))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    csv = tmp_path / "visits.csv"
    csv.write_text(
        "id,day,at,opens\n"
        "1,05/01/2021,05.01.2021 10:30+0200,9:15 PM\n"
        "2,2021-01-05,05.01.2021 10:30+0000,09:00\n"  # an ISO date is not in the field's format
        "3,31/12/2019,05.01.2021 10:30+0000,09:00\n"  # below the minimum, read in the same format
        "4,29/02/2020,05.01.2021 10:30,09:00\n"  # the pattern asks for an offset
    )
    result = ingest_local(rowgate, csv)
    assert (result.inserted, result.rejected) == (1, 3)
    with rowgate.engine.connect() as conn:
        reasons = dict(conn.execute(sa.text("SELECT row_number, reasons FROM rowgate_rejections")).all())
    assert "day '2021-01-05' is not a date in the format %d/%m/%Y" in reasons[3]  # line 3 of the file
    assert "day '31/12/2019' is less than the minimum '01/01/2020'" in reasons[4]
    assert "at '05.01.2021 10:30' is not a datetime in the format %d.%m.%Y %H:%M%z" in reasons[5]
    batch = insert_rows(rowgate, "visits", [{"id": 5, "day": "6/1/2021", "at": "06.01.2021 00:30+0100", "opens": "noon"}])
    assert (batch.inserted, batch.rejected) == (0, 1) and "opens 'noon' is not a time dateutil can read" in json.dumps(batch.rejections)
    batch = insert_rows(rowgate, "visits", [{"id": 5, "day": "6/1/2021", "at": "06.01.2021 00:30+0100", "opens": "07:45"}])
    assert batch.inserted == 1
    live = rowgate.metadata.tables["visits"]
    expected = [
        (1, datetime.date(2021, 1, 5), datetime.datetime(2021, 1, 5, 8, 30), time(21, 15)),
        (5, datetime.date(2021, 1, 6), datetime.datetime(2021, 1, 5, 23, 30), time(7, 45)),
    ]
    with rowgate.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))] == expected
    backup(rowgate)
    with rowgate.engine.begin() as conn:
        conn.execute(live.delete())
    restore(rowgate, "visits")
    with rowgate.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))] == expected


def test_the_api_schema_of_a_field_in_a_pattern_is_a_string_without_a_json_format():
    from shared.openapi import field_schema

    spec = load_field({"type": "date", "format": "%d/%m/%Y", "constraints": {"required": True}})
    assert field_schema(spec) == {"type": "string"} and field_schema(load_field({"type": "date"}))["anyOf"][0]["format"] == "date"


def test_a_number_key_below_a_millionth_is_found_again_and_a_unique_one_refuses_its_repeat(make_rowgate, database_url, tmp_path):
    """SQLite kept Arrow's text of 0.00000015 (1.50E-7) while key lookups asked for 0.000000150: the second load of
    the same key was an insert, and the unique index's IntegrityError a traceback."""
    descriptor = {
        "name": "tiny",
        "resources": [
            {
                "name": "t",
                "schema": {
                    "fields": [{"name": "x", "type": "number"}, {"name": "u", "type": "number", "constraints": {"unique": True}}],
                    "primaryKey": ["x"],
                },
            }
        ],
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(descriptor))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    (tmp_path / "t.csv").write_text("x,u\n0.00000015,0.00000025\n")
    assert ingest_local(rowgate, tmp_path / "t.csv").inserted == 1
    (tmp_path / "again.csv").write_text("x,u\n0.00000015,0.00000025\n0.000000150,1\n2,0.00000025\n")
    again = ingest_local(rowgate, tmp_path / "again.csv", table="t")
    assert (again.inserted, again.unchanged, again.rejected) == (0, 1, 2)
    assert insert_rows(rowgate, "t", [{"x": "1.5e-7", "u": "2.5e-7"}]).unchanged == 1
    assert page_rows(rowgate, "t")["rows"] == [{"x": "0.00000015", "u": "0.00000025"}]


def test_parquet_durations_structs_and_lists_load_as_their_text_types(make_rowgate, database_url, tmp_path):
    """A Parquet duration, struct or list column refused the file (only strings were read for these types)."""
    descriptor = {
        "name": "nested",
        "resources": [
            {
                "name": "t",
                "format": "parquet",
                "schema": {
                    "fields": [
                        {"name": "id", "type": "integer"},
                        {"name": "took", "type": "duration"},
                        {"name": "meta", "type": "object"},
                        {"name": "tags", "type": "array"},
                    ],
                    "primaryKey": ["id"],
                },
            }
        ],
    }
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(descriptor))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    pq.write_table(
        pa.table(
            {
                "id": [1, 2, 3, 4],
                "took": pa.array([3_600_000_000_000, -5_000_000_000, 1, None], pa.duration("ns")),
                "meta": pa.array([{"k": 1, "s": "ñ"}, {"k": None, "s": "x"}, {"k": 2, "s": "y"}, None]),
                "tags": pa.array([[1.5, 2.0], [], [float("nan")], [None]], pa.list_(pa.float64())),
            }
        ),
        tmp_path / "t.parquet",
    )
    result = ingest_local(rowgate, tmp_path / "t.parquet")
    assert (result.inserted, result.rejected) == (3, 1)  # row 3: 1 ns and a NaN
    live = rowgate.metadata.tables["t"]
    with rowgate.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(live).order_by(live.c.id))]
        reasons = json.dumps(conn.execute(sa.text("SELECT reasons FROM rowgate_rejections ORDER BY row_number")).scalars().all())
    assert rows == [
        (1, "PT1H", '{"k": 1, "s": "ñ"}', "[1.5, 2.0]"),
        (2, "-PT5S", '{"k": null, "s": "x"}', "[]"),
        (4, None, None, "[null]"),
    ]
    assert "below the microsecond" in reasons and "NaN or Infinity" in reasons
    csv = tmp_path / "t.csv"  # the same row written as CSV cells is the same row: unchanged
    csv.write_text('id,took,meta,tags\n1,PT60M,"{""k"": 1, ""s"": ""ñ""}","[1.5, 2.0]"\n', encoding="utf-8")
    assert ingest_local(rowgate, csv).unchanged == 1
    pq.write_table(pa.table({"id": [9], "meta": pa.array([{"d": datetime.date(2021, 1, 1)}])}), tmp_path / "dated.parquet")
    with pytest.raises(Exception, match="column meta is struct<d: date32"):
        ingest_local(rowgate, tmp_path / "dated.parquet", table="t")


def test_a_parquet_time_in_nanoseconds_loads_to_the_microsecond_and_refuses_finer_digits(make_rowgate, database_url, tmp_path):
    """A time64[ns] column was cast to microseconds with Arrow's safe cast: a time with digits below the microsecond
    raised ArrowInvalid (would lose data) out of the load, a traceback, instead of refusing that row with its reason."""
    rowgate = make_rowgate(database_url, dictionary=str(wide(tmp_path)))
    opens = pa.array([36_000_000_001_000, 36_000_000_000_001, None], pa.time64("ns"))  # 10:00:00.000001, then a nanosecond more
    pq.write_table(pa.table({"id": [1, 2, 3], "opens": opens, "founded": [2000, 2000, 2000]}), tmp_path / "shops.parquet")
    result = ingest_local(rowgate, tmp_path / "shops.parquet", table="shops")
    assert (result.inserted, result.rejected) == (2, 1)
    assert shop_rows(rowgate) == [(1, time(10, 0, 0, 1), 2000), (3, None, 2000)]
    with rowgate.engine.connect() as conn:
        reasons = conn.execute(sa.text("SELECT reasons FROM rowgate_rejections")).scalar_one()
    assert "has digits below the microsecond, which rowgate does not keep" in reasons


def test_a_number_past_decimal_exponent_limits_is_refused_not_a_crash():
    """A cell such as 1e999999999 is a finite Decimal, but abs() of it overflows Python's default context (Emax
    999999): decimal.Overflow escaped the converter, a traceback out of a load or a batch, instead of a refusal."""
    _, bad, notes = TYPES["number"].convert(
        load_field({"type": "number"}), pa.array(["1e999999999", "-1e999999999", "1e-999999999", "2"]), True
    )
    assert bad.tolist() == [True, True, True, False]
    assert set(notes.values()) == {"has more digits than NUMERIC(38, 9) holds (29 before the point, 9 after)"}
