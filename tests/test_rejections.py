"""Find, fix, re-drive without SQL: the rejections core (shared/rejections.py), its HTTP routes over a real dev
host, and `rowgate rejections ...`; races on PostgreSQL with real competing transactions."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from functions import runtime
from shared import rejections
from shared.batch import insert_rows
from shared.cli import main
from shared.db import REJECTIONS, build_metadata, source_digest
from shared.dictionary import load as load_dictionary
from shared.errors import EXTRA_CELLS, Conflict, InputRefused, NotFound
from shared.ingest import ingest_local, ingest_stored
from shared.replay import replay
from shared.settings import Settings
from tests.api_host import live_host
from tests.test_concurrency_api import Held


def hire(i: int, department: int, name: str = "Ann", job: int = 1) -> dict:
    return {"id": i, "name": name, "datetime": "2021-05-01T10:00:00Z", "department_id": department, "job_id": job}


def rows_of(rowgate, table: str) -> list[tuple]:
    with rowgate.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(rowgate.metadata.tables[table]).order_by(sa.text("1")))]


def only(page: dict) -> dict:
    [record] = page["rejections"]
    return record


@pytest.fixture
def refused_file(rowgate, tmp_path):
    """departments.csv with one good row and one of each kind of refusal, loaded."""
    (tmp_path / "departments.csv").write_text("1,Sales\n2,\n3,Ops,Berlin\nx,Bad\n")
    assert ingest_local(rowgate, tmp_path / "departments.csv").rejected == 3
    return tmp_path / "departments.csv"


def test_a_record_says_where_why_and_that_it_is_open_with_raw_keyed_by_field(rowgate, refused_file):
    page = rejections.find(rowgate, "departments")
    assert [r["row_number"] for r in page["rejections"]] == [4, 3, 2] and page["next"] is None
    extra = page["rejections"][1]
    assert extra["raw"] == {"id": "3", "department": "Ops", EXTRA_CELLS: ["Berlin"]}  # a list of cells as stored, an object here
    assert extra["errors"][0]["code"] == "extra-cell" and extra["source"] == str(refused_file.resolve())
    assert (extra["retryable"], extra["resolved_at"], extra["resolution"], extra["fix"]) == (False, None, None, None)
    assert set(extra) == {
        "id",
        "table",
        "source",
        "row_number",
        "raw",
        "errors",
        "retryable",
        "created_at",
        "resolved_at",
        "resolution",
        "fix",
    }
    assert rejections.get(rowgate, extra["id"]) == extra


def test_api_batch_rows_are_numbered_from_1_like_a_files(rowgate):
    result = insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}, {"id": "x", "department": "Bad"}])
    assert result.rejections[0]["index"] == 1  # its place in the request
    assert only(rejections.find(rowgate, "departments"))["row_number"] == 2


def test_pages_are_keyset_newest_first_and_filters_combine(rowgate):
    insert_rows(rowgate, "departments", [{"id": "x", "department": f"D{i}"} for i in range(7)], request_id="types")
    insert_rows(rowgate, "jobs", [{"id": i, "job": ""} for i in range(1, 4)], request_id="blank-jobs")
    insert_rows(rowgate, "hired_employees", [hire(1, 9)], request_id="orphan")
    seen, after = [], None
    while True:
        page = rejections.find(rowgate, "departments", after=after, limit=3)
        seen += [r["id"] for r in page["rejections"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 7
    assert len(rejections.find(rowgate, limit=1000)["rejections"]) == 11
    assert [r["table"] for r in rejections.find(rowgate, code="foreign-key")["rejections"]] == ["hired_employees"]
    assert len(rejections.find(rowgate, code="constraint-error", source="api:blank-jobs")["rejections"]) == 3
    assert rejections.find(rowgate, "jobs", code="type-error")["rejections"] == []
    assert rejections.find(rowgate, status="resolved")["rejections"] == []
    assert rejections.find(rowgate, after=1)["rejections"] == []


def test_an_error_code_inside_a_message_does_not_match_the_code_filter(rowgate):
    insert_rows(rowgate, "departments", [{"id": 1, "department": 'x", "code": "foreign-key'}, {"id": 2, "department": ["y"]}])
    assert rejections.find(rowgate, code="foreign-key")["rejections"] == []
    assert len(rejections.find(rowgate, code="type-error")["rejections"]) == 1


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"status": "closed"}, "status must be one of open, resolved, all"),
        ({"code": "Foreign%"}, "code must be an error code"),
        ({"limit": 1001}, "limit must be from 1 to 1000"),
        ({"limit": 0}, "limit must be from 1 to 1000"),
        ({"after": 2**63}, "after must be a rejection id"),
    ],
)
def test_bad_arguments_are_refused_naming_them(rowgate, arguments, says):
    with pytest.raises(InputRefused, match=says):
        rejections.find(rowgate, **arguments)


def test_a_fix_loads_the_row_and_keeps_raw_and_the_fix(rowgate, refused_file):
    blank = only(rejections.find(rowgate, "departments", code="constraint-error"))
    result = rejections.fix(rowgate, blank["id"], {"department": "Legal"})
    assert (result.status, result.errors) == ("loaded", [])
    assert (2, "Legal") in rows_of(rowgate, "departments")
    record = result.rejection
    assert record["raw"] == {"id": "2", "department": ""} and record["fix"] == {"department": "Legal"}
    assert (record["resolution"], record["resolved_at"] is not None) == ("fixed", True)
    assert record["errors"] == blank["errors"]  # why it was refused stays on the record
    assert only(rejections.find(rowgate, "departments", status="resolved"))["id"] == blank["id"]
    with pytest.raises(Conflict, match="was resolved \\(fixed\\)"):
        rejections.fix(rowgate, blank["id"], {"department": "Other"})
    assert (2, "Legal") in rows_of(rowgate, "departments")


def test_a_fix_refused_again_stays_open_with_the_new_reasons_and_fixes_add_up(rowgate, refused_file):
    bad = only(rejections.find(rowgate, "departments", code="type-error"))
    first = rejections.fix(rowgate, bad["id"], {"id": "1"})  # id 1 is Sales
    assert first.status == "refused" and [e["code"] for e in first.errors] == ["primary-key"]
    assert first.rejection["errors"] == first.errors and first.rejection["resolved_at"] is None
    second = rejections.fix(rowgate, bad["id"], {"department": "Sales"})  # laid over the first fix: id 1, Sales
    assert (second.status, second.rejection["fix"]) == ("unchanged", {"id": "1", "department": "Sales"})
    assert second.rejection["resolution"] == "fixed" and rows_of(rowgate, "departments") == [(1, "Sales")]


def test_a_row_refused_for_its_shape_is_left_by_replay_and_loads_once_fixed(rowgate, refused_file):
    [result] = replay(rowgate, "departments")
    assert (result.replayed, result.resolved, result.need_a_fix) == (2, 0, 1)
    extra = only(rejections.find(rowgate, "departments", code="extra-cell"))
    assert rejections.fix(rowgate, extra["id"], {"department": "Ops Berlin"}).status == "loaded"
    assert (3, "Ops Berlin") in rows_of(rowgate, "departments")


def test_replay_never_loads_a_batch_value_of_the_wrong_json_type_as_its_text(rowgate):
    """Replay made cells of raw values with str(): ["x", "y"] loaded as the text "['x', 'y']", and a field the
    table lacks was dropped without a word."""
    insert_rows(rowgate, "departments", [{"id": 5, "department": ["x", "y"]}, {"id": 6, "department": "Ops", "extra": "Berlin"}])
    [result] = replay(rowgate, "departments")
    assert (result.resolved, result.still_refused, result.need_a_fix) == (0, 1, 1)
    assert rows_of(rowgate, "departments") == []


@pytest.mark.parametrize(
    ("values", "error", "says"),
    [
        ({}, InputRefused, "give the corrected values"),
        ({"salary": 5}, InputRefused, "departments has no field 'salary'"),
        ([("id", 1)], InputRefused, "give the corrected values"),
    ],
)
def test_a_fix_naming_no_field_or_an_unknown_one_changes_nothing(rowgate, refused_file, values, error, says):
    blank = only(rejections.find(rowgate, "departments", code="constraint-error"))
    with pytest.raises(error, match=says):
        rejections.fix(rowgate, blank["id"], values)
    assert rejections.get(rowgate, blank["id"]) == blank


def test_an_unknown_rejection_is_not_found(rowgate):
    for rejection_id in (1, 2**63 - 1, 0, -1, 2**63, True):
        with pytest.raises(NotFound):
            rejections.get(rowgate, rejection_id)
        with pytest.raises(NotFound):
            rejections.fix(rowgate, rejection_id, {"id": 1})


def test_a_fix_whose_parent_is_missing_stays_open_and_loads_as_fixed_when_the_parent_lands(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}])
    [refused] = insert_rows(rowgate, "hired_employees", [hire(1, 1, name="x" * 300)]).rejections
    record = only(rejections.find(rowgate, "hired_employees"))
    result = rejections.fix(rowgate, record["id"], {"name": "Ann", "department_id": 9})
    assert result.status == "refused" and [e["code"] for e in result.errors] == ["foreign-key"]
    assert result.rejection["retryable"] is True and result.rejection["resolved_at"] is None
    insert_rows(rowgate, "departments", [{"id": 9, "department": "Ops"}])  # re-drives the rows waiting for it
    record = rejections.get(rowgate, record["id"])
    assert record["resolution"] == "redriven" and record["fix"] == {"name": "Ann", "department_id": 9}
    assert [(row[0], row[1], row[3]) for row in rows_of(rowgate, "hired_employees")] == [(1, "Ann", 9)]
    assert refused["errors"][0]["code"] == "constraint-error"


def test_a_fixed_parent_redrives_the_children_waiting_for_it(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    insert_rows(rowgate, "departments", [{"id": 7, "department": ""}])
    insert_rows(rowgate, "hired_employees", [hire(1, 7), hire(2, 7)])
    parent = only(rejections.find(rowgate, "departments"))
    assert rejections.fix(rowgate, parent["id"], {"department": "Ops"}).status == "loaded"
    assert [row[0] for row in rows_of(rowgate, "hired_employees")] == [1, 2]
    assert rejections.find(rowgate)["rejections"] == []


def test_a_restore_reopens_a_fixed_rejection_and_a_redrive_loads_it_as_fixed(rowgate, refused_file):
    from shared import backup, restore

    backup.backup(rowgate, ["departments"])
    time.sleep(0.01)
    blank = only(rejections.find(rowgate, "departments", code="constraint-error"))
    rejections.fix(rowgate, blank["id"], {"department": "Legal"})
    restore.restore(rowgate, "departments")
    reopened = rejections.get(rowgate, blank["id"])
    assert (reopened["resolved_at"], reopened["resolution"], reopened["fix"]) == (None, None, {"department": "Legal"})
    replay(rowgate, "departments")
    assert (2, "Legal") in rows_of(rowgate, "departments") and rejections.get(rowgate, blank["id"])["resolution"] == "redriven"


def test_export_of_a_files_open_rejections_is_its_rejected_csv_byte_for_byte(make_rowgate, tmp_path, challenge):
    """One writer for both, so the two cannot drift."""
    rowgate = make_rowgate()
    with rowgate.storage.open_write("landing/hired_employees.csv") as out:
        out.write((challenge / "hired_employees.csv").read_bytes())
    assert ingest_stored(rowgate, "landing/hired_employees.csv").rejected == 1999  # no parents yet: every row waits
    [written] = [path for path in rowgate.storage.list("rejected/") if path.endswith(".rejected.csv")]
    with rowgate.storage.open_read(written) as stream:
        on_arrival = stream.read()
    out = io.BytesIO()
    assert rejections.export(rowgate, out, "hired_employees") == 1999
    assert out.getvalue() == on_arrival
    rowgate.engine.dispose()


def test_export_shows_a_fixed_row_with_its_fix_and_only_open_ones_by_default(rowgate, refused_file):
    blank = only(rejections.find(rowgate, "departments", code="constraint-error"))
    rejections.fix(rowgate, blank["id"], {"department": "Legal"})
    open_only, everything = io.BytesIO(), io.BytesIO()
    assert rejections.export(rowgate, open_only, "departments") == 2
    assert rejections.export(rowgate, everything, "departments", open_only=False) == 3
    assert '"2","2","Legal","","constraint-error: department is required and is empty"' in everything.getvalue().decode()
    assert "Legal" not in open_only.getvalue().decode()


def test_a_database_of_mains_schema_gets_resolution_and_fix_and_batch_rows_numbered_from_1(make_rowgate, database_url):
    """Main before this change: no resolution or fix column, batch rows numbered from 0."""
    engine = sa.create_engine(database_url)
    metadata = build_metadata(load_dictionary())
    with engine.begin() as conn:
        metadata.create_all(conn)
        for name in ("resolution", "fix"):
            conn.exec_driver_sql(f"ALTER TABLE {REJECTIONS} DROP COLUMN {name}")
        names = ("table_name", "source", "source_digest", "row_number", "raw", "reasons", "retryable", "created_at")
        old = sa.table(REJECTIONS, *(sa.column(name) for name in names))
        reason = '[{"field": "id", "code": "type-error", "message": "no"}]'
        for source, number in (("api:abc", 0), ("api:abc", 1), ("landing/departments.csv", 2)):
            row = ("departments", source, source_digest(source), number, '{"id": "x"}', reason, False, sa.func.now())
            conn.execute(old.insert().values(dict(zip(names, row))))
    engine.dispose()
    for _ in range(2):  # the second start changes nothing
        rowgate = make_rowgate(database_url)
        numbers = {(r["source"], r["row_number"]) for r in rejections.find(rowgate)["rejections"]}
        assert numbers == {("api:abc", 1), ("api:abc", 2), ("landing/departments.csv", 2)}
        rowgate.engine.dispose()
    record = rejections.find(rowgate, source="landing/departments.csv")["rejections"][0]
    assert rejections.fix(rowgate, record["id"], {"id": "4", "department": "Ops"}).status == "loaded"
    rowgate.engine.dispose()


# Over HTTP


@pytest.fixture
def api(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, _host), httpx.Client(base_url=f"{url}/api", timeout=60) as client:
        yield client


def test_find_fix_and_see_it_resolved_over_http(api):
    api.post("/tables/departments/rows", json=[{"id": 1, "department": "Sales"}, {"id": 2, "department": ""}])
    page = api.get("/rejections", params={"table": "departments", "error": "constraint-error"}).json()
    [record] = page["rejections"]
    assert page["next"] is None and record["row_number"] == 2 and record["raw"] == {"id": "2", "department": ""}
    assert api.get(f"/rejections/{record['id']}").json() == record
    fixed = api.patch(f"/rejections/{record['id']}", json={"values": {"department": "Legal"}})
    assert fixed.status_code == 200 and fixed.json()["status"] == "loaded"
    assert fixed.json()["rejection"]["resolution"] == "fixed"
    assert api.get("/tables/departments/rows").json()["rows"][1] == {"id": 2, "department": "Legal"}
    assert api.get("/rejections").json() == {"rejections": [], "next": None}
    assert [r["id"] for r in api.get("/rejections", params={"status": "resolved"}).json()["rejections"]] == [record["id"]]
    again = api.patch(f"/rejections/{record['id']}", json={"values": {"department": "Law"}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert api.get("/rejections", params={"code": "constraint-error", "status": "all"}).json()["rejections"][0]["id"] == record["id"]


def test_a_refused_fix_answers_200_with_its_reasons(api):
    api.post("/tables/departments/rows", json=[{"id": "x", "department": "Bad"}])
    [record] = api.get("/rejections").json()["rejections"]
    response = api.patch(f"/rejections/{record['id']}", json={"values": {"id": "still-bad"}})
    assert response.status_code == 200
    assert response.json()["status"] == "refused" and response.json()["errors"][0]["code"] == "type-error"
    assert response.json()["rejection"]["fix"] == {"id": "still-bad"}


def test_next_pages_through_every_rejection_once_over_http(api):
    api.post("/tables/departments/rows", json=[{"id": "x", "department": f"D{i}"} for i in range(25)])
    seen, params = [], {"limit": 10}
    while True:
        page = api.get("/rejections", params=params).json()
        seen += [r["id"] for r in page["rejections"]]
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert len(seen) == len(set(seen)) == 25 and seen == sorted(seen, reverse=True)


# Races on PostgreSQL, over real HTTP


def wait_until_waiting(held: Held, sessions: int, timeout: float = 30) -> None:
    """Until `sessions` sessions wait behind the held transaction: on it, or on one that waits on it (a second
    waiter for a row lock queues behind the first)."""
    query = sa.text("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")
    deadline = time.monotonic() + timeout
    with runtime.rowgate().engine.connect() as probe:
        while True:
            blocked = dict(probe.execute(query).all())
            probe.rollback()  # pg_stat_activity is a snapshot per transaction
            behind = {held.pid}
            while grown := {pid for pid, by in blocked.items() if set(by) & behind} - behind:
                behind |= grown
            if len(behind) - 1 >= sessions:
                return
            assert time.monotonic() < deadline, f"fewer than {sessions} sessions waited on the held transaction"
            time.sleep(0.02)


def raced(held: Held, *calls) -> list:
    """Run the calls at once while `held` is open; commit it once all of them wait on it; their results."""
    threads, results = in_threads(*calls)
    try:
        wait_until_waiting(held, len(calls))
    finally:
        held.commit()
        for thread in threads:
            thread.join(timeout=60)
    return results


@pytest.fixture
def pg_api(monkeypatch, tmp_path, postgres_url):
    settings = Settings(database_url=postgres_url, storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, _host), httpx.Client(base_url=f"{url}/api", timeout=120) as client:
        yield client


def in_threads(*calls) -> tuple[list[threading.Thread], list]:
    """Start each call in a thread of its own: the threads, and the list their results land in."""
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return threads, results


@pytest.mark.postgres
def test_two_fixes_of_one_rejection_at_once_load_it_once(pg_api):
    pg_api.post("/tables/departments/rows", json=[{"id": 1, "department": ""}])
    [record] = pg_api.get("/rejections").json()["rejections"]
    held = Held([f"SELECT 1 FROM rowgate_rejections WHERE id = {record['id']} FOR UPDATE"])
    answers = raced(
        held, *(lambda name=name: pg_api.patch(f"/rejections/{record['id']}", json={"values": {"department": name}}) for name in "AB")
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    [winner] = [a.json() for a in answers if a.status_code == 200]
    assert winner["status"] == "loaded"
    assert pg_api.get("/tables/departments/rows").json()["rows"] == [{"id": 1, "department": winner["rejection"]["fix"]["department"]}]


@pytest.mark.postgres
def test_a_fix_racing_a_redrive_loads_the_row_once_as_the_first_of_them_had_it(pg_api):
    pg_api.post("/tables/jobs/rows", json=[{"id": 1, "job": "Clerk"}])
    pg_api.post("/tables/hired_employees/rows", json=[hire(1, 5)])
    [record] = pg_api.get("/rejections").json()["rejections"]
    with runtime.rowgate().engine.begin() as conn:  # the parent, behind the API's back: nothing re-drove the row
        conn.exec_driver_sql("INSERT INTO departments (id, department) VALUES (5, 'Ops')")
    held = Held([f"SELECT 1 FROM rowgate_rejections WHERE id = {record['id']} FOR UPDATE"])
    fix_answer, [redrive] = raced(
        held,
        lambda: pg_api.patch(f"/rejections/{record['id']}", json={"values": {"name": "Fixed"}}),
        lambda: replay(runtime.rowgate(), "hired_employees"),
    )
    final = pg_api.get(f"/rejections/{record['id']}").json()
    names = [row["name"] for row in pg_api.get("/tables/hired_employees/rows").json()["rows"]]
    if final["resolution"] == "fixed":
        assert (fix_answer.status_code, redrive.resolved, names) == (200, 0, ["Fixed"])
    else:
        assert (final["resolution"], fix_answer.status_code, redrive.resolved, names) == ("redriven", 409, 1, ["Ann"])


# The command line


@pytest.fixture
def run(tmp_path):
    env = {"ROWGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "ROWGATE_STORAGE": str(tmp_path / "storage")}

    def invoke(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], env=env)

    return invoke


def test_the_command_line_finds_fixes_and_exports_as_the_api_does(run, tmp_path):
    (tmp_path / "departments.csv").write_text("1,Sales\n2,\n3,Ops,Berlin\n")
    run("ingest", tmp_path / "departments.csv")
    listed = json.loads(run("rejections", "list", "--json").output)
    ids = {r["errors"][0]["code"]: r["id"] for r in listed["rejections"]}
    table = run("rejections", "list", "--table", "departments", "--limit", "1")
    assert table.exit_code == 0 and f"next page: --after {ids['extra-cell']}" in table.output
    assert json.loads(run("rejections", "show", ids["extra-cell"]).output)["raw"] == {
        "id": "3",
        "department": "Ops",
        EXTRA_CELLS: ["Berlin"],
    }
    replayed = run("rejections", "replay", "--table", "departments")
    assert "1 row refused for its shape not checked again: fix with rowgate rejections fix" in replayed.output
    fixed = run("rejections", "fix", ids["extra-cell"], "department=Ops Berlin")
    assert (fixed.exit_code, fixed.output.strip()) == (0, f"rejection {ids['extra-cell']}: loaded into departments")
    refused = run("rejections", "fix", ids["constraint-error"], "department=")
    assert refused.exit_code == 1 and "still refused, it stays open: department: constraint-error" in refused.output
    out = tmp_path / "open.csv"
    exported = run("rejections", "export", "--table", "departments", "--out", out)
    assert exported.exit_code == 0 and "1 open rejections of departments written to" in exported.output
    assert list(csv.reader(out.read_text().splitlines())) == [
        ["row_number", "id", "department", EXTRA_CELLS, "errors"],
        ["2", "2", "", "", "constraint-error: department is required and is empty"],
    ]
    everything = run("rejections", "export", "--table", "departments", "--all")
    assert list(csv.reader(everything.stdout.splitlines()))[1:] == [
        ["2", "2", "", "", "constraint-error: department is required and is empty"],
        ["3", "3", "Ops Berlin", '["Berlin"]', "extra-cell: the row has 3 cells; departments rows have 2 (id, department)"],
    ]
    assert everything.stderr.strip() == "2 rejections of departments written to standard output"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("rejections", "show", "99"), 2, "Error: no rejection 99"),
        (("rejections", "show", "x"), 2, "'x' is not an integer"),
        (("rejections", "fix", "1"), 2, "Missing argument 'FIELD=VALUE...'"),
        (("rejections", "fix", "1", "department"), 2, "'department' is not FIELD=VALUE"),
        (("rejections", "fix", "1", "id=1", "id=2"), 2, "'id' is given twice"),
        (("rejections", "fix", "99", "id=1"), 2, "Error: no rejection 99"),
        (("rejections", "list", "--status", "closed"), 2, "'closed' is not one of"),
        (("rejections", "list", "--table", "nope"), 2, "unknown table 'nope'"),
        (("rejections", "list", "--error", "Foreign%"), 2, "code must be an error code"),
        (("rejections", "export"), 2, "Missing option '--table'"),
        (("rejections", "export", "--table", "departments", "--out", "/nonexistent/x.csv"), 2, "no such folder: /nonexistent"),
    ],
)
def test_bad_rejections_arguments_are_one_line_with_exit_2(run, args, code, says):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert says in result.output and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_fixing_a_resolved_rejection_is_a_refusal_exit_1(run, tmp_path):
    (tmp_path / "departments.csv").write_text("2,\n")
    run("ingest", tmp_path / "departments.csv")
    assert run("rejections", "fix", "1", "department=Legal").exit_code == 0
    again = run("rejections", "fix", "1", "department=Law")
    assert again.exit_code == 1 and "Error: rejection 1 was resolved (fixed) at" in again.output
