"""What can be wrong with a row (a value, never an exception) and with a whole input (an exception)."""

from __future__ import annotations

from dataclasses import dataclass, field

# The Frictionless error vocabulary, the subset rowgate reports.
BLANK_ROW = "blank-row"
EXTRA_CELL = "extra-cell"
MISSING_CELL = "missing-cell"
TYPE_ERROR = "type-error"
CONSTRAINT_ERROR = "constraint-error"
PRIMARY_KEY = "primary-key"
FOREIGN_KEY = "foreign-key"
ENCODING_ERROR = "encoding-error"
SOURCE_ERROR = "source-error"  # the row could not be read at all: the file is damaged from there on


class InputRefused(Exception):
    """An input that cannot be used at all: unknown table, unreadable file, bad argument."""


@dataclass(frozen=True)
class Error:
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class Refusal:
    """A row that was not loaded, with every reason found for it."""

    row_number: int | None
    raw: dict | list
    errors: list[Error] = field(default_factory=list)

    @property
    def retryable(self) -> bool:
        """Refused only for a parent key that may land later."""
        return all(error.code == FOREIGN_KEY for error in self.errors)
