"""Property-based fuzzing of the API from its own OpenAPI document: no 500, no response outside the schema.

The document is built at import (schemathesis parametrizes at collection) by the same code that serves
GET /api/openapi.json; a test checks the served document is the same one."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from functions.openapi import operations
from shared import dictionary
from shared.openapi import build
from shared.settings import Settings
from tests.api_host import live_host

DOCUMENT = build(dictionary.load(), operations())
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(database_url=f"sqlite:///{folder / 'fuzz.db'}", storage=str(folder / "storage"))
    with pytest.MonkeyPatch.context() as monkeypatch, live_host(monkeypatch, settings_) as (url, _host):
        yield url


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_every_response_fits_the_schema(case, base_url):
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


def test_the_fuzzed_document_is_the_one_the_host_serves(base_url):
    assert httpx.get(f"{base_url}/api/openapi.json").json() == DOCUMENT
