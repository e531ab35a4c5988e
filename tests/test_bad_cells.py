"""One bad cell refuses its row, never the file; only an unusable file is refused whole; a file that becomes
unreadable midway keeps the rows read and refuses the rest row by row. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from shared.errors import InputRefused
from shared.ingest import ingest_local, ingest_stored


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def table_rows(rowgate, table: str) -> list[tuple]:
    with rowgate.engine.connect() as conn:
        target = rowgate.metadata.tables[table]
        return [tuple(row) for row in conn.execute(sa.select(target).order_by(*target.primary_key.columns))]


def refusals(rowgate, file: str = "") -> dict[int, list[str]]:
    """row number -> reason messages, of the rejections logged for sources ending in `file`."""
    rejections = rowgate.metadata.tables["rowgate_rejections"]
    query = sa.select(rejections.c.row_number, rejections.c.reasons).where(rejections.c.source.endswith(file))
    with rowgate.engine.connect() as conn:
        found = conn.execute(query.order_by(rejections.c.row_number)).all()
    assert len(found) == len({number for number, _ in found}), "a row was logged twice"
    return {number: [r["message"] for r in json.loads(reasons)] for number, reasons in found}


def ledger(rowgate) -> list[tuple]:
    loads = rowgate.metadata.tables["rowgate_loads"]
    with rowgate.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(loads.c.status, loads.c.inserted, loads.c.unchanged, loads.c.rejected).order_by(loads.c.id))
        ]


def parents(rowgate, tmp_path: Path) -> None:
    ingest_local(rowgate, write(tmp_path / "departments.csv", "1,Sales\n"))
    ingest_local(rowgate, write(tmp_path / "jobs.csv", "1,Clerk\n"))
    ingest_local(rowgate, write(tmp_path / "categories.csv", "category_id,category_name\n1,Data\n"))
    ingest_local(rowgate, write(tmp_path / "levels.csv", "level_id,level_name\n1,Beginner\n"))


def test_datetimes_that_overflow_or_fall_outside_years_1_to_9999_refuse_their_row_only(rowgate, tmp_path):
    parents(rowgate, tmp_path)
    lines = [
        "1,Ann,0001-01-01T00:30:00+01:00,1,1",  # to UTC: before year 1
        "2,Bob,9999-12-31T23:30:00-05:00,1,1",  # to UTC: after year 9999
        "3,Cid,0000-01-01T00:00:00Z,1,1",  # year 0: Arrow parses it, no database takes it
        "4,Dan,2021-07-27T16:02:08Z,1,1",
        "5,Eve,0001-01-01T05:00:00+04:00,1,1",  # inside the range once in UTC
    ]
    result = ingest_local(rowgate, write(tmp_path / "hired_employees.csv", "\n".join(lines) + "\n"))
    assert (result.status, result.inserted, result.rejected) == ("loaded", 2, 3)
    assert [row[0] for row in table_rows(rowgate, "hired_employees")] == [4, 5]
    reasons = refusals(rowgate)
    assert sorted(reasons) == [1, 2, 3]
    assert all("is outside the years 1 to 9999" in reasons[n][0] for n in (1, 2, 3))
    assert ledger(rowgate)[-1] == ("done", 2, 0, 3)


def test_a_nul_in_a_string_refuses_its_row_on_every_backend(rowgate, tmp_path):
    result = ingest_local(rowgate, write(tmp_path / "departments.csv", "1,Sa\x00les\n2,Legal\n"))
    assert (result.inserted, result.rejected) == (1, 1)
    assert table_rows(rowgate, "departments") == [(2, "Legal")]
    assert refusals(rowgate) == {1: ["department 'Sa\\x00les' holds a NUL character, which SQL text cannot"]}


def courses(path: Path, **columns) -> Path:
    data = {
        "course_id": pa.array([1, 2, 3], pa.int64()),
        "course_name": pa.array(["A", "B", "C"]),
        "category_id": pa.array([1, 1, 1], pa.int64()),
        "level_id": pa.array([1, 1, 1], pa.int64()),
        "start_date": pa.array([1_700_000_000_000_000] * 3, pa.timestamp("us", "UTC")),
    } | columns
    pq.write_table(pa.table(data), path)
    return path


def test_parquet_uint64_past_int64_refuses_its_row(rowgate, tmp_path):
    parents(rowgate, tmp_path)
    path = courses(tmp_path / "courses.parquet", course_id=pa.array([1, 2**63, 2**64 - 1], pa.uint64()))
    result = ingest_local(rowgate, path)
    assert (result.inserted, result.rejected) == (1, 2)
    assert refusals(rowgate)[2] == ["course_id 9223372036854775808 is larger than a 64-bit integer holds"]


def test_parquet_nanoseconds_are_refused_not_cut_and_far_timestamps_refused(rowgate, tmp_path):
    parents(rowgate, tmp_path)
    stamps = pa.array([1_700_000_000_000_000_000, 1_700_000_000_000_000_001, None], pa.timestamp("ns"))
    result = ingest_local(rowgate, courses(tmp_path / "courses.parquet", start_date=stamps))
    assert (result.inserted, result.rejected) == (1, 2)
    reasons = refusals(rowgate, "courses.parquet")
    assert "has digits below the microsecond, which rowgate does not keep" in reasons[2][0]
    assert "start_date is required and is empty" in reasons[3][0]
    far = pa.array([10**15, 0, -(10**12)], pa.timestamp("s"))  # year ~31.7 million; 1970; year ~-29,700
    result = ingest_local(rowgate, courses(tmp_path / "more.parquet", course_id=pa.array([7, 8, 9]), start_date=far), table="courses")
    assert (result.inserted, result.rejected) == (1, 2)
    assert "is outside the years 1 to 9999" in refusals(rowgate, "more.parquet")[1][0]


def test_parquet_with_a_column_named_twice_is_refused_whole_with_the_reason(rowgate, tmp_path):
    table = pa.Table.from_arrays(
        [pa.array([1]), pa.array(["A"]), pa.array([1]), pa.array([1]), pa.array([1], pa.timestamp("us")), pa.array(["B"])],
        names=["course_id", "course_name", "category_id", "level_id", "start_date", "course_name"],
    )
    pq.write_table(table, tmp_path / "courses.parquet")
    with pytest.raises(InputRefused, match=r"the Parquet file names the columns \['course_name'\] more than once"):
        ingest_local(rowgate, tmp_path / "courses.parquet")
    assert ledger(rowgate) == []


def damaged_parquet(path: Path, groups: int, rows: int) -> Path:
    """A Parquet file whose second row group's data pages are overwritten with garbage."""
    first = 1000
    table = pa.table(
        {"id": pa.array(range(first, first + groups * rows), pa.int64()), "department": [f"d{i}" for i in range(groups * rows)]}
    )
    pq.write_table(table, path, row_group_size=rows, compression="snappy")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    return path


def test_a_parquet_damaged_in_its_second_row_group_refuses_that_groups_rows_one_by_one_and_loads_the_others(
    make_rowgate, database_url, tmp_path
):
    rowgate = make_rowgate(database_url, chunk_rows=300)
    folder = tmp_path / "departments"
    folder.mkdir()
    with rowgate.storage.open_write("landing/departments/part.parquet") as out:
        out.write(damaged_parquet(folder / "part.parquet", groups=3, rows=500).read_bytes())
    result = ingest_stored(rowgate, "landing/departments/part.parquet")
    assert (result.status, result.inserted, result.rejected) == ("loaded", 1000, 500)
    assert [row[0] - 999 for row in table_rows(rowgate, "departments")] == [*range(1, 501), *range(1001, 1501)]
    reasons = refusals(rowgate)
    assert sorted(reasons) == list(range(501, 1001))
    assert "row group 2 (rows 501 to 1000) is damaged" in reasons[501][0]
    assert ledger(rowgate) == [("done", 1000, 0, 500)]  # never left `loading`
    rowgate.engine.dispose()


def test_a_parquet_whose_footer_is_damaged_is_refused_whole_and_leaves_no_ledger_row(rowgate, tmp_path):
    path = courses(tmp_path / "courses.parquet")
    path.write_bytes(path.read_bytes()[:-20] + b"\x00" * 20)
    with pytest.raises(InputRefused, match="not a readable Parquet file"):
        ingest_local(rowgate, path)
    assert ledger(rowgate) == [] and table_rows(rowgate, "courses") == []


def test_a_csv_line_over_the_size_limit_refuses_the_file_before_anything_is_written(make_rowgate, database_url, tmp_path, monkeypatch):
    monkeypatch.setattr("shared.parse.MAX_BLOCK_BYTES", 1024 * 1024)  # the limit is 64 MiB; 1 keeps the test small
    rowgate = make_rowgate(database_url, chunk_rows=1000)
    head = "".join(f"{i},dept {i}\n" for i in range(1, 250_001))  # about 3.7 MiB: several chunks before the long line
    path = write(tmp_path / "departments.csv", head + f"250001,{'x' * (2 * 1024 * 1024)}\n250002,After\n")
    with pytest.raises(InputRefused, match="a line is longer than 1 MiB"):
        ingest_local(rowgate, path)
    assert ledger(rowgate) == [] and table_rows(rowgate, "departments") == [] and refusals(rowgate) == {}
    rowgate.engine.dispose()


def test_a_csv_unreadable_after_loaded_chunks_keeps_them_and_refuses_the_rest_with_the_reason(
    make_rowgate, database_url, tmp_path, monkeypatch
):
    monkeypatch.setattr("shared.parse.MAX_BLOCK_BYTES", 1024 * 1024)
    rowgate = make_rowgate(database_url, chunk_rows=1000)
    head = "".join(f"{i},dept {i}\n" for i in range(1, 100_001))
    # A quoted value of short lines but over the limit in all: no line is long, the record is.
    path = write(tmp_path / "departments.csv", head + '100001,"' + "y\n" * 1_500_000 + '"\n100002,x\n')
    result = ingest_local(rowgate, path)
    assert result.status == "loaded"
    loaded = len(table_rows(rowgate, "departments"))
    assert result.inserted == loaded >= 1000 and result.rejected == 1
    (number, reasons), *others = refusals(rowgate).items()
    assert others == [] and number == loaded + 1 and "and the rest of the file could not be read" in reasons[0]
    assert ledger(rowgate) == [("done", loaded, 0, 1)]
    rowgate.engine.dispose()


# Dates that no calendar has: Arrow's strptime rolls them over (02-31 into March, 23:59:60 into the next day).
IMPOSSIBLE_DATETIMES = [
    "2021-02-31T00:00:00Z",
    "2021-02-29T00:00:00Z",  # 2021 is not a leap year
    "2021-04-31T00:00:00Z",
    "2021-06-30T23:59:60Z",  # a leap second: Python's datetime, and so every driver, has none
    "2021-06-30T23:59:61Z",
    "2021-06-30T24:00:00Z",
    "2021-06-30T12:60:00Z",
    "2021-00-10T12:00:00Z",
    "2021-02-00T12:00:00Z",
    "2021-07-27T16:02:08.1234567Z",  # below the microsecond: Python's parser would cut it
]
HEX_INTEGERS = ["0x10", "0xFFFFFFFFFFFFFFFF", "0x8000000000000000", "0X10"]


def test_impossible_datetimes_are_refused_not_shifted_in_csv_api_and_parquet_strings(rowgate, tmp_path):
    from shared.batch import insert_rows

    parents(rowgate, tmp_path)
    good = "2020-02-29T23:59:59Z"  # a leap year's last second of February is real
    cells = [*IMPOSSIBLE_DATETIMES, good]
    lines = [f"{n},P{n},{cell},1,1" for n, cell in enumerate(cells, 1)]
    result = ingest_local(rowgate, write(tmp_path / "hired_employees.csv", "\n".join(lines) + "\n"))
    assert (result.inserted, result.rejected) == (1, len(IMPOSSIBLE_DATETIMES))
    assert all("is not an ISO 8601 datetime" in r[0] for r in refusals(rowgate, "hired_employees.csv").values())
    batch = insert_rows(
        rowgate,
        "hired_employees",
        [{"id": 100 + n, "name": "A", "datetime": c, "department_id": 1, "job_id": 1} for n, c in enumerate(cells)],
    )
    assert (batch.inserted, batch.rejected) == (1, len(IMPOSSIBLE_DATETIMES))
    path = courses(
        tmp_path / "courses.parquet",
        course_id=pa.array(range(1, len(cells) + 1)),
        course_name=pa.array(["A"] * len(cells)),
        category_id=pa.array([1] * len(cells)),
        level_id=pa.array([1] * len(cells)),
        start_date=pa.array(cells),
    )
    result = ingest_local(rowgate, path)
    assert (result.inserted, result.rejected) == (1, len(IMPOSSIBLE_DATETIMES))
    stored = {row[0]: row[2] for row in table_rows(rowgate, "hired_employees")}
    assert [value.isoformat() for value in stored.values()] == ["2020-02-29T23:59:59"] * 2


def test_impossible_dates_are_refused_by_a_date_field(make_rowgate, tmp_path):
    rowgate = make_rowgate(dictionary=str(dated_dictionary(tmp_path)))
    cells = ["2021-02-30", "2021-02-29", "2021-04-31", "2021-13-01", "2021-00-01", "0000-01-01", "10000-01-01", "2020-02-29", "2021-1-5"]
    lines = [f"{n},{cell}" for n, cell in enumerate(cells, 1)]
    result = ingest_local(rowgate, write(tmp_path / "events.csv", "\n".join(lines) + "\n"))
    assert (result.inserted, result.rejected) == (2, 7)
    # 2021-1-5: strptime's %Y-%m-%d, the pattern Frictionless reads dates with, takes one-digit months and days
    assert table_rows(rowgate, "events") == [(8, date(2020, 2, 29)), (9, date(2021, 1, 5))]
    assert sorted(refusals(rowgate, "events.csv")) == [1, 2, 3, 4, 5, 6, 7]


def dated_dictionary(tmp_path: Path) -> Path:
    descriptor = {
        "name": "dated",
        "resources": [
            {
                "name": "events",
                "dialect": {"header": False},
                "schema": {
                    "fields": [{"name": "id", "type": "integer"}, {"name": "day", "type": "date", "constraints": {"required": True}}],
                    "primaryKey": ["id"],
                },
            }
        ],
    }
    return write(tmp_path / "dated.json", json.dumps(descriptor))


def test_hexadecimal_integers_are_refused_in_csv_api_and_parquet_strings(rowgate, tmp_path):
    from shared.batch import insert_rows

    lines = [f"{cell},Dept" for cell in HEX_INTEGERS] + ["16,Sixteen"]
    result = ingest_local(rowgate, write(tmp_path / "departments.csv", "\n".join(lines) + "\n"))
    assert (result.inserted, result.rejected) == (1, len(HEX_INTEGERS))
    batch = insert_rows(rowgate, "departments", [{"id": cell, "department": "D"} for cell in HEX_INTEGERS])
    assert (batch.inserted, batch.rejected) == (0, len(HEX_INTEGERS))
    pq.write_table(pa.table({"id": pa.array(HEX_INTEGERS), "job": pa.array(["J"] * len(HEX_INTEGERS))}), tmp_path / "jobs.parquet")
    result = ingest_local(rowgate, tmp_path / "jobs.parquet")
    assert (result.inserted, result.rejected) == (0, len(HEX_INTEGERS))
    assert table_rows(rowgate, "departments") == [(16, "Sixteen")]


PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}


def test_parquet_datetimes_and_dates_past_year_9999_or_before_year_1_refuse_their_rows(rowgate, tmp_path):
    parents(rowgate, tmp_path)
    day_10000 = (date(9999, 12, 31) - date(1970, 1, 1)).days + 1
    stamps = {unit: pa.array([day_10000 * per_day, 0, -719163 * per_day], pa.timestamp(unit, "UTC")) for unit, per_day in PER_DAY.items()}
    stamps["d"] = pa.array([day_10000, 0, -719163], pa.date32())  # year 10000, 1970, year 0
    for first, (unit, column) in enumerate(stamps.items()):
        keys = pa.array(range(3 * first + 1, 3 * first + 4))
        result = ingest_local(rowgate, courses(tmp_path / f"c{unit}.parquet", course_id=keys, start_date=column), table="courses")
        assert (result.inserted, result.rejected) == (1, 2), unit
    assert all(
        "is outside the years 1 to 9999" in r[0]
        for name in ("cs", "cms", "cus", "cd")
        for r in refusals(rowgate, f"{name}.parquet").values()
    )


@pytest.mark.parametrize("field_type", ["integer", "datetime", "date"])
def test_a_cells_verdict_does_not_depend_on_its_neighbours(field_type):
    from shared.dictionary import Field
    from shared.fieldtypes import TYPES

    cells = {
        "integer": [*HEX_INTEGERS, "12", "+12", "-12", "007", "9223372036854775807", "9223372036854775808", "1e3", "1_000", "١٢", " 5 "],
        "datetime": [
            *IMPOSSIBLE_DATETIMES,
            "2021-07-27T16:02:08Z",
            "2021-07-27T16:02:08",
            "2021-07-27T16:02:08.5+01:00",
            "2021-07-27T16:02:08+0100",
            "2021-07-27 16:02:08Z",
            "2021-7-27T16:02:08Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "10000-01-01T00:00:00Z",
        ],
        "date": [
            "2021-02-30",
            "2021-02-29",
            "2020-02-29",
            "2021-1-5",
            "2021-01-05",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            "2021-13-01",
        ],
    }[field_type]
    neighbours = {"integer": ["1", "x"], "datetime": ["2021-07-27T16:02:08Z", "x"], "date": ["2021-07-27", "x"]}[field_type]

    def verdict(column: list[str], index: int):
        values, bad, _ = TYPES[field_type].convert(Field("cell", field_type, False), pa.array(column, pa.string()), True)
        return bool(bad[index]), values[index].as_py()

    for cell in cells:
        alone = verdict([cell], 0)
        for neighbour in neighbours:
            assert verdict([cell, neighbour], 0) == alone, (cell, neighbour)
            assert verdict([neighbour] * 3 + [cell], 3) == alone, (cell, neighbour)


def test_a_batch_from_the_core_with_an_integer_past_64_bits_refuses_that_row_not_a_traceback(rowgate):
    """HTTP refuses an integer past 64 bits before the core sees it; a caller of insert_rows may pass one: the
    batch identity (orjson, which cannot write it) crashed with a TypeError."""
    from shared.batch import insert_rows

    rows = [{"id": 2**70, "department": "Big"}, {"id": 4, "department": "Ok"}]
    result = insert_rows(rowgate, "departments", rows)
    assert (result.inserted, result.rejected) == (1, 1)
    assert table_rows(rowgate, "departments") == [(4, "Ok")]
    logged, loads = refusals(rowgate), ledger(rowgate)
    assert list(logged) == [1] and "64" in " ".join(logged[1]), logged
    assert insert_rows(rowgate, "departments", rows) == result, "the same content is the same batch: its first answer"
    assert table_rows(rowgate, "departments") == [(4, "Ok")] and (refusals(rowgate), ledger(rowgate)) == (logged, loads), (
        "nothing written again"
    )


@pytest.mark.parametrize("not_finite", [float("nan"), float("inf"), float("-inf")])
def test_a_core_batch_with_nan_is_not_the_same_batch_as_its_rows_with_null(make_rowgate, database_url, tmp_path, not_finite):
    """orjson writes NaN and the infinities as null, so a batch whose optional n was NaN had the identity of the
    same batch with null: sent next, its valid row was answered with the first batch's refusal and never loaded."""
    from shared.batch import insert_rows
    from tests.test_key_types import keyed

    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "integer"))
    first = insert_rows(rowgate, "parent", [{"k": 5, "u": 5, "n": not_finite}])
    assert (first.inserted, first.rejected) == (0, 1)
    second = insert_rows(rowgate, "parent", [{"k": 5, "u": 5, "n": None}])
    assert (second.inserted, second.rejected) == (1, 0), second
    assert table_rows(rowgate, "parent") == [(5, 5, None)]
