"""function_app's functions, indexed once per process (the app refuses to be indexed twice)."""

from __future__ import annotations

from functools import cache


@cache
def registered() -> tuple:
    import function_app  # imported here: function_app imports the modules that call this

    return tuple(function_app.app.get_functions())
