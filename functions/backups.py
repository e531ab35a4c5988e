"""Backups over HTTP (create, list, restore) and the scheduled backup, which starts the backup-all orchestration."""

from __future__ import annotations

import functools
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.http import HttpError, document, handled, json_response, param
from functions.runtime import rowgate
from shared import backup, restore

bp = df.Blueprint()
TABLE_QUERY = param("table", {"type": "string"}, "only this table")


def _backup_errors(function):
    """A backup that is missing, damaged or would orphan rows (or the table is busy): 404, 422 or 409, with the reason."""

    @functools.wraps(function)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return function(req)
        except backup.BackupError as exc:
            raise HttpError(exc.status, exc.code, str(exc)) from None

    return wrapper


@bp.route(route="backups", methods=["POST"])
@document("Back up every table (or ?table=) to Avro from one snapshot", [TABLE_QUERY], responses={200: "Backups"})
@handled
def create_backups(req: func.HttpRequest) -> func.HttpResponse:
    table = req.params.get("table")
    core = rowgate()
    infos = backup.backup(core, [core.dictionary.table(table).name] if table else None)
    return json_response({"backups": [i.as_dict() for i in infos]})


@bp.route(route="backups", methods=["GET"])
@document(
    "Backups, newest first, with time, rows and size, and the sets they form (one snapshot each; complete or not)",
    [TABLE_QUERY],
    responses={200: "Backups"},
)
@handled
def list_backups(req: func.HttpRequest) -> func.HttpResponse:
    core = rowgate()
    infos = backup.list_backups(core, req.params.get("table"))
    return json_response({"backups": [i.as_dict() for i in infos], "sets": [s.as_dict() for s in backup.backup_sets(core)]})


@bp.route(route="tables/{table}/restore", methods=["POST"])
@document(
    'Replace the table\'s rows with a verified backup (the newest, or {"backup": "<name>"}), all or nothing',
    [param("table", {"type": "string"}, "a table of the data dictionary", where="path")],
    body="RestoreRequest",
    body_required=False,
    responses={200: "Restore", 409: "Error", 422: "Error"},
)
@handled
@_backup_errors
def restore_table(req: func.HttpRequest) -> func.HttpResponse:
    table = req.route_params["table"]
    rowgate().dictionary.table(table)
    body = req.get_body()
    try:
        options = json.loads(body) if body.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HttpError(400, "malformed-json", 'send {"backup": "<name>"} or no body') from None
    if not isinstance(options, dict) or set(options) - {"backup"} or not isinstance(options.get("backup", ""), str):
        raise HttpError(400, "wrong-shape", 'send {"backup": "<name>"} or no body')
    return json_response(restore.restore(rowgate(), table, options.get("backup") or None).as_dict())


@bp.timer_trigger(arg_name="timer", schedule="%BACKUP_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def scheduled_backup(timer: func.TimerRequest, client) -> None:  # client: the Durable client (left unannotated, as the worker wants)
    instance = await client.start_new("backup_all")
    logging.info("scheduled backup started: orchestration %s%s", instance, " (past due)" if timer.past_due else "")
