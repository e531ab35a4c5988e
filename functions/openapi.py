"""GET /api/openapi.json: the OpenAPI document of the routes function_app registers."""

from __future__ import annotations

import re
from functools import cache

import azure.functions as func

from functions.http import document, handled, json_response
from functions.runtime import rowgate
from shared.openapi import Operation, build

bp = func.Blueprint()


@cache
def operations() -> list[Operation]:
    """Every HTTP function of the app, read from the registrations of an app built for this (not the worker's)."""
    from functions.registry import registered  # imported on first use: the registry lists this module's Blueprint

    found = []
    for function in registered():  # Durable client functions keep their notes on the function as written
        trigger = next((b for b in function.get_bindings() if b.type == "httpTrigger"), None)
        if trigger is None:
            continue
        user = function.get_user_function()
        notes = getattr(getattr(user, "client_function", user), "openapi", {"summary": "", "parameters": [], "body": None, "responses": {}})
        for method in trigger.methods:
            found.append(
                Operation(
                    name=f"{function.get_function_name()}",
                    path="/api/" + re.sub(r"\{\*(\w+)\}", r"{\1}", trigger.route),  # a catch-all {*path} is the parameter path
                    method=str(getattr(method, "value", method)),
                    anonymous=str(getattr(trigger.auth_level, "value", trigger.auth_level)).lower() == "anonymous",
                    **notes,
                )
            )
    return found


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@document("This OpenAPI document", responses={200: "OpenAPI"})
@handled
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(build(rowgate().dictionary, operations()))
