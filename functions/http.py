"""What every HTTP function shares: JSON responses, the error shape, query parsing, and OpenAPI notes."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from itertools import chain
from urllib.parse import urlsplit

import azure.functions as func

from shared.errors import BatchRefused, Busy, Conflict, Damaged, InputRefused, NotFound, RowgateError, decimal_int

MAX_DEPTH = 32  # a batch is an array of objects of scalars: anything deeper is not a batch
MAX_QUERY_CHARS = 256
INT64 = (-(2**63), 2**63 - 1)
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL (no SQL backend stores it) and lone surrogates (not UTF-8)
# A run of 16 digits and points may be a number a 64-bit float does not hold exactly, or an integer beyond 64 bits:
# 15 significant digits or fewer always come back from a float as written.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789.", b"0000000000")
_CONTAINERS = {dict, list}
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
KEY_PARAMETER = "code"  # the function key's query parameter (or the x-functions-key header)


# No inline script or style, nothing from another origin, no framing, no form posts: the page talks to its own API.
# Every answer carries them (`handled`), not only the page: a 404 for a script, a JSON error echoing a parameter.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class HttpError(Exception):
    """A request the API refuses: status, a stable code, and a message the caller can act on."""

    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def json_response(body, status: int = 200) -> func.HttpResponse:
    from shared.fieldtypes import as_json_value

    return func.HttpResponse(json.dumps(body, default=as_json_value), status_code=status, mimetype="application/json")


def error_response(status: int, code: str, message: str, **details) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, **details}}, status)


def handled(function: Callable) -> Callable:
    """Refuse cross-site calls to state-changing routes; turn refusals into JSON errors with their status and
    anything unexpected into a 500 without a stack trace. Works on plain and on async (Durable client) handlers."""

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(req: func.HttpRequest, *args, **kwargs) -> func.HttpResponse:
            try:
                refuse_cross_site(req)
                refuse_unknown_parameters(req, run_async)
                return secured(await function(req, *args, **kwargs))
            except Exception as exc:
                return secured(_refused(exc, function.__name__))

        return run_async

    @functools.wraps(function)
    def run(req: func.HttpRequest, *args, **kwargs) -> func.HttpResponse:
        try:
            refuse_cross_site(req)
            refuse_unknown_parameters(req, run)
            return secured(function(req, *args, **kwargs))
        except Exception as exc:
            return secured(_refused(exc, function.__name__))

    return run


def secured(response: func.HttpResponse) -> func.HttpResponse:
    """The response with the security headers it does not set itself."""
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.headers[name] = value
    return response


def refuse_unknown_parameters(req: func.HttpRequest, handler: Callable) -> None:
    """A query parameter the route does not take is a 400, never ignored (`?format=csv` where there is no csv
    would answer JSON as if it had been heard). The route's own are those its OpenAPI notes list; `code` is
    the function key's, which Azure and the dev host read before the function runs."""
    taken = {p["name"] for p in getattr(handler, "openapi", {}).get("parameters", []) if p["in"] == "query"} | {KEY_PARAMETER}
    unknown = sorted(name for name in req.params if name not in taken)
    if unknown:
        listed = ", ".join(sorted(taken - {KEY_PARAMETER})) or "none"
        raise HttpError(
            400,
            "unknown-parameter",
            f"{unknown[0][:60]!r} is not a parameter of this route (it takes: {listed})",
            parameter=unknown[0][:60],
        )


# The HTTP status of each kind of RowgateError (shared/errors.py), the first that matches: the one place.
STATUSES: tuple[tuple[type[RowgateError], int], ...] = (
    (BatchRefused, 422),  # refused input, of which the API says 422: nothing was inserted
    (InputRefused, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Busy, 409),
    (Damaged, 422),
)


def error_of(exc: RowgateError) -> tuple[int, dict]:
    """The status and the error body (`code`, `message`, the error's details) a RowgateError is answered with."""
    status = next(status for kind, status in STATUSES if isinstance(exc, kind))
    return status, {"code": exc.code, "message": str(exc), **exc.details}


def _refused(exc: Exception, name: str) -> func.HttpResponse:
    if isinstance(exc, HttpError):
        return error_response(exc.status, exc.code, exc.message, **exc.details)
    if isinstance(exc, RowgateError):
        status, error = error_of(exc)
        return json_response({"error": error}, status)
    logging.exception("unexpected error in %s", name)
    return error_response(500, "internal-error", "the request failed on our side; it is logged")


def refuse_cross_site(req: func.HttpRequest) -> None:
    """A browser on another site may send simple POSTs (text/plain, forms) without a preflight: a route that
    changes state refuses any request a browser marks as cross-site, and any body that is not JSON."""
    if req.method.upper() in SAFE_METHODS:
        return
    headers = req.headers
    if (headers.get("sec-fetch-site") or "").lower() in ("cross-site", "same-site"):
        raise HttpError(403, "cross-origin", "state-changing requests from another site are refused")
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != (headers.get("host") or urlsplit(req.url).netloc).lower():
        raise HttpError(403, "cross-origin", "state-changing requests from another origin are refused")
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    # A PUT is never a simple request: a browser sends one to another origin only after a preflight, which no
    # route grants, so a PUT may carry bytes (an upload's blocks).
    if req.method.upper() == "PUT" and content_type == "application/octet-stream":
        return
    if content_type not in ("", "application/json"):
        raise HttpError(415, "unsupported-media-type", f"send a JSON body (application/json), not {content_type[:60]!r}")


def read_json(req: func.HttpRequest, max_bytes: int, empty=None):
    """The body as JSON, or HttpError 400/413/415 naming what is wrong: a body over max_bytes, malformed JSON,
    nesting deeper than MAX_DEPTH, an integer outside 64 bits, a number a 64-bit float does not hold exactly, NaN or Infinity, NUL or a lone surrogate, a key
    twice in one object."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    body = req.get_body()
    if len(body) > max_bytes:
        raise HttpError(413, "too-large", f"the body is {len(body)} bytes; the limit is {max_bytes}")
    if not body.strip():
        return empty
    if content_type != "application/json":
        raise HttpError(415, "unsupported-media-type", "send the body as application/json")
    import orjson

    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _strict_json(body)  # the verdict, and its message, of the parser below (which also reads a BOM or UTF-16)
    if _judged_alike(body, value):
        return value
    return _strict_json(body)


def _judged_alike(body: bytes, value) -> bool:
    """Whether the strict parser would accept `body` as orjson read it. orjson reads 64-bit unsigned integers and,
    beyond them, floats; NUL (\\u0000); a key twice, keeping the last; any nesting to 1024 levels. Each is ruled out
    here, conservatively: a body in doubt goes to the strict parser, which judges it as it always has."""
    import orjson

    if b"\\u0000" in body or b"0" * 16 in body.translate(_DIGITS_AS_ZERO) or _nests(value, MAX_DEPTH - 1):
        return False
    # Colons are keys' and strings' only; a string has as many in the body as in orjson's output unless one is
    # written \\u003a. One more in the body is a key (or a member inside its value) that orjson dropped.
    return b"\\u003" not in body and body.count(b":") == orjson.dumps(value).count(b":")


def _nests(value, levels: int) -> bool:
    """Whether `value` holds a container `levels` below it: one level at a time, the members' types seen in C."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(levels):
        members = list(chain.from_iterable(item.values() if type(item) is dict else item for item in level))
        if _CONTAINERS.isdisjoint(map(type, members)):
            return False
        level = [member for member in members if type(member) in _CONTAINERS]
    return bool(level)


def _strict_json(body: bytes):
    try:
        value = json.loads(body, parse_int=_int64, parse_float=_finite, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except HttpError:
        raise
    except RecursionError:
        raise HttpError(400, "too-deep", f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise HttpError(400, "malformed-json", f"the body is not JSON: {str(exc)[:200]}") from None
    _check_json(value)
    return value


def no_body(req: func.HttpRequest, route: str) -> None:
    """Routes that take their arguments in the query refuse a body, so {"table": "jobs"} cannot start the
    job for every table instead of the one the caller meant. An empty body or {} is no body."""
    if read_json(req, 1024, empty={}) != {}:
        raise HttpError(400, "wrong-shape", f"{route} takes no body; name the table with ?table=")


def _int64(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not INT64[0] <= int(text) <= INT64[1]:
        raise HttpError(400, "number-too-large", f"an integer of {len(text)} characters is outside 64 bits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HttpError(400, "number-too-large", f"the number {text[:40]!r} is outside a 64-bit float")
    if Decimal(text) != Decimal(repr(value)):  # a number field keeps its digits exactly, or refuses: never rounds in silence
        raise HttpError(
            400,
            "number-not-exact",
            f"the number {text[:40]!r} has more digits than a JSON number (a 64-bit float) keeps: send it as a string",
        )
    return value


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A key twice in one object is refused: Python keeps the last, a proxy or a log reader may keep the first."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise HttpError(400, "duplicate-key", f"the key {twice[:60]!r} appears twice in one JSON object")
    return value


def _no_constant(name: str):
    raise HttpError(400, "malformed-json", f"{name} is not a JSON number")


def _check_json(value) -> None:
    """Walk the parsed body without recursion: depth, and every key and string value."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise HttpError(400, "too-deep", f"the JSON nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            check_text(item, "a string value")
        elif isinstance(item, dict):
            for key, member in item.items():
                check_text(key, "a key")
                pending.append((member, depth + 1))
        elif isinstance(item, list):
            pending.extend((member, depth + 1) for member in item)


def check_text(text: str, what: str) -> str:
    found = BAD_TEXT.search(text)
    if found:
        kind = "NUL" if found.group() == "\x00" else f"a lone surrogate U+{ord(found.group()):04X}"
        raise HttpError(400, "bad-text", f"{what} holds {kind} at character {found.start()}; send valid UTF-8 text without NUL")
    return text


def query_text(req: func.HttpRequest, name: str, max_chars: int = MAX_QUERY_CHARS, controls: bool = False) -> str | None:
    """A text parameter, refused when it holds NUL, a lone surrogate, a control character (unless `controls`: a key
    value may hold a tab or a line break, as its table does) or is too long."""
    raw = req.params.get(name)
    if raw is None:
        return None
    if len(raw) > max_chars:
        raise HttpError(400, "bad-parameter", f"{name} is {len(raw)} characters; the limit is {max_chars}", parameter=name)
    if BAD_TEXT.search(raw) or (not controls and any(ord(c) < 32 for c in raw)):
        raise HttpError(400, "bad-parameter", f"{name} holds NUL, a control character or a lone surrogate", parameter=name)
    return raw


def request_id(req: func.HttpRequest) -> str | None:
    """x-request-id names the rejections' source (api:<id>): letters, digits, - and _ only, 1 to 64."""
    raw = req.headers.get("x-request-id")
    if raw is None or raw == "":
        return None
    if not REQUEST_ID.fullmatch(raw):
        raise HttpError(400, "bad-request-id", "x-request-id must be 1 to 64 letters, digits, - or _")
    return raw


def query_int(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = query_text(req, name, 20)
    if raw is None or raw == "":
        return default
    value = decimal_int(raw)
    if value is None:
        raise HttpError(400, "bad-parameter", f"{name} must be an integer from {low} to {high}, got {raw!r}", parameter=name)
    if not low <= value <= high:
        raise HttpError(400, "bad-parameter", f"{name} must be from {low} to {high}, got {value}", parameter=name)
    return value


def query_choice(req: func.HttpRequest, name: str, choices: tuple[str, ...]) -> str:
    raw = req.params.get(name) or choices[0]
    if raw not in choices:
        raise HttpError(400, "bad-parameter", f"{name} must be one of {', '.join(choices)}, got {raw[:40]!r}", parameter=name)
    return raw


def query_datetime(req: func.HttpRequest, name: str) -> datetime | None:
    raw = query_text(req, name, 64)
    if not raw:
        return None
    from shared.fieldtypes import parse_datetime

    try:
        return parse_datetime(raw)
    except ValueError:
        raise HttpError(400, "bad-parameter", f"{name} must be an ISO 8601 date or datetime, got {raw!r}", parameter=name) from None


def document(
    summary: str,
    parameters: list[dict] | None = None,
    body: str | None = None,
    responses: dict[int, str] | None = None,
    body_required: bool = True,
):
    """OpenAPI notes kept on the function itself; routes and methods come from its registration."""

    def attach(function):
        function.openapi = {
            "summary": summary,
            "parameters": parameters or [],
            "body": body,
            "responses": responses or {},
            "body_required": body_required,
        }
        return function

    return attach


def param(name: str, schema: dict, description: str, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "description": description, "schema": schema}
