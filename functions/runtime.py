"""The core's handles for a Functions worker process: built on first use from the app settings, then reused."""

from __future__ import annotations

from functools import cache

from shared.context import Rowgate, open_rowgate
from shared.settings import from_environment


@cache
def rowgate() -> Rowgate:
    return open_rowgate(from_environment())
