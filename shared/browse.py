"""Reads for the API: a table's rows page by page, and values as JSON."""

from __future__ import annotations

import sqlalchemy as sa

from shared.context import Rowgate
from shared.dictionary import Field
from shared.errors import InputRefused
from shared.fieldtypes import TYPES, as_json_value, key_values


def page_rows(rowgate: Rowgate, table_name: str, limit: int = 100, after: str | None = None) -> dict:
    """Up to `limit` rows in primary-key order after the key `after`; `next` is the key to ask for next."""
    spec = rowgate.dictionary.table(table_name)
    table = rowgate.metadata.tables[table_name]
    if len(spec.primary_key) != 1:
        raise InputRefused(f"{table_name} has a composite key; paging works on single-field keys")
    key = table.c[spec.primary_key[0]]
    field = spec.field(key.name)
    order = _order(rowgate.engine.dialect.name, field, key)
    query = sa.select(table).order_by(*order).limit(limit)
    if after is not None:
        # a bound parameter: SQLAlchemy compiles no `>` against a Python True or False
        bound = _order(rowgate.engine.dialect.name, field, sa.bindparam("after", _key_value(field, after), key.type))
        query = query.where(order[0] > bound[0] if len(order) == 1 else sa.tuple_(*order) > sa.tuple_(*bound))
    with rowgate.engine.connect() as conn:
        rows = [{k: as_json_value(v) for k, v in row._mapping.items()} for row in conn.execute(query)]
    return {"table": table_name, "rows": rows, "next": rows[-1][key.name] if len(rows) == limit else None}


def _order(dialect: str, field: Field, key: sa.ColumnElement) -> list[sa.ColumnElement]:
    """What orders the key. SQLite holds a number as its text with 9 decimals (DecimalText: exact), which orders
    -10 before -2 and 10 before 2, and a double cannot tell 20-digit keys apart: there it is ordered by its text's
    length, negated for a negative number, then by its text, each digit d as the (9 - d)th letter for a negative number.
    No index holds that order, so each such page scans the table."""
    if dialect == "sqlite" and field.type == "number":
        negative, complement = sa.func.substr(key, 1, 1) == "-", key
        for digit in range(10):  # as a letter, so no digit is replaced twice: 0 as j, ..., 9 as a
            complement = sa.func.replace(complement, str(digit), chr(ord("a") + 9 - digit))
        length = sa.func.length(key)
        return [sa.case((negative, -length), else_=length), sa.case((negative, complement), else_=key)]
    return [key]


def _key_value(field: Field, text: str):
    """The `after` parameter, a key as the rows answer it, as a value of the key's type."""
    values, bad, _ = key_values(field, [text])
    if bad[0] or not values[0].is_valid:  # e.g. past 64 bits: no backend holds it, so no key is after or before it
        raise InputRefused(f"after must be {TYPES[field.type].kind} key, got {text[:40]!r}")
    return values[0].as_py()


def row_counts(rowgate: Rowgate, tables: list[str]) -> dict[str, int]:
    """Each table's number of rows (a full count: for summaries after long work, not for every request)."""
    with rowgate.engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(rowgate.metadata.tables[name])).scalar_one() for name in tables}
