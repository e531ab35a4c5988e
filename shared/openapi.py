"""The OpenAPI 3.1 document: schemas from the data dictionary, operations from the registered routes."""

from __future__ import annotations

from dataclasses import dataclass

from shared.dictionary import Dictionary, Field
from shared.limits import MAX_ROWS


@dataclass
class Operation:
    name: str
    path: str  # /api/... with {parameters}
    method: str
    anonymous: bool
    summary: str
    parameters: list[dict]
    body: str | None
    responses: dict[int, str]
    body_required: bool = True


def field_schema(field: Field) -> dict:
    """The JSON a field accepts: integers also as digit strings, datetimes as ISO 8601 strings."""
    from shared.fieldtypes import TYPES  # here, not at the top: functions/openapi imports this module at start (Arrow)

    schema = TYPES[field.type].json_schema
    if TYPES[field.type].patterns and field.option("format", "default") != "default":
        schema = {"type": "string"}  # written in the field's own format (a strptime pattern, or any), which JSON Schema cannot name
    if field.max_length:
        schema = schema | {"maxLength": field.max_length}
    if not field.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema | ({"description": field.description} if field.description else {})


def build(dictionary: Dictionary, operations: list[Operation]) -> dict:
    rows = {
        f"Row_{t.name}": {
            "type": "object",
            "properties": {f.name: field_schema(f) for f in t.fields},
            "required": [f.name for f in t.fields if f.required],
            "additionalProperties": False,
        }
        for t in dictionary.tables.values()
    }
    array = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ROWS,
        "items": {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in rows]},
    }
    schemas = rows | {
        "Batch": {"oneOf": [array, {"type": "object", "properties": {"rows": array}, "required": ["rows"], "additionalProperties": False}]},
        "BatchResult": _object(
            {
                "table": _s,
                "received": _i,
                "inserted": _i,
                "unchanged": _i,
                "rejected": _i,
                "rejections": {"type": "array", "items": _REJECTION},
            }
        ),
        "Error": _object({"error": _object({"code": _s, "message": _s}, extra=True)}),
        "Health": _object({"status": _s, "database": _s, "storage": _s, "dictionary": _object({"version": _s, "digest": _s})}),
        "Tables": _object({"tables": {"type": "array", "items": {"type": "object"}}}),
        "Page": _object({"table": _s, "rows": {"type": "array", "items": {"type": "object"}}, "next": {}}),
        "Report": _object({"rows": {"type": "array", "items": {"type": "object"}}}, extra=True),
        "Rejection": _REJECTION_RECORD,
        "Rejections": _object({"rejections": {"type": "array", "items": _REJECTION_RECORD}, "next": _id_or_null}),
        "Fix": {
            "type": "object",
            "properties": {"values": {"type": "object", "minProperties": 1, "description": "field names to corrected values"}},
            "required": ["values"],
            "additionalProperties": False,
        },
        "FixResult": _object(
            {"status": {"type": "string", "enum": ["loaded", "unchanged", "refused"]}, "errors": _errors, "rejection": _REJECTION_RECORD}
        ),
        "Replay": _object({"results": {"type": "array", "items": {"type": "object"}}}),
        "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
        "Backups": {
            "type": "object",
            "properties": {
                "backups": {
                    "type": "array",
                    "items": _object(
                        {"name": _s, "table": _s, "created": _s, "rows": _i, "size": _i, "set_complete": {"type": ["boolean", "null"]}}
                    ),
                },
                "sets": {
                    "type": "array",
                    "items": _object(
                        {"at": _s, "complete": {"type": "boolean"}, "tables": _s_list, "missing": _s_list, "unreadable": _s_list}
                    ),
                },
            },
            "required": ["backups"],  # the listing adds the sets the backups form
            "additionalProperties": False,
        },
        "Restore": _object({"table": _s, "backup": _s, "rows": _i, "deleted": _i, "inserted": _i, "updated": _i, "loads_undone": _i}),
        "RestoreRequest": {"type": "object", "properties": {"backup": _s}, "additionalProperties": False},
        "Started": _object({"id": _s, "statusQueryGetUri": _s}, extra=True),
        "MigratePrefix": {"type": "string", "maxLength": 1024, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*/?$"},
        "RestoreSetRequest": {"type": "object", "properties": {"at": _s, "set": _s}, "maxProperties": 1, "additionalProperties": False},
        # The web console: its overview, and uploads in blocks.
        "Overview": _object({"tables": {"type": "array", "items": {"type": "object"}}, "estimate_from": _i}),
        "Upload": _object({"upload": _s, "table": _s, "name": _s, "path": _s, "block_bytes": _i}),
        "Block": _object({"upload": _s, "block": _i, "bytes": _i}),
        "UploadCommit": _object({"blocks": {"type": "integer", "minimum": 1}, "bytes": {"type": "integer", "minimum": 1}}),
        "Committed": _object({"path": _s, "table": _s, "bytes": _i, "blocks": _i}),
        "Bytes": {"type": "string", "format": "binary"},
    }
    paths: dict[str, dict] = {}
    for op in sorted(operations, key=lambda o: (o.path, o.method)):
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, list(dictionary.tables))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rowgate",
            "version": dictionary.version,
            "description": f"Data dictionary {dictionary.name} {dictionary.digest[:12]}",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


_s, _i = {"type": "string"}, {"type": "integer"}
_s_list = {"type": "array", "items": _s}
_REJECTION = {
    "type": "object",
    "properties": {"index": _i, "row": {"type": "object"}, "errors": {"type": "array", "items": {"type": "object"}}},
}
_id_or_null = {"type": ["integer", "null"]}
_errors = {"type": "array", "items": {"type": "object", "properties": {"field": {"type": ["string", "null"]}, "code": _s, "message": _s}}}
_REJECTION_RECORD = {
    "type": "object",
    "properties": {
        "id": _i,
        "table": _s,
        "source": _s,
        "row_number": _id_or_null,
        "raw": {"type": "object", "description": "the row as it arrived, keyed by field name"},
        "errors": _errors,
        "retryable": {"type": "boolean"},
        "created_at": _s,
        "resolved_at": {"type": ["string", "null"]},
        "resolution": {"type": ["string", "null"], "enum": ["fixed", "redriven", None]},
        "fix": {"type": ["object", "null"], "description": "the corrected values laid over raw"},
    },
    "required": ["id", "table", "source", "row_number", "raw", "errors", "retryable", "created_at", "resolved_at", "resolution", "fix"],
    "additionalProperties": False,
}


def _object(properties: dict, extra: bool = False) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return schema if extra else schema | {"additionalProperties": False}


def _operation(op: Operation, tables: list[str]) -> dict:
    responses = {str(status): _response(schema) for status, schema in op.responses.items()}
    for status, meaning in ((400, "bad request"), (404, "unknown table"), (500, "failure on our side")):
        responses.setdefault(str(status), _response("Error", meaning))
    if not op.anonymous:
        responses.setdefault("401", _response("Error", "missing or wrong function key"))
    if op.method.upper() not in ("GET", "HEAD"):
        responses.setdefault("403", _response("Error", "a cross-site or cross-origin request to a state-changing route"))
        responses.setdefault("415", _response("Error", "a body that is not application/json"))
    # A table parameter takes the dictionary's table names: the document follows the dictionary.
    parameters = [p | {"schema": p["schema"] | {"enum": tables}} if p["name"] == "table" else p for p in op.parameters]
    operation = {"operationId": op.name, "summary": op.summary, "parameters": parameters, "responses": responses}
    if op.body:
        media_type = "application/octet-stream" if op.body == "Bytes" else "application/json"
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {media_type: {"schema": {"$ref": f"#/components/schemas/{op.body}"}}},
        }
    operation["security"] = [] if op.anonymous else [{"functionKey": []}, {"functionKeyQuery": []}]
    return operation


# Responses that are not JSON: the console's page and its static assets.
MEDIA_RESPONSES = {
    "ConsolePage": ("text/html",),
    "ConsoleAsset": ("text/javascript", "text/css", "text/plain", "image/svg+xml"),
}


def _response(schema: str, description: str = "") -> dict:
    if schema in MEDIA_RESPONSES:
        return {
            "description": description or schema,
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_RESPONSES[schema]},
        }
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    if schema == "Report":
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"description": description or schema, "content": content}
