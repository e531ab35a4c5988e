"""Property-based fuzzing of the API from its own OpenAPI document: no 500, no response outside the schema.

The document is built at import (schemathesis parametrizes at collection) by the same code that serves
GET /api/openapi.json; a test checks the served document is the same one."""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from functions.openapi import operations
from shared import dictionary
from shared.openapi import build
from shared.settings import Settings
from tests.api_host import live_host
from tests.test_hostile_http import call_handler

DOCUMENT = build(dictionary.load(), operations())
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(database_url=f"sqlite:///{folder / 'fuzz.db'}", storage=str(folder / "storage"))
    with pytest.MonkeyPatch.context() as monkeypatch, live_host(monkeypatch, settings_) as (url, _host):
        yield url


@pytest.fixture(scope="module")
def hostile_rowgate(base_url):
    """Handler calls without a server (the worker's way of calling them) read the live host's settings."""
    return base_url


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_every_response_fits_the_schema(case, base_url):
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


def test_the_fuzzed_document_is_the_one_the_host_serves(base_url):
    assert httpx.get(f"{base_url}/api/openapi.json").json() == DOCUMENT


# Hostile input the OpenAPI-driven fuzzing does not reach: lone surrogates, NUL, huge numbers, deep nesting and
# out-of-range datetimes. Each must be refused (4xx with the JSON error) or handled (200), never a 500, both by
# the handler itself and over HTTP.

SURROGATES = st.characters(categories=["Cs"])
HOSTILE_CHARACTERS = st.one_of(SURROGATES, st.just("\x00"), st.characters(codec="utf-8"))
HOSTILE_TEXT = st.text(HOSTILE_CHARACTERS, max_size=20)
HUGE_INTEGERS = st.integers(min_value=19, max_value=6000).map(lambda digits: "9" * digits)
OVERFLOWING_DATETIMES = st.builds(
    lambda year, offset: f"{year:04d}-{'01-01T00:00:00' if year == 1 else '12-31T23:59:59'}{offset}",
    st.sampled_from([1, 9999]),
    st.sampled_from(["+01:00", "-01:00", "+14:00", "-12:00", "Z"]),
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), HOSTILE_TEXT, OVERFLOWING_DATETIMES, st.floats(allow_nan=False, allow_infinity=False)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3), max_leaves=12
)
ROWS = st.lists(st.dictionaries(st.sampled_from(["id", "department", "name", "datetime"]) | HOSTILE_TEXT, JSON_VALUES, max_size=4))


def _bodies() -> st.SearchStrategy[bytes]:
    rows = ROWS.map(lambda value: json.dumps(value, ensure_ascii=True).encode())
    nested = st.integers(min_value=1, max_value=200_000).map(lambda depth: b"[" * depth + b"]" * depth)
    unclosed = st.integers(min_value=1, max_value=200_000).map(lambda depth: b"[" * depth)
    huge = HUGE_INTEGERS.map(lambda digits: f'[{{"id": {digits}, "department": "x"}}]'.encode())
    huge_float = HUGE_INTEGERS.map(lambda digits: f'[{{"id": {digits}e{digits}, "department": "x"}}]'.encode())
    return st.one_of(rows, nested, unclosed, huge, huge_float)


def _answer_is_clean(status: int, body: bytes) -> None:
    assert status < 500, body[:300]
    document = json.loads(body)
    assert 200 <= status < 300 or set(document["error"]) >= {"code", "message"}


@given(body=_bodies(), table=st.sampled_from(["departments", "hired_employees"]))
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_batch_bodies_never_500_in_the_handler(hostile_rowgate, body, table):
    response = call_handler("insert_batch", "POST", {"table": table}, {}, body, {"content-type": "application/json"})
    _answer_is_clean(response.status_code, response.get_body())


QUERIES = [
    ("recent_courses", {}, "since"),
    ("recent_courses", {}, "category"),
    ("recent_courses", {}, "level"),
    ("recent_courses", {}, "limit"),
    ("read_rows", {"table": "departments"}, "after"),
    ("read_rows", {"table": "departments"}, "limit"),
    ("list_rejections", {}, "source"),
    ("list_rejections", {}, "table"),
    ("list_rejections", {}, "error"),
    ("list_rejections", {}, "status"),
    ("list_rejections", {}, "after"),
    ("list_rejections", {}, "limit"),
    ("list_backups", {}, "table"),
    ("hires_by_quarter", {}, "year"),
]


@given(
    target=st.sampled_from(QUERIES),
    value=st.one_of(HOSTILE_TEXT, HUGE_INTEGERS, OVERFLOWING_DATETIMES, st.text(max_size=3000)),
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_query_parameters_never_500_in_the_handler(hostile_rowgate, target, value):
    name, route, parameter = target
    response = call_handler(name, "GET", route, {parameter: value}, b"", {})
    _answer_is_clean(response.status_code, response.get_body())


FIX_VALUES = st.dictionaries(st.sampled_from(["id", "department"]) | HOSTILE_TEXT, JSON_VALUES, max_size=3)


@given(
    values=st.one_of(FIX_VALUES.map(lambda values: {"values": values}), JSON_VALUES),
    rejection_id=st.one_of(st.just(None), HOSTILE_TEXT, HUGE_INTEGERS),
)
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_fixes_and_rejection_ids_never_500_in_the_handler(hostile_rowgate, values, rejection_id):
    if rejection_id is None:  # a fresh open rejection to fix (each batch of other content logs a new one)
        rows = json.dumps([{"id": "x", "department": json.dumps(values)[:200]}]).encode()
        call_handler("insert_batch", "POST", {"table": "departments"}, {}, rows, {"content-type": "application/json"})
        found = json.loads(call_handler("list_rejections", "GET", {}, {"limit": "1"}, b"", {}).get_body())
        rejection_id = str(found["rejections"][0]["id"])
    body = json.dumps(values, ensure_ascii=True).encode()
    response = call_handler("fix_rejection", "PATCH", {"id": rejection_id}, {}, body, {"content-type": "application/json"})
    _answer_is_clean(response.status_code, response.get_body())
    shown = call_handler("get_rejection", "GET", {"id": rejection_id}, {}, b"", {})
    _answer_is_clean(shown.status_code, shown.get_body())


@given(request_id=st.one_of(HOSTILE_TEXT, st.text(min_size=65, max_size=3000)), name=st.one_of(HOSTILE_TEXT, st.text(max_size=400)))
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_request_ids_and_backup_names_never_500_in_the_handler(hostile_rowgate, request_id, name):
    rows = b'[{"id": 1, "department": "x"}]'
    response = call_handler(
        "insert_batch", "POST", {"table": "departments"}, {}, rows, {"content-type": "application/json", "x-request-id": request_id}
    )
    _answer_is_clean(response.status_code, response.get_body())
    body = json.dumps({"backup": name}).encode()
    response = call_handler("restore_table", "POST", {"table": "departments"}, {}, body, {"content-type": "application/json"})
    _answer_is_clean(response.status_code, response.get_body())


@given(body=_bodies())
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_batch_bodies_never_500_over_http(base_url, body):
    response = httpx.post(f"{base_url}/api/tables/departments/rows", content=body, headers={"content-type": "application/json"}, timeout=30)
    _answer_is_clean(response.status_code, response.content)
    assert "Traceback" not in response.text
