"""Every CSV rowgate writes for a person to open (.rejected.csv, rejections export, CSV reports), written safe
from formula injection as OWASP recommends: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a leading `'` (a spreadsheet shows it as text), and every cell is quoted.

Only text is neutralised: a number rowgate writes from a typed value (a count, a key read as an integer) is
not user text and stays as it is, so `-5` from an integer column is still a number in the spreadsheet, while
the text `-5` of a refused file's cell is shown as `'-5`, as OWASP asks of user-supplied text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The cell as written: text that a spreadsheet would run as a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class Writer:
    """csv.writer's writerow and writerows, every cell made safe and quoted."""

    def __init__(self, out: TextIO, lineterminator: str = "\r\n"):
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=lineterminator)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in cells])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
