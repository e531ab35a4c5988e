"""Restores: linear plans, values checked as ingestion checks them, one complete set, the ledger set back,
and no race or refusal that ends in a 500 or a traceback."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

import azure.functions as func
import fastavro
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from functions import runtime
from functions.http import error_of
from shared import restore as restore_module
from shared.backup import META, BackupError, BackupNotFound, backup, backup_sets, list_backups, publish
from shared.batch import insert_rows
from shared.cli import main
from shared.ingest import ingest_local
from shared.restore import (
    RestoreBusy,
    RestoreConflict,
    dangling_keys,
    delete_missing,
    insert_new,
    restore,
    restore_all,
    stage_table,
    update_existing,
    upsert_staged,
)
from shared.settings import ENVIRONMENT
from tests.conftest import ROOT, registered_functions

HIRE = {"name": "N", "datetime": "2021-01-01T00:00:00Z", "department_id": 1, "job_id": 1}


def rows_of(rowgate, table: str) -> list[tuple]:
    live = rowgate.metadata.tables[table]
    with rowgate.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(live).order_by(*live.primary_key.columns))]


def count(rowgate, sql: str) -> int:
    with rowgate.engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def rewrite_backup(rowgate, path: str, edit) -> None:
    """A hand-edited backup: records changed, header and checksum made to match, so only the values are wrong."""
    with rowgate.storage.open_read(path) as stream:
        reader = fastavro.reader(stream)
        meta, schema, records = reader.metadata, reader.writer_schema, list(reader)
    records = edit(records)
    meta = {k: v for k, v in meta.items() if not k.startswith("avro.")}
    meta |= {META["rows"]: str(len(records))}
    # Written by fastavro, in small blocks, as backups were before rowgate encoded them itself: both restore.
    scratch, sync = io.BytesIO(), b"s" * 16
    fastavro.writer(scratch, schema, records, codec="deflate", sync_interval=1000, sync_marker=sync)
    scratch.seek(0)
    digest = hashlib.sha256()
    for block in fastavro.block_reader(scratch):
        digest.update(block.bytes_.getbuffer())
    scratch.seek(0)
    fastavro.block_reader(scratch)  # reads the header only: the blocks start where it stops
    blocks = io.BytesIO(scratch.read())
    with rowgate.storage.open_write(path) as out:
        publish(blocks, out, schema, meta | {META["checksum"]: digest.hexdigest()}, sync)


@pytest.fixture
def hires(rowgate):
    insert_rows(rowgate, "departments", [{"id": i, "department": f"D{i}"} for i in range(1, 4)])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": i, "name": f"N{i}"} for i in range(1, 201)])
    [info] = backup(rowgate, ["hired_employees"])
    return rowgate, info.name


# 1. Linear: every key lookup of a restore searches an index; no statement scans a table once per row.


def plan_of(conn: sa.Connection, statement) -> list[str]:
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def restore_statements(rowgate, stage_of) -> dict[str, object]:
    tables, spec = rowgate.metadata.tables, rowgate.dictionary.table("hired_employees")
    live, stage = tables["hired_employees"], stage_of(tables["hired_employees"])
    departments = stage_of(tables["departments"])
    return {
        "stage": [stage, departments],
        "delete missing": delete_missing(live, spec, stage),
        "update existing": update_existing(live, spec, stage),
        "insert new": insert_new(live, spec, stage),
        "upsert staged": upsert_staged(live, spec, stage),
        "staged child to staged parent": dangling_keys(stage, ("department_id",), departments, ("id",)),
        "live child to staged parent": dangling_keys(live, ("department_id",), departments, ("id",)),
    }


def scans(rowgate, stage_of) -> dict[str, list[str]]:
    statements = restore_statements(rowgate, stage_of)
    with rowgate.engine.connect() as conn:
        for stage in statements.pop("stage"):
            stage.create(conn)
        return {name: [line for line in plan_of(conn, statement) if line.startswith("SCAN")] for name, statement in statements.items()}


def keyless_stage(live: sa.Table) -> sa.Table:
    """The staging table as it was: no key, so every lookup in it is a scan."""
    return sa.Table(f"keyless_{live.name}", sa.MetaData(), *(sa.Column(c.name, c.type) for c in live.columns), prefixes=["TEMPORARY"])


def test_restore_statements_search_the_staging_key_instead_of_scanning_it_per_row(make_rowgate):
    rowgate = make_rowgate()
    planned = scans(rowgate, lambda live: stage_table(live, "plan", "sqlite"))
    assert all(len(found) <= 1 for found in planned.values()), planned  # one pass over one table, the rest index searches
    # The same check catches the quadratic plan the keyless staging table had: a scan inside the per-row subquery.
    assert any(len(found) > 1 for found in scans(rowgate, keyless_stage).values())


# 2. A concurrent ingest goes on while a restore stages (SQLite): it does not wait for the restore, nor fail.

GATED_RESTORE = """
import sys, time
from pathlib import Path
from shared.context import open_rowgate
from shared.restore import restore
from shared.settings import from_environment

rowgate = open_rowgate(from_environment())
gate = Path(sys.argv[1])
opened = rowgate.storage.open_read

class Held:
    # The backup's bytes arrive only once the test opens the gate: a slow read, with the restore mid-staging.
    def __init__(self, stream):
        self.stream = stream
    def read(self, *args):
        print("staging", flush=True)
        while not gate.exists():
            time.sleep(0.05)
        return self.stream.read(*args)
    def __getattr__(self, name):
        return getattr(self.stream, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.stream.close()

rowgate.storage.open_read = lambda path: Held(opened(path))
result = restore(rowgate, "hired_employees")
print("restored", result.rows, result.loads_undone, flush=True)
"""


def test_an_ingest_runs_while_a_restore_stages_instead_of_failing_with_database_is_locked(tmp_path, make_rowgate):
    database = tmp_path / "rowgate.db"
    rowgate = make_rowgate(f"sqlite:///{database}")
    insert_rows(rowgate, "departments", [{"id": 1, "department": "D"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": i} for i in range(1, 101)])
    backup(rowgate, ["hired_employees"])
    later = tmp_path / "hired_employees.csv"
    later.write_text("".join(f"{i},Later {i},2022-01-01T00:00:00Z,1,1\n" for i in range(1000, 1050)))
    env = {**os.environ, "ROWGATE_DATABASE_URL": f"sqlite:///{database}", "ROWGATE_STORAGE": str(tmp_path / "storage")}
    gate = tmp_path / "gate"
    restoring = subprocess.Popen(
        [sys.executable, "-c", GATED_RESTORE, str(gate)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert restoring.stdout.readline().strip() == "staging"
        ingest = subprocess.run(
            [sys.executable, "-m", "shared.cli", "ingest", str(later)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
        )
        assert restoring.poll() is None, "the restore was still staging all along"
        assert ingest.returncode == 0, ingest.stderr
        assert "inserted 50, unchanged 0, rejected 0" in ingest.stdout
    finally:
        gate.touch()
        output, errors = restoring.communicate(timeout=60)
    assert restoring.returncode == 0, errors
    # The ingest committed before the restore replaced the table: its rows are gone and so is its ledger entry.
    assert output.strip().splitlines()[-1] == "restored 100 1"
    assert count(rowgate, "SELECT count(*) FROM hired_employees") == 100
    again = ingest_local(rowgate, later)
    assert (again.status, again.inserted) == ("loaded", 50)


# 3. One set, one snapshot.


def test_restore_all_takes_the_newest_complete_set_and_the_listing_marks_incomplete_ones(rowgate):
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Old"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": 1}])
    backup(rowgate)
    before = {t: rows_of(rowgate, t) for t in ("departments", "jobs", "hired_employees")}
    insert_rows(rowgate, "departments", [{"id": 2, "department": "New"}])
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": 2, "department_id": 2}])
    time.sleep(0.002)
    infos = backup(rowgate)
    rowgate.storage.delete(next(i.name for i in infos if i.table == "hired_employees"))  # an interrupted set
    time.sleep(0.002)
    backup(rowgate, ["departments"])  # a set of one table
    newest, interrupted, whole = backup_sets(rowgate)
    assert (newest.complete, interrupted.complete, whole.complete) == (False, False, True)
    assert interrupted.missing == ["hired_employees"] and "jobs" in newest.missing
    listed = list_backups(rowgate, "departments")
    assert [i.set_complete for i in listed] == [False, False, True]

    results = restore_all(rowgate)
    assert {r.backup.rsplit("-", 1)[1] for r in results} == {whole.at + ".avro"}, "every table from the one complete set"
    assert {t: rows_of(rowgate, t) for t in before} == before


def test_restore_all_refuses_when_no_set_is_complete(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    backup(rowgate, ["jobs", "departments"])
    with pytest.raises(
        BackupNotFound, match=r"no complete backup set \(\d+T\d+Z lacks hired_employees, categories, levels, courses\)"
    ) as refused:
        restore_all(rowgate)
    assert error_of(refused.value)[0] == 404


KILLED_BACKUP = """
import os, signal
from shared import backup
from shared.context import open_rowgate
from shared.settings import from_environment

write = backup.write_backup
def write_then_die(rowgate, conn, spec, at, progress=None):
    info = write(rowgate, conn, spec, at, progress)
    if spec.name == "jobs":
        os.kill(os.getpid(), signal.SIGKILL)
    return info
backup.write_backup = write_then_die
backup.backup(open_rowgate(from_environment()))
"""


def test_a_backup_killed_midway_leaves_an_incomplete_set_that_restore_all_passes_over(tmp_path, make_rowgate):
    database, storage = tmp_path / "k.db", tmp_path / "storage"
    rowgate = make_rowgate(f"sqlite:///{database}", str(storage))
    insert_rows(rowgate, "departments", [{"id": 1, "department": "D"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Old"}])
    backup(rowgate)
    insert_rows(rowgate, "jobs", [{"id": 2, "job": "New"}])
    env = {**os.environ, "ROWGATE_DATABASE_URL": f"sqlite:///{database}", "ROWGATE_STORAGE": str(storage)}
    killed = subprocess.run([sys.executable, "-c", KILLED_BACKUP], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    interrupted, whole = backup_sets(rowgate)
    assert sorted(interrupted.backups) == ["departments", "jobs"] and not interrupted.complete and whole.complete
    listing = CliRunner().invoke(main, ["backups"], env=env)
    assert f"{interrupted.at}  INCOMPLETE  hired_employees, categories, levels, courses" in listing.output
    restored = CliRunner().invoke(main, ["restore", "--all"], env=env)
    assert restored.exit_code == 0, restored.output
    assert whole.at in restored.output and interrupted.at not in restored.output
    assert rows_of(rowgate, "jobs") == [(1, "Old")]


# 4. and 5. A restore checks values as ingestion does and refuses the file with one clear line.


def long_name(records):
    records[2]["name"] = "x" * 5000
    return records


def empty_name(records):
    records[4]["name"] = ""
    return records


def repeated_key(records):
    records[9]["id"] = records[3]["id"]
    return records


def nul_in_name(records):
    records[6]["name"] = "a\x00b"
    return records


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (long_name, "record 3: name: constraint-error: name is 5000 characters long; maxLength is 255"),
        (empty_name, "record 5: name: constraint-error: name is required and is empty"),
        (repeated_key, "record 10: key: primary-key: id 4 appears again (first in record 4)"),
        (nul_in_name, "record 7: name: type-error: name contains a NUL character"),
    ],
    ids=["5000-characters", "empty-required", "duplicate-key", "nul"],
)
def test_a_hand_edited_backup_is_refused_naming_record_field_and_reason_and_nothing_changes(hires, edit, message):
    rowgate, path = hires
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": 999}])
    before = rows_of(rowgate, "hired_employees")
    rewrite_backup(rowgate, path, edit)
    with pytest.raises(BackupError) as refused:
        restore(rowgate, "hired_employees")
    assert error_of(refused.value)[0] == 422 and message in str(refused.value) and "\n" not in str(refused.value)
    assert rows_of(rowgate, "hired_employees") == before


def test_a_key_repeated_in_a_later_batch_is_refused_too(hires, monkeypatch):
    rowgate, path = hires
    monkeypatch.setattr(restore_module, "BATCH", 50)
    rewrite_backup(rowgate, path, lambda records: records + [records[0] | {"name": "again"}])
    with pytest.raises(BackupError, match=r"record 201: key: primary-key: id 1 appears again \(in an earlier record\)"):
        restore(rowgate, "hired_employees")
    assert len(rows_of(rowgate, "hired_employees")) == 200


@pytest.mark.parametrize("kept", [restore_module.REFERENCED, 0], ids=["values-kept-while-staging", "staged-rows-read-again"])
def test_restored_rows_pointing_at_missing_parents_are_refused_and_nothing_changes(hires, monkeypatch, kept):
    rowgate, path = hires
    monkeypatch.setattr(restore_module, "REFERENCED", kept)
    monkeypatch.setattr(restore_module, "BATCH", 50)  # the unknown parents in two batches

    def unknown_departments(records):
        records[30]["department_id"], records[120]["department_id"] = 99, 98
        return records

    rewrite_backup(rowgate, path, unknown_departments)
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": 999}])
    before = rows_of(rowgate, "hired_employees")
    with pytest.raises(RestoreConflict, match="hired_employees rows would reference departments keys that do not exist") as refused:
        restore(rowgate, "hired_employees")
    assert error_of(refused.value)[0] == 409 and "98" in str(refused.value) and "99" in str(refused.value)
    assert rows_of(rowgate, "hired_employees") == before


def test_a_datetime_outside_years_1_to_9999_is_refused(hires):
    rowgate, path = hires

    def year_10000(records):
        records[1]["datetime"] = 253402300800 * 10**6  # microseconds: 10000-01-01, which no column holds
        return records

    rewrite_backup(rowgate, path, year_10000)
    with pytest.raises(BackupError, match="record 2: datetime: type-error: datetime is outside the years 1 to 9999"):
        restore(rowgate, "hired_employees")


def test_cli_and_http_refuse_a_bad_backup_with_one_line_422_and_exit_1(hires, monkeypatch):
    rowgate, path = hires
    rewrite_backup(rowgate, path, long_name)
    env = {"ROWGATE_DATABASE_URL": rowgate.settings.database_url, "ROWGATE_STORAGE": rowgate.settings.storage}
    refused = CliRunner().invoke(main, ["restore", "hired_employees"], env=env)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.output.strip().count("\n") == 0 and "name is 5000 characters long" in refused.output
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(rowgate.settings, name)))
    runtime.rowgate.cache_clear()
    try:
        # POST .../restore answers 202 and runs this activity in the restore_job orchestration: its output is the refusal.
        activity = registered_functions()["restore_backup"].get_user_function()
        output = activity({"table": "hired_employees", "backup": None})
    finally:
        runtime.rowgate().engine.dispose()
        runtime.rowgate.cache_clear()
    assert output["error"]["status"] == 422
    assert "name is 5000 characters long" in output["error"]["message"] and "\n" not in output["error"]["message"]


# 6. A restore racing batches into a child table: 409 or success, never anything else.


@pytest.mark.postgres
def test_a_parent_restore_racing_child_batches_answers_409_or_succeeds(make_rowgate, postgres_url):
    rowgate = make_rowgate(postgres_url)
    insert_rows(rowgate, "departments", [{"id": 1, "department": "D"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    backup(rowgate, ["departments"])  # without department 2
    hires = rowgate.metadata.tables["hired_employees"]
    outcomes = {"restored": 0, "conflict": 0, "batch refused": 0}
    rng = random.Random(8)
    for round_ in range(30):
        with rowgate.engine.begin() as conn:
            conn.execute(hires.delete().where(hires.c.department_id == 2))
        insert_rows(rowgate, "departments", [{"id": 2, "department": "Temporary"}])
        start = threading.Barrier(2)

        def batches(round_=round_, start=start):
            start.wait()
            time.sleep(rng.random() * 0.01)
            for k in range(3):
                try:
                    insert_rows(rowgate, "hired_employees", [HIRE | {"id": round_ * 10 + k, "department_id": 2}])
                except Exception:  # noqa: BLE001 - a batch losing the race is the batch side's issue; here the restore's answer counts
                    outcomes["batch refused"] += 1

        thread = threading.Thread(target=batches)
        thread.start()
        start.wait()
        try:
            restore(rowgate, "departments")
            outcomes["restored"] += 1
        except (RestoreConflict, RestoreBusy) as exc:
            assert "would orphan hired_employees" in str(exc) or "changed while restoring" in str(exc) or "being loaded" in str(exc)
            outcomes["conflict"] += 1
        thread.join()
        with rowgate.engine.connect() as conn:
            orphans = conn.execute(
                sa.text("SELECT count(*) FROM hired_employees h LEFT JOIN departments d ON d.id = h.department_id WHERE d.id IS NULL")
            )
            assert orphans.scalar_one() == 0
    assert outcomes["restored"] + outcomes["conflict"] == 30 and outcomes["conflict"] > 0, outcomes


# 7. The ledger describes what is in the table after a restore.


def test_a_file_whose_rows_a_restore_removed_loads_again(rowgate, tmp_path):
    insert_rows(rowgate, "departments", [{"id": 1, "department": "D"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    first, second = tmp_path / "a" / "hired_employees.csv", tmp_path / "b" / "hired_employees.csv"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("".join(f"{i},A {i},2021-01-01T00:00:00Z,1,1\n" for i in range(1, 11)))
    second.write_text("".join(f"{i},B {i},2021-01-01T00:00:00Z,1,1\n" for i in range(11, 21)) + "21,,2021-01-01T00:00:00Z,1,1\n")
    assert ingest_local(rowgate, first).inserted == 10
    backup(rowgate, ["hired_employees"])
    loaded = ingest_local(rowgate, second)
    assert (loaded.inserted, loaded.rejected) == (10, 1)
    [result] = [restore(rowgate, "hired_employees")]
    assert (result.deleted, result.loads_undone) == (10, 1)
    assert ingest_local(rowgate, first).status == "already-loaded", "A's rows are in the backup: A stays loaded"
    again = ingest_local(rowgate, second)
    assert (again.status, again.inserted, again.rejected) == ("loaded", 10, 1)
    assert count(rowgate, "SELECT count(*) FROM hired_employees") == 20
    assert count(rowgate, f"SELECT count(*) FROM rowgate_rejections WHERE source = '{second.resolve()}'") == 1, "logged once"


def test_a_restore_refuses_while_a_load_of_the_table_is_running(hires):
    rowgate, _ = hires
    loads = rowgate.metadata.tables["rowgate_loads"]
    with rowgate.engine.begin() as conn:
        conn.execute(
            loads.insert().values(
                table_name="hired_employees",
                source="elsewhere:big.csv",
                content_hash="x",
                status="loading",
                started_at=datetime(2026, 1, 1),
                claimed_by="another-host:1",
                claimed_until=datetime(9999, 1, 1),
            )
        )
    with pytest.raises(RestoreBusy, match="being loaded from elsewhere:big.csv by another-host:1") as refused:
        restore(rowgate, "hired_employees")
    assert error_of(refused.value)[0] == 409


def test_retention_keeps_the_newest_complete_set_whatever_came_after(make_rowgate):
    rowgate = make_rowgate(max_retained_backups=2)
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    backup(rowgate)
    for _ in range(3):
        time.sleep(0.002)
        backup(rowgate, ["jobs"])
    [whole] = [s for s in backup_sets(rowgate) if s.complete]
    assert len(list_backups(rowgate, "jobs")) == 3, "the two newest, and the one of the complete set"
    assert restore_all(rowgate)[0].backup.endswith(f"{whole.at}.avro")


def test_the_http_listing_shows_sets_and_marks_incomplete_ones(make_rowgate, monkeypatch):
    rowgate = make_rowgate()
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "J"}])
    backup(rowgate)
    time.sleep(0.002)
    backup(rowgate, ["jobs"])
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(rowgate.settings, name)))
    runtime.rowgate.cache_clear()
    try:
        handler = registered_functions()["list_backups"].get_user_function()
        answer = json.loads(handler(func.HttpRequest("GET", "/api/backups", body=b"")).get_body())
    finally:
        runtime.rowgate().engine.dispose()
        runtime.rowgate.cache_clear()
    partial, whole = answer["sets"]
    assert (partial["complete"], partial["tables"], whole["complete"], whole["missing"]) == (False, ["jobs"], True, [])
    assert {(b["table"], b["set_complete"]) for b in answer["backups"] if b["created"] == partial["at"]} == {("jobs", False)}


@pytest.mark.postgres
def test_a_restore_whose_connection_is_killed_midway_is_retried_and_completes(make_rowgate, postgres_url, monkeypatch):
    rowgate = make_rowgate(postgres_url)
    insert_rows(rowgate, "departments", [{"id": i, "department": f"D{i}"} for i in range(1, 51)])
    backup(rowgate, ["departments"])
    insert_rows(rowgate, "departments", [{"id": 99, "department": "later"}])
    admin = sa.create_engine(postgres_url)
    locks, attempts = restore_module.lock_tables, []

    def terminated_once(conn, *args):
        attempts.append(1)
        if len(attempts) == 1:  # the first attempt loses its server process after staging, mid-transaction
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with admin.begin() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        return locks(conn, *args)

    monkeypatch.setattr(restore_module, "lock_tables", terminated_once)
    try:
        result = restore(rowgate, "departments")
    finally:
        admin.dispose()
    assert len(attempts) == 2 and (result.rows, result.deleted) == (50, 1)
    assert len(rows_of(rowgate, "departments")) == 50


def test_two_restores_of_a_table_at_once_both_finish_and_agree(hires):
    rowgate, _ = hires
    expected = rows_of(rowgate, "hired_employees")
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": i} for i in range(500, 600)])
    results, failures = [], []

    def run():
        try:
            results.append(restore(rowgate, "hired_employees"))
        except Exception as exc:  # noqa: BLE001 - counted: there must be none
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and len(results) == 2
    assert sorted(r.deleted for r in results) == [0, 100], "one removed the later rows, the other found nothing to do"
    assert rows_of(rowgate, "hired_employees") == expected


def test_a_restore_reports_the_true_counts_on_every_backend(hires):
    """SQLAlchemy answered rowcount -1 for psycopg's INSERT ... SELECT (it keeps rowcount reliably only for UPDATE
    and DELETE): the counts a restore prints must be the rows it changed, on every backend."""
    rowgate, name = hires
    live = rowgate.metadata.tables["hired_employees"]
    with rowgate.engine.begin() as conn:
        conn.execute(live.delete().where(live.c.id <= 30))  # 30 to insert back
        conn.execute(live.update().where(live.c.id.between(31, 50)).values(name="changed"))  # 20 to set back
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": i} for i in range(1000, 1007)])  # 7 to delete
    result = restore(rowgate, "hired_employees", name)
    assert (result.rows, result.inserted, result.updated, result.deleted) == (200, 30, 20, 7)
    assert len(rows_of(rowgate, "hired_employees")) == 200


def test_a_later_batch_refused_while_an_earlier_one_is_staged_leaves_nothing(hires, monkeypatch):
    """Batches are decoded and checked in a thread one ahead of the staging: a refusal there reaches the restore,
    after earlier batches were staged, and nothing changes (no live row, no staging table left)."""
    rowgate, path = hires
    monkeypatch.setattr(restore_module, "BATCH", 50)

    def bad_name_late(records):
        records[170]["name"] = ""
        return records

    rewrite_backup(rowgate, path, bad_name_late)
    insert_rows(rowgate, "hired_employees", [HIRE | {"id": 999}])
    before = rows_of(rowgate, "hired_employees")
    with pytest.raises(BackupError, match="record 171: name: constraint-error"):
        restore(rowgate, "hired_employees")
    assert rows_of(rowgate, "hired_employees") == before
    assert not [t for t in sa.inspect(rowgate.engine).get_table_names() if t.startswith("rowgate_stage_")]
