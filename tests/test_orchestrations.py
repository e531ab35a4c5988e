"""Durable orchestrations, the backup timer and the backup routes.

Durable's replay engine and host cannot run here: the orchestrators are stepped with a mock context
(Durable's documented unit-test pattern), the timer is called with a mock client, and the dev host
runs the same orchestrators to their end with its local client.
"""

from __future__ import annotations

import asyncio
import time
from unittest.mock import AsyncMock, Mock

import httpx
import pytest
from azure.functions.timer import TimerRequest

from shared import dictionary
from shared.plans import migration_stages
from shared.settings import Settings
from tests.api_host import live_host
from tests.conftest import registered_functions


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


def test_timer_binding_reads_the_schedule_setting_and_starts_backup_all_with_a_mock_client():
    function = registered_functions()["scheduled_backup"]
    timer = next(b for b in function.get_bindings() if b.type == "timerTrigger")
    assert timer.schedule == "%BACKUP_SCHEDULE%"
    client = AsyncMock()
    asyncio.run(function.get_user_function().client_function(timer=TimerRequest(past_due=False), client=client))
    client.start_new.assert_awaited_once_with("backup_all")


@pytest.fixture
def api(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, host), httpx.Client(base_url=url, timeout=60) as client:
        yield client, host


def finished(client: httpx.Client, started: httpx.Response) -> dict:
    assert started.status_code == 202
    status_url = started.json()["statusQueryGetUri"]
    assert started.headers["location"] == status_url
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(status_url).json()
        if status["runtimeStatus"] in ("Completed", "Failed"):
            return status
        time.sleep(0.1)
    raise AssertionError("the orchestration did not finish")


def test_migrate_and_backup_all_run_through_the_dev_host(api, challenge):
    client, host = api
    for path in challenge.glob("*.csv"):
        with host.storage.open_write(f"history/{path.name}") as out:
            out.write(path.read_bytes())
    migrated = finished(client, client.post("/api/orchestrators/migrate", json="history/"))
    assert migrated["runtimeStatus"] == "Completed"
    counts = {r["table"]: (r["inserted"], r["rejected"]) for r in migrated["output"]}
    assert counts == {"departments": (12, 0), "jobs": (183, 0), "hired_employees": (1929, 70)}
    backed = finished(client, client.post("/api/orchestrators/backup_all"))
    assert backed["output"]["consistent"] is True
    assert {b["table"]: b["rows"] for b in backed["output"]["backups"]}["hired_employees"] == 1929
    listed = client.get("/api/backups", params={"table": "hired_employees"}).json()["backups"]
    assert listed[0]["rows"] == 1929


def test_backup_routes_and_their_statuses(api):
    client, host = api
    client.post("/api/tables/departments/rows", json=[{"id": 1, "department": "Sales"}])
    client.post("/api/tables/jobs/rows", json=[{"id": 1, "job": "Clerk"}])
    made = client.post("/api/backups").json()["backups"]
    assert {b["table"] for b in made} == set(dictionary.load().tables)
    client.post("/api/tables/departments/rows", json=[{"id": 2, "department": "Legal"}])
    restored = client.post("/api/tables/departments/restore")
    assert restored.status_code == 200 and restored.json()["deleted"] == 1
    assert client.post("/api/tables/departments/restore", json={"backup": "nope"}).status_code == 404
    assert client.post("/api/tables/salaries/restore").status_code == 404
    assert client.post("/api/tables/departments/restore", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    client.post("/api/tables/departments/rows", json=[{"id": 3, "department": "Ops"}])
    client.post(
        "/api/tables/hired_employees/rows",
        json=[{"id": 1, "name": "A", "datetime": "2021-01-01T00:00:00Z", "department_id": 3, "job_id": 1}],
    )
    conflict = client.post("/api/tables/departments/restore")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "would-orphan"
    [jobs_backup] = [b for b in made if b["table"] == "jobs"]
    with host.storage.open_write(jobs_backup["name"]) as out:
        out.write(b"Obj\x01 this is no longer avro")
    damaged = client.post("/api/tables/jobs/restore")
    assert damaged.status_code == 422 and damaged.json()["error"]["code"] == "invalid-backup"
