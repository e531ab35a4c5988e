"""The HTTP surface against hostile callers: each case is refused with a 4xx and the JSON error body, both by
the function handlers themselves (called with azure.functions.HttpRequest, as the worker does on Azure) and
over real HTTP through the dev host."""

from __future__ import annotations

import asyncio
import inspect
import json

import azure.functions as func
import httpx
import pytest

from functions.http import HttpError, read_json
from functions.registry import registered
from shared.devhost import LocalDurableClient, hosted_functions
from shared.settings import Settings
from tests.api_host import live_host
from tests.conftest import registered_functions

JSON = {"content-type": "application/json"}
ROW = b'[{"id": 1, "department": "Sales"}]'
HIRE = '[{"id": 1, "name": "x", "datetime": "%s", "department_id": 1, "job_id": 1}]'


def batch(case: str, body: bytes, status: int, code: str, headers: dict = JSON) -> tuple:
    return (case, "insert_batch", "POST", "/tables/departments/rows", {"table": "departments"}, {}, body, headers, status, code)


def query(case: str, name: str, path: str, params: dict, code: str = "bad-parameter", route: dict | None = None) -> tuple:
    method = "POST" if name == "replay_rejections" else "GET"
    return (case, name, method, path, route or {}, params, b"", {}, 400, code)


def restore(case: str, body: bytes, status: int, code: str, headers: dict = JSON) -> tuple:
    return (case, "restore_table", "POST", "/tables/departments/restore", {"table": "departments"}, {}, body, headers, status, code)


def start(case: str, body: bytes, status: int, code: str, headers: dict = JSON, name: str = "migrate") -> tuple:
    return (case, "start_orchestration", "POST", f"/orchestrators/{name}", {"name": name}, {}, body, headers, status, code)


def query_route_body(case: str, name: str, path: str, body: bytes) -> tuple:
    """A body on a route that takes its table in the query: refused, never read as "every table"."""
    return (case, name, "POST", path, {}, {}, body, JSON, 400, "wrong-shape")


def rejection(
    case: str, rejection_id: str, method: str = "GET", body: bytes = b"", status: int = 404, code: str = "not-found", **kw
) -> tuple:
    name = "fix_rejection" if method == "PATCH" else "get_rejection"
    path = f"/rejections/{rejection_id}"
    return (case, name, method, path, {"id": rejection_id}, {}, body, kw.get("headers", JSON), status, code)


def fix(case: str, body: bytes, status: int, code: str, headers: dict = JSON) -> tuple:
    return rejection(case, "1", "PATCH", body, status, code, headers=headers)


DEPARTMENTS = {"table": "departments"}
# (case, function, method, path, route params, query, body, headers, status, error code)
CASES = [
    batch("nested-100000", b"[" * 100_000, 400, "too-deep"),
    batch("nested-object", b'[{"id": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}]", 400, "too-deep"),
    batch("int-5000-digits", b'[{"id": ' + b"9" * 5000 + b', "department": "x"}]', 400, "number-too-large"),
    batch("int-over-64-bits", b'[{"id": 9223372036854775808, "department": "x"}]', 400, "number-too-large"),
    batch("float-1e999", b'[{"id": 1e999, "department": "x"}]', 400, "number-too-large"),
    batch("nan", b'[{"id": NaN, "department": "x"}]', 400, "malformed-json"),
    batch("surrogate-value", b'[{"id": 1, "department": "\\ud800"}]', 400, "bad-text"),
    batch("surrogate-key", b'[{"id": 1, "\\udfff": "x"}]', 400, "bad-text"),
    batch("duplicate-key", b'[{"id": 1, "department": "Sales", "department": "Evil"}]', 400, "duplicate-key"),
    batch("duplicate-key-nested", b'{"rows": [{"id": 1, "department": "a"}], "rows": []}', 400, "duplicate-key"),
    restore("restore-duplicate-key", b'{"backup": "a.avro", "backup": "b.avro"}', 400, "duplicate-key"),
    batch("nul-value", b'[{"id": 1, "department": "a\\u0000b"}]', 400, "bad-text"),
    # Bodies orjson (the fast parser) reads where the strict one refuses: the strict parser's verdict stands.
    batch("int-over-unsigned-64-bits", b'[{"id": 18446744073709551616, "department": "x"}]', 400, "number-too-large"),
    batch("int-under-64-bits", b'[{"id": -9223372036854775809, "department": "x"}]', 400, "number-too-large"),
    batch("nested-33", b"[" * 33 + b"]" * 33, 400, "too-deep"),
    batch("nul-key", b'[{"id": 1, "a\\u0000": "x"}]', 400, "bad-text"),
    # A number a 64-bit float would round: refused, never stored rounded (send it as a string)
    batch("float-20-digits", b'[{"id": 1, "department": 12345678901234567890.123}]', 400, "number-not-exact"),
    batch("float-17-digits", b'[{"id": 1, "department": 0.10000000000000001}]', 400, "number-not-exact"),
    batch("duplicate-key-escaped", b'[{"id": 1, "department": "a", "departmen\\u0074": "b"}]', 400, "duplicate-key"),
    batch("duplicate-key-escaped-colon", b'[{"id": 1, "a:": "x", "a\\u003a": "y"}]', 400, "duplicate-key"),
    batch("duplicate-key-colons", b'[{"id": 1, "department": "a:b", "department": "c:d"}]', 400, "duplicate-key"),
    batch("request-id-2000", ROW, 400, "bad-request-id", {**JSON, "x-request-id": "r" * 2000}),
    batch("request-id-path", ROW, 400, "bad-request-id", {**JSON, "x-request-id": "../../landing/departments.csv"}),
    batch("other-origin", ROW, 403, "cross-origin", {**JSON, "origin": "null"}),
    query("since-overflow", "recent_courses", "/courses/recent", {"since": "0001-01-01T00:00:00+01:00"}),
    query("since-year-10000", "recent_courses", "/courses/recent", {"since": "9999-12-31T23:00:00-01:00"}),
    query("after-2**63", "read_rows", "/tables/departments/rows", {"after": "9223372036854775808"}, "bad-request", DEPARTMENTS),
    query("after-5000-digits", "read_rows", "/tables/departments/rows", {"after": "9" * 5000}, route=DEPARTMENTS),
    query("category-nul", "recent_courses", "/courses/recent", {"category": "a\x00b"}),
    query("level-nul", "recent_courses", "/courses/recent", {"level": "a\x00b"}),
    query("source-nul", "list_rejections", "/rejections", {"source": "api:\x00"}),
    query("table-nul", "list_rejections", "/rejections", {"table": "jobs\x00"}),
    query("limit-5000-digits", "list_rejections", "/rejections", {"limit": "9" * 5000}),
    query("replay-table-nul", "replay_rejections", "/rejections/replay", {"table": "jobs\x00"}),
    query("backups-table-nul", "list_backups", "/backups", {"table": "jobs\x00"}),
    query_route_body("replay-table-in-body", "replay_rejections", "/rejections/replay", b'{"table": "jobs"}'),
    query_route_body("replay-ids-in-body", "replay_rejections", "/rejections/replay", b'{"ids": [1]}'),
    query_route_body("backups-tables-in-body", "create_backups", "/backups", b'{"tables": ["jobs"]}'),
    query_route_body("backups-list-body", "create_backups", "/backups", b'["jobs"]'),
    restore("restore-dotdot", b'{"backup": "backups/departments/../../landing/departments.csv"}', 400, "bad-backup-name"),
    restore("restore-dotdot-alone", b'{"backup": ".."}', 400, "bad-backup-name"),
    restore("restore-nul", b'{"backup": "a\\u0000b.avro"}', 400, "bad-text"),
    restore("restore-256-chars", json.dumps({"backup": "b" * 256}).encode(), 400, "bad-backup-name"),
    restore("restore-text-plain", b"", 415, "unsupported-media-type", {"content-type": "text/plain"}),
    restore("restore-form", b"backup=x", 415, "unsupported-media-type", {"content-type": "application/x-www-form-urlencoded"}),
    restore("restore-cross-site", b"", 403, "cross-origin", {"sec-fetch-site": "cross-site"}),
    restore("restore-other-origin", b"", 403, "cross-origin", {"origin": "https://evil.example"}),
    start("migrate-not-json", b"not json", 400, "malformed-json"),
    start("migrate-text-plain", b"landing/", 415, "unsupported-media-type", {"content-type": "text/plain"}),
    start("migrate-parent", b'"../"', 400, "bad-prefix"),
    start("migrate-absolute", b'"/etc/"', 400, "bad-prefix"),
    start("migrate-not-a-string", b'{"prefix": "x"}', 400, "bad-prefix"),
    start("unknown-orchestration", b"", 404, "unknown-orchestration", {}, name="nope"),
    rejection("rejection-id-letters", "abc"),
    rejection("rejection-id-0", "0"),
    rejection("rejection-id-negative", "-1"),
    rejection("rejection-id-2**63", "9223372036854775808"),
    rejection("rejection-id-5000-digits", "9" * 5000),
    rejection("rejection-id-exponent", "1e3"),
    rejection("rejection-id-superscript", "\u00b2"),
    rejection("rejection-id-arabic-digit", "\u0661"),
    rejection("rejection-unknown", "12345"),
    rejection("fix-id-letters", "abc", "PATCH", b'{"values": {"id": 1}}'),
    fix("fix-unknown", b'{"values": {"id": 1}}', 404, "not-found"),
    fix("fix-no-body", b"", 400, "wrong-shape"),
    fix("fix-empty-values", b'{"values": {}}', 400, "wrong-shape"),
    fix("fix-values-list", b'{"values": [["id", 1]]}', 400, "wrong-shape"),
    fix("fix-values-string", b'{"values": "id=1"}', 400, "wrong-shape"),
    fix("fix-bare-values", b'{"id": 1}', 400, "wrong-shape"),
    fix("fix-extra-member", b'{"values": {"id": 1}, "force": true}', 400, "wrong-shape"),
    fix("fix-array", b'[{"values": {"id": 1}}]', 400, "wrong-shape"),
    fix("fix-duplicate-key", b'{"values": {"id": 1, "id": 2}}', 400, "duplicate-key"),
    fix("fix-nul", b'{"values": {"department": "a\\u0000b"}}', 400, "bad-text"),
    fix("fix-huge-int", b'{"values": {"id": 99999999999999999999}}', 400, "number-too-large"),
    fix("fix-over-1-mib", b'{"values": {"department": "' + b"x" * (1024 * 1024) + b'"}}', 413, "too-large"),
    fix("fix-not-json", b"{values", 400, "malformed-json"),
    fix("fix-text-plain", b'{"values": {"id": 1}}', 415, "unsupported-media-type", {"content-type": "text/plain"}),
    fix("fix-cross-site", b'{"values": {"id": 1}}', 403, "cross-origin", {**JSON, "sec-fetch-site": "cross-site"}),
    query("rejections-unknown-parameter", "list_rejections", "/rejections", {"format": "csv"}, "unknown-parameter"),
    query("rejections-bad-status", "list_rejections", "/rejections", {"status": "closed"}),
    query("rejections-after-0", "list_rejections", "/rejections", {"after": "0"}),
    query("rejections-after-2**63", "list_rejections", "/rejections", {"after": "9223372036854775808"}),
    query("rejections-error-pattern", "list_rejections", "/rejections", {"error": "foreign%"}, "bad-request"),
    query("rejections-error-41", "list_rejections", "/rejections", {"error": "a" * 41}),
    query("limit-arabic-digit", "recent_courses", "/courses/recent", {"limit": "\u0663"}),
    query("limit-superscript", "recent_courses", "/courses/recent", {"limit": "\u00b2"}),
    query("limit-underscore", "list_rejections", "/rejections", {"limit": "1_0"}),
    query("limit-spaces", "list_rejections", "/rejections", {"limit": " 5 "}),
    query("year-fullwidth", "hires_by_quarter", "/reports/hires-by-quarter", {"year": "\uff12\uff10\uff12\uff11"}),
    query("courses-format-csv", "recent_courses", "/courses/recent", {"format": "csv"}, "unknown-parameter"),
    query("rows-unknown-parameter", "read_rows", "/tables/departments/rows", {"offset": "10"}, "unknown-parameter", DEPARTMENTS),
]
IDS = [case[0] for case in CASES]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'hostile.db'}", storage=str(tmp_path / "storage"))


@pytest.fixture
def host(monkeypatch, settings):
    with live_host(monkeypatch, settings, poll_seconds=3600) as (url, dev_host):
        yield url, dev_host


def call_handler(name: str, method: str, route: dict, params: dict, body: bytes, headers: dict) -> func.HttpResponse:
    """Call the registered function the way the worker does: an azure.functions.HttpRequest, and for a Durable
    client function its client (here the dev host's local one)."""
    request = func.HttpRequest(method, f"http://localhost/api/{name}", headers=headers, params=params, route_params=route, body=body)
    user = registered_functions()[name].get_user_function()
    if hasattr(user, "client_function"):
        client = LocalDurableClient(hosted_functions(registered()))
        result = user.client_function(req=request, client=client)
    else:
        result = user(request)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


@pytest.mark.parametrize(("case", "name", "method", "path", "route", "params", "body", "headers", "status", "code"), CASES, ids=IDS)
def test_the_handler_refuses_it_with_a_4xx_json_error(host, case, name, method, path, route, params, body, headers, status, code):
    response = call_handler(name, method, route, params, body, headers)
    assert (response.status_code, json.loads(response.get_body())["error"]["code"]) == (status, code), response.get_body()[:300]


@pytest.mark.parametrize(("case", "name", "method", "path", "route", "params", "body", "headers", "status", "code"), CASES, ids=IDS)
def test_the_dev_host_refuses_it_over_http_with_a_4xx_json_error(
    host, case, name, method, path, route, params, body, headers, status, code
):
    url, dev_host = host
    response = httpx.request(method, f"{url}/api{path}", params=params, content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text
    assert httpx.get(f"{url}/api/tables/departments/rows").json()["rows"] == []  # nothing half-done
    assert dev_host.durable.instances == {}  # no orchestration was started


def test_a_datetime_before_year_1_in_utc_is_a_refused_row_not_a_500(host):
    url, _ = host
    httpx.post(f"{url}/api/tables/departments/rows", json=[{"id": 1, "department": "Sales"}])
    httpx.post(f"{url}/api/tables/jobs/rows", json=[{"id": 1, "job": "Clerk"}])
    for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00"):
        response = httpx.post(f"{url}/api/tables/hired_employees/rows", content=HIRE % stamp, headers=JSON)
        assert response.status_code == 200
        [refused] = response.json()["rejections"]
        assert refused["errors"] == [{"field": "datetime", "code": "type-error", "message": refused["errors"][0]["message"]}]
        atomic = httpx.post(f"{url}/api/tables/hired_employees/rows", params={"atomic": "true"}, content=HIRE % stamp, headers=JSON)
        assert atomic.status_code == 422 and atomic.json()["error"]["code"] == "batch-refused"


def test_a_valid_request_id_names_the_rejections_source(host):
    url, _ = host
    response = httpx.post(
        f"{url}/api/tables/departments/rows", json=[{"id": "x", "department": "Bad"}], headers={"x-request-id": "batch-2026_01"}
    )
    assert response.status_code == 200
    assert [r["source"] for r in httpx.get(f"{url}/api/rejections").json()["rejections"]] == ["api:batch-2026_01"]


def test_same_origin_posts_and_clients_without_origin_still_work(host):
    url, _ = host
    same = httpx.post(f"{url}/api/tables/departments/rows", json=[{"id": 1, "department": "Sales"}], headers={"origin": url})
    assert same.status_code == 200
    fetch = httpx.post(f"{url}/api/tables/jobs/rows", json=[{"id": 1, "job": "Clerk"}], headers={"sec-fetch-site": "same-origin"})
    assert fetch.status_code == 200
    assert httpx.post(f"{url}/api/tables/departments/restore").status_code == 202  # curl: no Origin, no body


def test_json_with_parameters_and_any_casing_is_json_and_an_empty_object_is_no_body(host):
    url, dev_host = host
    typed = {"content-type": "Application/JSON; charset=UTF-8"}
    rows = httpx.post(f"{url}/api/tables/departments/rows", content=ROW, headers=typed)
    assert rows.status_code == 200 and rows.json()["inserted"] == 1
    replay = httpx.post(f"{url}/api/rejections/replay", params={"table": "jobs"}, content=b"{}", headers=typed)
    assert replay.status_code == 202
    assert [s["input"] for s in dev_host.durable.instances.values() if s["name"] == "replay_job"] == [{"table": "jobs"}]


def read(body: bytes):
    return read_json(func.HttpRequest("POST", "http://localhost/api/x", headers=JSON, body=body), 1024 * 1024)


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + ROW,  # a UTF-8 BOM
        '[{"id": 1, "department": "Ventas"}]'.encode("utf-16"),
        b"[" * 32 + b"]" * 32,
        b'[{"id": 9223372036854775807, "department": "x"}, {"id": -9223372036854775808, "department": "y"}]',
        b'[{"id": 1, "a\\u003a": "b:c", "department": "Caf\\u00e9 \\ud83d\\ude00", "x": {"y:": [1.5, -0.0, null]}}]',
        b'[{"x": 0.1, "y": 1.5e-7, "z": 123456789012.345, "w": 2.2250738585072014e-308, "v": "1234567890123456.7890"}]',
    ],
    ids=["bom", "utf-16", "nested-32", "int64-bounds", "colons-and-escapes", "floats-a-double-holds"],
)
def test_a_body_is_read_as_the_strict_parser_reads_it(body):
    assert read(body) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": NaN}]', "NaN is not a JSON number"),
        (b'[{"id": 1e999}]', "the number '1e999' is outside a 64-bit float"),
        (b"[{", "the body is not JSON: Expecting property name enclosed in double quotes: line 1 column 3 (char 2)"),
        (b'[{"id": 1, "\\ud800": 2}]', "a key holds a lone surrogate U+D800 at character 0; send valid UTF-8 text without NUL"),
        (b'[{"id": 1, "a:": 1, "a\\u003a": 2}]', "the key 'a:' appears twice in one JSON object"),
        (b"[18446744073709551616]", "an integer of 20 characters is outside 64 bits"),
        (
            b'[{"fee": 12345678901234567890.123456789}]',
            "the number '12345678901234567890.123456789' has more digits than a JSON number (a 64-bit float) keeps: send it as a string",
        ),
    ],
    ids=["nan", "float-1e999", "malformed", "surrogate-key", "duplicate-key-escaped-colon", "int-over-unsigned-64-bits", "float-not-exact"],
)
def test_a_refused_body_keeps_the_strict_parsers_message(body, message):
    with pytest.raises(HttpError) as refused:
        read(body)
    assert refused.value.message == message


def test_a_clean_batch_is_read_by_orjson_alone(monkeypatch):
    import functions.http

    monkeypatch.setattr(functions.http, "_strict_json", lambda body: pytest.fail("a clean batch went to the strict parser"))
    rows = [{"id": i, "name": "Zoë", "datetime": "2021-07-27T16:02:08Z", "department_id": 1, "job_id": None} for i in range(1000)]
    assert read(json.dumps(rows).encode()) == rows  # ensure_ascii: Zo\u00eb
