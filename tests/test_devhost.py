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
    time.sleep(3.5)
    host.stop()
    assert 2 <= len(fired) <= 5 and fired[0] is False


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


@pytest.mark.azurite
def test_blobs_landing_in_the_azurite_container_are_ingested(monkeypatch, tmp_path, azurite_storage, challenge):
    import httpx

    from shared.settings import Settings
    from tests.api_host import live_host

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", storage=azurite_storage)
    with live_host(monkeypatch, settings, poll_seconds=0.1) as (url, host), httpx.Client(base_url=f"{url}/api") as client:
        with host.storage.open_write("landing/departments.csv") as out:
            out.write((challenge / "departments.csv").read_bytes())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and list(host.storage.list("archive/")) != ["archive/departments.csv"]:
            time.sleep(0.1)  # archived is the last step of an ingest
        assert list(host.storage.list("archive/")) == ["archive/departments.csv"]
        assert len(client.get("/tables/departments/rows").json()["rows"]) == 12
