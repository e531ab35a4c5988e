"""Durable Functions: the backup of all tables (fan-out, fan-in) and the historic migration in dependency order.

Activities call the same core functions as the CLI; the plans (what runs in which order) are pure functions
in shared/plans.py, which `rowgate migrate` and the dev host run sequentially where no Durable host exists.
"""

from __future__ import annotations

import re

import azure.durable_functions as df
import azure.functions as func

from functions.backups import BACKUP_ALL_ID, start_singleton
from functions.http import HttpError, document, error_of, handled, param, read_json
from functions.runtime import rowgate
from shared import plans
from shared.errors import InputRefused, RowgateError

bp = df.Blueprint()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
CONSISTENCY_ATTEMPTS = 3
# A storage prefix: a container and folders, each part starting with a letter or digit (so no `..`, no `/x`).
PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*/?")
MAX_PREFIX_CHARS = 1024


@bp.orchestration_trigger(context_name="context")
def backup_all(context: df.DurableOrchestrationContext):
    """One activity per table (every table, or the input's list) in parallel. Each reads its own snapshot, so the
    set is checked against the load ledger: if rows committed meanwhile, the set is taken again (up to 3 times)."""
    from shared import backup

    requested = context.get_input()
    for attempt in range(1, CONSISTENCY_ATTEMPTS + 1):
        before = yield context.call_activity("ledger_mark", None)
        at = backup.stamp(context.current_utc_datetime)
        tables = requested or (yield context.call_activity("backup_plan", None))
        results = yield context.task_all([context.call_activity_with_retry("backup_table", RETRY, {"table": t, "at": at}) for t in tables])
        after = yield context.call_activity("ledger_mark", None)
        if before == after or attempt == CONSISTENCY_ATTEMPTS:
            return {"at": at, "consistent": before == after, "attempts": attempt, "backups": results}


@bp.orchestration_trigger(context_name="context")
def migrate(context: df.DurableOrchestrationContext):
    """Every file under a storage prefix, stage by stage (parents' files first); a stage's files fan out."""
    stages = yield context.call_activity("migration_plan", context.get_input() or "landing/")
    if isinstance(stages, dict):  # the plan refused the prefix, or found no files under it
        return stages
    results = []
    for stage in stages:
        results += yield context.task_all([context.call_activity_with_retry("ingest_file", RETRY, path) for path in stage])
    return results


@bp.activity_trigger(input_name="payload")
def backup_plan(payload: None) -> list[str]:
    return plans.backup_tables(rowgate().dictionary)


@bp.activity_trigger(input_name="payload")
def backup_table(payload: dict) -> dict:
    from shared import backup
    from shared.db import snapshot

    core = rowgate()
    with snapshot(core.engine) as conn:
        info = backup.write_backup(core, conn, core.dictionary.table(payload["table"]), payload["at"])
    backup.prune(core, payload["table"])
    return info.as_dict()


@bp.orchestration_trigger(context_name="context")
def restore_job(context: df.DurableOrchestrationContext):
    """POST /api/tables/{table}/restore: one restore, all or nothing; its output is the result or the refusal."""
    return (yield context.call_activity("restore_backup", context.get_input()))


@bp.orchestration_trigger(context_name="context")
def replay_job(context: df.DurableOrchestrationContext):
    """POST /api/rejections/replay: its output is the Replay result."""
    return (yield context.call_activity("replay_rejected", context.get_input()))


@bp.activity_trigger(input_name="payload")
def ledger_mark(payload: None) -> list[int]:
    """Where the ledger stands: it moves whenever a file or a batch commits rows (the load ledger) and whenever
    a re-drive or replay loads refused rows (resolved rejections, which write no load). Plain ints: Durable
    serialises activity results as JSON, and PostgreSQL's SUM is a Decimal."""
    import sqlalchemy as sa

    from shared.db import LOADS, REJECTIONS

    loads, rejections = rowgate().metadata.tables[LOADS], rowgate().metadata.tables[REJECTIONS]
    resolved = sa.select(sa.func.count()).select_from(rejections).where(rejections.c.resolved_at.is_not(None)).scalar_subquery()
    with rowgate().engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.max(loads.c.id), sa.func.sum(loads.c.rows_read), resolved)).one()
    return [int(value or 0) for value in row]


@bp.activity_trigger(input_name="prefix")
def migration_plan(prefix: str) -> list[list[str]] | dict:
    try:
        prefix = storage_prefix(prefix)
    except InputRefused as exc:
        return {"error": {"code": "bad-prefix", "message": str(exc)}}
    core = rowgate()
    files = list(core.storage.list(prefix))
    if not files:  # a typo'd prefix must not look like a migration that found nothing to do
        message = f"no files under {prefix!r} in {core.storage.describe()}: nothing was migrated"
        return {"error": {"code": "not-found", "status": 404, "message": message}}
    return plans.migration_stages(core.dictionary, files)


def storage_prefix(value) -> str:
    """A migration's prefix: a container and folders inside the storage, never its parent or an absolute path."""
    if not isinstance(value, str) or len(value) > MAX_PREFIX_CHARS or not PREFIX.fullmatch(value):
        raise InputRefused(
            f'the migration prefix must be a storage path such as "landing/" or "history/2024/" '
            f"(letters, digits, _ . -, parts separated by /, no ..), got {str(value)[:80]!r}"
        )
    return value


@bp.activity_trigger(input_name="payload")
def restore_backup(payload: dict) -> dict:
    from shared import restore

    try:
        return restore.restore(rowgate(), payload["table"], payload.get("backup")).as_dict()
    except RowgateError as exc:
        return _restore_refused(exc)


@bp.orchestration_trigger(context_name="context")
def restore_set_job(context: df.DurableOrchestrationContext):
    """POST /api/backups/restore: every table from one backup set, all or nothing; its output is the results or the refusal."""
    return (yield context.call_activity("restore_backup_set", context.get_input()))


@bp.activity_trigger(input_name="payload")
def restore_backup_set(payload: dict) -> dict:
    from shared import restore

    try:
        return {"results": [result.as_dict() for result in restore.restore_all(rowgate(), payload.get("at"), bool(payload.get("exact")))]}
    except RowgateError as exc:
        return _restore_refused(exc)


def _restore_refused(exc: RowgateError) -> dict:
    """A refusal is the output, with the status the API would answer it with."""
    status, error = error_of(exc)
    return {"error": error | {"status": status}}


@bp.activity_trigger(input_name="payload")
def replay_rejected(payload: dict) -> dict:
    from shared.replay import replay

    return {"results": [vars(r) for r in replay(rowgate(), payload.get("table"))]}


@bp.activity_trigger(input_name="path")
def ingest_file(path: str) -> dict:
    from shared.ingest import ingest_stored

    return ingest_stored(rowgate(), path).as_dict()


@bp.route(route="orchestrators/{name}", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    "Start an orchestration: backup_all (one at a time: 409 while one runs), or migrate with a storage prefix as the "
    'JSON body (a string such as "history/"; default "landing/"); answers Durable\'s status URLs',
    [param("name", {"type": "string", "enum": ["backup_all", "migrate"]}, "the orchestration", where="path")],
    body="MigratePrefix",
    body_required=False,
    responses={202: "Started", 409: "Error", 413: "Error", 415: "Error"},
)
@handled
async def start_orchestration(req: func.HttpRequest, client) -> func.HttpResponse:  # client: the Durable client
    name = req.route_params["name"]
    if name not in ("backup_all", "migrate"):
        raise HttpError(404, "unknown-orchestration", f"no orchestration {name[:60]!r}; there are backup_all and migrate")
    value = read_json(req, 4 * MAX_PREFIX_CHARS)
    if name == "backup_all":
        if value is not None:
            raise HttpError(400, "wrong-shape", "backup_all takes no body")
        if not await start_singleton(client, "backup_all", BACKUP_ALL_ID):
            raise HttpError(409, "already-running", f"a full backup is running: orchestration {BACKUP_ALL_ID}")
        return client.create_check_status_response(req, BACKUP_ALL_ID)
    try:
        prefix = storage_prefix("landing/" if value is None else value)
    except InputRefused as exc:
        raise HttpError(400, "bad-prefix", str(exc)) from None
    instance = await client.start_new(name, None, prefix)
    return client.create_check_status_response(req, instance)
