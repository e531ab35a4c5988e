"""The dev host's own behaviour: timers on their NCRONTAB schedules, blob retries, route templates."""

from __future__ import annotations

import time

import azure.functions as func
import pytest

from shared.devhost import MAX_BLOB_ATTEMPTS, DevHost, resolve_setting, route_pattern
from shared.storage import LocalStorage


def test_a_timer_fires_on_its_schedule_read_from_an_app_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_SCHEDULE", "* * * * * *")
    app = func.FunctionApp()
    fired = []

    @app.timer_trigger(arg_name="timer", schedule="%TEST_SCHEDULE%")
    def tick(timer: func.TimerRequest) -> None:
        fired.append(timer.past_due)

    host = DevHost(app.get_functions(), LocalStorage(tmp_path))
    host.start()
    time.sleep(2.6)
    host.stop()
    assert 2 <= len(fired) <= 4 and fired[0] is False


def test_a_failing_blob_function_is_retried_then_left_in_place(tmp_path):
    app = func.FunctionApp()
    calls = []

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def flaky(client) -> None:
        calls.append(client.blob_name)
        raise RuntimeError("database is down")

    storage = LocalStorage(tmp_path)
    with storage.open_write("landing/a.csv") as out:
        out.write(b"1,x\n")
    host = DevHost(app.get_functions(), storage)
    blobs = [h for h in host.hosted if h.trigger.type == "blobTrigger"]
    for _ in range(MAX_BLOB_ATTEMPTS + 3):
        host.poll_blobs(blobs)
    assert calls == ["a.csv"] * MAX_BLOB_ATTEMPTS
    assert storage.exists("landing/a.csv")


def test_route_templates_and_settings():
    assert route_pattern("tables/{table}/rows").match("/api/tables/jobs/rows").groupdict() == {"table": "jobs"}
    assert route_pattern("items/{id:int}").match("/api/items/7")["id"] == "7"
    assert route_pattern("tables/{table}/rows").match("/api/tables/jobs/rows/x") is None
    with pytest.raises(ValueError, match="app setting NOPE_NOT_SET"):
        resolve_setting("%NOPE_NOT_SET%")
    assert resolve_setting("0 0 2 * * *") == "0 0 2 * * *"
