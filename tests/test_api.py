"""The HTTP API over real HTTP through the dev host, and the same handlers called as registered functions."""

from __future__ import annotations

import json
import sqlite3
import time

import azure.functions as func
import httpx
import pytest
from openapi_spec_validator import validate as validate_openapi

from shared.settings import Settings
from tests.api_host import finished, live_host
from tests.conftest import registered_functions


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", storage=str(tmp_path / "storage"))


@pytest.fixture
def api(monkeypatch, settings):
    with live_host(monkeypatch, settings) as (url, _host), httpx.Client(base_url=f"{url}/api", timeout=30) as client:
        yield client


def post_rows(api, table: str, rows, **params) -> httpx.Response:
    return api.post(f"/tables/{table}/rows", json=rows, params=params)


def hires(count: int, start: int = 1, department: int = 1) -> list[dict]:
    return [
        {"id": i, "name": f"N{i}", "datetime": "2021-05-01T10:00:00Z", "department_id": department, "job_id": 1}
        for i in range(start, start + count)
    ]


@pytest.fixture
def parents(api):
    assert post_rows(api, "departments", [{"id": 1, "department": "Sales"}, {"id": 2, "department": "Legal"}]).status_code == 200
    assert post_rows(api, "jobs", [{"id": 1, "job": "Clerk"}]).status_code == 200


def test_health_is_anonymous_and_names_the_dictionary(api):
    body = api.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["storage"] == "ok" and len(body["dictionary"]["digest"]) == 64


def test_tables_lists_the_dictionary(api):
    tables = api.get("/tables").json()["tables"]
    assert [t["name"] for t in tables][:3] == ["departments", "jobs", "categories"]
    assert tables[-1]["foreignKeys"][0] == {"fields": ["category_id"], "parent": "categories", "parentFields": ["category_id"]}


def test_one_row_and_a_thousand_rows(api, parents):
    one = post_rows(api, "hired_employees", {"rows": hires(1)})
    assert one.status_code == 200 and one.json() == {
        "table": "hired_employees",
        "received": 1,
        "inserted": 1,
        "unchanged": 0,
        "rejected": 0,
        "rejections": [],
    }
    thousand = post_rows(api, "hired_employees", hires(1000, start=2))
    assert thousand.status_code == 200 and thousand.json()["inserted"] == 1000
    page = api.get("/tables/hired_employees/rows", params={"limit": 1000}).json()
    assert len(page["rows"]) == 1000 and page["next"] == 1000
    assert api.get("/tables/hired_employees/rows", params={"after": page["next"]}).json()["rows"][0]["id"] == 1001


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"[]", "application/json", 400, "empty"),
        (b'{"rows": []}', "application/json", 400, "empty"),
        (b"[{", "application/json", 400, "malformed-json"),
        (b'{"id": 1}', "application/json", 400, "wrong-shape"),
        (b"[1, 2]", "application/json", 400, "wrong-shape"),
        (json.dumps([{"id": i, "department": "x"} for i in range(1001)]).encode(), "application/json", 413, "too-many-rows"),
        (b"[" + b" " * (5 * 1024 * 1024) + b"]", "application/json", 413, "too-large"),
        (b'[{"id": 1, "department": "x"}]', "text/csv", 415, "unsupported-media-type"),
    ],
    ids=["empty-list", "empty-rows", "malformed", "object-not-rows", "not-objects", "1001-rows", "over-4-mib", "wrong-content-type"],
)
def test_bad_bodies_get_their_status_and_change_nothing(api, body, content_type, status, code):
    response = api.post("/tables/departments/rows", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert api.get("/tables/departments/rows").json()["rows"] == []


def test_unknown_table_is_404(api):
    response = post_rows(api, "salaries", [{"id": 1}])
    assert response.status_code == 404 and "unknown table 'salaries'" in response.json()["error"]["message"]
    assert api.get("/tables/salaries/rows").status_code == 404


MIXED = [
    {"id": 10, "name": "Ok", "datetime": "2021-05-01T10:00:00Z", "department_id": 1, "job_id": 1},
    {"id": "12abc", "name": "Bad id", "datetime": "2021-05-01T10:00:00Z", "department_id": 1, "job_id": 1},
    {"id": 11, "name": "No parent", "datetime": "2021-13-01T00:00:00Z", "department_id": 99, "job_id": 1},
    {"id": 12, "name": ["not", "a", "string"], "datetime": "2021-05-01T10:00:00Z", "department_id": 1, "job_id": 1, "extra": 1},
]


def test_mixed_batch_inserts_the_valid_rows_and_logs_the_rest(api, parents):
    body = post_rows(api, "hired_employees", MIXED).json()
    assert (body["inserted"], body["rejected"]) == (1, 3)
    errors = {r["index"]: {(e["field"], e["code"]) for e in r["errors"]} for r in body["rejections"]}
    assert errors == {
        1: {("id", "type-error")},
        2: {("datetime", "type-error")},
        3: {("extra", "extra-cell"), ("name", "type-error")},
    }
    logged = api.get("/rejections", params={"table": "hired_employees"}).json()["rejections"]
    assert len(logged) == 3 and all(r["source"].startswith("api:") for r in logged)


def test_atomic_batch_with_one_bad_row_inserts_nothing(api, parents):
    response = post_rows(api, "hired_employees", MIXED, atomic="true")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "batch-refused" and error["rejected"] == 3
    assert (error["inserted"], error["unchanged"]) == (0, 0)  # counts say what happened: nothing was written
    assert api.get("/tables/hired_employees/rows").json()["rows"] == []
    assert api.get("/rejections").json()["rejections"] == []
    assert post_rows(api, "hired_employees", MIXED[:1], atomic="true").json()["inserted"] == 1


def test_replayed_batch_changes_nothing(api, parents):
    first = post_rows(api, "hired_employees", MIXED).json()
    again = post_rows(api, "hired_employees", MIXED).json()
    assert again == first  # the outcome that was committed, for a client retrying a lost answer
    assert len(api.get("/rejections").json()["rejections"]) == 3


def test_a_batch_is_known_by_its_rows_whatever_their_keys_order_or_spacing(api, parents, settings):
    first = post_rows(api, "hired_employees", hires(2)).json()
    reordered = [dict(reversed(list(row.items()))) for row in hires(2)]
    body = json.dumps(reordered, indent=3).encode()
    again = api.post("/tables/hired_employees/rows", content=body, headers={"content-type": "application/json"}).json()
    assert first["inserted"] == 2 and again == first  # a replay of the first: nothing written again
    other = post_rows(api, "hired_employees", hires(1) + hires(1, start=2, department=2)).json()
    assert (other["inserted"], other["unchanged"], other["rejected"]) == (0, 1, 1)  # other rows: a batch of its own
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:
        hashes = [h for (h,) in db.execute("SELECT content_hash FROM rowgate_loads WHERE table_name = 'hired_employees'")]
    assert len(hashes) == 2 and all(h.startswith("sha256o:") and len(h) == len("sha256o:") + 64 for h in hashes)


def test_a_key_loaded_with_other_values_is_refused(api, parents):
    post_rows(api, "departments", [{"id": 3, "department": "Ops"}])
    body = post_rows(api, "departments", [{"id": 3, "department": "Operations"}]).json()
    assert body["rejections"][0]["errors"][0]["code"] == "primary-key"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/reports/hires-by-quarter", {"year": "1899"}),
        ("/reports/hires-by-quarter", {"year": "2101"}),
        ("/reports/departments-above-mean", {"year": "abc"}),
        ("/reports/departments-above-mean", {"format": "xml"}),
        ("/courses/recent", {"limit": "0"}),
        ("/courses/recent", {"limit": "1001"}),
        ("/courses/recent", {"limit": "-1"}),
        ("/courses/recent", {"since": "yesterday"}),
        ("/tables/departments/rows", {"limit": "0"}),
        ("/tables/departments/rows", {"after": "x"}),
        ("/rejections", {"limit": "1001"}),
        ("/tables/departments/rows", {"atomic": "yes"}),
    ],
)
def test_bad_parameters_are_400_with_the_reason(api, path, params):
    method = api.post if params.get("atomic") else api.get
    response = method(path, params=params, **({"json": [{"id": 1, "department": "x"}]} if params.get("atomic") else {}))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_reports_in_json_and_csv(api, parents):
    post_rows(api, "hired_employees", hires(3) + hires(1, start=4, department=2))
    report = api.get("/reports/departments-above-mean").json()
    assert report == {"year": 2021, "rows": [{"id": 1, "department": "Sales", "hired": 3}]}
    csv_text = api.get("/reports/hires-by-quarter", params={"year": 2021, "format": "csv"}).text
    assert csv_text.splitlines() == [
        '"department","job","q1","q2","q3","q4"',
        '"Legal","Clerk","0","1","0","0"',
        '"Sales","Clerk","0","3","0","0"',
    ]


def test_recent_courses_with_iso_dates(api):
    post_rows(api, "categories", [{"category_id": 1, "category_name": "Data"}])
    post_rows(api, "levels", [{"level_id": 1, "level_name": "Beginner"}])
    post_rows(
        api,
        "courses",
        [
            {"course_id": i, "course_name": f"C{i}", "category_id": 1, "level_id": 1, "start_date": f"2024-0{i}-01T00:00:00Z"}
            for i in (1, 2, 3)
        ],
    )
    body = api.get("/courses/recent", params={"since": "2024-02-01", "limit": 5}).json()
    assert [(c["course_id"], c["start_date"]) for c in body["rows"]] == [(3, "2024-03-01T00:00:00Z"), (2, "2024-02-01T00:00:00Z")]


def test_rejections_replay_loads_rows_whose_parent_arrived(api):
    post_rows(api, "jobs", [{"id": 1, "job": "Clerk"}])
    assert post_rows(api, "hired_employees", hires(2)).json()["rejected"] == 2
    post_rows(api, "departments", [{"id": 1, "department": "Sales"}])  # re-drives the children on its own
    assert api.get("/rejections").json()["rejections"] == []
    assert len(api.get("/tables/hired_employees/rows").json()["rows"]) == 2
    replayed = finished(api, api.post("/rejections/replay"))
    assert replayed["output"]["results"][0] == {"table": "departments", "replayed": 0, "resolved": 0, "still_refused": 0, "need_a_fix": 0}


def test_openapi_document_is_valid_and_lists_every_route(api):
    document = api.get("/openapi.json").json()
    validate_openapi(document)
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert ("POST", "/api/tables/{table}/rows") in operations and ("GET", "/api/health") in operations
    http_functions = [f for f in registered_functions().values() if any(b.type == "httpTrigger" for b in f.get_bindings())]
    assert len(operations) == len(http_functions)
    assert document["components"]["schemas"]["Row_hired_employees"]["required"] == ["id", "name", "datetime", "department_id", "job_id"]


def test_function_key_is_required_when_set(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", storage=str(tmp_path / "s"), function_key="s3cret")
    with live_host(monkeypatch, settings) as (url, _), httpx.Client(base_url=f"{url}/api") as client:
        assert client.get("/tables").status_code == 401
        assert client.get("/tables", headers={"x-functions-key": "wrong"}).status_code == 401
        assert client.get("/tables", headers={"x-functions-key": "s3cret"}).status_code == 200
        assert client.get("/tables", params={"code": "s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_a_file_dropped_in_landing_is_ingested_and_served(monkeypatch, settings, challenge):
    with live_host(monkeypatch, settings, poll_seconds=0.1) as (url, host), httpx.Client(base_url=f"{url}/api") as client:
        for name in ("departments", "jobs"):
            with host.storage.open_write(f"landing/{name}.csv") as out:
                out.write((challenge / f"{name}.csv").read_bytes())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and list(host.storage.list("landing/")):
            time.sleep(0.1)  # a file leaves landing/ as the last step of its ingest
        assert list(host.storage.list("landing/")) == []
        assert len(client.get("/tables/jobs/rows", params={"limit": 1000}).json()["rows"]) == 183


def call(
    name: str, method: str = "GET", params: dict | None = None, route: dict | None = None, body: bytes = b"", headers: dict | None = None
):
    request = func.HttpRequest(
        method, f"http://localhost/api/{name}", headers=headers or {}, params=params or {}, route_params=route or {}, body=body
    )
    return registered_functions()[name].get_user_function()(request)


def test_registered_handlers_called_directly(monkeypatch, settings):
    with live_host(monkeypatch, settings):
        rows = json.dumps([{"id": 1, "department": "Sales"}, {"id": "x", "department": "Bad"}]).encode()
        response = call("insert_batch", "POST", route={"table": "departments"}, body=rows, headers={"content-type": "application/json"})
        assert response.status_code == 200 and json.loads(response.get_body())["rejected"] == 1
        assert call("hires_by_quarter", params={"year": "1899"}).status_code == 400
        assert json.loads(call("read_rows", route={"table": "departments"}).get_body())["rows"] == [{"id": 1, "department": "Sales"}]
        assert (
            call("insert_batch", "POST", route={"table": "nope"}, body=rows, headers={"content-type": "application/json"}).status_code
            == 404
        )


def test_json_rows_become_the_cells_a_file_would_hold_whole_columns_or_row_by_row():
    from shared.dictionary import load
    from shared.fieldtypes import json_cell
    from shared.jsonrows import as_chunk

    spec = load().table("hired_employees")
    clean = [{"id": 2**70, "name": "Ana", "datetime": "2021-05-01T10:00:00Z", "department_id": -3, "job_id": None}, {"id": 7}]
    chunk = as_chunk(spec, clean)  # every value taken: built a column at a time, a 65-bit integer as its text too
    assert {n: c.to_pylist() for n, c in chunk.columns.items()} == {
        f.name: [json_cell(f, row.get(f.name)) for row in clean] for f in spec.fields
    }
    assert (chunk.row_numbers.tolist(), chunk.refused) == ([1, 2], [])
    mixed = [*clean, {"id": True, "name": "Bo"}, {"id": 9, "extra": 1}]
    chunk = as_chunk(spec, mixed)  # a row refused: the others as before, row by row
    assert chunk.columns["id"].to_pylist() == [str(2**70), "7"] and chunk.row_numbers.tolist() == [1, 2]
    assert [(r.row_number, [e.code for e in r.errors]) for r in chunk.refused] == [(3, ["type-error"]), (4, ["extra-cell"])]
