"""Backups over HTTP (start a backup, list, start a restore) and the scheduled backup. Backing up or restoring a
large table can outlast the 230 seconds an HTTP-triggered function may take on Azure, so those routes start
Durable orchestrations (functions/orchestrations.py) and answer 202 with the status URLs."""

from __future__ import annotations

import logging
import re

import azure.durable_functions as df
import azure.functions as func

from functions.http import HttpError, check_text, document, handled, json_response, no_body, param, query_text, read_json
from functions.runtime import rowgate

bp = df.Blueprint()
TABLE_QUERY = param("table", {"type": "string"}, "only this table")
BACKUP_ALL_ID = "rowgate-backup-all"  # one full backup at a time: the timer and POST /api/backups share it
FINISHED = (
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    None,
)
MAX_NAME_CHARS = 255
MAX_BODY_BYTES = 4096
STAMP = re.compile(r"\d{8}T\d{12}Z")  # backup.stamp(): the name of a backup set


async def start_singleton(client, name: str, instance_id: str, value=None) -> bool:
    """Durable's singleton pattern: start `name` under a fixed id unless an instance with that id still runs."""
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status not in FINISHED:
        return False
    await client.start_new(name, instance_id, value)
    return True


@bp.route(route="backups", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    "Start a backup of every table (or ?table=) to Avro (Durable: poll the status URL; its output lists the backups). "
    "One full backup runs at a time: 409 while one runs.",
    [TABLE_QUERY],
    responses={202: "Started", 409: "Error"},
)
@handled
async def create_backups(req: func.HttpRequest, client) -> func.HttpResponse:  # client: the Durable client
    no_body(req, "backups")
    table = query_text(req, "table")
    if table:
        instance = await client.start_new("backup_all", None, [rowgate().dictionary.table(table).name])
    elif await start_singleton(client, "backup_all", BACKUP_ALL_ID):
        instance = BACKUP_ALL_ID
    else:
        raise HttpError(409, "already-running", f"a full backup is running: orchestration {BACKUP_ALL_ID}")
    return client.create_check_status_response(req, instance)


@bp.route(route="backups", methods=["GET"])
@document(
    "Backups, newest first, with time, rows and size, and the sets they form (one snapshot each; complete or not)",
    [TABLE_QUERY],
    responses={200: "Backups"},
)
@handled
def list_backups(req: func.HttpRequest) -> func.HttpResponse:
    from shared import backup

    core = rowgate()
    infos = backup.list_backups(core, query_text(req, "table"))
    return json_response({"backups": [i.as_dict() for i in infos], "sets": [s.as_dict() for s in backup.backup_sets(core)]})


@bp.route(route="tables/{table}/restore", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    'Start replacing the table\'s rows with a verified backup (the newest, or {"backup": "<name>"}), all or nothing '
    "(Durable: poll the status URL; its output is the Restore, or an error with its status: 404 no such backup, "
    "409 would orphan rows, 422 damaged backup)",
    [param("table", {"type": "string"}, "a table of the data dictionary", where="path")],
    body="RestoreRequest",
    body_required=False,
    responses={202: "Started", 403: "Error", 413: "Error", 415: "Error"},
)
@handled
async def restore_table(req: func.HttpRequest, client) -> func.HttpResponse:  # client: the Durable client
    table = rowgate().dictionary.table(req.route_params["table"]).name
    options = read_json(req, MAX_BODY_BYTES, empty={})
    if not isinstance(options, dict) or set(options) - {"backup"} or not isinstance(options.get("backup", ""), str):
        raise HttpError(400, "wrong-shape", 'send {"backup": "<name>"} or no body')
    name = backup_name(options.get("backup") or None)
    instance = await client.start_new("restore_job", None, {"table": table, "backup": name})
    return client.create_check_status_response(req, instance)


@bp.route(route="backups/restore", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    "Start restoring every table from one backup set, parents first, all or nothing: the newest complete set, or the newest "
    'complete one at or before {"at": "<a set\'s stamp>"}, or exactly the set {"set": "<its stamp>"} (Durable: poll the status '
    'URL; its output is {"results": [Restore]}, or an error with its status: 404 no complete set, 409 busy or the set is no '
    "longer complete, 422 damaged backup)",
    body="RestoreSetRequest",
    body_required=False,
    responses={202: "Started", 403: "Error", 413: "Error", 415: "Error"},
)
@handled
async def restore_set(req: func.HttpRequest, client) -> func.HttpResponse:  # client: the Durable client
    options = read_json(req, MAX_BODY_BYTES, empty={})
    shape = 'send {"at": "<a backup set\'s stamp>"} (that set or an older complete one), {"set": "<stamp>"} (that set only) or no body'
    if (
        not isinstance(options, dict)
        or len(options) > 1
        or set(options) - {"at", "set"}
        or not all(isinstance(v, str) for v in options.values())
    ):
        raise HttpError(400, "wrong-shape", shape)
    at = options.get("at") or options.get("set") or None
    if at is not None and not STAMP.fullmatch(at):
        raise HttpError(400, "bad-stamp", f"a backup set's stamp is such as 20261122T051909123456Z, got {at[:40]!r}")
    instance = await client.start_new("restore_set_job", None, {"at": at, "exact": "set" in options})
    return client.create_check_status_response(req, instance)


def backup_name(name: str | None) -> str | None:
    """A backup's name, or its path under backups/: no NUL or control character, no `..`, at most 255 characters."""
    if name is None:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise HttpError(400, "bad-backup-name", f"the backup name is {len(name)} characters; the limit is {MAX_NAME_CHARS}")
    check_text(name, "the backup name")
    if any(ord(c) < 32 for c in name) or "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
        raise HttpError(400, "bad-backup-name", "a backup name has no control characters, backslashes, empty, . or .. parts")
    return name


@bp.timer_trigger(arg_name="timer", schedule="%BACKUP_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def scheduled_backup(timer: func.TimerRequest, client) -> None:  # client: the Durable client (left unannotated, as the worker wants)
    if await start_singleton(client, "backup_all", BACKUP_ALL_ID):
        logging.info("scheduled backup started: orchestration %s%s", BACKUP_ALL_ID, " (past due)" if timer.past_due else "")
    else:
        logging.warning("scheduled backup skipped: orchestration %s is still running", BACKUP_ALL_ID)
