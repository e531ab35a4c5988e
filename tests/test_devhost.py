"""The dev host's own behaviour: timers on their NCRONTAB schedules, the landing watcher and its retries, route templates."""

from __future__ import annotations

import logging
import re
import time
from contextlib import suppress
from pathlib import Path

import azure.functions as func
import pytest
import sqlalchemy as sa

from shared.devhost import MAX_BLOB_ATTEMPTS, DevHost, resolve_setting, route_pattern
from shared.ingest import ingest_stored
from shared.load import LoadBusy
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


def blob_host(app: func.FunctionApp, storage, **options) -> tuple[DevHost, list]:
    host = DevHost(app.get_functions(), storage, **{"poll_seconds": 0, "settle_seconds": 0} | options)
    return host, [h for h in host.hosted if h.trigger.type == "blobTrigger"]


def write(storage, path: str, content: bytes) -> None:
    with storage.open_write(path) as out:
        out.write(content)


def test_a_failing_blob_is_retried_then_moved_to_rejected_with_its_reason(tmp_path):
    app = func.FunctionApp()
    calls = []

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def flaky(client) -> None:
        calls.append(client.blob_name)
        raise RuntimeError("database is down")

    storage = LocalStorage(tmp_path)
    write(storage, "landing/a.csv", b"1,x\n")
    host, blobs = blob_host(app, storage)
    for _ in range(MAX_BLOB_ATTEMPTS + 4):
        host.poll_blobs(blobs)
    assert calls == ["a.csv"] * MAX_BLOB_ATTEMPTS
    [rejected, reason] = sorted(storage.list("rejected/"))
    assert re.fullmatch(r"rejected/a\.\d{8}T\d{12}Z\.csv", rejected) and reason == f"{rejected}.reason.txt"
    with storage.open_read(reason) as stream:
        assert "failed 5 times, last: RuntimeError: database is down" in stream.read().decode()
    assert list(storage.list("landing/")) == []


def test_failures_count_per_content_so_a_valid_file_at_a_failed_path_loads(make_rowgate):
    """Regression: after 5 failures the dev host skipped the path forever."""
    rowgate = make_rowgate()
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def ingest_unless_it_crashes_the_worker(client) -> None:
        path = f"{client.container_name}/{client.blob_name}"
        with rowgate.storage.open_read(path) as stream:
            if b"crash" in stream.read():
                raise RuntimeError("the worker crashed")
        ingest_stored(rowgate, path)

    host, blobs = blob_host(app, rowgate.storage)
    write(rowgate.storage, "landing/departments.csv", b"1,crash\n")
    host.poll_blobs(blobs)
    host.poll_blobs(blobs)  # failed twice: not yet poison
    write(rowgate.storage, "landing/departments.csv", b"1,Sales\n2,Legal\n")  # a new version at the same path
    for _ in range(3):
        host.poll_blobs(blobs)
    write(rowgate.storage, "landing/departments.csv", b"3,crash\n")
    for _ in range(MAX_BLOB_ATTEMPTS + 2):
        host.poll_blobs(blobs)
    write(rowgate.storage, "landing/departments.csv", b"3,Support\n")
    for _ in range(3):
        host.poll_blobs(blobs)
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, department FROM departments ORDER BY id")).all() == [
            (1, "Sales"),
            (2, "Legal"),
            (3, "Support"),
        ]
    assert len(list(rowgate.storage.list("archive/"))) == 2
    assert [p for p in rowgate.storage.list("rejected/") if not p.endswith(".reason.txt")] != []
    assert list(rowgate.storage.list("landing/")) == []


def test_a_load_busy_in_another_run_is_not_counted_as_a_failure_nor_logged_with_a_traceback(tmp_path, caplog):
    app = func.FunctionApp()
    calls = []

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def busy(client) -> None:
        calls.append(client.blob_name)
        raise LoadBusy("being loaded by another host")

    storage = LocalStorage(tmp_path)
    write(storage, "landing/a.csv", b"1,x\n")
    host, blobs = blob_host(app, storage)
    with caplog.at_level(logging.INFO, logger="rowgate.devhost"):
        for _ in range(MAX_BLOB_ATTEMPTS * 2):
            host.poll_blobs(blobs)
    assert len(calls) == MAX_BLOB_ATTEMPTS * 2 - 1 and list(storage.list("landing/")) == ["landing/a.csv"]
    busy_lines = [r for r in caplog.records if "busy" in r.getMessage()]
    assert len(busy_lines) == len(calls) and all(r.levelno == logging.INFO and not r.exc_info for r in busy_lines)
    assert not [r for r in caplog.records if r.name.startswith("rowgate") and (r.exc_info or r.levelno >= logging.WARNING)]


def test_temporary_names_and_files_still_changing_are_not_handed_over(tmp_path):
    app = func.FunctionApp()
    calls = []

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def record(client) -> None:
        calls.append(client.blob_name)

    storage = LocalStorage(tmp_path)
    for name in (".jobs.csv", "jobs.csv.part", "jobs.csv.tmp", ".hidden/jobs.csv", "jobs.csv~"):
        write(storage, f"landing/{name}", b"1,x\n")
    host, blobs = blob_host(app, storage, settle_seconds=0)
    host.poll_blobs(blobs)
    host.poll_blobs(blobs)
    assert calls == []
    write(storage, "landing/jobs.csv", b"1,x\n")
    host.poll_blobs(blobs)
    assert calls == []  # seen once: not yet known to be complete
    (tmp_path / "landing" / "jobs.csv").write_bytes(b"1,x\n2,y\n")
    host.poll_blobs(blobs)
    assert calls == []  # changed since the last poll
    host.poll_blobs(blobs)
    assert calls == ["jobs.csv"]


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
        while time.monotonic() < deadline and not list(host.storage.list("archive/")):
            time.sleep(0.1)  # archived is the last step of an ingest
        [archived] = host.storage.list("archive/")
        assert re.fullmatch(r"archive/departments\.\d{8}T\d{12}Z\.csv", archived)
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
    assert httpx.get(f"{url}/api/tables?x=1&c%6Fde=s3cret-key").status_code == 400  # the key is right; /tables takes no x
    (storage / "landing").mkdir(parents=True, exist_ok=True)
    (storage / "landing" / "evil\nWARNING forged.csv").write_bytes(b"1,x\n")
    deadline = time.monotonic() + 20  # the poller hands it over once settled (2 s), and the blob trigger logs its name
    while "forged.csv" not in stderr.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = stderr.read_text()
    assert "s3cret-key" not in text
    assert '"GET /api/tables?code=[redacted]" 200' in text and "CODE=[redacted]" in text
    assert not any(line.startswith(("INFO forged", "WARNING forged")) for line in text.splitlines())
    assert "evil\\x0aWARNING forged.csv" in text


def test_each_http_request_is_one_access_line_with_its_status(served):
    """It was two lines, and a 4xx answer was logged as "Executed '...' (http, succeeded)"."""
    import httpx

    url, _, stderr, _ = served
    key = {"x-functions-key": "s3cret-key"}
    before = stderr.read_text()
    assert httpx.get(f"{url}/api/tables/nope/rows", params={"after": "w11out-4xx"}, headers=key).status_code == 404
    assert httpx.get(f"{url}/api/tables/departments/rows", params={"after": "987654321"}, headers=key).status_code == 200
    deadline = time.monotonic() + 10
    while "987654321" not in stderr.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    new = stderr.read_text()[len(before) :].splitlines()
    assert len(new) == 2, new
    assert '"GET /api/tables/nope/rows?after=w11out-4xx" 404' in new[0] and "succeeded" not in new[0]
    assert '"GET /api/tables/departments/rows?after=987654321" 200' in new[1]


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


SLOW_WRITER = """
import os, sys, time
path, rows, rename_to = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as out:
    for start in range(1, rows + 1, 100):
        out.write("".join(f"{i},department {i}\\n" for i in range(start, min(start + 100, rows + 1))))
        out.flush()
        time.sleep(0.02)
if rename_to:
    os.rename(path, rename_to)
"""


@pytest.mark.parametrize("written_as", ["departments.csv", "departments.csv.part"])
def test_a_file_still_being_written_by_another_process_is_loaded_whole_once(monkeypatch, tmp_path, written_as):
    """Regression: the watcher took a file mid-write (1,000 of 10,000 rows loaded, the rest lost)."""
    import subprocess
    import sys

    from functions import runtime
    from functions.registry import registered
    from shared.settings import ENVIRONMENT, Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", storage=str(tmp_path / "storage"))
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(settings, name)))
    runtime.rowgate.cache_clear()
    rowgate = runtime.rowgate()
    landing = tmp_path / "storage" / "landing"
    landing.mkdir(parents=True)
    host = DevHost(registered(), rowgate.storage, poll_seconds=0.05, settle_seconds=1.0)
    host.start()
    try:
        final = landing / "departments.csv"
        target = landing / written_as
        rename_to = str(final) if target != final else ""
        writer = subprocess.run([sys.executable, "-c", SLOW_WRITER, str(target), "10000", rename_to], timeout=120)
        assert writer.returncode == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (list(rowgate.storage.list("landing/")) or not list(rowgate.storage.list("archive/"))):
            time.sleep(0.1)
    finally:
        host.stop()
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM departments")).one() == (10_000, 10_000)
        assert conn.execute(sa.text("SELECT status, inserted, rejected FROM rowgate_loads")).all() == [("done", 10_000, 0)]
    [archived] = rowgate.storage.list("archive/")
    assert rowgate.storage.size(archived) == sum(len(f"{i},department {i}\n") for i in range(1, 10_001))
    assert list(rowgate.storage.list("rejected/")) == [] and list(rowgate.storage.list("landing/")) == []
    rowgate.engine.dispose()
    runtime.rowgate.cache_clear()


@pytest.fixture
def watched(request, monkeypatch, tmp_path):
    """The registered functions under a dev host watching a local landing folder or an Azurite container."""
    from functions import runtime
    from functions.registry import registered
    from shared.settings import ENVIRONMENT, Settings

    storage = str(tmp_path / "storage") if request.param == "local" else request.getfixturevalue("azurite_storage")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", storage=storage)
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(settings, name)))
    runtime.rowgate.cache_clear()
    rowgate = runtime.rowgate()
    host = DevHost(registered(), rowgate.storage, poll_seconds=0, settle_seconds=0)
    yield rowgate, host, [h for h in host.hosted if h.trigger.type == "blobTrigger"]
    rowgate.engine.dispose()
    runtime.rowgate.cache_clear()


HOSTILE_NAMES = [
    "jobs/line\nbreak.csv",
    "jobs/tab\tand\rreturn.csv",
    "jobs/a..b.csv",
    "jobs/" + "é" * 120 + ".csv",  # 244 bytes: a stamp on top would pass the file system's 255
    "jobs/empleos año 日本 🙂.csv",
    "jobs/no extension",
    "jobs/quote'\"semi;colon,comma.csv",
]


@pytest.mark.parametrize("watched", ["local", pytest.param("azurite", marks=pytest.mark.azurite)], indirect=True)
def test_hostile_landing_names_are_loaded_once_and_archived_or_refused_without_a_crash(watched, caplog):
    rowgate, host, blobs = watched
    for number, name in enumerate(HOSTILE_NAMES, start=1):
        write(rowgate.storage, f"landing/{name}", f"{number},job {number}\n".encode())
    for _ in range(3):
        host.poll_blobs(blobs)
    with rowgate.engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT id FROM jobs ORDER BY id")).scalars().all()
        assert conn.execute(sa.text("SELECT count(*) FROM rowgate_loads WHERE status <> 'done'")).scalar_one() == 0
    assert loaded == [n for n, name in enumerate(HOSTILE_NAMES, start=1) if name.endswith(".csv")]
    assert list(rowgate.storage.list("landing/")) == []
    assert len(list(rowgate.storage.list("archive/"))) == len(loaded)
    refused = [p for p in rowgate.storage.list("rejected/") if not p.endswith(".reason.txt")]
    assert len(refused) == 1 and "no extension" in refused[0]
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


def two_dev_hosts_on_one_landing(tmp_path, database_url: str) -> None:
    """Two `rowgate serve` processes watch one landing folder: every file loads once and is archived once."""
    import os
    import signal
    import subprocess
    import sys

    from shared.context import open_rowgate
    from shared.settings import Settings
    from tests.api_host import free_port

    storage = tmp_path / "storage"
    (storage / "landing").mkdir(parents=True)
    # The schema first: two processes creating it at once is another defect (reported), not this test's subject.
    open_rowgate(Settings(database_url=database_url, storage=str(storage))).engine.dispose()
    env = {**os.environ, "ROWGATE_DATABASE_URL": database_url, "ROWGATE_STORAGE": str(storage), "PYTHONUNBUFFERED": "1"}
    logs = [tmp_path / f"host{n}.log" for n in (1, 2)]
    hosts = [
        subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", "--port", str(free_port()), "--poll", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            start_new_session=True,
        )
        for log in logs
    ]
    files = {f"landing/jobs/part{n:02d}.csv": "".join(f"{i},job {i}\n" for i in range(n * 500, n * 500 + 500)) for n in range(12)}
    files["landing/jobs/copy of part00.csv"] = files["landing/jobs/part00.csv"]  # the same content twice
    files["landing/jobs/overlap.csv"] = "".join(f"{i},job {i}\n" for i in range(250, 750))  # unchanged rows of two files
    try:
        for path, text in files.items():
            temporary = storage / f"{path}.part"
            temporary.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text)
            temporary.rename(storage / path)  # complete when it appears under its name
        archive = storage / "archive"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            landed = [p for p in (storage / "landing").rglob("*") if p.is_file()]
            archived = [p for p in archive.rglob("*") if p.is_file()] if archive.exists() else []
            if not landed and len(archived) >= len(files):
                break
            time.sleep(0.2)
    finally:
        for host in hosts:
            os.killpg(host.pid, signal.SIGINT)
        for host in hosts:
            host.wait(timeout=30)
    rowgate = open_rowgate(Settings(database_url=database_url, storage=str(storage)))
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM jobs")).one() == (6_000, 6_000)
        assert conn.execute(sa.text("SELECT count(*) FROM rowgate_rejections")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT status, count(*) FROM rowgate_loads GROUP BY status")).all() == [("done", 13)]
    rowgate.engine.dispose()
    archived = sorted(re.sub(r"\.\d{8}T\d{12}Z", "", p) for p in rowgate.storage.list("archive/"))
    assert archived == sorted(p.replace("landing/", "archive/", 1) for p in files)
    assert list(rowgate.storage.list("landing/")) == [] and list(rowgate.storage.list("rejected/")) == []
    for log in logs:
        # Two runs creating one ledger row (uq_loads_content) or inserting one key (pk_jobs) at once are
        # issue 8's concurrency defects of the ingest core (w8core's part); each fails one attempt, which the
        # watcher retries, so the counts above hold. Remove this allowance once that fix is merged.
        known = ("uq_loads_content", 'unique constraint "pk_jobs"')
        unexplained = [t for t in log.read_text().split("Traceback")[1:] if not any(k in t for k in known)]
        assert unexplained == [], unexplained[0][-3000:]


def test_two_dev_hosts_on_one_landing_folder_load_every_file_once(tmp_path):
    two_dev_hosts_on_one_landing(tmp_path, f"sqlite:///{tmp_path / 'rowgate.db'}")


@pytest.mark.postgres
def test_two_dev_hosts_on_one_landing_folder_load_every_file_once_on_postgresql(tmp_path, postgres_url):
    two_dev_hosts_on_one_landing(tmp_path, postgres_url)


def test_a_local_name_that_is_not_utf8_is_refused_with_a_reason_and_the_rest_load(tmp_path, make_rowgate):
    import os

    rowgate = make_rowgate()
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def ingest(client) -> None:
        ingest_stored(rowgate, f"{client.container_name}/{client.blob_name}")

    landing = tmp_path / "storage" / "landing" / "jobs"
    landing.mkdir(parents=True)
    with open(os.fsencode(landing) + b"/caf\xe9.csv", "wb") as out:  # Latin-1 bytes in the name
        out.write(b"1,Engineer\n")
    write(rowgate.storage, "landing/jobs/ok.csv", b"2,Analyst\n")
    host, blobs = blob_host(app, rowgate.storage)
    for _ in range(3):
        host.poll_blobs(blobs)
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM jobs")).scalars().all() == [2]
    [moved, reason] = sorted(rowgate.storage.list("rejected/"))
    assert re.fullmatch(r"rejected/jobs/caf_\.\d{8}T\d{12}Z\.csv", moved) and reason == f"{moved}.reason.txt"
    with rowgate.storage.open_read(reason) as stream:
        assert "not valid UTF-8" in stream.read().decode()
    assert list(rowgate.storage.list("landing/")) == []


def test_a_storage_error_during_a_poll_does_not_stop_the_watcher(tmp_path):
    app = func.FunctionApp()
    calls = []

    @app.blob_trigger(arg_name="client", path="landing/{name}", connection="AzureWebJobsStorage")
    def record(client) -> None:
        calls.append(client.blob_name)

    storage = LocalStorage(tmp_path)
    real_versions, failures = storage.versions, [OSError("storage unreachable")] * 3

    def flaky_versions(prefix):
        if failures:
            raise failures.pop()
        return real_versions(prefix)

    storage.versions = flaky_versions
    write(storage, "landing/a.csv", b"1,x\n")
    host = DevHost(app.get_functions(), storage, poll_seconds=0.02, settle_seconds=0)
    host.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not calls:
        time.sleep(0.02)
    host.stop()
    assert calls[:1] == ["a.csv"] and failures == []
