"""The core's handles for a Functions worker process: built on first use from the app settings, then reused.

Cold start: the worker imports function_app to index its decorators, so functions/ imports at module level only
what those need (azure.functions, Durable, the blob binding, functions.http, shared.errors and shared.limits, which
import no third-party library); every other shared module is imported inside the function that uses it, on the
first request (tests/test_coldstart.py keeps it so; bench/coldstart.py measures it).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.context import Rowgate


@cache
def rowgate() -> Rowgate:
    from shared.context import open_rowgate
    from shared.settings import from_environment

    return open_rowgate(from_environment())
