"""How a resource's CSV files are written: its CSV Dialect (header, delimiter, quoting, comments) and encoding.

Read from the descriptor per the Table Schema / CSV Dialect specs, with frictionless-py's defaults; a value
rowgate cannot read as the spec means it is refused when the dictionary loads, naming the resource and why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    header: bool | None = None  # None: the descriptor leaves it open, so the first record is looked at


def dialect_of(resource: dict) -> Dialect:
    """The resource's dialect; ValueError saying why for a value rowgate cannot support."""
    spec = resource.get("dialect") or {}
    if not isinstance(spec, dict):
        raise ValueError(f"dialect must be an object, not {spec!r}")
    header = spec.get("header")
    if header is not None and not isinstance(header, bool):
        raise ValueError(f"dialect.header must be true or false, not {header!r}")
    return Dialect(header=header)
