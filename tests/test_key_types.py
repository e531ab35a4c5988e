"""Every type that can be a key, end to end: as primary, foreign and unique key, paged through with `after`,
named in the messages of the rows it refuses, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from shared.batch import insert_rows
from shared.browse import page_rows
from shared.ingest import ingest_local
from shared.settings import Settings


def keyed(tmp_path, field_type: str, **options) -> str:
    """A dictionary of a parent keyed by a field of the type (with a unique twin) and a child pointing at it."""
    key = {"name": "k", "type": field_type, **options}
    descriptor = {
        "name": "keyed",
        "resources": [
            {
                "name": "parent",
                "dialect": {"header": True},
                "schema": {
                    "fields": [
                        key,
                        {**key, "name": "u", "constraints": {**key.get("constraints", {}), "unique": True}},
                        {"name": "n", "type": "integer"},
                    ],
                    "primaryKey": ["k"],
                },
            },
            {
                "name": "child",
                "dialect": {"header": True},
                "schema": {
                    "fields": [{"name": "id", "type": "integer"}, {**key, "name": "p"}, {**key, "name": "q"}],
                    "primaryKey": ["id"],
                    "foreignKeys": [{"fields": ["p"], "reference": {"resource": "parent", "fields": ["k"]}}],
                    "uniqueKeys": [["p", "q"]],
                },
            },
        ],
    }
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps(descriptor))
    return str(path)


def as_after(key) -> str:
    """A page's next as a client sends it back in a URL: a string as it is, anything else as its JSON."""
    return key if isinstance(key, str) else json.dumps(key)


def every_key(rowgate, table: str) -> list:
    """The keys of every page, each page asked `after` the previous one's next, as a client sends it back in a URL."""
    page = page_rows(rowgate, table, limit=1)
    keys = [row["k"] for row in page["rows"]]
    while page["next"] is not None:
        page = page_rows(rowgate, table, limit=1, after=as_after(page["next"]))
        keys += [row["k"] for row in page["rows"]]
    return keys


def test_a_table_keyed_by_a_boolean_pages_after_false(make_rowgate, database_url, tmp_path):
    """page_rows compared the key with a Python bool, which SQLAlchemy refuses to compile (ArgumentError: only '='
    ... with None/True/False): asking for the page after `false`, the next the first page answered, was a traceback."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "boolean"))
    assert insert_rows(rowgate, "parent", [{"k": True, "u": True, "n": 1}, {"k": False, "u": False, "n": 0}]).inserted == 2
    assert every_key(rowgate, "parent") == [False, True]


def test_a_year_below_1000_is_taken_as_the_json_integer_its_api_schema_allows(make_rowgate, database_url, tmp_path):
    """A year is a JSON integer of 0 to 9999 in the API's schema (and rows answer 1 for 0001), but the batch API
    read 1 as the cell "1", not four digits, and refused it."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "year"))
    batch = insert_rows(rowgate, "parent", [{"k": 1, "u": 1, "n": 0}, {"k": "0010", "u": 10, "n": 1}, {"k": 2021, "u": 2021, "n": 2}])
    assert (batch.inserted, batch.rejected) == (3, 0), batch.rejections
    assert insert_rows(rowgate, "parent", [{"k": 10000, "u": 7, "n": 0}, {"k": -1, "u": 8, "n": 0}]).rejected == 2
    assert [row["k"] for row in page_rows(rowgate, "parent")["rows"]] == [1, 10, 2021]


@pytest.mark.parametrize(
    ("field_type", "options", "cells"),
    [
        ("year", {}, ["0001", "0010", "2021"]),
        ("date", {"format": "%d/%m/%Y"}, ["05/01/2021", "29/02/2020"]),
        ("datetime", {"format": "%d.%m.%Y %H:%M"}, ["05.01.2021 10:30", "29.02.2020 23:59"]),
        ("number", {"decimalChar": ","}, ["1,5", "-0,000000001", "2"]),
        ("boolean", {"trueValues": ["sí"], "falseValues": ["no"]}, ["sí", "no"]),
    ],
)
def test_a_page_is_asked_after_the_key_as_the_previous_page_answered_it_whatever_the_format(
    make_rowgate, database_url, tmp_path, field_type, options, cells
):
    """`after` was read as a cell in the field's format, but `next` answers the key as the API writes every value
    (ISO 8601, a point for decimals, true and false, a year as its integer): a date key in %d/%m/%Y answered next
    "2020-02-29", whose page was refused (after must be a date in the format %d/%m/%Y), and so for each format."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, field_type, **options))
    (tmp_path / "parent.csv").write_text("k,u,n\n" + "".join(f'"{cell}","{cell}",{n}\n' for n, cell in enumerate(cells)))
    assert ingest_local(rowgate, tmp_path / "parent.csv").inserted == len(cells)
    assert every_key(rowgate, "parent") == [row["k"] for row in page_rows(rowgate, "parent")["rows"]]


def test_a_refused_key_is_named_as_the_api_writes_it_not_as_python_repr(make_rowgate, database_url, tmp_path):
    """Primary, foreign and unique-key refusals named a datetime, date, time or decimal key by its Python repr
    ("k datetime.datetime(2021, 7, 27, 14, 2, 8) appears again", "p/q (Decimal('0E-9'), ...' appears again"),
    not as the row's value is written anywhere else."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "datetime"))
    (tmp_path / "parent.csv").write_text(
        "k,u,n\n2021-07-27T16:02:08+02:00,2021-07-27T16:02:08+02:00,1\n2021-07-27T14:02:08Z,2001-01-01T00:00:00Z,2\n"
    )
    assert ingest_local(rowgate, tmp_path / "parent.csv").rejected == 1
    (tmp_path / "child.csv").write_text(
        "id,p,q\n1,2021-07-27T14:02:08Z,2021-07-27T14:02:08Z\n2,2021-07-27T14:02:08Z,2021-07-27T14:02:08Z\n3,2000-01-01T00:00:00Z,\n"
    )
    assert ingest_local(rowgate, tmp_path / "child.csv").rejected == 2
    with rowgate.engine.connect() as conn:
        messages = [
            error["message"]
            for (reasons,) in conn.execute(sa.text("SELECT reasons FROM rowgate_rejections ORDER BY id"))
            for error in json.loads(reasons)
        ]
    assert messages == [
        "k '2021-07-27T14:02:08Z' appears again with other values (first in row 2)",
        "p/q ('2021-07-27T14:02:08Z', '2021-07-27T14:02:08Z') appears again (first in row 2)",
        "p '2000-01-01T00:00:00Z' is not a parent.k",
    ]


def test_a_row_of_a_typed_parquet_file_waiting_for_its_parent_is_loaded_when_the_parent_lands(make_rowgate, database_url, tmp_path):
    """A child row from a Parquet file with typed columns, refused because its parent was missing, was re-driven from
    its raw cells read as text in the fields' formats: the decimal 1.50 (decimalChar ','), the date 2020-02-29
    (%d/%m/%Y) and the timestamp 2020-02-29 23:30:00+00:00 (%d.%m.%Y %H:%M) were type errors it never had, so it
    stayed refused when the parent landed. Its raw now holds such cells as the fields read them."""
    path = Path(keyed(tmp_path, "integer"))
    descriptor = json.loads(path.read_text())
    descriptor["resources"][1]["schema"]["fields"] += [
        {"name": "amount", "type": "number", "decimalChar": ","},
        {"name": "day", "type": "date", "format": "%d/%m/%Y"},
        {"name": "at", "type": "datetime", "format": "%d.%m.%Y %H:%M"},
    ]
    path.write_text(json.dumps(descriptor))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    columns = {
        "id": [1],
        "p": [7],
        "q": [1],
        "amount": pa.array([Decimal("1.5")], pa.decimal128(5, 2)),
        "day": pa.array([date(2020, 2, 29)]),
        "at": pa.array([datetime(2020, 2, 29, 23, 30)], pa.timestamp("us", "UTC")),
    }
    pq.write_table(pa.table(columns), tmp_path / "child.parquet")
    assert ingest_local(rowgate, tmp_path / "child.parquet", table="child").rejected == 1
    (tmp_path / "parent.csv").write_text("k,u,n\n7,7,0\n")
    assert ingest_local(rowgate, tmp_path / "parent.csv").inserted == 1
    live = rowgate.metadata.tables["child"]
    with rowgate.engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(sa.select(live))] == [
            (1, 7, 1, Decimal("1.5"), date(2020, 2, 29), datetime(2020, 2, 29, 23, 30))
        ]


@pytest.mark.parametrize(
    ("field_type", "options", "cell"),
    [
        ("year", {}, "0001"),
        ("date", {"format": "%d/%m/%Y"}, "05/01/2021"),
        ("datetime", {"format": "%d.%m.%Y %H:%M"}, "29.02.2020 23:59"),
        ("time", {"format": "%H.%M"}, "23.59"),
        ("number", {"decimalChar": ","}, "1,5"),
        ("boolean", {"trueValues": ["sí"], "falseValues": ["no"]}, "sí"),
    ],
)
def test_a_child_waiting_for_its_parent_is_loaded_when_a_file_brings_the_parent_whatever_the_keys_format(
    make_rowgate, database_url, tmp_path, field_type, options, cell
):
    """A rejection names the parent key it waits for as text (missing_key: 1 for the year 0001, 2021-01-05 for a
    date, True, 1.500000000), and a parent file's load (and the re-drive timer) read that text back as a cell in the
    field's format to see whether the parent exists: refused there (not four digits, not %d/%m/%Y, '.' beside
    decimalChar ','), the parent never counted as present and the child waited for good, never re-driven."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, field_type, **options))
    (tmp_path / "child.csv").write_text(f'id,p,q\n1,"{cell}",\n')
    assert ingest_local(rowgate, tmp_path / "child.csv").rejected == 1
    (tmp_path / "parent.csv").write_text(f'k,u,n\n"{cell}",,0\n')
    assert ingest_local(rowgate, tmp_path / "parent.csv").inserted == 1
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar_one() == 1


def test_a_null_is_missing_where_missing_values_leave_out_the_empty_cell(make_rowgate, database_url, tmp_path):
    """With missingValues that leave out "" (an empty cell is then a value), a JSON null, a field a row leaves out or
    a null in a Parquet string column crashed validation (numpy could not or a mask holding None into a bool array):
    a traceback, a 500 over HTTP, instead of a missing value."""
    path = Path(keyed(tmp_path, "string", constraints={"maxLength": 3}))
    descriptor = json.loads(path.read_text())
    descriptor["resources"][0]["schema"]["missingValues"] = ["NA"]
    path.write_text(json.dumps(descriptor))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    batch = insert_rows(rowgate, "parent", [{"k": "", "u": None, "n": 1}, {"k": "a", "n": None}, {"k": "b", "u": "", "n": 2}])
    assert (batch.inserted, batch.rejected) == (3, 0), batch.rejections
    pq.write_table(pa.table({"k": ["c"], "u": pa.array([None], pa.string()), "n": [3]}), tmp_path / "more.parquet")
    assert ingest_local(rowgate, tmp_path / "more.parquet", table="parent").inserted == 1
    live = rowgate.metadata.tables["parent"]
    with rowgate.engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(sa.select(live).order_by(live.c.k))] == [
            ("", None, 1),
            ("a", None, None),
            ("b", "", 2),
            ("c", None, 3),
        ]


def pages_over_http(monkeypatch, tmp_path, dictionary: str, rows: list[dict]) -> list:
    """Every key of `parent`, a page of one row at a time over HTTP, each page asked after the previous one's next."""
    from tests.api_host import live_host

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", storage=str(tmp_path / "storage"), dictionary=dictionary)
    with live_host(monkeypatch, settings) as (url, _host), httpx.Client(base_url=f"{url}/api", timeout=30) as api:
        assert api.post("/tables/parent/rows", json=rows).json()["inserted"] == len(rows)
        keys, params = [], {"limit": 1}
        while True:
            answer = api.get("/tables/parent/rows", params=params)
            assert answer.status_code == 200, answer.text
            keys += [row["k"] for row in answer.json()["rows"]]
            if answer.json()["next"] is None:
                return keys
            params["after"] = as_after(answer.json()["next"])


@pytest.mark.parametrize(
    ("field_type", "options", "keys"),
    [("boolean", {}, [False, True]), ("year", {}, [1, 2021]), ("date", {"format": "%d/%m/%Y"}, ["05/01/2021", "06/01/2021"])],
)
def test_a_client_pages_over_http_through_keys_of_each_type(monkeypatch, tmp_path, field_type, options, keys):
    rows = [{"k": key, "u": key, "n": n} for n, key in enumerate(keys)]
    answered = pages_over_http(monkeypatch, tmp_path, keyed(tmp_path, field_type, **options), rows)
    assert len(answered) == len(keys) and answered == sorted(answered)


def test_a_client_pages_over_http_past_a_string_key_with_a_tab(monkeypatch, tmp_path):
    """A string key may hold a tab (the CSV and the API take it, every backend stores it), and a page ending on it
    answers it as next; but the page after it was refused (400: after holds a control character), so a client
    paging through the table could never read the rows after that key."""
    rows = [{"k": key, "u": key, "n": n} for n, key in enumerate(["a\tb", "c"])]
    assert pages_over_http(monkeypatch, tmp_path, keyed(tmp_path, "string", constraints={"maxLength": 3}), rows) == ["a\tb", "c"]


def test_a_number_key_pages_in_the_order_of_its_values(make_rowgate, database_url, tmp_path):
    """page_rows promises key order: on PostgreSQL a number key pages -10, -2, 2, 10; on SQLite, where a number is
    stored as its text, it paged -10, -2, 10, 2 (the order of -10.000000000, -2.000000000, 10.000000000, 2.000000000 as text, and -2 before -3)."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "number"))
    insert_rows(rowgate, "parent", [{"k": key, "u": key, "n": 0} for key in ("10", "2", "-2", "-10")])
    assert every_key(rowgate, "parent") == ["-10", "-2", "2", "10"]
    more = ["-3", "0", "0.5", "-0.000000001", "0.000000001", "123456789.123456789", "-123456789.123456789", "99.999999999"]
    insert_rows(rowgate, "parent", [{"k": key, "u": key, "n": 0} for key in more])
    assert [Decimal(key) for key in every_key(rowgate, "parent")] == sorted(Decimal(key) for key in ["10", "2", "-2", "-10", *more])


def test_a_number_key_pages_in_value_order_where_a_double_cannot_tell_keys_apart(make_rowgate, database_url, tmp_path):
    """SQLite ordered a number key by its value as a double, then by its text: keys one double holds paged in
    text order, 100000000000000000000 before 99999999999999999999 and -12345678901234567890 before
    -12345678901234567891."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "number"))
    keys = ["99999999999999999999", "100000000000000000000", "-12345678901234567890", "-12345678901234567891"]
    keys += ["12345678.123456789", "12345678.123456788", "-12345678.123456789", "-12345678.123456788", "-0.5", "0"]
    insert_rows(rowgate, "parent", [{"k": key, "u": key, "n": 0} for key in keys])
    assert [Decimal(key) for key in every_key(rowgate, "parent")] == sorted(Decimal(key) for key in keys)


def test_random_number_keys_page_once_each_in_value_order(make_rowgate, database_url, tmp_path):
    """Pages of 7 through 300 random keys (negatives, 0 to 9 decimals, up to 29 digits, many a double cannot tell
    apart) answer every key exactly once, in the order of their values."""
    import random

    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "number"))
    pick = random.Random(7)
    near = [10**20, 10**20 - 1, 12345678901234567890, 2**53]
    keys = {Decimal(pick.choice(near) * pick.choice((1, -1)) + pick.randint(-3, 3)) for _ in range(60)}
    while len(keys) < 300:
        digits = pick.randint(1, 29)
        keys.add(Decimal(pick.randint(-(10**digits), 10**digits)).scaleb(-min(pick.randint(0, 9), digits)))
    keys = sorted(keys)
    for start in range(0, len(keys), 100):
        rows = [{"k": str(key), "u": str(key), "n": 0} for key in keys[start : start + 100]]
        assert insert_rows(rowgate, "parent", rows).inserted == len(rows)
    page, paged = page_rows(rowgate, "parent", limit=7), []
    while True:
        paged += [Decimal(row["k"]) for row in page["rows"]]
        if page["next"] is None:
            break
        page = page_rows(rowgate, "parent", limit=7, after=as_after(page["next"]))
    assert paged == keys
