"""HTTP API under /api: batch inserts, reads, reports, recent courses, rejections, health and OpenAPI."""

from __future__ import annotations

import io
import uuid
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func

from functions.http import (
    INT64,
    HttpError,
    document,
    handled,
    json_response,
    no_body,
    param,
    query_choice,
    query_datetime,
    query_int,
    query_text,
    read_json,
    request_id,
)
from functions.runtime import rowgate
from shared.errors import CODES, printable
from shared.limits import MAX_BYTES, MAX_PAGE, MAX_RECENT, MAX_ROWS, REJECTION_STATUSES

if TYPE_CHECKING:
    from shared.reports import Report

bp = df.Blueprint()

# Rows waiting for a parent that a request could not re-drive itself (over its share, a failed re-drive, a
# parent restored or committed at the same moment) are picked up here. Every 10 minutes, not every minute:
# each run reads the database, and a serverless Azure SQL database must stay idle long enough to pause.
REDRIVE_SCHEDULE = "0 */10 * * * *"
MAX_FIX_BYTES = 1024 * 1024  # a fix is one row's values

TABLE = param("table", {"type": "string"}, "a table of the data dictionary", where="path")
YEAR = param("year", {"type": "integer", "minimum": 1900, "maximum": 2100, "default": 2021}, "the year of the hires")
FORMAT = param("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}, "json, or csv with a header row")


def _limit(default: int) -> dict:
    return param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": default}, "how many at most")


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@document("Database and storage reachability, and the dictionary's version", responses={200: "Health", 503: "Health"})
@handled
def health(req: func.HttpRequest) -> func.HttpResponse:
    import sqlalchemy as sa

    core = rowgate()
    checks = {}
    try:
        with core.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: health must answer
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        next(iter(core.storage.list("landing/")), None)
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"unreachable: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body = {
        "status": "ok" if healthy else "degraded",
        **checks,
        "dictionary": {"version": core.dictionary.version, "digest": core.dictionary.digest},
    }
    return json_response(body, 200 if healthy else 503)


@bp.route(route="tables", methods=["GET"])
@document("The tables of the data dictionary with their fields and keys", responses={200: "Tables"})
@handled
def list_tables(req: func.HttpRequest) -> func.HttpResponse:
    tables = [
        {
            "name": t.name,
            "fields": [{"name": f.name, "type": f.type, "required": f.required, "maxLength": f.max_length} for f in t.fields],
            "primaryKey": list(t.primary_key),
            "foreignKeys": [
                {"fields": list(fk.fields), "parent": fk.parent, "parentFields": list(fk.parent_fields)} for fk in t.foreign_keys
            ],
        }
        for t in rowgate().dictionary.dependency_order()
    ]
    return json_response({"tables": tables})


@bp.route(route="tables/{table}/rows", methods=["POST"])
@document(
    f'Insert 1 to {MAX_ROWS} rows (a JSON array, or {{"rows": [...]}}, at most {MAX_BYTES // 2**20} MiB). Valid rows are inserted '
    "and refused ones logged and returned; with atomic=true one refused row means nothing is inserted (422).",
    parameters=[TABLE, param("atomic", {"type": "string", "enum": ["true", "false"], "default": "false"}, "all-or-nothing")],
    body="Batch",
    responses={200: "BatchResult", 403: "Error", 413: "Error", 415: "Error", 422: "Error"},
)
@handled
def insert_batch(req: func.HttpRequest) -> func.HttpResponse:
    table = req.route_params["table"]
    core = rowgate()
    core.dictionary.table(table)
    atomic = query_choice(req, "atomic", ("false", "true")) == "true"
    if (req.headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
        raise HttpError(415, "unsupported-media-type", "send the rows as application/json")
    payload = read_json(req, MAX_BYTES)
    source_id = request_id(req) or uuid.uuid4().hex
    rows = payload.get("rows") if isinstance(payload, dict) and set(payload) == {"rows"} else payload
    if not isinstance(rows, list):
        raise HttpError(400, "wrong-shape", 'send a JSON array of row objects, or {"rows": [...]}')
    if not rows:
        raise HttpError(400, "empty", "the batch has no rows; send 1 to 1000")
    if len(rows) > MAX_ROWS:
        raise HttpError(413, "too-many-rows", f"the batch has {len(rows)} rows; the limit is {MAX_ROWS}")
    if not all(isinstance(row, dict) for row in rows):
        raise HttpError(400, "wrong-shape", "every row must be a JSON object of field names to values")
    from shared.batch import insert_rows

    return json_response(insert_rows(core, table, rows, atomic=atomic, request_id=source_id).as_dict())  # atomic: BatchRefused, 422


@bp.route(route="tables/{table}/rows", methods=["GET"])
@document(
    "A page of a table's rows in key order; pass the response's next as after",
    [TABLE, _limit(100), param("after", {"type": "string"}, "the last key of the previous page")],
    responses={200: "Page"},
)
@handled
def read_rows(req: func.HttpRequest) -> func.HttpResponse:
    from shared.browse import page_rows

    return json_response(
        page_rows(rowgate(), req.route_params["table"], query_int(req, "limit", 100, 1, MAX_PAGE), query_text(req, "after", controls=True))
    )


def _report(req: func.HttpRequest, run) -> func.HttpResponse:
    year = query_int(req, "year", 2021, 1900, 2100)
    fmt = query_choice(req, "format", ("json", "csv"))
    core = rowgate()
    with core.engine.connect() as conn:
        report = run(conn, core.metadata.tables, year)
    return _shaped(report, fmt, {"year": year})


def _shaped(report: Report, fmt: str, extra: dict) -> func.HttpResponse:
    if fmt == "csv":
        from shared import csvout

        out = io.StringIO()
        writer = csvout.Writer(out, lineterminator="\n")
        writer.writerow(report.columns)
        writer.writerows(report.rows)
        return func.HttpResponse(out.getvalue(), mimetype="text/csv")
    return json_response({**extra, "rows": [dict(zip(report.columns, row)) for row in report.rows]})


@bp.route(route="reports/hires-by-quarter", methods=["GET"])
@document("Hires per quarter of a year for each department and job, alphabetical", [YEAR, FORMAT], responses={200: "Report"})
@handled
def hires_by_quarter(req: func.HttpRequest) -> func.HttpResponse:
    from shared import reports

    return _report(req, reports.hires_by_quarter)


@bp.route(route="reports/departments-above-mean", methods=["GET"])
@document(
    "Departments that hired more than the mean of all departments that year, most hires first", [YEAR, FORMAT], responses={200: "Report"}
)
@handled
def departments_above_mean(req: func.HttpRequest) -> func.HttpResponse:
    from shared import reports

    return _report(req, reports.departments_above_mean)


@bp.route(route="courses/recent", methods=["GET"])
@document(
    "Courses by newest start date",
    [
        param("since", {"type": "string", "format": "date-time"}, "only courses starting on or after (ISO 8601)"),
        _limit(10),
        param("category", {"type": "string"}, "category name"),
        param("level", {"type": "string"}, "level name"),
    ],
    responses={200: "Report"},
)
@handled
def recent_courses(req: func.HttpRequest) -> func.HttpResponse:
    from shared import reports

    since = query_datetime(req, "since")
    limit = query_int(req, "limit", 10, 1, MAX_RECENT)
    core = rowgate()
    with core.engine.connect() as conn:
        report = reports.recent_courses(conn, core.metadata.tables, since, limit, query_text(req, "category"), query_text(req, "level"))
    return _shaped(report, "json", {})


@bp.route(route="rejections", methods=["GET"])
@document(
    "Rejections, newest first, a page at a time: pass the response's next as after",
    [
        param("table", {"type": "string"}, "only this table"),
        param("source", {"type": "string", "maxLength": 1024}, "only this source (a file's path, or api:<request id>)"),
        param("error", {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}$"}, "only rows refused with this error code"),
        param("status", {"type": "string", "enum": list(REJECTION_STATUSES), "default": "open"}, "open, resolved or all"),
        param("after", {"type": "integer", "minimum": 1, "maximum": INT64[1]}, "the last id of the previous page"),
        _limit(100),
    ],
    responses={200: "Rejections"},
)
@handled
def list_rejections(req: func.HttpRequest) -> func.HttpResponse:
    from shared import rejections

    after = query_int(req, "after", 0, 1, INT64[1]) or None
    page = rejections.find(
        rowgate(),
        table=query_text(req, "table"),
        source=query_text(req, "source", 1024),
        code=_error_code(req),
        status=query_choice(req, "status", REJECTION_STATUSES),
        after=after,
        limit=query_int(req, "limit", 100, 1, MAX_PAGE),
    )
    return json_response(page)


def _error_code(req: func.HttpRequest) -> str | None:
    """?error=, or ?code= when it names an error of the vocabulary: code= is also the function key's parameter,
    so any other value of it is the key, never a filter."""
    code = query_text(req, "error", 40)
    if code is None and req.params.get("code") in CODES:
        code = req.params["code"]
    return code


REJECTION_ID = param("id", {"type": "integer", "minimum": 1, "maximum": INT64[1]}, "a rejection's id", where="path")


@bp.route(route="rejections/{id}", methods=["GET"])
@document("One rejection: its raw row, errors, and how it was resolved", [REJECTION_ID], responses={200: "Rejection"})
@handled
def get_rejection(req: func.HttpRequest) -> func.HttpResponse:
    from shared import rejections

    return json_response(rejections.get(rowgate(), _rejection_id(req)))


@bp.route(route="rejections/{id}", methods=["PATCH"])
@document(
    'Fix a rejection: {"values": {"<field>": <value>}} laid over its raw row (and its earlier fix), validated like a batch row '
    "at once and loaded if it passes; the answer says loaded, unchanged (a loaded row has these values) or refused (it stays "
    "open with the new errors). 409 when it was resolved already.",
    [REJECTION_ID],
    body="Fix",
    responses={200: "FixResult", 409: "Error", 413: "Error"},
)
@handled
def fix_rejection(req: func.HttpRequest) -> func.HttpResponse:
    rejection_id = _rejection_id(req)
    body = read_json(req, MAX_FIX_BYTES)
    if not isinstance(body, dict) or set(body) != {"values"} or not isinstance(body["values"], dict) or not body["values"]:
        raise HttpError(400, "wrong-shape", 'send {"values": {"<field>": <value>, ...}} with at least one field')
    from shared import rejections

    return json_response(rejections.fix(rowgate(), rejection_id, body["values"]).as_dict())


def _rejection_id(req: func.HttpRequest) -> int:
    raw = req.route_params.get("id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 1 <= int(raw) <= INT64[1]:
        raise HttpError(404, "not-found", f"no rejection {printable(raw[:40])!r}: an id is an integer from 1 to {INT64[1]}")
    return int(raw)


@bp.route(route="rejections/replay", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    "Start validating open rejections again and loading the rows that now pass (Durable: poll the status URL; "
    "its output is the Replay result), so a large backlog never outlives the 230-second HTTP limit",
    [param("table", {"type": "string"}, "only this table")],
    responses={202: "Started"},
)
@handled
async def replay_rejections(req: func.HttpRequest, client) -> func.HttpResponse:  # client: the Durable client
    no_body(req, "rejections/replay")
    table = query_text(req, "table") or None
    if table:
        rowgate().dictionary.table(table)
    instance = await client.start_new("replay_job", None, {"table": table})
    return client.create_check_status_response(req, instance)


@bp.timer_trigger(arg_name="timer", schedule=REDRIVE_SCHEDULE)
def redrive_timer(timer: func.TimerRequest) -> None:
    """Re-drive the open rejections whose missing parent key exists now (each table's re-drive is logged)."""
    from shared.replay import redrive_pending

    redrive_pending(rowgate())
