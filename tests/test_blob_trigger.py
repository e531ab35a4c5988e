"""The registered blob trigger, called as Microsoft documents for v2 functions, with real blobs in Azurite."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from azure.storage.blob import BlobClient, BlobServiceClient

from functions import runtime
from tests.conftest import registered_functions

pytestmark = pytest.mark.azurite


@pytest.fixture
def trigger(azurite_storage, tmp_path, monkeypatch):
    monkeypatch.setenv("ROWGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'rowgate.db'}")
    monkeypatch.setenv("ROWGATE_STORAGE", azurite_storage)
    runtime.rowgate.cache_clear()
    function = registered_functions()["ingest_landed_blob"]
    service = BlobServiceClient.from_connection_string(azurite_storage)
    service.create_container("landing")

    def drop(name: str, content: bytes) -> BlobClient:
        client = service.get_blob_client("landing", name)
        client.upload_blob(content)
        function.get_user_function()(client)
        return client

    yield drop, service
    runtime.rowgate.cache_clear()


def names(service: BlobServiceClient, container: str) -> list[str]:
    """The container's blob names without the UTC stamp of processed names, sorted."""
    client = service.get_container_client(container)
    found = [b.name for b in client.list_blobs()] if client.exists() else []
    return sorted(re.sub(r"\.\d{8}T\d{12}Z(?=\.|$)", "", name) for name in found)


def test_binding_is_an_event_grid_blob_trigger_on_landing():
    [binding] = registered_functions()["ingest_landed_blob"].get_bindings()
    assert (binding.type, binding.path, binding.source) == ("blobTrigger", "landing/{name}", "EventGrid")


def test_landed_challenge_files_load_and_are_archived(trigger, challenge):
    drop, service = trigger
    for name in ("departments", "jobs", "hired_employees"):
        drop(f"{name}.csv", (challenge / f"{name}.csv").read_bytes())
    assert names(service, "landing") == []
    assert names(service, "archive") == ["departments.csv", "hired_employees.csv", "jobs.csv"]
    assert names(service, "rejected") == ["hired_employees/hired_employees.csv.rejected.csv"]
    with runtime.rowgate().engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hired_employees")).scalar_one() == 1929


def test_redelivered_blob_changes_nothing(trigger, challenge):
    drop, service = trigger
    drop("departments.csv", (challenge / "departments.csv").read_bytes())
    drop("departments.csv", (challenge / "departments.csv").read_bytes())
    rowgate = runtime.rowgate()
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM departments")).scalar_one() == 12
        assert conn.execute(sa.text("SELECT count(*) FROM rowgate_loads")).scalar_one() == 1


def test_a_trigger_delivered_again_after_the_blob_was_archived_changes_nothing(trigger, challenge):
    drop, service = trigger
    client = drop("jobs.csv", (challenge / "jobs.csv").read_bytes())
    registered_functions()["ingest_landed_blob"].get_user_function()(client)  # the same event once more
    assert names(service, "archive") == ["jobs.csv"] and names(service, "rejected") == []
    with runtime.rowgate().engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 183


def test_unusable_blob_goes_to_rejected_with_a_reason_and_does_not_raise(trigger):
    drop, service = trigger
    drop("payroll/2021.csv", b"1,2,3\n")
    drop("departments.csv", b"")
    assert names(service, "rejected") == [
        "departments.csv",
        "departments.csv.reason.txt",
        "payroll/2021.csv",
        "payroll/2021.csv.reason.txt",
    ]
    [reason_name] = [b.name for b in service.get_container_client("rejected").list_blobs(name_starts_with="departments.")][1:]
    reason = service.get_blob_client("rejected", reason_name).download_blob().readall().decode()
    assert "the file is empty" in reason
