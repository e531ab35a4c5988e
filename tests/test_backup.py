"""Backups and restores: exact round trips, every damaged file refused with nothing changed, no orphans."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import fastavro
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.http import error_of
from shared.backup import BackupError, BackupNotFound, backup, list_backups
from shared.batch import insert_rows
from shared.errors import NotFound
from shared.restore import RestoreConflict, restore, restore_all

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=255)
MOMENTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999))


def rows_of(rowgate, table: str) -> list[tuple]:
    live = rowgate.metadata.tables[table]
    with rowgate.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(live).order_by(*live.primary_key.columns))]


def replace_rows(rowgate, table: str, rows: list[dict]) -> None:
    live = rowgate.metadata.tables[table]
    with rowgate.engine.begin() as conn:
        conn.execute(live.delete())
        if rows:
            conn.execute(live.insert(), rows)


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def backed(request, make_rowgate, database_url):
    storage = None if request.param == "local" else request.getfixturevalue("azurite_storage")
    rowgate = make_rowgate(database_url, storage)
    yield rowgate
    rowgate.engine.dispose()


@given(
    departments=st.lists(st.tuples(INT64, NAMES), min_size=0, max_size=30, unique_by=lambda t: t[0]),
    hires=st.lists(st.tuples(INT64, NAMES, MOMENTS), min_size=0, max_size=30, unique_by=lambda t: t[0]),
)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_restore_of_a_backup_gives_back_exactly_the_same_rows(backed, departments, hires):
    rowgate = backed
    replace_rows(rowgate, "hired_employees", [])
    replace_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    replace_rows(rowgate, "departments", [{"id": d, "department": n} for d, n in departments] or [{"id": 0, "department": "only"}])
    parent = departments[0][0] if departments else 0
    replace_rows(
        rowgate, "hired_employees", [{"id": i, "name": n, "datetime": t, "department_id": parent, "job_id": 1} for i, n, t in hires]
    )
    before = {t: rows_of(rowgate, t) for t in ("departments", "jobs", "hired_employees")}
    backup(rowgate)
    replace_rows(
        rowgate, "hired_employees", [{"id": 7, "name": "stray", "datetime": datetime(2000, 1, 1), "department_id": parent, "job_id": 1}]
    )
    departments_table = rowgate.metadata.tables["departments"]
    with rowgate.engine.begin() as conn:
        conn.execute(departments_table.update().values(department="changed"))
    restore_all(rowgate)
    assert {t: rows_of(rowgate, t) for t in before} == before


@pytest.fixture
def loaded(rowgate):
    insert_rows(rowgate, "departments", [{"id": i, "department": f"D{i}"} for i in range(1, 6)])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    insert_rows(
        rowgate,
        "hired_employees",
        [{"id": i, "name": f"N{i}", "datetime": "2021-01-01T00:00:00Z", "department_id": 1 + i % 5, "job_id": 1} for i in range(1, 301)],
    )
    [info] = backup(rowgate, ["hired_employees"])
    return rowgate, info.name


def damage(rowgate, path: str, change) -> None:
    with rowgate.storage.open_read(path) as stream:
        data = bytearray(stream.read())
    data = change(data)
    with rowgate.storage.open_write(path) as out:
        out.write(bytes(data))


def flip_last_quarter_byte(data: bytearray) -> bytearray:
    data[len(data) * 3 // 4] ^= 0xFF
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[: len(d) // 2], "damaged or truncated"),
        (flip_last_quarter_byte, "damaged"),
        (lambda d: b"not avro" + d[8:], "damaged"),
    ],
    ids=["truncated", "flipped-byte", "bad-magic"],
)
def test_a_damaged_backup_is_refused_and_the_table_is_unchanged(loaded, change, message):
    rowgate, path = loaded
    insert_rows(
        rowgate, "hired_employees", [{"id": 999, "name": "after", "datetime": "2022-01-01T00:00:00Z", "department_id": 1, "job_id": 1}]
    )
    before = rows_of(rowgate, "hired_employees")
    damage(rowgate, path, change)
    with pytest.raises(BackupError, match=message) as refused:
        restore(rowgate, "hired_employees")
    assert error_of(refused.value)[0] == 422
    assert rows_of(rowgate, "hired_employees") == before
    assert not [t for t in sa.inspect(rowgate.engine).get_table_names() if t.startswith("rowgate_stage_")]


def test_a_backup_of_another_table_is_refused(loaded):
    rowgate, path = loaded
    [other] = backup(rowgate, ["departments"])
    with rowgate.storage.open_read(other.name) as stream:
        data = stream.read()
    target = path.replace("hired_employees-", "hired_employees-9")
    with rowgate.storage.open_write(target) as out:
        out.write(data)
    with pytest.raises(BackupError, match="is a backup of 'departments', not of hired_employees"):
        restore(rowgate, "hired_employees", target.rsplit("/", 1)[1])


def test_a_backup_whose_schema_lacks_a_field_is_refused(loaded, tmp_path):
    rowgate, path = loaded
    with rowgate.storage.open_read(path) as stream:
        reader = fastavro.reader(stream)
        meta, schema, records = reader.metadata, reader.writer_schema, list(reader)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "job_id"]
    for record in records:
        record.pop("job_id")
    meta = {k: v for k, v in meta.items() if not k.startswith("avro.")}
    with rowgate.storage.open_write(path) as out:
        fastavro.writer(out, schema, records, codec="deflate", metadata=meta)
    with pytest.raises(BackupError, match=r"lacks fields \['job_id'\]"):
        restore(rowgate, "hired_employees")


def test_restoring_a_parent_that_would_orphan_children_is_refused(loaded):
    rowgate, _ = loaded
    backup(rowgate, ["departments"])
    insert_rows(rowgate, "departments", [{"id": 6, "department": "New"}])
    insert_rows(rowgate, "hired_employees", [{"id": 500, "name": "x", "datetime": "2021-01-01T00:00:00Z", "department_id": 6, "job_id": 1}])
    with pytest.raises(RestoreConflict, match="would orphan hired_employees rows") as refused:
        restore(rowgate, "departments")
    assert error_of(refused.value)[0] == 409
    assert len(rows_of(rowgate, "departments")) == 6


def test_unknown_table_or_backup_is_not_found(loaded):
    rowgate, _ = loaded
    with pytest.raises(NotFound, match="unknown table 'salaries'") as unknown:
        restore(rowgate, "salaries")
    assert error_of(unknown.value) == (404, {"code": "unknown-table", "message": unknown.value.args[0]})
    with pytest.raises(BackupNotFound, match="no backup named 'nope'"):
        restore(rowgate, "hired_employees", "nope")
    with pytest.raises(BackupNotFound, match="no backup of courses"):
        restore(rowgate, "courses")


def test_backups_list_newest_first_and_retention_keeps_n(make_rowgate):
    rowgate = make_rowgate(max_retained_backups=2)
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    for _ in range(3):
        backup(rowgate, ["jobs"])
        time.sleep(0.002)
    listed = list_backups(rowgate, "jobs")
    assert len(listed) == 2 and listed[0].created > listed[1].created and listed[0].rows == 1


def test_header_explains_the_file(loaded):
    rowgate, path = loaded
    with rowgate.storage.open_read(path) as stream:
        meta = fastavro.reader(stream).metadata
    assert meta["rowgate.table"] == "hired_employees" and meta["rowgate.rows"] == "300" and meta["avro.codec"] == "deflate"
    assert meta["rowgate.dictionary"] == rowgate.dictionary.digest and len(meta["rowgate.checksum"]) == 64


@pytest.mark.postgres
def test_readers_see_the_old_or_the_new_rows_never_a_mix(make_rowgate, postgres_url):
    rowgate = make_rowgate(postgres_url)
    insert_rows(rowgate, "departments", [{"id": 1, "department": "D"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    old = [{"id": i, "name": "old", "datetime": "2021-01-01T00:00:00Z", "department_id": 1, "job_id": 1} for i in range(1, 1001)]
    new = [{"id": i, "name": "new", "datetime": "2021-01-01T00:00:00Z", "department_id": 1, "job_id": 1} for i in range(501, 1501)]
    insert_rows(rowgate, "hired_employees", new)
    backup(rowgate, ["hired_employees"])
    replace_rows(rowgate, "hired_employees", [r | {"datetime": datetime(2021, 1, 1)} for r in old])
    seen, stop = set(), threading.Event()

    def read_loop():
        with rowgate.engine.connect() as conn:
            while not stop.is_set():
                names = conn.execute(sa.text("SELECT name, count(*), min(id) FROM hired_employees GROUP BY name")).all()
                conn.commit()
                seen.add(tuple(sorted(tuple(r) for r in names)))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for _ in range(3):
            restore(rowgate, "hired_employees")
            replace_rows(rowgate, "hired_employees", [r | {"datetime": datetime(2021, 1, 1)} for r in old])
    finally:
        stop.set()
        reader.join()
    assert seen <= {(("old", 1000, 1),), (("new", 1000, 501),)}
    assert len(seen) == 2


def test_a_failure_looking_up_the_table_is_not_called_not_found(loaded, monkeypatch):
    """restore turned any exception of the table lookup into "not found" (404): a failure is a failure."""
    rowgate, _ = loaded

    def broken(self, name):
        raise RuntimeError("the dictionary could not be read")

    monkeypatch.setattr(type(rowgate.dictionary), "table", broken)
    with pytest.raises(RuntimeError, match="could not be read"):
        restore(rowgate, "hired_employees")
