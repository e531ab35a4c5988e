"""Durable orchestrations, the backup timer and the backup routes.

Durable's replay engine and host cannot run here: the orchestrators are stepped with a mock context
(Durable's documented unit-test pattern), the timer is called with a mock client, and the dev host
runs the same orchestrators to their end with its local client.
"""

from __future__ import annotations

import asyncio
import json
import time
from unittest.mock import AsyncMock, Mock

import httpx
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.functions.timer import TimerRequest

from functions.backups import BACKUP_ALL_ID
from shared import dictionary
from shared.plans import migration_stages
from shared.settings import Settings
from tests.api_host import finished, live_host
from tests.conftest import ROOT, registered_functions


def orchestrator(name: str):
    return registered_functions()[name].get_user_function().orchestrator_function


def mock_context(value=None) -> Mock:
    context = Mock()
    context.get_input.return_value = value
    context.current_utc_datetime.strftime.return_value = "20260101T000000000000Z"
    context.call_activity.side_effect = lambda name, payload=None: ("activity", name, payload)
    context.call_activity_with_retry.side_effect = lambda name, retry, payload=None: ("activity", name, payload)
    context.task_all.side_effect = lambda tasks: ("all", tuple(tasks))
    return context


def test_backup_all_fans_out_one_activity_per_table_and_fans_in(tmp_path):
    steps = orchestrator("backup_all")(mock_context())
    assert next(steps) == ("activity", "ledger_mark", None)
    assert steps.send([3, 100]) == ("activity", "backup_plan", None)
    fan_out = steps.send(["departments", "jobs"])
    assert fan_out == (
        "all",
        (
            ("activity", "backup_table", {"table": "departments", "at": "20260101T000000000000Z"}),
            ("activity", "backup_table", {"table": "jobs", "at": "20260101T000000000000Z"}),
        ),
    )
    assert steps.send([{"table": "departments"}, {"table": "jobs"}]) == ("activity", "ledger_mark", None)
    with pytest.raises(StopIteration) as done:
        steps.send([3, 100])
    assert done.value.value == {
        "at": "20260101T000000000000Z",
        "consistent": True,
        "attempts": 1,
        "backups": [{"table": "departments"}, {"table": "jobs"}],
    }


def test_backup_all_takes_the_set_again_when_a_load_lands_meanwhile():
    steps = orchestrator("backup_all")(mock_context())
    next(steps)
    steps.send([3, 100])
    steps.send(["jobs"])
    steps.send([{"table": "jobs"}])
    assert steps.send([4, 150]) == ("activity", "ledger_mark", None), "a changed ledger starts a second attempt"


def test_migrate_runs_stage_after_stage_with_retries():
    steps = orchestrator("migrate")(mock_context("landing/"))
    assert next(steps) == ("activity", "migration_plan", "landing/")
    first = steps.send([["landing/departments.csv", "landing/jobs.csv"], ["landing/hired_employees.csv"]])
    assert [call[1:] for call in first[1]] == [("ingest_file", "landing/departments.csv"), ("ingest_file", "landing/jobs.csv")]
    second = steps.send([{"a": 1}, {"b": 2}])
    assert [call[1:] for call in second[1]] == [("ingest_file", "landing/hired_employees.csv")]
    with pytest.raises(StopIteration) as done:
        steps.send([{"c": 3}])
    assert done.value.value == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_migration_plan_puts_parents_first_on_real_files(challenge):
    paths = [f"history/{p.name}" for p in challenge.glob("*.csv")] + [
        "history/courses/2024.parquet",
        "history/levels.csv",
        "history/notes.csv",
    ]
    stages = migration_stages(dictionary.load(), paths)
    assert stages == [
        ["history/notes.csv"],
        ["history/departments.csv", "history/jobs.csv", "history/levels.csv"],
        ["history/courses/2024.parquet", "history/hired_employees.csv"],
    ]


def durable_status(runtime_status: str | None):
    return DurableOrchestrationStatus.from_json({"instanceId": BACKUP_ALL_ID, "runtimeStatus": runtime_status} if runtime_status else {})


@pytest.mark.parametrize("previous", [None, "Completed", "Failed", "Terminated"])
def test_timer_starts_backup_all_under_its_fixed_id_when_none_runs(previous):
    function = registered_functions()["scheduled_backup"]
    timer = next(b for b in function.get_bindings() if b.type == "timerTrigger")
    assert timer.schedule == "%BACKUP_SCHEDULE%"
    client = AsyncMock()
    client.get_status.return_value = durable_status(previous)
    asyncio.run(function.get_user_function().client_function(timer=TimerRequest(past_due=False), client=client))
    client.get_status.assert_awaited_once_with(BACKUP_ALL_ID)
    client.start_new.assert_awaited_once_with("backup_all", BACKUP_ALL_ID, None)


@pytest.mark.parametrize("running", ["Pending", "Running", "ContinuedAsNew"])
def test_timer_skips_while_a_backup_all_still_runs_durable_singleton_pattern(running):
    client = AsyncMock()
    client.get_status.return_value = durable_status(running)
    timer_function = registered_functions()["scheduled_backup"].get_user_function().client_function
    asyncio.run(timer_function(timer=TimerRequest(past_due=True), client=client))
    client.start_new.assert_not_awaited()


def test_host_json_refuses_a_second_start_of_a_running_instance_id():
    durable = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]
    assert durable["overridableExistingInstanceStates"] == "NonRunningStates"


@pytest.fixture
def api(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, host), httpx.Client(base_url=url, timeout=60) as client:
        yield client, host


def test_migrate_and_backup_all_run_through_the_dev_host(api, challenge):
    client, host = api
    for path in challenge.glob("*.csv"):
        with host.storage.open_write(f"history/{path.name}") as out:
            out.write(path.read_bytes())
    migrated = finished(client, client.post("/api/orchestrators/migrate", json="history/"))
    assert migrated["runtimeStatus"] == "Completed"
    counts = {r["table"]: (r["inserted"], r["rejected"]) for r in migrated["output"]}
    assert counts == {"departments": (12, 0), "jobs": (183, 0), "hired_employees": (1929, 70)}
    nothing = finished(client, client.post("/api/orchestrators/migrate", json="histroy/"))
    assert nothing["runtimeStatus"] == "Completed" and nothing["output"]["error"]["code"] == "not-found"
    backed = finished(client, client.post("/api/orchestrators/backup_all"))
    assert backed["output"]["consistent"] is True
    assert {b["table"]: b["rows"] for b in backed["output"]["backups"]}["hired_employees"] == 1929
    listed = client.get("/api/backups", params={"table": "hired_employees"}).json()["backups"]
    assert listed[0]["rows"] == 1929


def test_backup_and_restore_routes_answer_202_and_their_outcome_is_in_the_status(api):
    client, host = api
    client.post("/api/tables/departments/rows", json=[{"id": 1, "department": "Sales"}])
    client.post("/api/tables/jobs/rows", json=[{"id": 1, "job": "Clerk"}])
    made = finished(client, client.post("/api/backups"))["output"]["backups"]
    assert {b["table"] for b in made} == set(dictionary.load().tables)
    client.post("/api/tables/departments/rows", json=[{"id": 2, "department": "Legal"}])
    restored = finished(client, client.post("/api/tables/departments/restore"))["output"]
    assert restored["deleted"] == 1
    missing = finished(client, client.post("/api/tables/departments/restore", json={"backup": "nope"}))["output"]
    assert missing["error"]["code"] == "not-found" and missing["error"]["status"] == 404
    assert client.post("/api/tables/salaries/restore").status_code == 404
    assert client.post("/api/tables/departments/restore", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    client.post("/api/tables/departments/rows", json=[{"id": 3, "department": "Ops"}])
    client.post(
        "/api/tables/hired_employees/rows",
        json=[{"id": 1, "name": "A", "datetime": "2021-01-01T00:00:00Z", "department_id": 3, "job_id": 1}],
    )
    conflict = finished(client, client.post("/api/tables/departments/restore"))["output"]
    assert conflict["error"]["code"] == "would-orphan" and conflict["error"]["status"] == 409
    [jobs_backup] = [b for b in made if b["table"] == "jobs"]
    with host.storage.open_write(jobs_backup["name"]) as out:
        out.write(b"Obj\x01 this is no longer avro")
    damaged = finished(client, client.post("/api/tables/jobs/restore"))["output"]
    assert damaged["error"]["code"] == "invalid-backup" and damaged["error"]["status"] == 422
    one = finished(client, client.post("/api/backups", params={"table": "jobs"}))["output"]
    assert [b["table"] for b in one["backups"]] == ["jobs"]


def test_long_http_work_is_documented_as_202_with_status_urls():
    from functions.openapi import operations

    started = {(op.method, op.path) for op in operations() if 202 in op.responses}
    assert started == {
        ("POST", "/api/backups"),
        ("POST", "/api/tables/{table}/restore"),
        ("POST", "/api/backups/restore"),
        ("POST", "/api/rejections/replay"),
        ("POST", "/api/orchestrators/{name}"),
    }
    assert all(200 not in op.responses for op in operations() if (op.method, op.path) in started)


@pytest.fixture
def functions_on(monkeypatch, tmp_path, database_url):
    """The functions' rowgate on each SQL backend, read from the environment as in Azure."""
    from functions import runtime
    from shared.settings import ENVIRONMENT

    settings = Settings(database_url=database_url, storage=str(tmp_path / "storage"))
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(settings, name)))
    runtime.rowgate.cache_clear()
    yield runtime.rowgate()
    runtime.rowgate().engine.dispose()
    runtime.rowgate.cache_clear()


def activity(name: str):
    return registered_functions()[name].get_user_function()


def test_ledger_mark_is_plain_json_and_moves_when_a_redrive_loads_rows(functions_on):
    """Durable hands activity results over as JSON: PostgreSQL's SUM is a Decimal, which json cannot write.
    A re-drive (or replay) loads refused rows without a load of its own: the mark must move then too."""
    import sqlalchemy as sa

    from shared.batch import insert_rows
    from shared.replay import replay

    core = functions_on
    insert_rows(core, "jobs", [{"id": 1, "job": "Clerk"}])
    refused = insert_rows(
        core, "hired_employees", [{"id": 1, "name": "A", "datetime": "2021-01-01T00:00:00Z", "department_id": 1, "job_id": 1}]
    )
    assert refused.rejected == 1
    before = activity("ledger_mark")(None)
    assert json.loads(json.dumps(before)) == before and all(type(value) is int for value in before)
    with core.engine.begin() as conn:  # the parent arrives by a path that re-drives nothing by itself
        conn.execute(sa.insert(core.metadata.tables["departments"]), [{"id": 1, "department": "Sales"}])
    assert activity("ledger_mark")(None) == before
    assert sum(result.resolved for result in replay(core)) == 1
    after = activity("ledger_mark")(None)
    assert after != before, "rows committed by a re-drive are invisible to backup_all's consistency check"


def test_migration_plan_refuses_a_prefix_outside_the_storage_at_once(functions_on, tmp_path):
    (tmp_path / "outside.csv").write_text("1,x\n")
    started = time.monotonic()
    for prefix in ("../", "..", "/", "/etc/", "landing/../..", "", "landing//x", "x\x00/"):
        refused = activity("migration_plan")(prefix)
        assert refused["error"]["code"] == "bad-prefix", prefix
    assert time.monotonic() - started < 2
    nothing = activity("migration_plan")("landing/")  # it was Completed with [], as if there had been nothing to do
    assert nothing["error"]["code"] == "not-found" and "no files under 'landing/'" in nothing["error"]["message"]
    steps = orchestrator("migrate")(mock_context("../"))
    next(steps)
    with pytest.raises(StopIteration) as done:
        steps.send({"error": {"code": "bad-prefix", "message": "no"}})
    assert done.value.value["error"]["code"] == "bad-prefix"


def test_a_second_full_backup_while_one_runs_is_409_over_http(api):
    client, host = api
    host.durable.instances[BACKUP_ALL_ID] = {"instanceId": BACKUP_ALL_ID, "name": "backup_all", "runtimeStatus": "Running"}
    for path in ("/api/orchestrators/backup_all", "/api/backups"):
        busy = client.post(path)
        assert (busy.status_code, busy.json()["error"]["code"]) == (409, "already-running"), path
    assert client.post("/api/backups", params={"table": "jobs"}).status_code == 202  # one table: not the singleton
    host.durable.instances[BACKUP_ALL_ID]["runtimeStatus"] = "Completed"
    assert finished(client, client.post("/api/orchestrators/backup_all"))["runtimeStatus"] == "Completed"


@pytest.mark.parametrize(("name", "activity_name"), [("restore_job", "restore_backup"), ("replay_job", "replay_rejected")])
def test_restore_and_replay_jobs_run_one_activity_and_return_its_result(name, activity_name):
    payload = {"table": "departments", "backup": None}
    steps = orchestrator(name)(mock_context(payload))
    assert next(steps) == ("activity", activity_name, payload)
    with pytest.raises(StopIteration) as done:
        steps.send({"error": {"code": "would-orphan", "status": 409, "message": "no"}})
    assert done.value.value["error"]["status"] == 409


def test_backup_all_with_a_table_list_backs_up_those_tables_only():
    steps = orchestrator("backup_all")(mock_context(["jobs"]))
    assert next(steps) == ("activity", "ledger_mark", None)
    fan_out = steps.send([1, 1, 0])
    assert fan_out == ("all", (("activity", "backup_table", {"table": "jobs", "at": "20260101T000000000000Z"}),))
