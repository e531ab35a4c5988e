"""File ingestion: real challenge files, every kind of bad input, idempotence, re-drive, archive."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from shared.errors import InputRefused
from shared.ingest import ingest_local, ingest_stored, processed_name
from shared.load import LoadBusy
from shared.parse import read_csv
from shared.storage import content_hash


def count(rowgate, table: str) -> int:
    with rowgate.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(rowgate.metadata.tables[table])).scalar_one()


def open_rejections(rowgate, table: str | None = None) -> list[dict]:
    rejections = rowgate.metadata.tables["rowgate_rejections"]
    query = sa.select(rejections).where(rejections.c.resolved_at.is_(None)).order_by(rejections.c.row_number)
    if table:
        query = query.where(rejections.c.table_name == table)
    with rowgate.engine.connect() as conn:
        return [dict(row._mapping) | {"reasons": json.loads(row.reasons), "raw": json.loads(row.raw)} for row in conn.execute(query)]


def codes(rejection: dict) -> list[str]:
    return [reason["code"] for reason in rejection["reasons"]]


def load_parents(rowgate, tmp_path: Path) -> None:
    write(tmp_path / "departments.csv", "1,Sales\n2,Legal\n")
    write(tmp_path / "jobs.csv", "1,Clerk\n2,Lawyer\n")
    ingest_local(rowgate, tmp_path / "departments.csv")
    ingest_local(rowgate, tmp_path / "jobs.csv")


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def unstamped(paths) -> list[str]:
    """Processed names without their UTC stamp (`x.20261122T070421123456Z.csv` -> `x.csv`), sorted."""
    return sorted(re.sub(r"\.\d{8}T\d{12}Z(?=\.|$)", "", path) for path in paths)


def land(storage, path: str, content: bytes) -> None:
    with storage.open_write(path) as out:
        out.write(content)


def test_challenge_files_load_with_the_70_incomplete_rows_refused(rowgate, challenge):
    results = [ingest_local(rowgate, challenge / f"{name}.csv") for name in ("departments", "jobs", "hired_employees")]
    assert [(r.inserted, r.rejected) for r in results] == [(12, 0), (183, 0), (1929, 70)]
    refused = open_rejections(rowgate, "hired_employees")
    assert len(refused) == 70
    assert all(codes(r) == ["constraint-error"] and "is required and is empty" in r["reasons"][0]["message"] for r in refused)
    assert refused[0]["row_number"] == 2 and refused[0]["raw"]["name"] == "Ty Hofer"


def test_replayed_file_changes_nothing(rowgate, challenge):
    first = ingest_local(rowgate, challenge / "departments.csv")
    again = ingest_local(rowgate, challenge / "departments.csv")
    assert (first.status, again.status) == ("loaded", "already-loaded")
    assert (again.inserted, again.unchanged, again.rejected) == (0, 12, 0)
    assert count(rowgate, "departments") == 12


def test_same_rows_in_a_new_file_are_unchanged_and_conflicting_rows_refused(rowgate, tmp_path):
    ingest_local(rowgate, write(tmp_path / "departments.csv", "1,Sales\n2,Legal\n"))
    (tmp_path / "departments").mkdir()
    result = ingest_local(rowgate, write(tmp_path / "departments" / "second.csv", "1,Sales\n2,Law\n3,Support\n"))
    assert (result.inserted, result.unchanged, result.rejected) == (1, 1, 1)
    [conflict] = open_rejections(rowgate, "departments")
    assert codes(conflict) == ["primary-key"]
    assert "'Legal' loaded" in conflict["reasons"][0]["message"] and "'Law' here" in conflict["reasons"][0]["message"]


def test_children_refused_for_a_missing_parent_load_when_the_parent_lands(rowgate, tmp_path):
    write(tmp_path / "hired_employees.csv", "1,Ana,2021-01-05T10:00:00Z,1,1\n2,Bo,2021-02-05T10:00:00Z,7,1\n")
    first = ingest_local(rowgate, tmp_path / "hired_employees.csv")
    assert (first.inserted, first.rejected) == (0, 2)
    assert {tuple(codes(r)) for r in open_rejections(rowgate)} == {("foreign-key", "foreign-key")}
    load_parents(rowgate, tmp_path)
    assert count(rowgate, "hired_employees") == 1
    [still] = open_rejections(rowgate, "hired_employees")
    assert still["raw"]["id"] == "2" and still["reasons"] == [
        {"field": "department_id", "code": "foreign-key", "message": "department_id 7 is not a departments.id"}
    ]


BAD_ROWS = [
    ("12abc,Ana,2021-01-05T10:00:00Z,1,1", "id", "type-error", "id '12abc' is not a 64-bit integer"),
    ("3,Ana,2021-13-01T00:00:00Z,1,1", "datetime", "type-error", "datetime '2021-13-01T00:00:00Z' is not an ISO 8601 datetime"),
    ("99999999999999999999,Ana,2021-01-05T10:00:00Z,1,1", "id", "type-error", "is not a 64-bit integer"),
    ("9223372036854775808,Ana,2021-01-05T10:00:00Z,1,1", "id", "type-error", "is not a 64-bit integer"),
    ("4,,2021-01-05T10:00:00Z,1,1", "name", "constraint-error", "name is required and is empty"),
    ("5,Ana,2021-01-05T10:00:00Z,1", None, "missing-cell", "the row has 4 cells; hired_employees rows have 5"),
    ("6,Ana,2021-01-05T10:00:00Z,1,1,extra", None, "extra-cell", "the row has 6 cells"),
    ("", None, "blank-row", "the row is blank"),
    ('""', None, "blank-row", "the row is blank"),  # one empty cell of five: blank first, as frictionless reports it
    (",,", None, "blank-row", "the row is blank"),
]


@pytest.mark.parametrize(("line", "field", "code", "message"), BAD_ROWS, ids=[b[2] + ":" + b[0][:12] for b in BAD_ROWS])
def test_bad_row_is_refused_with_its_reason_and_the_rest_loads(rowgate, tmp_path, line, field, code, message):
    load_parents(rowgate, tmp_path)
    text = f"1,Ana,2021-01-05T10:00:00Z,1,1\n{line}\n2,Bo,2021-02-05T10:00:00+02:00,2,2\n"
    result = ingest_local(rowgate, write(tmp_path / "hired_employees.csv", text))
    assert (result.inserted, result.rejected) == (2, 1)
    [refused] = open_rejections(rowgate)
    assert refused["row_number"] == 2
    [reason] = refused["reasons"]
    assert (reason["field"], reason["code"]) == (field, code)
    assert message in reason["message"]


def test_edge_of_64_bits_and_other_iso_spellings_load(rowgate, tmp_path):
    write(tmp_path / "departments.csv", "9223372036854775807,Max\n-9223372036854775808,Min\n 7 ,Padded\n")
    assert ingest_local(rowgate, tmp_path / "departments.csv").inserted == 3
    load_parents(rowgate, tmp_path)
    # 2021-07-27 alone is a date, not a datetime: Frictionless's default format wants the time with its seconds
    text = "1,A,2021-07-27T16:02:08.123456Z,1,1\n2,B,2021-07-27T18:02:08+02:00,1,1\n3,C,2021-07-27,1,1\n4,D,2021-07-27T16:02Z,1,1\n"
    result = ingest_local(rowgate, write(tmp_path / "hired_employees.csv", text))
    assert (result.inserted, result.rejected) == (2, 2)
    hires = rowgate.metadata.tables["hired_employees"]
    with rowgate.engine.connect() as conn:
        stamps = conn.execute(sa.select(hires.c.datetime).order_by(hires.c.id)).scalars().all()
    assert stamps == [datetime(2021, 7, 27, 16, 2, 8, 123456), datetime(2021, 7, 27, 16, 2, 8)]


def test_bom_crlf_and_quoted_commas_and_newlines_parse(rowgate, tmp_path):
    text = '\ufeff1,"Sales, EMEA"\r\n2,"Legal\r\nand Tax"\r\n3,"Say ""hi"""\r\n'
    assert ingest_local(rowgate, write(tmp_path / "departments.csv", text)).inserted == 3
    with rowgate.engine.connect() as conn:
        names = conn.execute(sa.text("SELECT department FROM departments ORDER BY id")).scalars().all()
    assert names == ["Sales, EMEA", "Legal\r\nand Tax", 'Say "hi"']


def test_non_utf8_bytes_refuse_only_their_row(rowgate, tmp_path):
    result = ingest_local(rowgate, write(tmp_path / "departments.csv", b"1,Sales\n2,Caf\xe9\n3,Legal\n"))
    assert (result.inserted, result.rejected) == (2, 1)
    [refused] = open_rejections(rowgate)
    assert codes(refused) == ["encoding-error"] and refused["row_number"] == 2 and refused["raw"] == ["2", "Caf\\xe9"]


def test_a_10_mb_field_is_refused_by_max_length_without_quoting_it(rowgate, tmp_path):
    write(tmp_path / "departments.csv", "1,Sales\n2," + "x" * 10_000_000 + "\n3,Legal\n")
    result = ingest_local(rowgate, tmp_path / "departments.csv")
    assert (result.inserted, result.rejected) == (2, 1)
    [refused] = open_rejections(rowgate)
    assert refused["reasons"][0]["message"] == "department is 10000000 characters long; maxLength is 255"


def test_a_row_read_again_with_bigger_blocks_is_read_whole_every_time(rowgate, tmp_path):
    # The first attempt's Arrow reader reads ahead on a thread of its own; it must not take bytes from the next one.
    path = write(tmp_path / "departments.csv", "1,Sales\n2," + "x" * 10_000_000 + "\n3,Legal\n")
    table = rowgate.dictionary.table("departments")
    for _ in range(20):
        with path.open("rb") as stream:
            chunks = list(read_csv(stream, table, 50_000))
        assert [int(n) for chunk in chunks for n in chunk.row_numbers] == [1, 2, 3]
        assert [len(v) for chunk in chunks for v in chunk.columns["department"].to_pylist()] == [5, 10_000_000, 5]


def test_a_chunk_holds_the_rows_chunk_rows_says_whatever_the_blocks_arrow_reads(rowgate, tmp_path):
    path = write(tmp_path / "jobs.csv", "".join(f"{i},Job title number {i}\n" for i in range(1, 120_001)))  # about 3 MiB
    with path.open("rb") as stream:
        chunks = list(read_csv(stream, rowgate.dictionary.table("jobs"), 50_000))
    assert [len(chunk.row_numbers) for chunk in chunks] == [50_000, 50_000, 20_000]
    assert [chunk.rows_read for chunk in chunks] == [50_000, 100_000, 120_000]
    assert [int(chunk.row_numbers[0]) for chunk in chunks] == [1, 50_001, 100_001]


def test_header_is_detected_in_any_column_order(rowgate, tmp_path):
    write(tmp_path / "levels.csv", "level_name,level_id\nBeginner,1\nAdvanced,2\n")
    result = ingest_local(rowgate, tmp_path / "levels.csv")
    assert result.inserted == 2
    write(tmp_path / "categories.csv", "category_id,category_name\n1,Data\n1,Cloud\n")
    ingest_local(rowgate, tmp_path / "categories.csv")
    [dup] = open_rejections(rowgate, "categories")
    assert dup["row_number"] == 3 and "appears again with other values (first in row 2)" in dup["reasons"][0]["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n\n  \n", "the file is empty"),
        (b"category_id,category_name,budget\n1,Data,3\n", "the header names unknown columns ['budget']"),
        (b"category_name\nData\n", "the header lacks required columns ['category_id']"),
    ],
    ids=["zero-bytes", "bom-and-blank-lines-only", "unknown-column", "missing-column"],
)
def test_unusable_file_is_refused_and_leaves_no_state(rowgate, tmp_path, content, message):
    with pytest.raises(InputRefused, match=message.replace("[", r"\[").replace("]", r"\]")):
        ingest_local(rowgate, write(tmp_path / "categories.csv", content))
    assert count(rowgate, "categories") == 0
    assert count(rowgate, "rowgate_loads") == 0


def test_header_only_file_loads_nothing_and_is_fine(rowgate, tmp_path):
    result = ingest_local(rowgate, write(tmp_path / "levels.csv", "level_id,level_name\n"))
    assert (result.status, result.inserted, result.rejected) == ("loaded", 0, 0)


def test_unknown_table_is_refused_by_name(rowgate, tmp_path):
    with pytest.raises(InputRefused, match="'salaries' is not a table"):
        ingest_local(rowgate, write(tmp_path / "salaries.csv", "1,2\n"))


def test_two_files_with_conflicting_rows_keep_the_first_and_refuse_the_second(rowgate, tmp_path):
    (tmp_path / "jobs").mkdir()
    ingest_local(rowgate, write(tmp_path / "jobs" / "a.csv", "1,Clerk\n"))
    result = ingest_local(rowgate, write(tmp_path / "jobs" / "b.csv", "1,Janitor\n"))
    assert result.rejected == 1
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT job FROM jobs")).scalars().all() == ["Clerk"]


def parquet_courses(path: Path, **columns) -> Path:
    data = {
        "course_id": pa.array([1, 2, 3], pa.int64()),
        "course_name": pa.array(["SQL", None, "Avro"]),
        "category_id": pa.array([1, 1, 9], pa.int64()),
        "level_id": pa.array([1, 1, 1], pa.int64()),
        "start_date": pa.array([1_700_000_000_000_000] * 3, pa.timestamp("us", "UTC")),
    } | columns
    pq.write_table(pa.table(data), path)
    return path


def test_parquet_rows_are_validated_like_csv_rows(rowgate, tmp_path):
    ingest_local(rowgate, write(tmp_path / "categories.csv", "category_id,category_name\n1,Data\n"))
    ingest_local(rowgate, write(tmp_path / "levels.csv", "level_id,level_name\n1,Beginner\n"))
    result = ingest_local(rowgate, parquet_courses(tmp_path / "courses.parquet"))
    assert (result.inserted, result.rejected) == (1, 2)
    assert [codes(r) for r in open_rejections(rowgate)] == [["constraint-error"], ["foreign-key"]]


def test_parquet_with_a_wrong_column_type_is_refused_whole(rowgate, tmp_path):
    path = parquet_courses(tmp_path / "courses.parquet", course_id=pa.array([1.0, 2.0, 3.0]))
    with pytest.raises(InputRefused, match="column course_id is double in the Parquet file; courses.course_id is integer"):
        ingest_local(rowgate, path)
    assert count(rowgate, "rowgate_loads") == 0


def test_landed_file_is_archived_and_its_refusals_written_beside(rowgate, challenge):
    storage = rowgate.storage
    for name in ("departments", "jobs", "hired_employees"):
        with storage.open_write(f"landing/{name}.csv") as out, (challenge / f"{name}.csv").open("rb") as src:
            out.write(src.read())
        ingest_stored(rowgate, f"landing/{name}.csv")
    assert list(storage.list("landing/")) == []
    assert unstamped(storage.list("archive/")) == ["archive/departments.csv", "archive/hired_employees.csv", "archive/jobs.csv"]
    [refusals] = storage.list("rejected/")
    assert unstamped([refusals]) == ["rejected/hired_employees/hired_employees.csv.rejected.csv"]
    with storage.open_read(refusals) as stream:
        lines = stream.read().decode().splitlines()
    assert lines[0] == '"row_number","id","name","datetime","department_id","job_id","(extra cells)","errors"'
    assert len(lines) == 71 and lines[1].startswith('"2","2","Ty Hofer","2021-05-30T05:43:46Z","8","","","constraint-error')


def test_landed_file_for_an_unknown_table_moves_to_rejected_with_a_reason(rowgate):
    with rowgate.storage.open_write("landing/salaries.csv") as out:
        out.write(b"1,2\n")
    result = ingest_stored(rowgate, "landing/salaries.csv")
    assert result.status == "refused"
    [moved, reason] = sorted(rowgate.storage.list("rejected/"))
    assert unstamped([moved, reason]) == ["rejected/salaries.csv", "rejected/salaries.csv.reason.txt"]
    assert reason == f"{moved}.reason.txt"
    with rowgate.storage.open_read(reason) as stream:
        text = stream.read().decode()
    assert "'salaries' is not a table;" in text and "folder ''" not in text, text  # at the top of landing/: said plainly
    assert result.message.startswith("'salaries' is not a table; name the file <table>.csv"), result.message


def test_a_file_another_live_run_is_loading_is_not_loaded_twice(rowgate, tmp_path):
    path = write(tmp_path / "departments.csv", "1,Sales\n2,Legal\n")
    loads = rowgate.metadata.tables["rowgate_loads"]
    holder = {"claimed_by": "other-host:4242", "claimed_until": datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)}
    with path.open("rb") as stream, rowgate.engine.begin() as conn:
        conn.execute(
            loads.insert().values(
                table_name="departments",
                source="other",
                content_hash=content_hash(stream),
                status="loading",
                started_at=datetime(2026, 1, 1),
                **holder,
            )
        )
    with pytest.raises(LoadBusy, match="being loaded by other-host:4242"):
        ingest_local(rowgate, path)
    assert count(rowgate, "departments") == 0
    with rowgate.engine.begin() as conn:  # the other run went silent: its lease runs out
        conn.execute(loads.update().values(claimed_until=datetime(2026, 1, 1)))
    assert ingest_local(rowgate, path).inserted == 2
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.select(loads.c.claimed_by, loads.c.claimed_until)).one() == (None, None)


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def landed(request, make_rowgate, tmp_path):
    """A rowgate on SQLite whose landing is a local folder or an Azurite container."""
    storage = str(tmp_path / "storage") if request.param == "local" else request.getfixturevalue("azurite_storage")
    instance = make_rowgate(storage=storage)
    yield instance
    instance.engine.dispose()


def read(storage, path: str) -> bytes:
    with storage.open_read(path) as stream:
        return stream.read()


def test_a_second_file_at_the_same_landing_path_keeps_its_own_archive(landed):
    """Regression: the second landing/jobs.csv replaced the first archive/jobs.csv."""
    storage = landed.storage
    for content in (b"1,Engineer\n", b"2,Analyst\n", b"1,Engineer\n"):  # the third: same bytes again
        land(storage, "landing/jobs.csv", content)
        ingest_stored(landed, "landing/jobs.csv")
    archived = sorted(storage.list("archive/"))
    assert unstamped(archived) == ["archive/jobs.csv"] * 3
    assert sorted(read(storage, path) for path in archived) == [b"1,Engineer\n", b"1,Engineer\n", b"2,Analyst\n"]
    assert count(landed, "jobs") == 2 and list(storage.list("landing/")) == []


def test_a_second_file_at_the_same_path_lists_only_its_own_refusals(landed):
    """Regression: the second landing/jobs.csv's rejected file repeated the first one's refusals."""
    storage = landed.storage
    for content in (b"1,Engineer\nx,bad\n", b"2,Analyst\ny,bad\n"):
        land(storage, "landing/jobs.csv", content)
        ingest_stored(landed, "landing/jobs.csv")
    first, second = (list(csv.reader(read(storage, path).decode().splitlines()))[1:] for path in sorted(storage.list("rejected/")))
    assert [cells[:3] for cells in first] == [["2", "x", "bad"]]
    assert [cells[:3] for cells in second] == [["2", "y", "bad"]]


def test_files_of_one_name_in_two_folders_keep_their_own_rejected_files(landed):
    """Regression: landing/a/hired_employees/x.csv and landing/b/hired_employees/x.csv wrote one rejected file."""
    storage = landed.storage
    land(storage, "landing/departments.csv", b"1,Sales\n")
    land(storage, "landing/jobs.csv", b"1,Engineer\n")
    ingest_stored(landed, "landing/departments.csv")
    ingest_stored(landed, "landing/jobs.csv")
    land(storage, "landing/a/hired_employees/x.csv", b"1,Ana,2021-01-01T00:00:00Z,1,1\n2,Bo,2021-01-01T00:00:00Z,9,1\n")
    land(storage, "landing/b/hired_employees/x.csv", b"3,Cy,2021-01-01T00:00:00Z,1,1\n4,Di,not a time,1,1\n")
    ingest_stored(landed, "landing/a/hired_employees/x.csv")
    ingest_stored(landed, "landing/b/hired_employees/x.csv")
    rejected = sorted(storage.list("rejected/"))
    assert unstamped(rejected) == [
        "rejected/hired_employees/a/hired_employees/x.csv.rejected.csv",
        "rejected/hired_employees/b/hired_employees/x.csv.rejected.csv",
    ]
    first, second = (list(csv.reader(read(storage, path).decode().splitlines())) for path in rejected)
    assert [cells[:3] for cells in first[1:]] == [["2", "2", "Bo"]] and "foreign-key" in first[1][-1]
    assert [cells[:3] for cells in second[1:]] == [["2", "4", "Di"]] and "type-error" in second[1][-1]
    assert unstamped(storage.list("archive/a/")) == ["archive/a/hired_employees/x.csv"]
    assert unstamped(storage.list("archive/b/")) == ["archive/b/hired_employees/x.csv"]
    # Each archive and its rejected file carry the same stamp: they pair.
    for folder in ("a", "b"):
        [archive] = storage.list(f"archive/{folder}/")
        assert f"rejected/hired_employees/{archive.removeprefix('archive/')}.rejected.csv" in rejected


def test_processed_names_keep_folders_add_a_stamp_and_are_safe():
    assert re.fullmatch(r"a/jobs/x\.\d{8}T\d{12}Z\.csv", processed_name("a/jobs/x.csv"))
    assert re.fullmatch(r"jobs/no_extension\.\d{8}T\d{12}Z", processed_name("jobs/no_extension"))
    assert re.fullmatch(r"_/_/jobs/a_b\.\d{8}T\d{12}Z\.csv", processed_name("../../jobs/a\nb.csv"))
    long = processed_name("jobs/" + "é" * 200 + ".parquet")
    assert len(f"{long.rsplit('/', 1)[1]}.rejected.csv".encode()) <= 255 and long.endswith(".parquet")
    assert processed_name("jobs/x.csv") != processed_name("jobs/x.csv")


def test_a_path_that_climbs_out_of_landing_is_refused_and_nothing_moves(rowgate):
    land(rowgate.storage, "archive/jobs.csv", b"1,Engineer\n")
    result = ingest_stored(rowgate, "landing/../archive/jobs.csv")
    assert (result.status, count(rowgate, "jobs")) == ("refused", 0)
    assert list(rowgate.storage.list("archive/")) == ["archive/jobs.csv"] and list(rowgate.storage.list("rejected/")) == []


def test_a_landed_file_deleted_while_it_loads_is_loaded_once_and_not_archived(make_rowgate, tmp_path, monkeypatch):
    import shared.ingest

    rowgate = make_rowgate(chunk_rows=1000)
    land(rowgate.storage, "landing/jobs.csv", "".join(f"{i},job {i}\n" for i in range(1, 20_001)).encode())
    real_write_chunk, deleted = shared.ingest.write_chunk, []

    def write_chunk_then_delete_the_file(*args, **kwargs):
        real_write_chunk(*args, **kwargs)
        if not deleted:
            rowgate.storage.delete("landing/jobs.csv")  # the operator removes it while it loads
            deleted.append(True)

    monkeypatch.setattr(shared.ingest, "write_chunk", write_chunk_then_delete_the_file)
    result = ingest_stored(rowgate, "landing/jobs.csv")
    # The open file is read to its end: every row once; there is nothing left to archive.
    assert (result.status, result.inserted, count(rowgate, "jobs")) == ("loaded", 20_000, 20_000)
    assert "not archived by this run" in result.message
    assert list(rowgate.storage.list("landing/")) == [] and list(rowgate.storage.list("archive/")) == []
    assert ingest_stored(rowgate, "landing/jobs.csv").status == "gone"


@pytest.mark.azurite
@pytest.mark.parametrize("when", ["before it is opened", "while it is read"])
def test_a_landed_blob_deleted_mid_ingest_ends_with_a_message_not_a_traceback(make_rowgate, azurite_storage, when):
    rowgate = make_rowgate(storage=azurite_storage, chunk_rows=10_000)
    storage = rowgate.storage
    land(storage, "landing/jobs.csv", "".join(f"{i},job {i}\n" for i in range(1, 600_001)).encode())  # 10 MB: 3 ranges
    real_open_read = storage.open_read

    def open_read_and_delete(path, version=None):
        if when == "before it is opened":
            storage.delete(path)
            return real_open_read(path, version)
        stream = real_open_read(path, version)
        real_read = stream.raw.readinto

        def readinto(buffer):
            read = real_read(buffer)
            storage.delete(path)  # the first range is in; the blob goes before the next
            return read

        stream.raw.readinto = readinto
        return stream

    storage.open_read = open_read_and_delete
    result = ingest_stored(rowgate, "landing/jobs.csv")
    assert result.status == "gone" and "changed or removed while it was processed" in result.message
    assert count(rowgate, "jobs") < 600_000
    assert [list(storage.list(c)) for c in ("landing/", "archive/", "rejected/")] == [[], [], []]
    rowgate.engine.dispose()


def test_a_repeat_matching_the_loaded_row_is_unchanged_whatever_came_before_it_in_the_batch(rowgate):
    from shared.batch import insert_rows

    insert_rows(rowgate, "jobs", [{"id": 27, "job": "A"}])
    result = insert_rows(rowgate, "jobs", [{"id": 27, "job": "B"}, {"id": 27, "job": "A"}, {"id": 27, "job": "C"}])
    assert (result.inserted, result.unchanged, result.rejected) == (0, 1, 2)
    assert [r["index"] for r in result.rejections] == [0, 2]
    assert all("already loaded with other values" in r["errors"][0]["message"] for r in result.rejections)
    assert count(rowgate, "jobs") == 1 and len(open_rejections(rowgate, "jobs")) == 2


def test_a_key_loaded_with_other_values_shows_them_as_text_not_as_python_objects(rowgate):
    from shared.batch import insert_rows

    insert_rows(rowgate, "departments", [{"id": 1, "department": "Ops"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Dev"}])
    hire = {"id": 5, "name": "Ann", "datetime": "2021-07-27T16:02:08Z", "department_id": 1, "job_id": 1}
    assert insert_rows(rowgate, "hired_employees", [hire]).inserted == 1
    result = insert_rows(rowgate, "hired_employees", [hire | {"datetime": "2022-01-02T03:04:05Z"}])
    [message] = [e["message"] for r in result.rejections for e in r["errors"]]
    assert "datetime: '2022-01-02T03:04:05Z' here, '2021-07-27T16:02:08Z' loaded" in message, message
    assert "datetime.datetime" not in message


def test_a_repeat_in_a_file_is_judged_against_the_loaded_row_when_there_is_one(rowgate, tmp_path):
    ingest_local(rowgate, write(tmp_path / "jobs.csv", "27,A\n"))
    result = ingest_local(rowgate, write(tmp_path / "jobs.csv", "27,B\n27,A\n28,X\n28,X\n28,Y\n"))
    assert (result.inserted, result.unchanged, result.rejected) == (1, 2, 2)
    refused = open_rejections(rowgate, "jobs")
    assert [(r["row_number"], r["raw"]["job"]) for r in refused] == [(1, "B"), (5, "Y")]
    assert "already loaded with other values" in refused[0]["reasons"][0]["message"]
    assert "appears again with other values (first in row 3)" in refused[1]["reasons"][0]["message"]
    assert count(rowgate, "jobs") == 2


class Killed(BaseException):
    """A kill at one point of a run: nothing after it runs, nothing catches it."""


def test_a_run_killed_before_writing_the_rejected_file_is_followed_by_one_that_writes_it(landed, monkeypatch):
    import shared.ingest

    storage = landed.storage
    land(storage, "landing/jobs.csv", b"1,Engineer\nx,bad\n")
    real_write = shared.ingest._write_rejected_file

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(shared.ingest, "_write_rejected_file", killed)  # killed right after close_load committed
    with pytest.raises(Killed):
        ingest_stored(landed, "landing/jobs.csv")
    monkeypatch.setattr(shared.ingest, "_write_rejected_file", real_write)
    for _ in range(2):
        ingest_stored(landed, "landing/jobs.csv")
    [rejected] = [p for p in storage.list("rejected/")]
    assert unstamped([rejected]) == ["rejected/jobs/jobs.csv.rejected.csv"]
    assert read(storage, rejected).decode().splitlines()[1].startswith('"2","x","bad",')
    assert unstamped(storage.list("archive/")) == ["archive/jobs.csv"] and list(storage.list("landing/")) == []


@pytest.mark.azurite
def test_a_run_killed_between_a_blobs_copy_and_its_delete_leaves_one_archive_copy(make_rowgate, azurite_storage, monkeypatch):
    from azure.storage.blob import BlobClient

    rowgate = make_rowgate(storage=azurite_storage)
    storage = rowgate.storage
    land(storage, "landing/jobs.csv", b"1,Engineer\nx,bad\n")
    real_delete = BlobClient.delete_blob

    def killed(self, *args, **kwargs):
        raise Killed

    monkeypatch.setattr(BlobClient, "delete_blob", killed)
    with pytest.raises(Killed):
        ingest_stored(rowgate, "landing/jobs.csv")
    assert len(list(storage.list("archive/"))) == 1 and list(storage.list("landing/")) == ["landing/jobs.csv"]
    monkeypatch.setattr(BlobClient, "delete_blob", real_delete)
    assert ingest_stored(rowgate, "landing/jobs.csv").status == "already-loaded"
    [archived] = storage.list("archive/")
    assert read(storage, archived) == b"1,Engineer\nx,bad\n" and list(storage.list("landing/")) == []
    assert len([p for p in storage.list("rejected/")]) == 1
    land(storage, "landing/jobs.csv", b"1,Engineer\nx,bad\n")  # the same bytes landed again: an archive copy of its own
    ingest_stored(rowgate, "landing/jobs.csv")
    assert len(list(storage.list("archive/"))) == 2
    rowgate.engine.dispose()


def test_an_already_loaded_file_says_what_is_true_now_not_its_first_counts(rowgate, challenge):
    """It said the counts of its first arrival (inserted 0, unchanged 0, rejected 0 for a file whose rows had
    loaded since, by re-drive): now, how many of its rows are loaded and how many of its refusals are open."""
    from shared.rejections import find, fix

    first = ingest_local(rowgate, challenge / "hired_employees.csv")  # before its parents: every row waits
    assert (first.inserted, first.rejected) == (0, 1999)
    for name in ("departments", "jobs"):
        ingest_local(rowgate, challenge / f"{name}.csv")  # each re-drives the hires waiting for it
    incomplete = find(rowgate, "hired_employees", code="constraint-error", limit=1)["rejections"][0]
    fields = ("id", "name", "datetime", "department_id", "job_id")
    fix(
        rowgate,
        incomplete["id"],
        {name: incomplete["raw"][name] or "1" for name in fields if name != "datetime"} | {"datetime": "2021-01-01T00:00:00Z"},
    )
    again = ingest_local(rowgate, challenge / "hired_employees.csv")
    assert (again.status, again.inserted, again.unchanged, again.rejected) == ("already-loaded", 0, 1930, 69)
    assert "1930 of its rows are loaded now and 69 of its refused rows are open" in again.message


def test_parents_missing_inside_a_dense_range_of_keys_are_each_found(rowgate, tmp_path):
    """Many distinct parent keys close together are looked up by one range scan: the holes in it still refuse."""
    holes = {5, 50, 333}
    write(tmp_path / "departments.csv", "".join(f"{i},D{i}\n" for i in range(1, 401) if i not in holes))
    write(tmp_path / "jobs.csv", "1,Clerk\n")
    ingest_local(rowgate, tmp_path / "departments.csv")
    ingest_local(rowgate, tmp_path / "jobs.csv")
    hires = "".join(f"{i},N{i},2021-01-05T10:00:00Z,{i},1\n" for i in range(1, 401)) + "401,Far,2021-01-05T10:00:00Z,100000,1\n"
    result = ingest_local(rowgate, write(tmp_path / "hired_employees.csv", hires))
    assert (result.inserted, result.rejected) == (397, 4)
    assert sorted(int(r["raw"]["department_id"]) for r in open_rejections(rowgate)) == [5, 50, 333, 100000]
