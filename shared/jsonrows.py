"""JSON rows (an API batch, a fixed rejection, a re-driven one) as a chunk of text cells, the checks JSON
itself needs done: a field the table lacks, a value of the wrong JSON type. Values are then checked by
`validate`, as a file's cells are."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from shared.dictionary import Table
from shared.errors import EXTRA_CELL, TYPE_ERROR, Error, Refusal
from shared.fieldtypes import TYPES, json_cell
from shared.parse import Chunk


def as_chunk(spec: Table, rows: list[dict], numbers: Sequence[int] | None = None) -> Chunk:
    """Rows as a chunk of text columns, numbered from 1 (or by `numbers`); rows whose JSON is wrong refused."""
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64) if numbers is None else np.asarray(numbers, dtype=np.int64)
    shape_errors = [_shape_errors(spec, row) for row in rows]
    columns = {
        f.name: pa.array([json_cell(f, row.get(f.name)) if not errors else None for row, errors in zip(rows, shape_errors)], pa.string())
        for f in spec.fields
    }
    refused = [Refusal(int(number), row, errors) for number, row, errors in zip(numbers, rows, shape_errors) if errors]
    keep = np.array([not errors for errors in shape_errors], dtype=bool)
    kept = {name: column.filter(pa.array(keep)) for name, column in columns.items()}
    return Chunk(len(rows), numbers[keep], kept, refused)


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
