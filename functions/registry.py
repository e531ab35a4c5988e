"""The Blueprints of the Function App, and a fresh app built from them.

The Functions worker indexes function_app.app once (`get_functions()`), and azure-functions refuses to
index one app twice ("does not have a unique function name"). Whatever else needs the registrations (the
OpenAPI document, the dev host, the tests) indexes an app of its own from `build_app()`.
"""

from __future__ import annotations

from functools import cache

import azure.durable_functions as df
import azure.functions as func

from functions import api, backups, console, ingest, openapi, orchestrations

BLUEPRINTS = (ingest.bp, api.bp, backups.bp, orchestrations.bp, openapi.bp, console.bp)


def build_app() -> df.DFApp:
    """A new app with every Blueprint registered; HTTP functions need a function key unless they say otherwise."""
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in BLUEPRINTS:
        app.register_functions(blueprint)
    return app


@cache
def registered() -> tuple:
    """The functions of an app of this process's own (never the worker's), indexed once."""
    return tuple(build_app().get_functions())
