"""What every HTTP function shares: JSON responses, the error shape, query parsing, and OpenAPI notes."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import datetime

import azure.functions as func

from shared.browse import as_json_value
from shared.dictionary import DictionaryError
from shared.errors import InputRefused
from shared.validate import parse_datetime


class HttpError(Exception):
    """A request the API refuses: status, a stable code, and a message the caller can act on."""

    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def json_response(body, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=as_json_value), status_code=status, mimetype="application/json")


def error_response(status: int, code: str, message: str, **details) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, **details}}, status)


def handled(function: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Turn refusals into JSON errors with their status; anything unexpected into a 500 without a stack trace."""

    @functools.wraps(function)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return function(req)
        except HttpError as exc:
            return error_response(exc.status, exc.code, exc.message, **exc.details)
        except DictionaryError as exc:
            return error_response(404, "unknown-table", str(exc))
        except InputRefused as exc:
            return error_response(400, "bad-request", str(exc))
        except Exception:
            logging.exception("unexpected error in %s", function.__name__)
            return error_response(500, "internal-error", "the request failed on our side; it is logged")

    return wrapper


def query_int(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, "bad-parameter", f"{name} must be an integer from {low} to {high}, got {raw!r}", parameter=name) from None
    if not low <= value <= high:
        raise HttpError(400, "bad-parameter", f"{name} must be from {low} to {high}, got {value}", parameter=name)
    return value


def query_choice(req: func.HttpRequest, name: str, choices: tuple[str, ...]) -> str:
    raw = req.params.get(name) or choices[0]
    if raw not in choices:
        raise HttpError(400, "bad-parameter", f"{name} must be one of {', '.join(choices)}, got {raw!r}", parameter=name)
    return raw


def query_datetime(req: func.HttpRequest, name: str) -> datetime | None:
    raw = req.params.get(name)
    if not raw:
        return None
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
