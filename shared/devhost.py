"""Development host: runs function_app's own registrations on a laptop, without Azure Functions Core Tools.

HTTP functions are served at their routes over a real server (uvicorn), blob triggers fire for each
new blob under their container (at least once, like the real host) and for each BlobCreated event posted
to the host's blob webhook (as under Core Tools), and timers run on their NCRONTAB schedules. Hosting azure.functions objects is its whole job, so it is the one module of shared/ that
imports azure.functions. Azure Functions (or `func start`) is the production runtime.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import unquote_plus, urlsplit

import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.functions.timer import TimerRequest
from croniter import croniter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.errors import InputRefused, printable
from shared.eventgrid import WEBHOOK, created_blobs
from shared.ingest import refuse_stored
from shared.load import LoadBusy
from shared.storage import Storage, is_temporary

log = logging.getLogger("rowgate.devhost")
access_log = logging.getLogger("rowgate.devhost.access")
ROUTE_PREFIX = "/api"
STATUS_ROUTE = "/runtime/webhooks/durabletask/instances"
MAX_BLOB_ATTEMPTS = 5  # like the host's poison-blob limit (maxDequeueCount)
SETTLE_SECONDS = 2.0  # a landed file is taken once unchanged for this long (and across two polls)
MAX_RETRY_SECONDS = 60.0
MAX_EVENTS = 5000  # Event Grid's largest batch (maxEventsPerBatch is 1 to 5,000)
MAX_BODY_BYTES = 8 * 1024 * 1024  # above every route's own limit (a batch is 4 MiB); the body is never read past it
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECRET_PARAMETER = "code"  # the function key's query parameter, redacted in the access log


@dataclass
class Hosted:
    name: str
    function: object  # the user function
    argument: str  # the trigger binding's parameter name
    trigger: object  # the trigger binding
    client_argument: str | None = None  # a Durable client binding's parameter name


def hosted_functions(functions: Iterable) -> list[Hosted]:
    found = []
    for function in functions:
        bindings = function.get_bindings()
        trigger = next(b for b in bindings if b.type.endswith("Trigger"))
        client = next((b.name for b in bindings if b.type == "durableClient"), None)
        user = function.get_user_function()
        if client:
            user = user.client_function  # the function as written; the Durable wrapper expects the host's JSON
        elif trigger.type == "orchestrationTrigger":
            user = user.orchestrator_function
        found.append(Hosted(function.get_function_name(), user, trigger.name, trigger, client))
    return found


def route_pattern(route: str) -> re.Pattern:
    """An Azure Functions route template ({name}, {name:constraint}, {name?}, a catch-all {*name}) as a regular expression."""
    pattern = re.sub(r"\{(\*?)(\w+)(?::[^}]*)?\??\}", lambda m: f"(?P<{m.group(2)}>{'.+' if m.group(1) else '[^/]+'})", route.strip("/"))
    return re.compile(f"^{ROUTE_PREFIX}/{pattern}$")


class DevHost:
    def __init__(
        self,
        functions: Iterable,
        storage: Storage,
        function_key: str = "",
        poll_seconds: float = 1.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        settle_seconds: float = SETTLE_SECONDS,
    ):
        self.hosted = hosted_functions(functions)
        self.storage = storage
        self.function_key = function_key
        self.poll_seconds = poll_seconds
        self.max_body_bytes = max_body_bytes
        self.settle_seconds = settle_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sightings: dict[str, tuple[str, float]] = {}  # path -> (version, when first seen at that version)
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # (path, version) -> (failures, next try)
        self.durable = LocalDurableClient(self.hosted, function_key)

    def _invoke(self, hosted: Hosted, kind: str, value):
        started = time.perf_counter()
        arguments = {hosted.argument: value}
        if hosted.client_argument:
            arguments[hosted.client_argument] = self.durable
        try:
            result = hosted.function(**arguments)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
        except LoadBusy as busy:  # another run has it: retried later, not an error
            log.info("Executed '%s' (%s, busy, %.0f ms): %s", hosted.name, kind, (time.perf_counter() - started) * 1000, busy)
            raise
        except Exception:
            log.exception("Executed '%s' (%s, failed, %.0f ms)", hosted.name, kind, (time.perf_counter() - started) * 1000)
            raise
        if kind != "http":  # an HTTP call's one line is the access log's, with the status it answered
            log.info("Executed '%s' (%s, succeeded, %.0f ms)", hosted.name, kind, (time.perf_counter() - started) * 1000)
        return result

    # HTTP

    def asgi(self):
        """The ASGI app: the HTTP functions under /api, Durable's status route, the blob webhook, one access log."""
        routes = [(route_pattern(h.trigger.route), h) for h in self.hosted if h.trigger.type == "httpTrigger"]

        async def dispatch(request: Request) -> Response:
            matches = [(pattern.match(request.url.path), h) for pattern, h in routes]
            matches = [(m, h) for m, h in matches if m]
            if not matches:
                return _error(404, "not-found", f"no function serves {request.url.path[:200]}")
            chosen = next(((m, h) for m, h in matches if request.method in _methods(h.trigger)), None)
            if chosen is None:
                return _error(405, "method-not-allowed", f"{request.url.path[:200]} does not take {request.method}")
            match, hosted = chosen
            if not self._authorized(hosted, request):
                return _unauthorized()
            body = await self._read_body(request)
            if isinstance(body, Response):
                return body
            http_request = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query_params),
                route_params=match.groupdict(),
                body=body,
            )
            response = await run_in_threadpool(self._invoke, hosted, "http", http_request)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            return Response(response.get_body(), status_code=response.status_code, headers=headers, media_type=response.mimetype)

        async def instance_status(request: Request) -> Response:
            if not self._key_given(request):
                return _unauthorized()
            status = self.durable.instances.get(request.path_params["instance"])
            if status is None:
                return _error(404, "not-found", "no such orchestration instance")
            return JSONResponse(status, status_code=200 if status["runtimeStatus"] in ("Completed", "Failed", "Terminated") else 202)

        async def blob_webhook(request: Request) -> Response:
            return await self._blob_webhook(request)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        app = Starlette(
            routes=[
                Route(f"{STATUS_ROUTE}/{{instance}}", instance_status, methods=["GET"]),
                Route(WEBHOOK, blob_webhook, methods=["POST"]),
                Route("/{path:path}", dispatch, methods=methods),
            ],
            # A path no route matches (Starlette's :path stops at a newline) is answered like any other: JSON.
            exception_handlers={404: lambda request, exc: _error(404, "not-found", f"no function serves {request.url.path[:200]}")},
        )
        return _guarded(app)

    async def _read_body(self, request: Request) -> bytes | Response:
        """The body, read no further than max_body_bytes: a bigger one (chunked or not) is a 413 after at most that."""
        declared = request.headers.get("content-length")
        too_large = None
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = f"the body is {declared} bytes; this host takes at most {self.max_body_bytes}"
        body = bytearray()
        if too_large is None:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body_bytes:
                    too_large = f"the body is over {self.max_body_bytes} bytes, the most this host takes"
                    break
        if too_large:
            response = _error(413, "too-large", too_large)
            response.headers["connection"] = "close"  # else the server reads (and drops) the rest of the body
            return response
        return bytes(body)

    async def _blob_webhook(self, request: Request) -> Response:
        """What the Functions host does at /runtime/webhooks/blobs?functionName=Host.Functions.<name> for a blob
        trigger whose source is Event Grid: each BlobCreated event for the trigger's container runs the function."""
        if not self._key_given(request):
            return _unauthorized()
        target = request.query_params.get("functionName", "")
        name = target.removeprefix("Host.Functions.")
        hosted = next((h for h in self.hosted if h.name == name and h.trigger.type == "blobTrigger"), None)
        if not target.startswith("Host.Functions.") or hosted is None:
            return _error(404, "not-found", f"functionName must be Host.Functions.<a blob trigger>, got {target[:100]!r}")
        body = await self._read_body(request)
        if isinstance(body, Response):
            return body
        try:
            events = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "malformed-json", "the body is not JSON")
        if request.headers.get("aeg-event-type", "").lower() == "subscriptionvalidation":
            first = events[0] if isinstance(events, list) and events else None
            code = first.get("data") if isinstance(first, dict) else None
            code = code.get("validationCode") if isinstance(code, dict) else None
            if not isinstance(code, str):
                return _error(400, "not-an-event", 'a SubscriptionValidation body is [{"data": {"validationCode": "..."}}]')
            return JSONResponse({"validationResponse": code})
        if isinstance(events, list) and len(events) > MAX_EVENTS:
            return _error(413, "too-many-events", f"{len(events)} events in one body; Event Grid sends at most {MAX_EVENTS}")
        try:
            paths = created_blobs(events)
        except InputRefused as exc:
            return _error(400, "not-an-event", str(exc))
        container = hosted.trigger.path.split("/", 1)[0]
        mine = []
        for path in dict.fromkeys(paths):  # a blob named twice in one body runs once
            if path.split("/", 1)[0] == container:
                mine.append(path)
            else:
                log.info("event for %s ignored: %s watches %s/", printable(path), hosted.name, container)
        if mine:  # one thread per delivery, the blobs in turn: a body of thousands of events is not thousands of threads
            threading.Thread(target=self._fire_blobs, args=(hosted, mine), daemon=True, name="devhost-webhook").start()
        return Response(status_code=202)

    def _fire_blobs(self, hosted: Hosted, paths: list[str]) -> None:
        for path in paths:
            with suppress(Exception):  # logged by _invoke; the poller (or the next event) tries again
                if self.storage.exists(path):
                    self._invoke(hosted, "blob", self._blob_argument(path))

    def _authorized(self, hosted: Hosted, request: Request) -> bool:
        level = str(getattr(hosted.trigger.auth_level, "value", hosted.trigger.auth_level)).lower()
        return level == "anonymous" or self._key_given(request)

    def _key_given(self, request: Request) -> bool:
        given = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        return not self.function_key or hmac.compare_digest(given.encode(), self.function_key.encode())

    # Blob triggers and timers

    def start(self) -> None:
        """Watch the blob triggers' containers and run the timers, in background threads."""
        blobs = [h for h in self.hosted if h.trigger.type == "blobTrigger"]
        if blobs:
            self._spawn(self._watch_blobs, blobs)
        for hosted in self.hosted:
            if hosted.trigger.type == "timerTrigger":
                self._spawn(self._run_timer, hosted)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _spawn(self, target, argument) -> None:
        thread = threading.Thread(target=target, args=(argument,), daemon=True, name=f"devhost-{target.__name__}")
        thread.start()
        self._threads.append(thread)

    def _watch_blobs(self, blobs: list[Hosted]) -> None:
        while not self._stop.is_set():
            try:
                self.poll_blobs(blobs)
            except Exception as error:  # storage unreachable for a moment: the next poll tries again
                log.warning("could not look at the landing container: %s: %s", type(error).__name__, error)
            self._stop.wait(self.poll_seconds)

    def poll_blobs(self, blobs: list[Hosted]) -> None:
        """One pass: each complete blob still in a watched container is handed to its function.

        Complete: not under a temporary name (`.x.csv`, `x.csv.part`), and the same version (local file:
        size and mtime; blob: ETag) on two polls `settle_seconds` apart, so a file still being written is
        never read half. Failures count per version, as the host's blob receipts are per ETag: after
        MAX_BLOB_ATTEMPTS (backing off between them) the version is poison and moves to rejected/ with a
        reason; a new file at that path starts afresh. A load busy in another run is not a failure."""
        for hosted in blobs:
            container = hosted.trigger.path.split("/", 1)[0]
            listed = dict(self.storage.versions(f"{container}/"))
            for path in [p for p in self._sightings if p.startswith(f"{container}/") and p not in listed]:
                del self._sightings[path]
            self._failures = {key: value for key, value in self._failures.items() if listed.get(key[0]) == key[1]}
            for path, version in listed.items():
                if self._stop.is_set():
                    return
                if not self._complete(path, version):
                    continue
                failures, next_try = self._failures.get((path, version), (0, 0.0))
                if time.monotonic() < next_try:
                    continue
                self._deliver(hosted, path, version, failures)

    def _complete(self, path: str, version: str) -> bool:
        if is_temporary(path):
            return False
        now = time.monotonic()
        seen = self._sightings.get(path)
        if seen is None or seen[0] != version:
            self._sightings[path] = (version, now)
            return False
        return now - seen[1] >= self.settle_seconds

    def _deliver(self, hosted: Hosted, path: str, version: str, failures: int) -> None:
        try:
            self._invoke(hosted, "blob", self._blob_argument(path))
        except LoadBusy:
            return  # another run (another host) is loading it: not this file's fault
        except Exception as error:
            failures += 1
            if failures < MAX_BLOB_ATTEMPTS:
                delay = min(self.poll_seconds * 2**failures, MAX_RETRY_SECONDS)
                self._failures[(path, version)] = (failures, time.monotonic() + delay)
                return
            self._failures.pop((path, version), None)
            self._poison(path, version, error)
            return
        self._failures.pop((path, version), None)

    def _poison(self, path: str, version: str, error: Exception) -> None:
        """Where the host writes a message to the `webjobs-blobtrigger-poison` queue and leaves the blob,
        the dev host moves the blob to rejected/ with the reason, so the landing folder holds only work to do."""
        reason = f"failed {MAX_BLOB_ATTEMPTS} times, last: {type(error).__name__}: {error}; move it back to landing/ to retry"
        log.error("%s is poison: %s", printable(path), printable(reason))
        refuse_stored(self.storage, path, reason, version)

    def _blob_argument(self, path: str):
        container, name = path.split("/", 1)
        service = getattr(self.storage, "service", None)
        if service is not None:
            return service.get_blob_client(container, name)
        return SimpleNamespace(container_name=container, blob_name=name)  # what the functions read of a BlobClient

    def _run_timer(self, hosted: Hosted) -> None:
        schedule = resolve_setting(hosted.trigger.schedule)
        times = croniter(schedule, datetime.now(UTC), second_at_beginning=True)
        while not self._stop.is_set():
            due = times.get_next(datetime)
            if self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
                return
            with suppress(Exception):  # logged by _invoke; the next occurrence still runs
                self._invoke(hosted, "timer", TimerRequest(past_due=False))


class LocalDurableClient:
    """Durable's client where no Durable host exists: an orchestration runs in a background thread, its
    activities called in turn (the same plan, sequential), and its status kept for the status URL."""

    def __init__(self, hosted: list[Hosted], function_key: str = ""):
        self.orchestrators = {h.name: h for h in hosted if h.trigger.type == "orchestrationTrigger"}
        self.activities = {h.name: h for h in hosted if h.trigger.type == "activityTrigger"}
        self.function_key = function_key
        self.instances: dict[str, dict] = {}
        self._lock = threading.Lock()

    async def start_new(self, orchestration_function_name: str, instance_id: str | None = None, client_input=None) -> str:
        instance = instance_id or uuid.uuid4().hex
        orchestrator = self.orchestrators[orchestration_function_name]
        started = datetime.now(UTC)
        status = {
            "name": orchestration_function_name,
            "instanceId": instance,
            "input": client_input,
            "createdTime": started.isoformat(),
            "lastUpdatedTime": started.isoformat(),
            "runtimeStatus": "Running",
            "output": None,
        }
        with self._lock:  # host.json's overridableExistingInstanceStates=NonRunningStates, as the Durable host does it
            if self.instances.get(instance, {}).get("runtimeStatus") in ("Pending", "Running"):
                raise RuntimeError(f"an orchestration with instance id {instance!r} is already running")
            self.instances[instance] = status
        context = _LocalContext(json.loads(json.dumps(client_input)), started, self._activity)
        threading.Thread(target=self._run, args=(orchestrator, context, status), daemon=True, name=f"durable-{instance}").start()
        return instance

    def _run(self, orchestrator: Hosted, context: _LocalContext, status: dict) -> None:
        try:
            output = _run_orchestration(orchestrator.function, context)
            status |= {"runtimeStatus": "Completed", "output": output}
        except Exception as exc:
            log.exception("orchestration %s failed", orchestrator.name)
            status |= {"runtimeStatus": "Failed", "output": f"{type(exc).__name__}: {exc}"}
        status["lastUpdatedTime"] = datetime.now(UTC).isoformat()

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        """As Durable's client: a status whose runtime_status is None when there is no such instance."""
        return DurableOrchestrationStatus.from_json(dict(self.instances.get(instance_id, {})))

    def _activity(self, name: str, value):
        hosted = self.activities[name]
        # Durable passes activity inputs and results as JSON: a result JSON cannot hold fails here as it would there.
        result = hosted.function(**{hosted.argument: json.loads(json.dumps(value))})
        return json.loads(json.dumps(result))

    def create_check_status_response(self, request: func.HttpRequest, instance_id: str) -> func.HttpResponse:
        parts = urlsplit(request.url)
        status_url = f"{parts.scheme}://{parts.netloc}{STATUS_ROUTE}/{instance_id}"
        if self.function_key:  # like Durable's URLs, which carry the system key as code=
            status_url += f"?code={self.function_key}"
        body = {"id": instance_id, "statusQueryGetUri": status_url}
        return func.HttpResponse(json.dumps(body), status_code=202, headers={"Location": status_url}, mimetype="application/json")


class _Finished:
    """A task that is already done: the local context runs each call as it is asked for."""

    def __init__(self, result):
        self.result = result


class _LocalContext:
    def __init__(self, value, now: datetime, activity):
        self._input, self.current_utc_datetime, self._activity = value, now, activity

    def get_input(self):
        return self._input

    def call_activity(self, name: str, input_=None) -> _Finished:
        return _Finished(self._activity(name, input_))

    def call_activity_with_retry(self, name: str, retry_options, input_=None) -> _Finished:
        for attempt in range(1, retry_options.max_number_of_attempts + 1):
            try:
                return self.call_activity(name, input_)
            except Exception:
                if attempt == retry_options.max_number_of_attempts:
                    raise
                time.sleep(retry_options.first_retry_interval_in_milliseconds / 1000)
        raise AssertionError("unreachable")

    def task_all(self, tasks: list[_Finished]) -> _Finished:
        return _Finished([task.result for task in tasks])


def _run_orchestration(orchestrator, context: _LocalContext):
    """Step an orchestrator generator, sending each finished task's result back in."""
    steps = orchestrator(context)
    if not inspect.isgenerator(steps):
        return steps
    value = None
    while True:
        try:
            task = steps.send(value)
        except StopIteration as done:
            return done.value
        value = task.result


def resolve_setting(value: str) -> str:
    """`%NAME%` in a binding means the app setting NAME, as in Azure Functions."""
    match = re.fullmatch(r"%(\w+)%", value.strip())
    if not match:
        return value
    if match.group(1) not in os.environ:
        raise ValueError(f"the binding names app setting {match.group(1)}, which is not set")
    return os.environ[match.group(1)]


def _methods(trigger) -> set[str]:
    return {str(getattr(m, "value", m)).upper() for m in trigger.methods or ["GET", "POST"]}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _unauthorized() -> JSONResponse:
    return _error(401, "unauthorized", "send the function key in x-functions-key or the code parameter")


def _guarded(app):
    """Around every request: refuse what a browser marks as cross-site on a state-changing method (a page on
    another site can POST text/plain or a form with no preflight), and write one access-log line per request
    with the code= key redacted and control characters escaped."""

    async def guarded(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started, status = time.perf_counter(), {"code": "-"}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if scope["method"] not in SAFE_METHODS and _cross_site(headers):
                response = _error(403, "cross-origin", "state-changing requests from another site or origin are refused")
                await response(scope, receive, sending)
            else:
                await app(scope, receive, sending)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{redacted(query)}" if query else "")
            client = (scope.get("client") or ("-", 0))[0]
            took = (time.perf_counter() - started) * 1000
            access_log.info('%s "%s %s" %s %.0f ms', client, scope["method"], printable(target), status["code"], took)

    return guarded


def redacted(query: str) -> str:
    """The query string with the key's value hidden, however its name is cased or percent-encoded (%63ode=
    is code= to the query parser, so a regular expression on the raw text would log that key in clear)."""
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        secret = equals and unquote_plus(name).strip().lower() == SECRET_PARAMETER
        parts.append(f"{name}=[redacted]" if secret else part)
    return "&".join(parts)


def _cross_site(headers: dict[str, str]) -> bool:
    if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


def serve(host: DevHost, address: str, port: int) -> None:
    """Serve until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host.start()
    try:
        # access_log=False: uvicorn's own line would carry ?code= in clear; the host writes its own, redacted.
        uvicorn.run(host.asgi(), host=address, port=port, log_level="info", access_log=False)
    finally:
        host.stop()
