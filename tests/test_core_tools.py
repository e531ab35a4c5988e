"""File drops for Core Tools users: the BlobCreated event of test.http, posted to the blob webhook, and
`rowgate watch --forward`, which posts it for every file that lands.

The Functions host cannot run here; its side is modelled by the request Microsoft's quickstart posts
(functions-quickstart-python-azd-eventgrid-blob/test.http: same route, functionName=Host.Functions.<name>,
aeg-event-type: Notification, a CloudEvents BlobCreated whose subject names container and blob). The dev host
answers that same request over real HTTP, so one request works against both hosts."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from shared import eventgrid
from shared.settings import Settings
from tests.api_host import live_host
from tests.conftest import ROOT

DEPARTMENTS = b"1,Product Management\n2,Sales\n3,Research and Development\n"


def request_of_test_http(host: str, blob_name: str) -> httpx.Request:
    """The request test.http sends (REST Client syntax: @variables, then METHOD URL, headers, blank line, body)."""
    text = (ROOT / "test.http").read_text()
    variables = dict(re.findall(r"^@(\w+)=(.*)$", text, re.M)) | {"host": host, "blobName": blob_name}
    request = text.split("###", 1)[1].split("\n", 1)[1]
    for name, value in variables.items():
        request = request.replace("{{" + name + "}}", value)
    head, body = request.split("\n\n", 1)
    start, *header_lines = head.strip().splitlines()
    method, url = start.split()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return httpx.Request(method, url, headers=headers, content=body.strip().encode())


def archived(storage) -> list[str]:
    """The archive's files with the run's stamp taken out (`archive/departments.<UTC stamp>.csv` -> `departments.csv`)."""
    return [re.sub(r"\.\d{8}T\d{12}Z(?=\.)", "", path.removeprefix("archive/")) for path in storage.list("archive/")]


def wait_for(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_test_http_is_the_quickstarts_blob_created_request():
    request = request_of_test_http("http://localhost:7071", "departments.csv")
    assert request.url.path == eventgrid.WEBHOOK
    assert request.url.params["functionName"] == "Host.Functions.ingest_landed_blob"
    assert request.headers["aeg-event-type"] == "Notification" and request.headers["content-type"] == "application/json"
    event = httpx.Response(200, content=request.content).json()
    assert event["type"] == "Microsoft.Storage.BlobCreated" and event["specversion"] == "1.0"
    assert eventgrid.created_blobs(event) == ["landing/departments.csv"]
    from tests.conftest import registered_functions

    trigger = next(b for b in registered_functions()["ingest_landed_blob"].get_bindings() if b.type == "blobTrigger")
    assert trigger.path.startswith("landing/") and str(getattr(trigger.source, "value", trigger.source)) == "EventGrid"


@pytest.fixture
def dev_host(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ct.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, host):  # no polling: only events trigger
        yield url, host


def test_the_test_http_request_ingests_a_dropped_file_through_the_dev_host(dev_host):
    url, host = dev_host
    with host.storage.open_write("landing/departments.csv") as out:
        out.write(DEPARTMENTS)
    with httpx.Client() as client:
        response = client.send(request_of_test_http(url, "departments.csv"))
    assert response.status_code == 202
    assert wait_for(lambda: archived(host.storage) == ["departments.csv"])
    assert len(httpx.get(f"{url}/api/tables/departments/rows").json()["rows"]) == 3


def test_the_webhook_refuses_what_is_not_a_blob_created_event(dev_host):
    url, host = dev_host
    hook = f"{url}{eventgrid.WEBHOOK}"
    good = {"functionName": "Host.Functions.ingest_landed_blob"}
    assert httpx.post(hook, params={"functionName": "Host.Functions.nope"}, json={}).status_code == 404
    assert httpx.post(hook, params={"functionName": "Host.Functions.health"}, json={}).status_code == 404
    assert httpx.post(hook, params=good, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    for subject in (
        "/etc/passwd",
        "/blobServices/default/containers/landing/blobs/../../etc/passwd",
        f"{eventgrid.SUBJECT_PREFIX}landing/blobs/",
        f"{eventgrid.SUBJECT_PREFIX}landing/x/blobs/departments.csv",  # no container name holds a /
    ):
        refused = httpx.post(hook, params=good, json={"type": eventgrid.BLOB_CREATED, "subject": subject})
        assert refused.json()["error"]["code"] == "not-an-event", subject
    assert httpx.post(hook, params=good, json=[{"type": "Microsoft.Storage.BlobDeleted", "subject": "x"}]).status_code == 202
    validation = httpx.post(
        hook, params=good, json=[{"data": {"validationCode": "abc"}}], headers={"aeg-event-type": "SubscriptionValidation"}
    )
    assert validation.json() == {"validationResponse": "abc"}
    other = eventgrid.blob_created("http://x", "history", "departments.csv", 1)  # not the trigger's container
    with host.storage.open_write("history/departments.csv") as out:
        out.write(DEPARTMENTS)
    assert httpx.post(hook, params=good, json=other).status_code == 202
    time.sleep(0.5)
    assert httpx.get(f"{url}/api/tables/departments/rows").json()["rows"] == []


@pytest.mark.parametrize("body", [[1], [{"data": 5}], [{"data": {"validationCode": 7}}], [], {"data": {}}, "x"], ids=repr)
def test_a_malformed_subscription_validation_is_a_400_not_a_500(dev_host, body):
    url, _host = dev_host
    response = httpx.post(
        f"{url}{eventgrid.WEBHOOK}",
        params={"functionName": "Host.Functions.ingest_landed_blob"},
        json=body,
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "not-an-event", response.text[:200]


def test_a_delivery_of_many_events_runs_each_blob_once_on_one_thread_and_over_5000_is_413(dev_host, caplog):
    caplog.set_level(logging.INFO, logger="rowgate.devhost")
    url, host = dev_host
    with host.storage.open_write("landing/departments.csv") as out:
        out.write(DEPARTMENTS)
    hook, params = f"{url}{eventgrid.WEBHOOK}", {"functionName": "Host.Functions.ingest_landed_blob"}
    event = eventgrid.blob_created("http://x", "landing", "departments.csv", len(DEPARTMENTS))
    assert httpx.post(hook, params=params, json=[event] * 5001).status_code == 413
    threads = threading.active_count()
    assert httpx.post(hook, params=params, json=[event] * 2000).status_code == 202
    assert threading.active_count() <= threads + 1  # one worker thread for the delivery, not one per event
    assert wait_for(lambda: archived(host.storage) == ["departments.csv"])
    assert len(httpx.get(f"{url}/api/tables/departments/rows").json()["rows"]) == 3
    time.sleep(0.5)
    runs = [r for r in caplog.records if r.getMessage().startswith("Executed 'ingest_landed_blob' (blob")]
    assert len(runs) == 1, [r.getMessage() for r in runs][:5]  # one event per blob per delivery, not 2,000 at once


def test_the_webhook_needs_the_key_when_one_is_set(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", storage=str(tmp_path / "s"), function_key="s3cret")
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, _host):
        event = eventgrid.blob_created("http://x", "landing", "departments.csv", 1)
        params = {"functionName": "Host.Functions.ingest_landed_blob"}
        assert httpx.post(f"{url}{eventgrid.WEBHOOK}", params=params, json=event).status_code == 401
        assert httpx.post(f"{url}{eventgrid.WEBHOOK}", params=params | {"code": "s3cret"}, json=event).status_code == 202


def run_watch(storage: str, url: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    environment = {"ROWGATE_STORAGE": storage, "ROWGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'watch.db'}", "PATH": ""}
    command = [sys.executable, "-m", "shared.cli", "watch", "--forward", url, "--once", *extra]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_watch_forwards_local_drops_to_the_host(dev_host, tmp_path):
    url, host = dev_host
    with host.storage.open_write("landing/departments.csv") as out:
        out.write(DEPARTMENTS)
    done = run_watch(str(host.storage.root), url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"landing/departments.csv: BlobCreated posted to {url}"]
    assert wait_for(lambda: archived(host.storage) == ["departments.csv"])


def test_watch_reports_a_host_that_refuses_and_exits_1(dev_host, tmp_path):
    url, host = dev_host
    with host.storage.open_write("landing/departments.csv") as out:
        out.write(DEPARTMENTS)
    done = run_watch(str(host.storage.root), url, tmp_path, "--function", "not_a_trigger")
    assert done.returncode == 1 and "answered 404" in done.stderr and "Traceback" not in done.stderr
    nobody = run_watch(str(host.storage.root), "http://127.0.0.1:9", tmp_path)
    assert nobody.returncode == 1 and "no answer" in nobody.stderr


@pytest.mark.azurite
def test_watch_forwards_azurite_drops_to_a_dev_host_with_azurite(monkeypatch, tmp_path, azurite_storage):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", storage=azurite_storage)
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, host):
        with host.storage.open_write("landing/departments.csv") as out:
            out.write(DEPARTMENTS)
        done = run_watch(azurite_storage, url, tmp_path)
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: archived(host.storage) == ["departments.csv"])
        assert len(httpx.get(f"{url}/api/tables/departments/rows").json()["rows"]) == 3


@pytest.mark.parametrize(
    "forward", ["localhost:7071", "file:///etc/passwd", "ftp://host/", "http://[::1", "http://h:port", "http://h/?code=k"]
)
def test_watch_refuses_a_forward_that_is_not_an_http_url_as_a_usage_error(tmp_path, forward):
    storage = tmp_path / "storage"
    (storage / "landing").mkdir(parents=True)
    (storage / "landing" / "departments.csv").write_bytes(DEPARTMENTS)
    done = run_watch(str(storage), forward, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-500:]
    assert "--forward" in done.stderr and done.stdout == ""
