"""Durable Functions: the backup of all tables (fan-out, fan-in) and the historic migration in dependency order.

Activities call the same core functions as the CLI; the plans (what runs in which order) are pure functions
in shared/plans.py, which `rowgate migrate` and the dev host run sequentially where no Durable host exists.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func
import sqlalchemy as sa

from functions.http import document, param
from functions.runtime import rowgate
from shared import backup, plans
from shared.db import LOADS, snapshot
from shared.ingest import ingest_stored

bp = df.Blueprint()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
CONSISTENCY_ATTEMPTS = 3


@bp.orchestration_trigger(context_name="context")
def backup_all(context: df.DurableOrchestrationContext):
    """One activity per table in parallel. Each reads its own snapshot, so the set is checked against the
    load ledger: if a load committed meanwhile, the set is taken again (up to 3 times) and says so."""
    for attempt in range(1, CONSISTENCY_ATTEMPTS + 1):
        before = yield context.call_activity("ledger_mark", None)
        at = backup.stamp(context.current_utc_datetime)
        tables = yield context.call_activity("backup_plan", None)
        results = yield context.task_all([context.call_activity_with_retry("backup_table", RETRY, {"table": t, "at": at}) for t in tables])
        after = yield context.call_activity("ledger_mark", None)
        if before == after or attempt == CONSISTENCY_ATTEMPTS:
            return {"at": at, "consistent": before == after, "attempts": attempt, "backups": results}


@bp.orchestration_trigger(context_name="context")
def migrate(context: df.DurableOrchestrationContext):
    """Every file under a storage prefix, stage by stage (parents' files first); a stage's files fan out."""
    stages = yield context.call_activity("migration_plan", context.get_input() or "landing/")
    results = []
    for stage in stages:
        results += yield context.task_all([context.call_activity_with_retry("ingest_file", RETRY, path) for path in stage])
    return results


@bp.activity_trigger(input_name="payload")
def backup_plan(payload: None) -> list[str]:
    return plans.backup_tables(rowgate().dictionary)


@bp.activity_trigger(input_name="payload")
def backup_table(payload: dict) -> dict:
    core = rowgate()
    with snapshot(core.engine) as conn:
        info = backup.write_backup(core, conn, core.dictionary.table(payload["table"]), payload["at"])
    backup.prune(core, payload["table"])
    return info.as_dict()


@bp.activity_trigger(input_name="payload")
def ledger_mark(payload: None) -> list:
    """Where the load ledger stands: it moves whenever a file or a batch commits rows."""
    loads = rowgate().metadata.tables[LOADS]
    with rowgate().engine.connect() as conn:
        return list(conn.execute(sa.select(sa.func.max(loads.c.id), sa.func.sum(loads.c.rows_read))).one())


@bp.activity_trigger(input_name="prefix")
def migration_plan(prefix: str) -> list[list[str]]:
    core = rowgate()
    return plans.migration_stages(core.dictionary, list(core.storage.list(prefix)))


@bp.activity_trigger(input_name="path")
def ingest_file(path: str) -> dict:
    return ingest_stored(rowgate(), path).as_dict()


@bp.route(route="orchestrators/{name}", methods=["POST"])
@bp.durable_client_input(client_name="client")
@document(
    "Start an orchestration (backup_all, or migrate with a storage prefix as the JSON body); answers Durable's status URLs",
    [param("name", {"type": "string", "enum": ["backup_all", "migrate"]}, "the orchestration", where="path")],
    responses={202: "Started"},
)
async def start_orchestration(
    req: func.HttpRequest, client
) -> func.HttpResponse:  # client: the Durable client (left unannotated, as the worker wants)
    name = req.route_params["name"]
    if name not in ("backup_all", "migrate"):
        return func.HttpResponse(
            json.dumps({"error": {"code": "unknown-orchestration", "message": f"no orchestration {name!r}"}}),
            status_code=404,
            mimetype="application/json",
        )
    body = req.get_body()
    instance = await client.start_new(name, None, json.loads(body) if body.strip() else None)
    return client.create_check_status_response(req, instance)
