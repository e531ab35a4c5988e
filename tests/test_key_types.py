"""Every type that can be a key, end to end: as primary, foreign and unique key, paged through with `after`,
named in the messages of the rows it refuses, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from shared.batch import insert_rows
from shared.browse import page_rows


def keyed(tmp_path, field_type: str, **options) -> str:
    """A dictionary of a parent keyed by a field of the type (with a unique twin) and a child pointing at it."""
    key = {"name": "k", "type": field_type, **options}
    descriptor = {
        "name": "keyed",
        "resources": [
            {
                "name": "parent",
                "dialect": {"header": True},
                "schema": {
                    "fields": [key, {**key, "name": "u", "constraints": {"unique": True}}, {"name": "n", "type": "integer"}],
                    "primaryKey": ["k"],
                },
            },
            {
                "name": "child",
                "dialect": {"header": True},
                "schema": {
                    "fields": [{"name": "id", "type": "integer"}, {**key, "name": "p"}, {**key, "name": "q"}],
                    "primaryKey": ["id"],
                    "foreignKeys": [{"fields": ["p"], "reference": {"resource": "parent", "fields": ["k"]}}],
                    "uniqueKeys": [["p", "q"]],
                },
            },
        ],
    }
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps(descriptor))
    return str(path)


def every_key(rowgate, table: str) -> list:
    """The keys of every page, each page asked `after` the previous one's next, as a client sends it back in a URL."""
    page = page_rows(rowgate, table, limit=1)
    keys = [row["k"] for row in page["rows"]]
    while page["next"] is not None:
        page = page_rows(rowgate, table, limit=1, after=json.dumps(page["next"]).strip('"'))
        keys += [row["k"] for row in page["rows"]]
    return keys


def test_a_table_keyed_by_a_boolean_pages_after_false(make_rowgate, database_url, tmp_path):
    """page_rows compared the key with a Python bool, which SQLAlchemy refuses to compile (ArgumentError: only '='
    ... with None/True/False): asking for the page after `false`, the next the first page answered, was a traceback."""
    rowgate = make_rowgate(database_url, dictionary=keyed(tmp_path, "boolean"))
    assert insert_rows(rowgate, "parent", [{"k": True, "u": True, "n": 1}, {"k": False, "u": False, "n": 0}]).inserted == 2
    assert every_key(rowgate, "parent") == [False, True]
