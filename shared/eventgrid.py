"""Event Grid's BlobCreated event, the blob trigger's source on Flex Consumption: built by `rowgate watch` for
hosts that have no Event Grid (Core Tools with Azurite, the dev host) and read back by the dev host's webhook.

The event is the one Microsoft's quickstart posts to /runtime/webhooks/blobs (a CloudEvents 1.0 event whose
subject names the container and the blob); the Event Grid schema (an array of events) is read as well."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from shared.errors import InputRefused

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
WEBHOOK = "/runtime/webhooks/blobs"
SUBJECT_PREFIX = "/blobServices/default/containers/"


def blob_created(account_url: str, container: str, name: str, size: int) -> dict:
    """The BlobCreated event for `container/name`, as Event Grid sends it for a storage account at account_url."""
    return {
        "source": "/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/local",
        "subject": f"{SUBJECT_PREFIX}{container}/blobs/{name}",
        "type": BLOB_CREATED,
        "time": datetime.now(UTC).isoformat(),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "blobType": "BlockBlob",
            "contentLength": size,
            "url": f"{account_url.rstrip('/')}/{quote(container)}/{quote(name)}",
        },
        "specversion": "1.0",
    }


def created_blobs(body) -> list[str]:
    """The `container/name` of every BlobCreated event in a webhook body (one event or a list of them).
    Raises InputRefused naming what is wrong with a body that is not an event or a list of events."""
    events = body if isinstance(body, list) else [body]
    paths = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("type", event.get("eventType")), str):
            raise InputRefused("send a BlobCreated event (an object with type and subject) or a list of them")
        if event.get("type", event.get("eventType")) != BLOB_CREATED:
            continue
        subject = event.get("subject")
        if not isinstance(subject, str) or not subject.startswith(SUBJECT_PREFIX) or "/blobs/" not in subject:
            raise InputRefused(f"a BlobCreated subject reads {SUBJECT_PREFIX}<container>/blobs/<name>, got {str(subject)[:120]!r}")
        container, name = subject[len(SUBJECT_PREFIX) :].split("/blobs/", 1)
        if not container or "/" in container or not name or ".." in name.split("/") or any(ord(c) < 32 for c in subject):
            raise InputRefused(f"the subject {subject[:120]!r} names no container or blob, or a name with .. or control characters")
        paths.append(f"{container}/{name}")
    return paths
