"""JSON rows (an API batch, a fixed rejection, a re-driven one) as a chunk of text cells, the checks JSON
itself needs done: a field the table lacks, a value of the wrong JSON type. Values are then checked by
`validate`, as a file's cells are."""

from __future__ import annotations

from collections.abc import Sequence
from types import NoneType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.dictionary import Field, Table
from shared.errors import EXTRA_CELL, TYPE_ERROR, Error, Refusal
from shared.fieldtypes import TYPES, json_cell
from shared.parse import Chunk


def as_chunk(spec: Table, rows: list[dict], numbers: Sequence[int] | None = None) -> Chunk:
    """Rows as a chunk of text columns, numbered from 1 (or by `numbers`); rows whose JSON is wrong refused."""
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64) if numbers is None else np.asarray(numbers, dtype=np.int64)
    values = {f.name: [row.get(f.name) for row in rows] for f in spec.fields}
    kinds = {name: set(map(type, column)) for name, column in values.items()}
    if set().union(*rows).issubset(spec.field_names) and all(_takes(f, kinds[f.name]) for f in spec.fields):
        return Chunk(len(rows), numbers, {f.name: _cells(f, values[f.name], kinds[f.name]) for f in spec.fields})
    shape_errors = [_shape_errors(spec, row) for row in rows]
    columns = {
        f.name: pa.array([json_cell(f, row.get(f.name)) if not errors else None for row, errors in zip(rows, shape_errors)], pa.string())
        for f in spec.fields
    }
    refused = [Refusal(int(number), row, errors) for number, row, errors in zip(numbers, rows, shape_errors) if errors]
    keep = np.array([not errors for errors in shape_errors], dtype=bool)
    kept = {name: column.filter(pa.array(keep)) for name, column in columns.items()}
    return Chunk(len(rows), numbers[keep], kept, refused)


def _takes(f: Field, kinds: set[type]) -> bool:
    """Whether every value of these Python types is one the field takes from JSON (what _shape_errors checks per value)."""
    json_values = TYPES[f.type].json_values
    return all(kind is NoneType or issubclass(kind, json_values) and (kind is not bool or bool in json_values) for kind in kinds)


def _cells(f: Field, values: list, kinds: set[type]) -> pa.Array:
    """A column of JSON values as text cells, as json_cell writes them: strings as they are, integers in Arrow."""
    if kinds <= {str, NoneType}:
        return pa.array(values, pa.string())
    if kinds <= {int, NoneType} and f.type in ("integer", "number"):  # a year's integer is written in four digits
        try:
            return pc.cast(pa.array(values, pa.int64()), pa.string())
        except OverflowError:  # beyond 64 bits: a re-driven row's raw JSON may hold one
            pass
    return pa.array([json_cell(f, value) for value in values], pa.string())


def _shape_errors(spec: Table, row: dict) -> list[Error]:
    errors = [Error(name, EXTRA_CELL, f"{spec.name} has no field {name!r}") for name in row if name not in spec.field_names]
    for f in spec.fields:
        value = row.get(f.name)
        json_values = TYPES[f.type].json_values
        if value is not None and (isinstance(value, bool) and bool not in json_values or not isinstance(value, json_values)):
            errors.append(
                Error(f.name, TYPE_ERROR, f"{f.name} must be {TYPES[f.type].json_kind}, not {type(value).__name__} {value!r}"[:200])
            )
    return errors
