"""function_app.py run by the Functions worker's own code, not by the dev host.

azure-functions-runtime is the library worker Azure runs for Python 3.13+ apps: its handle_event module
answers the host's init, metadata and invocation requests. Here it indexes function_app.py (its loader),
hands back the function metadata the host would get (the raw bindings JSON), and invokes every HTTP
function, the blob trigger, the timer and the activities through its own binding and invocation path
(bindings meta decode/encode, the SDK-type blob binding with real blobs in Azurite, the Durable client
against a local stand-in of the Durable extension's HTTP API), in one event loop as the worker runs them.

The host's gRPC messages are protobuf classes generated from the Functions protocol, which no package on
PyPI ships; `protos` below stands in for them with the fields the worker reads and writes.
These tests run in .venv-worker (Python 3.13 with exactly the deployed lock, requirements.txt), which
scripts/setup.sh --for-tests creates and scripts/test.sh runs; in the 3.11 development venv they skip.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import types
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT

handle_event = pytest.importorskip(
    "azure_functions_runtime.handle_event",
    reason="the worker tests run in .venv-worker (Python 3.13, the deployed lock): bash scripts/test.sh runs them",
)


class Message:
    """A protobuf message as the worker uses it: fields by keyword, at most one field of a oneof group set."""

    ONEOFS: dict[str, tuple[str, ...]] = {}

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's name
        return next((name for name in self.ONEOFS[group] if getattr(self, name, None) is not None), None)


class TypedData(Message):
    ONEOFS = {
        "data": (
            "string",
            "json",
            "bytes",
            "stream",
            "http",
            "int",
            "double",
            "collection_bytes",
            "collection_string",
            "collection_double",
            "collection_sint64",
            "model_binding_data",
            "collection_model_binding_data",
        )
    }


class ParameterBinding(Message):
    ONEOFS = {"rpc_data": ("data", "rpc_shared_memory")}


class StatusResult(Message):
    Failure, Success, Cancelled = 0, 1, 2


class BindingInfo(Message):
    out, inout = 1, 2  # Direction; `in` (0) is a keyword
    undefined, string, binary, stream = 0, 1, 2, 3  # DataType


class RpcHttpCookie(Message):
    SameSite = SimpleNamespace(Lax=1, Strict=2, ExplicitNone=3, **{"None": 0})


def _protos() -> types.ModuleType:
    module = types.ModuleType("protos")
    for cls in (TypedData, ParameterBinding, StatusResult, BindingInfo, RpcHttpCookie):
        setattr(module, cls.__name__, cls)
    module.__getattr__ = lambda name: type(name, (Message,), {})  # every other message: plain fields
    return module


protos = _protos()


def request(**inner) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(**inner), properties={"host": "127.0.0.1", "protos": protos})


class DurableExtension(BaseHTTPRequestHandler):
    """The Durable extension's HTTP API as documented: POST .../orchestrators/{name}[/{instanceId}] answers 202
    with the instance; GET .../instances/{instanceId} answers its status, or 404 with no body when there is no
    such instance. It runs nothing: an instance it started reads Completed."""

    started: list[tuple[str, object]] = []
    instances: dict[str, str] = {}

    def do_POST(self):  # noqa: N802 - http.server's name
        name, _, instance = self.path.split("/orchestrators/")[1].split("?")[0].partition("/")
        length = int(self.headers.get("content-length") or 0)
        DurableExtension.started.append((name, json.loads(self.rfile.read(length) or b"null")))
        instance = instance or uuid.uuid4().hex
        DurableExtension.instances[instance] = name
        self._answer(202, {"id": instance})

    def do_GET(self):  # noqa: N802 - http.server's name
        instance = self.path.split("/instances/")[1].split("?")[0]
        if instance not in DurableExtension.instances:
            self._answer(404, None)
        else:
            self._answer(200, {"name": DurableExtension.instances[instance], "instanceId": instance, "runtimeStatus": "Completed"})

    def _answer(self, status: int, value) -> None:
        body = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def durable():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DurableExtension)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/runtime/webhooks/durabletask/"
    server.shutdown()


def durable_client_binding(rpc_base_url: str) -> str:
    """What the host sends a durableClient binding (the extension's management URLs, INSTANCEID as placeholder)."""
    base = "http://localhost:7071/runtime/webhooks/durabletask"
    urls = {
        name: f"{base}/instances/INSTANCEID{suffix}?taskHub=rowgate&connection=Storage&code=host-key"
        for name, suffix in (
            ("statusQueryGetUri", ""),
            ("sendEventPostUri", "/raiseEvent/{eventName}"),
            ("terminatePostUri", "/terminate?reason={text}"),
            ("rewindPostUri", "/rewind?reason={text}"),
            ("purgeHistoryDeleteUri", ""),
            ("restartPostUri", "/restart"),
            ("suspendPostUri", "/suspend?reason={text}"),
            ("resumePostUri", "/resume?reason={text}"),
        )
    }
    return json.dumps(
        {
            "taskHubName": "rowgate",
            "creationUrls": {"createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?code=host-key"},
            "managementUrls": {"id": "INSTANCEID", **urls},
            "baseUrl": base,
            "requiredQueryStringParameters": "code=host-key",
            "rpcBaseUrl": rpc_base_url,
        }
    )


class Worker:
    """The library worker after the host's init and metadata requests, with ways to invoke a function."""

    def __init__(self, loop: asyncio.AbstractEventLoop, metadata: list, durable_url: str):
        self.run = loop.run_until_complete  # one event loop for the process, as in the worker
        self.metadata = {m.name: m for m in metadata}
        self.durable_url = durable_url

    def bindings(self, name: str) -> list[dict]:
        return [json.loads(raw) for raw in self.metadata[name].raw_bindings]

    def invoke(self, name: str, inputs: dict[str, TypedData], trigger_metadata: dict | None = None):
        function_id = self.metadata[name].function_id
        loaded = self.run(handle_event.function_load_request(request(function_load_request=SimpleNamespace(function_id=function_id))))
        assert loaded.result.status == StatusResult.Success
        invocation = Message(
            invocation_id=uuid.uuid4().hex,
            function_id=function_id,
            input_data=[ParameterBinding(name=arg, data=data) for arg, data in inputs.items()],
            trigger_metadata=trigger_metadata or {},
            trace_context=Message(trace_parent="", trace_state="", attributes={}),
            retry_context=Message(retry_count=0, max_retry_count=0, exception=None),
        )
        return self.run(handle_event.invocation_request(request(invocation_request=invocation)))

    def http(self, name: str, method: str, path: str, params: dict | None = None, query: dict | None = None, body: bytes = b""):
        """Invoke an HTTP function as the host does; answer (status, headers, body bytes)."""
        headers = {"content-type": "application/json"} if body else {}
        url = f"http://localhost:7071{path}"
        inputs = {
            "req": TypedData(
                http=Message(
                    method=method,
                    url=url,
                    headers=headers,
                    body=TypedData(bytes=body),
                    params=params or {},
                    query=query or {},
                )
            )
        }
        for binding in self.bindings(name):
            if binding["type"] == "durableClient":
                inputs[binding["name"]] = TypedData(string=durable_client_binding(self.durable_url))
        response = self.invoke(name, inputs)
        assert response.result.status == StatusResult.Success, getattr(response.result, "exception", None)
        http = response.return_value.http
        data = http.body
        payload = getattr(data, data.WhichOneof("data"))
        return int(http.status_code), http.headers, payload.encode() if isinstance(payload, str) else payload


@pytest.fixture(scope="module")
def worker(tmp_path_factory, durable):
    """The worker as the host starts it on a fresh instance: function_app imported for the first time, then indexed."""
    folder = tmp_path_factory.mktemp("worker")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROWGATE_DATABASE_URL", f"sqlite:///{folder / 'rowgate.db'}")
        env.setenv("ROWGATE_STORAGE", str(folder / "storage"))
        env.chdir(ROOT)
        env.syspath_prepend(str(ROOT))
        for module in [m for m in sys.modules if m == "function_app" or m == "functions" or m.startswith("functions.")]:
            env.delitem(sys.modules, module)  # a fresh process: nothing of the app indexed yet
        loop = asyncio.new_event_loop()
        init = loop.run_until_complete(
            handle_event.worker_init_request(
                request(worker_init_request=SimpleNamespace(capabilities={}, function_app_directory=str(ROOT)))
            )
        )
        assert init.result.status == StatusResult.Success, init.result.exception.message
        metadata = loop.run_until_complete(handle_event.functions_metadata_request(None))
        assert metadata.result.status == StatusResult.Success
        yield Worker(loop, metadata.function_metadata_results, durable)
        from azure.durable_functions.models.utils import http_utils

        from functions import runtime

        session = getattr(http_utils, "_client_session", None)  # the Durable client's shared HTTP session
        if session is not None:
            loop.run_until_complete(session.close())
        loop.close()
        runtime.rowgate().engine.dispose()
        runtime.rowgate.cache_clear()


def http_functions(worker: Worker) -> dict[str, dict]:
    return {name: b for name in worker.metadata for b in worker.bindings(name) if b["type"] == "httpTrigger"}


def test_the_worker_indexes_every_function_and_hands_the_host_valid_bindings(worker):
    from functions.registry import registered

    assert set(worker.metadata) == {f.get_function_name() for f in registered()}
    for name, meta in worker.metadata.items():
        assert meta.properties == {"worker_indexed": "True"} and meta.script_file.endswith("function_app.py")
        for binding in worker.bindings(name):  # what the host reads: JSON with a type, a name and a direction
            assert binding["type"] and binding["name"] and binding["direction"] in ("IN", "OUT", "INOUT"), (name, binding)
    for name, trigger in http_functions(worker).items():
        assert trigger["authLevel"] in ("FUNCTION", "ANONYMOUS") and not trigger["route"].startswith("/"), name
    assert http_functions(worker)["health"]["authLevel"] == "ANONYMOUS"
    assert http_functions(worker)["insert_batch"]["authLevel"] == "FUNCTION"
    [blob] = worker.bindings("ingest_landed_blob")
    assert (blob["type"], blob["path"], blob["source"], blob["connection"]) == (
        "blobTrigger",
        "landing/{name}",
        "EventGrid",
        "AzureWebJobsStorage",
    )
    assert blob["properties"] == {"SupportsDeferredBinding": True}  # the SDK-type binding: the host sends a reference, not bytes


def test_openapi_answers_after_the_worker_indexed_the_app(worker):
    """The worker calls function_app.app.get_functions() once; a second call raises, so the document must not make one."""
    status, headers, body = worker.http("openapi", "GET", "/api/openapi.json")
    assert status == 200, body
    document = json.loads(body)
    operations = [(m.upper(), p) for p, item in document["paths"].items() for m in item]
    assert len(operations) == len(http_functions(worker))


# Each HTTP function invoked through the worker: (method, route parameters, query, JSON body, expected statuses).
# A function not listed here is still invoked (its first method, "departments" for each route parameter, no
# body) and must answer below 500; one with a Durable client may also answer 202 (work started).
REQUESTS = {
    "health": ("GET", {}, {}, None, {200}),
    "list_tables": ("GET", {}, {}, None, {200}),
    "insert_batch": ("POST", {"table": "departments"}, {}, [{"id": 1, "department": "Data"}, {"id": "x", "department": "Bad"}], {200}),
    "read_rows": ("GET", {"table": "departments"}, {}, None, {200}),
    "hires_by_quarter": ("GET", {}, {"year": "2021"}, None, {200}),
    "departments_above_mean": ("GET", {}, {"year": "2021"}, None, {200}),
    "recent_courses": ("GET", {}, {"limit": "5"}, None, {200}),
    "list_rejections": ("GET", {}, {"table": "departments"}, None, {200}),
    "get_rejection": ("GET", {"id": "1"}, {}, None, {200}),  # the batch's bad row
    "fix_rejection": ("PATCH", {"id": "1"}, {}, {"values": {"id": "y"}}, {200}),  # still refused: it stays open
    "create_backups": ("POST", {}, {"table": "departments"}, None, {200}),
    "list_backups": ("GET", {}, {}, None, {200}),
    "restore_table": ("POST", {"table": "departments"}, {}, {"backup": "departments-20000101T000000000000Z.avro"}, {404}),
    "start_orchestration": ("POST", {"name": "backup_all"}, {}, None, {202}),
    "openapi": ("GET", {}, {}, None, {200}),
}


def test_every_http_function_answers_through_the_worker(worker):
    answered = {}
    triggers = http_functions(worker)
    for name in [n for n in REQUESTS if n in triggers] + [n for n in triggers if n not in REQUESTS]:
        route = triggers[name]["route"]
        default = (triggers[name]["methods"][0], {p: "departments" for p in re.findall(r"\{(\w+)", route)}, {}, None, None)
        method, params, query, body, expected = REQUESTS.get(name, default)
        if expected is not None and any(b["type"] == "durableClient" for b in worker.bindings(name)):
            expected = expected | {202}
        path = "/api/" + re.sub(r"\{(\w+)[^}]*\}", lambda m, values=params: values[m.group(1)], route)
        raw = json.dumps(body).encode() if body is not None else b""
        status, headers, payload = worker.http(name, method, path, params, query, raw)
        answered[name] = status
        assert status < 500, (name, status, payload[:300])
        assert expected is None or status in expected, (name, status, payload[:300])
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if "json" in content_type:
            json.loads(payload)  # a JSON body, whatever the status: never a traceback
    assert set(answered) == set(triggers)
    inserted = json.loads(worker.http("read_rows", "GET", "/api/tables/departments/rows", {"table": "departments"})[2])
    assert [row["department"] for row in inserted["rows"]] == ["Data"]  # the batch's good row, once; the bad one refused
    assert "backup_all" in [name for name, _ in DurableExtension.started]


def test_the_timer_and_the_activities_run_through_the_worker(worker, monkeypatch):
    """The timer starts backup_all through the Durable client; activities return what Durable can carry (JSON)."""
    monkeypatch.setenv("BACKUP_SCHEDULE", "0 0 2 * * *")
    timer = TypedData(json=json.dumps({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": True}))
    client = TypedData(string=durable_client_binding(worker.durable_url))
    before = len(DurableExtension.started)
    response = worker.invoke("scheduled_backup", {"timer": timer, "client": client})
    assert response.result.status == StatusResult.Success, getattr(response.result, "exception", None)
    assert [name for name, _ in DurableExtension.started[before:]] == ["backup_all"]
    carried = {}
    for name, value in {"backup_plan": None, "ledger_mark": None, "migration_plan": "landing/"}.items():
        [trigger] = [b for b in worker.bindings(name) if b["type"] == "activityTrigger"]
        response = worker.invoke(name, {trigger["name"]: TypedData(json=json.dumps(value))})
        assert response.result.status == StatusResult.Success, (name, getattr(response.result, "exception", None))
        returned = response.return_value
        carried[name] = json.loads(getattr(returned, returned.WhichOneof("data")))  # what Durable's history keeps
    assert "departments" in carried["backup_plan"] and isinstance(carried["ledger_mark"], list)
    assert carried["migration_plan"]["error"]["code"] == "not-found"  # nothing under landing/ in this worker's storage


@pytest.mark.azurite
def test_the_blob_trigger_ingests_a_landed_file_through_the_worker(worker, azurite_storage, monkeypatch, tmp_path):
    from azure.storage.blob import BlobServiceClient

    from functions import runtime

    monkeypatch.setenv("AzureWebJobsStorage", azurite_storage)  # the binding's connection, as the host's app setting
    monkeypatch.setenv("ROWGATE_STORAGE", azurite_storage)
    monkeypatch.setenv("ROWGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'blob.db'}")
    runtime.rowgate.cache_clear()
    service = BlobServiceClient.from_connection_string(azurite_storage)
    service.create_container("landing")
    service.get_blob_client("landing", "departments.csv").upload_blob(b"1,Data\n2,Finance\nx,Bad\n")
    reference = json.dumps({"Connection": "AzureWebJobsStorage", "ContainerName": "landing", "BlobName": "departments.csv"})
    event = {
        "client": TypedData(
            model_binding_data=Message(
                version="1.0", source="AzureStorageBlobs", content_type="application/json", content=reference.encode()
            )
        )
    }
    metadata = {
        "BlobTrigger": TypedData(string="landing/departments.csv"),
        "Uri": TypedData(string=f"{service.url}landing/departments.csv"),
    }
    for _ in range(2):  # Event Grid delivers at least once: the second delivery changes nothing
        response = worker.invoke("ingest_landed_blob", event, metadata)
        assert response.result.status == StatusResult.Success, getattr(response.result, "exception", None)
    try:
        with runtime.rowgate().engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM departments")).scalar_one() == 2
            assert conn.execute(sa.text("SELECT count(*) FROM rowgate_loads")).scalar_one() == 1

        def unstamped(container: str) -> list[str]:  # processed files carry their run's UTC stamp before the extension
            return [re.sub(r"\.\d{8}T\d{12}Z(?=\.)", "", b.name) for b in service.get_container_client(container).list_blobs()]

        assert unstamped("archive") == ["departments.csv"]
        assert unstamped("rejected") == ["departments/departments.csv.rejected.csv"]
    finally:
        runtime.rowgate().engine.dispose()
        runtime.rowgate.cache_clear()
