"""Avro's binary encoding of whole columns: byte for byte what fastavro writes for the same records."""

from __future__ import annotations

import io

import fastavro
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.avro import ARROW, encode_records

TYPES = ["long", ["null", "long"], "int", ["null", "int"], "string", ["null", "string"], "boolean", ["null", "boolean"]]
VALUES = {
    "long": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "int": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "string": st.text(st.characters(blacklist_categories=("Cs",))),
    "boolean": st.booleans(),
}
RECORDS = st.lists(
    st.tuples(*(VALUES[t[1]] | st.none() if isinstance(t, list) else VALUES[t] for t in TYPES)),
    max_size=40,
)
SCHEMA = fastavro.parse_schema({"type": "record", "name": "r", "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(TYPES)]})


def fastavro_bytes(records: list[tuple]) -> bytes:
    out = io.BytesIO()
    for record in records:
        fastavro.schemaless_writer(out, SCHEMA, {f"f{i}": value for i, value in enumerate(record)})
    return out.getvalue()


@given(RECORDS)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_columns_encode_to_the_bytes_fastavro_writes_for_their_records(records):
    columns = [pa.array([r[i] for r in records], ARROW[t[1] if isinstance(t, list) else t]) for i, t in enumerate(TYPES)]
    assert encode_records(columns, TYPES) == fastavro_bytes(records)


def test_the_extremes_of_each_integer_and_long_strings_encode_as_fastavro_writes_them():
    records = [
        (2**63 - 1, -(2**63), 2**31 - 1, -(2**31), "x" * 70_000, None, True, None),
        (0, None, -1, None, "", "\U0001f600é", False, False),
        (63, 64, -64, -65, "a", "", True, True),
    ]
    columns = [pa.array([r[i] for r in records], ARROW[t[1] if isinstance(t, list) else t]) for i, t in enumerate(TYPES)]
    assert encode_records(columns, TYPES) == fastavro_bytes(records)
    sliced = [column.slice(1) for column in columns]
    assert encode_records(sliced, TYPES) == fastavro_bytes(records[1:])
