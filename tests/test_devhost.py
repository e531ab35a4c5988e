"""The dev host's own behaviour: timers on their NCRONTAB schedules, blob retries, route templates."""

from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path

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


# The dev host as `rowgate serve` runs it: a real process, its own access log, its memory.


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`rowgate serve` in its own process, with a function key; yields (base URL, pid, stderr file, storage folder)."""
    import subprocess
    import sys

    import httpx

    from tests.api_host import free_port
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("served")
    port = free_port()
    log = (folder / "stderr.log").open("w")
    environment = {
        "ROWGATE_DATABASE_URL": f"sqlite:///{folder / 'served.db'}",
        "ROWGATE_STORAGE": str(folder / "storage"),
        "ROWGATE_FUNCTION_KEY": "s3cret-key",
        "PATH": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "--port", str(port), "--poll", "0.2"], cwd=ROOT, env=environment, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("rowgate serve did not answer within 60 s")
    yield url, process.pid, folder / "stderr.log", folder / "storage"
    process.terminate()
    process.wait(timeout=30)
    log.close()


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def send_chunked(url: str, path: str, total: int, chunk: int = 1 << 20) -> tuple[int, bytes]:
    """POST a chunked body of up to `total` bytes over a raw socket; (bytes the server took before it stopped, reply)."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(url)
    sent, piece = 0, b"x" * chunk
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
            "x-functions-key: s3cret-key\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            while sent < total:
                sock.sendall(f"{chunk:x}\r\n".encode() + piece + b"\r\n")
                sent += chunk
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: it reads no more
            pass
        reply = b""
        with suppress(OSError):
            reply = sock.recv(4096)
    return sent, reply


def test_a_huge_chunked_body_is_refused_at_the_limit_without_reading_it(served):
    import httpx

    from shared.devhost import MAX_BODY_BYTES

    url, pid, _, _ = served
    before = peak_rss_mib(pid)
    sent, reply = send_chunked(url, "/api/tables/departments/rows", total=1536 << 20)  # 1.5 GiB
    grown = peak_rss_mib(pid) - before
    print(f"1.5 GiB chunked upload: the host took {sent >> 20} MiB, its peak RSS grew {grown:.1f} MiB from {before:.0f} MiB")
    assert sent < 256 << 20, f"the host kept reading: {sent >> 20} MiB sent"
    assert grown < 3 * MAX_BODY_BYTES / 2**20 + 16, f"the host grew by {grown:.0f} MiB"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413")
    assert httpx.get(f"{url}/api/health").status_code == 200  # still serving


def test_the_access_log_redacts_the_key_and_escapes_control_characters(served):
    import httpx

    url, _, stderr, storage = served
    assert httpx.get(f"{url}/api/tables", params={"code": "s3cret-key"}).status_code == 200
    assert httpx.get(f"{url}/api/tables", params={"x": "1", "CODE": "s3cret-key"}).status_code == 401  # wrong case: no key, still redacted
    assert httpx.get(f"{url}/api/tables%0AINFO%20forged%20line", params={"code": "wrong"}).status_code == 404
    assert httpx.get(f"{url}/api/tables?%63ode=s3cret-key").status_code == 200  # the parser decodes the name
    assert httpx.get(f"{url}/api/tables?x=1&c%6Fde=s3cret-key").status_code == 200
    (storage / "landing").mkdir(parents=True, exist_ok=True)
    (storage / "landing" / "evil\nWARNING forged.csv").write_bytes(b"1,x\n")
    time.sleep(1.5)  # the poller hands it to the blob trigger, which logs its name
    text = stderr.read_text()
    assert "s3cret-key" not in text
    assert '"GET /api/tables?code=[redacted]" 200' in text and "CODE=[redacted]" in text
    assert not any(line.startswith(("INFO forged", "WARNING forged")) for line in text.splitlines())
    assert "evil\\x0aWARNING forged.csv" in text


def test_the_durable_status_route_needs_the_key_when_one_is_set(served):
    import httpx

    url, _, _, _ = served
    started = httpx.post(f"{url}/api/orchestrators/backup_all", headers={"x-functions-key": "s3cret-key"})
    assert started.status_code == 202
    status_url = started.json()["statusQueryGetUri"]
    assert "code=s3cret-key" in status_url  # as Durable's own URLs carry the system key
    bare = status_url.split("?")[0]
    assert httpx.get(bare).status_code == 401
    assert httpx.get(bare, params={"code": "wrong"}).status_code == 401
    assert httpx.get(status_url).status_code in (200, 202)


def test_a_cross_site_post_is_refused_even_without_a_key_set(monkeypatch, tmp_path):
    import httpx

    from shared.settings import Settings
    from tests.api_host import live_host

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", storage=str(tmp_path / "s"))
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, host):
        page = {"origin": "https://evil.example", "content-type": "text/plain"}
        for path in ("/api/tables/departments/restore", "/api/backups", "/api/rejections/replay", "/runtime/webhooks/blobs"):
            refused = httpx.post(f"{url}{path}", headers=page, content=b"{}")
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "cross-origin"), path
        assert host.durable.instances == {}
        assert httpx.get(f"{url}/api/tables", headers={"origin": "https://evil.example"}).status_code == 200  # reads stay open
