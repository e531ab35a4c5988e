"""Blob trigger: a file landing in `landing/` is validated and loaded; bad input never loops in retries."""

from __future__ import annotations

import logging

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from functions.runtime import rowgate
from shared.errors import printable
from shared.storage import LANDING

bp = func.Blueprint()


# Event Grid is the blob trigger source the Flex Consumption plan supports; the SDK-type binding hands
# over a BlobClient, so the worker never receives the file's bytes and the core streams it.
@bp.blob_trigger(arg_name="client", path=f"{LANDING}/{{name}}", connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID)
def ingest_landed_blob(client: blob.BlobClient) -> None:
    from shared.ingest import ingest_stored

    path = f"{client.container_name}/{client.blob_name}"
    result = ingest_stored(rowgate(), path)
    if result.status == "refused":
        logging.warning("rowgate refused %s: %s", printable(path), printable(result.message or ""))
    else:
        logging.info(
            "rowgate %s %s -> %s: inserted %d, unchanged %d, rejected %d",
            result.status,
            printable(path),
            result.table,
            result.inserted,
            result.unchanged,
            result.rejected,
        )
