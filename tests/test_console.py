"""The console's server side over real HTTP on the dev host: the page and its assets (hashed, cached, a CSP, no
inline script), the overview (counts equal the tables' and the rejections API's; estimates only past a size),
uploads in blocks that the blob trigger then ingests, and restoring a backup set. Browser tests: test_console_browser.py."""

from __future__ import annotations

import html.parser
import re
import time

import httpx
import pytest
import sqlalchemy as sa

from functions import console
from functions.http import POLICY
from shared import overview
from shared.limits import UPLOAD_BLOCK_BYTES
from shared.overview import catalog_query, row_count
from shared.settings import Settings
from tests.api_host import finished, live_host
from tests.test_azure_sql import tsql_problems

HR = b"1,Sales\n2,Legal\n3,Data\n"


@pytest.fixture
def host(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'console.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, dev):
        yield url, dev


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.links, self.inline = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.links.append(attrs["href"])
        if tag == "style" or "style" in attrs or any(name.startswith("on") for name in attrs):
            self.inline.append((tag, attrs))

    def handle_data(self, data):
        if self.lasttag == "script" and data.strip():
            self.inline.append(("script", data[:40]))


def test_the_page_has_a_policy_no_inline_script_and_hashed_assets_cached_for_a_year(host):
    url, _ = host
    page = httpx.get(f"{url}/api/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["cache-control"] == "no-cache" and page.headers["x-content-type-options"] == "nosniff"
    parsed = Page()
    parsed.feed(page.text)
    assert parsed.inline == [], "no inline script, style or handler: the policy would block them"
    version, files = console.assets()
    assert all(src.startswith(f"console/assets/{version}/") for src in parsed.scripts + parsed.links)
    for src in parsed.scripts + parsed.links:
        asset = httpx.get(f"{url}/api/{src}")
        assert asset.status_code == 200, src
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert asset.content == files[src.removeprefix(f"console/assets/{version}/")]


def test_every_answer_of_the_api_carries_the_policy_and_nosniff_not_only_the_page(host):
    """The page's policy and nosniff were on the page and its assets only: a 404 for a script the page asks for,
    a JSON answer echoing a parameter, a CSV report, a refused write went without them."""
    url, _ = host
    answers = [
        httpx.get(f"{url}/api/console/assets/0000/app.js"),
        httpx.get(f"{url}/api/health"),
        httpx.get(f"{url}/api/overview"),
        httpx.get(f"{url}/api/rejections", params={"<script>": "1"}),
        httpx.get(f"{url}/api/reports/hires-by-quarter", params={"year": 2021, "format": "csv"}),
        httpx.post(f"{url}/api/tables/jobs/rows", content=b"[]", headers={"content-type": "text/plain"}),
        httpx.get(f"{url}/api/openapi.json"),
    ]
    assert [a.status_code for a in answers] == [404, 200, 200, 400, 200, 415, 200]
    for answer in answers:
        assert answer.headers.get("content-security-policy") == POLICY, answer.request.url
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url


def test_assets_of_another_version_or_outside_the_folder_are_404_json(host):
    url, _ = host
    version, _ = console.assets()
    for path in (f"console/assets/{'0' * 16}/app.js", f"console/assets/{version}/nope.js", f"console/assets/{version}/../index.html"):
        answer = httpx.get(f"{url}/api/{path}")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not-found", path
    index = httpx.get(f"{url}/api/console/assets/{version}/index.html")
    assert index.status_code == 404, "the page is served at its own route, never as an asset"
    odd = httpx.get(f"{url}/api/console/assets/x%0Ay/%F1%91%9D%91")
    assert odd.status_code == 404 and odd.json()["error"]["code"] == "not-found"


def test_the_version_changes_when_any_asset_changes(monkeypatch, tmp_path):
    (tmp_path / "index.html").write_text("{assets}")
    (tmp_path / "a.js").write_text("1")
    monkeypatch.setattr(console, "ASSETS", tmp_path)
    console.assets.cache_clear()
    try:
        first, _ = console.assets()
        (tmp_path / "a.js").write_text("2")
        console.assets.cache_clear()
        assert console.assets()[0] != first
    finally:
        console.assets.cache_clear()


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def land(dev, path: str, data: bytes) -> None:
    with dev.storage.open_write(path) as out:
        out.write(data)


def test_the_overview_counts_equal_the_tables_and_the_rejections_api(host):
    url, dev = host
    land(dev, "landing/departments.csv", HR)
    land(dev, "landing/jobs.csv", b"1,Engineer\nx,Broken\n")
    wait_for(lambda: not list(dev.storage.list("landing/")))  # both ingested and archived
    httpx.post(f"{url}/api/tables/departments/rows", json=[{"id": 4, "department": "Ops"}, {"id": "no", "department": "Bad"}])
    answer = httpx.get(f"{url}/api/overview").json()
    tables = {t["name"]: t for t in answer["tables"]}
    assert list(tables) == ["departments", "jobs", "categories", "levels", "hired_employees", "courses"], "parents first"
    for name, table in tables.items():
        rows = httpx.get(f"{url}/api/tables/{name}/rows", params={"limit": 1000}).json()["rows"]
        rejected = httpx.get(f"{url}/api/rejections", params={"table": name, "limit": 1000}).json()["rejections"]
        assert (table["rows"], table["rows_exact"], table["open_rejections"]) == (len(rows), True, len(rejected)), name
    departments = tables["departments"]["loads"]
    assert [load["kind"] for load in departments] == ["batch", "file"], "newest first"
    assert departments[0]["source"].startswith("api:") and departments[1]["source"] == "landing/departments.csv"
    assert (departments[1]["inserted"], departments[1]["rejected"], departments[1]["status"]) == (3, 0, "done")
    assert (departments[0]["inserted"], departments[0]["rejected"]) == (1, 1)
    assert tables["jobs"]["loads"][0]["rejected"] == tables["jobs"]["loads"][0]["open_rejections"] == 1
    assert departments[0]["open_rejections"] == 1 and departments[1]["open_rejections"] == 0
    assert httpx.get(f"{url}/api/overview", params={"loads": 1}).json()["tables"][0]["loads"] == departments[:1]
    assert httpx.get(f"{url}/api/overview", params={"loads": 0}).status_code == 400
    assert httpx.get(f"{url}/api/overview", params={"nope": 1}).status_code == 400


def test_a_load_says_how_many_of_its_rows_are_still_refused_after_a_re_drive(host):
    url, dev = host
    land(dev, "landing/hired_employees.csv", b"1,Ana,2021-01-01T00:00:00Z,1,1\n2,Bo,2021-02-01T00:00:00Z,1,1\n")
    wait_for(lambda: not list(dev.storage.list("landing/")))
    land(dev, "landing/departments.csv", HR)
    land(dev, "landing/jobs.csv", b"1,Engineer\n")
    wait_for(lambda: len(httpx.get(f"{url}/api/tables/hired_employees/rows").json()["rows"]) == 2)
    hires = next(t for t in httpx.get(f"{url}/api/overview").json()["tables"] if t["name"] == "hired_employees")
    assert (hires["rows"], hires["open_rejections"]) == (2, 0)
    assert (hires["loads"][0]["rejected"], hires["loads"][0]["open_rejections"]) == (2, 0), "refused on arrival, loaded by the re-drive"


def test_the_overview_counts_backups_per_table(host):
    url, dev = host
    land(dev, "landing/departments.csv", HR)
    wait_for(lambda: httpx.get(f"{url}/api/tables/departments/rows").json()["rows"])
    with httpx.Client() as client:
        finished(client, client.post(f"{url}/api/backups"))
        finished(client, client.post(f"{url}/api/backups", params={"table": "departments"}))
    tables = {t["name"]: t for t in httpx.get(f"{url}/api/overview").json()["tables"]}
    assert tables["departments"]["backups"] == 2 and tables["jobs"]["backups"] == 1
    newest = httpx.get(f"{url}/api/backups", params={"table": "departments"}).json()["backups"][0]
    assert tables["departments"]["last_backup"] == newest["created"]


@pytest.mark.postgres
def test_on_postgresql_a_big_table_shows_the_catalog_estimate_a_small_one_its_count(make_rowgate, postgres_url, monkeypatch):
    core = make_rowgate(postgres_url)
    with core.engine.begin() as conn:
        conn.execute(core.metadata.tables["departments"].insert(), [{"id": i, "department": f"d{i}"} for i in range(1, 2001)])
    table = core.metadata.tables["departments"]
    with core.engine.connect() as conn:
        assert row_count(conn, table) == (2000, True), "never analyzed: no estimate, an exact count"
    with core.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE departments")
        conn.execute(table.delete().where(table.c.id > 1990))  # the catalog still says 2,000 until the next ANALYZE
    monkeypatch.setattr(overview, "ESTIMATE_FROM", 1000)
    with core.engine.connect() as conn:
        assert row_count(conn, table) == (2000, False), "past ESTIMATE_FROM the catalog's number, marked an estimate"
    monkeypatch.setattr(overview, "ESTIMATE_FROM", 5000)
    with core.engine.connect() as conn:
        assert row_count(conn, table) == (1990, True)
    core.engine.dispose()


def test_the_sql_server_catalog_query_keeps_the_t_sql_rules():
    sql = str(catalog_query("mssql", "departments").compile(compile_kwargs={"literal_binds": False}))
    assert "sys.partitions" in sql and tsql_problems(sql.replace(":name", "?")) == []
    assert catalog_query("sqlite", "departments") is None


def upload(url: str, table: str, name: str, data: bytes, block: int = UPLOAD_BLOCK_BYTES, **headers) -> httpx.Response:
    with httpx.Client(timeout=60, headers=headers) as client:
        started = client.post(f"{url}/api/uploads", params={"table": table, "name": name})
        assert started.status_code == 201, started.text
        body = started.json()
        query = {"table": table, "name": name}
        parts = [data[i : i + block] for i in range(0, len(data), block)]
        for index, part in enumerate(parts):
            put = client.put(
                f"{url}/api/uploads/{body['upload']}/blocks/{index}",
                params=query,
                content=part,
                headers={"content-type": "application/octet-stream"},
            )
            assert put.status_code == 200, put.text
        return client.post(f"{url}/api/uploads/{body['upload']}/commit", params=query, json={"blocks": len(parts), "bytes": len(data)})


def jobs_csv(rows: int) -> bytes:
    return b"".join(b"%d,Job title %d\n" % (i, i) for i in range(1, rows + 1))


@pytest.mark.parametrize("backend", ["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def test_a_file_bigger_than_a_block_uploaded_over_http_is_ingested_once_complete(monkeypatch, tmp_path, request, backend):
    storage = str(tmp_path / "storage") if backend == "local" else request.getfixturevalue("azurite_storage")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'up.db'}", storage=storage)
    data = jobs_csv(400_000)
    assert len(data) > 2 * UPLOAD_BLOCK_BYTES
    with live_host(monkeypatch, settings) as (url, dev):
        committed = upload(url, "jobs", "jobs export.csv", data)
        assert committed.status_code == 201, committed.text
        path = committed.json()["path"]
        assert re.fullmatch(r"landing/jobs/jobs_export\.[0-9a-f]{32}\.csv", path)
        loads = wait_for(
            lambda: [load for load in httpx.get(f"{url}/api/overview").json()["tables"][1]["loads"] if load["status"] == "done"], 60
        )
        assert loads[0]["source"] == path and (loads[0]["inserted"], loads[0]["rejected"]) == (400_000, 0)
        assert wait_for(lambda: not list(dev.storage.list("landing/")))


def test_upload_requests_that_are_wrong_are_4xx_json_and_land_nothing(host):
    url, dev = host
    started = httpx.post(f"{url}/api/uploads", params={"table": "jobs", "name": "jobs.csv"}).json()
    block = f"{url}/api/uploads/{started['upload']}/blocks/0"
    query = {"table": "jobs", "name": "jobs.csv"}
    octets = {"content-type": "application/octet-stream"}
    cases = [
        (httpx.post(f"{url}/api/uploads", params={"table": "nope", "name": "x.csv"}), 404),
        (httpx.post(f"{url}/api/uploads", params={"table": "jobs", "name": "x.xlsx"}), 400),
        (httpx.post(f"{url}/api/uploads", params={"table": "jobs"}), 400),
        (httpx.post(f"{url}/api/uploads", params=query, json={"table": "jobs"}), 400),
        (httpx.put(block, params=query, content=b"1,x\n", headers={"content-type": "text/plain"}), 415),
        (httpx.put(block, params=query, content=b"", headers=octets), 400),
        (httpx.put(block, params=query, content=b"x" * (UPLOAD_BLOCK_BYTES + 1), headers=octets), 413),
        (httpx.put(f"{url}/api/uploads/{started['upload']}/blocks/-1", params=query, content=b"x", headers=octets), 400),
        (httpx.put(f"{url}/api/uploads/{'z' * 32}/blocks/0", params=query, content=b"x", headers=octets), 400),
        (httpx.put(block, params=query, content=b"1,x\n", headers=octets | {"sec-fetch-site": "cross-site"}), 403),
        (httpx.put(block, params=query, content=b"1,x\n", headers=octets | {"origin": "https://evil.example"}), 403),
        (httpx.post(f"{url}/api/uploads/{started['upload']}/commit", params=query, json={"blocks": 1, "bytes": 4}), 400),
        (httpx.post(f"{url}/api/uploads/{started['upload']}/commit", params=query, json={"blocks": "1", "bytes": 4}), 400),
        (
            httpx.post(
                f"{url}/api/uploads/{started['upload']}/commit", params=query, content=b"[]", headers={"content-type": "text/plain"}
            ),
            415,
        ),
        (httpx.put(f"{url}/api/uploads/{started['upload']}/blocks/\u00b2", params=query, content=b"x", headers=octets), 400),
        (httpx.put(f"{url}/api/uploads/{started['upload']}/blocks/\u0663", params=query, content=b"x", headers=octets), 400),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert set(answer.json()["error"]) >= {"code", "message"} and "Traceback" not in answer.text
    assert "never received" in cases[11][0].json()["error"]["message"]
    assert list(dev.storage.list("landing/")) == []


def test_with_a_function_key_the_page_is_open_and_the_data_is_not(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", storage=str(tmp_path / "storage"), function_key="s3cret-key")
    with live_host(monkeypatch, settings) as (url, _):
        assert httpx.get(f"{url}/api/console").status_code == 200
        version, _ = console.assets()
        assert httpx.get(f"{url}/api/console/assets/{version}/app.js").status_code == 200
        assert "s3cret-key" not in httpx.get(f"{url}/api/console").text
        assert httpx.get(f"{url}/api/overview").status_code == 401
        assert httpx.post(f"{url}/api/uploads", params={"table": "jobs", "name": "j.csv"}).status_code == 401
        assert httpx.get(f"{url}/api/overview", headers={"x-functions-key": "s3cret-key"}).status_code == 200


def load_departments_and_jobs(url: str, dev) -> None:
    land(dev, "landing/departments.csv", HR)
    land(dev, "landing/jobs.csv", b"1,Engineer\n")
    wait_for(
        lambda: httpx.get(f"{url}/api/tables/jobs/rows").json()["rows"] and httpx.get(f"{url}/api/tables/departments/rows").json()["rows"]
    )


def test_restoring_a_set_brings_every_table_back_to_it(host):
    url, dev = host
    load_departments_and_jobs(url, dev)
    with httpx.Client(timeout=30) as client:
        taken = finished(client, client.post(f"{url}/api/backups"))["output"]
        client.post(f"{url}/api/tables/departments/rows", json=[{"id": 50, "department": "Later"}])
        client.post(f"{url}/api/tables/jobs/rows", json=[{"id": 60, "job": "Later"}])
        refused = client.post(f"{url}/api/backups/restore", json={"at": "yesterday"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad-stamp"
        missing = finished(client, client.post(f"{url}/api/backups/restore", json={"at": "19990101T000000000000Z"}))["output"]
        assert missing["error"]["status"] == 404
        done = finished(client, client.post(f"{url}/api/backups/restore", json={"at": taken["at"]}))["output"]
        results = {r["table"]: r for r in done["results"]}
        assert (results["departments"]["deleted"], results["jobs"]["deleted"]) == (1, 1)
        assert [r["id"] for r in client.get(f"{url}/api/tables/departments/rows").json()["rows"]] == [1, 2, 3]
        assert [r["id"] for r in client.get(f"{url}/api/tables/jobs/rows").json()["rows"]] == [1]


def test_a_confirmed_set_is_restored_exactly_or_refused_never_replaced_by_an_older_one(host):
    """The console confirms one set and sends {"set": its stamp}: if it is no longer complete when the job runs, the job
    refuses (409) and nothing changes; {"at": ...} still means "that set or the newest complete one before it"."""
    url, dev = host
    load_departments_and_jobs(url, dev)
    with httpx.Client(timeout=30) as client:
        older = finished(client, client.post(f"{url}/api/backups"))["output"]
        client.post(f"{url}/api/tables/jobs/rows", json=[{"id": 60, "job": "Later"}])
        newer = finished(client, client.post(f"{url}/api/backups"))["output"]
        client.post(f"{url}/api/tables/jobs/rows", json=[{"id": 70, "job": "Latest"}])
        [jobs_backup] = [b["name"] for b in newer["backups"] if b["table"] == "jobs"]
        dev.storage.delete(jobs_backup)  # retention, or a person, took one file of the confirmed set
        refused = finished(client, client.post(f"{url}/api/backups/restore", json={"set": newer["at"]}))["output"]
        assert (refused["error"]["status"], refused["error"]["code"]) == (409, "set-incomplete")
        assert "jobs" in refused["error"]["message"]
        assert [r["id"] for r in client.get(f"{url}/api/tables/jobs/rows").json()["rows"]] == [1, 60, 70], "nothing changed"
        both = client.post(f"{url}/api/backups/restore", json={"set": newer["at"], "at": newer["at"]})
        assert both.status_code == 400 and both.json()["error"]["code"] == "wrong-shape"
        fallback = finished(client, client.post(f"{url}/api/backups/restore", json={"at": newer["at"]}))["output"]
        assert {b["created"] for b in older["backups"]} == {older["at"]}
        assert {r["backup"] for r in fallback["results"]} == {b["name"] for b in older["backups"]}, "the older set, as at says"


def test_batches_of_two_tables_under_one_request_id_count_their_own_refusals(host):
    url, _ = host
    headers = {"x-request-id": "shared-id"}
    httpx.post(
        f"{url}/api/tables/departments/rows", json=[{"id": 1, "department": "Ops"}, {"id": "no", "department": "x"}], headers=headers
    )
    httpx.post(f"{url}/api/tables/jobs/rows", json=[{"id": "a", "job": "x"}, {"id": "b", "job": "y"}], headers=headers)
    tables = {t["name"]: t for t in httpx.get(f"{url}/api/overview").json()["tables"]}
    assert [(load["rejected"], load["open_rejections"]) for load in tables["departments"]["loads"]] == [(1, 1)]
    assert [(load["rejected"], load["open_rejections"]) for load in tables["jobs"]["loads"]] == [(2, 2)]


def test_the_overview_reads_the_ledger_per_table_not_all_of_it(make_rowgate):
    """The last loads are a keyed read per table: the statement names the table and a LIMIT."""
    core = make_rowgate()
    statements = []
    sa.event.listen(core.engine, "before_cursor_execute", lambda conn, cursor, sql, *args: statements.append(sql))
    overview.overview(core, 3)
    ledger = [s for s in statements if "FROM rowgate_loads" in s]
    assert len(ledger) == len(core.dictionary.tables) and all("LIMIT" in s and "table_name = ?" in s for s in ledger)
    core.engine.dispose()


def test_a_second_commit_of_an_upload_is_a_409_and_changes_nothing(host):
    url, dev = host
    query = {"table": "jobs", "name": "jobs.csv"}
    started = httpx.post(f"{url}/api/uploads", params=query).json()
    octets = {"content-type": "application/octet-stream"}
    httpx.put(f"{url}/api/uploads/{started['upload']}/blocks/0", params=query, content=b"1,Engineer\n", headers=octets)
    commit = f"{url}/api/uploads/{started['upload']}/commit"
    assert httpx.post(commit, params=query, json={"blocks": 1, "bytes": 11}).status_code == 201
    httpx.put(f"{url}/api/uploads/{started['upload']}/blocks/0", params=query, content=b"2,Other\n", headers=octets)
    again = httpx.post(commit, params=query, json={"blocks": 1, "bytes": 8})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already-committed"
    incomplete = httpx.post(f"{url}/api/uploads/{'a' * 32}/commit", params=query, json={"blocks": 2, "bytes": 8})
    assert incomplete.status_code == 400 and incomplete.json()["error"]["code"] == "upload-incomplete"
